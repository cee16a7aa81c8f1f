"""Every tender id a Market Agent has taken, with the ids of its parts in the market, kept so that
a reused id is refused.

They grow with history (a million after a million tenders) and a restart loads them all, so
they are stored for a fast load: sealed into chunks (:mod:`osed.agents.snapshot_chunks`) of
lines where a tender of one part with a plain id (ASCII, not empty, no newline, not starting
with ``[``) is the id as it is, and any other tender the JSON line ``[id, [part ids]]``. A chunk
loads with one ``split`` into a set built in C; only the JSON lines, if any, are parsed.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import chain
from typing import TypeVar, overload

from osed.agents.snapshot_chunks import SealedChunks, json_line
from osed.ports.ledger import SnapshotChunk

IDS_PER_CHUNK = 50_000
"""A snapshot merges its new ids into the newest chunk up to this many."""

T = TypeVar("T")
_JSON_LINE = re.compile(r"^\[.*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class TenderIdChunk:
    """The content of a stored chunk: its lines, and the JSON ones among them decoded."""

    lines: list[str]
    others: dict[str, tuple[str, ...]]
    """Each tender id of a JSON line, with its part ids."""
    json_lines: list[str]


def read_chunk(blob: bytes) -> TenderIdChunk:
    """A chunk's content; ValueError (or zlib.error) if it does not decode."""
    text = zlib.decompress(blob).decode()
    lines = text.split("\n") if text else []
    others: dict[str, tuple[str, ...]] = {}
    json_lines = _JSON_LINE.findall(text) if text.startswith("[") or "\n[" in text else []
    for line in json_lines:
        tender_id, part_ids = _tender_of(line)
        others[tender_id] = part_ids
    return TenderIdChunk(lines, others, json_lines)


def _tender_of(line: str) -> tuple[str, tuple[str, ...]]:
    try:
        item = json.loads(line)
    except ValueError:
        item = None
    if isinstance(item, list) and len(item) == 2:
        tender_id, part_ids = item
        parts_ok = isinstance(part_ids, list) and all(isinstance(p, str) for p in part_ids)
        if isinstance(tender_id, str) and parts_ok and part_ids:
            return tender_id, tuple(part_ids)
    raise ValueError(f"not a tender id and its parts: {line[:80]!r}")


def _line(tender_id: str, part_ids: tuple[str, ...]) -> str:
    plain = tender_id.isascii() and tender_id[:1] not in ("", "[") and "\n" not in tender_id
    if plain and part_ids == (tender_id,):
        return tender_id
    return json_line([tender_id, part_ids])


class TenderIds(Mapping[str, tuple[str, ...]]):
    """Tender id → part ids, never removed. Most tenders have one part, its id the tender's:
    those are kept in a set, the others in a dict."""

    def __init__(self, *, merge_up_to: int = IDS_PER_CHUNK) -> None:
        self._single: set[str] = set()
        self._split: dict[str, tuple[str, ...]] = {}
        self._unsealed: list[str] = []  # added since the last seal, in order
        self._chunks = SealedChunks(merge_up_to=merge_up_to)

    def __contains__(self, tender_id: object) -> bool:
        return tender_id in self._single or tender_id in self._split

    def __getitem__(self, tender_id: str) -> tuple[str, ...]:
        if tender_id in self._single:
            return (tender_id,)
        return self._split[tender_id]

    @overload
    def get(self, tender_id: str, /) -> tuple[str, ...] | None: ...
    @overload
    def get(self, tender_id: str, /, default: tuple[str, ...] | T) -> tuple[str, ...] | T: ...
    def get(self, tender_id: str, /, default: object = None) -> object:
        if tender_id in self._single:
            return (tender_id,)
        return self._split.get(tender_id, default)

    def __iter__(self) -> Iterator[str]:
        return chain(self._single, self._split)

    def __len__(self) -> int:
        return len(self._single) + len(self._split)

    def __setitem__(self, tender_id: str, part_ids: tuple[str, ...]) -> None:
        """Add a new tender id (an id already taken is refused before it gets here)."""
        if part_ids == (tender_id,):
            self._single.add(tender_id)
        else:
            self._split[tender_id] = part_ids
        self._unsealed.append(tender_id)

    def sealed(self) -> list[tuple[SnapshotChunk, int]]:
        """The ids as compressed chunks for a snapshot, oldest first, each with its number of
        ids; those added since the last call sealed into a new one."""
        if self._unsealed:
            lines = [_line(tender_id, self[tender_id]) for tender_id in self._unsealed]
            self._chunks.seal(self._chunks.end + len(lines), lines)
            self._unsealed = []
        return self._chunks.pieces()

    def load(self, chunks: Iterable[tuple[SnapshotChunk, TenderIdChunk]]) -> None:
        """Take the chunks of a snapshot, oldest first, into an empty set of ids."""
        for piece, content in chunks:
            self._single.update(content.lines)
            if content.others:
                self._single.difference_update(content.json_lines)
                for tender_id, part_ids in content.others.items():
                    if part_ids == (tender_id,):
                        self._single.add(tender_id)
                    else:
                        self._split[tender_id] = part_ids
            self._chunks.adopt(piece, len(content.lines))
