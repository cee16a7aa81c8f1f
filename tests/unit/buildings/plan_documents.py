"""Building plan documents for tests: a fixed evening with four devices, and a hypothesis
strategy of small random buildings in the DAC document's device schema."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

STEPS = 8
EVENING = [1.0, 1.0, 1.5, 2.0, 4.0, 5.0, 4.0, 2.0]

BATTERY: dict[str, Any] = {
    "id": "battery",
    "kind": "battery",
    "capacity_kwh": 10.0,
    "soc_init": 0.5,
    "soc_min": 0.1,
    "soc_max": 0.9,
    "charge_max_kw": 3.0,
    "discharge_max_kw": 3.0,
    "charge_efficiency": 0.95,
    "discharge_efficiency": 0.95,
}

DOCUMENT: dict[str, Any] = {
    "steps": STEPS,
    "step_h": 1.0,
    "prices": [0.10, 0.10, 0.10, 0.10, 0.30, 0.30, 0.30, 0.10],
    "import_limit_kw": 9.0,
    "building": {
        "id": "house",
        "base_kw": EVENING,
        "devices": [
            BATTERY,
            {
                "id": "ev",
                "kind": "ev",
                "arrival_step": 3,
                "departure_step": 8,
                "energy_kwh": 10.0,
                "charge_max_kw": 7.2,
            },
            {
                "id": "heat-pump",
                "kind": "heating",
                "capacitance_kwh_per_k": 5.0,
                "resistance_k_per_kw": 4.0,
                "cop": 3.0,
                "power_max_kw": 4.0,
                "temp_init_c": 20.0,
                "outdoor_c": [0.0] * STEPS,
                "comfort_min_c": [19.0] * STEPS,
                "comfort_max_c": [23.0] * STEPS,
            },
            {
                "id": "boiler",
                "kind": "water_heater",
                "energy_max_kwh": 8.0,
                "energy_min_kwh": 1.0,
                "energy_init_kwh": 4.0,
                "power_max_kw": 3.0,
                "draw_kw": [0, 0, 0, 0, 0.5, 1.5, 0.5, 0],
                "loss_kw": 0.05,
            },
        ],
    },
}


def document() -> dict[str, Any]:
    return copy.deepcopy(DOCUMENT)


def _series(n: int, low: float, high: float) -> st.SearchStrategy[list[float]]:
    return st.lists(
        st.floats(low, high, allow_nan=False).map(lambda x: round(x, 3)), min_size=n, max_size=n
    )


@st.composite
def documents(draw: st.DrawFn, *, negative_prices: bool = False) -> dict[str, Any]:
    """A building with a random subset of the four controllable kinds over 2–12 steps."""
    n = draw(st.integers(2, 12))
    h = draw(st.sampled_from([0.25, 0.5, 1.0]))
    low_price = -0.3 if negative_prices else 0.0
    devices: list[dict[str, Any]] = []
    kinds = draw(st.sets(st.sampled_from(["battery", "ev", "heating", "water_heater"])))
    for kind in sorted(kinds):
        if kind == "battery":
            soc_min = draw(st.floats(0.0, 0.3))
            soc_max = draw(st.floats(0.7, 1.0))
            devices.append(
                {
                    **BATTERY,
                    "soc_min": soc_min,
                    "soc_max": soc_max,
                    "soc_init": draw(st.floats(soc_min, soc_max)),
                    "capacity_kwh": draw(st.floats(1.0, 20.0)),
                    "charge_max_kw": draw(st.floats(0.5, 6.0)),
                    "discharge_max_kw": draw(st.floats(0.5, 6.0)),
                    "charge_efficiency": draw(st.floats(0.8, 1.0)),
                    "discharge_efficiency": draw(st.floats(0.8, 1.0)),
                }
            )
        elif kind == "ev":
            arrival = draw(st.integers(0, n - 1))
            departure = draw(st.integers(arrival, n))
            devices.append(
                {
                    "id": "ev",
                    "kind": "ev",
                    "arrival_step": arrival,
                    "departure_step": departure,
                    "energy_kwh": draw(st.floats(0.0, 15.0)),
                    "charge_max_kw": draw(st.floats(1.0, 11.0)),
                }
            )
        elif kind == "heating":
            capacitance = draw(st.floats(2.0, 10.0))
            devices.append(
                {
                    "id": "zone",
                    "kind": "heating",
                    "capacitance_kwh_per_k": capacitance,
                    "resistance_k_per_kw": draw(st.floats(max(1.0, 1.01 * h / capacitance), 10.0)),
                    "cop": draw(st.floats(1.0, 4.0)),
                    "power_max_kw": draw(st.floats(0.5, 5.0)),
                    "temp_init_c": draw(st.floats(19.0, 22.0)),
                    "outdoor_c": draw(_series(n, -10.0, 15.0)),
                    "comfort_min_c": [18.5] * n,
                    "comfort_max_c": [23.5] * n,
                }
            )
        else:
            devices.append(
                {
                    "id": "boiler",
                    "kind": "water_heater",
                    "energy_max_kwh": 8.0,
                    "energy_min_kwh": 1.0,
                    "energy_init_kwh": draw(st.floats(1.0, 8.0)),
                    "power_max_kw": draw(st.floats(0.5, 4.0)),
                    "draw_kw": draw(_series(n, 0.0, 2.0)),
                    "loss_kw": 0.05,
                }
            )
    result: dict[str, Any] = {
        "steps": n,
        "step_h": h,
        "prices": draw(_series(n, low_price, 0.5)),
        "building": {"id": "b", "base_kw": draw(_series(n, -2.0, 5.0)), "devices": devices},
    }
    if draw(st.booleans()):
        result["import_limit_kw"] = draw(st.floats(2.0, 20.0).map(lambda x: round(x, 2)))
    return result


def as_dac(
    document: dict[str, Any], result: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A plan document and its result in the DAC document's shape, for the DAC checker."""
    building = document["building"]
    dac_document = {
        "steps": document["steps"],
        "step_h": document["step_h"],
        "buildings": [building],
    }
    dac_result = {
        "prices": document["prices"],
        "aggregate_kw": result["net_kw"],
        "buildings": [
            {
                "id": building["id"],
                "net_kw": result["net_kw"],
                "cost": result["cost"],
                "devices": result["devices"],
            }
        ],
    }
    return dac_document, dac_result
