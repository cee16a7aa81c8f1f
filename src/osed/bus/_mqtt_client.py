"""One MQTT 3.1.1 client connection on asyncio, built for many messages per second.

Everything the loop would otherwise do per message is done per read or per loop turn: the
packets of one read are parsed together, outgoing packets (publishes, acknowledgements) are
coalesced into one write per loop turn, and received messages wait in one queue that a
consumer takes in batches. The connection does not reconnect; ``MqttLink`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from osed.bus._mqtt_packets import (
    CONNACK,
    CONNACK_REASONS,
    DISCONNECT_PACKET,
    PINGREQ_PACKET,
    PINGRESP,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    SUBACK,
    MqttProtocolError,
    PacketReader,
    Will,
    ack_packet,
    connect_packet,
    publish_packet,
    subscribe_packet,
)
from osed.domain.errors import OsedError

# A PUBACK is four bytes: type and flags, remaining length 2, the packet id (big-endian).
_PUBACK_WORD = (PUBACK << 28) | (2 << 16)

# Stop reading from the socket while this many received messages wait for the consumer;
# the broker then holds the rest (TCP back-pressure) instead of our memory.
HIGH_WATER = 20_000
LOW_WATER = 5_000


class ConnectionLostError(OsedError):
    """The connection ended (or was refused); also raised by handlers to drop it on purpose."""


class ConnectRefusedError(ConnectionLostError):
    """The broker answered CONNECT with a refusal (bad credentials, rejected client id...)."""


@dataclass(slots=True)
class MqttMessage:
    topic: str
    payload: bytes
    qos: int
    packet_id: int
    retain: bool


class MqttConnection(asyncio.Protocol):
    """Open with :meth:`open`; then publish, subscribe, take messages, acknowledge them."""

    def __init__(self, *, keepalive: int, manual_ack: bool) -> None:
        self._loop = asyncio.get_running_loop()
        self._keepalive = keepalive
        self._manual_ack = manual_ack
        self._transport: asyncio.Transport | None = None
        self._reader = PacketReader()
        self._outgoing: list[bytes] = []
        self._flush_scheduled = False
        self._next_id = 0
        self._waiting_acks: dict[int, asyncio.Future[None]] = {}
        self._awaiting_release: set[int] = set()  # their QoS 2 publishes we PUBRECed
        self._subacks: dict[int, asyncio.Future[int]] = {}
        self._connack: asyncio.Future[None] = self._loop.create_future()
        self._session_present = False
        self._messages: deque[MqttMessage] = deque()
        self._message_waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._lost: ConnectionLostError | None = None
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._last_received = self._loop.time()
        # Loop time each received QoS >= 1 message arrived, until it is acknowledged (manual
        # acknowledgement only), oldest first.
        self._unacked_since: dict[int, float] = {}
        self._keepalive_timer: asyncio.TimerHandle | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        *,
        client_id: str,
        clean_session: bool,
        keepalive: int = 30,
        username: str | None = None,
        password: str | None = None,
        tls: ssl.SSLContext | None = None,
        will: Will | None = None,
        timeout: float = 10.0,
        manual_ack: bool = False,
    ) -> MqttConnection:
        """Connect and wait for the CONNACK; ConnectRefusedError, OSError or TimeoutError."""
        loop = asyncio.get_running_loop()
        connection = cls(keepalive=keepalive, manual_ack=manual_ack)
        async with asyncio.timeout(timeout):
            await loop.create_connection(
                lambda: connection, host, port, ssl=tls, server_hostname=host if tls else None
            )
            connection._send(
                connect_packet(
                    client_id,
                    clean_session=clean_session,
                    keepalive=keepalive,
                    username=username,
                    password=password,
                    will=will,
                )
            )
            try:
                await connection._connack
            except BaseException:
                connection.abort()
                raise
        connection._arm_keepalive()
        return connection

    # --- what users of a connection call -------------------------------------------------

    @property
    def closed(self) -> asyncio.Future[None]:
        """Done when the connection ended; :attr:`lost` says why."""
        return self._closed

    @property
    def lost(self) -> ConnectionLostError | None:
        return self._lost

    @property
    def session_present(self) -> bool:
        """The CONNACK said the broker still held a session for this client id (only ever
        true for a connection opened with ``clean_session=False``)."""
        return self._session_present

    @property
    def known_alive_at(self) -> float:
        """Loop time of the last moment the broker is known to have held everything of this
        connection's session: the last packet received, or, when received messages are still
        unacknowledged, the arrival of the oldest of them (a broker sends only so many
        unacknowledged messages and queues the rest behind them)."""
        oldest = next(iter(self._unacked_since.values()), self._last_received)
        return min(oldest, self._last_received)

    def publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool = False
    ) -> asyncio.Future[None]:
        """Queue a PUBLISH; the future is done when the broker acknowledged it (at once for
        QoS 0) and fails with ConnectionLostError when the connection ends first."""
        done: asyncio.Future[None] = self._loop.create_future()
        if self._lost is not None:
            done.set_exception(self._lost)
            return done
        packet_id = self._allocate_id() if qos else 0
        self._send(
            publish_packet(topic.encode(), payload, qos=qos, retain=retain, packet_id=packet_id)
        )
        if qos:
            self._waiting_acks[packet_id] = done
        else:
            done.set_result(None)
        return done

    async def subscribe(self, topic_filter: str, qos: int) -> int:
        """Subscribe and return the granted QoS; ConnectionLostError when refused."""
        self._check_open()
        packet_id = self._allocate_id()
        granted: asyncio.Future[int] = self._loop.create_future()
        self._subacks[packet_id] = granted
        self._send(subscribe_packet(packet_id, topic_filter, qos))
        code = await granted
        if code == 0x80:
            raise ConnectionLostError(f"broker refused the subscription to {topic_filter!r}")
        return code

    async def messages(self, max_batch: int) -> list[MqttMessage]:
        """The next received messages, at most ``max_batch``, in arrival order (waits for at
        least one); ConnectionLostError once the connection ended and nothing is left."""
        while not self._messages:
            if self._lost is not None:
                raise self._lost
            self._message_waiter = self._loop.create_future()
            try:
                await self._message_waiter
            finally:
                self._message_waiter = None
        queue = self._messages
        if len(queue) <= max_batch:
            batch = list(queue)
            queue.clear()
        else:
            batch = [queue.popleft() for _ in range(max_batch)]
        if self._paused and len(queue) < LOW_WATER and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()
        return batch

    def ack(self, message: MqttMessage) -> None:
        """Acknowledge a received message (needed with ``manual_ack`` only). Nothing happens
        once the connection is lost: the broker sends the message again."""
        if self._lost is not None:
            return
        if self._manual_ack:
            self._unacked_since.pop(message.packet_id, None)
        if message.qos == 1:
            self._send(ack_packet(PUBACK, message.packet_id))
        elif message.qos == 2:
            self._awaiting_release.add(message.packet_id)
            self._send(ack_packet(PUBREC, message.packet_id))

    def ack_many(self, messages: Sequence[MqttMessage]) -> None:
        """:meth:`ack` for each of ``messages`` in order; the PUBACKs of a run of QoS 1
        messages are packed in one go."""
        if self._lost is not None:
            return
        unacked = self._unacked_since if self._manual_ack else None
        ids: list[int] = []
        for message in messages:
            if message.qos != 1:
                self._send_pubacks(ids)  # acknowledgements go out in arrival order
                ids = []
                self.ack(message)
                continue
            if unacked is not None:
                unacked.pop(message.packet_id, None)
            ids.append(_PUBACK_WORD | message.packet_id)
        self._send_pubacks(ids)

    def _send_pubacks(self, words: list[int]) -> None:
        if words:
            self._send(struct.pack(f">{len(words)}I", *words))

    async def disconnect(self) -> None:
        """Send DISCONNECT (the broker drops the will) and close."""
        if self._transport is not None and self._lost is None:
            self._flush()
            self._transport.write(DISCONNECT_PACKET)
            self._transport.close()
        with contextlib.suppress(ConnectionLostError):
            await self._closed

    def abort(self) -> None:
        """Drop the connection at once, without DISCONNECT (the will is published)."""
        if self._transport is not None:
            self._transport.abort()

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._last_received = self._loop.time()
        try:
            for kind, flags, body in self._reader.feed(data):
                if kind == PUBLISH:
                    self._on_publish(flags, body)
                else:
                    self._on_control(kind, body)
            if self._reader.broken is not None:
                raise self._reader.broken
        except (MqttProtocolError, IndexError, UnicodeDecodeError, ValueError) as exc:
            self._fail(ConnectionLostError(f"malformed packet from the broker: {exc}"))
            if self._transport is not None:
                self._transport.abort()
            return
        waiter = self._message_waiter
        if waiter is not None and self._messages and not waiter.done():
            waiter.set_result(None)
        if len(self._messages) > HIGH_WATER and not self._paused and self._transport:
            self._paused = True
            self._transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"connection lost: {exc}" if exc else "connection closed"
        self._fail(ConnectionLostError(reason))

    # --- internals -----------------------------------------------------------------------

    def _on_publish(self, flags: int, body: bytes) -> None:
        qos = (flags >> 1) & 0x03
        topic_end = 2 + int.from_bytes(body[:2], "big")
        if qos == 3 or len(body) < topic_end + (2 if qos else 0):
            raise MqttProtocolError("PUBLISH shorter than its topic and packet id")
        topic = body[2:topic_end].decode()
        if qos:
            packet_id = int.from_bytes(body[topic_end : topic_end + 2], "big")
            payload = body[topic_end + 2 :]
            if qos == 2 and packet_id in self._awaiting_release:
                self._send(ack_packet(PUBREC, packet_id))  # a resend we already took
                return
        else:
            packet_id = 0
            payload = body[topic_end:]
        message = MqttMessage(topic, payload, qos, packet_id, bool(flags & 0x01))
        self._messages.append(message)
        if qos:
            if self._manual_ack:
                self._unacked_since.setdefault(packet_id, self._last_received)
            else:
                self.ack(message)

    def _on_control(self, kind: int, body: bytes) -> None:
        if kind in (PUBACK, PUBCOMP):
            packet_id = int.from_bytes(body[:2], "big")
            done = self._waiting_acks.pop(packet_id, None)
            if done is not None and not done.done():
                done.set_result(None)
        elif kind == PUBREC:
            packet_id = int.from_bytes(body[:2], "big")
            self._send(ack_packet(PUBREL, packet_id))
        elif kind == PUBREL:
            packet_id = int.from_bytes(body[:2], "big")
            self._awaiting_release.discard(packet_id)
            self._send(ack_packet(PUBCOMP, packet_id))
        elif kind == SUBACK:
            granted = self._subacks.pop(int.from_bytes(body[:2], "big"), None)
            if granted is not None and not granted.done():
                granted.set_result(body[2] if len(body) > 2 else 0x80)
        elif kind == CONNACK:
            if self._connack.done():
                raise MqttProtocolError("second CONNACK")
            code = body[1] if len(body) > 1 else 255
            if code == 0:
                self._session_present = bool(body[0] & 0x01)
                self._connack.set_result(None)
            else:
                reason = CONNACK_REASONS.get(code, f"code {code}")
                self._connack.set_exception(ConnectRefusedError(f"broker refused: {reason}"))
        elif kind != PINGRESP:
            raise MqttProtocolError(f"unexpected packet type {kind} for a client")

    def _allocate_id(self) -> int:
        for _ in range(0xFFFF):
            self._next_id = self._next_id % 0xFFFF + 1
            candidate = self._next_id
            if candidate not in self._waiting_acks and candidate not in self._subacks:
                return candidate
        raise ConnectionLostError("all 65,535 MQTT packet ids are in flight")

    def _send(self, packet: bytes) -> None:
        self._check_open()
        self._outgoing.append(packet)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._outgoing and self._transport is not None and self._lost is None:
            data = b"".join(self._outgoing)
            self._outgoing.clear()
            self._transport.write(data)

    def _check_open(self) -> None:
        if self._lost is not None:
            raise self._lost

    def _arm_keepalive(self) -> None:
        if self._keepalive > 0 and self._lost is None:
            self._keepalive_timer = self._loop.call_later(self._keepalive / 2, self._on_keepalive)

    def _on_keepalive(self) -> None:
        # A broker that stopped answering (half-open TCP) is noticed within 1.5 keepalives.
        if self._loop.time() - self._last_received > 1.5 * self._keepalive:
            self._fail(ConnectionLostError("broker stopped answering (keepalive)"))
            self.abort()
            return
        with contextlib.suppress(ConnectionLostError):
            self._send(PINGREQ_PACKET)
        self._arm_keepalive()

    def _fail(self, reason: ConnectionLostError) -> None:
        if self._lost is not None:
            return
        self._lost = reason
        self._outgoing.clear()
        if self._keepalive_timer is not None:
            self._keepalive_timer.cancel()
        futures: list[asyncio.Future[None]] = [*self._waiting_acks.values(), self._connack]
        subacks = list(self._subacks.values())
        self._waiting_acks.clear()
        self._subacks.clear()
        pending: list[asyncio.Future[None] | asyncio.Future[int]] = [*futures, *subacks]
        for future in pending:
            if not future.done():
                future.set_exception(reason)
                future.exception()  # nobody may be waiting; no "never retrieved" warning
        if self._message_waiter is not None and not self._message_waiter.done():
            self._message_waiter.set_result(None)
        if not self._closed.done():
            self._closed.set_result(None)
