"""Processes and measurements for the bridge fault tests.

``BridgeProcess`` is ``osed run bridge`` (MQTT bus, SQLite time series, one ``ingress: bus``
pipeline); ``SourceProcess`` is ``source_process.py``, a reliable publisher with a SQLite
outbox. Both can be SIGKILLed and restarted on the same folders. Waiting is polling with
deadlines; every helper fails with the tail of the process log.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from osed.bus.mqtt import MqttBus
from osed.bus.reliable import GAPS_PATTERN, GapReport, read_gap_reports
from osed.codec.gap import decode_gap_report
from osed.domain.envelope import Envelope
from osed.domain.time import SystemClock
from osed.runtime.container import positions_path
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.integration.faults.source_process import BASE, SOURCE, timestamp
from tests.services.brokers import Broker, free_port

COUNT = 10_000
SERIES = ("pmu1/node-1/frequency/A", "pmu1/node-1/voltmagnitude/A")
POINTS_PER_MESSAGE = len(SERIES)
CONSUMER = "bridge.meters.0"  # the bridge's consumer of the pipeline's first pattern
READY_TIMEOUT_S = 30.0
POLL_S = 0.05

PIPELINES = """
dead_letter_prefix: dead-letter
batch:
  max_points: 200
  max_delay_ms: 50
pipelines:
  - name: meters
    ingress: bus
    subscribe: [field/+]
    format: sogno
    steps: [validate]
    publish: bal/processed
    store:
      series: "{device}/{component}/{measurand}/{phase}"
"""
# The same pipeline reading raw MQTT from a field device instead of the bus.
RAW_PIPELINES = PIPELINES.replace("ingress: bus", "ingress: raw")
assert "ingress: raw" in RAW_PIPELINES


def tail(path: Path, size: int = 3000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else "(no log)"


class ManagedProcess:
    """A child process logging to ``log``; ``kill`` is SIGKILL, ``stop`` SIGTERM."""

    name = "process"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log(self) -> Path:
        return self.folder / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> None:
        with self.log.open("ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(), env=self.environment(), stdout=log, stderr=subprocess.STDOUT
            )
        self.starts += 1

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"{self.name} exited with {self.process.returncode}:\n{tail(self.log)}"
            )

    def kill(self) -> None:
        if self.running():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM (graceful), SIGKILL if it hangs; the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9


class BridgeProcess(ManagedProcess):
    """``osed run bridge``: field broker ``broker``, bus on ``bus_broker`` (default: the same
    broker), storage ``ts.sqlite``."""

    name = "bridge"

    def __init__(self, folder: Path, broker: Broker, *, bus_broker: Broker | None = None) -> None:
        super().__init__(folder)
        self.broker = broker
        self.bus_broker = bus_broker if bus_broker is not None else broker
        self.database = folder / "ts.sqlite"
        self.state = folder / "state"
        self.pipelines = folder / "pipelines.yaml"
        self.pipelines.write_text(PIPELINES)
        self.health_port = free_port()

    def command(self) -> list[str]:
        return [sys.executable, "-m", "osed.cli", "run", "bridge", "--state-dir", str(self.state)]

    def environment(self) -> dict[str, str]:
        return dict(
            os.environ,
            OSED_BUS__BACKEND="mqtt",
            OSED_BUS__MQTT__HOST=self.bus_broker.host,
            OSED_BUS__MQTT__PORT=str(self.bus_broker.port),
            OSED_BRIDGE__FIELD__HOST=self.broker.host,
            OSED_BRIDGE__FIELD__PORT=str(self.broker.port),
            OSED_BRIDGE__PIPELINES_FILE=str(self.pipelines),
            OSED_STORAGE__SQLITE_PATH=str(self.database),
            OSED_HEALTH__PORT=str(self.health_port),
        )

    def wait_ready(self) -> float:
        """Seconds until /readyz said ready."""
        began = time.monotonic()
        while time.monotonic() - began < READY_TIMEOUT_S:
            self.check_alive()
            if self._ready():
                return time.monotonic() - began
            time.sleep(POLL_S)  # polling a port that is not open yet; nothing to await
        raise AssertionError(f"bridge not ready in {READY_TIMEOUT_S} s:\n{tail(self.log)}")

    def _ready(self) -> bool:
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return bool(json.load(answer).get("ready"))
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def stored_points(self) -> int:
        """Points in storage now (a read-only look; 0 before the store exists)."""
        return count_rows(self.database, "SELECT count(*) FROM ts_points")

    @property
    def positions(self) -> Path:
        return positions_path(self.state, "bridge")

    def position(self) -> int:
        """The last seq of the source the bridge's consumer delivered or reported lost."""
        return count_rows(
            self.positions,
            "SELECT seq FROM consumer_positions WHERE consumer = ? AND source = ?",
            (CONSUMER, SOURCE),
        )

    def link_losses(self, client_id: str) -> int:
        """How often the MQTT link ``client_id`` logged that it lost its connection."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text.count(f"MQTT link {client_id} lost")

    def reported_gaps(self) -> list[GapReport]:
        """The gap reports the bridge saved with its consumers' positions (read-only)."""
        return read_gap_reports(self.positions) if self.positions.exists() else []


