"""``osed series list | query`` as a user runs them, on the SQLite store of the settings:
standard output parsed whole (JSON or CSV), problems on standard error."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from osed.cli.series import points_in_windows
from osed.ports.timeseries import Quality, TimeSeriesPoint
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore

T0 = datetime(2026, 7, 1, tzinfo=UTC)
VOLTAGE = "pmu1/node-1/voltmagnitude/A"
FREQUENCY = "pmu1/node-1/frequency/A"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "osed.sqlite"
    points = [
        TimeSeriesPoint(VOLTAGE, T0 + k * timedelta(minutes=1), 230.0 + k, "V", T0, "bridge")
        for k in range(30)
    ]
    points += [
        TimeSeriesPoint(FREQUENCY, T0 + k * timedelta(minutes=1), 50.0, "Hz", T0, "bridge")
        for k in range(30)
    ]
    points.append(
        TimeSeriesPoint("pmu2/x/voltmagnitude/A", T0, 1e6, "V", T0, "bridge", Quality.BAD)
    )
    with SqliteTimeSeriesStore(path) as opened:
        opened.write(points)
    return path


def osed(store: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osed.cli", "series", *argv],
        env=dict(os.environ, OSED_STORAGE__SQLITE_PATH=str(store)),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=store.parent if store.parent.is_dir() else None,
        check=False,
    )


def test_list_names_every_series_with_its_unit(store: Path) -> None:
    done = osed(store, "list")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "series": [
            {"series_id": FREQUENCY, "unit": "Hz"},
            {"series_id": VOLTAGE, "unit": "V"},
            {"series_id": "pmu2/x/voltmagnitude/A", "unit": "V"},
        ]
    }


def test_query_aggregates_per_bucket_from_the_start(store: Path) -> None:
    done = osed(
        store, "query", "--series", "+/+/voltmagnitude/#", "--start", "2026-07-01T00:05Z",
        "--end", "2026-07-01T02:35+02:00", "--every", "10min", "--agg", "mean", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["every"], result["aggregate"]) == ("PT10M", "mean")
    assert result["end"] == "2026-07-01T00:35:00Z"  # +02:00 said in UTC
    first, bad_only = result["series"]
    assert first["series_id"] == VOLTAGE
    assert [p["time"] for p in first["points"]] == [
        "2026-07-01T00:05:00Z",
        "2026-07-01T00:15:00Z",
        "2026-07-01T00:25:00Z",
    ]
    assert [p["count"] for p in first["points"]] == [10, 10, 5]
    assert [p["value"] for p in first["points"]] == pytest.approx([239.5, 249.5, 257.0])
    assert bad_only == {"series_id": "pmu2/x/voltmagnitude/A", "unit": "V", "points": []}


def test_query_prints_raw_points_as_csv(store: Path) -> None:
    done = osed(
        store, "query", "--series", FREQUENCY, "--start", "2026-07-01T00:00Z",
        "--end", "2026-07-01T00:02Z", "--format", "csv",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(r["time"], float(r["value"]), r["unit"], r["quality"]) for r in rows] == [
        ("2026-07-01T00:00:00Z", 50.0, "Hz", "good"),
        ("2026-07-01T00:01:00Z", 50.0, "Hz", "good"),
    ]


def test_bad_options_are_named_together_and_nothing_is_printed(store: Path) -> None:
    done = osed(
        store, "query", "--series", "#", "--start", "2026-07-01T00:00", "--end", "yesterday",
        "--every", "5 fortnights",
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    for option in ("--start:", "--end:", "--every:"):
        assert option in done.stderr
    done = osed(store, "query", "--series", "#", "--start", "2026-07-01T00:00Z",
                "--end", "2026-07-02T00:00Z", "--agg", "max")  # fmt: skip
    assert done.returncode == 2
    assert "--agg: aggregates per bucket: give --every too" in done.stderr


def test_no_matching_series_and_no_store_are_clear_errors(store: Path, tmp_path: Path) -> None:
    done = osed(store, "query", "--series", "nothing/#", "--start", "2026-07-01T00:00Z",
                "--end", "2026-07-02T00:00Z")  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert "no stored series matches nothing/#" in done.stderr
    missing = tmp_path / "elsewhere" / "osed.sqlite"
    done = osed(missing, "list")
    assert done.returncode == 1
    assert f"no time-series store at {missing}" in done.stderr
    assert not missing.parent.exists()  # nothing created


def test_raw_points_read_in_windows_are_the_points_of_one_read(tmp_path: Path) -> None:
    # Bursts and silences: windows must shrink and grow without losing or repeating a point.
    offsets = [k * 0.01 for k in range(300)] + [3600 * 30 + k for k in range(50)]
    offsets += [86400 * 9 + k * 0.001 for k in range(400)]
    points = [
        TimeSeriesPoint(VOLTAGE, T0 + timedelta(seconds=o), float(i), "V", T0, "bridge")
        for i, o in enumerate(offsets)
    ]
    with SqliteTimeSeriesStore(tmp_path / "ts.sqlite") as store:
        store.write(points)
        end = T0 + timedelta(days=10)
        whole = store.read(VOLTAGE, T0, end)
        windowed = list(points_in_windows(store, VOLTAGE, T0, end, per_read=16))
    assert len(whole) == len(points)
    assert windowed == whole
