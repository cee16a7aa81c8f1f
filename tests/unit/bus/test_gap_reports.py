"""Gap reports reach operators: published on ``_osed/gaps/<consumer>``, saved with the
consumer's positions exactly once (also across crashes and deferred commits), and printed by
``osed bus gaps``."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.bus.reliable import (
    GAPS_PATTERN,
    Consumer,
    GapReport,
    InMemoryOutbox,
    InMemoryPositions,
    PositionStore,
    Publisher,
    ReplayPolicy,
    SqlitePositions,
    gaps_topic,
    read_gap_reports,
)
from osed.cli import main
from osed.codec.gap import decode_gap_report, gap_report_to_json
from osed.domain.envelope import Envelope
from osed.domain.time import ManualClock
from osed.runtime.container import positions_path
from tests.contract.bus.contract import Collector, DroppingBus

T0 = datetime(2026, 5, 1, tzinfo=UTC)
STEADY = ReplayPolicy(first_retry=0.02, max_retry=0.05, give_up_after=30.0)


class ForgetfulOutbox(InMemoryOutbox):
    """An outbox that no longer holds ``forgotten`` (as if those rows were lost or trimmed)."""

    def __init__(self, forgotten: set[int]) -> None:
        super().__init__()
        self.forgotten = forgotten

    def read(self, first: int, last: int) -> list[Envelope]:
        return [e for e in super().read(first, last) if e.seq not in self.forgotten]


class GapListener:
    """An operator's subscription to every consumer's gap topic."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []

    async def __call__(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)

    @property
    def reports(self) -> list[GapReport]:
        return [decode_gap_report(e.payload) for e in self.envelopes]


def runs(seqs: set[int]) -> list[tuple[int, int]]:
    """{2, 3, 7} -> [(2, 3), (7, 7)]"""
    found: list[list[int]] = []
    for seq in sorted(seqs):
        if found and found[-1][1] == seq - 1:
            found[-1][1] = seq
        else:
            found.append([seq, seq])
    return [(a, b) for a, b in found]


async def wait_for_position(consumer: Consumer, seq: int) -> None:
    async with asyncio.timeout(10):
        while consumer.position("s") < seq:
            await asyncio.sleep(0.002)


@contextmanager
def sqlite_file() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder) / "positions.sqlite"


# ------------------------------------------------------------------- one consumer, one gap
@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PositionStore]:
    positions: PositionStore = (
        InMemoryPositions() if request.param == "memory" else SqlitePositions(tmp_path / "p.db")
    )
    yield positions
    positions.close()


async def test_a_lost_range_is_published_and_saved_with_the_position(
    store: PositionStore,
) -> None:
    clock = ManualClock(T0)
    bus = MemoryBus(MemoryBroker(), clock=clock)
    await bus.start()
    listener = GapListener()
    await bus.subscribe(GAPS_PATTERN, listener)
    outbox = ForgetfulOutbox({4, 5, 6})
    publisher = Publisher(DroppingBus(bus, lambda e: e.seq in outbox.forgotten), "s", outbox)
    got = Collector()
    consumer = Consumer(bus, "c1", "t/#", got, positions=store, policy=STEADY, clock=clock)
    await consumer.start()
    await publisher.start()
    for k in range(1, 11):
        await publisher.publish("t/x", f"m{k}".encode())
    await wait_for_position(consumer, 10)
    await consumer.close()
    await publisher.close()
    await bus.stop()

    expected = GapReport("c1", "t/#", "s", 4, 6, "unavailable", T0)
    assert got.seqs == [1, 2, 3, 7, 8, 9, 10]
    assert store.gaps() == store.gaps("c1") == [expected]
    assert store.gaps("another") == []
    assert store.load("c1") == {"s": 10}
    assert listener.reports == [expected]
    (envelope,) = listener.envelopes
    assert envelope.topic == gaps_topic("c1") == "_osed/gaps/c1"
    assert envelope.key == "_osed:gap:c1:s:4-6"
    assert json.loads(envelope.payload)["detectedAt"] == "2026-05-01T00:00:00Z"


async def test_consumers_under_wildcards_do_not_see_gap_reports() -> None:
    bus = MemoryBus()
    await bus.start()
    outbox = ForgetfulOutbox({2})
    publisher = Publisher(DroppingBus(bus, lambda e: e.seq in outbox.forgotten), "s", outbox)
    everything, lossy = Collector(), Collector()
    watcher = Consumer(bus, "watcher", "#", everything, sources=["s"], policy=STEADY)
    consumer = Consumer(bus, "lossy", "t/#", lossy, policy=STEADY)
    await watcher.start()
    await consumer.start()
    await publisher.start()
    for k in range(1, 4):
        await publisher.publish("t/x", f"m{k}".encode())
    await wait_for_position(consumer, 3)
    await wait_for_position(watcher, 3)
    await asyncio.sleep(0.02)
    assert {e.topic for e in everything.envelopes} == {"t/x"}
    for closing in (consumer, watcher, publisher):
        await closing.close()
    await bus.stop()


