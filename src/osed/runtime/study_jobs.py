"""One scenario run as it plays in a worker process of its own: the checked plan in, the
study played (baseline and managed, :func:`osed.sim.runner.run_study`), its outputs written
under the runs folder, its KPIs out.

The outputs (``report.html``, ``data/<table>.parquet|csv``, ``data/kpis.json``) are written
into a hidden folder beside the run's and renamed to ``<runs>/<id>`` when complete, so a
reader sees a run's folder whole or not at all; a stopped or crashed run leaves no folder.
A second attempt (after a worker died) finds the folder of the first, when it got that far,
and keeps it: the same plan gives the same bytes. Progress goes to
``<runs>/progress/<id>.json`` at most twice a second.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from osed.ports.jobs import Job
from osed.sim.atomic_files import write_atomic
from osed.sim.outputs import plain, write_outputs
from osed.sim.report import write_report
from osed.sim.results import TABLES
from osed.sim.runner import run_study
from osed.sim.scenario import bundled_scenario, materialise
from osed.sim.scenario_reader import Scenario, read_scenario

KIND = "study"
PROGRESS_EVERY_S = 0.5


def job_input(job: Job, runs: Path) -> bytes:
    """What the worker process gets: where the run writes, then the job's payload."""
    header = json.dumps({"id": job.job_id, "runs": str(runs)}).encode()
    return header + b"\n" + job.payload


def run_folder(runs: Path, study_id: int) -> Path:
    return runs / str(study_id)


def progress_file(runs: Path, study_id: int) -> Path:
    return runs / "progress" / f"{study_id}.json"


def plan_scenario(plan: dict[str, Any]) -> Scenario:
    """The scenario a payload names, with the plan's seed."""
    source = plan["source"]
    if source == "bundled":
        document = yaml.safe_load(bundled_scenario(plan["scenario"]).read_text(encoding="utf-8"))
    elif source == "text":
        document = yaml.safe_load(plan["scenario"])
    else:
        document = plan["scenario"]
    return replace(read_scenario(document), seed=int(plan["seed"]))


class _Progress:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._last = 0.0
        path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_EVERY_S and done < total:
            return
        self._last = now
        document = json.dumps({"steps_done": done, "steps": total}).encode()
        write_atomic(self._path, [document])


def run_study_job(data: bytes) -> bytes:
    """Play the run ``data`` describes (:func:`job_input`); its KPIs and tables as JSON."""
    os.dup2(2, 1)  # what the solvers print goes with the logs, never to the service's output
    header, payload = data.split(b"\n", 1)
    where = json.loads(header)
    study_id, runs = int(where["id"]), Path(where["runs"])
    study = materialise(plan_scenario(json.loads(payload)))
    result = run_study(study, progress=_Progress(progress_file(runs, study_id)))
    folder = run_folder(runs, study_id)
    if not folder.is_dir():
        partial = runs / f".{study_id}.partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        write_outputs(result, partial / "data")
        write_report(result, partial / "report.html")
        try:
            os.rename(partial, folder)
        except OSError:  # another attempt's folder came first: the same bytes
            shutil.rmtree(partial, ignore_errors=True)
    progress_file(runs, study_id).unlink(missing_ok=True)  # done: the status says the rest
    document = {"kpis": plain(result.kpis), "tables": list(TABLES)}
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
