"""The contract every DeviceGateway adapter passes unchanged.

How an adapter runs it: subclass :class:`DeviceGatewayContract` in its test module and provide
one fixture, ``harness_factory``: an async callable returning a new :class:`GatewayHarness`
whose gateway is **started** and reaches real (or emulated) devices; the fixture closes what it
made at teardown. The harness is the adapter-neutral view of the far side:

- ``case``: one device and one valued action with an in-range and an out-of-range value;
- ``produce()``: make the devices report (a simulation step, a state change);
- ``interrupt()`` / ``restore()``: cut and restore the link between gateway and devices (a
  broker or platform restart, a cable). While cut, a command is not confirmed;
- ``device_value()``: the value the device itself holds for the case's action, read on the far
  side (not through the gateway);
- ``applications(command_id)``: how often the device applied a command id, when the far side
  can tell (None otherwise).

Waits are bounded by ``TIMEOUT``; ``SHORT`` is the deadline given to a command that must come
back ``pending``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import pytest

from osed.domain.devices import Action, Command, Measurement, Outcome
from osed.domain.errors import ConflictError
from osed.ports.devices import DeviceGateway

TIMEOUT = 30.0
SHORT = 0.3


@dataclass(frozen=True, slots=True)
class SetpointCase:
    device_id: str
    action: Action
    value: float
    """Within the device's range, and not what it holds at the start."""
    other_value: float
    """Also within range, different from ``value``."""
    out_of_range: float


class GatewayHarness(Protocol):
    gateway: DeviceGateway
    case: SetpointCase

    async def produce(self) -> None: ...

    async def interrupt(self) -> None: ...

    async def restore(self) -> None: ...

    async def device_value(self) -> float | None: ...

    def applications(self, command_id: str) -> int | None: ...


HarnessFactory = Callable[[], Awaitable[GatewayHarness]]


class Collector:
    def __init__(self) -> None:
        self.measurements: list[Measurement] = []
        self._changed = asyncio.Event()

    async def __call__(self, batch: Sequence[Measurement]) -> None:
        self.measurements.extend(batch)
        self._changed.set()

    async def wait_for(self, device_id: str) -> list[Measurement]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                found = [m for m in self.measurements if m.device_id == device_id]
                if found:
                    return found
                self._changed.clear()
                await self._changed.wait()


def command(case: SetpointCase, value: float, *, command_id: str | None = None) -> Command:
    return Command(
        command_id or f"cmd-{uuid.uuid4().hex[:12]}",
        case.device_id,
        case.action,
        value,
        datetime.now(UTC),
    )


async def eventually_equal(harness: GatewayHarness, value: float) -> None:
    async with asyncio.timeout(TIMEOUT):
        while True:
            held = await harness.device_value()
            if held is not None and abs(held - value) <= 1e-6 * max(1.0, abs(value)):
                return
            await asyncio.sleep(0.02)