# ------------------------------------------------------------- crashes and deferred commits
async def two_lives(
    store_at: Path | None, n: int, lost: set[int], commit_before_crash: int | None
) -> tuple[list[GapReport], list[GapReport], list[str]]:
    """Consumer 'c' receives 1..n of which ``lost`` can never come, then crashes and a new
    incarnation catches up. ``commit_before_crash``: None for a consumer that saves on
    delivery, else a deferred one that committed through this seq before the crash (and
    everything at the end). Returns the saved reports, the published ones and their keys."""
    bus = MemoryBus()
    await bus.start()
    listener = GapListener()
    await bus.subscribe(GAPS_PATTERN, listener)
    outbox = ForgetfulOutbox(lost)
    publisher = Publisher(DroppingBus(bus, lambda e: e.seq in lost), "s", outbox, heartbeat=None)
    await publisher.start()
    deferred = commit_before_crash is not None
    memory = InMemoryPositions()

    def open_store() -> PositionStore:
        return memory if store_at is None else SqlitePositions(store_at)

    store = open_store()
    first = Consumer(
        bus,
        "c",
        "t/#",
        Collector(),
        positions=store,
        policy=STEADY,
        deferred_commit=deferred,
        sources=["s"],
    )
    await first.start()
    for k in range(1, n + 1):
        await publisher.publish("t/x", f"m{k}".encode())
    await publisher.announce()
    await wait_for_position(first, n)
    if commit_before_crash is not None:
        await first.commit({"s": commit_before_crash})
    await first.close()  # nothing beyond the commits is saved: as kill -9 would leave it
    store.close()

    store = open_store()
    second = Consumer(
        bus,
        "c",
        "t/#",
        Collector(),
        positions=store,
        policy=STEADY,
        deferred_commit=deferred,
        sources=["s"],
    )
    await second.start()
    await publisher.announce()
    await wait_for_position(second, n)
    await second.commit({"s": n})
    await second.close()
    saved = store.gaps("c")
    store.close()
    await publisher.close()
    await bus.stop()
    return saved, listener.reports, [e.key for e in listener.envelopes]


@st.composite
def lives(draw: st.DrawFn) -> tuple[int, set[int], int | None, bool]:
    n = draw(st.integers(1, 30))
    lost = draw(st.sets(st.integers(1, n), max_size=n - 1))
    commit = draw(st.none() | st.integers(0, n))
    return n, lost, commit, draw(st.booleans())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lives())
def test_each_lost_range_is_saved_exactly_once_across_a_crash(
    life: tuple[int, set[int], int | None, bool],
) -> None:
    n, lost, commit_before_crash, on_disk = life
    with sqlite_file() as path:
        saved, published, keys = asyncio.run(
            two_lives(path if on_disk else None, n, lost, commit_before_crash)
        )
    expected = runs(lost)
    assert [(g.first, g.last) for g in saved] == expected
    assert {(g.source, g.reason, g.consumer, g.pattern) for g in saved} <= {
        ("s", "unavailable", "c", "t/#")
    }
    # The topic hears each range at least once; a range found again after the crash (it was
    # not committed) comes again under the same key.
    assert sorted({(g.first, g.last) for g in published}) == expected
    assert len(set(keys)) == len(expected)


async def test_a_gap_found_again_after_a_crash_is_published_twice_and_saved_once(
    tmp_path: Path,
) -> None:
    saved, published, keys = await two_lives(tmp_path / "p.db", 8, {4, 5, 6}, 0)
    assert [(g.first, g.last) for g in saved] == [(4, 6)]
    assert [(g.first, g.last) for g in published] == [(4, 6), (4, 6)]
    assert keys == ["_osed:gap:c:s:4-6"] * 2


# ------------------------------------------------------------------------------ the stores
REPORTS = [
    GapReport(consumer, "t/#", source, first, first + extra, "unavailable", T0 + timedelta(s))
    for s, (consumer, source, first, extra) in enumerate(
        (c, src, f, e) for c in ("c1", "c2") for src in ("s1", "s2") for f in (1, 5) for e in (0, 2)
    )
]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50), st.lists(st.sampled_from(REPORTS), max_size=3))))
def test_stores_keep_each_report_once_in_the_order_first_saved(
    saves: list[tuple[int, list[GapReport]]],
) -> None:
    memory = InMemoryPositions()
    with sqlite_file() as path:
        disk = SqlitePositions(path)
        for seq, reports in saves:
            for positions in (memory, disk):
                positions.save(reports[0].consumer if reports else "c1", "s1", seq, reports)
        disk.close()
        reopened = SqlitePositions(path)
        expected = list({(g.consumer, g.source, g.first): g for g in _firsts(saves)}.values())
        assert memory.gaps() == reopened.gaps() == read_gap_reports(path) == expected
        for consumer in ("c1", "c2"):
            mine = [g for g in expected if g.consumer == consumer]
            assert memory.gaps(consumer) == reopened.gaps(consumer) == mine
        reopened.close()


