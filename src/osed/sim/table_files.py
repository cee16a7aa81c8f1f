"""One result table as Parquet or CSV bytes, the same bytes for the same table.

Parquet: ``time_utc`` as ``timestamp[ns, tz=UTC]``, floats as float64 (NaN kept as NaN), text
as UTF-8 strings, zstd-compressed; the file holds no write time, only the writer's version.
CSV: a header of the column names, ``time_utc`` as ISO 8601 with ``Z``, floats in their
shortest text that reads back as the same number (Arrow's shortest round-trip formatting:
``2``, ``0.1``, ``1e-7``), NaN as an empty field, text quoted only where it must be. Arrow
formats and writes the rows: a million rows of a study take about a second, not tens.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from osed.sim.results import TEXT_COLUMNS

_CSV_ROWS_PER_CHUNK = 65_536


def parquet_bytes(table: Mapping[str, NDArray[Any]]) -> bytes:
    arrays = [_arrow_column(name, column) for name, column in table.items()]
    arrow_table = pa.Table.from_arrays(arrays, names=list(table))
    buffer = io.BytesIO()
    pq.write_table(
        arrow_table,
        buffer,
        compression="zstd",
        # Default row-group and page sizes depend on nothing but the data; spelled out so that
        # a new pyarrow default does not change the files silently.
        row_group_size=1 << 20,
        use_dictionary=True,
        write_statistics=True,
    )
    return buffer.getvalue()


def csv_chunks(table: Mapping[str, NDArray[Any]]) -> Iterator[bytes]:
    """The CSV text of ``table`` in chunks of rows (so that a large table streams to disk)."""
    names = list(table)
    yield (",".join(names) + "\n").encode("utf-8")  # the names of TABLES: nothing to quote
    length = len(next(iter(table.values()))) if table else 0
    for start in range(0, length, _CSV_ROWS_PER_CHUNK):
        stop = min(start + _CSV_ROWS_PER_CHUNK, length)
        columns = [_csv_column(name, table[name][start:stop]) for name in names]
        texts = [c for c in columns if pa.types.is_string(c.type)]
        # Arrow quotes either every text or none: none unless a text holds , " or a newline
        quoting = "needed" if any(_needs_quotes(c) for c in texts) else "none"
        buffer = io.BytesIO()
        pa_csv.write_csv(
            pa.Table.from_arrays(columns, names=names),
            buffer,
            pa_csv.WriteOptions(include_header=False, quoting_style=quoting),
        )
        yield buffer.getvalue()


def _arrow_column(name: str, column: NDArray[Any]) -> pa.Array:
    if name == "time_utc":
        return pa.array(column.astype("datetime64[ns]"), type=pa.timestamp("ns", tz="UTC"))
    if name in TEXT_COLUMNS:
        texts = [None if value is None else str(value) for value in column.tolist()]
        return pa.array(texts, pa.string())
    return pa.array(column)


def _csv_column(name: str, column: NDArray[Any]) -> pa.Array:
    """The column as text (null: an empty field)."""
    if name == "time_utc":
        times = column.astype("datetime64[ns]")
        whole_seconds = bool(np.all(times.astype(np.int64) % 1_000_000_000 == 0))
        texts = np.datetime_as_string(times, unit="s" if whole_seconds else "ns", timezone="UTC")
        return pa.array(texts.astype(object), pa.string(), mask=np.isnat(times))
    if name in TEXT_COLUMNS:
        return pa.array([None if v is None else str(v) for v in column.tolist()], pa.string())
    if column.dtype.kind == "f":
        return pa.array(column.astype(np.float64), mask=np.isnan(column))
    return pa.array(column)


def _needs_quotes(texts: pa.Array) -> bool:
    return bool(pc.any(pc.match_substring_regex(texts, '[,"\n\r]')).as_py())
