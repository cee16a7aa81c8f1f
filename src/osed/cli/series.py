"""``osed series list | query``: the stored time series, read from the configured storage.

``query`` selects series with MQTT-style patterns over their ids (``+`` one level, ``#`` the
rest: ``pmu1/+/voltmagnitude/#``), reads ``--start <= time < --end`` and prints each series'
points, or with ``--every`` its buckets aggregated by ``--agg``, as JSON or CSV on standard
output. It reads what ``osed serve`` wrote: ``storage.sqlite_path`` or ``storage.postgres_dsn``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osed.cli import _arguments as arguments
from osed.cli._output import print_json, table, to_json, wants_json
from osed.codec._iso import format_duration, format_instant
from osed.domain.errors import NotFoundError
from osed.domain.problems import Problems
from osed.ports.bus import topic_matches
from osed.ports.timeseries import Aggregate, SeriesInfo, TimeSeriesPoint, TimeSeriesStore

if TYPE_CHECKING:
    from osed.runtime.settings import Settings

_FORMATS = ("json", "csv")
_RAW_COLUMNS = ("series_id", "unit", "time", "value", "source", "belief_time", "quality")
_BUCKET_COLUMNS = ("series_id", "unit", "time", "value", "count")
_MICROSECOND = timedelta(microseconds=1)


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "series", help="list and query the stored time series (measurements, statistics, states)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    listing: argparse.ArgumentParser = commands.add_parser(
        "list",
        help="the stored series with their units",
        description='Prints {"series": [{"series_id", "unit"}]} (or CSV), ordered by id.',
    )
    _common(listing)
    listing.add_argument(
        "--series",
        action="append",
        metavar="PATTERN",
        help="only ids matching this MQTT-style pattern (repeatable)",
    )
    listing.set_defaults(handler=_run_list)

    query: argparse.ArgumentParser = commands.add_parser(
        "query",
        help="read series over a time range, raw or aggregated per resolution",
        description=(
            'Prints {"start", "end", "every", "aggregate", "series": [{"series_id", "unit", '
            '"points": [...]}]}: raw points {"time", "value", "source", "belief_time", '
            '"quality"} (each source\'s latest belief), or with --every one {"time", "value", '
            '"count"} per bucket [time, time + every) that holds a point, buckets counted from '
            "--start, points of quality bad left out. --format csv prints one row per point."
        ),
    )
    _common(query)
    query.add_argument(
        "--series",
        action="append",
        required=True,
        metavar="PATTERN",
        help="series id or MQTT-style pattern (+ one level, # the rest); repeatable",
    )
    query.add_argument("--start", required=True, help="ISO 8601 date-time with time zone")
    query.add_argument("--end", required=True, help="ISO 8601 date-time with time zone")
    query.add_argument(
        "--every", default=None, help="bucket width: 15min, 1h, 30s, 1d or ISO 8601 (PT15M)"
    )
    query.add_argument(
        "--agg",
        default=None,
        choices=[function.value for function in Aggregate],
        help="how a bucket's points become one value (default with --every: mean)",
    )
    query.set_defaults(handler=_run_query)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML settings file (else $OSED_CONFIG)"
    )
    parser.add_argument(
        "--format",
        choices=_FORMATS,
        default=None,
        help="output (default: a table on a terminal, JSON when piped or with --json)",
    )


# ------------------------------------------------------------------------------ commands


def _run_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    with _open_store(settings) as store:
        found = _matching(store.series(), args.series)
    if _format(args) == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("series_id", "unit"))
        writer.writerows((info.series_id, info.unit) for info in found)
    elif _format(args) == "text":
        print(table(("series_id", "unit"), ((i.series_id, i.unit) for i in found)))
    else:
        print_json({"series": [{"series_id": i.series_id, "unit": i.unit} for i in found]})
    return 0


def _run_query(args: argparse.Namespace) -> int:
    problems = Problems("series query arguments")
    start = arguments.instant(args.start, "--start", problems)
    end = arguments.instant(args.end, "--end", problems)
    if start is not None and end is not None and end <= start:
        problems.add("--end", "empty_range", "must be after --start")
    every = None if args.every is None else arguments.duration(args.every, "--every", problems)
    if args.agg is not None and args.every is None:
        problems.add("--agg", "needs_every", "aggregates per bucket: give --every too")
    problems.check()
    assert start is not None
    assert end is not None
    function = Aggregate(args.agg or Aggregate.MEAN) if every is not None else None
    settings = _settings(args)
    query = Query(start, end, every, function)
    with _open_store(settings) as store:
        found = _matching(store.series(), args.series)
        if not found:
            raise NotFoundError(
                f"no stored series matches {', '.join(args.series)} "
                "(`osed series list` shows the stored ones)"
            )
        rows = [_rows(store, info, query) for info in found]
        if every is not None:  # buckets are few: all of them (an overflow refuses) before output
            rows = [list(buckets) for buckets in rows]
        if _format(args) == "csv":
            _print_csv(zip(found, rows, strict=True), aggregated=every is not None)
        elif _format(args) == "text":
            _print_text(zip(found, rows, strict=True), aggregated=every is not None)
        else:
            header = {
                "start": format_instant(start),
                "end": format_instant(end),
                "every": None if every is None else format_duration(every),
                "aggregate": None if function is None else function.value,
            }
            _print_json(header, zip(found, rows, strict=True))
    return 0


@dataclass(frozen=True, slots=True)
class Query:
    start: datetime
    end: datetime
    every: timedelta | None
    function: Aggregate | None


def _rows(store: TimeSeriesStore, info: SeriesInfo, query: Query) -> Iterable[dict[str, Any]]:
    start, end, every, function = query.start, query.end, query.every, query.function
    if every is None or function is None:
        return (
            {
                "time": format_instant(point.event_time),
                "value": point.value,
                "source": point.source,
                "belief_time": format_instant(point.belief_time),
                "quality": point.quality.value,
            }
            for point in points_in_windows(store, info.series_id, start, end)
        )
    return (
        {"time": format_instant(bucket.start), "value": bucket.value, "count": bucket.count}
        for bucket in store.aggregate(info.series_id, start, end, every, function)
    )


def points_in_windows(
    store: TimeSeriesStore,
    series_id: str,
    start: datetime,
    end: datetime,
    *,
    per_read: int = 50_000,
) -> Iterator[TimeSeriesPoint]:
    """What ``store.read(series_id, start, end)`` returns, read in consecutive windows sized
    to hold about ``per_read`` points, so memory stays bounded at any sampling rate."""
    window = timedelta(hours=1)
    at = start
    while at < end:
        upto = min(at + window, end)
        points = store.read(series_id, at, upto)
        yield from points
        at = upto
        if len(points) > per_read:
            window = max(window / 2, _MICROSECOND)
        elif len(points) < per_read // 4:
            window *= 2


def _print_json(
    header: dict[str, Any], series: Iterable[tuple[SeriesInfo, Iterable[dict[str, Any]]]]
) -> None:
    """One compact JSON object, written as the points are read."""
    write = sys.stdout.write
    write("{" + "".join(f"{to_json(key)}:{to_json(value)}," for key, value in header.items()))
    write('"series":[')
    for number, (info, points) in enumerate(series):
        write("," if number else "")
        write(f'{{"series_id":{to_json(info.series_id)},"unit":{to_json(info.unit)},"points":[')
        for index, point in enumerate(points):
            write(("," if index else "") + to_json(point))
        write("]}")
    write("]}\n")


def _print_csv(
    series: Iterable[tuple[SeriesInfo, Iterable[dict[str, Any]]]], *, aggregated: bool
) -> None:
    columns = _BUCKET_COLUMNS if aggregated else _RAW_COLUMNS
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for info, points in series:
        for point in points:
            fields = point | {"series_id": info.series_id, "unit": info.unit}
            writer.writerow([_csv_value(fields[column]) for column in columns])


def _print_text(
    series: Iterable[tuple[SeriesInfo, Iterable[dict[str, Any]]]], *, aggregated: bool
) -> None:
    """A table per series, for a person at a terminal."""
    columns = list((_BUCKET_COLUMNS if aggregated else _RAW_COLUMNS)[2:])
    for number, (info, points) in enumerate(series):
        title = f"{info.series_id} [{info.unit}]"
        body = table(columns, ([point[column] for column in columns] for point in points))
        print(("\n" if number else "") + title + "\n" + body)


def _csv_value(value: object) -> object:
    return repr(value) if isinstance(value, float) else value  # every digit of a float


# ----------------------------------------------------------------------------- settings


def _format(args: argparse.Namespace) -> str:
    if args.format is not None:
        return str(args.format)
    return "json" if wants_json(args) else "text"


def _matching(stored: list[SeriesInfo], patterns: list[str] | None) -> list[SeriesInfo]:
    if not patterns:
        return stored
    return [info for info in stored if any(topic_matches(p, info.series_id) for p in patterns)]


def _settings(args: argparse.Namespace) -> Settings:
    from osed.runtime.settings import load_settings  # noqa: PLC0415 - pydantic: load late

    return load_settings(args.config)


def _open_store(settings: Settings) -> closing[TimeSeriesStore]:
    """The configured time-series store; a SQLite file must exist (a query creates nothing)."""
    from osed.runtime.container import build_timeseries  # noqa: PLC0415 - load late

    storage = settings.storage
    if storage.backend == "sqlite" and not storage.sqlite_path.is_file():
        raise NotFoundError(
            f"no time-series store at {storage.sqlite_path} "
            "(storage.sqlite_path, OSED_STORAGE__SQLITE_PATH)"
        )
    return closing(build_timeseries(settings))
