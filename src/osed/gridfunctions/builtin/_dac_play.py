"""The DAC game played offline: the coordinator and every building in one process."""

from __future__ import annotations

from typing import Any

import highspy
import numpy as np

from osed.gridfunctions.builtin._dac_buildings import Buildings, Response
from osed.gridfunctions.builtin._dac_document import Array, Building, DacProblem
from osed.gridfunctions.builtin._dac_game import WIDTH, Coordinator
from osed.gridfunctions.builtin._dac_model import block_model
from osed.optimizer.highs import pass_program
from osed.optimizer.highs_instance import quiet_highs


def play(problem: DacProblem, *, workers: int = 2) -> dict[str, Any]:
    """The game until it converges or reaches ``max_iterations``; the result document."""
    buildings = Buildings(problem, workers=workers)
    try:
        coordinator = Coordinator.for_problem(problem)
        response = buildings.respond(problem.prices)
        if response.infeasible:
            return infeasible_result(problem, response.infeasible)
        limit = int(problem.settings["max_iterations"])
        status = "max_iterations"
        anchors = None
        while True:
            movement = 0.0 if anchors is None else float(np.abs(response.net_kw - anchors).max())
            converged = coordinator.absorb(response.net_kw.sum(axis=0), movement)
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
    pass_program(highs, block_model(problem, [alone]).program)
    highs.run()
    return bool(highs.getModelStatus() == highspy.HighsModelStatus.kOptimal)


def _rounded(values: Array) -> list[float]:
    """kW and prices to 1e-9: solver noise (−0.0, 1e-17) is not part of the answer."""
    rounded: list[float] = (np.round(values, 9) + 0.0).tolist()
    return rounded
