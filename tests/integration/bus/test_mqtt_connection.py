"""The MQTT client connection against a real Mosquitto (QoS 0, 1 and 2 both ways) and against
fake brokers that refuse, fall silent or send garbage: each ends in a clear error, never a
hang or a crash of the event loop."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from osed.bus.mqtt_link import ConnectionLostError, ConnectRefusedError, MqttConnection
from tests.services.brokers import Broker


async def test_publish_and_receive_at_every_qos(mosquitto: Broker) -> None:
    receiver = await MqttConnection.open(
        mosquitto.host, mosquitto.port, client_id="rx", clean_session=True, manual_ack=True
    )
    sender = await MqttConnection.open(
        mosquitto.host, mosquitto.port, client_id="tx", clean_session=True
    )
    assert await receiver.subscribe("q/#", 2) == 2
    for qos in (0, 1, 2):
        await sender.publish(f"q/{qos}", f"m{qos}".encode(), qos=qos)
    got = []
    while len(got) < 3:
        for message in await receiver.messages(10):
            got.append((message.topic, message.payload, message.qos))
            receiver.ack(message)
    assert sorted(got) == [("q/0", b"m0", 0), ("q/1", b"m1", 1), ("q/2", b"m2", 2)]
    await sender.disconnect()
    await receiver.disconnect()


async def test_many_publishes_in_flight_are_all_acknowledged(mosquitto: Broker) -> None:
    sender = await MqttConnection.open(
        mosquitto.host, mosquitto.port, client_id="many", clean_session=True
    )
    await asyncio.gather(*(sender.publish("n", b"x" * 100, qos=1) for _ in range(5000)))
    await sender.disconnect()


FakeBroker = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _against(fake: FakeBroker, **options: object) -> MqttConnection:
    server = await asyncio.start_server(fake, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await MqttConnection.open(
            "127.0.0.1",
            port,
            client_id="c",
            clean_session=True,
            **options,  # type: ignore[arg-type]
        )
    finally:
        server.close()


async def _connack(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, code: int) -> None:
    await reader.read(1024)  # CONNECT
    writer.write(bytes([0x20, 2, 0, code]))
    await writer.drain()


async def test_a_refused_connect_names_the_reason() -> None:
    async def refusing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _connack(reader, writer, 4)

    with pytest.raises(ConnectRefusedError, match="bad user name or password"):
        await _against(refusing, timeout=5.0)


async def test_a_broker_that_never_answers_connect_times_out() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    with pytest.raises(TimeoutError):
        await _against(mute, timeout=0.5)


async def test_a_silent_broker_is_noticed_by_the_keepalive() -> None:
    async def falls_silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _connack(reader, writer, 0)
        await asyncio.sleep(10)  # reads PINGREQs, never answers

    connection = await _against(falls_silent, keepalive=1)
    with pytest.raises(ConnectionLostError, match="keepalive"):
        await asyncio.wait_for(connection.messages(10), 5)


@pytest.mark.parametrize(
    "garbage",
    [
        bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]),  # remaining length of five bytes
        bytes([0x30, 0x03, 0x00, 0x09, 0x61]),  # topic longer than the packet
        bytes([0x30, 0x04, 0x00, 0x02, 0xC3, 0x28]),  # topic that is not UTF-8
        bytes([0x10, 0x00]),  # a CONNECT sent to a client
        bytes([0x20, 0x02, 0x00, 0x00]),  # a second CONNACK
    ],
)
async def test_garbage_from_the_broker_ends_the_connection_cleanly(garbage: bytes) -> None:
    async def babbling(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _connack(reader, writer, 0)
        writer.write(garbage)
        await writer.drain()
        await asyncio.sleep(5)

    connection = await _against(babbling)
    with pytest.raises(ConnectionLostError, match=r"malformed|lost|closed"):
        await asyncio.wait_for(connection.messages(10), 5)
    with pytest.raises(ConnectionLostError):
        await connection.publish("t", b"x", qos=1)
