"""``osed demo --serve`` as a user runs it: the small scenario played, its summary on standard
output, then the dashboard served on its results (the address on standard error) until
SIGINT, which stops it cleanly. The served API holds the study's network, its busiest step as
the estimate, its tables as time series, and the report; the dashboard opens in Chromium."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "dashboard"
ADDRESS = re.compile(r"dashboard: (http://\S+)")


def test_the_demo_serves_its_results_until_interrupted(tmp_path: Path) -> None:
    started = time.monotonic()
    command = ["demo", "--scenario", "small", "--out", "out", "--serve"]
    process = subprocess.Popen(
        [sys.executable, "-m", "osed.cli", *command],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if ADDRESS.search(line):
                found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert found.wait(240), "".join(lines)[-2000:]
        url = next(m.group(1) for line in lines if (m := ADDRESS.search(line)))
        address = urlsplit(url)
        assert address.hostname == "127.0.0.1"
        token = address.fragment.removeprefix("token=")
        base = f"{address.scheme}://{address.netloc}"
        auth = {"Authorization": f"Bearer {token}"}

        assert httpx.get(f"{base}/api/v1/network").status_code == 401
        assert httpx.get(f"{base}/api/v1/me", headers=auth).json()["roles"] == ["operator"]
        estimate = httpx.get(f"{base}/api/v1/network/estimate", headers=auth).json()
        assert len(estimate["nodes"]) >= 8
        voltages = [v["voltage_min_pu"] for v in estimate["nodes"].values()]
        assert all(0.8 < v < 1.2 for v in voltages)
        assert estimate["branches"]
        listed = httpx.get(
            f"{base}/api/v1/series",
            params={"match": "study/managed/grid/#", "limit": 100},
            headers=auth,
        ).json()["items"]
        assert {i["series_id"]: i["unit"] for i in listed}[
            "study/managed/grid/area_import_kw"
        ] == "kW"
        config = httpx.get(f"{base}/dashboard/config.json").json()
        assert config["series"]["node"] == ["study/+/bus/{id}/#"]
        points = httpx.get(
            f"{base}/api/v1/series/data",
            params={
                "series": "study/managed/grid/area_import_kw",
                "start": config["time_range"]["start"],
                "end": config["time_range"]["end"],
            },
            headers=auth,
        ).json()["items"]
        assert len(points) == 96  # a day at 15 minutes
        report = httpx.get(f"{base}/dashboard/report.html")
        assert "<svg" in report.text

        assert CHROMIUM.exists(), "Debian's chromium is needed (scripts/test installs it)"
        errors: list[str] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
            try:
                page = browser.new_page(viewport={"width": 1366, "height": 768})
                page.set_default_timeout(10_000)
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda error: errors.append(str(error)))
                page.goto(url)
                page.wait_for_selector(".view[data-view=network][data-ready=true]")
                coloured = page.eval_on_selector_all(
                    "svg.network circle.node", "nodes => nodes.map(n => n.dataset.voltage)"
                )
                assert len(coloured) >= 8
                assert all(value for value in coloured)  # every node has its estimate
                page.locator("svg.network circle.node").nth(3).click()
                page.wait_for_selector("#detail svg.chart path.series")
                assert "/managed/" in page.locator("#detail select").input_value()
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
            finally:
                browser.close()
        assert errors == []
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        reader.join(5)
    assert code == 0, "".join(lines)[-2000:]
    assert process.stdout is not None
    summary = json.loads(process.stdout.read())
    assert summary["scenario"] == "small"
    assert summary["kpis"]["ledger_verified"] is True
    assert "Traceback" not in "".join(lines)
    assert time.monotonic() - started < 120


@pytest.mark.parametrize("port", ["-1", "x"])
def test_a_bad_port_is_refused_before_the_study_runs(tmp_path: Path, port: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "osed.cli", "demo", "--serve", "--port", port, "--out", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "--port" in done.stderr
    assert not (tmp_path / "out").exists()
