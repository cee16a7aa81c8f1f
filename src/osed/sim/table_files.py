"""One result table as Parquet or CSV bytes, the same bytes for the same table.

Parquet: ``time_utc`` as ``timestamp[ns, tz=UTC]``, floats as float64 (NaN kept as NaN), text
as UTF-8 strings, zstd-compressed; the file holds no write time, only the writer's version.
CSV: a header of the column names, ``time_utc`` as ISO 8601 with ``Z``, floats in their
shortest text that reads back as the same number, NaN as an empty field.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from osed.sim.results import TEXT_COLUMNS

_CSV_ROWS_PER_CHUNK = 8192


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
    yield _csv_rows([names])
    length = len(next(iter(table.values()))) if table else 0
    for start in range(0, length, _CSV_ROWS_PER_CHUNK):
        stop = min(start + _CSV_ROWS_PER_CHUNK, length)
        columns = [_csv_column(name, table[name][start:stop]) for name in names]
        yield _csv_rows(zip(*columns, strict=True))


def _arrow_column(name: str, column: NDArray[Any]) -> pa.Array:
    if name == "time_utc":
        return pa.array(column.astype("datetime64[ns]"), type=pa.timestamp("ns", tz="UTC"))
    if name in TEXT_COLUMNS:
        texts = [None if value is None else str(value) for value in column.tolist()]
        return pa.array(texts, pa.string())
    return pa.array(column)


def _csv_column(name: str, column: NDArray[Any]) -> list[Any]:
    if name == "time_utc":
        times = column.astype("datetime64[ns]")
        whole_seconds = bool(np.all(times.astype(np.int64) % 1_000_000_000 == 0))
        texts = np.datetime_as_string(times, unit="s" if whole_seconds else "ns", timezone="UTC")
        # Python strings first (tolist): numpy's own string scalars may lose a Ctrl-C that
        # arrives while one of their methods runs.
        return [None if text.startswith("NaT") else text for text in texts.tolist()]
    if name in TEXT_COLUMNS:
        return [None if value is None else str(value) for value in column.tolist()]
    if column.dtype.kind == "f":
        # csv writes a float with repr(): the shortest text that reads back bit for bit.
        return [None if math.isnan(value) else value for value in column.tolist()]
    return list(column.tolist())


def _csv_rows(rows: Any) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue().encode("utf-8")
