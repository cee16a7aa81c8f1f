"""Every grid-function document names the same fault with the same code and message."""

from __future__ import annotations

from typing import Any

import pytest

from osed.domain.errors import ValidationError
from osed.gridfunctions.registry import load_function


def problems_of(name: str, document: dict[str, Any]) -> dict[str, tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        load_function(name).run(document)
    return {p.path: (p.code, p.message) for p in caught.value.problems}


def test_the_same_fault_gets_the_same_code_and_message_in_every_document() -> None:
    dac = problems_of(
        "dac",
        {
            "steps": 2,
            "step_h": 1,
            "prices": [-1, "x"],
            "buildings": [{"id": "a", "base_kw": [1, 2, 3]}, {"base_kw": [1, 1]}],
        },
    )
    xor = problems_of(
        "xor",
        {
            "request_kw": 1,
            "duration_h": 1,
            "prices": [-1, "x"],
            "bids": [{"building": "a", "quantities_kw": [1, 2, 3]}, {"quantities_kw": [1, 1]}],
        },
    )
    capacity = problems_of(
        "capacity-limit",
        {"import_limit_kw": -1, "buildings": [{"current_kw": "x", "min_kw": 0, "max_kw": 1}]},
    )
    negative = ("too_small", "-1 is below 0")
    assert dac["$.prices[0]"] == xor["$.prices[0]"] == capacity["$.import_limit_kw"] == negative
    not_a_number = ("not_a_number", "must be a number")
    assert dac["$.prices[1]"] == xor["$.prices[1]"] == not_a_number
    assert capacity["$.buildings[0].current_kw"] == not_a_number
    wrong_length = ("wrong_length", "has 3 values, needs 2")
    assert dac["$.buildings[0].base_kw"] == xor["$.bids[0].quantities_kw"] == wrong_length
    missing = ("missing", "required")
    assert dac["$.buildings[1].id"] == xor["$.bids[1].building"] == missing
    assert capacity["$.buildings[0].id"] == missing


def test_a_dac_device_reports_its_bounds_and_its_relations_at_once() -> None:
    battery = {
        "id": "bat",
        "kind": "battery",
        "capacity_kwh": 0,
        "soc_init": 0.9,
        "soc_min": 0.5,
        "soc_max": 0.4,
        "charge_max_kw": -2,
        "discharge_max_kw": "fast",
        "charge_efficiency": 1.2,
        "discharge_efficiency": 0.9,
    }
    found = problems_of(
        "dac",
        {
            "steps": 2,
            "step_h": 1,
            "prices": [0.1, 0.2],
            "buildings": [{"id": "a", "base_kw": [1, 1], "devices": [battery, dict(battery)]}],
        },
    )
    at = "$.buildings[0].devices[0]"
    assert {path: code for path, (code, _) in found.items() if path.startswith(at)} == {
        f"{at}.capacity_kwh": "too_small",
        f"{at}.charge_max_kw": "too_small",
        f"{at}.discharge_max_kw": "not_a_number",
        f"{at}.charge_efficiency": "too_large",
        f"{at}.soc_min": "above_max",
        f"{at}.soc_init": "outside_window",
        f"{at}.soc_final_min": "above_max",  # its default is soc_init
    }
    assert found["$.buildings[0].devices[1].id"] == ("duplicate", "'bat' again")
