"""Parties and resources that take part in markets."""

from __future__ import annotations

from enum import StrEnum
from typing import NewType

PartyId = NewType("PartyId", str)
MarketId = NewType("MarketId", str)


class ResourceDesignator(StrEnum):
    """What is traded (CTS ResourceDesignator)."""

    ENERGY = "ENERGY"
    POWER = "POWER"
    TRANSPORT = "TRANSPORT"
