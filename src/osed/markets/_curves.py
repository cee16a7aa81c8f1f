"""Supply and demand as step curves: each side sorted by priority, with cumulative quantity.

Buyers are sorted by price descending, sellers ascending, equal prices in submission order.
Orders of zero quantity take no part. The crossing is found by bisection on the quantity axis,
so a clear costs two sorts plus O(log n) scalar look-ups: no Python loop over orders.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from threading import Lock

import numpy as np
from numpy.typing import NDArray

from osed.markets._keysort import stable_price_order

# Below this many orders a second thread costs more than it saves.
_PARALLEL_THRESHOLD = 50_000
_pool: ThreadPoolExecutor | None = None
_pool_lock = Lock()


@dataclass(frozen=True, slots=True)
class SortedSide:
    """One side of the book in priority order; ``order[k]`` is the input index at rank k."""

    order: NDArray[np.intp]
    prices: NDArray[np.float64]
    quantities: NDArray[np.float64]
    cumulative: NDArray[np.float64]
    # Prices oriented so that priority order is ascending (buyers negated), for searchsorted.
    ranks: NDArray[np.float64]
    descending: bool

    @property
    def size(self) -> int:
        return int(self.order.size)

    @property
    def total(self) -> float:
        return float(self.cumulative[-1]) if self.order.size else 0.0

    def before(self, rank: int) -> float:
        """Quantity of all orders ranked ahead of ``rank``."""
        return float(self.cumulative[rank - 1]) if rank > 0 else 0.0

    def quantity_priced(self, price: float) -> float:
        """Total quantity of the orders priced exactly ``price``."""
        rank = -price if self.descending else price
        first = int(self.ranks.searchsorted(rank, side="left"))
        last = int(self.ranks.searchsorted(rank, side="right"))
        return self.before(last) - self.before(first)

    def rank_at(self, quantity: float) -> int:
        """Rank of the order serving the unit just after ``quantity`` (== size past the end)."""
        return int(np.searchsorted(self.cumulative, quantity, side="right"))

    def fills_up_to(self, quantity: float, count: int) -> NDArray[np.float64]:
        """Per-order fills, in input order, when the first ``quantity`` units are served."""
        fills = np.zeros(count, dtype=np.float64)
        served = min(self.rank_at(quantity) + 1, self.size)
        if quantity <= 0.0 or served == 0:
            return fills
        head = self.quantities[:served].copy()
        head[-1] = min(head[-1], max(quantity - self.before(served - 1), 0.0))
        fills[self.order[:served]] = head
        return fills


def sort_side(
    prices: NDArray[np.float64], quantities: NDArray[np.float64], *, descending: bool
) -> SortedSide:
    active = quantities > 0.0
    if active.all():
        candidates = None
        ranks_in = -prices if descending else prices
    else:
        candidates = np.flatnonzero(active)
        ranks_in = -prices[candidates] if descending else prices[candidates]
    local = stable_price_order(ranks_in)
    order = local if candidates is None else candidates[local]
    sorted_quantities = quantities[order]
    ranks = ranks_in[local]
    return SortedSide(
        order=order,
        prices=-ranks if descending else ranks,
        quantities=sorted_quantities,
        cumulative=np.cumsum(sorted_quantities),
        ranks=ranks,
        descending=descending,
    )


def sort_both(
    bid_prices: NDArray[np.float64],
    bid_quantities: NDArray[np.float64],
    offer_prices: NDArray[np.float64],
    offer_quantities: NDArray[np.float64],
) -> tuple[SortedSide, SortedSide]:
    """Sort buyers and sellers, in two threads for large books (NumPy releases the GIL)."""
    if bid_prices.size + offer_prices.size < _PARALLEL_THRESHOLD:
        return (
            sort_side(bid_prices, bid_quantities, descending=True),
            sort_side(offer_prices, offer_quantities, descending=False),
        )
    future = _thread_pool().submit(sort_side, offer_prices, offer_quantities, descending=False)
    buyers = sort_side(bid_prices, bid_quantities, descending=True)
    return buyers, future.result()


def _thread_pool() -> ThreadPoolExecutor:
    global _pool  # noqa: PLW0603 - one lazily started helper thread for the whole process
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="osed-auction")
        return _pool


@dataclass(frozen=True, slots=True)
class Crossing:
    """Where the merged walk of both curves stops.

    ``quantity`` is the traded volume; ``buyers_done`` / ``sellers_done`` count the orders
    served in full (the ranks of the next buyer and seller).
    """

    quantity: float
    buyers_done: int
    sellers_done: int


def find_crossing(buyers: SortedSide, sellers: SortedSide) -> Crossing:
    """Walk both curves while the buyer's price is at least the seller's (GridLAB-D's walk).

    Along the quantity axis the buyer price never rises and the seller price never falls, so
    "this segment does not cross" is monotone and the first such segment is found by
    bisection over the segment starts of each side.
    """
    if buyers.size == 0 or sellers.size == 0:
        return Crossing(0.0, 0, 0)
    limit = min(buyers.total, sellers.total)

    def fails(at: float) -> bool:
        return bool(buyers.prices[buyers.rank_at(at)] < sellers.prices[sellers.rank_at(at)])

    stop = min(_first_failing_start(buyers, limit, fails), limit)
    stop = min(_first_failing_start(sellers, limit, fails), stop)
    return Crossing(stop, buyers.rank_at(stop), sellers.rank_at(stop))


def _first_failing_start(side: SortedSide, limit: float, fails: Callable[[float], bool]) -> float:
    """Smallest start of an order of ``side`` below ``limit`` where the walk fails, or inf."""
    starts = min(side.size, 1 + int(np.searchsorted(side.cumulative, limit, side="left")))
    low, high = 0, starts
    while low < high:
        middle = (low + high) // 2
        if fails(side.before(middle)):
            high = middle
        else:
            low = middle + 1
    return side.before(low) if low < starts else float("inf")
