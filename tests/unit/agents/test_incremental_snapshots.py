"""Incremental snapshots: a snapshot writes only the chunks sealed since the previous one and
refers to the others; a chain of them restores what a replay of the whole trace rebuilds, a
crash while one is written leaves the previous one usable, and compaction (merged chunks,
chunks of pruned snapshots dropped) changes no restore."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osed.agents.market_agent import MarketAgent, Request
from osed.agents.reply_cache import SEAL_EVERY
from osed.agents.snapshot import SNAPSHOT_FORMAT
from osed.agents.snapshot_chunks import SealedChunks, lines_of
from osed.domain.cts import Side
from osed.domain.time import ManualClock
from osed.storage.sqlite import SqliteLedgerStore
from tests.unit.agents import test_recovery as request_steps
from tests.unit.agents.test_market_agent import create, tender
from tests.unit.agents.test_recovery import ledger_file
from tests.unit.agents.test_snapshot_recovery import BEGIN, STEP, agent_on, everything, longer

CHAIN = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def manifest(ledger: SqliteLedgerStore) -> list[list[str]]:
    """The chunk digests each kept snapshot lists, newest first."""
    found = []
    for record in ledger.snapshots(SNAPSHOT_FORMAT):
        header = json.loads(zlib.decompress(record.body).decode().split("\n")[0])
        found.append([digest for digest, _ in header["parts"] + header["replies"]])
    return found


def stored_chunks(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {digest.hex() for (digest,) in db.execute("SELECT digest FROM snapshot_chunks")}


def full_replay(path: Path, clock: ManualClock, mechanism: str, **options: Any) -> dict[str, Any]:
    agent = agent_on(path, clock, mechanism, restore=False, **options | {"every": None})
    rebuilt = everything(agent)
    agent.ledger.close()
    return rebuilt


@CHAIN
@given(
    steps=longer(request_steps.actions),
    cuts=st.lists(st.integers(0, 200), min_size=1, max_size=12),
    mechanism=st.sampled_from(["bilateral", "double-auction"]),
    replies=st.sampled_from([3, 100_000]),
)
def test_a_chain_of_incremental_snapshots_restores_what_a_full_replay_does(
    steps: list[tuple[Any, ...]], cuts: list[int], mechanism: str, replies: int
) -> None:
    """Snapshots between random requests, each writing only what is new: restoring from the
    newest of the chain equals replaying the whole trace, and the store holds exactly the
    chunks the kept snapshots refer to (older ones compacted away)."""
    requests: list[Request] = request_steps.requests_of(steps)
    snapshot_at = {cut % (len(requests) + 1) for cut in cuts}
    with ledger_file() as path:
        clock = ManualClock(BEGIN)
        live = agent_on(path, clock, mechanism, replies=replies)
        for n, request in enumerate(requests):
            if n in snapshot_at:
                live.snapshot()
            clock.advance(STEP)
            live.handle(request)
        newest = live.snapshot()
        listed = manifest(live.ledger)
        assert 1 <= len(listed) <= 2  # keep=2: the newest and its fallback
        assert stored_chunks(path) == {digest for digests in listed for digest in digests}
        expected = everything(live)
        live.ledger.close()

        assert full_replay(path, clock, mechanism, replies=replies) == expected
        restored = agent_on(path, clock, mechanism, replies=replies)
        assert restored.recovery.snapshot_seq == newest
        assert restored.recovery.requests == 0
        assert everything(restored) == expected
        restored.ledger.close()


def tenders(agent: MarketAgent, clock: ManualClock, first: int, count: int) -> None:
    for n in range(first, first + count):
        clock.advance(STEP)
        side = Side.SELL if n % 2 else Side.BUY
        agent.handle(create(f"r{n}", f"p{n % 3}", tender(f"t{n}", side, 990 + n % 21, 1000)))


def test_a_snapshot_writes_only_the_chunks_sealed_since_the_previous_one(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(BEGIN)
    agent = agent_on(path, clock, "bilateral", replies=SEAL_EVERY + 500)
    tenders(agent, clock, 0, SEAL_EVERY + 200)  # one chunk of replies sealed as they came
    agent.snapshot()
    (first,) = manifest(agent.ledger)
    tenders(agent, clock, SEAL_EVERY + 200, 50)
    agent.snapshot()
    second, _ = manifest(agent.ledger)
    # The sealed reply chunks are referred to again, not written again; the tender ids of the
    # 50 new requests merge into the (small) newest tender-id chunk.
    assert len(set(first) & set(second)) == 2
    assert len(second) == 4  # tender ids, three reply chunks (the oldest partly evicted)
    tenders(agent, clock, SEAL_EVERY + 250, SEAL_EVERY)  # evicts the first reply chunks
    agent.snapshot()
    third, newer_fallback = manifest(agent.ledger)
    assert newer_fallback == second
    assert not set(first) - set(second) & set(third)
    assert stored_chunks(path) == set(second) | set(third)
    expected = everything(agent)
    agent.ledger.close()
    assert full_replay(path, clock, "bilateral", replies=SEAL_EVERY + 500) == expected
    restored = agent_on(path, clock, "bilateral", replies=SEAL_EVERY + 500)
    assert everything(restored) == expected
    assert restored.recovery.requests == 0


def test_merging_chunks_keeps_every_entry_in_order() -> None:
    chunks = SealedChunks(merge_up_to=10)
    written: list[str] = []
    for batch in range(12):
        lines = [f'"id-{batch}-{k}"' for k in range(batch % 4 + 1)]
        written += lines
        chunks.seal(len(written), lines)
    pieces = chunks.pieces()
    assert all(count <= 10 for _, count in pieces)
    assert len(pieces) < 12
    assert [line for piece, _ in pieces for line in lines_of(piece.body)] == written
    assert sum(count for _, count in pieces) == len(written)


def test_a_damaged_chunk_makes_its_snapshots_unusable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.sqlite"
    clock = ManualClock(BEGIN)
    agent = agent_on(path, clock, "bilateral")
    tenders(agent, clock, 0, 30)
    agent.snapshot()
    tenders(agent, clock, 30, 5)
    agent.snapshot()
    expected = everything(agent)
    agent.ledger.close()
    with sqlite3.connect(path) as db:  # a reply chunk both snapshots refer to
        db.execute("UPDATE snapshot_chunks SET body = X'00' WHERE id = 2")
    restored = agent_on(path, clock, "bilateral")
    assert (restored.recovery.snapshot_seq, restored.recovery.snapshots_skipped) == (0, 2)
    assert "is damaged" in caplog.text
    assert everything(restored) == expected


# The child takes a snapshot, then is killed by SIGKILL from inside SQLite while it writes the
# next one: the progress handler runs at every virtual-machine step of the store, and kills
# at step ``instructions`` (the whole write takes about 380: new chunks, references, the
# snapshot, pruning, dropping unreferenced chunks).
_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from osed.domain.time import ManualClock
    from tests.unit.agents.test_incremental_snapshots import tenders
    from tests.unit.agents.test_snapshot_recovery import BEGIN, agent_on
    path, instructions = sys.argv[1], int(sys.argv[2])
    clock = ManualClock(BEGIN)
    agent = agent_on(path, clock, "bilateral", replies=1500)
    tenders(agent, clock, 0, 1100)
    print(agent.snapshot(), flush=True)
    tenders(agent, clock, 1100, 300)
    steps = 0
    def step():
        global steps
        steps += 1
        if steps == instructions:
            os.kill(os.getpid(), signal.SIGKILL)
    agent.ledger._db.set_progress_handler(step, 1)
    print(agent.snapshot(), flush=True)
    """
)


@pytest.mark.parametrize("instructions", [1, 40, 120, 200, 280, 360])
def test_a_crash_while_a_snapshot_is_written_leaves_the_previous_one_usable(
    tmp_path: Path, instructions: int
) -> None:
    path = tmp_path / "ledger.sqlite"
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path), str(instructions)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parents[3],
    )
    assert child.returncode == -9, child.stderr
    (previous,) = child.stdout.split()  # the second snapshot never returned
    clock = ManualClock(BEGIN)
    expected = full_replay(path, clock, "bilateral", replies=1500)
    restored = agent_on(path, clock, "bilateral", replies=1500)
    assert restored.recovery.snapshot_seq == int(previous)
    assert restored.recovery.snapshots_skipped == 0
    assert restored.recovery.requests == 300
    assert everything(restored) == expected
