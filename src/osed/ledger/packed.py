"""Verification of ledger rows packed column by column (:class:`PackedLedgerRows`).

The row-by-row walk of :mod:`osed.ledger.verify` spends most of its time fetching rows and
splitting entries, one Python object at a time. Here a block arrives as three byte strings;
the hash chain is checked with one SHA-256 per row and one comparison per block, and the
position tally is computed with NumPy over the entries' bytes. A block is accepted only when
every row is intact and every entry is plainly well formed; anything else (a gap, a wrong
type, a separator inside a value, a quantity that is not plain digits, a hash mismatch) leaves
the block to the row-by-row walk, which names the problem. So the report never depends on
which path checked a row.
"""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import numpy.typing as npt

from osed.domain.errors import ValidationError
from osed.ledger.positions import ENTRY_FIELDS, ENTRY_FORMAT, PositionTally, RawPositionKey
from osed.ports.ledger import PACKED_SEPARATOR, LedgerHead, PackedLedgerRows

_SEQ = struct.Struct(">Q")
_FIELD_SEPARATOR = 0x1F
_SEPARATORS = ENTRY_FIELDS - 1
_HASH_BYTES = 32
_MAX_DIGITS = 18  # a plain quantity of up to 18 digits fits int64; longer ones go row by row
_FORMAT_WORDS = np.frombuffer(ENTRY_FORMAT.ljust(16, b"\x00"), "<u8")
# Bytes 0..k of a little-endian word: the first k bytes of a field read 8 at a time.
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=np.uint64)
# Odd multipliers that mix a key's words into one 64-bit value; equal values are then
# compared word by word, so a collision costs only a detour through the row-by-row walk.
_MIXERS = np.random.default_rng(0x05ED).integers(1, 2**63, size=256, dtype=np.uint64) | np.uint64(1)

Words = npt.NDArray[np.uint64]
Indices = npt.NDArray[np.int64]


class PackedChecker:
    """Checks packed blocks of one segment in order, adding their positions to ``tally``.

    It remembers the raw key of every key layout it has seen, so an entry is split in Python
    only the first time its key appears."""

    __slots__ = ("_keys", "tally")

    def __init__(self, tally: PositionTally) -> None:
        self.tally = tally
        self._keys: dict[bytes, RawPositionKey] = {}

    def check(
        self, block: PackedLedgerRows, previous: bytes, anchor: LedgerHead | None = None
    ) -> bytes | None:
        """The block's last hash if all its rows are intact entries chaining from
        ``previous``, with their positions added to the tally; None (tally unchanged) if the
        block must be checked row by row."""
        rows = block.rows
        first_seq = block.after_seq + 1
        if rows == 0 or rows != block.expected or block.well_typed != rows:
            return None
        if first_seq < 1 or first_seq + rows > 2**64 or len(block.hashes) != _HASH_BYTES * rows:
            return None
        message_ids = block.message_ids.split(PACKED_SEPARATOR)
        entries = block.entries.split(PACKED_SEPARATOR)
        if len(message_ids) != rows or len(entries) != rows:
            return None  # a separator inside a value
        digests = _chain(previous, first_seq, message_ids, entries)
        if digests != block.hashes:
            return None
        if anchor is not None and block.after_seq < anchor.count <= block.after_seq + rows:
            at = (anchor.count - first_seq) * _HASH_BYTES
            if digests[at : at + _HASH_BYTES] != anchor.last_hash:
                return None
        sums = tally_entries(block.entries, rows, self._keys)
        if sums is None or not _admitted(self.tally, sums):
            return None
        raw = self.tally.raw
        for key, quantity in sums.items():
            raw[key] = raw.get(key, 0) + quantity
        return digests[-_HASH_BYTES:]


def _chain(
    previous: bytes, first_seq: int, message_ids: list[bytes], entries: list[bytes]
) -> bytes:
    """Every row's hash, back to back, each computed from the one before (equal to the stored
    one exactly when the block is intact)."""
    sha256, join, separator = hashlib.sha256, b"".join, b"\x00"
    digests: list[bytes] = []
    add = digests.append
    seqs = map(_SEQ.pack, range(first_seq, first_seq + len(entries)))
    for seq, message_id, entry in zip(seqs, message_ids, entries, strict=True):
        previous = sha256(join((previous, seq, message_id, separator, entry))).digest()
        add(previous)
    return join(digests)


def _admitted(tally: PositionTally, sums: dict[RawPositionKey, int]) -> bool:
    try:
        for key in sums.keys() - tally.raw.keys():
            tally.admit(key)
    except ValidationError:
        return False
    return True


