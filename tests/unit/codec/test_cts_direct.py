"""The directly written JSON of the frequent messages is byte for byte the general encoding."""

from __future__ import annotations

import json

from hypothesis import given

from osed.codec import cts as codec
from osed.codec.cts_direct import direct_dumps
from osed.domain.cts import EiCreateTender, Message, StreamDetail
from tests.strategies import MESSAGE_STRATEGIES, messages

DIRECT = ("EiCreateTender", "EiCancelTender", "EiRequestPosition", "EiCreatedTransaction")


def _general(message: Message) -> bytes:
    return json.dumps(codec.encode(message), separators=(",", ":"), allow_nan=False).encode("ascii")


@given(messages)
def test_direct_json_is_the_general_encoding_or_nothing(message: Message) -> None:
    direct = direct_dumps(message)
    if type(message).__name__ in DIRECT and direct is None:
        # Only a stream tender is left to the general encoder.
        assert isinstance(message, EiCreateTender)
        assert isinstance(message.tender.detail, StreamDetail)
    if direct is not None:
        assert direct == _general(message)
    assert codec.dumps(message) == _general(message)


@given(MESSAGE_STRATEGIES["EiCreateTender"])
def test_a_tender_decodes_from_its_direct_json(message: Message) -> None:
    assert codec.loads(codec.dumps(message)) == message
