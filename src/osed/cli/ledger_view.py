"""``osed ledger show`` and ``osed ledger positions``: entries and positions in real units.

Prices and quantities are stored as CTS scaled integers; these commands print their real
values (``integer × 10**-scale``): a price per unit in the entry's currency, a quantity in
units (kWh in the market demo). Both filter by party and by delivery interval.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from osed.cli._output import emit_lines, note, table, wants_json
from osed.domain.errors import Problem, ValidationError
from osed.domain.ledger import StoredEntry
from osed.domain.units import scaled_to_decimal
from osed.storage.sqlite import SqliteLedgerStore

DEFAULT_LIMIT = 20


def register(commands: Any) -> None:
    show: argparse.ArgumentParser = commands.add_parser(
        "show",
        help=f"print entries, prices and quantities in units (the first {DEFAULT_LIMIT} "
        "unless --limit)",
        description="Entries in ledger order, one JSON object per line when piped, a table on "
        f"a terminal. At most --limit entries (default {DEFAULT_LIMIT}; 0 for all) after "
        "--after-seq; page on with --after-seq set to the last seq shown.",
    )
    show.add_argument("path", metavar="PATH", help="the SQLite ledger file")
    show.add_argument("--after-seq", type=int, default=0, help="start after this seq")
    show.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help="at most this many entries, 0 for all (default: %(default)s)",
    )
    _filters(show)
    show.set_defaults(handler=_show)

    positions: argparse.ArgumentParser = commands.add_parser(
        "positions",
        help="print the net position of every party and delivery interval (buys positive)",
        description="Positions as the ledger records them, in units; one JSON object per "
        "line when piped, a table on a terminal.",
    )
    positions.add_argument("path", metavar="PATH", help="the SQLite ledger file")
    _filters(positions)
    positions.set_defaults(handler=_positions)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--party", help="only this party's entries or positions")
    parser.add_argument(
        "--from",
        dest="start",
        metavar="TIME",
        help="only delivery intervals ending after this ISO 8601 time (UTC when no offset)",
    )
    parser.add_argument(
        "--to",
        dest="end",
        metavar="TIME",
        help="only delivery intervals starting before this ISO 8601 time",
    )


class Window:
    """The party and delivery-time filter of both commands, checked before anything is read."""

    def __init__(self, args: argparse.Namespace) -> None:
        problems: list[Problem] = []
        self.party: str | None = args.party
        self.start = _instant(args.start, "--from", problems)
        self.end = _instant(args.end, "--to", problems)
        if self.start and self.end and self.start >= self.end:
            problems.append(Problem("--to", "empty_window", "must be later than --from"))
        if getattr(args, "limit", 0) < 0:
            problems.append(Problem("--limit", "negative", "must be 0 (all) or more"))
        if problems:
            raise ValidationError(problems, subject="ledger filter")

    @property
    def everything(self) -> bool:
        return self.party is None and self.start is None and self.end is None

    def admits(self, party: str, start: datetime, end: datetime) -> bool:
        return (
            (self.party is None or party == self.party)
            and (self.start is None or end > self.start)
            and (self.end is None or start < self.end)
        )


def _instant(text: str | None, option: str, problems: list[Problem]) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        problems.append(Problem(option, "bad_time", f"{text!r} is not an ISO 8601 time"))
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def entry_json(stored: StoredEntry) -> dict[str, Any]:
    entry = stored.entry
    return {
        "seq": stored.seq,
        "message_id": stored.message_id,
        "transaction_id": entry.transaction_id,
        "party": entry.party,
        "counter_party": entry.counter_party,
        "side": entry.side.value,
        "interval": entry.interval.key(),
        "price": float(scaled_to_decimal(entry.price, entry.price_scale)),
        "quantity": float(scaled_to_decimal(entry.quantity, entry.quantity_scale)),
        "currency": entry.currency,
        "market_id": entry.market_id,
        "committed_at": entry.committed_at.isoformat(),
        "hash": stored.hash.hex(),
    }


def _show(args: argparse.Namespace) -> int:
    window = Window(args)
    with SqliteLedgerStore.open_existing(args.path) as store:
        matching = _matching(store.entries(after_seq=args.after_seq), window)
        shown = list(itertools.islice(matching, args.limit or None))
        emit_lines([entry_json(stored) for stored in shown], _entries_text, args)
        if args.limit and len(shown) == args.limit and not wants_json(args):
            # Seqs run 1..count without holes, so an unfiltered rest needs no reading.
            more = (
                store.head().count - shown[-1].seq
                if window.everything
                else sum(1 for _ in matching)
            )
            if more:
                note(f"{more} more entries, use --limit (0 for all) or --after-seq {shown[-1].seq}")
    return 0


def _matching(entries: Iterator[StoredEntry], window: Window) -> Iterator[StoredEntry]:
    for stored in entries:
        interval = stored.entry.interval
        if window.admits(stored.entry.party, interval.start, interval.end):
            yield stored


def _entries_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no entries"
    return table(
        ["seq", "party", "counter party", "side", "interval", "price", "quantity", "transaction"],
        (
            [
                row["seq"],
                row["party"],
                row["counter_party"],
                row["side"],
                row["interval"],
                f"{row['price']:g} {row['currency']}",
                row["quantity"],
                row["transaction_id"],
            ]
            for row in rows
        ),
    )


def _positions(args: argparse.Namespace) -> int:
    window = Window(args)
    with SqliteLedgerStore.open_existing(args.path) as store:
        rows = store.all_positions() if window.party is None else store.positions(window.party)
    chosen = sorted(
        (row for row in rows if window.admits(row.party, row.interval.start, row.interval.end)),
        key=lambda row: (row.party, row.interval.start, row.interval.duration),
    )
    found = [
        {
            "party": row.party,
            "interval": row.interval.key(),
            "quantity": float(scaled_to_decimal(row.quantity, row.quantity_scale)),
        }
        for row in chosen
    ]
    emit_lines(found, _positions_text, args)
    return 0


def _positions_text(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no positions"
    return table(
        ["party", "interval", "quantity"],
        ([row["party"], row["interval"], row["quantity"]] for row in rows),
    )
