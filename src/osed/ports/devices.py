"""The device gateway port: the building side's one way to its devices.

A building agent sees its devices only through this port, whatever reaches them: simulated
devices, MQTT JSON devices, Home Assistant, EdgeX. A gateway

- discovers the devices and what each measures and accepts (:class:`DeviceInfo`);
- streams measurements to the handlers registered with :meth:`on_measurements`;
- sends commands and answers each with a :class:`CommandResult`. A command id is applied at
  most once: sending it again (a retry, or the gateway's own resend of pending commands after
  it reconnected) returns the first outcome or confirms the same pending command;
- reports each device's liveness (online, last seen).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from osed.domain.devices import Command, CommandResult, DeviceInfo, Liveness, Measurement

MeasurementHandler = Callable[[Sequence[Measurement]], Awaitable[None]]


class DeviceGateway(Protocol):
    async def start(self) -> None:
        """Connect; measurements flow to the handlers from now on."""
        ...

    async def discover(self) -> list[DeviceInfo]:
        """Every device the gateway reaches, with its capabilities."""
        ...

    def on_measurements(self, handler: MeasurementHandler) -> None:
        """Call ``handler`` with each batch of measurements (in the order received)."""
        ...

    async def send(self, command: Command, *, timeout_s: float = 10.0) -> CommandResult:
        """Apply ``command`` and wait at most ``timeout_s`` for the device to confirm it:
        ``applied``, ``rejected`` (with the reason) or ``pending`` (unconfirmed: the gateway
        keeps it and resends it after a reconnect, and never applies it twice)."""
        ...

    def liveness(self) -> list[Liveness]:
        """Each known device: online or not, and when it was last heard from."""
        ...

    async def close(self) -> None: ...
