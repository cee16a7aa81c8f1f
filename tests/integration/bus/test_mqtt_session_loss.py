"""MqttLink against a scripted broker: it subscribes again on every connection whatever the
CONNACK says, and reports a persistent session the broker no longer holds exactly once, also
when the first connection after the loss fails before its subscription was made again.

The broker is scripted because the sequence matters (a CONNACK without the session, then a
refused subscription, then a CONNACK that finds the empty session the failed attempt left);
tests/integration/bridge/test_raw_session.py shows the loss on a real Mosquitto.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from osed.bus.mqtt_link import (
    SENT_BEFORE_READ_S,
    Backoff,
    MqttConnection,
    MqttEndpoint,
    MqttLink,
    SessionLoss,
)

SUBSCRIBE = 8


@dataclass(frozen=True)
class Answer:
    session_present: bool
    granted: int  # SUBACK return code: 0x01 granted QoS 1, 0x80 refused
    then_drop: bool


class ScriptedBroker:
    """Answers the n-th connection as ``script[n]`` says; counts the SUBSCRIBEs it gets."""

    def __init__(self, script: list[Answer]) -> None:
        self.script = script
        self.connections = 0
        self.subscribes = 0
        self.subacked_at: list[float] = []  # Unix time each SUBACK was sent
        self.drop = [asyncio.Event() for _ in script]
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = self.connections
        self.connections += 1
        answer = self.script[min(index, len(self.script) - 1)]
        try:
            await _packet(reader)  # CONNECT
            writer.write(bytes([0x20, 2, int(answer.session_present), 0]))
            kind, body = await _packet(reader)
            assert kind == SUBSCRIBE, kind
            self.subscribes += 1
            writer.write(bytes([0x90, 3]) + body[:2] + bytes([answer.granted]))
            await writer.drain()
            self.subacked_at.append(time.time())
            if answer.then_drop and index < len(self.drop):
                await self.drop[index].wait()
            else:
                await asyncio.sleep(30)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    header = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return header >> 4, await reader.readexactly(length)


async def test_a_lost_session_is_reported_once_even_when_the_first_retry_fails() -> None:
    broker = ScriptedBroker(
        [
            Answer(session_present=False, granted=1, then_drop=True),  # a new session
            Answer(session_present=False, granted=0x80, then_drop=False),  # forgot it; refused
            Answer(session_present=True, granted=1, then_drop=True),  # the empty new session
            Answer(session_present=True, granted=1, then_drop=False),  # a real reconnection
        ]
    )
    port = await broker.start()
    losses: list[SessionLoss] = []
    reported = asyncio.Event()

    async def on_connect(connection: MqttConnection) -> None:
        await connection.subscribe("bal/raw/#", qos=1)

    async def on_session_lost(loss: SessionLoss) -> None:
        losses.append(loss)
        reported.set()

    link = MqttLink(
        MqttEndpoint("127.0.0.1", port),
        client_id="raw",
        persistent_session=True,
        on_connect=on_connect,
        on_session_lost=on_session_lost,
        backoff=Backoff(first=0.01, limit=0.02),
    )
    await link.start()
    try:
        broker.drop[0].set()
        async with asyncio.timeout(10):
            await reported.wait()
            broker.drop[2].set()
            while broker.subscribes < 4:
                await asyncio.sleep(0.01)
    finally:
        await link.stop()
        await broker.stop()
    assert broker.subscribes == 4  # every connection subscribed, session present or not
    (loss,) = losses
    assert loss.client_id == "raw"
    first_suback, third_suback = broker.subacked_at[0], broker.subacked_at[2]
    # From the last packet of the first connection (less the time a packet may wait to be
    # read) to the subscription made again.
    assert first_suback - SENT_BEFORE_READ_S <= loss.since.timestamp() < broker.subacked_at[1]
    assert third_suback <= loss.until.timestamp() < broker.subacked_at[3]
