"""EDC manager benchmark on the in-memory bus, printed as one JSON object.

- ``create_to_first_request_s``: create an EDC, enrol one building, assign a function, until
  the building receives the function's first request (target <= 1 s).
- ``dispatch_s``: one EDC with ``--buildings`` enrolled (10,000) sends one setpoint to every
  building; the time until the last building received its own message (target <= 1 s).
- ``inbound_all_s``: every building answers once with its token; the time until the function
  had every answer (each checked: enrolment, token, type, size).
- ``enrol_single_api_s``: ``--buildings`` enrolments, one request each, through the REST API
  (httpx on the ASGI app, so no sockets), into an EDC running a function; each is stored on
  its own before its answer. ``enrol_single_api_first_s`` and ``…_last_s``: the time of the
  first and the last tenth, which are alike when an enrolment costs the same however many
  buildings are enrolled. The store commits at ``synchronous=FULL`` (one fsync per
  enrolment, the default); ``enrol_single_api_normal_s``: the same at ``NORMAL``;
  ``enrol_single_api_concurrent_s``: at ``FULL`` with ``--clients`` (32) requests in flight,
  whose enrolments share commits.

All are the best of ``--repeat`` runs, since other processes share this machine. The function
is a minimal one defined here (it broadcasts a setpoint at the start and at every tick), so the
figures are the EDC's own cost: enrolment, channels, envelopes, the bus.

    .venv/bin/python bench/bench_edc.py [--buildings 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2 as httpx

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.domain.envelope import Envelope
from osed.edge.api import create_app
from osed.edge.manager import EdcManager
from osed.gridfunctions.spec import (
    AreaView,
    GridFunction,
    Manifest,
    MessageType,
    Outbound,
    Parameter,
    Session,
)
from osed.storage.edc_sqlite import SqliteEdcStateStore, Synchronous

T0 = datetime(2026, 1, 1, tzinfo=UTC)

MANIFEST = Manifest(
    name="setpoint",
    version="1",
    description="broadcasts an import limit",
    parameters=(Parameter("limit_kw", "per building", unit="kW", minimum=0, default=5.0),),
    messages=(MessageType("setpoint", "outbound"), MessageType("ack", "inbound")),
)


class SetpointSession:
    def __init__(self, limit_kw: float) -> None:
        self.limit_kw = limit_kw
        self.received = 0

    def start(self, area: AreaView) -> list[Outbound]:
        return [Outbound("setpoint", {"limit_kw": self.limit_kw})]

    def on_message(self, message: Any, area: AreaView) -> list[Outbound]:
        self.received += 1
        return []

    def on_tick(self, area: AreaView) -> list[Outbound]:
        return [Outbound("setpoint", {"limit_kw": self.limit_kw})]

    def status(self) -> dict[str, Any]:
        return {"received": self.received}

    def snapshot(self) -> dict[str, Any]:
        return {}

    def close(self, area: AreaView) -> list[Outbound]:
        return []


class Setpoint:
    manifest = MANIFEST

    def run(self, document: Any) -> dict[str, Any]:
        return {}

    def open(
        self,
        parameters: Mapping[str, Any],
        area: AreaView,
        *,
        resume: Mapping[str, Any] | None = None,
    ) -> Session:
        return SetpointSession(float(parameters["limit_kw"]))


def load_function(name: str) -> GridFunction:
    return Setpoint()


class Arrivals:
    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.done = asyncio.Event()

    async def __call__(self, envelope: Envelope) -> None:
        self.count += 1
        if self.count >= self.target:
            self.done.set()


async def manager_on(
    broker: MemoryBroker, folder: Path, synchronous: Synchronous = "FULL"
) -> tuple[EdcManager, MemoryBus]:
    bus = MemoryBus(broker)
    await bus.start()
    manager = EdcManager(
        bus,
        SqliteEdcStateStore(folder / "edc.sqlite", synchronous=synchronous),
        control_cycle=timedelta(hours=1),
        load_function=load_function,
        function_names=lambda: ["setpoint"],
    )
    await manager.start()
    return manager, bus


async def create_to_first_request(folder: Path) -> float:
    broker = MemoryBroker()
    manager, bus = await manager_on(broker, folder)
    field = MemoryBus(broker)
    await field.start()
    arrivals = Arrivals(1)
    await field.subscribe("edc/area/setpoint/out/b1", arrivals)
    started = time.perf_counter()
    edc, _ = await manager.create("area", "trafo", idempotency_key="k")
    await edc.enrol("b1", None)
    await edc.assign("setpoint", {})
    await arrivals.done.wait()
    elapsed = time.perf_counter() - started
    await manager.destroy("area")
    await manager.stop()
    await field.stop()
    await bus.stop()
    return elapsed


async def dispatch(folder: Path, buildings: int) -> dict[str, float]:
    broker = MemoryBroker()
    manager, bus = await manager_on(broker, folder)
    field = MemoryBus(broker)
    await field.start()
    edc, _ = await manager.create("area", "trafo", idempotency_key="k")
    started = time.perf_counter()
    tokens = await edc.enrol_many([(f"b{k}", None) for k in range(buildings)])
    enrol_s = time.perf_counter() - started
    await edc.assign("setpoint", {})
    await asyncio.sleep(0.1)  # the start's messages are delivered before the measured tick
    arrivals = Arrivals(buildings)
    await field.subscribe("edc/area/setpoint/out/+", arrivals)
    started = time.perf_counter()
    await edc.tick()
    await arrivals.done.wait()
    elapsed = time.perf_counter() - started
    inbound_s = await answers(edc, field, tokens)
    await manager.destroy("area")
    await manager.stop()
    await field.stop()
    await bus.stop()
    return {"dispatch_s": elapsed, "enrol_all_s": enrol_s, "inbound_s": inbound_s}


async def enrol_single_api(
    folder: Path, buildings: int, synchronous: Synchronous, clients: int = 1
) -> dict[str, float]:
    """``clients`` requests in flight at a time, each client sending its next as soon as it
    has its answer."""
    broker = MemoryBroker()
    manager, bus = await manager_on(broker, folder, synchronous)
    transport = httpx.ASGITransport(app=create_app(manager))
    tenth = max(buildings // 10, 1)
    marks: list[float] = []
    numbers = iter(range(buildings))

    async def client_sends(client: httpx.AsyncClient) -> None:
        for k in numbers:
            if k % tenth == 0:
                marks.append(time.perf_counter())
            response = await client.post(
                "/api/v1/edcs/area/buildings", json={"building_id": f"b{k}"}
            )
            if response.status_code != 201:
                raise RuntimeError(f"enrolment {k} failed: {response.text}")

    async with httpx.AsyncClient(transport=transport, base_url="http://edc") as client:
        body = {"id": "area", "element": "trafo"}
        await client.post("/api/v1/edcs", json=body, headers={"Idempotency-Key": "k"})
        await client.post("/api/v1/edcs/area/functions/setpoint", json={"parameters": {}})
        started = time.perf_counter()
        await asyncio.gather(*(client_sends(client) for _ in range(clients)))
        ended = time.perf_counter()
    marks.append(ended)
    if len(manager.get("area").enrolment()) != buildings:
        raise RuntimeError("not every building was enrolled")
    await manager.destroy("area")
    await manager.stop()
    await bus.stop()
    return {
        "total_s": ended - started,
        "first_s": marks[1] - marks[0],
        "last_s": marks[-1] - marks[-2],
    }


async def answers(edc: Any, field: MemoryBus, tokens: list[str]) -> float:
    """Every building answers once, with its token: the time until the function had all."""
    envelopes = [
        Envelope(
            "edc/area/setpoint/in",
            f"b{k}",
            1,
            json.dumps({"building": f"b{k}", "token": t, "type": "ack", "body": {}}).encode(),
            T0,
        )
        for k, t in enumerate(tokens)
    ]
    started = time.perf_counter()
    await field.publish_many(envelopes)
    while edc.function_status("setpoint")["status"]["received"] < len(tokens):
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--buildings", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    firsts, dispatches, singles, normals, concurrent = [], [], [], [], []
    for run in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            firsts.append(await create_to_first_request(Path(folder)))
        with tempfile.TemporaryDirectory() as folder:
            dispatches.append(await dispatch(Path(folder), args.buildings))
        with tempfile.TemporaryDirectory() as folder:
            singles.append(await enrol_single_api(Path(folder), args.buildings, "FULL"))
        with tempfile.TemporaryDirectory() as folder:
            normals.append(await enrol_single_api(Path(folder), args.buildings, "NORMAL"))
        with tempfile.TemporaryDirectory() as folder:
            concurrent.append(
                await enrol_single_api(Path(folder), args.buildings, "FULL", args.clients)
            )
        del run
    best = min(dispatches, key=lambda d: d["dispatch_s"])
    single = min(singles, key=lambda d: d["total_s"])
    print(
        json.dumps(
            {
                "benchmark": "edc",
                "python": platform.python_version(),
                "buildings": args.buildings,
                "create_to_first_request_s": round(min(firsts), 4),
                "dispatch_s": round(best["dispatch_s"], 4),
                "enrol_all_s": round(best["enrol_all_s"], 3),
                "inbound_all_s": round(min(d["inbound_s"] for d in dispatches), 3),
                "enrol_single_api_s": round(single["total_s"], 2),
                "enrol_single_api_first_s": round(single["first_s"], 3),
                "enrol_single_api_last_s": round(single["last_s"], 3),
                "enrol_single_api_normal_s": round(min(d["total_s"] for d in normals), 2),
                "enrol_single_api_concurrent_s": round(min(d["total_s"] for d in concurrent), 2),
                "clients": args.clients,
                "targets_s": {
                    "create_to_first_request": 1.0,
                    "dispatch": 1.0,
                    "enrol_single_api": 30.0,
                },
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
