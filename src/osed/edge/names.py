"""Ids and topics of EDCs, functions and buildings.

Ids travel in topics, URLs and envelope sources, so they are plain: letters, digits and
``_ . -`` (buildings also ``:``), starting with a letter or digit, at most 128 characters.

    edc/<edc>/<function>/out/<building>   EDC → one building
    edc/<edc>/<function>/in               buildings → EDC
    <dead-letter prefix>/edc/<edc>/<function>/in   rejected inbound messages, with reasons
"""

from __future__ import annotations

import re

from osed.ports.edc import MAX_EDC_ID

EDC_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{MAX_EDC_ID - 1}}}$"
BUILDING_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
FUNCTION_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

_EDC_ID = re.compile(EDC_ID_PATTERN)
_BUILDING_ID = re.compile(BUILDING_ID_PATTERN)
_FUNCTION_NAME = re.compile(FUNCTION_NAME_PATTERN)

ROOT = "edc"


def valid_edc_id(value: str) -> bool:
    return bool(_EDC_ID.match(value))


def valid_building_id(value: str) -> bool:
    return bool(_BUILDING_ID.match(value))


def valid_function_name(value: str) -> bool:
    return bool(_FUNCTION_NAME.match(value))


def outbound_topic(edc_id: str, function: str, building_id: str) -> str:
    return f"{ROOT}/{edc_id}/{function}/out/{building_id}"


def inbound_topic(edc_id: str, function: str) -> str:
    return f"{ROOT}/{edc_id}/{function}/in"


def dead_letter_topic(prefix: str, topic: str) -> str:
    return f"{prefix}/{topic}"
