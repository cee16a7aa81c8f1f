"""The JSON payloads of the control topics: round trips, and bad input named by path."""

from __future__ import annotations

import json

import pytest

from osed.bus import _control as control
from osed.domain.errors import ValidationError


def test_round_trips() -> None:
    request = control.ReplayRequest("c1", 4, 9, "bal/#")
    summary = control.ReplaySummary("s1", 4, 9, skipped=((5, 5),), unavailable=((4, 4), (8, 9)))
    ack, head = control.Ack("c1", 0), control.Head("s1", 12)

    def wire(body: dict[str, object]) -> bytes:
        return json.dumps(body).encode()

    assert control.decode_request(wire(control.encode_request(request))) == request
    assert control.decode_summary(wire(control.encode_summary(summary))) == summary
    assert control.decode_ack(wire(control.encode_ack(ack))) == ack
    assert control.decode_head(wire(control.encode_head(head))) == head


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        (b"not json", "$"),
        (b"[1]", "$"),
        (b'{"consumer":"c","first":0,"last":3,"pattern":"a"}', "$.first"),
        (b'{"consumer":"c","first":4,"last":3,"pattern":"a"}', "$.last"),
        (b'{"consumer":"","first":1,"last":3,"pattern":"a"}', "$.consumer"),
        (b'{"consumer":"c","first":true,"last":3,"pattern":"a"}', "$.first"),
        (b'{"consumer":"c","first":1,"last":3}', "$.pattern"),
    ],
)
def test_bad_requests_name_the_problem(payload: bytes, path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        control.decode_request(payload)
    assert caught.value.problems[0].path == path


@pytest.mark.parametrize("ranges", ["[[3,2]]", "[[1]]", "[1]", '"x"', "[[0,1]]", "[[1,true]]"])
def test_bad_ranges_are_refused(ranges: str) -> None:
    payload = f'{{"source":"s","first":1,"last":3,"skipped":{ranges}}}'.encode()
    with pytest.raises(ValidationError) as caught:
        control.decode_summary(payload)
    assert caught.value.problems[0].path == "$.skipped"


@pytest.mark.parametrize("name", ["", "a/b", "a+", "#", "a\x00", "tab\t"])
def test_names_must_be_one_topic_level(name: str) -> None:
    with pytest.raises(ValidationError):
        control.check_name(name, path="$.name")
