"""Envelope frames and batch frames: round trips, and every bad batch refused with its path."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osed.codec.envelope import decode_envelope, decode_frame, encode_batch, encode_envelope
from osed.domain.envelope import Envelope
from osed.domain.errors import ValidationError

T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)

envelopes = st.builds(
    lambda source, seq, payload, seconds, key: Envelope(
        "bal/processed", source, seq, payload, T0 + timedelta(seconds=seconds), key=key
    ),
    st.sampled_from(["bridge.pmu", "s-1", "ü"]),
    st.integers(1, 10**12),
    st.binary(max_size=200),
    st.integers(-(10**6), 10**6),
    st.sampled_from(["", "k/1", 'with "quotes" and \n newline']),
)


@given(st.lists(envelopes, min_size=1, max_size=30))
def test_a_batch_frame_decodes_to_its_envelopes(batch: list[Envelope]) -> None:
    assert decode_frame(encode_batch(batch)) == batch


@given(envelopes)
def test_a_single_frame_decodes_either_way(one: Envelope) -> None:
    frame = encode_envelope(one)
    assert decode_envelope(frame) == one
    assert decode_frame(frame) == [one]


def _header(envelope: Envelope) -> dict[str, object]:
    return {
        "topic": envelope.topic,
        "source": envelope.source,
        "seq": envelope.seq,
        "key": envelope.key,
        "eventTime": envelope.event_time.astimezone(UTC).isoformat(),
        "contentType": envelope.content_type,
    }


@given(st.lists(envelopes, min_size=1, max_size=5))
def test_headers_are_written_as_the_json_encoder_writes_them(batch: list[Envelope]) -> None:
    compact = (",", ":")
    for one in batch:
        expected = json.dumps(_header(one), separators=compact).encode() + b"\n" + one.payload
        assert encode_envelope(one) == expected
    headers = [{**_header(one), "size": len(one.payload)} for one in batch]
    assert encode_batch(batch) == b"".join(
        [json.dumps({"batch": headers}, separators=compact).encode(), b"\n"]
        + [one.payload for one in batch]
    )


def _batch(*payloads: bytes) -> bytes:
    return encode_batch([Envelope("t/x", "s", k, p, T0) for k, p in enumerate(payloads, 1)])


def _problems(frame: bytes) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        decode_frame(frame)
    return [(p.path, p.code) for p in caught.value.problems]


def test_sizes_that_do_not_add_up_are_refused() -> None:
    head, _, rest = _batch(b"ab", b"cd").partition(b"\n")
    assert _problems(head + b"\n" + rest + b"extra") == [("$.batch", "bad_size")]


def test_each_bad_header_is_named_by_its_index() -> None:
    head, _, rest = _batch(b"ab", b"cd", b"ef").partition(b"\n")
    document = json.loads(head)
    document["batch"][1]["seq"] = "two"
    document["batch"][2]["size"] = -1
    bad = json.dumps(document).encode() + b"\n" + rest
    assert _problems(bad) == [("$.batch[1].seq", "not_integer"), ("$.batch[2].size", "bad_size")]


def test_a_batch_where_one_envelope_is_expected_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        decode_envelope(_batch(b"a", b"b"))
    assert caught.value.problems[0].code == "unexpected_batch"


@pytest.mark.parametrize("header", [b'{"batch": []}', b'{"batch": {}}', b'{"batch": [], "x": 1}'])
def test_an_empty_or_malformed_batch_is_refused(header: bytes) -> None:
    assert _problems(header + b"\n") == [("$.batch", "bad_batch")]


@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_a_frame_or_a_validation_error(data: bytes) -> None:
    _frame_or_problems(data)


@given(st.lists(st.integers(0, 400), max_size=5), st.binary(max_size=50))
def test_mutated_batches_are_frames_or_validation_errors(cuts: list[int], junk: bytes) -> None:
    frame = bytearray(_batch(b"one", b"two", b"three"))
    for cut in cuts:
        if cut < len(frame):
            frame[cut : cut + 1] = junk[:3]
    _frame_or_problems(bytes(frame))


def _frame_or_problems(data: bytes) -> None:
    """Anything but envelopes or a ValidationError with problems fails the test."""
    problems = []
    try:
        decoded = decode_frame(data)
    except ValidationError as exc:
        problems = list(exc.problems)
        decoded = []
    if decoded:
        assert all(isinstance(e, Envelope) for e in decoded)
    else:
        assert problems
        assert all(p.path.startswith("$") and p.code for p in problems)