class SourceProcess(ManagedProcess):
    """``source_process.py``: 1..count SOGNO measurements, outbox ``outbox.sqlite``."""

    name = "source"

    def __init__(self, folder: Path, broker: Broker, *, rate: float = 1_000.0) -> None:
        super().__init__(folder)
        self.broker = broker
        self.outbox = folder / "outbox.sqlite"
        self.rate = rate

    def command(self) -> list[str]:
        script = Path(__file__).with_name("source_process.py")
        return [
            sys.executable,
            str(script),
            *("--port", str(self.broker.port), "--outbox", str(self.outbox)),
            *("--count", str(COUNT), "--rate", str(self.rate)),
        ]

    def last_seq(self) -> int:
        """The highest seq the outbox ever held (what the source has published)."""
        return count_rows(
            self.outbox, "SELECT last_seq FROM outbox_head WHERE source = ?", (SOURCE,)
        )

    def held(self) -> tuple[int, int, int]:
        """(rows, lowest seq, highest seq) the outbox holds now."""
        with _read_only(self.outbox) as db:
            rows, low, high = db.execute(
                "SELECT count(*), min(seq), max(seq) FROM outbox WHERE source = ?", (SOURCE,)
            ).fetchone()
        return int(rows), int(low or 0), int(high or 0)

    def replay_requests(self) -> list[str]:
        """The replay requests the source logged (``first..last``)."""
        prefix = "replay requested: "
        lines = tail(self.log, 1_000_000).splitlines()
        return [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]

    def finished(self) -> bool:
        return f"published through seq {COUNT}" in tail(self.log, 10_000)


class GapTopicListener:
    """Hears ``_osed/gaps/+`` on ``broker`` as an operator's tool would: an MQTT bus of its
    own, run by a thread of its own (the fault tests are synchronous)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.envelopes: list[Envelope] = []
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._subscribed = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="gap-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._subscribed.wait(READY_TIMEOUT_S) or self._failure is not None:
            raise AssertionError(f"gap listener did not subscribe: {self._failure!r}")

    def reports(self) -> list[GapReport]:
        return [decode_gap_report(e.payload) for e in list(self.envelopes)]

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._listen())
        except BaseException as exc:  # reported to the test by start()
            self._failure = exc
            self._subscribed.set()
        finally:
            self._loop.close()

    async def _listen(self) -> None:
        bus = MqttBus(
            self.broker.host, self.broker.port, client_id="fault-gap-listener", clock=SystemClock()
        )
        await bus.start()

        async def heard(envelope: Envelope) -> None:
            self.envelopes.append(envelope)

        try:
            await bus.subscribe(GAPS_PATTERN, heard)
            self._subscribed.set()
            await self._stop.wait()
        finally:
            await bus.stop()


def count_rows(database: Path, sql: str, parameters: tuple[object, ...] = ()) -> int:
    """The single integer ``sql`` selects (0 when the file, table or row does not exist)."""
    if not database.exists():
        return 0
    try:
        with _read_only(database) as db:
            row = db.execute(sql, parameters).fetchone()
    except sqlite3.OperationalError:
        return 0  # not created yet
    return int(row[0]) if row and row[0] is not None else 0


class _read_only:  # noqa: N801 (a context manager used like a function)
    def __init__(self, database: Path) -> None:
        self._db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)

    def __enter__(self) -> sqlite3.Connection:
        return self._db

    def __exit__(self, *exc: object) -> None:
        self._db.close()


def wait_for(
    what: str,
    condition: Callable[[], bool],
    timeout: float,
    *,
    alive: Iterable[ManagedProcess] = (),
) -> float:
    """Poll ``condition`` until true; seconds taken. Fails after ``timeout`` or when one of
    ``alive`` has exited."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        for process in alive:
            process.check_alive()
        if condition():
            return time.monotonic() - began
        time.sleep(POLL_S)  # another process does the work; nothing to await here
    logs = "\n".join(f"{p.name}:\n{tail(p.log)}" for p in alive)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")


