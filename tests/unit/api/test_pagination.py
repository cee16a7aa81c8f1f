"""Cursor pages: following next_cursor walks every row exactly once, in order, whatever the
page size; a cursor of another list is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2 as httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.codec.cursor import paginate
from osed.domain.errors import ValidationError
from osed.ports.timeseries import TimeSeriesPoint
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.unit.api.conftest import PARTY_SERIES, START, bearer, build

ADMIN = bearer("admin-token")


@given(
    rows=st.lists(st.text(min_size=1, max_size=6), unique=True, max_size=60),
    limit=st.integers(min_value=1, max_value=25),
)
@settings(max_examples=200, deadline=None)
def test_walking_the_pages_sees_every_row_once(rows: list[str], limit: int) -> None:
    ordered = sorted(rows)
    seen: list[str] = []
    cursor = None
    for _ in range(len(rows) + 2):
        page = paginate(ordered, str, listing="x", limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ordered


@given(
    before=st.lists(st.integers(0, 200), unique=True, max_size=40),
    added=st.lists(st.integers(0, 200), max_size=10),
    limit=st.integers(min_value=1, max_value=10),
)
@settings(max_examples=100, deadline=None)
def test_rows_added_between_pages_shift_nothing(
    before: list[int], added: list[int], limit: int
) -> None:
    """Every row present throughout is seen once; none is seen twice."""
    rows = sorted(before)
    first = paginate(rows, int, listing="n", limit=limit, cursor=None, kind=int)
    rows = sorted(set(rows) | set(added))
    seen = list(first.items)
    cursor = first.next_cursor
    while cursor is not None:
        page = paginate(rows, int, listing="n", limit=limit, cursor=cursor, kind=int)
        seen += page.items
        cursor = page.next_cursor
    assert len(seen) == len(set(seen))
    assert set(before) <= set(seen)


def test_a_cursor_of_another_list_or_garbage_is_refused() -> None:
    page = paginate(["a", "b"], str, listing="one", limit=1, cursor=None)
    assert page.next_cursor is not None
    for cursor in (page.next_cursor, "%%%", "bm90IGpzb24"):
        with pytest.raises(ValidationError) as caught:
            paginate(["a", "b"], str, listing="two", limit=1, cursor=cursor)
        assert caught.value.problems[0].path == "$query.cursor"


@given(limit=st.integers(min_value=1, max_value=12))
@settings(max_examples=8, deadline=None)
def test_the_next_links_walk_every_series_and_point_once(
    tmp_path_factory: pytest.TempPathFactory, limit: int
) -> None:
    asyncio.run(_walk(tmp_path_factory.mktemp("walk"), limit))


async def _walk(tmp_path: Path, limit: int) -> None:
    for platform in build(tmp_path):
        with SqliteTimeSeriesStore(tmp_path / "series.sqlite") as store:
            store.write(
                [TimeSeriesPoint(f"extra/{n:02d}", START, 1.0, "W", START, "s") for n in range(20)]
            )
        async with platform.app.router.lifespan_context(platform.app):
            transport = httpx.ASGITransport(app=platform.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://osed") as client:
                ids = await _follow(client, f"/api/v1/series?limit={limit}")
                assert ids == sorted(ids)
                assert len(ids) == len(set(ids)) == 23 + len(PARTY_SERIES)
                times = await _follow(
                    client,
                    "/api/v1/series/data?series=meter2/grid/power/ABC&start=2026-07-01T00:00Z"
                    f"&end=2026-07-02T00:00Z&limit={limit}",
                    key="time",
                )
                assert len(times) == len(set(times)) == 12


async def _follow(client: httpx.AsyncClient, path: str, key: str = "series_id") -> list[str]:
    found: list[str] = []
    link: str | None = path
    while link is not None:
        page = (await client.get(link, headers=ADMIN)).json()
        found += [item[key] for item in page["items"]]
        link = page["links"]["next"]
    return found


async def test_a_cursor_given_to_other_filters_is_422(tmp_path: Path) -> None:
    for platform in build(tmp_path):
        async with platform.app.router.lifespan_context(platform.app):
            transport = httpx.ASGITransport(app=platform.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://osed") as client:
                page = (await client.get("/api/v1/series?limit=1", headers=ADMIN)).json()
                refused = await client.get(
                    f"/api/v1/series?match=meter1/%23&cursor={page['next_cursor']}", headers=ADMIN
                )
                assert refused.status_code == 422
                assert refused.json()["errors"][0]["path"] == "$query.cursor"
