"""A finished study in the browser (``osed demo --serve``): the platform API over the study's
network, its tables as time series and its busiest step as the latest estimate, with the
dashboard and the study's report, until SIGINT or SIGTERM.

Nothing leaves the machine: it listens on the loopback address unless told otherwise, and
asks for a token like any API; the token (an operator's, from a local issuer whose keys live
in the output folder) is handed to the browser in the address's fragment, which is never sent
to a server.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from osed.api.app import Parts, create_app, event_feeds
from osed.api.dashboard import Dashboard
from osed.bus.memory import MemoryBus
from osed.domain.envelope import Envelope
from osed.domain.identity import Role
from osed.grid.network import Network
from osed.runtime.embedded_api import EmbeddedApi
from osed.runtime.identity import local_issuer, token_validator
from osed.runtime.lifecycle import Runner
from osed.runtime.settings import IdentitySettings, Settings
from osed.sim.results import StudyResult
from osed.sim.study_dashboard import busiest_estimate, study_points, study_span
from osed.storage.idempotency_sqlite import SqliteIdempotencyStore
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore

log = logging.getLogger(__name__)

ESTIMATION_PREFIX = "se"
TOKEN_TTL = timedelta(hours=12)
WRITE_BATCH = 50_000

DEMO_ISSUER = "urn:osed:demo"
"""The issuer name of the tokens `osed demo --serve` signs and alone accepts."""


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def write_series(result: StudyResult, path: Path) -> int:
    """The study's tables into a fresh SQLite time-series store at ``path``; points written."""
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    written = 0
    points = study_points(result)
    with SqliteTimeSeriesStore(path) as store:
        while batch := list(itertools.islice(points, WRITE_BATCH)):
            written += store.write(batch)
    return written


class StudyServer:
    """The study's API and dashboard as one service of a :class:`Runner`."""

    name = "dashboard"

    def __init__(
        self,
        result: StudyResult,
        network: Network,
        out: Path,
        *,
        report: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        on_ready: Callable[[str], None] | None = None,
    ) -> None:
        folder = out / "dashboard"
        folder.mkdir(parents=True, exist_ok=True)
        series_path = folder / "series.sqlite"
        self.points = write_series(result, series_path)
        identity = IdentitySettings(
            key_file=folder / "identity" / "signing-keys.json", local_issuer=DEMO_ISSUER
        )
        # Built without the environment: an OSED_IDENTITY__ISSUER meant for `osed serve` must
        # not send the demo's own tokens to another provider.
        settings = Settings.model_construct(identity=identity)
        issued = local_issuer(settings, folder).issue(
            subject="demo", audience=identity.audience, roles=[Role.OPERATOR], ttl=TOKEN_TTL
        )
        self._estimate = busiest_estimate(result, network, ESTIMATION_PREFIX)
        self._bus = MemoryBus()
        start, end = study_span(result)
        parts = Parts(
            network=network,
            series=lambda: SqliteTimeSeriesStore(series_path),
            bus=self._bus,
            estimation_prefix=ESTIMATION_PREFIX,
            feeds=event_feeds({}, estimation_prefix=ESTIMATION_PREFIX, decision_topic=None),
        )
        dashboard = Dashboard(
            title=f"OSED · {result.study}",
            report=report,
            node_series=("study/+/bus/{id}/#",),
            branch_series=("study/+/line/{id}/#",),
            series_first=("/managed/",),
            series_hint="study/managed/grid/#",
            time_range=(start.isoformat(), end.isoformat()),
        )
        self.app = create_app(
            parts,
            validator=token_validator(settings, folder),
            idempotency=lambda: SqliteIdempotencyStore(":memory:"),
            dashboard=dashboard,
        )
        port = port or free_port(host)
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.url = f"http://{shown}:{port}/dashboard/#token={issued.access_token}"
        self._api = EmbeddedApi(self.app, host, port, what="dashboard")
        self._on_ready = on_ready

    async def start(self) -> None:
        await self._bus.start()
        await self._api.start()
        for seq, (topic, payload) in enumerate(self._estimate.messages, start=1):
            now = datetime.now(UTC)
            await self._bus.publish(Envelope(topic, "study", seq, payload, now))
        if self._on_ready is not None:
            self._on_ready(self.url)

    async def stop(self) -> None:
        await self._api.stop()
        await self._bus.stop()

    def ready(self) -> bool:
        return self._api.ready()


def serve_study(server: StudyServer) -> None:
    """Serve until SIGINT or SIGTERM."""
    asyncio.run(Runner([server], health=None).run())
