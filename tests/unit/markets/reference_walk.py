"""A plain, order-by-order rendering of the documented GridLAB-D walk, to check the engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReferenceClear:
    quantity: float
    price: float | None
    kind: str


def reference_gridlabd(
    bids: list[tuple[float, float]], offers: list[tuple[float, float]], *, offset: float = 1e-4
) -> ReferenceClear:
    """Responsive orders only; ties in submission order (Python's sort is stable)."""
    buyers = sorted((b for b in bids if b[1] > 0), key=lambda b: -b[0])
    sellers = sorted((s for s in offers if s[1] > 0), key=lambda s: s[0])
    if not buyers or not sellers:
        if buyers:
            return ReferenceClear(0.0, buyers[0][0] + offset, "no_orders")
        if sellers:
            return ReferenceClear(0.0, sellers[0][0] - offset, "no_orders")
        return ReferenceClear(0.0, 0.0, "no_orders")
    i = j = 0
    demand = supply = 0.0
    kind, a, b = "null", 0.0, 0.0
    while i < len(buyers) and j < len(sellers) and buyers[i][0] >= sellers[j][0]:
        bought, sold = demand + buyers[i][1], supply + sellers[j][1]
        if bought > sold:
            supply, kind, a = sold, "buyer", buyers[i][0]
            j += 1
        elif bought < sold:
            demand, kind, b = bought, "seller", sellers[j][0]
            i += 1
        else:
            demand = supply = bought
            kind, a, b = "split", buyers[i][0], sellers[j][0]
            i += 1
            j += 1
    quantity = max(demand, supply)
    if quantity == 0:
        return ReferenceClear(0.0, sellers[0][0] + (buyers[0][0] - sellers[0][0]) * 0.5, "null")
    if kind == "buyer":
        return ReferenceClear(quantity, a, kind)
    if kind == "seller":
        return ReferenceClear(quantity, b, kind)
    next_buyer = buyers[i][0] if i < len(buyers) else None
    next_seller = sellers[j][0] if j < len(sellers) else None
    if next_buyer == a:
        return ReferenceClear(quantity, a, "buyer")
    if next_seller == b:
        return ReferenceClear(quantity, b, "seller")
    if a == b:
        return ReferenceClear(quantity, a, "exact")
    mid = (a + b) / 2
    if next_buyer is not None and mid < next_buyer:
        price = next_buyer + offset
    elif next_seller is not None and mid > next_seller:
        price = next_seller - offset
    else:
        price = mid
    return ReferenceClear(quantity, min(max(price, b), a), "price")
