"""``osed run edc-manager`` as a real process: its API asks for a token (``osed token create``
prints one), creates an EDC at an element of the configured network, refuses one that is not
in it, and a restarted process still has the EDC."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.integration.runtime.test_serve import free_port, readiness

NETWORK = Path(__file__).parents[3] / "examples" / "grid" / "cigre-mv.json"


def call(
    port: int, method: str, path: str, body: Any = None, *, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "Idempotency-Key": "k-1"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def start(env: dict[str, str], state: Path, health: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "osed.cli", "run", "edc-manager", "--state-dir", str(state)],
        env=env,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    ready = None
    while time.monotonic() < deadline and not (ready and ready.get("ready")):
        ready = readiness(health)
        time.sleep(0.1)
    assert ready == {"ready": True, "services": {"bus": True, "edc-manager": True}}
    return process


def operator_token(env: dict[str, str], state: Path) -> str:
    printed = subprocess.run(
        [sys.executable, "-m", "osed.cli", "token", "create", "--role", "operator",
         "--subject", "ops", "--state-dir", str(state), "--json"],
        env=env, capture_output=True, check=True,
    )  # fmt: skip
    return str(json.loads(printed.stdout)["access_token"])


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_run_edc_manager_serves_the_api_and_keeps_edcs_across_restarts(tmp_path: Path) -> None:
    health, api = free_port(), free_port()
    env = dict(
        os.environ,
        OSED_HEALTH__PORT=str(health),
        OSED_EDC__PORT=str(api),
        OSED_EDC__SQLITE_PATH=str(tmp_path / "edc.sqlite"),
        OSED_EDC__NETWORK=str(NETWORK),
    )
    process = start(env, tmp_path / "state", health)
    try:
        token = operator_token(env, tmp_path / "state")
        edc = {"id": "mv-1", "element": "trafo0"}
        status, problem = call(api, "POST", "/api/v1/edcs", edc)
        assert (status, problem["type"]) == (401, "urn:osed:problem:unauthenticated")
        status, created = call(api, "POST", "/api/v1/edcs", edc, token=token)
        assert (status, created["element"]) == (201, "trafo0")
        status, refused = call(
            api, "POST", "/api/v1/edcs", {"id": "mv-2", "element": "trafo9"}, token=token
        )
        assert status == 422
        assert [p["path"] for p in refused["problems"]] == ["$.element"]
        stop(process)
        process = start(env, tmp_path / "state", health)
        status, listed = call(api, "GET", "/api/v1/edcs", token=token)
        assert [edc["id"] for edc in listed["items"]] == ["mv-1"]
        stop(process)
    finally:
        if process.poll() is None:
            process.kill()
