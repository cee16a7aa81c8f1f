"""The one-pass SOGNO decoder and encoder agree with the full ones on every payload."""

import json
import math
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from osed.bridge import sogno
from osed.bridge.samples import Message, Sample
from osed.domain.envelope import Envelope
from osed.domain.errors import ValidationError
from tests.unit.bridge.test_fuzz import payloads

AT = datetime(2026, 5, 1, 12, tzinfo=UTC)
OVERRIDES = {"voltmagnitude": "kV"}


def full_decode(envelope: Envelope, overrides: dict[str, str]) -> Message | list[str]:
    try:
        return sogno.to_message(sogno.decode_measurement(envelope.payload), envelope, overrides)
    except ValidationError as exc:
        return [str(p) for p in exc.problems]


def quick_decode(envelope: Envelope, overrides: dict[str, str]) -> Message | list[str]:
    try:
        return sogno.decode_message(envelope, overrides)
    except ValidationError as exc:
        return [str(p) for p in exc.problems]


@given(payloads, st.sampled_from([{}, OVERRIDES]))
def test_decode_message_equals_the_full_decoder(payload: bytes, overrides: dict[str, str]) -> None:
    envelope = Envelope("bal/raw/pmu1", "pmu1", 1, payload, AT)
    assert quick_decode(envelope, overrides) == full_decode(envelope, overrides)


samples = st.builds(
    Sample,
    device=st.just("pmu1"),
    component=st.sampled_from(["n1", "n2", 'quote " back\\ slash', "ünïcode €", "tab\t"]),
    measurand=st.sampled_from([*sogno.SOGNO_UNITS, "bogus"]),
    phase=st.sampled_from(["A", "B", "C"]),
    value=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**6), 10**6),
    unit=st.sampled_from(["V", "kV", "mA", "A", "rad", "deg", "W", "MW", "var", "VA", "Hz", "?"]),
    time=st.just(AT),
)


def outcome(encode: object, message: Message) -> bytes | str:
    try:
        return encode(message)  # type: ignore[operator, no-any-return]
    except (ValidationError, ValueError) as exc:
        return type(exc).__name__


@given(
    st.lists(samples, min_size=1, max_size=5),
    st.sampled_from(["pmu1", 'p"m\\u', "gerät-7"]),
    st.datetimes(timezones=st.just(UTC)),
)
def test_encode_message_equals_the_full_encoder(
    drawn: list[Sample], device: str, time: datetime
) -> None:
    envelope = Envelope("bal/raw/pmu1", "pmu1", 1, b"{}", AT)
    message = Message(envelope, "sogno", device, time, tuple(drawn))
    quick = outcome(sogno.encode_message, message)
    full = outcome(lambda m: sogno.encode_measurement(sogno.from_message(m)), message)
    assert quick == full
    if isinstance(quick, bytes):
        assert all(math.isfinite(r["data"]) for r in json.loads(quick)["readings"])


@given(st.datetimes(timezones=st.just(UTC)) | st.datetimes(timezones=st.timezones()))
def test_timestamps_are_written_in_utc_with_microseconds(instant: datetime) -> None:
    expected = instant.astimezone(UTC).isoformat(timespec="microseconds")
    assert sogno.format_timestamp(instant) == expected