def _firsts(saves: Sequence[tuple[int, list[GapReport]]]) -> list[GapReport]:
    """Every report in save order, a repeat of a (consumer, source, first) left out."""
    seen: dict[tuple[str, str, int], GapReport] = {}
    for _, reports in saves:
        for report in reports:
            seen.setdefault((report.consumer, report.source, report.first), report)
    return list(seen.values())


def _window(second: int) -> GapReport:
    """A raw subscription's lost session: messages from ``second`` - 2 s to ``second`` - 1 s."""
    return GapReport(
        "bridge.pmu.0",
        "bal/raw/#",
        "raw.bal.raw.#",
        None,
        None,
        "session_lost",
        T0 + timedelta(seconds=second),
        lost_from=T0 + timedelta(seconds=second - 2),
        lost_until=T0 + timedelta(seconds=second - 1),
    )


def test_time_windows_are_recorded_once_and_read_back_among_the_ranges(tmp_path: Path) -> None:
    path = tmp_path / "positions.sqlite"
    memory, disk = InMemoryPositions(), SqlitePositions(path)
    # Detected at T0 (a range), T0 + 3 s (a window), T0 + 5 s (a range).
    for positions in (memory, disk):
        positions.save("c1", "s1", 7, [REPORTS[0]])
        positions.record([_window(3)])
        positions.record([_window(3)])  # the same loss again: kept once
        positions.save("c1", "s2", 9, [REPORTS[5]])
    disk.close()
    expected = [REPORTS[0], _window(3), REPORTS[5]]
    reopened = SqlitePositions(path)
    assert memory.gaps() == reopened.gaps() == read_gap_reports(path) == expected
    assert reopened.gaps("bridge.pmu.0") == read_gap_reports(path, "bridge.pmu.0") == [_window(3)]
    assert reopened.load("c1") == {"s1": 7, "s2": 9}  # a window moves no position
    reopened.close()


def test_a_positions_file_from_before_time_windows_reads_as_before(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE consumer_gaps (consumer TEXT NOT NULL, source TEXT NOT NULL, "
            "first INTEGER NOT NULL, last INTEGER NOT NULL, reason TEXT NOT NULL, "
            "pattern TEXT NOT NULL, detected_at TEXT NOT NULL, "
            "PRIMARY KEY (consumer, source, first))"
        )
        db.execute(
            "INSERT INTO consumer_gaps VALUES ('c1', 's1', 1, 1, 'unavailable', 't/#', ?)",
            (T0.isoformat(),),
        )
    db.close()
    assert read_gap_reports(path) == [REPORTS[0]]
    upgraded = SqlitePositions(path)  # the service's next start adds the table
    upgraded.record([_window(3)])
    upgraded.close()
    assert read_gap_reports(path) == [REPORTS[0], _window(3)]


# ------------------------------------------------------------------------------- the CLI
def test_osed_bus_gaps_prints_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    bridge = SqlitePositions(positions_path(state, "bridge"))
    agent = SqlitePositions(positions_path(state, "market-agent"))
    # Detected at T0, T0 + 5 s (both the bridge's) and T0 + 2 s (the agent's).
    first, third, second = REPORTS[0], REPORTS[5], REPORTS[2]
    bridge.save("c1", "s1", 7, [third, first])
    agent.save("c1", "s1", 3, [second])
    bridge.close()
    agent.close()

    assert main(["bus", "gaps", "--state-dir", str(state)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines] == [
        gap_report_to_json(g) for g in (first, second, third)
    ]
    assert main(["bus", "gaps", "--state-dir", str(state), "--service", "market-agent"]) == 0
    assert [decode_gap_report(x) for x in capsys.readouterr().out.splitlines()] == [second]
    path = str(positions_path(state, "bridge"))
    assert main(["bus", "gaps", "--db", path, "--consumer", "c1", "--source", "s2"]) == 0
    assert [decode_gap_report(x) for x in capsys.readouterr().out.splitlines()] == [third]


def test_osed_bus_gaps_prints_a_lost_session_as_its_time_window(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    bridge = SqlitePositions(positions_path(state, "bridge"))
    bridge.save("bridge.meters.0", "s1", 7, [REPORTS[5]])  # detected at T0 + 5 s
    bridge.record([_window(3)])
    bridge.close()
    command = [sys.executable, "-m", "osed.cli", "bus", "gaps", "--state-dir", str(state)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {
            "consumer": "bridge.pmu.0",
            "pattern": "bal/raw/#",
            "source": "raw.bal.raw.#",
            "lostFrom": "2026-05-01T00:00:01Z",
            "lostUntil": "2026-05-01T00:00:02Z",
            "reason": "session_lost",
            "detectedAt": "2026-05-01T00:00:03Z",
        },
        gap_report_to_json(REPORTS[5]),
    ]


def test_osed_bus_gaps_without_a_positions_file_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bus", "gaps", "--state-dir", str(tmp_path)]) == 1
    assert "no positions file" in capsys.readouterr().err
    assert main(["bus", "gaps", "--db", str(tmp_path / "missing.sqlite")]) == 1
    assert "no such file" in capsys.readouterr().err
