"""The tenders resting in the market, by order id and by instrument.

A clearing or an expiry withdraws every open tender of one instrument; finding them through
the instrument's own index costs what they number, not what all open tenders number (a
day-ahead round keeps the tenders of every interval of the day open at once).
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, ValuesView

from osed.agents.market_state import OpenTender


class OpenTenders:
    """A mapping of order id to :class:`OpenTender`, in the order the tenders were added."""

    def __init__(self, tenders: Iterable[tuple[str, OpenTender]] = ()) -> None:
        self._by_id: dict[str, OpenTender] = {}
        self._by_instrument: dict[str, dict[str, None]] = {}  # insertion-ordered id sets
        for order_id, tender in tenders:
            self[order_id] = tender

    def __setitem__(self, order_id: str, tender: OpenTender) -> None:
        previous = self._by_id.get(order_id)
        if previous is not None and previous.instrument != tender.instrument:
            # Order ids are never reused, so an open order never moves; refusing it keeps
            # each instrument's ids in the order of the mapping itself.
            raise ValueError(f"order {order_id} is open in {previous.instrument} already")
        self._by_id[order_id] = tender
        self._by_instrument.setdefault(tender.instrument, {})[order_id] = None

    def __getitem__(self, order_id: str) -> OpenTender:
        return self._by_id[order_id]

    def __delitem__(self, order_id: str) -> None:
        tender = self._by_id.pop(order_id)
        self._unindex(order_id, tender.instrument)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, order_id: str) -> OpenTender | None:
        return self._by_id.get(order_id)

    def pop(self, order_id: str, default: None = None) -> OpenTender | None:
        tender = self._by_id.pop(order_id, None)
        if tender is not None:
            self._unindex(order_id, tender.instrument)
        return tender if tender is not None else default

    def items(self) -> ItemsView[str, OpenTender]:
        return self._by_id.items()

    def values(self) -> ValuesView[OpenTender]:
        return self._by_id.values()

    def of_instrument(self, instrument: str) -> list[str]:
        """The order ids open in ``instrument``, in the order they were added."""
        return list(self._by_instrument.get(instrument, ()))

    def _unindex(self, order_id: str, instrument: str) -> None:
        ids = self._by_instrument[instrument]
        del ids[order_id]
        if not ids:
            del self._by_instrument[instrument]
