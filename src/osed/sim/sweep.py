"""Parameter sweeps: many scenarios and seeds played on Dask, gathered into one table.

Every (scenario, seed) case is one task: the scenario materialised with that seed and played by
the runner (baseline and managed), its KPIs flattened into one row. Without a scheduler address
a local cluster runs the cases in worker processes (one thread each: the runner itself uses a
solver thread per core, and processes keep the cases apart); with one (``tcp://host:8786``),
the cases go to that cluster, whose workers need OSED installed. The scenario goes to the
workers as its document (and the folder its network files are named from), so a remote worker
needs the scenario's network files at the same path only when the scenario names any.

Rows come back in case order, whatever order the cluster finishes them in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from osed.sim.runner import run_study
from osed.sim.scenario import materialise, read_document
from osed.sim.scenario_reader import read_scenario

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Case:
    scenario: str
    """The scenario's name (its file's ``name``)."""
    document: Mapping[str, Any]
    base: str | None
    """The folder network files are named from."""
    seed: int


def cases(scenarios: Sequence[str | Path], seeds: Sequence[int]) -> list[Case]:
    """Every scenario with every seed; each scenario is read and checked first, so that a bad
    file stops the sweep before anything runs (every problem with its path)."""
    made = []
    for source in scenarios:
        path = Path(source)
        base = path.resolve().parent if path.exists() else None
        document = read_document(source)
        name = read_scenario(document, base=base).name
        folder = None if base is None else str(base)
        made += [Case(name, document, folder, seed) for seed in seeds]
    return made


def run_case(case: Case) -> dict[str, Any]:
    """One row: the case and its KPIs (nested KPIs flattened with dots)."""
    scenario = read_scenario(case.document, base=None if case.base is None else Path(case.base))
    study = materialise(replace(scenario, seed=case.seed))
    result = run_study(study)
    return {"scenario": case.scenario, "seed": case.seed, **_flat(result.kpis)}


def sweep(
    planned: Sequence[Case],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """The rows of every case, in case order."""
    from dask.distributed import Client, LocalCluster, as_completed  # noqa: PLC0415 - optional

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=max(1, min(workers or os.cpu_count() or 1, len(planned))),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
    client = Client(cluster if cluster is not None else scheduler)
    try:
        futures = client.map(run_case, list(planned), pure=False)
        position = {future.key: k for k, future in enumerate(futures)}
        rows: list[dict[str, Any] | None] = [None] * len(futures)
        for done, future in enumerate(as_completed(futures), start=1):
            rows[position[future.key]] = future.result()
            if progress is not None:
                progress(done, len(futures))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return [row for row in rows if row is not None]


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            row.update(_flat(value, f"{name}."))
        else:
            row[name] = value
    return row
