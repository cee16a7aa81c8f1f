"""What is traded in markets."""

from __future__ import annotations

from enum import StrEnum


class ResourceDesignator(StrEnum):
    """What is traded (CTS ResourceDesignator)."""

    ENERGY = "ENERGY"
    POWER = "POWER"
    TRANSPORT = "TRANSPORT"
