"""1,000 building agents in one process answering a DAC iteration: the prices go out on every
building's channel, every agent computes its best response (with the proximal term from the
second round on) and its ``schedule`` comes back. The target: ≤ 2 s per iteration.

Each agent has its own simulated devices (a battery, an EV, a heating zone and a water heater
over 96 steps of 15 minutes, the base load scaled per building); all share one bus and the
process' solver threads (one per core, printed as ``solver_threads``), as ``osed run
buildings`` runs them. Prints one JSON object: seconds from the prices published to the last
schedule received, for round 0 (a new game from the measured state) and for the warm rounds
after it (median and max), and schedules per second.

Usage: python bench/bench_building_agents.py [BUILDINGS] [ROUNDS]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1]))

from bench.bench_building_mpc import STEP_H, STEPS, house, tariff

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.devices.simulated import SimulatedGateway
from osed.devices.simulated_document import devices_of
from osed.domain.envelope import Envelope
from osed.edge.building.agent import AgentSettings, BuildingAgent, Channel
from osed.edge.building.solvers import shared_pool
from osed.edge.names import outbound_topic
from osed.edge.wire import outbound_payload

START = datetime(2026, 1, 12, tzinfo=UTC)


async def main(size: int, rounds: int) -> dict[str, Any]:
    broker = MemoryBroker()
    bus = MemoryBus(broker)
    await bus.start()
    field = MemoryBus(broker)
    await field.start()
    rng = np.random.default_rng(7)
    template = house()
    agents = []
    started = time.perf_counter()
    for i in range(size):
        building = replace(template, id=f"b{i}", base_kw=template.base_kw * rng.uniform(0.6, 1.4))
        devices = SimulatedGateway(devices_of(building), step_h=STEP_H, start=START, seed=i)
        settings = AgentSettings(STEPS, STEP_H, tariff())
        agent = BuildingAgent(building, devices, bus, {"dac": Channel("area-1", "t")}, settings)
        await agent.start()
        agents.append(agent)
    setup_s = time.perf_counter() - started

    answered: set[str] = set()
    done = asyncio.Event()

    async def collect(envelope: Envelope) -> None:
        message = json.loads(envelope.payload)
        if message["type"] == "schedule":
            answered.add(message["building"])
            if len(answered) == size:
                done.set()

    await field.subscribe("edc/area-1/dac/in", collect)
    prices = tariff()
    times = []
    for iteration in range(rounds):
        answered.clear()
        done.clear()
        rho = 0.0 if iteration == 0 else 0.05
        sent = prices * (1.0 + 0.01 * np.sin(np.arange(STEPS) / 8 + iteration))
        body = {
            "iteration": iteration,
            "prices_per_kwh": sent.tolist(),
            "correction_kw": [0.0] * STEPS,
            "rho": rho,
            "step_h": STEP_H,
            "deadline": START.isoformat(),
        }
        payload = outbound_payload("area-1", "dac", "prices", body, START)
        envelopes = [
            Envelope(outbound_topic("area-1", "dac", a.building.id), "edc", k + 1, payload, START)
            for k, a in enumerate(agents)
        ]
        began = time.perf_counter()
        await field.publish_many(envelopes)
        await asyncio.wait_for(done.wait(), timeout=600)
        times.append(time.perf_counter() - began)
    for agent in agents:
        await agent.stop()
    await bus.stop()
    await field.stop()
    warm = times[1:] or times
    return {
        "buildings": size,
        "steps": STEPS,
        "devices_per_building": len(template.devices),
        "setup_s": round(setup_s, 3),
        "round0_s": round(times[0], 3),
        "warm_round_median_s": round(statistics.median(warm), 3),
        "warm_round_max_s": round(max(warm), 3),
        "schedules_per_s_warm": round(size / statistics.median(warm), 1),
        "solver_threads": shared_pool().workers,
        "target_s": 2.0,
    }


if __name__ == "__main__":
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    print(json.dumps(asyncio.run(main(size, rounds))))
