"""Scenario runs (the :class:`~osed.ports.studies.StudyRuns` port) on the job store, and the
``studies`` service whose worker processes play them.

A request is checked here, whole, before it is queued: the scenario document read as
``osed demo`` reads a file (every problem with its path, under ``$.scenario``), except that
a network file on the server is never read (a generated network or a pandapower network by
name). The job's payload is the plan (the scenario as it came, its seed); a worker of the
balancer's pool (:class:`osed.optimizer_service.workers.WorkerPool`) claims it and plays it
in a process of its own (:mod:`osed.runtime.study_jobs`), which a cancel stops and whose
crash fails the run. The outputs live in ``<runs>/<id>/`` (``studies.runs_dir``, by default
``<state folder>/studies``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from osed.domain.errors import NotFoundError, Problem, ValidationError
from osed.domain.problems import Problems
from osed.domain.time import Clock
from osed.optimizer_service.workers import WorkerPool
from osed.ports.jobs import Job, JobStatus, JobStore
from osed.ports.studies import (
    NoResultError,
    StudyPlan,
    StudyProgress,
    StudyRequest,
    StudyRun,
    TableFormat,
)
from osed.runtime import container
from osed.runtime.settings import Settings
from osed.runtime.study_jobs import (
    KIND,
    job_input,
    progress_file,
    run_folder,
    run_study_job,
)
from osed.sim.scenario import bundled_scenario
from osed.sim.scenario_reader import read_scenario

BUNDLED = ("default", "small", "city")
SUBJECT = "study"
MAX_SEED = 2**63 - 1
_UNREADABLE = object()


def _inside(problem: Problem) -> Problem:
    """A problem of the scenario document as one of the request's ``scenario`` member."""
    return Problem("$.scenario" + problem.path[1:], problem.code, problem.message)


def _server_files(document: Mapping[str, Any]) -> list[Problem]:
    """Networks the scenario would read from the server's disk: refused."""
    network = document.get("network")
    if not isinstance(network, Mapping):
        return []
    problems = []
    if "cgmes" in network:
        problems.append(
            Problem("$.scenario.network.cgmes", "server_file", "files on the server are not read")
        )
    spec = network.get("pandapower")
    if isinstance(spec, str) and (spec.endswith(".json") or "/" in spec):
        problems.append(
            Problem(
                "$.scenario.network.pandapower",
                "server_file",
                "files on the server are not read: name a pandapower network (pandapower:<name>)",
            )
        )
    return problems


def check_request(request: StudyRequest) -> StudyPlan:
    """The plan of a request, or a :class:`ValidationError` naming every problem."""
    problems = Problems(SUBJECT)
    if (request.scenario is None) == (request.bundled is None):
        problems.add("$", "one_source", "give either scenario or bundled")
    seed = request.seed
    if seed is not None and (type(seed) is not int or not 0 <= seed <= MAX_SEED):
        problems.add("$.seed", "out_of_range", f"an integer from 0 to {MAX_SEED}")
    source: str = ""
    kept: str | dict[str, Any] | None = None
    document: Any = None
    if request.bundled is not None:
        if request.bundled not in BUNDLED:
            problems.add("$.bundled", "unknown_scenario", f"one of {', '.join(BUNDLED)}")
        else:
            source, kept = "bundled", request.bundled
            text = bundled_scenario(request.bundled).read_text(encoding="utf-8")
            document = yaml.safe_load(text)
    elif isinstance(request.scenario, str):
        kept = request.scenario
        document = _parsed(request.scenario, problems)
        source = "" if document is _UNREADABLE else "text"
    elif isinstance(request.scenario, Mapping):
        source, kept, document = "document", dict(request.scenario), request.scenario
    elif request.scenario is not None:
        problems.add("$.scenario", "wrong_type", "YAML or JSON text, or an object")
    scenario = None
    if source:
        files = _server_files(document) if isinstance(document, Mapping) else []
        problems.extend(files)
        if not files:
            try:
                scenario = read_scenario(document)
            except ValidationError as exc:
                problems.extend([_inside(p) for p in exc.problems])
    used = 0
    if scenario is not None:
        used = scenario.seed if seed is None else seed
        plan = {
            "source": source,
            "scenario": kept,
            "seed": used,
            "name": scenario.name,
            "households": len(scenario.household_buses),
            "steps": scenario.steps,
        }
        try:
            payload = json.dumps(plan, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except ValueError:
            problems.add("$.scenario", "not_finite", "holds NaN or an infinity")
    problems.check()
    assert scenario is not None
    return StudyPlan(
        scenario=scenario.name,
        seed=used,
        households=len(scenario.household_buses),
        steps=scenario.steps,
        payload=payload.encode(),
    )


def _parsed(text: str, problems: Problems) -> Any:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}: " if mark else ""
        problems.add("$.scenario", "bad_yaml", f"not YAML or JSON: {where}{exc}")
        return _UNREADABLE
    except RecursionError:
        problems.add("$.scenario", "too_deep", "nested too deeply")
        return _UNREADABLE
    return document