def tally_entries(
    entries: bytes, rows: int, known: dict[bytes, RawPositionKey] | None = None
) -> dict[RawPositionKey, int] | None:
    """The quantities of ``rows`` entries (joined by :data:`PACKED_SEPARATOR`) summed by raw
    position key, as :class:`PositionTally` sums them; None unless every entry has its 15
    fields, the format tag and a quantity of plain digits. ``known`` maps a key's words (as
    laid out here) to its raw key, and learns the keys seen."""
    known = {} if known is None else known
    size = len(entries)
    padded = entries + bytes(8)  # so that a word read near the end stays inside
    data = np.frombuffer(padded, np.uint8, count=size)
    # words[p] = the 8 bytes at p, little-endian: one gather reads 8 bytes of a field.
    words: Words = np.ndarray((size + 1,), "<u8", buffer=padded, strides=(1,))
    bounds = np.flatnonzero(data == PACKED_SEPARATOR[0])
    separators = np.flatnonzero(data == _FIELD_SEPARATOR)
    if len(bounds) != rows - 1 or len(separators) != _SEPARATORS * rows:
        return None
    starts = np.concatenate(([0], bounds + 1))
    ends = np.concatenate((bounds, [size]))
    fields = separators.reshape(rows, _SEPARATORS)  # each row's field ends, if all its own
    if not ((fields[:, 0] >= starts).all() and (fields[:, -1] < ends).all()):
        return None
    if not _has_format(words, starts, fields[:, 0] - starts):
        return None
    quantities = _quantities(words, fields[:, 9] + 1, fields[:, 10])
    if quantities is None:
        return None
    key_fields = [
        (fields[:, 2] + 1, fields[:, 3]),  # party
        (fields[:, 4] + 1, fields[:, 7]),  # side, interval start, seconds
        (fields[:, 10] + 1, fields[:, 11]),  # quantity scale
    ]
    field_words = [_field_words(words, start, end, size) for start, end in key_fields]
    widths = [len(columns) for columns in field_words]
    columns = [column for columns in field_words for column in columns]
    columns += [(end - start).astype(np.uint64) for start, end in key_fields]
    if len(columns) > len(_MIXERS):
        return None  # keys longer than any ledger writes: left to the row-by-row walk
    key = np.stack(columns, axis=1)
    mixed = (key * _MIXERS[: key.shape[1]]).sum(axis=1)
    _, first, group = np.unique(mixed, return_index=True, return_inverse=True)
    group = group.reshape(-1)
    if not (key == key[first[group]]).all():
        return None  # two keys mixed to one value: rare, and left to the row-by-row walk
    sums = np.bincount(group, weights=quantities, minlength=len(first))
    # Each group's key words as bytes (with the layout, which varies by block): exact names.
    layout = bytes(widths)
    named = np.ascontiguousarray(key[first]).view(f"V{8 * key.shape[1]}").ravel().tolist()
    result: dict[RawPositionKey, int] = {}
    for words_of_key, row, total in zip(named, first.tolist(), sums.tolist(), strict=True):
        name = layout + words_of_key
        raw = known.get(name)
        if raw is None:
            parts = entries[int(starts[row]) : int(ends[row])].split(b"\x1f")
            raw = known[name] = (parts[3], parts[5], parts[6], parts[7], parts[11])
        result[raw] = int(total)
    return result


def _has_format(words: Words, starts: Indices, lengths: Indices) -> bool:
    head, tail = _FORMAT_WORDS
    tail_mask = _LOW_BYTES[len(ENTRY_FORMAT) - 8]
    return bool(
        (lengths == len(ENTRY_FORMAT)).all()
        and (words[starts] == head).all()
        and ((words[starts + 8] & tail_mask) == tail).all()
    )


def _field_words(words: Words, start: Indices, end: Indices, size: int) -> list[Words]:
    """A field of every row as little-endian words, zero past its end."""
    length = end - start
    count = -(-int(length.max()) // 8) if len(length) else 0
    columns = []
    for word in range(count):
        left = np.clip(length - 8 * word, 0, 8)
        columns.append(words[np.minimum(start + 8 * word, size)] & _LOW_BYTES[left])
    return columns


def _quantities(words: Words, start: Indices, end: Indices) -> npt.NDArray[np.float64] | None:
    """Each row's quantity field as a number, if it is 1 to 18 ASCII digits; as float64, exact
    because the block's total stays below 2**53 (else None)."""
    length = end - start
    if not ((length >= 1) & (length <= _MAX_DIGITS)).all():
        return None
    count = -(-int(length.max()) // 8)
    width = 8 * count
    # The `width` bytes that end where the field ends, most significant first.
    window = np.concatenate(
        [words[end - 8 * word].view(np.uint8).reshape(-1, 8) for word in range(count, 0, -1)],
        axis=1,
    ).astype(np.int64) - ord("0")
    inside = np.arange(width) >= (width - length)[:, None]
    if not (~inside | ((window >= 0) & (window <= 9))).all():
        return None
    exponents = np.arange(width - 1, -1, -1)
    powers = np.where(exponents < _MAX_DIGITS, 10 ** np.minimum(exponents, _MAX_DIGITS - 1), 0)
    values = np.where(inside, window, 0) @ powers
    if float(values.max()) * len(values) >= 2**53:
        return None
    return values.astype(np.float64)
