import math
from dataclasses import replace

import pytest

from osed.bridge.builtin_steps import normalise_units_step, validate_step
from osed.bridge.samples import Message, Sample
from osed.domain.errors import ValidationError
from tests.unit.bridge.support import T0, envelope


def _message(*samples: tuple[str, float, str], seq: int = 1, fmt: str = "sogno") -> Message:
    return Message(
        envelope(b"{}", seq),
        fmt,
        "pmu1",
        T0,
        tuple(Sample("pmu1", "n1", m, "A", v, u, T0) for m, v, u in samples),
    )


def test_validate_rejects_each_implausible_message_naming_every_sample() -> None:
    step = validate_step({"ranges": {"frequency": {"min": 47.5, "max": 52.5}}})
    good = _message(("voltmagnitude", 230.0, "V"), ("frequency", 50.0, "Hz"), seq=1)
    bad = _message(("voltmagnitude", -1.0, "V"), ("frequency", 60.0, "Hz"), seq=2)
    result = step.process([good, bad])
    assert result.messages == [good]
    (reject,) = result.rejects
    assert reject.stage == "validate"
    assert [(p.path, p.code) for p in reject.problems] == [
        ("$.readings[0].data", "implausible"),
        ("$.readings[1].data", "implausible"),
    ]


def test_validate_compares_in_the_units_of_the_range() -> None:
    step = validate_step({"ranges": {"voltmagnitude": {"max": 1000, "unit": "V"}}})
    assert step.process([_message(("voltmagnitude", 0.4, "kV"))]).rejects == []
    assert len(step.process([_message(("voltmagnitude", 2.0, "kV"))]).rejects) == 1


def test_validate_keys_generic_series_by_unit() -> None:
    step = validate_step({"ranges": {"W": {"max": 10, "unit": "kW"}}, "defaults": False})
    inside = _message(("", 5.0, "kW"), fmt="json")
    outside = _message(("", 11.0, "kW"), fmt="json")
    result = step.process([inside, outside])
    assert result.messages == [inside]
    assert result.rejects[0].problems[0].path == "$[0].data"


def test_normalise_converts_to_the_targets() -> None:
    step = normalise_units_step(
        {"targets": {"voltmagnitude": "V", "voltangle": "rad", "activepower": "kW", "MW": "kW"}}
    )
    message = _message(
        ("voltmagnitude", 0.23, "kV"),
        ("voltangle", 90.0, "deg"),
        ("activepower", 2500.0, "W"),
        ("", 1.5, "MW"),
        ("frequency", 50.0, "Hz"),
    )
    (out,) = step.process([message]).messages
    assert [(s.unit, s.value) for s in out.samples] == [
        ("V", pytest.approx(230.0)),
        ("rad", pytest.approx(math.pi / 2)),
        ("kW", pytest.approx(2.5)),
        ("kW", pytest.approx(1500.0)),
        ("Hz", 50.0),
    ]
    assert out.samples[4] is message.samples[4]


def test_normalise_by_default_goes_to_sogno_units() -> None:
    step = normalise_units_step({})
    (out,) = step.process([_message(("reactivepower", 2.0, "kvar"))]).messages
    assert (out.samples[0].unit, out.samples[0].value) == ("var", 2000.0)


def test_normalise_rejects_what_it_cannot_convert() -> None:
    step = normalise_units_step({"targets": {"voltmagnitude": "V"}})
    good = _message(("voltmagnitude", 1.0, "kV"), seq=1)
    odd = replace(good, envelope=envelope(b"{}", 2), samples=(replace(good.samples[0], unit="A"),))
    result = step.process([odd, good])
    assert [m.envelope.seq for m in result.messages] == [1]
    assert result.rejects[0].problems[0].path == "$.readings[0].unit"
    assert result.rejects[0].problems[0].code == "incompatible_units"


def test_bad_options_are_named() -> None:
    with pytest.raises(ValidationError) as caught:
        normalise_units_step({"targets": {"voltmagnitude": "W", "bogus": "V"}, "x": 1})
    assert {(p.path, p.code) for p in caught.value.problems} == {
        ("$.targets.voltmagnitude", "incompatible_units"),
        ("$.targets.bogus", "unknown_key"),
        ("$.x", "unknown_option"),
    }
