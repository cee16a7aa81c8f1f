"""The ``power`` step: P, Q and |S| per phase and three-phase totals from PMU phasors.

A component of a message is a power candidate when it carries at least one voltage reading
(``voltmagnitude``/``voltangle``) and at least one current reading (``currmagnitude``/
``currangle``) on phase A, B or C. A candidate needs all twelve (four measurands × three
phases), each once; otherwise the message is rejected (``bad_quality``, every missing or
repeated reading named), so no power number is published from an incomplete frame. The
original payload stays in the dead letter. Components with only voltages (a node) or only
currents are left alone.

Appended per candidate, in SOGNO units (single-phase W, var, VA per phase):
``activepower``, ``reactivepower``, ``apparentpower`` on A, B and C, then on phase
:data:`TOTAL_PHASE` the totals as :mod:`osed.grid.power` defines them (P and Q summed,
S = |Σ S|, ``voltmagnitude`` and ``currmagnitude`` the mean of the phase magnitudes).

The whole batch goes through one engine call: the Python work is grouping the samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from osed.bridge import units
from osed.bridge.builtin_steps import sample_path
from osed.bridge.samples import Message, Reject, Sample, StepResult
from osed.bridge.sogno import SOGNO_UNITS, TOTAL_PHASE, Measurand
from osed.domain.errors import Problem, ValidationError
from osed.domain.problems import Problems
from osed.grid.power import power

PHASES = ("A", "B", "C")
_INPUTS = (
    Measurand.VOLTMAGNITUDE,
    Measurand.VOLTANGLE,
    Measurand.CURRMAGNITUDE,
    Measurand.CURRANGLE,
)
# (measurand, phase) -> column of a component's row of 12 inputs
_SLOT = {(m.value, ph): k * 3 + j for k, m in enumerate(_INPUTS) for j, ph in enumerate(PHASES)}


class PowerStep:
    name = "power"

    def __init__(self) -> None:
        self._scales: dict[tuple[str, str], float | None] = {}

    def process(self, messages: list[Message]) -> StepResult:
        rows: list[list[float]] = []
        owners: list[tuple[int, str]] = []  # (message index, component) of each row
        problems: dict[int, list[Problem]] = {}
        for m, message in enumerate(messages):
            found = self._collect(message, problems.setdefault(m, []))
            for component, (row, seen) in found.items():
                if not (seen & {0, 1}) or not (seen & {2, 3}):
                    continue  # not a power candidate: voltages only or currents only
                missing = [
                    f"{m_.value} {ph}"
                    for m_ in _INPUTS
                    for ph in PHASES
                    if row[_SLOT[(m_.value, ph)]] is None
                ]
                if missing:
                    problems[m].append(
                        Problem(
                            "$.readings",
                            "bad_quality",
                            f"component {component!r} lacks {', '.join(missing)}",
                        )
                    )
                    continue
                rows.append([float("nan") if v is None else v for v in row])
                owners.append((m, component))
        extra: dict[int, list[Sample]] = {}
        if rows:
            table = np.asarray(rows, dtype=np.float64).reshape(len(rows), 4, 3)
            result = power(table[:, 0], table[:, 1], table[:, 2], table[:, 3])
            per_phase = np.stack([result.p, result.q, result.s], axis=2).tolist()
            totals = np.stack(
                [result.p_total, result.q_total, result.s_total, result.v_mean, result.i_mean],
                axis=1,
            ).tolist()
            good = result.good.tolist()
            for r, (m, component) in enumerate(owners):
                if not good[r]:
                    problems[m].append(
                        Problem(
                            "$.readings",
                            "bad_quality",
                            f"component {component!r}: a phasor is not finite or a magnitude "
                            "is negative",
                        )
                    )
                    continue
                extra.setdefault(m, []).extend(
                    _samples(messages[m], component, per_phase[r], totals[r])
                )
        out: list[Message] = []
        rejects: list[Reject] = []
        for m, message in enumerate(messages):
            if problems[m]:
                rejects.append(Reject(message.envelope, tuple(problems[m]), self.name))
            elif m in extra:
                out.append(message.with_samples(message.samples + tuple(extra[m])))
            else:
                out.append(message)
        return StepResult(out, rejects)

    def _collect(
        self, message: Message, problems: list[Problem]
    ) -> dict[str, tuple[list[float | None], set[int]]]:
        """Per component: the 12 inputs in SOGNO units (None where absent), and which of
        the four measurands it has at all."""
        found: dict[str, tuple[list[float | None], set[int]]] = {}
        for s, sample in enumerate(message.samples):
            slot = _SLOT.get((sample.measurand, sample.phase))
            if slot is None:
                continue
            scale = self._scale(sample)
            if scale is None:
                problems.append(
                    Problem(
                        f"{sample_path(message, s)}.unit",
                        "incompatible_units",
                        f"{sample.unit!r} is not a unit of {sample.measurand}",
                    )
                )
                continue
            row, seen = found.setdefault(sample.component, ([None] * 12, set()))
            if row[slot] is not None:
                problems.append(
                    Problem(
                        sample_path(message, s),
                        "bad_quality",
                        f"component {sample.component!r} has {sample.measurand} "
                        f"{sample.phase} twice",
                    )
                )
                continue
            row[slot] = sample.value * scale
            seen.add(slot // 3)
        return found

    def _scale(self, sample: Sample) -> float | None:
        key = (sample.measurand, sample.unit)
        if key not in self._scales:
            try:
                self._scales[key] = units.factor(sample.unit, SOGNO_UNITS[sample.measurand])
            except ValidationError:
                self._scales[key] = None
        return self._scales[key]


def _samples(
    message: Message, component: str, per_phase: list[list[float]], totals: list[float]
) -> list[Sample]:
    def sample(measurand: Measurand, phase: str, value: float) -> Sample:
        unit = SOGNO_UNITS[measurand]
        return Sample(message.device, component, measurand.value, phase, value, unit, message.time)

    powers = (Measurand.ACTIVEPOWER, Measurand.REACTIVEPOWER, Measurand.APPARENTPOWER)
    out = [
        sample(measurand, phase, value)
        for phase, values in zip(PHASES, per_phase, strict=True)
        for measurand, value in zip(powers, values, strict=True)
    ]
    total_measurands = (*powers, Measurand.VOLTMAGNITUDE, Measurand.CURRMAGNITUDE)
    out += [
        sample(measurand, TOTAL_PHASE, value)
        for measurand, value in zip(total_measurands, totals, strict=True)
    ]
    return out


def power_step(options: Mapping[str, Any]) -> PowerStep:
    """No options yet: inputs and outputs are in SOGNO units, phases A, B, C and ABC."""
    problems = Problems("power options")
    for name in sorted(map(str, options)):
        problems.add(f"$.{name}", "unknown_option", "the power step takes no options")
    problems.check()
    return PowerStep()
