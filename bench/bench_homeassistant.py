"""Setpoint round trip through the Home Assistant gateway against Home Assistant's own floor.

Starts a real Home Assistant core (tests/services/homeassistant.py: the cached environment
that ``scripts/install-homeassistant`` makes, a free port, a temporary folder) and times, for
each of ``--calls`` setpoints, the time from the call to the confirmed state:

* ``gateway``: ``HomeAssistantGateway.send`` of a new thermostat setpoint until it returns
  ``applied`` (the service call over the WebSocket API, the ``state_changed`` event that
  shows the new value, the command settled);
* ``floor``: the same with a bare WebSocket client (``call_service``, then wait for the
  ``state_changed`` event with the value): what Home Assistant itself costs.

The two alternate on the same entity (each call changes the setpoint; each goes first in every
other pair), so both meet the same server conditions. The charge limit of a template number
(a script behind it) is timed too.
Half the calls run with the gateway subscribed first, half with the bare client first (Home
Assistant serves its subscribers in that order). Prints one JSON object: p50/p99/mean in ms
for each, the gateway/floor ratio, and the p50 pair [gateway, floor] of each order.

    .venv/bin/python bench/bench_homeassistant.py [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.services

from websockets.asyncio.client import ClientConnection, connect

from osed.devices.homeassistant import HomeAssistantGateway, parse_config
from osed.domain.devices import Action, Command, Outcome
from tests.services.homeassistant import VERSION, HomeAssistant, remove, start_home_assistant

THERMOSTAT = "climate.living_room"
DEVICES = {
    "heating-1": {"kind": "heating", "entities": {THERMOSTAT: None}},
    "ev-1": {"kind": "ev", "entities": {"number.ev_charge_limit": None}},
}


class RawClient:
    """A bare WebSocket client: call a service, wait for the state that shows it. Like the
    gateway, it reads its socket all the time, so no backlog falls on a call."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(2)  # 1 was the subscription
        self._expected: tuple[float, asyncio.Future[None]] | None = None
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, server: HomeAssistant) -> RawClient:
        socket = await connect(f"ws://127.0.0.1:{server.port}/api/websocket", compression=None)
        await socket.recv()
        await socket.send(json.dumps({"type": "auth", "access_token": server.token}))
        assert json.loads(await socket.recv())["type"] == "auth_ok"
        await socket.send(
            json.dumps({"id": 1, "type": "subscribe_events", "event_type": "state_changed"})
        )
        assert json.loads(await socket.recv())["success"]
        return cls(socket)

    async def set_temperature(self, value: float) -> float:
        shown: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._expected = (value, shown)
        started = time.perf_counter()
        await self._socket.send(
            json.dumps(
                {
                    "id": next(self._ids),
                    "type": "call_service",
                    "domain": "climate",
                    "service": "set_temperature",
                    "service_data": {"temperature": value},
                    "target": {"entity_id": THERMOSTAT},
                }
            )
        )
        await asyncio.wait_for(shown, 30)
        return time.perf_counter() - started

    async def close(self) -> None:
        await self._socket.close()
        await self._reader

    async def _read(self) -> None:
        async for raw in self._socket:
            decoded = json.loads(raw)
            for message in decoded if isinstance(decoded, list) else [decoded]:
                if message.get("type") != "event" or self._expected is None:
                    continue
                state = message["event"]["data"].get("new_state") or {}
                value, shown = self._expected
                if (
                    state.get("entity_id") == THERMOSTAT
                    and state["attributes"].get("temperature") == value
                    and not shown.done()
                ):
                    shown.set_result(None)


async def gateway_call(
    gateway: HomeAssistantGateway, device: str, action: Action, value: float
) -> float:
    command = Command(f"bench-{time.perf_counter_ns()}", device, action, value, datetime.now(UTC))
    started = time.perf_counter()
    result = await gateway.send(command, timeout_s=30)
    elapsed = time.perf_counter() - started
    if result.outcome is not Outcome.APPLIED:
        raise RuntimeError(f"{command} was {result.outcome}: {result.detail}")
    return elapsed


def summary(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "max_ms": round(ms[-1], 3),
    }


async def one_round(
    server: HomeAssistant, calls: int, *, gateway_first: bool
) -> tuple[list[float], list[float], list[float]]:
    """``calls`` alternating setpoints and ``calls`` charge limits. Home Assistant hands an
    event to its subscribers in the order they subscribed (the first gets it about 1.5 ms
    sooner here), so ``gateway_first`` says who subscribes first."""
    gateway = HomeAssistantGateway(
        parse_config(
            {
                "url": server.url,
                "token": server.token,
                "devices": DEVICES,
                "discover_unmapped": False,
            }
        )
    )
    if gateway_first:
        await gateway.start()
        raw = await RawClient.open(server)
    else:
        raw = await RawClient.open(server)
        await gateway.start()
    ours: list[float] = []
    floor: list[float] = []
    limits: list[float] = []
    try:
        # Setpoints 18.0 .. 25.5 in 0.5 steps: every call changes the thermostat's value.
        values = (18.0 + 0.5 * (k % 16) for k in itertools.count())
        for _ in range(5):  # warm-up: first calls load code paths on both sides
            await gateway_call(gateway, "heating-1", Action.SET_SETPOINT_C, next(values))
            await raw.set_temperature(next(values))
        for k in range(calls):
            # Each goes first in every other pair: what one leaves running in Home Assistant
            # (the thermostat switching its heater) falls on both alike.
            if k % 2:
                floor.append(await raw.set_temperature(next(values)))
            ours.append(
                await gateway_call(gateway, "heating-1", Action.SET_SETPOINT_C, next(values))
            )
            if not k % 2:
                floor.append(await raw.set_temperature(next(values)))
        for k in range(calls):
            limit = round(1.0 + 0.1 * (k % 50), 1)
            limits.append(await gateway_call(gateway, "ev-1", Action.SET_POWER_LIMIT_KW, limit))
    finally:
        await raw.close()
        await gateway.close()
    return ours, floor, limits


async def measure(server: HomeAssistant, calls: int) -> dict[str, Any]:
    """Half the calls with the gateway subscribed first, half with the bare client first."""
    first = await one_round(server, calls // 2, gateway_first=True)
    second = await one_round(server, calls - calls // 2, gateway_first=False)
    ours, floor, limits = (a + b for a, b in zip(first, second, strict=True))
    gateway_stats, floor_stats = summary(ours), summary(floor)
    return {
        "benchmark": "homeassistant_setpoint_round_trip",
        "home_assistant": VERSION,
        "python": platform.python_version(),
        "calls": calls,
        "gateway_setpoint": gateway_stats,
        "floor_setpoint": floor_stats,
        "ratio_p50": round(gateway_stats["p50_ms"] / floor_stats["p50_ms"], 3),
        "ratio_p99": round(gateway_stats["p99_ms"] / floor_stats["p99_ms"], 3),
        "gateway_charge_limit": summary(limits),
        "p50_ms_by_subscription_order": {
            "gateway_first": [summary(first[0])["p50_ms"], summary(first[1])["p50_ms"]],
            "floor_first": [summary(second[0])["p50_ms"], summary(second[1])["p50_ms"]],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    server = start_home_assistant()
    try:
        result = asyncio.run(measure(server, args.calls))
    finally:
        remove(server)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
