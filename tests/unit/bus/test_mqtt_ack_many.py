"""Acknowledging received messages in bulk writes what acknowledging them one by one writes."""

import asyncio
import socket

from osed.bus._mqtt_client import MqttConnection, MqttMessage
from osed.bus._mqtt_packets import PUBACK, PUBREC, ack_packet


async def _written(acknowledge: object, messages: list[MqttMessage]) -> bytes:
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    connection = MqttConnection(keepalive=0, manual_ack=True)
    await loop.create_connection(lambda: connection, sock=ours)
    getattr(connection, str(acknowledge))(messages)
    await asyncio.sleep(0.05)  # the outgoing packets are written once per loop turn
    theirs.setblocking(False)
    data = theirs.recv(65536)
    connection.abort()
    theirs.close()
    return data


def _message(packet_id: int, qos: int) -> MqttMessage:
    return MqttMessage("bal/raw/pmu", b"{}", qos, packet_id, False)


async def test_pubacks_in_bulk_equal_one_by_one_in_arrival_order() -> None:
    messages = [_message(1, 1), _message(300, 1), _message(2, 2), _message(65535, 1)]
    bulk = await _written("ack_many", messages)
    assert bulk == b"".join(
        [
            ack_packet(PUBACK, 1),
            ack_packet(PUBACK, 300),
            ack_packet(PUBREC, 2),
            ack_packet(PUBACK, 65535),
        ]
    )


async def test_acknowledged_messages_no_longer_hold_the_session_window_open() -> None:
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    connection = MqttConnection(keepalive=0, manual_ack=True)
    await loop.create_connection(lambda: connection, sock=ours)
    connection._unacked_since.update({1: 1.0, 2: 2.0, 3: 3.0})
    connection.ack_many([_message(1, 1), _message(2, 1)])
    assert list(connection._unacked_since) == [3]
    connection.abort()
    theirs.close()
