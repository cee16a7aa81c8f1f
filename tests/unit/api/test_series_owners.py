"""Time series by party through the platform API: the network's series read by every role, a
party's (``party/<p>/…``, ``building/<b>/…`` of the building's party) only by that party,
operators and admins; to anybody else it is neither listed nor found (table-driven)."""

from __future__ import annotations

from urllib.parse import quote

import httpx2 as httpx
import pytest

from osed.api.series_owners import Owned, SeriesOwners
from tests.unit.api.conftest import PARTY_SERIES, bearer

NETWORK_SERIES = "meter0/grid/power/ABC"
TOKENS = {
    "admin-token": None,
    "operator-token": None,
    "alice-token": "alice",
    "bob-token": "bob",
    "viewer-token": "",
    "gm-token": "",
}
"""Each token and the party it acts for (None: every party's; "": no party's)."""


def readable(token: str, series: str) -> bool:
    if series not in PARTY_SERIES:
        return True
    party = TOKENS[token]
    return party is None or (party != "" and PARTY_SERIES[series] == party)


CASES = [(t, s) for t in TOKENS for s in [NETWORK_SERIES, *PARTY_SERIES]]


@pytest.mark.parametrize(("token", "series"), CASES)
async def test_who_reads_which_series(client: httpx.AsyncClient, token: str, series: str) -> None:
    headers = bearer(token)
    listed = (await client.get("/api/v1/series?limit=1000", headers=headers)).json()
    assert (series in {i["series_id"] for i in listed["items"]}) is readable(token, series)
    query = f"series={quote(series, safe='')}&start=2026-07-01T00:00Z&end=2026-07-02T00:00Z"
    data = await client.get(f"/api/v1/series/data?{query}", headers=headers)
    assert data.status_code == (200 if readable(token, series) else 404)
    if data.status_code == 404:
        assert data.headers["content-type"] == "application/problem+json"
    else:
        assert len(data.json()["items"]) > 0


async def test_a_page_of_series_holds_only_readable_ones(client: httpx.AsyncClient) -> None:
    seen: list[str] = []
    path = "/api/v1/series?limit=2"
    while path:
        page = (await client.get(path, headers=bearer("alice-token"))).json()
        seen += [i["series_id"] for i in page["items"]]
        path = page["links"]["next"]
    assert seen == sorted(seen)
    assert [s for s in seen if s.startswith(("party/", "building/"))] == [
        "party/alice/contract/power"
    ]
    assert len(seen) == 4  # three meters of the network and alice's own


@pytest.mark.parametrize(
    ("series", "owner"),
    [
        ("party/alice/x", Owned("alice")),
        ("party/alice", Owned("alice")),
        ("party", Owned(None)),
        ("building/b1/meter", Owned("carol")),
        ("building/b2/meter", Owned(None)),
        ("building/nowhere", Owned(None)),
        ("parties/alice/x", None),
        ("se/node/bus3", None),
    ],
)
def test_whose_a_series_is(series: str, owner: Owned | None) -> None:
    assert SeriesOwners({"b1": "carol", "b2": None}).owner(series) == owner
