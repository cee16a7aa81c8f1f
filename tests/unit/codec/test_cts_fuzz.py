"""Whatever JSON arrives, decoding yields a message or a ValidationError, never anything else."""

import contextlib
import copy
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.codec import cts
from osed.domain.cts import Message
from osed.domain.errors import ValidationError
from tests.strategies import messages

CODE = re.compile(r"[a-z]+(_[a-z]+)*")
FIELD_NAMES = sorted(
    {"messageType", "eiResponse", "tender", "tenderDetail", "interval", "stream", "streamIntervals"}
    | {"requestId", "partyId", "counterPartyId", "tenderId", "price", "quantity", "priceScale"}
    | {"quantityScale", "currency", "side", "dtStart", "duration", "boundingInterval", "rfq"}
    | {"quote", "transaction", "positions", "responseCode", "refId", "createdDateTime"}
)

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


def outcome(value: object) -> Message | ValidationError:
    try:
        return cts.decode(value)
    except ValidationError as error:
        return error


def decodes_or_is_rejected(value: object) -> None:
    result = outcome(value)
    if isinstance(result, ValidationError):
        assert result.subject == "CTS message"
        for problem in result.problems:
            assert problem.path.startswith("$")
            assert CODE.fullmatch(problem.code), problem.code
    else:
        assert type(result).__name__ in cts.MESSAGE_TYPES


@given(json_values)
def test_arbitrary_json_values(value: object) -> None:
    decodes_or_is_rejected(value)


@given(
    st.sampled_from(cts.MESSAGE_TYPES),
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=8),
)
def test_arbitrary_fields_under_a_known_message_type(
    message_type: str, fields: dict[str, object]
) -> None:
    decodes_or_is_rejected({**fields, "messageType": message_type})


def _locations(value: object, path: str = "$") -> list[tuple[object, str | int, str]]:
    """Every (container, key, JSON path of the item) inside an encoded message."""
    found: list[tuple[object, str | int, str]] = []
    items: list[tuple[str | int, object]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, item in items:
        item_path = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]"
        found.append((value, key, item_path))
        found.extend(_locations(item, item_path))
    return found


def _objects(value: object, path: str = "$") -> list[tuple[dict[str, object], str]]:
    found: list[tuple[dict[str, object], str]] = []
    if isinstance(value, dict):
        found.append((value, path))
    for container, key, item_path in _locations(value, path):
        if isinstance(container[key], dict):  # type: ignore[index]
            found.append((container[key], item_path))  # type: ignore[index]
    return found


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(messages, st.data())
def test_mutated_valid_messages(message: object, data: st.DataObject) -> None:
    wire = copy.deepcopy(cts.encode(message))  # type: ignore[arg-type]
    container, key, _ = data.draw(st.sampled_from(_locations(wire)), label="location")
    mutation = data.draw(st.sampled_from(["drop", "retype"]), label="mutation")
    if mutation == "drop":
        del container[key]  # type: ignore[attr-defined]
    else:
        container[key] = data.draw(json_values, label="new value")  # type: ignore[index]
    decodes_or_is_rejected(wire)


@given(messages, st.data())
def test_an_unknown_field_anywhere_is_reported_where_it_is(
    message: object, data: st.DataObject
) -> None:
    wire = copy.deepcopy(cts.encode(message))  # type: ignore[arg-type]
    target, path = data.draw(st.sampled_from(_objects(wire)), label="object")
    target["bogusField"] = data.draw(json_values)
    with pytest.raises(ValidationError) as info:
        cts.decode(wire)
    assert (f"{path}.bogusField", "unknown_field") in {
        (p.path, p.code) for p in info.value.problems
    }


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_and_text(data: bytes | str) -> None:
    with contextlib.suppress(ValidationError):
        cts.loads(data)


@given(messages, st.data())
def test_truncated_json(message: object, data: st.DataObject) -> None:
    text = cts.dumps(message)  # type: ignore[arg-type]
    cut = data.draw(st.integers(0, len(text) - 1))
    with pytest.raises(ValidationError) as info:
        cts.loads(text[:cut])
    assert info.value.problems[0].code == "bad_json"