class DeviceGatewayContract:
    async def test_discovery_names_the_case_device_with_its_action_and_range(
        self, harness_factory: HarnessFactory
    ) -> None:
        harness = await harness_factory()
        case = harness.case
        devices = {d.device_id: d for d in await harness.gateway.discover()}
        assert case.device_id in devices
        info = devices[case.device_id]
        assert case.action in info.actions
        limits = info.ranges[case.action]
        assert case.value in limits
        assert case.other_value in limits
        assert case.out_of_range not in limits

    async def test_measurements_reach_every_handler_with_aware_times(
        self, harness_factory: HarnessFactory
    ) -> None:
        harness = await harness_factory()
        first, second = Collector(), Collector()
        harness.gateway.on_measurements(first)
        harness.gateway.on_measurements(second)
        await harness.produce()
        got = await first.wait_for(harness.case.device_id)
        await second.wait_for(harness.case.device_id)
        known = {d.device_id for d in await harness.gateway.discover()}
        assert {m.device_id for m in first.measurements} <= known
        assert all(m.at.utcoffset() is not None for m in got)

    async def test_a_setpoint_is_applied_and_confirmed(
        self, harness_factory: HarnessFactory
    ) -> None:
        harness = await harness_factory()
        sent = command(harness.case, harness.case.value)
        result = await harness.gateway.send(sent, timeout_s=TIMEOUT)
        assert result.outcome is Outcome.APPLIED, result.detail
        assert result.command_id == sent.command_id
        assert result.device_id == harness.case.device_id
        await eventually_equal(harness, harness.case.value)

    async def test_the_same_command_id_is_applied_once(
        self, harness_factory: HarnessFactory
    ) -> None:
        harness = await harness_factory()
        sent = command(harness.case, harness.case.value)
        first = await harness.gateway.send(sent, timeout_s=TIMEOUT)
        assert first.outcome is Outcome.APPLIED
        later = command(harness.case, harness.case.other_value)
        assert (await harness.gateway.send(later, timeout_s=TIMEOUT)).outcome is Outcome.APPLIED
        await eventually_equal(harness, harness.case.other_value)
        again = await harness.gateway.send(sent, timeout_s=TIMEOUT)
        assert again == first  # the first outcome, and the device was not set back
        await eventually_equal(harness, harness.case.other_value)
        assert harness.applications(sent.command_id) in (1, None)

    async def test_a_command_id_reused_with_another_body_is_refused(
        self, harness_factory: HarnessFactory
    ) -> None:
        harness = await harness_factory()
        sent = command(harness.case, harness.case.value)
        await harness.gateway.send(sent, timeout_s=TIMEOUT)
        with pytest.raises(ConflictError):
            await harness.gateway.send(
                command(harness.case, harness.case.other_value, command_id=sent.command_id)
            )

    async def test_a_value_out_of_range_is_rejected_with_the_reason_and_not_applied(
        self, harness_factory: HarnessFactory
    ) -> None:
        harness = await harness_factory()
        before = await harness.device_value()
        bad = command(harness.case, harness.case.out_of_range)
        result = await harness.gateway.send(bad, timeout_s=TIMEOUT)
        assert result.outcome is Outcome.REJECTED
        assert "range" in result.detail
        assert await harness.device_value() == before
        assert harness.applications(bad.command_id) in (0, None)

    async def test_an_unknown_device_is_rejected(self, harness_factory: HarnessFactory) -> None:
        harness = await harness_factory()
        stray = Command(
            f"cmd-{uuid.uuid4().hex[:12]}",
            "no-such-device",
            harness.case.action,
            harness.case.value,
            datetime.now(UTC),
        )
        result = await harness.gateway.send(stray, timeout_s=TIMEOUT)
        assert result.outcome is Outcome.REJECTED
        assert "no-such-device" in result.detail

    async def test_liveness_shows_a_reporting_device_online(
        self, harness_factory: HarnessFactory
    ) -> None:
        harness = await harness_factory()
        collector = Collector()
        harness.gateway.on_measurements(collector)
        await harness.produce()
        await collector.wait_for(harness.case.device_id)
        states = {s.device_id: s for s in harness.gateway.liveness()}
        state = states[harness.case.device_id]
        assert state.online
        assert state.last_seen is not None
        assert state.last_seen.utcoffset() is not None

    async def test_a_setpoint_sent_while_cut_off_is_resent_after_the_link_returns_and_applied_once(
        self, harness_factory: HarnessFactory
    ) -> None:
        harness = await harness_factory()
        await harness.interrupt()
        sent = command(harness.case, harness.case.value)
        result = await harness.gateway.send(sent, timeout_s=SHORT)
        assert result.outcome is Outcome.PENDING
        await harness.restore()
        await eventually_equal(harness, harness.case.value)
        confirmed = await harness.gateway.send(sent, timeout_s=TIMEOUT)
        assert confirmed.outcome is Outcome.APPLIED
        assert harness.applications(sent.command_id) in (1, None)
