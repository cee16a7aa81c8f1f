"""``dac``: day-ahead coordination, a price game between the EDC and its buildings.

The EDC leads: it sends prices (the tariff plus an adder per step); every building follows with
the schedule of its own devices that is best against those prices plus a proximal term (its
model never leaves it; the EDC sees only net schedules). The EDC updates the adder from the
sum of the schedules (ADMM in sharing form, :mod:`._dac_game`) until the primal and dual
residuals are below the stated tolerance. See docs/grid-functions.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from osed.domain.errors import Problem, ValidationError
from osed.gridfunctions.builtin._dac_document import GAME_SETTINGS, read_document
from osed.gridfunctions.builtin._dac_game import Coordinator
from osed.gridfunctions.builtin._dac_play import play
from osed.gridfunctions.spec import (
    AreaView,
    Inbound,
    Manifest,
    MessageType,
    Outbound,
    Parameter,
    Session,
)

MANIFEST = Manifest(
    name="dac",
    version="1.0.0",
    description=(
        "Day-ahead coordination: the EDC sends prices, buildings answer with their schedules, "
        "until the area peak (or a target) is met at least cost."
    ),
    parameters=(
        Parameter("steps", "steps of the day ahead", "integer", minimum=1, maximum=10_000),
        Parameter("step_h", "length of a step", "number", "h", minimum=1e-3, maximum=24),
        Parameter(
            "prices",
            "tariff per kWh, one per step (flat, ToU, shift)",
            "series",
            "per_kWh",
            minimum=0,
        ),
        Parameter(
            "peak_window_start", "first step of the peak window", "integer", minimum=0, default=0
        ),
        Parameter(
            "peak_window_end",
            "step after the window (0: the last step)",
            "integer",
            minimum=0,
            default=0,
        ),
        Parameter(
            "target_peak_kw",
            "keep the area at or below this (absent: lowest peak)",
            "number",
            "kW",
            default=None,
        ),
        Parameter(
            "max_iterations",
            "rounds of prices before stopping",
            "integer",
            minimum=1,
            maximum=10_000,
            default=int(GAME_SETTINGS["max_iterations"][0]),  # as offline
        ),
        Parameter(
            "tolerance",
            "residuals relative to the peak and the top price",
            "number",
            minimum=1e-6,
            maximum=0.1,
            default=1e-2,
        ),
        Parameter(
            "response_timeout_s",
            "how long a round waits for schedules",
            "number",
            "s",
            minimum=0.1,
            maximum=86_400,
            default=60.0,
        ),
    ),
    messages=(
        MessageType("prices", "outbound", "iteration, prices_per_kwh, correction_kw, rho"),
        MessageType("final", "outbound", "the game ended: status and the last prices"),
        MessageType("cancel", "outbound", "the function was removed: follow the tariff alone"),
        MessageType("schedule", "inbound", "iteration and net_kw, one value per step"),
    ),
)


class Dac:
    """The ``dac`` grid function."""

    @property
    def manifest(self) -> Manifest:
        return MANIFEST

    def run(self, document: Any) -> dict[str, Any]:
        return play(read_document(document))

    def open(
        self,
        parameters: Mapping[str, Any],
        area: AreaView,
        *,
        resume: Mapping[str, Any] | None = None,
    ) -> Session:
        checked = MANIFEST.check_parameters(parameters)
        return DacSession(checked, area, resume=resume)


class DacSession:
    """The game over the function's channels: one round of prices at a time."""

    def __init__(
        self,
        parameters: Mapping[str, Any],
        area: AreaView,
        *,
        resume: Mapping[str, Any] | None = None,
    ) -> None:
        self.parameters = dict(parameters)
        steps = int(self.parameters["steps"])
        prices = np.asarray(self.parameters["prices"], dtype=float)
        if prices.size != steps:
            raise ValidationError(
                [
                    Problem(
                        "$.prices", "wrong_length", f"has {prices.size} values, steps is {steps}"
                    )
                ],
                subject="dac parameters",
            )
        window = np.zeros(steps)
        end = int(self.parameters["peak_window_end"]) or steps
        window[int(self.parameters["peak_window_start"]) : min(end, steps)] = 1.0
        self.buildings = tuple(area.buildings)
        self.coordinator = Coordinator(
            prices,
            self.parameters["target_peak_kw"],
            window,
            float(self.parameters["step_h"]),
            max(1, len(self.buildings)),
            float(self.parameters["tolerance"]),
            u=np.zeros(steps),
            z=np.zeros(steps),
            correction=np.zeros(steps),
        )
        self.latest: dict[str, list[float]] = {}
        """Each building's last schedule (kept for a building that misses a round)."""
        self.anchors: dict[str, list[float]] = {}
        """The schedules the current round's proximal anchors start from."""
        self.answered: set[str] = set()
        self.deadline: datetime | None = None
        self.outcome = "running"
        if resume is not None:
            self._restore(resume)

    # ------------------------------------------------------------------ Session protocol

    def start(self, area: AreaView) -> list[Outbound]:
        if self.deadline is not None:  # resumed mid-round: the round goes on
            return []
        return self._round(area)

    def on_message(self, message: Inbound, area: AreaView) -> list[Outbound]:
        if self.outcome != "running" or message.message_type != "schedule":
            return []
        if message.building_id not in self.buildings:
            return []
        net = _schedule(message.body, self.coordinator.prices.size)
        if message.body["iteration"] != self.coordinator.iteration:
            return []  # a late answer to an earlier round
        self.latest[message.building_id] = net
        self.answered.add(message.building_id)
        if self.answered >= set(self.buildings):
            return self._advance(area)
        return []

    def on_tick(self, area: AreaView) -> list[Outbound]:
        if self.outcome != "running" or self.deadline is None or area.now < self.deadline:
            return []
        return self._advance(area)

    def status(self) -> dict[str, Any]:
        c = self.coordinator
        return {
            "state": self.outcome,
            "iteration": c.iteration,
            "peak_before_kw": None if math.isnan(c.peak_before) else c.peak_before,
            "peak_history_kw": list(c.peaks),
            "answered": sorted(self.answered),
            "waiting": sorted(set(self.buildings) - self.answered),
            "prices_per_kwh": c.prices_sent().tolist(),
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "parameters": self.parameters,
            "buildings": list(self.buildings),
            "coordinator": self.coordinator.to_dict(),
            "latest": self.latest,
            "anchors": self.anchors,
            "answered": sorted(self.answered),
            "deadline": None if self.deadline is None else self.deadline.isoformat(),
            "outcome": self.outcome,
        }

    def close(self, area: AreaView) -> list[Outbound]:
        if self.outcome != "running":
            return []
        self.outcome = "cancelled"
        return [Outbound("cancel", {"iteration": self.coordinator.iteration})]

    # ------------------------------------------------------------------ rounds

    def _round(self, area: AreaView) -> list[Outbound]:
        c = self.coordinator
        self.answered = set()
        self.anchors = {b: list(net) for b, net in self.latest.items()}
        self.deadline = area.now + timedelta(seconds=float(self.parameters["response_timeout_s"]))
        body = {
            "iteration": c.iteration,
            "prices_per_kwh": c.prices_sent().tolist(),
            "correction_kw": c.correction.tolist(),
            "rho": c.rho,
            "step_h": c.step_h,
            "deadline": self.deadline.isoformat(),
        }
        return [Outbound("prices", body)]

    def _advance(self, area: AreaView) -> list[Outbound]:
        if not self.latest:  # nobody has ever answered: ask again
            return self._round(area)
        aggregate = np.sum([self.latest[b] for b in sorted(self.latest)], axis=0)
        converged = self.coordinator.absorb(aggregate, self._movement())
        limit = int(self.parameters["max_iterations"])
        if converged or self.coordinator.iteration >= limit:
            self.outcome = "converged" if converged else "max_iterations"
            self.deadline = None
            c = self.coordinator
            final = {
                "iteration": c.iteration,
                "status": self.outcome,
                "prices_per_kwh": c.prices_sent().tolist(),
                "peak_kw": c.peaks[-1],
            }
            return [Outbound("final", final)]
        return self._round(area)

    def _movement(self) -> float:
        """How far the answers of this round are from their proximal anchors (kW)."""
        c = self.coordinator
        if c.rho == 0.0:
            return 0.0
        moved = [
            float(np.abs(np.asarray(self.latest[b]) - self.anchors[b] - c.correction).max())
            for b in self.answered
            if b in self.anchors
        ]
        return max(moved, default=0.0)

    def _restore(self, saved: Mapping[str, Any]) -> None:
        self.buildings = tuple(saved["buildings"])
        self.coordinator.buildings = max(1, len(self.buildings))
        self.coordinator.restore(dict(saved["coordinator"]))
        self.latest = {k: list(v) for k, v in saved["latest"].items()}
        self.anchors = {k: list(v) for k, v in saved["anchors"].items()}
        self.answered = set(saved["answered"])
        deadline = saved["deadline"]
        self.deadline = None if deadline is None else datetime.fromisoformat(deadline)
        self.outcome = str(saved["outcome"])


def _schedule(body: Mapping[str, Any], steps: int) -> list[float]:
    """The schedule of a ``schedule`` body; :class:`ValidationError` names what is wrong (the
    coordinator dead-letters the message with it; the session is left as it was)."""
    problems: list[Problem] = []
    iteration = body.get("iteration")
    if isinstance(iteration, bool) or not isinstance(iteration, int):
        problems.append(Problem("$.iteration", "not_an_integer", "the round answered"))
    net = body.get("net_kw")
    if not isinstance(net, list) or len(net) != steps:
        problems.append(Problem("$.net_kw", "wrong_length", f"needs {steps} values"))
    else:
        problems += [
            Problem(f"$.net_kw[{k}]", "not_a_number", "must be a finite number")
            for k, x in enumerate(net)
            if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x)
        ]
    if problems or not isinstance(net, list):
        raise ValidationError(problems, subject="dac schedule")
    return [float(x) for x in net]
