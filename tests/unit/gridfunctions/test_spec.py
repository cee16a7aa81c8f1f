"""Manifests check parameters: every problem at its path, units converted, defaults filled."""

from __future__ import annotations

import pytest

from osed.domain.errors import ValidationError
from osed.gridfunctions.spec import Manifest, MessageType, Parameter, unit_factor

MANIFEST = Manifest(
    name="example",
    version="1.0",
    description="a function for the tests",
    parameters=(
        Parameter("limit", "import limit of the area", unit="kW", minimum=0, maximum=1e5),
        Parameter("duration", "how long", unit="s", minimum=1, default=900.0),
        Parameter("cycles", "how many", kind="integer", minimum=1, default=3),
        Parameter("mode", "how", kind="string", choices=("shed", "shift"), default="shed"),
        Parameter("prices", "per step", kind="series", unit="per_kWh", minimum=-10, maximum=10),
    ),
    messages=(MessageType("request", "outbound"), MessageType("bid", "inbound", max_bytes=512)),
)


def problems(given: object) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        MANIFEST.check_parameters(given, path="$.parameters")
    return {(p.path, p.code) for p in caught.value.problems}


def test_defaults_fill_in_and_units_convert() -> None:
    checked = MANIFEST.check_parameters(
        {
            "limit": {"value": 2, "unit": "MW"},
            "duration": {"value": 30, "unit": "min"},
            "prices": [0.1, 0.2],
        }
    )
    assert checked == {
        "limit": pytest.approx(2000.0),
        "duration": pytest.approx(1800.0),
        "cycles": 3,
        "mode": "shed",
        "prices": [0.1, 0.2],
    }


def test_every_problem_is_named_at_its_path() -> None:
    assert problems(
        {
            "limit": {"value": 5, "unit": "kWh"},
            "cycles": 1.5,
            "mode": "other",
            "prices": [0.1, "x", 20],
            "colour": "red",
        }
    ) == {
        ("$.parameters.limit", "wrong_unit"),
        ("$.parameters.cycles", "not_an_integer"),
        ("$.parameters.mode", "not_a_choice"),
        ("$.parameters.prices[1]", "not_a_number"),
        ("$.parameters.prices[2]", "too_large"),
        ("$.parameters.colour", "unknown_parameter"),
    }


def test_a_missing_parameter_and_a_value_out_of_range() -> None:
    assert problems({"limit": -1}) == {
        ("$.parameters.limit", "too_small"),
        ("$.parameters.prices", "missing"),
    }


def test_units_of_one_kind_convert_and_others_do_not() -> None:
    assert unit_factor("W", "kW") == pytest.approx(1e-3)
    assert unit_factor("h", "s") == pytest.approx(3600.0)
    assert unit_factor("kWh", "kW") is None
    assert MANIFEST.message("bid", "inbound") == MessageType("bid", "inbound", max_bytes=512)
    assert MANIFEST.message("bid", "outbound") is None


def test_checked_parameters_pass_the_check_again() -> None:
    """An optional parameter without a default stays absent (null) when the checked parameters
    are checked once more, as a function's ``open`` does after the EDC checked them."""
    optional = Manifest(
        name="optional",
        version="1.0",
        description="an optional target",
        parameters=(
            Parameter("target", "a target", unit="kW", default=None),
            Parameter("limit", "a limit", unit="kW", minimum=0, default=5.0),
        ),
    )
    checked = optional.check_parameters({"limit": {"value": 0.01, "unit": "MW"}})
    assert checked == {"target": None, "limit": pytest.approx(10.0)}
    assert optional.check_parameters(checked) == checked
    assert optional.check_parameters({"target": None}) == {"target": None, "limit": 5.0}
    with pytest.raises(ValidationError):
        optional.check_parameters({"limit": None})  # null is no value where a default exists
