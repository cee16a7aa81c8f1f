"""MQTT 3.1.1 packets: encodings as the specification gives them, and a reader that finds the
same packets however the byte stream is cut."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osed.bus._mqtt_packets import (
    PUBACK,
    PUBLISH,
    PUBREL,
    MqttProtocolError,
    PacketReader,
    Will,
    ack_packet,
    connect_packet,
    publish_packet,
    remaining_length,
    subscribe_packet,
)


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "8001"),
        (16_383, "ff7f"),
        (16_384, "808001"),
        (2_097_151, "ffff7f"),
        (2_097_152, "80808001"),
        (268_435_455, "ffffff7f"),
    ],
)
def test_remaining_length_as_the_specification_tabulates_it(n: int, encoded: str) -> None:
    assert remaining_length(n).hex() == encoded


def test_remaining_length_beyond_four_bytes_is_refused() -> None:
    with pytest.raises(ValueError, match="too large"):
        remaining_length(268_435_456)


def test_connect_packet_bytes() -> None:
    plain = connect_packet("c", clean_session=True, keepalive=60)
    assert plain.hex() == "100d00044d5154540402003c000163"
    full = connect_packet(
        "c",
        clean_session=False,
        keepalive=30,
        username="u",
        password="p",
        will=Will("w", b"x", qos=1, retain=True),
    )
    # flags: user name, password, will retain, will QoS 1, will; clean session off
    assert full[9] == 0b1110_1100
    assert full.endswith(bytes.fromhex("000163000177000178000175000170"))


def test_acknowledgements_and_subscribe() -> None:
    assert ack_packet(PUBACK, 0x1234).hex() == "40021234"
    assert ack_packet(PUBREL, 1).hex() == "62020001"  # PUBREL carries flags 0b0010
    assert subscribe_packet(10, "a/#", 1).hex() == "8208000a0003612f2301"


packets = st.one_of(
    st.builds(
        lambda topic, payload, qos, retain, packet_id: publish_packet(
            topic.encode(), payload, qos=qos, retain=retain, packet_id=packet_id
        ),
        st.text(min_size=1, max_size=40),
        st.binary(max_size=300),
        st.integers(0, 2),
        st.booleans(),
        st.integers(1, 0xFFFF),
    ),
    st.builds(ack_packet, st.sampled_from([PUBACK, 5, PUBREL, 7]), st.integers(1, 0xFFFF)),
    st.just(b"\xd0\x00"),  # PINGRESP
)


@given(st.lists(packets, max_size=20), st.lists(st.integers(0, 5000), max_size=10))
def test_the_reader_finds_every_packet_wherever_the_stream_is_cut(
    sent: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(sent)
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    reader = PacketReader()
    found = []
    for start, end in itertools.pairwise(points):
        found += reader.feed(stream[start:end])
    rebuilt = [
        bytes([(kind << 4) | flags]) + remaining_length(len(body)) + body
        for kind, flags, body in found
    ]
    assert rebuilt == sent


@given(st.binary(max_size=200))
def test_garbage_is_either_packets_or_a_protocol_error(garbage: bytes) -> None:
    reader = PacketReader(max_packet=1024)
    for kind, _, body in reader.feed(garbage):
        assert 0 <= kind <= 15
        assert len(body) <= 1024
    assert reader.broken is None or isinstance(reader.broken, MqttProtocolError)


def test_a_fifth_length_byte_breaks_the_stream_after_the_packets_before_it() -> None:
    reader = PacketReader()
    pingresp = b"\xd0\x00"
    assert reader.feed(pingresp + bytes([PUBLISH << 4, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])) == [
        (13, 0, b"")
    ]
    assert reader.broken is not None
    with pytest.raises(MqttProtocolError, match="four bytes"):
        reader.feed(pingresp)
