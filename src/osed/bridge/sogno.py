"""The SOGNO measurement format (Platone DSO Technical Platform), decoded and encoded.

One JSON object per device and instant::

    {"device": "pmu1", "timestamp": "2023-06-29T10:00:00.000000+00:00",
     "readings": [{"component": "<CIM mRID>", "measurand": "voltmagnitude",
                   "phase": "A", "data": 230.1}, ...]}

``data`` is one number whose unit is fixed by the measurand: phase-to-ground RMS volts,
radians, RMS amperes, single-phase W, var and VA, hertz. A magnitude and its angle are two
readings (``voltmagnitude`` and ``voltangle``), as in SOGNO.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from osed.bridge import units
from osed.bridge.samples import Message, Sample
from osed.codec.json_quote import QuoteMemo
from osed.codec.json_quote import quote as _quote
from osed.domain.envelope import Envelope
from osed.domain.errors import Problem, ValidationError


class Measurand(StrEnum):
    VOLTMAGNITUDE = "voltmagnitude"
    VOLTANGLE = "voltangle"
    CURRMAGNITUDE = "currmagnitude"
    CURRANGLE = "currangle"
    ACTIVEPOWER = "activepower"
    REACTIVEPOWER = "reactivepower"
    APPARENTPOWER = "apparentpower"
    FREQUENCY = "frequency"


SOGNO_UNITS: dict[str, str] = {
    Measurand.VOLTMAGNITUDE: "V",
    Measurand.VOLTANGLE: "rad",
    Measurand.CURRMAGNITUDE: "A",
    Measurand.CURRANGLE: "rad",
    Measurand.ACTIVEPOWER: "W",
    Measurand.REACTIVEPOWER: "var",
    Measurand.APPARENTPOWER: "VA",
    Measurand.FREQUENCY: "Hz",
}

# SOGNO has no three-phase total; the power step (osed.bridge.power_step) writes its totals on
# this phase, so a processed message decodes again.
TOTAL_PHASE = "ABC"
SOGNO_PHASES: frozenset[str] = frozenset({"A", "B", "C", TOTAL_PHASE})

_MEASUREMENT_FIELDS = frozenset({"device", "timestamp", "readings"})
_READING_FIELDS = frozenset({"component", "measurand", "phase", "data"})


@dataclass(frozen=True, slots=True)
class Reading:
    component: str
    measurand: Measurand
    phase: str
    data: float


@dataclass(frozen=True, slots=True)
class Measurement:
    device: str
    timestamp: datetime
    readings: tuple[Reading, ...]


def decode_measurement(payload: bytes, *, phases: Collection[str] = SOGNO_PHASES) -> Measurement:
    """The measurement in ``payload``; a ValidationError names every problem with its path."""
    try:
        document: Any = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise _rejected([Problem("$", "not_json", f"payload is not JSON: {exc}")]) from None
    if not isinstance(document, dict):
        raise _rejected([Problem("$", "not_an_object", "a SOGNO measurement is a JSON object")])
    problems: list[Problem] = []
    _fields(document, _MEASUREMENT_FIELDS, "$", problems)
    device = _text(document, "device", "$", problems)
    timestamp = _timestamp(document, problems)
    readings: list[Reading] = []
    raw_readings = document.get("readings")
    if "readings" in document and not isinstance(raw_readings, list):
        problems.append(Problem("$.readings", "wrong_type", "must be an array"))
    elif isinstance(raw_readings, list):
        if not raw_readings:
            problems.append(Problem("$.readings", "empty", "needs at least one reading"))
        for index, raw in enumerate(raw_readings):
            reading = _reading(raw, f"$.readings[{index}]", phases, problems)
            if reading is not None:
                readings.append(reading)
    if problems:
        raise _rejected(problems)
    assert device is not None
    assert timestamp is not None
    return Measurement(device, timestamp, tuple(readings))


def encode_measurement(measurement: Measurement) -> bytes:
    document = {
        "device": measurement.device,
        "timestamp": format_timestamp(measurement.timestamp),
        "readings": [
            {
                "component": r.component,
                "measurand": r.measurand.value,
                "phase": r.phase,
                "data": r.data,
            }
            for r in measurement.readings
        ],
    }
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


def format_timestamp(instant: datetime) -> str:
    """ISO 8601 with microseconds and UTC offset, as SOGNO writes it."""
    if instant.tzinfo is not UTC:
        instant = instant.astimezone(UTC)
    if instant.microsecond:
        return instant.isoformat()  # the same text, in a fraction of the time
    return instant.isoformat(timespec="microseconds")


def to_message(
    measurement: Measurement, envelope: Envelope, input_units: dict[str, str] | None = None
) -> Message:
    """The samples of ``measurement``; ``input_units`` overrides the SOGNO unit of a measurand
    for devices that send, say, kV (normalise-units then converts)."""
    overrides = input_units or {}
    samples = tuple(
        Sample(
            measurement.device,
            r.component,
            r.measurand.value,
            r.phase,
            r.data,
            overrides.get(r.measurand, SOGNO_UNITS[r.measurand]),
            measurement.timestamp,
        )
        for r in measurement.readings
    )
    return Message(envelope, "sogno", measurement.device, measurement.timestamp, samples)


def from_message(message: Message) -> Measurement:
    """Back to SOGNO: values in the SOGNO unit of their measurand, whatever the steps chose."""
    readings = []
    problems: list[Problem] = []
    for index, sample in enumerate(message.samples):
        path = f"$.readings[{index}]"
        try:
            measurand = Measurand(sample.measurand)
        except ValueError:
            problems.append(Problem(f"{path}.measurand", "unknown_measurand", sample.measurand))
            continue
        wanted = SOGNO_UNITS[measurand]
        try:
            value = sample.value * units.factor(sample.unit, wanted, path=f"{path}.data")
        except ValidationError as exc:
            problems.extend(exc.problems)
            continue
        readings.append(Reading(sample.component, measurand, sample.phase, value))
    if problems:
        raise _rejected(problems)
    return Measurement(message.device, message.time, tuple(readings))


def decode_message(
    envelope: Envelope,
    input_units: dict[str, str] | None = None,
    *,
    phases: Collection[str] = SOGNO_PHASES,
) -> Message:
    """``to_message(decode_measurement(...))`` in one pass for the common, valid payload; any
    payload the quick checks do not accept takes the full path (which names every problem)."""
    message = _quick_message(_quick_json(envelope.payload), envelope, input_units or {}, phases)
    if message is None:
        measurement = decode_measurement(envelope.payload, phases=phases)
        message = to_message(measurement, envelope, input_units)
    return message


_JSON = json.JSONDecoder()


def _quick_json(payload: bytes) -> Any:
    """The document of a UTF-8 payload that is one JSON value and nothing else, else None
    (``json.loads`` would also detect UTF-16 or 32 and skip whitespace: the full decoder
    does)."""
    try:
        text = payload.decode()
        document, end = _JSON.raw_decode(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError too
        return None
    return document if end == len(text) else None


def encode_message(message: Message) -> bytes:
    """``encode_measurement(from_message(message))``, written out directly (the same bytes as
    ``json.dumps``) when every sample's measurand and unit are known and its value a finite
    float; the full path names every problem."""
    plans = _READING_PLANS
    readings = []
    for sample in message.samples:
        plan = plans.get((sample.component, sample.measurand, sample.phase, sample.unit))
        if plan is None:
            plan = _reading_plan(sample)
            if plan is None:
                return encode_measurement(from_message(message))
        head, scale = plan
        value = sample.value * scale
        if type(value) is not float or value - value != 0.0:  # not a finite float
            return encode_measurement(from_message(message))  # raises as json.dumps would
        readings.append(f"{head}{float.__repr__(value)}}}")
    return (
        f'{{"device":{_quoted(message.device)},'
        f'"timestamp":"{format_timestamp(message.time)}",'
        f'"readings":[{",".join(readings)}]}}'
    ).encode()


_READING_PLANS: dict[tuple[str, str, str, str], tuple[str, float]] = {}


def _reading_plan(sample: Sample) -> tuple[str, float] | None:
    """A reading's JSON up to its value, and the factor into its SOGNO unit; None when the
    measurand or the unit is unknown. Remembered per (component, measurand, phase, unit)."""
    wanted = SOGNO_UNITS.get(sample.measurand)
    scale = _scale(sample.unit, wanted) if wanted is not None else None
    if scale is None:
        return None
    head = (
        f'{{"component":{_quote(sample.component)},"measurand":{_quote(sample.measurand)},'
        f'"phase":{_quote(sample.phase)},"data":'
    )
    if len(_READING_PLANS) >= 100_000:
        _READING_PLANS.clear()
    plan = _READING_PLANS[sample.component, sample.measurand, sample.phase, sample.unit] = (
        head,
        scale,
    )
    return plan


# Remembered, as a feed repeats the same few devices, components, measurands and phases.
_quoted = QuoteMemo(100_000)


_SCALES: dict[tuple[str, str], float | None] = {}


def _scale(unit: str, wanted: str) -> float | None:
    """The factor from ``unit`` to ``wanted``, or None when they do not convert."""
    key = (unit, wanted)
    if key not in _SCALES:
        try:
            _SCALES[key] = 1.0 if unit == wanted else units.factor(unit, wanted)
        except ValidationError:
            _SCALES[key] = None
    return _SCALES[key]


def _quick_message(
    document: Any, envelope: Envelope, overrides: dict[str, str], phases: Collection[str]
) -> Message | None:
    """The message when every check passes at a glance, else None (no problem is reported
    here: the full decoder does that)."""
    if type(document) is not dict or document.keys() != _MEASUREMENT_FIELDS:
        return None
    device, stamp, readings = document["device"], document["timestamp"], document["readings"]
    if type(device) is not str or not device or not device.isprintable():
        return None
    if type(stamp) is not str or type(readings) is not list or not readings:
        return None
    try:
        instant = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if instant.utcoffset() is None:
        return None
    instant = instant.astimezone(UTC)
    # (component, measurand, phase) already seen valid: their checks are one lookup.
    seen = _VALID_READINGS if phases is SOGNO_PHASES else {}
    samples = []
    for raw in readings:
        if type(raw) is not dict or raw.keys() != _READING_FIELDS:
            return None
        component, measurand, phase, data = (
            raw["component"],
            raw["measurand"],
            raw["phase"],
            raw["data"],
        )
        if type(measurand) is not str or type(phase) is not str or type(component) is not str:
            return None
        unit = seen.get((component, measurand, phase))
        if unit is None:
            unit = SOGNO_UNITS.get(measurand)
            if unit is None or not component or not component.isprintable() or phase not in phases:
                return None
            if len(seen) >= MAX_REMEMBERED_READINGS:
                seen.clear()
            seen[component, measurand, phase] = unit
        if type(data) is not float:
            if type(data) is not int:
                return None
            data = float(data) if abs(data) < 2**53 else math.inf
        if data - data != 0.0:  # infinite or NaN
            return None
        if overrides:
            unit = overrides.get(measurand, unit)
        samples.append(Sample(device, component, measurand, phase, data, unit, instant))
    return Message(envelope, "sogno", device, instant, tuple(samples))


MAX_REMEMBERED_READINGS = 100_000
_VALID_READINGS: dict[tuple[str, str, str], str] = {}


def _reading(
    raw: object, path: str, phases: Collection[str], problems: list[Problem]
) -> Reading | None:
    if not isinstance(raw, dict):
        problems.append(Problem(path, "not_an_object", "a reading is a JSON object"))
        return None
    found = len(problems)
    _fields(raw, _READING_FIELDS, path, problems)
    component = _text(raw, "component", path, problems)
    measurand_text = _text(raw, "measurand", path, problems)
    measurand = None
    if measurand_text is not None:
        try:
            measurand = Measurand(measurand_text)
        except ValueError:
            known = ", ".join(m.value for m in Measurand)
            problems.append(
                Problem(
                    f"{path}.measurand",
                    "unknown_measurand",
                    f"{measurand_text!r} is not one of {known}",
                )
            )
    phase = _text(raw, "phase", path, problems)
    if phase is not None and phase not in phases:
        problems.append(
            Problem(f"{path}.phase", "unknown_phase", f"{phase!r} is not one of {sorted(phases)}")
        )
    data = raw.get("data")
    if "data" in raw:
        if isinstance(data, bool) or not isinstance(data, int | float):
            problems.append(Problem(f"{path}.data", "not_a_number", "must be a number"))
        elif not _finite(data):
            problems.append(Problem(f"{path}.data", "not_finite", "must be finite"))
    if len(problems) > found:
        return None
    assert component is not None
    assert measurand is not None
    assert phase is not None
    assert isinstance(data, int | float)
    return Reading(component, measurand, phase, float(data))


def _fields(
    document: dict[str, Any], wanted: frozenset[str], path: str, problems: list[Problem]
) -> None:
    for name in sorted(wanted - document.keys()):
        problems.append(Problem(f"{path}.{name}", "missing_field", "required"))
    for name in sorted(document.keys() - wanted):
        problems.append(Problem(f"{path}.{name}", "unknown_field", "not a SOGNO field"))


def _text(document: dict[str, Any], name: str, path: str, problems: list[Problem]) -> str | None:
    value = document.get(name)
    if name not in document:
        return None
    if not isinstance(value, str) or not value or not value.isprintable():
        problems.append(Problem(f"{path}.{name}", "wrong_type", "must be non-empty printable text"))
        return None
    return value


def _timestamp(document: dict[str, Any], problems: list[Problem]) -> datetime | None:
    if "timestamp" not in document:
        return None
    value = document["timestamp"]
    if not isinstance(value, str):
        problems.append(Problem("$.timestamp", "wrong_type", "must be an ISO 8601 string"))
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        problems.append(Problem("$.timestamp", "bad_datetime", f"not ISO 8601: {value!r}"))
        return None
    if instant.utcoffset() is None:
        problems.append(Problem("$.timestamp", "naive_datetime", "needs a UTC offset"))
        return None
    return instant.astimezone(UTC)


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the float range
        return False


def _rejected(problems: list[Problem]) -> ValidationError:
    return ValidationError(problems, subject="SOGNO measurement")
