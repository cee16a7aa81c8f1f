"""A page of one series as JSON, CSV or Parquet, chosen by ``format=`` or ``Accept``."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from starlette.exceptions import HTTPException

Format = Literal["json", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("json", "csv", "parquet")
MEDIA_TYPES: dict[Format, str] = {
    "json": "application/json",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}
_BY_MEDIA = {media: name for name, media in MEDIA_TYPES.items()}
_RAW = ("time", "value", "source", "belief_time", "quality")
_BUCKETS = ("time", "value", "count")


@dataclass(frozen=True, slots=True)
class Table:
    series_id: str
    unit: str
    rows: list[dict[str, Any]]
    aggregated: bool

    @property
    def columns(self) -> tuple[str, ...]:
        return _BUCKETS if self.aggregated else _RAW


def chosen_format(asked: Format | None, accept: str | None) -> Format:
    """``format=`` wins; else the first of ``Accept``'s media types it can give (by ``q``);
    406 when ``Accept`` names none of them and no wildcard."""
    if asked is not None:
        return asked
    if not accept:
        return "json"
    for media in accepted_media(accept):
        if media in _BY_MEDIA:
            return _BY_MEDIA[media]
        if media in ("*/*", "application/*"):
            return "json"
        if media == "text/*":
            return "csv"
    raise HTTPException(406, f"can give {', '.join(MEDIA_TYPES.values())}, not {accept}")


def accepted_media(accept: str) -> list[str]:
    """The media types of an ``Accept`` header, most wanted first (by ``q``, then order);
    those with ``q=0`` left out."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept.split(",")):
        media, *parameters = (part.strip().lower() for part in item.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0:
            ranked.append((-weight, position, media))
    return [media for _, _, media in sorted(ranked)]


def encode(table: Table, format: Format, head: dict[str, Any]) -> bytes:
    if format == "csv":
        return _csv(table)
    if format == "parquet":
        return _parquet(table)
    items = [{k: _json_value(v) for k, v in row.items()} for row in table.rows]
    return json.dumps({**head, "items": items}, allow_nan=False, separators=(",", ":")).encode()


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _csv(table: Table) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("series_id", "unit", *table.columns))
    for row in table.rows:
        writer.writerow(
            (table.series_id, table.unit, *(_json_value(row[c]) for c in table.columns))
        )
    return text.getvalue().encode()


def _parquet(table: Table) -> bytes:
    try:  # the api extra installs it; imported only when Parquet is asked for
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError:
        raise HTTPException(406, "Parquet needs pyarrow (pip install 'osed[api]')") from None
    count = len(table.rows)
    columns: dict[str, Any] = {
        "series_id": pa.array([table.series_id] * count, pa.string()),
        "unit": pa.array([table.unit] * count, pa.string()),
        "time": pa.array([r["time"] for r in table.rows], pa.timestamp("us", tz="UTC")),
        "value": pa.array([r["value"] for r in table.rows], pa.float64()),
    }
    if table.aggregated:
        columns["count"] = pa.array([r["count"] for r in table.rows], pa.int64())
    else:
        columns["source"] = pa.array([r["source"] for r in table.rows], pa.string())
        columns["belief_time"] = pa.array(
            [r["belief_time"] for r in table.rows], pa.timestamp("us", tz="UTC")
        )
        columns["quality"] = pa.array([r["quality"] for r in table.rows], pa.string())
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()
