"""``osed run edc-manager`` with the grid intelligence: it starts with the network's areas,
and settings it cannot run with fail fast, naming every problem, with nothing written."""

import os
import subprocess
import sys
from pathlib import Path

from tests.integration.runtime.test_serve import free_port
from tests.integration.runtime.test_serve_edc import NETWORK, start, stop


def test_run_edc_manager_starts_the_intelligence(tmp_path: Path) -> None:
    health, api = free_port(), free_port()
    env = dict(
        os.environ,
        OSED_HEALTH__PORT=str(health),
        OSED_EDC__PORT=str(api),
        OSED_EDC__SQLITE_PATH=str(tmp_path / "edc.sqlite"),
        OSED_EDC__NETWORK=str(NETWORK),
        OSED_INTELLIGENCE__ENABLED="true",
    )
    process = start(env, tmp_path / "state", health)
    try:
        stop(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.stderr is not None
    assert b"Traceback" not in process.stderr.read()


def run_with(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OSED_EDC__SQLITE_PATH=str(tmp_path / "edc.sqlite"), **settings)
    return subprocess.run(
        [sys.executable, "-m", "osed.cli", "run", "edc-manager", "--state-dir", "state"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )


def test_bad_intelligence_settings_fail_fast_naming_every_problem(tmp_path: Path) -> None:
    done = run_with(
        tmp_path,
        OSED_INTELLIGENCE__ENABLED="true",
        OSED_INTELLIGENCE__LOADING_CLEAR="1.5",
        OSED_INTELLIGENCE__VOLTAGE_LOW_CLEAR="0.9",
    )
    assert done.returncode == 2
    assert "$.intelligence.loading_clear" in done.stderr
    assert "$.intelligence.voltage_low_clear" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert not list(tmp_path.iterdir())
    done = run_with(tmp_path, OSED_INTELLIGENCE__ENABLED="true")
    assert done.returncode == 2
    assert "$.intelligence.network" in done.stderr
    assert not list(tmp_path.iterdir())  # not even the EDC store was opened
