"""A study's data on disk: every table as Parquet and CSV, the KPIs as JSON.

Each table holds both runs (the baseline's rows, then the managed run's), so that one file
compares them. The same result gives the same bytes; every file is written atomically.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from osed.domain.problems import Problems
from osed.sim.atomic_files import write_atomic
from osed.sim.results import TABLES, RunResult, StudyResult, Table, table_problems
from osed.sim.table_files import csv_chunks, parquet_bytes

KPIS_FILE = "kpis.json"


def write_outputs(result: StudyResult, folder: Path) -> list[Path]:
    """Write ``<table>.parquet`` and ``<table>.csv`` for every table and ``kpis.json``.

    Raises :class:`osed.domain.errors.ValidationError` naming every malformed table, with
    nothing written.
    """
    check_result(result)
    tables = combined_tables(result)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, table in tables.items():
        written.append(write_atomic(folder / f"{name}.parquet", [parquet_bytes(table)]))
        written.append(write_atomic(folder / f"{name}.csv", csv_chunks(table)))
    written.append(write_atomic(folder / KPIS_FILE, [kpis_json(result)]))
    return written


def check_result(result: StudyResult) -> None:
    """Raise a ValidationError naming every table that is missing or malformed."""
    problems = Problems("study result")
    for run in (result.baseline, result.managed):
        _check_run(run, problems)
    problems.check()


def combined_tables(result: StudyResult) -> dict[str, Table]:
    """Every table of :data:`TABLES` with the baseline's rows first, then the managed run's."""
    return {
        name: {
            column: np.concatenate(
                [result.baseline.tables[name][column], result.managed.tables[name][column]]
            )
            for column in columns
        }
        for name, columns in TABLES.items()
    }


def kpis_json(result: StudyResult) -> bytes:
    """The study's name, seed and KPIs as sorted, indented JSON (NaN as null)."""
    document = {"study": result.study, "seed": result.seed, "kpis": plain(result.kpis)}
    text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def plain(value: Any) -> Any:
    """``value`` as JSON values: NumPy scalars and arrays unwrapped, NaN and infinities null."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(item) for item in value]
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _check_run(run: RunResult, problems: Problems) -> None:
    path = f"$.{run.run}.tables"
    for name in TABLES:
        table = run.tables.get(name)
        if table is None:
            problems.add(f"{path}.{name}", "missing_table", "the run has no such table")
            continue
        for message in table_problems(name, table):
            problems.add(f"{path}.{name}", "malformed_table", message)
        runs = table.get("run")
        if runs is not None and len(runs) and not bool(np.all(runs == run.run)):
            problems.add(f"{path}.{name}.run", "wrong_run", f"rows of another run than {run.run}")
    for name in run.tables:
        if name not in TABLES:
            problems.add(f"{path}.{name}", "unknown_table", f"known: {', '.join(TABLES)}")