class JobStudies:
    """The port over a job store (one connection: use it from one thread, as the API's
    event loop does) and the runs folder the workers write."""

    def __init__(self, store: JobStore, runs: Path) -> None:
        self._store = store
        self._runs = runs

    def check(self, request: StudyRequest) -> StudyPlan:
        return check_request(request)

    def submit(self, plan: StudyPlan, *, idempotency_key: str, now: datetime) -> StudyRun:
        job = self._store.submit(
            KIND, plan.payload, idempotency_key=idempotency_key, submitted_at=now
        )
        return self._run(job)

    def get(self, study_id: int) -> StudyRun:
        job = self._store.get(study_id)
        if job.kind != KIND:
            raise NotFoundError(f"no study {study_id}")
        return self._run(job)

    def runs(
        self, *, status: JobStatus | None = None, before: int | None = None, limit: int = 100
    ) -> list[StudyRun]:
        jobs = self._store.jobs(kind=KIND, status=status, before=before, limit=limit)
        return [self._run(job) for job in jobs]

    def cancel(self, study_id: int, *, now: datetime) -> StudyRun:
        self.get(study_id)  # another kind's job is none of ours
        return self._run(self._store.cancel(study_id, now=now))

    def report(self, study_id: int) -> Path:
        return self._output(self.get(study_id), Path("report.html"))

    def table(self, study_id: int, name: str, format: TableFormat) -> Path:
        run = self.get(study_id)
        if run.status is JobStatus.SUCCEEDED and name not in run.tables:
            known = ", ".join(run.tables)
            raise NotFoundError(f"study {study_id} has no table {name!r} (it has {known})")
        return self._output(run, Path("data") / f"{name}.{format}")

    def close(self) -> None:
        self._store.close()

    def _output(self, run: StudyRun, relative: Path) -> Path:
        if run.status is not JobStatus.SUCCEEDED:
            raise NoResultError(run)
        path = run_folder(self._runs, run.study_id) / relative
        if not path.is_file():
            raise NotFoundError(f"the outputs of study {run.study_id} are no longer on disk")
        return path

    def _run(self, job: Job) -> StudyRun:
        plan = json.loads(job.payload)
        result = json.loads(job.result) if job.result is not None else {}
        return StudyRun(
            study_id=job.job_id,
            status=job.status,
            scenario=str(plan["name"]),
            seed=int(plan["seed"]),
            households=int(plan["households"]),
            steps=int(plan["steps"]),
            submitted_at=job.submitted_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            cancel_requested=job.cancel_requested,
            progress=self._progress(job) if job.status is JobStatus.RUNNING else None,
            kpis=result.get("kpis"),
            tables=tuple(result.get("tables", ())),
            error=job.error,
        )

    def _progress(self, job: Job) -> StudyProgress | None:
        try:
            document = json.loads(progress_file(self._runs, job.job_id).read_bytes())
            return StudyProgress(int(document["steps_done"]), int(document["steps"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # not reported yet


class StudiesRunner:
    """The ``studies`` service: the worker pool that plays queued runs, each in a process of
    its own, and the port the platform API serves them through."""

    name = "studies"
    bundled = BUNDLED

    def __init__(self, settings: Settings, clock: Clock, state_dir: Path) -> None:
        config = settings.studies
        container.build_jobs(settings).close()  # fail fast on a bad job store setting
        self.settings = settings
        self.runs = config.runs_dir or state_dir / "studies"
        runs = self.runs
        limit = config.max_run_s
        self.pool = WorkerPool(
            lambda: container.build_jobs(settings),
            workers=config.workers,
            lease=timedelta(seconds=config.lease_s),
            processes=True,
            clock=clock,
            run=run_study_job,
            budget=lambda _: limit,
            kind=KIND,
            preload=["osed.runtime.study_jobs"],
            inputs=lambda job: job_input(job, runs),
            name="studies",
        )

    def open_runs(self) -> JobStudies:
        """The port on a connection of its own (for the thread that opens it)."""
        return JobStudies(container.build_jobs(self.settings), self.runs)

    async def start(self) -> None:
        self.runs.mkdir(parents=True, exist_ok=True)
        self.pool.start()

    async def stop(self) -> None:
        await asyncio.to_thread(self.pool.stop)

    def ready(self) -> bool:
        return self.pool.alive()
