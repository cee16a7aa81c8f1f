"""The EdgeX message envelope: both payload forms read, malformed envelopes refused."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osed.devices.edgex_envelope import Envelope, EnvelopeError, decode, encode

EVENT = {"apiVersion": "v3", "requestId": "r", "event": {"deviceName": "d", "readings": []}}


def raw(**fields: object) -> bytes:
    envelope = {
        "apiVersion": "v3",
        "receivedTopic": "",
        "correlationID": "c",
        "requestID": "",
        "errorCode": 0,
        "payload": base64.b64encode(json.dumps(EVENT).encode()).decode(),
        "contentType": "application/json",
    }
    envelope.update(fields)
    return json.dumps(envelope).encode()


def test_a_base64_payload_and_an_inline_payload_read_the_same() -> None:
    assert decode(raw(), api_version="v3").payload == EVENT
    assert decode(raw(payload=EVENT), api_version="v3").payload == EVENT


@pytest.mark.parametrize("base64_payload", [True, False])
def test_what_is_written_reads_back(base64_payload: bool) -> None:
    sent = Envelope("v3", correlation_id="c", request_id="r", payload={"Setpoint": "21.5"})
    data = encode(sent, base64_payload=base64_payload)
    assert isinstance(json.loads(data)["payload"], str if base64_payload else dict)
    assert decode(data, api_version="v3") == sent


def test_an_error_carries_its_message_as_text_or_base64_text() -> None:
    plain = decode(
        raw(errorCode=1, payload="device X not found", contentType="text/plain"), api_version="v3"
    )
    assert (plain.error_code, plain.payload) == (1, "device X not found")
    coded = base64.b64encode(b"device X not found").decode()
    assert decode(raw(errorCode=1, payload=coded), api_version="v3").payload == "device X not found"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xa3japiVersionbv3", "UTF-8"),
        (b"[1, 2]", "not a JSON object"),
        (raw(apiVersion="v2"), "apiVersion"),
        (raw(errorCode=7), "errorCode"),
        (raw(requestID=5), "requestID"),
        (raw(payload="not base64!"), "base64"),
        (raw(payload=base64.b64encode(b"{broken").decode()), "payload"),
        (raw(contentType="application/cbor"), "not supported"),
        (raw(queryParams={"ds-pushevent": True}), "queryParams"),
        (b'{"apiVersion": "v3", "payload": NaN}', "finite"),
    ],
)
def test_malformed_envelopes_are_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        decode(data, api_version="v3")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


envelope_like = st.fixed_dictionaries(
    {},
    optional={
        "apiVersion": st.sampled_from(["v3", "v2"]) | json_values,
        "correlationID": st.text() | json_values,
        "requestID": st.text() | json_values,
        "errorCode": st.sampled_from([0, 1]) | json_values,
        "payload": json_values | st.binary().map(lambda b: base64.b64encode(b).decode()),
        "contentType": st.sampled_from(["application/json", "text/plain"]) | st.text(),
        "queryParams": json_values,
    },
)


@given(
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | envelope_like.map(lambda v: json.dumps(v).encode())
)
def test_any_bytes_either_decode_to_an_envelope_or_are_refused(data: bytes) -> None:
    try:
        envelope = decode(data, api_version="v3")
    except EnvelopeError as exc:
        reason = str(exc)
        envelope = None
    if envelope is None:
        assert reason  # refused with a reason
        return
    assert envelope.api_version == "v3"
    assert envelope.error_code in (0, 1)
    assert isinstance(envelope.request_id, str)
    assert all(isinstance(v, str) for v in envelope.query_params.values())