def wait_until_settled(
    bridge: BridgeProcess, expected_points: int, *, quiet: float, timeout: float
) -> int:
    """Wait until storage holds ``expected_points`` or stops growing for ``quiet`` seconds
    (bounded by ``timeout``); the final count. A count above the expectation also ends it."""
    began = last_change = time.monotonic()
    last = bridge.stored_points()
    while time.monotonic() - began < timeout:
        bridge.check_alive()
        now = bridge.stored_points()
        if now != last:
            last, last_change = now, time.monotonic()
        if now >= expected_points or time.monotonic() - last_change >= quiet:
            return now
        time.sleep(POLL_S)  # the bridge does the work; nothing to await here
    return last


@dataclass(frozen=True)
class Census:
    """What storage holds, by message index (``timestamp(i)`` is message ``i``)."""

    per_series: dict[str, Counter[int]]

    def problems(self, expected: set[int]) -> str:
        """'' when every series holds exactly the ``expected`` messages once each."""
        lines = []
        for series in SERIES:
            if series not in self.per_series:
                lines.append(f"{series}: no points at all")
        for series, counter in self.per_series.items():
            lost = sorted(expected - set(counter))
            extra = sorted(set(counter) - expected)
            twice = sorted(i for i, n in counter.items() if n > 1)
            if lost or extra or twice:
                lines.append(
                    f"{series}: {len(lost)} lost ({ranges(lost)}), {len(twice)} duplicated "
                    f"({ranges(twice)}), {len(extra)} unexpected ({ranges(extra)})"
                )
        return "\n".join(lines)


def census(database: Path) -> tuple[Census, set[str]]:
    """Every belief stored per series, as message indexes; and the sources seen."""
    per_series: dict[str, Counter[int]] = {}
    sources: set[str] = set()
    with SqliteTimeSeriesStore(database) as store:
        for info in store.series():
            points = store.read(info.series_id, BASE, BASE + timedelta(days=1), latest_belief=False)
            per_series[info.series_id] = Counter(index_of(p.event_time) for p in points)
            sources |= {p.source for p in points}
    return Census(per_series), sources


def index_of(instant: datetime) -> int:
    index = int((instant - BASE).total_seconds())
    assert timestamp(index) == instant, f"{instant} is no message's timestamp"
    return index


def ranges(indexes: Iterable[int]) -> str:
    """[1, 2, 3, 7] -> '1..3, 7' (short descriptions of what is missing)."""
    runs: list[list[int]] = []
    for index in sorted(indexes):
        if runs and runs[-1][1] == index - 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return ", ".join(f"{a}..{b}" if a != b else f"{a}" for a, b in runs) or "none"


def bridge_outputs(bridge: BridgeProcess) -> tuple[Counter[int], int]:
    """The bridge's published outputs by message index (from its own outbox, which keeps
    everything: no consumer is configured to let it trim), and how many dead letters."""
    from osed.codec.envelope import decode_envelope

    path = bridge.state / "outbox-bridge.meters.sqlite"
    outputs: Counter[int] = Counter()
    dead = 0
    with _read_only(path) as db:
        for (frame,) in db.execute("SELECT frame FROM outbox ORDER BY seq"):
            envelope = decode_envelope(bytes(frame))
            if envelope.topic.startswith("dead-letter/"):
                dead += 1
            else:
                stamp = datetime.fromisoformat(json.loads(envelope.payload)["timestamp"])
                outputs[index_of(stamp)] += 1
    return outputs, dead
