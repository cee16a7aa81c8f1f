"""The study's data files: loadable with one pandas call, identical bytes, whole or absent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osed.domain.errors import ValidationError
from osed.sim.atomic_files import write_atomic
from osed.sim.outputs import combined_tables, write_outputs
from osed.sim.results import TABLES, TEXT_COLUMNS
from tests.unit.sim.synthetic_results import synthetic_result

FLOAT_COLUMNS = {
    name: [c for c in columns if c != "time_utc" and c not in TEXT_COLUMNS]
    for name, columns in TABLES.items()
}


def _expected(name: str) -> pd.DataFrame:
    table = combined_tables(synthetic_result())[name]
    frame = pd.DataFrame({column: table[column] for column in TABLES[name]})
    frame["time_utc"] = pd.to_datetime(frame["time_utc"]).dt.tz_localize("UTC")
    return frame


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    folder = tmp_path_factory.mktemp("outputs")
    return folder, write_outputs(synthetic_result(), folder)


def test_every_table_is_written_as_parquet_and_csv_with_the_kpis(
    written: tuple[Path, list[Path]],
) -> None:
    folder, paths = written
    expected = [folder / f"{name}.{ext}" for name in TABLES for ext in ("parquet", "csv")]
    assert paths == [*expected, folder / "kpis.json"]
    assert sorted(os.listdir(folder)) == sorted(path.name for path in paths)


@pytest.mark.parametrize("name", list(TABLES))
def test_parquet_loads_with_one_call_tz_aware_with_nans_kept(
    written: tuple[Path, list[Path]], name: str
) -> None:
    frame = pd.read_parquet(written[0] / f"{name}.parquet")
    assert list(frame.columns) == list(TABLES[name])
    assert str(frame["time_utc"].dtype) == "datetime64[ns, UTC]"
    pd.testing.assert_frame_equal(frame, _expected(name), check_dtype=False)


@pytest.mark.parametrize("name", list(TABLES))
def test_csv_loads_with_one_call_tz_aware_and_floats_exact(
    written: tuple[Path, list[Path]], name: str
) -> None:
    frame = pd.read_csv(written[0] / f"{name}.csv", parse_dates=["time_utc"])
    assert list(frame.columns) == list(TABLES[name])
    assert str(frame["time_utc"].dtype).startswith("datetime64[")
    assert "UTC" in str(frame["time_utc"].dtype)
    expected = _expected(name)
    assert (frame["time_utc"] == expected["time_utc"]).all()
    exact = pd.read_csv(written[0] / f"{name}.csv", float_precision="round_trip")
    for column in FLOAT_COLUMNS[name]:  # NaN where the run had nothing
        wanted = expected[column].to_numpy()
        # pandas' default parser may miss the last bit; its round-trip parser does not.
        np.testing.assert_allclose(frame[column].to_numpy(float), wanted, rtol=1e-14, atol=0)
        np.testing.assert_array_equal(exact[column].to_numpy(float), wanted)
    for column in TEXT_COLUMNS & set(TABLES[name]):  # an empty text reads back as NaN
        assert frame[column].fillna("").tolist() == expected[column].tolist()


def test_nans_are_where_households_have_no_device(written: tuple[Path, list[Path]]) -> None:
    frame = pd.read_parquet(written[0] / "households.parquet")
    batteries = frame.groupby("household")["battery_soc"].apply(lambda s: s.notna().all())
    assert batteries.to_dict() == {f"h{i}": i % 2 == 1 for i in range(6)}


def test_kpis_json_holds_the_study_seed_and_kpis(written: tuple[Path, list[Path]]) -> None:
    document = json.loads((written[0] / "kpis.json").read_text("utf-8"))
    assert document["study"] == "synthetic feeder"
    assert document["seed"] == 7
    assert document["kpis"]["ledger_verified"] is True
    assert document["kpis"]["voltage_violations"] == {"baseline": 12, "managed": 0}


def test_kpis_json_writes_numpy_values_and_nan_as_null(tmp_path: Path) -> None:
    result = synthetic_result()
    result.kpis = {"peak_kw": np.float64("nan"), "steps": np.int64(96), "series": np.ones(2)}
    write_outputs(result, tmp_path)
    kpis = json.loads((tmp_path / "kpis.json").read_text("utf-8"))["kpis"]
    assert kpis == {"peak_kw": None, "steps": 96, "series": [1.0, 1.0]}


def test_the_same_result_gives_the_same_bytes(tmp_path: Path) -> None:
    first = write_outputs(synthetic_result(), tmp_path / "a")
    second = write_outputs(synthetic_result(), tmp_path / "b")
    for one, other in zip(first, second, strict=True):
        assert one.read_bytes() == other.read_bytes(), one.name


def test_a_different_result_gives_different_bytes(tmp_path: Path) -> None:
    first = write_outputs(synthetic_result(seed=1), tmp_path / "a")
    second = write_outputs(synthetic_result(seed=2), tmp_path / "b")
    assert first[2].read_bytes() != second[2].read_bytes()  # buses.parquet: noisy estimates


def test_a_malformed_result_names_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    result = synthetic_result()
    del result.baseline.tables["prices"]
    grid = result.managed.tables["grid"]
    grid["time_utc"] = grid["time_utc"].astype("datetime64[s]")
    result.managed.tables["activity"]["run"][:] = "baseline"
    with pytest.raises(ValidationError) as error:
        write_outputs(result, tmp_path / "out")
    assert sorted(str(problem) for problem in error.value.problems) == [
        "$.baseline.tables.prices: the run has no such table [missing_table]",
        "$.managed.tables.activity.run: rows of another run than managed [wrong_run]",
        "$.managed.tables.grid: grid.time_utc: datetime64[s], expected datetime64[ns] "
        "[malformed_table]",
    ]
    assert not (tmp_path / "out").exists()


def test_an_interrupted_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "grid.csv"

    def interrupted() -> object:
        yield b"time_utc,run\n"
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, interrupted())  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def test_an_interrupted_rewrite_keeps_the_previous_file(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "kpis.json", [b"{}\n"])

    def failing() -> object:
        yield b'{"half": '
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, failing())  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == ["kpis.json"]
    assert target.read_bytes() == b"{}\n"


def test_ctrl_c_just_as_the_temporary_file_is_created_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def open_then_interrupt(path: str, flags: int, mode: int = 0o777) -> int:
        os.close(real_open(path, flags, mode))
        raise KeyboardInterrupt  # what a signal pending during the call raises on its return

    monkeypatch.setattr(os, "open", open_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(tmp_path / "a.csv", [b"x\n"])
    assert os.listdir(tmp_path) == []


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / "a.csv", [b"x\n"])
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(finite_or_not, min_size=1, max_size=20))
def test_csv_and_parquet_read_back_any_float_exactly(values: list[float]) -> None:
    import tempfile

    result = synthetic_result(steps=len(values), households=1)
    result.managed.tables["grid"]["area_import_kw"] = np.array(values, dtype=np.float64)
    with tempfile.TemporaryDirectory() as folder:
        write_outputs(result, Path(folder))
        for frame in (
            pd.read_csv(Path(folder) / "grid.csv", float_precision="round_trip"),
            pd.read_parquet(Path(folder) / "grid.parquet"),
        ):
            managed = frame[frame["run"] == "managed"]["area_import_kw"].to_numpy(float)
            np.testing.assert_array_equal(managed, np.array(values))


_WRITE_FOREVER = """
import sys
from pathlib import Path
from osed.sim.outputs import write_outputs
from tests.unit.sim.synthetic_results import synthetic_result
result, folder = synthetic_result(households=300), Path(sys.argv[1])
write_outputs(result, folder)
print("written", flush=True)
while True:
    write_outputs(result, folder)
"""


def test_ctrl_c_during_a_write_leaves_only_whole_files(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[3]
    folder = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITE_FOREVER, str(folder)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "written\n"
    time.sleep(0.3)  # somewhere inside a later write
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("one Ctrl-C did not stop the writer")
    assert "KeyboardInterrupt" in stderr
    names = sorted(os.listdir(folder))
    assert names == sorted([f"{n}.{e}" for n in TABLES for e in ("parquet", "csv")] + ["kpis.json"])
    for name in TABLES:
        assert len(pd.read_parquet(folder / f"{name}.parquet")) == len(
            pd.read_csv(folder / f"{name}.csv")
        )
    json.loads((folder / "kpis.json").read_text("utf-8"))
