"""Measurements and other time series from the :class:`TimeSeriesStore`: the stored series,
and one series over a time range, raw (each source's latest belief) or in buckets of a
resolution aggregated by a function, as JSON, CSV or Parquet (``format=`` or the ``Accept``
header). Every role reads the network's series; a party's series (``party/<party>/…``,
``building/<building>/…``: :mod:`osed.api.series_owners`) only that party, operators and
admins, and to anybody else it is neither listed nor found."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response

from osed.api.auth import Caller
from osed.api.listing import CursorQuery, LimitQuery, page_document
from osed.api.series_formats import FORMATS, MEDIA_TYPES, Table, chosen_format, encode
from osed.api.series_owners import SeriesOwners
from osed.codec._iso import format_duration, parse_duration
from osed.codec._reader import BadValueError
from osed.codec.cursor import decode_cursor, encode_cursor
from osed.domain.access import READERS, permit
from osed.domain.errors import NotFoundError, Problem, ValidationError
from osed.domain.identity import Principal
from osed.ports.bus import topic_matches
from osed.ports.timeseries import Aggregate, TimeSeriesStore

MAX_POINTS = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
SeriesQuery = Annotated[
    str, Query(min_length=1, max_length=512, description="the series id (GET /series lists them)")
]


def _micros(instant: datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def _instant(value: str, path: str, problems: list[Problem]) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        problems.append(Problem(path, "bad_datetime", f"{value!r} is not an ISO 8601 date-time"))
        return None
    if parsed.utcoffset() is None:
        problems.append(Problem(path, "naive_datetime", f"{value!r} has no time zone"))
        return None
    return parsed.astimezone(UTC)


def _every(value: str, problems: list[Problem]) -> timedelta | None:
    try:
        width = parse_duration(value)
    except BadValueError:
        problems.append(Problem("$query.every", "bad_duration", f"{value!r} is not like PT15M"))
        return None
    if width <= timedelta(0) or width % _MICROSECOND:
        problems.append(Problem("$query.every", "bad_duration", "must be whole microseconds > 0"))
        return None
    return width


def create_router(
    open_store: Callable[[], TimeSeriesStore],
    *,
    caller: Caller,
    described: Any,
    owners: SeriesOwners | None = None,
) -> APIRouter:
    """``owners`` tells whose each series is (default: the ``party/`` and ``building/`` ids of
    no building the API knows)."""
    owners = owners or SeriesOwners({})
    router = APIRouter(tags=["series"])
    who = Depends(caller)

    @router.get("/series", responses=described({200: "stored series by id, with their units"}))
    async def listing(
        match: Annotated[
            str | None,
            Query(
                min_length=1,
                max_length=512,
                description="only ids matching this MQTT-style pattern (+ one level, # the rest)",
            ),
        ] = None,
        limit: LimitQuery = 100,
        cursor: CursorQuery = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, *READERS, to="read time series")
        after = None if cursor is None else decode_cursor(cursor, f"series:{match or ''}", str)
        found = [
            info
            for info in open_store().series()
            if (match is None or topic_matches(match, info.series_id))
            and (after is None or info.series_id > str(after))
            and owners.readable(principal, info.series_id)
        ]
        more = len(found) > limit
        items = [
            {"series_id": i.series_id, "unit": i.unit, "links": {"data": _data_link(i.series_id)}}
            for i in found[:limit]
        ]
        following = (
            encode_cursor(f"series:{match or ''}", found[limit - 1].series_id) if more else None
        )
        filters = {"match": match} if match else {}
        return page_document(items, following, "/api/v1/series", limit, filters)

    @router.get(
        "/series/data",
        responses=described(
            {
                200: "the points or buckets of the series in the range",
                404: "no such series",
                406: "a format it cannot give",
            }
        )
        | {200: {"content": {media: {} for media in MEDIA_TYPES.values()}}},
    )
    async def data(
        request: Request,
        *,
        series: SeriesQuery,
        start: Annotated[str, Query(max_length=64, description="ISO 8601 with its time zone")],
        end: Annotated[str, Query(max_length=64, description="ISO 8601 with its time zone")],
        every: Annotated[
            str | None,
            Query(max_length=64, description="bucket width, ISO 8601 (PT15M); none: raw points"),
        ] = None,
        agg: Annotated[
            Aggregate | None, Query(description="how a bucket's points become one (default mean)")
        ] = None,
        format: Annotated[
            Literal["json", "csv", "parquet"] | None,
            Query(description="default: from the Accept header, else json"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_POINTS, description="at most this many rows")] = (
            MAX_POINTS
        ),
        cursor: CursorQuery = None,
        principal: Principal = who,
    ) -> Response:
        permit(principal, *READERS, to="read time series")
        problems: list[Problem] = []
        begin = _instant(start, "$query.start", problems)
        finish = _instant(end, "$query.end", problems)
        if begin is not None and finish is not None and finish <= begin:
            problems.append(Problem("$query.end", "empty_range", "must be after start"))
        width = None if every is None else _every(every, problems)
        if agg is not None and every is None:
            problems.append(Problem("$query.agg", "needs_every", "aggregates buckets: give every"))
        if problems:
            raise ValidationError(problems, subject="series query")
        assert begin is not None
        assert finish is not None
        wanted = chosen_format(format, request.headers.get("accept"))
        store = open_store()
        units = {info.series_id: info.unit for info in store.series()}
        if series not in units or not owners.readable(principal, series):
            raise NotFoundError(f"no stored series {series!r} (GET /api/v1/series lists them)")
        listing = f"data:{series}:{start}:{end}:{every or ''}:{agg or ''}"
        after = None if cursor is None else str(decode_cursor(cursor, listing, str))
        rows: Iterator[tuple[str, dict[str, Any]]]
        if width is None:
            since = begin
            if after is not None:
                since = max(begin, _EPOCH + int(after.split("\x1f")[0]) * _MICROSECOND)
            rows = (
                (
                    f"{_micros(p.event_time):020d}\x1f{p.source}\x1f{_micros(p.belief_time):020d}",
                    {
                        "time": p.event_time,
                        "value": p.value,
                        "source": p.source,
                        "belief_time": p.belief_time,
                        "quality": p.quality.value,
                    },
                )
                for p in store.read(series, since, finish)
            )
        else:
            function = agg or Aggregate.MEAN
            rows = (
                (f"{_micros(b.start):020d}", {"time": b.start, "value": b.value, "count": b.count})
                for b in store.aggregate(series, begin, finish, width, function)
            )
        chosen: list[dict[str, Any]] = []
        following, last = None, ""
        for key, row in rows:
            if after is not None and key <= after:
                continue
            if len(chosen) == limit:
                following = encode_cursor(listing, last)
                break
            chosen.append(row)
            last = key
        table = Table(series, units[series], chosen, aggregated=width is not None)
        head = {
            "series_id": series,
            "unit": units[series],
            "start": begin.isoformat(),
            "end": finish.isoformat(),
            "every": None if width is None else format_duration(width),
            "aggregate": None if width is None else (agg or Aggregate.MEAN).value,
        }
        query = {
            k: v
            for k, v in {
                "series": series,
                "start": start,
                "end": end,
                "every": every,
                "agg": None if agg is None else agg.value,
                "format": format,
            }.items()
            if v is not None
        }
        page = page_document([], following, "/api/v1/series/data", limit, query)
        headers = {}
        if page["links"]["next"]:
            headers["Link"] = f'<{page["links"]["next"]}>; rel="next"'
        return Response(
            encode(table, wanted, head | {"next_cursor": following, "links": page["links"]}),
            media_type=MEDIA_TYPES[wanted],
            headers=headers,
        )

    return router


def _data_link(series_id: str) -> str:
    return f"/api/v1/series/data?series={quote(series_id, safe='')}"


__all__ = ["FORMATS", "create_router"]
