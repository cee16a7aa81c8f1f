import json
import math

import pytest

from osed.bridge.sogno import (
    Measurand,
    decode_measurement,
    encode_measurement,
    from_message,
    to_message,
)
from osed.domain.errors import ValidationError
from tests.unit.bridge.support import envelope, example_measurement


def test_the_example_decodes_into_typed_readings() -> None:
    measurement = decode_measurement(json.dumps(example_measurement()).encode())
    assert measurement.device == "pmu1"
    assert measurement.timestamp.microsecond == 123456
    assert measurement.timestamp.utcoffset() is not None
    assert [r.measurand for r in measurement.readings] == list(Measurand)
    assert measurement.readings[0].data == 230.4
    assert measurement.readings[4].phase == "B"


def test_encoding_round_trips_in_the_same_vocabulary() -> None:
    original = example_measurement()
    measurement = decode_measurement(json.dumps(original).encode())
    encoded = json.loads(encode_measurement(measurement))
    assert encoded == original
    assert decode_measurement(encode_measurement(measurement)) == measurement


def test_samples_carry_sogno_units_and_convert_back() -> None:
    payload = json.dumps(example_measurement()).encode()
    measurement = decode_measurement(payload)
    message = to_message(measurement, envelope(payload), {"voltangle": "deg"})
    units = {s.measurand: s.unit for s in message.samples}
    assert units["voltmagnitude"] == "V"
    assert units["voltangle"] == "deg"
    assert units["activepower"] == "W"
    assert units["frequency"] == "Hz"
    back = from_message(message)
    assert math.isclose(back.readings[1].data, math.radians(0.0012))


def test_every_problem_is_named_with_its_path() -> None:
    document = {
        "device": "",
        "timestamp": "2023-06-29T10:00:00",
        "readings": [
            {"component": "n1", "measurand": "voltage", "phase": "D", "data": "230"},
            {"component": "n1", "measurand": "frequency", "phase": "A"},
            7,
        ],
        "extra": 1,
    }
    with pytest.raises(ValidationError) as caught:
        decode_measurement(json.dumps(document).encode())
    found = {(p.path, p.code) for p in caught.value.problems}
    assert found == {
        ("$.device", "wrong_type"),
        ("$.timestamp", "naive_datetime"),
        ("$.extra", "unknown_field"),
        ("$.readings[0].measurand", "unknown_measurand"),
        ("$.readings[0].phase", "unknown_phase"),
        ("$.readings[0].data", "not_a_number"),
        ("$.readings[1].data", "missing_field"),
        ("$.readings[2]", "not_an_object"),
    }


@pytest.mark.parametrize(
    ("payload", "code"),
    [(b"\xff\xfe", "not_json"), (b"[1]", "not_an_object"), (b'{"readings": []}', "missing_field")],
)
def test_non_measurements_are_rejected(payload: bytes, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        decode_measurement(payload)
    assert code in {p.code for p in caught.value.problems}


def test_non_finite_data_is_rejected() -> None:
    document = example_measurement()
    document["readings"][0]["data"] = 1e400
    with pytest.raises(ValidationError) as caught:
        decode_measurement(json.dumps(document).encode())
    assert [(p.path, p.code) for p in caught.value.problems] == [
        ("$.readings[0].data", "not_finite")
    ]
