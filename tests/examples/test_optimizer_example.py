"""examples/optimizer: `osed optimize` on the community-day balancing request; standard output
is the result alone, and the schedule it prints keeps the balance, the limits and the targets
it was given, at the cost it reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUEST = ROOT / "examples" / "optimizer" / "community-day.json"


def test_the_balancer_example_is_solved_and_its_schedule_holds() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "osed.cli", "optimize", str(REQUEST)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)  # the whole of standard output
    request = json.loads(REQUEST.read_text())
    assert result["status"] == "optimal"
    grid = result["grid"]
    [battery] = result["batteries"]
    spec = request["batteries"][0]
    hours = request["step_minutes"] / 60
    for t, load in enumerate(request["load_kw"]):
        net = load - request["pv_kw"][t] + battery["power_kw"][t]
        assert grid["net_kw"][t] == pytest.approx(net, abs=1e-6)
        assert grid["import_kw"][t] - grid["export_kw"][t] == pytest.approx(net, abs=1e-6)
        assert request["net_limits"]["lower_kw"][t] - 1e-6 <= net
        assert net <= request["net_limits"]["upper_kw"][t] + 1e-6
        assert -spec["discharge_max_kw"] - 1e-6 <= battery["power_kw"][t]
        assert battery["power_kw"][t] <= spec["charge_max_kw"] + 1e-6
    soc = battery["soc_pct"]
    assert soc[0] == pytest.approx(spec["soc_initial_pct"], abs=1e-6)
    assert soc[-1] == pytest.approx(spec["soc_final_pct"], abs=1e-6)
    assert min(soc) >= spec["soc_min_pct"] - 1e-6
    assert max(soc) <= spec["soc_max_pct"] + 1e-6
    prices = request["objective"]
    cost = sum(
        (grid["import_kw"][t] * prices["import_price"][t])
        - (grid["export_kw"][t] * prices["export_price"][t])
        for t in range(len(request["load_kw"]))
    )
    assert result["objective"]["value"] == pytest.approx(cost * hours, rel=1e-6)
    # The battery earns its keep: without it the same day costs more.
    plain = sum(
        max(load - pv, 0) * prices["import_price"][t]
        - max(pv - load, 0) * prices["export_price"][t]
        for t, (load, pv) in enumerate(zip(request["load_kw"], request["pv_kw"], strict=True))
    )
    assert result["objective"]["value"] < plain * hours - 1.0
