"""The households' device parameters: which households have which device (the scenario's
shares) and the parameter distributions, with the defaults a scenario may leave out.

Each device kind is given to round(share × households) households chosen by a seeded
permutation, independently of the other kinds.
"""

from __future__ import annotations

from collections.abc import Mapping

from osed.sim.distributions import Distribution

DEVICE_KINDS = ("pv", "battery", "ev", "heat_pump", "water_heater")

# kind: parameter: (default, physical bounds). The defaults describe a central European
# suburban household; the bounds keep every draw inside what the device models accept.
PARAMETERS: Mapping[str, Mapping[str, tuple[Distribution, tuple[float, float]]]] = {
    "load": {
        "annual_kwh": (Distribution("uniform", 2500.0, 5000.0), (300.0, 30_000.0)),
    },
    "pv": {
        "kwp": (Distribution("uniform", 3.0, 10.0), (0.3, 50.0)),
    },
    "battery": {
        "capacity_kwh": (Distribution("uniform", 5.0, 13.5), (0.5, 200.0)),
        "power_kw": (Distribution("uniform", 2.5, 5.0), (0.1, 100.0)),
        "soc_init": (Distribution("uniform", 0.3, 0.7), (0.1, 0.9)),
        "efficiency": (Distribution("fixed", 0.95), (0.5, 1.0)),
    },
    "ev": {
        "arrival_h": (Distribution("normal", 18.0, 1.5, 0.0, 24.0), (0.0, 24.0)),
        "departure_h": (Distribution("normal", 7.5, 1.0, 0.0, 24.0), (0.0, 24.0)),
        "energy_kwh": (Distribution("uniform", 5.0, 25.0), (0.0, 150.0)),
        "charge_max_kw": (Distribution("uniform", 3.7, 11.0), (1.0, 50.0)),
    },
    "heat_pump": {
        "capacitance_kwh_per_k": (Distribution("uniform", 8.0, 15.0), (1.0, 100.0)),
        "resistance_k_per_kw": (Distribution("uniform", 4.0, 8.0), (1.0, 100.0)),
        "cop": (Distribution("uniform", 2.8, 3.8), (1.0, 8.0)),
        "power_max_kw": (Distribution("uniform", 2.0, 4.0), (0.3, 30.0)),
        "comfort_min_c": (Distribution("uniform", 19.5, 21.0), (10.0, 28.0)),
        "comfort_band_k": (Distribution("uniform", 2.0, 3.0), (0.5, 10.0)),
    },
    "water_heater": {
        "energy_max_kwh": (Distribution("uniform", 6.0, 12.0), (1.0, 100.0)),
        "power_max_kw": (Distribution("uniform", 2.0, 3.0), (0.5, 20.0)),
        # standing losses below the smallest heater power, so a tank can always be kept warm
        "loss_kw": (Distribution("fixed", 0.05), (0.0, 0.3)),
        "draw_kwh_per_day": (Distribution("uniform", 3.0, 6.0), (0.0, 50.0)),
    },
}
"""The parameters a scenario may give under ``households.<kind>``; ``load`` is every
household's non-controllable load."""

DEFAULT_SHARES = {
    "pv": 0.0,
    "battery": 0.0,
    "ev": 0.0,
    "heat_pump": 0.0,
    "water_heater": 0.0,
}
DEFAULT_AWAY_SHARE = 0.5
HEAT_PUMP_MARGIN = 1.25
"""A heat pump holds its zone at the comfort minimum through the study's coldest step with this
margin: a draw below that is sized up (heat pumps are sized to the design temperature)."""
WATER_MIN_SHARE = 0.1
"""A water heater's lowest allowed energy, as a share of its largest."""
WATER_INIT_SHARE = (0.6, 0.9)
EV_PLUGGED_USE = 0.8
"""An EV needs at most this share of what its charger can deliver while it is plugged in."""
