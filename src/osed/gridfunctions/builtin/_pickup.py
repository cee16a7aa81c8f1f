"""Cold load pickup of thermostatic loads, simulated, and its staggering in groups.

Each load is a 1R1C zone heated by an on/off thermostat with a dead band: on below
setpoint − band/2, off above setpoint + band/2. During the outage every zone cools; once
re-enabled the cold ones all run at full power until back in their band (the diversity is
lost), which is the pickup peak. Staggering re-enables groups one after another, each at the
earliest step at which the aggregate stays under the limit for the whole pickup, that is until
every load enabled so far is back in its band (afterwards the loads cycle as they do on any
day, which is not the pickup's doing). The loads do not influence each other, so the already
enabled groups' aggregate is fixed and the candidate start steps of the next group are
simulated side by side (a block of them at a time).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Vector = NDArray[np.float64]
Matrix = NDArray[np.float64]

_CANDIDATE_BLOCK = 32


@dataclass(frozen=True, slots=True)
class Loads:
    power_kw: Vector
    capacitance_kwh_per_k: Vector
    resistance_k_per_kw: Vector
    cop: Vector
    setpoint_c: Vector
    deadband_k: Vector

    def subset(self, index: NDArray[np.intp]) -> Loads:
        return Loads(
            self.power_kw[index],
            self.capacitance_kwh_per_k[index],
            self.resistance_k_per_kw[index],
            self.cop[index],
            self.setpoint_c[index],
            self.deadband_k[index],
        )


@dataclass(frozen=True, slots=True)
class Pickup:
    profile_kw: Vector
    """Aggregate power after restoration, per step."""
    recovered_step: NDArray[np.intp]
    """Per load, the first step at whose end it is back in its band (−1: not in the horizon)."""


def cool_down(loads: Loads, temp: Vector, outdoor_c: float, steps: int, h: float) -> Vector:
    """Temperatures after ``steps`` steps without heating (the step-by-step model in closed
    form; the step is shorter than every zone's time constant, so the decay is positive)."""
    decay = 1.0 - h / (loads.capacitance_kwh_per_k * loads.resistance_k_per_kw)
    result: Vector = outdoor_c + (temp - outdoor_c) * np.power(decay, steps)
    return result


def simulate(
    loads: Loads,
    temp: Matrix,
    enable_step: NDArray[np.intp],
    *,
    outdoor_c: float,
    h: float,
    horizon: int,
) -> tuple[Matrix, NDArray[np.intp]]:
    """Candidates × loads side by side: ``temp`` holds each candidate's start temperatures at
    restoration, ``enable_step`` (per candidate) when its loads come back. Returns the power
    per candidate and step, and per candidate and load the step it is back in band."""
    temp = temp.copy()
    low = loads.setpoint_c - loads.deadband_k / 2
    high = loads.setpoint_c + loads.deadband_k / 2
    on = np.zeros(temp.shape, dtype=bool)
    recovered = np.full(temp.shape, -1, dtype=np.intp)
    power = np.empty((temp.shape[0], horizon), dtype=np.float64)
    gain = h / loads.capacitance_kwh_per_k
    for t in range(horizon):
        enabled = (t >= enable_step)[:, None]
        on = enabled & ((temp < low) | (on & (temp <= high)))
        drawn = np.where(on, loads.power_kw, 0.0)
        power[:, t] = drawn.sum(axis=1)
        temp = temp + gain * ((outdoor_c - temp) / loads.resistance_k_per_kw + loads.cop * drawn)
        recovered = np.where((recovered < 0) & enabled & (temp >= low), t, recovered)
    return power, recovered


@dataclass(frozen=True, slots=True)
class Staggered:
    profile_kw: Vector
    enable_steps: list[int | None]
    """Per group, the step it is re-enabled (None: it did not fit within the horizon)."""
    recovered_step: NDArray[np.intp]


def stagger(
    loads: Loads,
    temp_at_outage: Vector,
    groups: list[NDArray[np.intp]],
    *,
    outdoor_c: float,
    h: float,
    outage_steps: int,
    horizon: int,
    limit_kw: float,
    min_gap_steps: int,
) -> Staggered:
    cooled = cool_down(loads, temp_at_outage, outdoor_c, outage_steps, h)
    aggregate = np.zeros(horizon, dtype=np.float64)
    recovered = np.full(loads.power_kw.shape, -1, dtype=np.intp)
    enable_steps: list[int | None] = []
    earliest = 0
    pickup_end = 0  # the step by which every load enabled so far is back in its band
    steps = np.arange(horizon)
    for members in groups:
        group = loads.subset(members)
        chosen: int | None = None
        for first in range(earliest, horizon, _CANDIDATE_BLOCK):
            candidates = np.arange(first, min(first + _CANDIDATE_BLOCK, horizon), dtype=np.intp)
            # Before its start a candidate's loads keep cooling, which simulate() does too.
            start_temps = np.repeat(cooled[members][None, :], candidates.size, 0)
            power, back = simulate(
                group, start_temps, candidates, outdoor_c=outdoor_c, h=h, horizon=horizon
            )
            group_end = np.where((back < 0).any(axis=1), horizon, back.max(axis=1) + 1)
            window_end = np.maximum(group_end, pickup_end)
            during_pickup = steps[None, :] < window_end[:, None]
            peaks = np.where(during_pickup, power + aggregate, 0.0).max(axis=1)
            fits = np.nonzero(peaks <= limit_kw + 1e-9)[0]
            if fits.size:
                pick = int(fits[0])
                chosen = int(candidates[pick])
                pickup_end = int(window_end[pick])
                aggregate = aggregate + power[pick]
                recovered[members] = back[pick]
                break
        enable_steps.append(chosen)
        if chosen is None:
            break  # the later groups would meet an even colder start
        earliest = chosen + min_gap_steps
    enable_steps += [None] * (len(groups) - len(enable_steps))
    return Staggered(aggregate, enable_steps, recovered)


def pickup_peak(profile_kw: Vector, recovered_step: NDArray[np.intp]) -> tuple[float, float]:
    """The peak until every load is back in its band, and the peak after that."""
    horizon = profile_kw.size
    end = horizon if (recovered_step < 0).any() or recovered_step.size == 0 else 0
    if end == 0:
        end = int(recovered_step.max()) + 1
    during = float(profile_kw[:end].max()) if end > 0 else 0.0
    after = float(profile_kw[end:].max()) if end < horizon else 0.0
    return during, after


def simultaneous(
    loads: Loads,
    temp_at_outage: Vector,
    *,
    outdoor_c: float,
    h: float,
    outage_steps: int,
    horizon: int,
) -> Pickup:
    cooled = cool_down(loads, temp_at_outage, outdoor_c, outage_steps, h)
    power, back = simulate(
        loads,
        cooled[None, :],
        np.zeros(1, dtype=np.intp),
        outdoor_c=outdoor_c,
        h=h,
        horizon=horizon,
    )
    return Pickup(power[0], back[0])
