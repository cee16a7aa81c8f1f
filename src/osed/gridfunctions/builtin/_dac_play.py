"""The DAC game played offline: the coordinator and every building in one process."""

from __future__ import annotations

from typing import Any

import highspy
import numpy as np

from osed.buildings.device_lp import block_model
from osed.buildings.devices_schema import Array, Building
from osed.gridfunctions.builtin._dac_buildings import Buildings, Response
from osed.gridfunctions.builtin._dac_document import DacProblem
from osed.gridfunctions.builtin._dac_game import WIDTH, Coordinator
from osed.gridfunctions.builtin._dac_warm import sample_duals
from osed.optimizer.highs import pass_program
from osed.optimizer.highs_instance import quiet_highs

CHECK_EVERY = 5
"""Rounds between two best-response checks that found a building off its optimum."""


def play(problem: DacProblem, *, workers: int = 2, informed: bool = True) -> dict[str, Any]:
    """The game until it converges or reaches ``max_iterations``; the result document.

    Offline the EDC holds every building's model, which a live game's EDC does not. When
    ``informed`` it uses them twice: it starts from a sample's dual prices
    (:mod:`._dac_warm`) and, once the residuals are small on the whole, checks each building's
    schedule against its own optimum under the prices sent; when every one is within
    ``tolerance`` of it the game has converged, even if a building still drifts between
    schedules of (nearly) the same cost. Not ``informed``, it plays round for round as the
    live game does.
    """
    buildings = Buildings(problem, workers=workers)
    try:
        coordinator = Coordinator.for_problem(problem)
        response = buildings.respond(problem.prices)
        if response.infeasible:
            return infeasible_result(problem, response.infeasible)
        start = sample_duals(problem, coordinator.weight) if informed else None
        limit = int(problem.settings["max_iterations"])
        status = "max_iterations"
        anchors = None
        next_check = 0
        while True:
            aggregate = response.net_kw.sum(axis=0)
            moved = np.zeros(1) if anchors is None else np.abs(response.net_kw - anchors)
            converged = coordinator.absorb(
                aggregate, float(moved.max()), float(np.sqrt(np.mean(moved**2)))
            )
            if coordinator.iteration == 1 and start is not None:
                coordinator.warm(start, aggregate)
            if (
                informed
                and not converged
                and coordinator.settled
                and coordinator.iteration >= next_check
            ):
                gaps = buildings.best_response_gaps(coordinator.prices_sent(), response.net_kw)
                converged = bool(gaps.max() <= coordinator.tolerance)
                next_check = coordinator.iteration + CHECK_EVERY
            if converged:
                status = "converged"
                break
            if coordinator.iteration >= limit:
                break
            anchors = response.net_kw + coordinator.correction
            response = buildings.respond(coordinator.prices_sent(), anchors, coordinator.rho, WIDTH)
            if response.infeasible:  # cannot happen once every building had a schedule
                return infeasible_result(problem, response.infeasible)
        return result(problem, coordinator, response, status)
    finally:
        buildings.close()


def result(
    problem: DacProblem, coordinator: Coordinator, response: Response, status: str
) -> dict[str, Any]:
    """The result document of a finished game (``prices``: the last prices sent)."""
    prices = coordinator.prices_sent() if coordinator.iteration > 1 else problem.prices
    aggregate = response.net_kw.sum(axis=0)
    h = problem.step_h
    return {
        "status": status,
        "iterations": coordinator.iteration,
        "prices": _rounded(prices),
        "peak_before_kw": coordinator.peak_before,
        "peak_after_kw": coordinator.peak(aggregate),
        "aggregate_kw": _rounded(aggregate),
        "buildings": [
            {
                "id": building.id,
                "net_kw": _rounded(net),
                "cost": float(h * prices @ net),
                "devices": [
                    {"id": device.id, "power_kw": _rounded(power)}
                    for device, power in zip(building.devices, powers, strict=True)
                ],
            }
            for building, net, powers in zip(
                problem.buildings, response.net_kw, response.devices, strict=True
            )
        ],
        "peak_history_kw": list(coordinator.peaks),
        "residual_history": [{"primal_kw": p, "dual": d} for p, d in coordinator.residuals],
    }


def infeasible_result(problem: DacProblem, indices: list[int]) -> dict[str, Any]:
    """Which buildings and devices have no schedule of their own (each device alone)."""
    found: list[dict[str, str | None]] = []
    for i in indices:
        building = problem.buildings[i]
        devices = [d.id for d in building.devices if not _feasible(problem, building, d.id)]
        if devices or not building.devices:
            for device in devices:
                found.append({"building": building.id, "device": device})
        elif not _feasible(problem, building, None):
            found.append({"building": building.id, "device": None})
    return {
        "status": "infeasible",
        "iterations": 0,
        "prices": _rounded(problem.prices),
        "infeasible": found,
        "buildings": [],
        "peak_history_kw": [],
    }


def _feasible(problem: DacProblem, building: Building, device_id: str | None) -> bool:
    devices = tuple(d for d in building.devices if device_id is None or d.id == device_id)
    alone = Building(building.id, building.base_kw, devices)
    highs = quiet_highs()
    model = block_model([alone], steps=problem.steps, step_h=problem.step_h, prices=problem.prices)
    pass_program(highs, model.program)
    highs.run()
    return bool(highs.getModelStatus() == highspy.HighsModelStatus.kOptimal)


def _rounded(values: Array) -> list[float]:
    """kW and prices to 1e-9: solver noise (−0.0, 1e-17) is not part of the answer."""
    rounded: list[float] = (np.round(values, 9) + 0.0).tolist()
    return rounded
