"""Ledger entries and the hash chain that makes any edit or removal evident.

Each stored entry's hash is ``SHA-256(previous hash ‖ seq ‖ message id ‖ canonical entry)``,
the first entry chaining from 32 zero bytes. The canonical form is a fixed, versioned,
field-separated UTF-8 text, so it never depends on a JSON library's formatting.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from osed.domain.cts.tenders import Side
from osed.domain.errors import Problem, ValidationError
from osed.domain.time import Interval

GENESIS_HASH = bytes(32)
_SEP = "\x1f"
_FORMAT = "osed-ledger-v1"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One side of a committed transaction; ``signed_quantity`` is what it adds to a position."""

    transaction_id: str
    tender_id: str
    party: str
    counter_party: str
    side: Side
    interval: Interval
    price: int
    price_scale: int
    quantity: int
    quantity_scale: int
    currency: str
    market_id: str
    committed_at: datetime

    @property
    def signed_quantity(self) -> int:
        return self.side.sign * self.quantity

    def canonical(self) -> bytes:
        # One f-string: this runs for every appended entry. ``!s`` keeps str() of the numbers;
        # ``_value_`` is the side's text without the (slow) ``value`` property.
        return (
            f"{_FORMAT}\x1f{self.transaction_id}\x1f{self.tender_id}\x1f{self.party}\x1f"
            f"{self.counter_party}\x1f{self.side._value_}\x1f{_interval_text(self.interval)}\x1f"
            f"{self.price!s}\x1f{self.price_scale!s}\x1f{self.quantity!s}\x1f"
            f"{self.quantity_scale!s}\x1f{self.currency}\x1f{self.market_id}\x1f"
            f"{_instant(self.committed_at)}"
        ).encode()

    @classmethod
    def from_canonical(cls, data: bytes) -> LedgerEntry:
        try:
            parts = data.decode().split(_SEP)
        except UnicodeDecodeError as exc:
            raise _corrupt(f"not UTF-8: {exc}") from exc
        if len(parts) != 15 or parts[0] != _FORMAT:
            raise _corrupt(f"expected 15 fields of {_FORMAT}, got {len(parts)}")
        try:
            return cls(
                transaction_id=parts[1],
                tender_id=parts[2],
                party=parts[3],
                counter_party=parts[4],
                side=Side(parts[5]),
                interval=Interval(
                    datetime.fromisoformat(parts[6]), timedelta(seconds=int(parts[7]))
                ),
                price=int(parts[8]),
                price_scale=int(parts[9]),
                quantity=int(parts[10]),
                quantity_scale=int(parts[11]),
                currency=parts[12],
                market_id=parts[13],
                committed_at=datetime.fromisoformat(parts[14]),
            )
        except (ValueError, ValidationError) as exc:
            raise _corrupt(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class StoredEntry:
    seq: int
    message_id: str
    entry: LedgerEntry
    hash: bytes


def chain_hash(previous: bytes, seq: int, message_id: str, canonical_entry: bytes) -> bytes:
    """The hash of entry ``seq``, chaining it to ``previous``."""
    digest = hashlib.sha256(previous)
    digest.update(seq.to_bytes(8, "big"))
    digest.update(message_id.encode())
    digest.update(b"\x00")
    digest.update(canonical_entry)
    return digest.digest()


@lru_cache(maxsize=4096)
def _interval_text(interval: Interval) -> str:
    # The start and the whole seconds of a delivery interval, as two canonical fields.
    return f"{_instant(interval.start)}{_SEP}{int(interval.duration.total_seconds())}"


@lru_cache(maxsize=4096)
def _instant(value: datetime) -> str:
    # Entries of one clearing share their interval and commit time: format each once.
    return value.astimezone(UTC).isoformat()


def _corrupt(message: str) -> ValidationError:
    return ValidationError([Problem("$.entry", "corrupt_entry", message)], subject="ledger entry")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def trace_hash(
    previous: bytes, message_id: str, kind: str, received_at: datetime, body: str
) -> bytes:
    """The hash of a trace row, chaining it to the row before (``GENESIS_HASH`` for the first).

    The instant enters as UTC microseconds, so every backend's timestamp type hashes alike;
    the seq does not enter, because PostgreSQL numbers rows only as it inserts them."""
    return trace_hash_at(previous, trace_instant(received_at), message_id, kind, body)


def trace_instant(received_at: datetime) -> bytes:
    """How a trace row's instant enters its hash: 8 bytes of signed UTC microseconds."""
    return ((received_at - _EPOCH) // timedelta(microseconds=1)).to_bytes(8, "big", signed=True)


def trace_hash_at(previous: bytes, instant: bytes, message_id: str, kind: str, body: str) -> bytes:
    """:func:`trace_hash` with the instant already in its :func:`trace_instant` form (rows
    written together mostly share one instant)."""
    text = b"\x00".join((message_id.encode(), kind.encode(), body.encode()))
    return hashlib.sha256(previous + instant + text).digest()
