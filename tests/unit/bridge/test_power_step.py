import json
import math
import tomllib
from pathlib import Path
from typing import Any

import pytest

from osed.bridge import Pipeline, StepRegistry, load_config
from osed.bridge.power_step import power_step
from osed.bridge.samples import Message, Sample
from osed.bridge.sogno import decode_measurement
from osed.bridge.steps import BUILTIN_STEPS
from osed.bus.memory import MemoryBus
from osed.bus.reliable import InMemoryOutbox, Publisher
from osed.domain.errors import ValidationError
from tests.unit.bridge.support import T0, envelope

CONFIG = """
pipelines:
  - name: pmu
    subscribe: [bal/raw/#]
    format: sogno
    input_units: {voltmagnitude: kV, voltangle: deg, currangle: deg}
    steps: [validate, normalise-units, power]
    publish: bal/processed
"""
SHIFT = {"A": 0.0, "B": -120.0, "C": 120.0}


def _reading(component: str, measurand: str, phase: str, data: float) -> dict[str, Any]:
    return {"component": component, "measurand": measurand, "phase": phase, "data": data}


def _payload(*, drop: tuple[str, str] | None = None, line_current: float = 10.0) -> bytes:
    """A PMU on a line: 230 V, ``line_current`` A lagging 30° on each phase (kV and degrees,
    as the device sends), plus a node with a voltage only."""
    readings = [_reading("node-1", "voltmagnitude", "A", 0.231)]
    for phase, shift in SHIFT.items():
        for measurand, value in (
            ("voltmagnitude", 0.23),
            ("voltangle", shift),
            ("currmagnitude", line_current),
            ("currangle", shift - 30.0),
        ):
            if (measurand, phase) != drop:
                readings.append(_reading("line-1", measurand, phase, value))
    document = {"device": "pmu1", "timestamp": "2023-06-29T10:00:00.000000+00:00"}
    return json.dumps({**document, "readings": readings}).encode()


async def _pipeline() -> Pipeline:
    registry = StepRegistry({**BUILTIN_STEPS, "power": power_step})
    config = load_config(CONFIG, registry)
    publisher = Publisher(MemoryBus(), "bridge.pmu", InMemoryOutbox(), heartbeat=None)
    return Pipeline(config.pipelines[0], publisher, dead_letter_prefix="dead-letter")


async def test_a_sogno_message_gains_power_readings() -> None:
    pipeline = await _pipeline()
    outcome = pipeline.process([envelope(_payload(), 1)])
    assert outcome.rejects == []
    ((topic, payload, _),) = outcome.outputs
    assert topic == "bal/processed"
    measurement = decode_measurement(payload)  # "ABC" totals decode again
    power = {
        (r.component, r.measurand.value, r.phase): r.data
        for r in measurement.readings
        if r.component == "line-1" and (r.measurand.value.endswith("power") or r.phase == "ABC")
    }
    cos30, sin30 = math.cos(math.radians(30)), 0.5
    expected = {}
    for phase in "ABC":
        expected |= {
            ("line-1", "activepower", phase): 2300 * cos30,
            ("line-1", "reactivepower", phase): 2300 * sin30,
            ("line-1", "apparentpower", phase): 2300.0,
        }
    expected |= {
        ("line-1", "activepower", "ABC"): 3 * 2300 * cos30,
        ("line-1", "reactivepower", "ABC"): 3 * 2300 * sin30,
        ("line-1", "apparentpower", "ABC"): 6900.0,
        ("line-1", "voltmagnitude", "ABC"): 230.0,
        ("line-1", "currmagnitude", "ABC"): 10.0,
    }
    assert power == pytest.approx(expected)
    # The node (a voltage only) is no power candidate and gains nothing.
    assert [r.component for r in measurement.readings].count("node-1") == 1


async def test_a_missing_phase_is_rejected_as_bad_quality() -> None:
    pipeline = await _pipeline()
    outcome = pipeline.process(
        [envelope(_payload(drop=("currangle", "C")), 1), envelope(_payload(), 2)]
    )
    assert len(outcome.outputs) == 1
    (reject,) = outcome.rejects
    assert (reject.stage, reject.envelope.seq) == ("power", 1)
    ((path, code, message),) = [(p.path, p.code, p.message) for p in reject.problems]
    assert (path, code) == ("$.readings", "bad_quality")
    assert "'line-1'" in message
    assert "currangle C" in message


def test_repeated_readings_and_bad_units_are_named() -> None:
    samples = [
        Sample("pmu1", "l", m, ph, 1.0, u, T0)
        for m, u in (
            ("voltmagnitude", "V"),
            ("voltangle", "rad"),
            ("currmagnitude", "A"),
            ("currangle", "rad"),
        )
        for ph in "ABC"
    ]
    samples.append(Sample("pmu1", "l", "voltmagnitude", "A", 1.0, "V", T0))
    samples.append(Sample("pmu1", "l", "currmagnitude", "B", 1.0, "W", T0))
    message = Message(envelope(b"{}"), "sogno", "pmu1", T0, tuple(samples))
    (reject,) = power_step({}).process([message]).rejects
    assert [(p.path, p.code) for p in reject.problems] == [
        ("$.readings[12]", "bad_quality"),
        ("$.readings[13].unit", "incompatible_units"),
    ]


def test_a_message_without_phasors_passes_unchanged() -> None:
    sample = Sample("pmu1", "n", "frequency", "A", 50.0, "Hz", T0)
    message = Message(envelope(b"{}"), "sogno", "pmu1", T0, (sample,))
    assert power_step({}).process([message]).messages == [message]


def test_options_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        power_step({"phases": ["A"]})
    assert caught.value.problems[0].code == "unknown_option"


def test_the_step_is_declared_as_an_entry_point() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    steps = pyproject["project"]["entry-points"]["osed.bridge_steps"]
    assert steps["power"] == "osed.bridge.power_step:power_step"
