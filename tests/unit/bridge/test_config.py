from collections.abc import Mapping
from typing import Any

import pytest

from osed.bridge import StepRegistry, load_config
from osed.bridge.samples import Message, StepResult
from osed.bridge.steps import BUILTIN_STEPS
from osed.domain.errors import ConfigurationError, ValidationError
from tests.unit.bridge.support import example_yaml


def test_the_documented_example_loads() -> None:
    config = load_config(example_yaml())
    pmu, meters = config.pipelines
    assert config.dead_letter_prefix == "dead-letter"
    assert config.batch.max_points == 500
    assert config.batch.max_delay_s == pytest.approx(0.1)
    assert pmu.subscribe == ("bal/raw/#",)
    assert [s.name for s in pmu.steps] == ["validate", "normalise-units"]
    assert pmu.store is not None
    assert pmu.store.series == "{device}/{component}/{measurand}/{phase}"
    assert pmu.republish is not None
    assert pmu.republish.port == 8883
    assert pmu.republish.username == "osed"
    assert pmu.input_units == {"voltmagnitude": "kV", "voltangle": "deg"}
    assert meters.ingress == "bus"
    assert [s.name for s in meters.steps] == ["validate", "normalise-units"]


BAD = """
dead_letter_prefix: "dl/#"
batch: {max_points: 0}
pipelines:
  - name: ok
    subscribe: [a/#]
    format: sogno
    publish: out
  - name: "bad name"
    subscribe: ["a/#/b"]
    format: xml
    ingress: carrier-pigeon
    steps:
      - name: powercalc
      - name: validate
        options: {ranges: {frequency: {min: 52, max: 48}, voltmagnitude: {min: "x"}}}
      - name: normalise-units
        options: {targets: {voltmagnitude: Hz}}
    publish: "out/{nope}"
    store: {series: "{device}/{colour}"}
    republish: {port: 70000, username: u}
    input_units: {voltmagnitude: parsec}
    colour: blue
  - name: ok
    subscribe: b
    format: json
    publish: out2
"""


def test_every_problem_is_reported_with_its_path_and_code() -> None:
    with pytest.raises(ValidationError) as caught:
        load_config(BAD)
    found = {(p.path, p.code) for p in caught.value.problems}
    p1 = "$.pipelines[1]"
    assert found == {
        ("$.dead_letter_prefix", "bad_topic"),
        ("$.batch.max_points", "out_of_range"),
        (f"{p1}.name", "bad_name"),
        (f"{p1}.subscribe[0]", "bad_pattern"),
        (f"{p1}.format", "unknown_format"),
        (f"{p1}.ingress", "unknown_ingress"),
        (f"{p1}.steps[0].name", "unknown_step"),
        (f"{p1}.steps[1].options.ranges.frequency", "empty_range"),
        (f"{p1}.steps[1].options.ranges.voltmagnitude.min", "not_a_number"),
        (f"{p1}.steps[2].options.targets.voltmagnitude", "incompatible_units"),
        (f"{p1}.publish", "unknown_placeholder"),
        (f"{p1}.store.series", "unknown_placeholder"),
        (f"{p1}.republish.host", "missing_field"),
        (f"{p1}.republish.port", "out_of_range"),
        (f"{p1}.republish.password", "incomplete_credentials"),
        (f"{p1}.input_units.voltmagnitude", "unknown_unit"),
        (f"{p1}.colour", "unknown_field"),
        ("$.pipelines[2].name", "duplicate_name"),
    }
    unknown = next(p for p in caught.value.problems if p.code == "unknown_step")
    assert "normalise-units" in unknown.message
    assert "validate" in unknown.message


def test_yaml_syntax_errors_are_validation_errors() -> None:
    with pytest.raises(ValidationError) as caught:
        load_config("pipelines: [")
    assert caught.value.problems[0].code == "bad_yaml"


class _Doubler:
    name = "double"

    def process(self, messages: list[Message]) -> StepResult:
        return StepResult(messages)


def _double(options: Mapping[str, Any]) -> _Doubler:
    return _Doubler()


def test_a_registered_step_is_known_by_name() -> None:
    registry = StepRegistry({**BUILTIN_STEPS, "double": _double})
    config = load_config(
        "pipelines: [{name: p, subscribe: a, format: json, publish: b, steps: [double]}]",
        registry,
    )
    assert config.pipelines[0].steps[0].name == "double"


def test_discovery_finds_the_builtins() -> None:
    assert {"validate", "normalise-units"} <= set(StepRegistry.discover().names())


def test_an_unknown_step_cannot_be_created() -> None:
    with pytest.raises(ConfigurationError, match="known: normalise-units, power, validate"):
        StepRegistry(BUILTIN_STEPS).create("powercalc", {})
