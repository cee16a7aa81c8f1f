"""The stored forms a restart loads fast: tender ids as plain lines (JSON only where an id is not
plain or has several parts) and cached replies whose request ids load without the replies."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import pytest

from osed.agents.market_state import Reply
from osed.agents.reply_cache import SEAL_EVERY, RecentReplies
from osed.agents.reply_chunks import ReplyChunk
from osed.agents.tender_ids import TenderIds, read_chunk
from osed.domain.cts import EiResponse
from osed.domain.errors import IntegrityError

ODD_IDS = ["", "[bracket", "new\nline", "é", '"quoted"', "tab\tid", "t 1"]


def reloaded_ids(ids: TenderIds) -> TenderIds:
    again = TenderIds(merge_up_to=ids._chunks._merge_up_to)
    again.load((piece, read_chunk(piece.body)) for piece, _ in ids.sealed())
    return again


def test_tender_ids_of_every_shape_come_back_from_their_chunks() -> None:
    ids = TenderIds(merge_up_to=25)
    expected: dict[str, tuple[str, ...]] = {}
    for n in range(60):
        tender_id = ODD_IDS[n % len(ODD_IDS)] + str(n) if n % 3 == 0 else f"t{n}"
        parts = (f"{tender_id}#0", f"{tender_id}#1") if n % 5 == 0 else (tender_id,)
        ids[tender_id] = parts
        expected[tender_id] = parts
        if n % 7 == 6:
            ids.sealed()  # several chunks, merged up to 25 ids
    for tender_id in ODD_IDS:  # exactly the odd ids too, each of one part
        ids[tender_id] = (tender_id,)
        expected[tender_id] = (tender_id,)
    pieces = ids.sealed()
    assert len(pieces) > 1
    assert sum(count for _, count in pieces) == len(expected)
    again = reloaded_ids(ids)
    assert dict(again) == expected
    assert len(again) == len(expected)
    assert all(again.get(t) == parts and t in again for t, parts in expected.items())
    assert again.get("unknown") is None
    assert "unknown" not in again


def test_plain_single_part_ids_are_stored_as_they_are() -> None:
    ids = TenderIds()
    ids["t1"] = ("t1",)
    ids["s1"] = ("s1#0", "s1#1")
    ids["[x"] = ("[x",)
    ((piece, _),) = ids.sealed()
    assert zlib.decompress(piece.body).decode().split("\n") == [
        "t1",
        '["s1",["s1#0","s1#1"]]',
        '["[x",["[x"]]',
    ]


@pytest.mark.parametrize("line", ['["t1"]', '["t1",[]]', '[1,["a"]]', "[not json"])
def test_a_tender_id_line_that_does_not_decode_is_refused(line: str) -> None:
    with pytest.raises(ValueError, match="not a tender id and its parts"):
        read_chunk(zlib.compress(f"t0\n{line}".encode()))


def reply(n: int) -> Reply:
    return Reply(EiResponse(200, f"r{n}", datetime(2030, 1, 1, tzinfo=UTC), f"answer {n}"))


@pytest.mark.parametrize("seal_every", [SEAL_EVERY, None])
@pytest.mark.parametrize("limit", [3, SEAL_EVERY + 10, 10 * SEAL_EVERY])
def test_cached_replies_come_back_from_their_chunks_in_their_order(
    limit: int, seal_every: int | None
) -> None:
    """Sealed as they come, or (without periodic snapshots) all when a snapshot asks."""
    cache = RecentReplies(limit, seal_every=seal_every)
    for n in range(2 * SEAL_EVERY + 5):
        cache.put(f"r{n}", reply(n))
    # A request forgotten (limit 3) and executed again is cached at its later place.
    if "r0" not in cache:
        cache.put("r0", reply(-1))
    expected = list(cache.items())
    again = RecentReplies(limit)
    again.load((piece, ReplyChunk(piece.body)) for piece, _ in cache.sealed())
    assert list(again.items()) == expected
    assert len(again) == len(expected)


def test_a_reply_chunk_whose_replies_do_not_decode_is_refused_when_asked() -> None:
    cache = RecentReplies(10)
    cache.put("r1", reply(1))
    ((piece, _),) = cache.sealed()
    ids_frame = piece.body[: len(piece.body) - len(ReplyChunk(piece.body)._rest)]
    damaged = ReplyChunk(ids_frame + b"garbage")
    with pytest.raises(IntegrityError):
        damaged.line("r1")
