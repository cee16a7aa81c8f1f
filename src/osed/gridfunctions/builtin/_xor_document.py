"""The ``xor`` document: a flexibility request, its price array and the buildings' bids.

Checked whole before anything is computed: every problem is named with its JSON path, with
the codes and messages of every grid-function document (:mod:`._document_fields`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from osed.gridfunctions.builtin._document_fields import FieldReader

SUBJECT = "xor document"
MAX_PRICES = 1000
MAX_BUILDINGS = 1_000_000
LIMIT = 1e9
"""The largest magnitude of a quantity, price or duration (keeps costs finite and exact)."""
DEFAULT_TIME_LIMIT_S = 60.0


@dataclass(frozen=True, slots=True)
class XorRound:
    """One round of the flexibility spot market, checked."""

    request_kw: float
    duration_h: float
    prices: NDArray[np.float64]
    """Per kWh, strictly ascending, non-negative."""
    buildings: tuple[str, ...]
    quantities_kw: NDArray[np.float64]
    """Buildings × prices: the quantity each building offers at each price."""
    time_limit_s: float = DEFAULT_TIME_LIMIT_S


def parse_round(document: Any, *, subject: str = SUBJECT) -> XorRound:
    """The round in ``document``; raises ValidationError naming every problem."""
    reader = FieldReader(subject)
    root = reader.root(document)
    reader.unknown_keys(root, "$", ("request_kw", "duration_h", "prices", "bids", "time_limit_s"))
    request = reader.number(root, "request_kw", "$", above=0.0, maximum=LIMIT)
    duration = reader.number(root, "duration_h", "$", above=0.0, maximum=LIMIT)
    time_limit = reader.number(
        root, "time_limit_s", "$", above=0.0, maximum=LIMIT, default=DEFAULT_TIME_LIMIT_S
    )
    prices = _prices(reader, root)
    buildings, quantities = _bids(reader, root, len(prices))
    reader.check()
    return XorRound(
        request_kw=request,
        duration_h=duration,
        prices=np.asarray(prices, dtype=float),
        buildings=tuple(buildings),
        quantities_kw=np.asarray(quantities, dtype=float).reshape(len(buildings), len(prices)),
        time_limit_s=time_limit,
    )


def _prices(reader: FieldReader, root: Mapping[str, Any]) -> list[float]:
    prices: list[float] = []
    for index, raw in enumerate(reader.items(root, "prices", "$", max_length=MAX_PRICES)):
        where = f"$.prices[{index}]"
        before = len(reader.problems)
        value = reader.value(raw, where, minimum=0.0, maximum=LIMIT)
        sound = len(reader.problems) == before
        if sound and prices and not math.isnan(prices[-1]) and value <= prices[-1]:
            reader.problems.add(where, "not_ascending", f"{value:g} is not above {prices[-1]:g}")
        prices.append(value)
    return prices


def _bids(
    reader: FieldReader, root: Mapping[str, Any], price_count: int
) -> tuple[list[str], list[float]]:
    buildings: list[str] = []
    quantities: list[float] = []
    for index, raw in enumerate(
        reader.items(root, "bids", "$", min_length=0, max_length=MAX_BUILDINGS)
    ):
        where = f"$.bids[{index}]"
        if not isinstance(raw, Mapping):
            reader.object(raw, where)
            continue
        reader.unknown_keys(raw, where, ("building", "quantities_kw"))
        buildings.append(reader.string(raw, "building", where))
        row = reader.series(
            raw, "quantities_kw", where, price_count, minimum=0.0, maximum=LIMIT, constant=False
        )
        quantities.extend(row if len(row) == price_count else [0.0] * price_count)
    reader.unique_ids(buildings, "$.bids", key="building")
    return buildings, quantities
