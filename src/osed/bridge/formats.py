"""Input formats by name: how a pipeline decodes a payload and encodes its output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from osed.bridge import json_points, sogno
from osed.bridge.samples import Message
from osed.domain.envelope import Envelope


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    decode: Callable[[Envelope], Message]
    encode: Callable[[Message], bytes]


def sogno_format(input_units: dict[str, str] | None = None) -> Format:
    def decode(envelope: Envelope) -> Message:
        return sogno.decode_message(envelope, input_units)

    return Format("sogno", decode, sogno.encode_message)


def json_format() -> Format:
    return Format("json", json_points.decode_points, json_points.encode_points)


FORMAT_NAMES = ("json", "sogno")


def make_format(name: str, input_units: dict[str, str] | None = None) -> Format:
    if name == "sogno":
        return sogno_format(input_units)
    return json_format()
