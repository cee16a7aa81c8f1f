"""The xor clearing: least cost proven, against brute force, greedy and the documents' rules."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.domain.errors import ValidationError
from osed.gridfunctions.builtin._xor_bound import lagrangian_bound
from osed.gridfunctions.builtin._xor_search import (
    Found,
    _search_within,
    relative_offers,
    search,
)
from osed.gridfunctions.builtin.xor import FUNCTION


def document(request: float, prices: list[float], bids: list[list[float]]) -> dict[str, Any]:
    return {
        "request_kw": request,
        "duration_h": 0.5,
        "prices": prices,
        "bids": [{"building": f"b{k}", "quantities_kw": q} for k, q in enumerate(bids)],
    }


def brute_force(request: float, prices: list[float], bids: list[list[float]]) -> float | None:
    """The least cost over every choice of at most one offer per building (None: no cover)."""
    best: float | None = None
    options = [range(-1, len(prices))] * len(bids)
    for choice in itertools.product(*options):
        chosen = [(bids[b][j], prices[j]) for b, j in enumerate(choice) if j >= 0]
        if sum(q for q, _ in chosen) >= request * (1 - 1e-9):
            cost = sum(q * p * 0.5 for q, p in chosen)
            best = cost if best is None else min(best, cost)
    return best


def greedy_by_price(request: float, prices: list[float], bids: list[list[float]]) -> float | None:
    """Offers taken by ascending price (largest first at a price), one per building."""
    taken: set[int] = set()
    total = cost = 0.0
    for j, price in enumerate(prices):
        for b in sorted(range(len(bids)), key=lambda b: -bids[b][j]):
            if total >= request or b in taken or bids[b][j] <= 0:
                continue
            taken.add(b)
            total += bids[b][j]
            cost += bids[b][j] * price * 0.5
    return cost if total >= request else None


def check(result: dict[str, Any], request: float, prices: list[float], bids: list[list[float]]):
    winners = result["winners"]
    assert len({w["building"] for w in winners}) == len(winners)
    procured = sum(w["quantity_kw"] for w in winners)
    assert procured == pytest.approx(result["procured_kw"])
    assert procured >= request * (1 - 1e-9)
    for w in winners:
        k = int(w["building"][1:])
        assert w["quantity_kw"] == bids[k][w["price_index"]]
        assert w["price"] == prices[w["price_index"]]
    cost = sum(w["quantity_kw"] * w["price"] * 0.5 for w in winners)
    assert result["cost"] == pytest.approx(cost, rel=1e-9, abs=1e-9)


quantity = st.one_of(st.just(0.0), st.floats(0.1, 10.0).map(lambda x: round(x, 2)))


@st.composite
def rounds(draw: Any) -> tuple[float, list[float], list[list[float]]]:
    prices_count = draw(st.integers(1, 3))
    steps = draw(st.lists(st.floats(0.05, 1.0), min_size=prices_count, max_size=prices_count))
    prices = [round(sum(steps[: k + 1]), 3) for k in range(prices_count)]
    bids = draw(
        st.lists(
            st.lists(quantity, min_size=prices_count, max_size=prices_count),
            min_size=1,
            max_size=6,
        )
    )
    share = draw(st.floats(0.05, 1.2))
    request = round(max(0.01, share * sum(max(q) for q in bids)), 3)
    return request, prices, bids


@settings(max_examples=150, deadline=None)
@given(rounds())
def test_the_least_cost_equals_brute_force(case: tuple[float, list[float], list[list[float]]]):
    request, prices, bids = case
    result = FUNCTION.run(document(request, prices, bids))
    best = brute_force(request, prices, bids)
    if best is None:
        assert result["status"] == "infeasible"
        available = sum(max(q) for q in bids)
        assert result["shortfall_kw"] == pytest.approx(request - available)
        assert result["winners"] == []
        return
    assert result["status"] == "optimal"
    check(result, request, prices, bids)
    assert result["cost"] == pytest.approx(best, rel=1e-7, abs=1e-9)
    assert result["proof"]["lower_bound"] <= result["cost"] + 1e-9


def test_greedy_by_price_pays_more_than_the_least_cost() -> None:
    prices = [1.0, 2.0]
    bids = [[5.0, 5.0], [5.0, 5.0], [0.0, 1.0]]
    result = FUNCTION.run(document(6.0, prices, bids))
    assert result["status"] == "optimal"
    assert result["cost"] == pytest.approx(0.5 * (5 * 1 + 1 * 2))
    assert greedy_by_price(6.0, prices, bids) == pytest.approx(0.5 * 10)  # two 5 kW offers


def test_greedy_by_price_can_miss_a_cover_that_exists() -> None:
    prices = [1.0, 2.0]
    bids = [[4.0, 10.0]]
    assert greedy_by_price(10.0, prices, bids) is None
    result = FUNCTION.run(document(10.0, prices, bids))
    assert result["winners"] == [
        {"building": "b0", "price_index": 1, "price": 2.0, "quantity_kw": 10.0}
    ]


def test_an_infeasible_request_names_its_shortfall() -> None:
    result = FUNCTION.run(document(20.0, [0.1, 0.2], [[3.0, 5.0], [4.0, 1.0]]))
    assert result["status"] == "infeasible"
    assert result["shortfall_kw"] == pytest.approx(11.0)
    assert result["winners"] == []


@pytest.mark.parametrize("shape", ["random", "increasing"])
def test_a_large_round_is_proven_within_rounding(shape: str) -> None:
    rng = np.random.default_rng(7)
    prices = np.cumsum(rng.uniform(0.01, 0.2, 5))
    q = rng.uniform(0, 10, (2000, 5)) * (rng.random((2000, 5)) < 0.8)
    if shape == "increasing":
        q = np.sort(q, axis=1)
    bids = q.tolist()
    request = 0.3 * float(q.max(axis=1).sum())
    result = FUNCTION.run(document(request, prices.tolist(), bids))
    assert result["status"] == "optimal"
    check(result, request, prices.tolist(), bids)
    assert result["cost"] - result["proof"]["lower_bound"] <= 1e-7 * result["cost"]
    assert result["cost"] >= result["proof"]["lp_bound"] - 1e-9 * result["cost"]


def test_every_problem_of_a_document_is_named_at_its_path() -> None:
    bad = {
        "request_kw": "ten",
        "prices": [0.2, 0.1, math.nan],
        "bids": [
            {"building": "a", "quantities_kw": [1, 2]},
            {"building": "a", "quantities_kw": [1, -2, 3]},
            {"quantities_kw": [1, 2, 3], "colour": "red"},
        ],
        "extra": 1,
    }
    with pytest.raises(ValidationError) as caught:
        FUNCTION.run(bad)
    found = {(p.path, p.code) for p in caught.value.problems}
    assert found == {
        ("$.extra", "unknown_field"),
        ("$.request_kw", "not_a_number"),
        ("$.duration_h", "missing"),
        ("$.prices[1]", "not_ascending"),
        ("$.prices[2]", "not_finite"),
        ("$.bids[0].quantities_kw", "wrong_length"),
        ("$.bids[1].building", "duplicate"),
        ("$.bids[1].quantities_kw[1]", "too_small"),
        ("$.bids[2].building", "missing"),
        ("$.bids[2].colour", "unknown_field"),
    }


@pytest.mark.parametrize("seed", range(8))
def test_the_branch_and_bound_fallback_also_finds_the_least_cost(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from osed.gridfunctions.builtin import _xor_search

    monkeypatch.setattr(_xor_search, "MAX_STATES", 0)  # every search hands over to HiGHS
    rng = np.random.default_rng(seed)
    prices = np.round(np.cumsum(rng.uniform(0.05, 0.5, 3)), 3).tolist()
    bids = np.round(rng.uniform(0, 10, (6, 3)) * (rng.random((6, 3)) < 0.7), 2).tolist()
    request = round(0.5 * sum(max(q) for q in bids), 2)
    result = FUNCTION.run(document(request, prices, bids))
    best = brute_force(request, prices, bids)
    assert best is not None
    assert result["status"] == "optimal"
    check(result, request, prices, bids)
    assert result["cost"] == pytest.approx(best, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_a_search_from_an_assumed_gap_ends_where_the_incumbents_gap_does(seed: int) -> None:
    """The search first assumes a small gap above the bound and widens it: the acceptance it
    proves is the one the search over the incumbent's whole gap proves."""
    rng = np.random.default_rng(seed)
    offers = np.sort(rng.uniform(0, 10, (300, 4)) * (rng.random((300, 4)) < 0.8), axis=1)
    prices = np.cumsum(rng.uniform(0.01, 0.2, 4))
    quantity = np.concatenate([np.zeros((300, 1)), offers], axis=1)
    cost = quantity * np.concatenate([[0.0], prices])[None, :]
    request = 0.3 * float(offers.max(axis=1).sum())
    bound = lagrangian_bound(quantity, cost, request, tolerance=1e-9 * request)
    whole_gap = bound.incumbent_cost - bound.lower_bound
    widened = search(quantity, cost, request, bound, tolerance=1e-9 * request)
    offers = relative_offers(quantity, cost, request, bound)
    direct = _search_within(offers, bound, gap=whole_gap, tolerance=1e-9 * request, proof_gap=0.0)
    assert isinstance(widened, Found)
    assert isinstance(direct, Found)
    assert widened.cost == pytest.approx(direct.cost, rel=1e-12, abs=1e-12)
    assert widened.core_buildings <= direct.core_buildings
    rows = np.arange(300)
    assert quantity[rows, widened.choice].sum() >= request * (1 - 1e-9)
    assert cost[rows, widened.choice].sum() == pytest.approx(widened.cost, rel=1e-12)
