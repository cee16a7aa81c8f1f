"""MQTT 3.1.1 control packets: encoders for what a client sends, and a reader that splits the
byte stream from the broker into packets.

Only what a client needs: CONNECT, PUBLISH, PUBACK/PUBREC/PUBREL/PUBCOMP, SUBSCRIBE, PINGREQ,
DISCONNECT out; CONNACK, PUBLISH, the acknowledgements, SUBACK, PINGRESP in.
"""

from __future__ import annotations

from dataclasses import dataclass

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

PINGREQ_PACKET = b"\xc0\x00"
DISCONNECT_PACKET = b"\xe0\x00"
PROTOCOL_LEVEL = 4  # MQTT 3.1.1
MAX_REMAINING_LENGTH = 268_435_455  # four length bytes, the protocol's limit

CONNACK_REASONS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class MqttProtocolError(Exception):
    """The peer sent bytes that are not MQTT 3.1.1 (the connection must be dropped)."""


@dataclass(frozen=True, slots=True)
class Will:
    """Published by the broker when the connection ends without a DISCONNECT."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


def remaining_length(n: int) -> bytes:
    if not 0 <= n <= MAX_REMAINING_LENGTH:
        raise ValueError(f"MQTT packet of {n} bytes is too large")
    out = bytearray()
    while True:
        digit, n = n & 0x7F, n >> 7
        out.append(digit | 0x80 if n else digit)
        if not n:
            return bytes(out)


def _field(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError("MQTT string or binary field longer than 65,535 bytes")
    return len(data).to_bytes(2, "big") + data


def connect_packet(
    client_id: str,
    *,
    clean_session: bool,
    keepalive: int,
    username: str | None = None,
    password: str | None = None,
    will: Will | None = None,
) -> bytes:
    flags = 0x02 if clean_session else 0
    payload = _field(client_id.encode())
    if will is not None:
        flags |= 0x04 | (will.qos << 3) | (0x20 if will.retain else 0)
        payload += _field(will.topic.encode()) + _field(will.payload)
    if username is not None:
        flags |= 0x80
        payload += _field(username.encode())
    if password is not None:
        flags |= 0x40
        payload += _field(password.encode())
    header = _field(b"MQTT") + bytes([PROTOCOL_LEVEL, flags]) + keepalive.to_bytes(2, "big")
    body = header + payload
    return bytes([CONNECT << 4]) + remaining_length(len(body)) + body


def publish_packet(
    topic: bytes, payload: bytes, *, qos: int, retain: bool, packet_id: int, dup: bool = False
) -> bytes:
    flags = (qos << 1) | (0x01 if retain else 0) | (0x08 if dup and qos else 0)
    variable = _field(topic) + (packet_id.to_bytes(2, "big") if qos else b"")
    return (
        bytes([(PUBLISH << 4) | flags])
        + remaining_length(len(variable) + len(payload))
        + variable
        + payload
    )


def ack_packet(kind: int, packet_id: int) -> bytes:
    """PUBACK, PUBREC, PUBREL (which has flags 0b0010) or PUBCOMP for ``packet_id``."""
    first = (kind << 4) | (0x02 if kind == PUBREL else 0)
    return bytes((first, 2, packet_id >> 8, packet_id & 0xFF))


def subscribe_packet(packet_id: int, topic_filter: str, qos: int) -> bytes:
    body = packet_id.to_bytes(2, "big") + _field(topic_filter.encode()) + bytes([qos])
    return bytes([(SUBSCRIBE << 4) | 0x02]) + remaining_length(len(body)) + body


class PacketReader:
    """Splits the broker's byte stream into ``(type, flags, body)`` packets; keeps a partial
    packet until the rest arrives. After bytes that cannot be a packet header, :attr:`broken`
    says why; :meth:`feed` returns the packets before them and raises from then on."""

    def __init__(self, max_packet: int = MAX_REMAINING_LENGTH) -> None:
        self._pending = b""
        self._max_packet = max_packet
        self.broken: MqttProtocolError | None = None

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        if self.broken is not None:
            raise self.broken
        buffer = self._pending + data if self._pending else data
        packets: list[tuple[int, int, bytes]] = []
        end = len(buffer)
        at = 0
        while end - at >= 2:
            first = buffer[at]
            length = 0
            shift = 0
            k = at + 1
            while True:
                if k >= end:
                    self._pending = buffer[at:]
                    return packets
                digit = buffer[k]
                length |= (digit & 0x7F) << shift
                k += 1
                if not digit & 0x80:
                    break
                shift += 7
                if shift > 21:
                    self.broken = MqttProtocolError("remaining length longer than four bytes")
                    return packets
            if length > self._max_packet:
                self.broken = MqttProtocolError(f"packet of {length} bytes exceeds the limit")
                return packets
            if k + length > end:
                break
            packets.append((first >> 4, first & 0x0F, buffer[k : k + length]))
            at = k + length
        self._pending = buffer[at:]
        return packets
