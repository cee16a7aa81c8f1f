"""``osed optimize`` as a user runs it (a subprocess, standard output parsed whole): files
above the size limit are refused before they are read, and the time budget covers reading,
parsing, model building and solving."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.unit.optimizer.balancer_cases import osed_document
from tests.unit.optimizer_service.long_solves import long_request

GRACE_S = 1.0  # the hard stop after the budget
SLACK_S = 1.0  # scheduling noise on a busy machine


def osed(*argv: str, stdin: bytes | None = None) -> tuple[int, str, str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "osed.cli", "optimize", *argv],
        input=stdin,
        capture_output=True,
        check=False,
    )
    wall = time.monotonic() - started
    return done.returncode, done.stdout.decode(), done.stderr.decode(), wall


def write(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document))
    return str(path)


def test_a_file_above_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    small = write(tmp_path / "small.json", osed_document())
    code, out, err, _ = osed(small, "--max-request-mb", "0.0001")
    assert code == 2
    assert out == ""
    assert "too_large" in err
    assert small in err
    assert "Traceback" not in err


def test_the_default_limit_refuses_a_9_mb_file_and_standard_input(tmp_path: Path) -> None:
    # Valid JSON padded with spaces: only its size is wrong.
    padded = json.dumps(osed_document()).encode() + b" " * (9 * 2**20)
    path = tmp_path / "large.json"
    path.write_bytes(padded)
    for argv, stdin in (([str(path)], None), (["-"], padded)):
        code, out, err, _ = osed(*argv, stdin=stdin)
        assert code == 2
        assert out == ""
        assert "too_large" in err
        assert "--max-request-mb 8" in err


def test_the_limit_takes_a_larger_file_when_raised(tmp_path: Path) -> None:
    padded = json.dumps(osed_document()).encode() + b" " * (9 * 2**20)
    path = tmp_path / "large.json"
    path.write_bytes(padded)
    code, out, _, _ = osed(str(path), "--max-request-mb", "10")
    assert code == 0
    assert json.loads(out)["status"] == "optimal"


def test_the_time_budget_covers_everything_and_ends_with_time_limit(tmp_path: Path) -> None:
    # The start-up of the command (imports) is outside the budget: measure it on a request
    # that solves at once, then give a long one a budget of one second.
    quick = write(tmp_path / "quick.json", osed_document())
    code, out, _, baseline = osed(quick)
    assert code == 0
    assert json.loads(out)["status"] == "optimal"
    budget = 1.0
    long = write(tmp_path / "long.json", long_request("budget", steps=40_000))
    code, out, err, wall = osed(long, "--time-limit", str(budget))
    assert code == 1
    assert wall <= baseline + budget + GRACE_S + SLACK_S
    if out:  # the budget was seen between phases: a result that says so
        result = json.loads(out)
        assert result["status"] == "time_limit"
        assert result["conflicts"][0]["requirement"] == "time_limit"
    else:  # HiGHS overran: the command was stopped
        assert "time_limit" in err


def test_a_budget_that_is_not_a_positive_number_is_refused(tmp_path: Path) -> None:
    request = write(tmp_path / "r.json", osed_document())
    for bad in ("0", "-1", "inf", "nan", "soon"):
        code, out, err, _ = osed(request, "--time-limit", bad)
        assert code == 2
        assert out == ""
        assert "--time-limit" in err
