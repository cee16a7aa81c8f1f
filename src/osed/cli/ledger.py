"""``osed ledger``: verify and inspect a ledger.

``verify`` exits 0 when the ledger is intact, 1 when something was altered, removed or damaged
(a truncated SQLite file is ``unreadable``; a damaged trace row is ``trace_mismatch``), and 2
when the path is not a ledger. Large ledgers are checked in segments by several processes:
each segment is checked against the stored hash just before it, and the segments are combined
in order, so the report is the same as a single pass.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from typing import Any

from osed.cli import ledger_view
from osed.cli._output import emit, fields
from osed.domain.errors import ConfigurationError, IntegrityError, NotFoundError
from osed.domain.ledger import GENESIS_HASH
from osed.ledger.verify import (
    Finding,
    SegmentCheck,
    VerifyReport,
    check_segment_packed,
    verify_segments,
    with_trace,
)
from osed.ports.ledger import LedgerHead, TraceCheck
from osed.sim.collector import collection_paused
from osed.storage.sqlite import SqliteLedgerStore

EXIT_INTACT = 0
EXIT_ALTERED = 1
EXIT_NOT_A_LEDGER = 2
_ROWS_PER_PROCESS = 250_000  # below this, another process costs more than it saves
# A trace range sends back only its verdict (an entry segment, its whole position tally), so
# a smaller one is worth a process of its own.
_TRACE_ROWS_PER_PROCESS = 50_000


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser("ledger", help="verify and inspect ledgers")
    commands = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    verify = commands.add_parser(
        "verify",
        help="check the hash chains (entries and trace), the head and the positions of a ledger",
        description="Prints a report (JSON when piped or with --json); exits 0 if intact, "
        "1 if altered, removed or damaged, 2 if PATH is not a ledger.",
    )
    verify.add_argument("path", metavar="PATH", help="the SQLite ledger file")
    verify.add_argument(
        "--anchor",
        metavar="COUNT:HASH",
        help="a head recorded earlier (from `osed ledger head`); the ledger must extend it",
    )
    verify.add_argument(
        "--workers", type=int, default=None, help="processes to use (default: CPU count)"
    )
    verify.set_defaults(handler=_verify)

    head = commands.add_parser(
        "head", help="print the head (entry count and last hash), to keep as an anchor"
    )
    head.add_argument("path", metavar="PATH")
    head.set_defaults(handler=_head)

    ledger_view.register(commands)


def verify_ledger_file(
    path: str, *, anchor: LedgerHead | None = None, workers: int | None = None
) -> VerifyReport:
    """Verify the ledger at ``path``; raises NotFoundError or ConfigurationError if it is not
    a ledger. Safe while another process appends: entries are never changed, and the head, the
    last segment and the positions are read in one snapshot."""
    try:
        with SqliteLedgerStore.open_existing(path) as store:
            planned, planned_trace = store.head().count, store.last_trace_seq()
        processes = workers or os.cpu_count() or 1
        ranges = _segment_ranges(planned, processes)
        trace_ranges = _segment_ranges(planned_trace, processes, _TRACE_ROWS_PER_PROCESS)
        with ExitStack() as stack:
            pool = None
            if max(len(ranges), len(trace_ranges)) > 1:
                context = multiprocessing.get_context("fork")
                helpers = max(len(ranges), len(trace_ranges)) - 1
                pool = stack.enter_context(ProcessPoolExecutor(helpers, context))
            earlier = [
                pool.submit(_check_range, path, first, last, anchor, planned)
                for first, last in ranges[:-1]
                if pool is not None
            ]
            earlier_trace = [
                pool.submit(_check_trace_range, path, first, last)
                for first, last in trace_ranges[:-1]
                if pool is not None
            ]
            store = stack.enter_context(SqliteLedgerStore.open_existing(path))
            with store.snapshot():
                head = store.head()
                last = _check_range(path, ranges[-1][0], None, anchor, planned, store=store)
                recorded = store.all_positions()
                last_trace = _check_trace_range(path, trace_ranges[-1][0], None, store=store)
            segments = [future.result() for future in earlier] + [last]
            traces = [future.result() for future in earlier_trace] + [last_trace]
    except IntegrityError as exc:  # no readable head, or SQLite could not read a page
        return VerifyReport(0, Finding.UNREADABLE, None, str(exc))
    report = verify_segments(segments, head=head, recorded=recorded, anchor=anchor)
    # Each trace range is checked from the stored hash before it; the first damage counts.
    return with_trace(report, next((t.damage for t in traces if t.damage is not None), None))


def _check_range(
    path: str,
    first_seq: int,
    last_seq: int | None,
    anchor: LedgerHead | None,
    planned: int,
    *,
    store: SqliteLedgerStore | None = None,
) -> SegmentCheck:
    with ExitStack() as stack:
        # The rows of a check are freed by reference counting; collector passes over the
        # blocks in flight would only rescan them (about a tenth of a check's time).
        stack.enter_context(collection_paused())
        if store is None:
            store = stack.enter_context(SqliteLedgerStore.open_existing(path))
        previous = GENESIS_HASH
        if first_seq > 1:
            before = list(store.raw_rows(after_seq=first_seq - 2, up_to_seq=first_seq - 1))
            # If that row is missing, the previous segment reports it; any hash will do here.
            previous = before[0][3] if before and isinstance(before[0][3], bytes) else previous
        return check_stored_segment(
            store,
            first_seq=first_seq,
            last_seq=last_seq,
            packed_to=planned if last_seq is None else last_seq,
            previous_hash=previous,
            anchor=anchor,
        )


def _check_trace_range(
    path: str, first_seq: int, last_seq: int | None, *, store: SqliteLedgerStore | None = None
) -> TraceCheck:
    with ExitStack() as stack:
        stack.enter_context(collection_paused())
        if store is None:
            store = stack.enter_context(SqliteLedgerStore.open_existing(path))
        return store.check_trace(after_seq=first_seq - 1, up_to_seq=last_seq)


def check_stored_segment(
    store: SqliteLedgerStore,
    *,
    first_seq: int,
    last_seq: int | None,
    packed_to: int,
    previous_hash: bytes,
    anchor: LedgerHead | None = None,
) -> SegmentCheck:
    """Check rows ``first_seq..last_seq`` (to the end when None): packed blocks up to
    ``packed_to`` while they verify, then row by row. Rows numbered below 1 (only in a damaged
    ledger) come first in a row-by-row walk, so a segment from 1 with such rows takes it."""
    strays = first_seq == 1 and (store.lowest_seq() or 1) < 1
    packed = () if strays else store.packed_rows(after_seq=first_seq - 1, up_to_seq=packed_to)
    return check_segment_packed(
        packed,
        lambda after: store.raw_row_blocks(after_seq=after, up_to_seq=last_seq),
        first_seq=first_seq,
        previous_hash=previous_hash,
        last_seq=last_seq,
        anchor=anchor,
    )


def _segment_ranges(
    count: int, workers: int, rows_per_process: int | None = None
) -> list[tuple[int, int | None]]:
    """Consecutive seq ranges; the last is open so rows beyond the head are seen too."""
    parts = max(1, min(workers, count // (rows_per_process or _ROWS_PER_PROCESS)))
    size = -(-count // parts) if count else 0
    ranges: list[tuple[int, int | None]] = [
        (1 + k * size, (k + 1) * size) for k in range(parts - 1)
    ]
    ranges.append((1 + (parts - 1) * size, None))
    return ranges


def _verify(args: argparse.Namespace) -> int:
    anchor = None if args.anchor is None else LedgerHead.from_text(args.anchor)
    try:
        report = verify_ledger_file(args.path, anchor=anchor, workers=args.workers)
    except (NotFoundError, ConfigurationError) as exc:
        failure = {
            "ok": False,
            "entries": 0,
            "first_bad_seq": None,
            "problem": "not_a_ledger",
            "detail": str(exc),
        }
        emit(failure, _report_text, args)
        return EXIT_NOT_A_LEDGER
    emit(report.to_dict(), _report_text, args)
    return EXIT_INTACT if report.ok else EXIT_ALTERED


def _report_text(report: dict[str, Any]) -> str:
    if report["ok"]:
        return f"intact: {report['entries']} entries, hash chain, head and positions verified"
    pairs = [
        ("NOT INTACT", report["problem"]),
        ("verified entries", report["entries"]),
        ("first bad seq", report["first_bad_seq"]),
        ("detail", report["detail"]),
    ]
    return fields(pairs)


def _head(args: argparse.Namespace) -> int:
    with SqliteLedgerStore.open_existing(args.path) as store:
        head = store.head()
    result = {"count": head.count, "last_hash": head.last_hash.hex(), "anchor": head.to_text()}
    emit(result, _head_text, args)
    return EXIT_INTACT


def _head_text(head: dict[str, Any]) -> str:
    return fields(
        [("entries", head["count"]), ("last hash", head["last_hash"]), ("anchor", head["anchor"])]
    )
