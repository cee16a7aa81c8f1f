"""Markets over CTS, through their Market Agents (in this process or another, reached over
the bus: :mod:`osed.api.market_access`): tenders submitted and
cancelled as CTS requests (traced, idempotent, their transactions sent to the parties on the
bus), open tenders and quotes, transactions and positions from the ledger, the book of each
delivery interval.

Who sees what: a participant submits, cancels and reads only its own party's tenders,
transactions and positions; an operator (and admin) every party's; a viewer or grid manager
none of them. The book, the quotes and the market's terms are public to every role.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response

from osed.agents.market_state import OpenQuote, OpenTender
from osed.api.auth import Caller
from osed.api.idempotency import IdempotencyKey, owner_of, shape_problems
from osed.api.listing import CursorQuery, LimitQuery, page_document
from osed.api.market_access import MarketAccess, market_of
from osed.codec import cts as codec
from osed.codec.cursor import paginate
from osed.domain.access import READERS, permit
from osed.domain.cts import (
    EiCanceledTender,
    EiCancelTender,
    EiCreatedTender,
    EiCreateTender,
    ResponseCode,
)
from osed.domain.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    ValidationError,
)
from osed.domain.identity import Principal, Role
from osed.domain.ledger import StoredEntry
from osed.domain.time import Interval
from osed.markets.protocol import BookLevel
from osed.ports.ledger import PositionRow

MarketId = Annotated[str, Path(min_length=1, max_length=128, description="the market's id")]
TenderId = Annotated[str, Path(min_length=1, max_length=128, description="a tender's id")]
PartyQuery = Annotated[
    str | None, Query(min_length=1, max_length=128, description="only this party's rows")
]
TRADERS = (Role.PARTICIPANT, Role.OPERATOR)
INSTRUMENT_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/[1-9][0-9]{0,9}$"
_BODY_KEYS = ("partyId", "counterPartyId", "tender")

TENDER_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["tender"],
                    "properties": {
                        "partyId": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 128,
                            "description": "default: the caller's party",
                        },
                        "counterPartyId": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 128,
                            "description": "default: the market",
                        },
                        "tender": {
                            "type": "object",
                            "description": "a CTS tender, wire format (docs/cts-wire-format.md)",
                        },
                    },
                }
            }
        },
    }
}


def _level(level: BookLevel) -> dict[str, Any]:
    return {"price": level.price, "quantity": level.quantity, "orders": level.orders}


def _tender_document(rest: OpenTender, market: str) -> dict[str, Any]:
    tender = rest.tender
    detail = tender.interval_detail
    return {
        "tender_id": tender.tender_id,
        "party_id": rest.party,
        "counter_party_id": rest.counter_party,
        "instrument": rest.instrument,
        "side": tender.side.value,
        "interval": _interval(detail.interval),
        "price": detail.price,
        "price_scale": tender.price_scale,
        "quantity": detail.quantity,
        "quantity_scale": tender.quantity_scale,
        "links": {"self": f"/api/v1/markets/{market}/tenders/{tender.tender_id}"},
    }


def _position_key(row: PositionRow) -> str:
    """A position's cursor key, in the order of (party, start, duration)."""
    start, seconds = row.interval.start, row.interval.duration.total_seconds()
    return f"{row.party}\x1f{int(start.timestamp()):012d}/{int(seconds):010d}"


def _interval(interval: Interval) -> dict[str, Any]:
    return {"start": _iso(interval.start), "duration_s": interval.duration.total_seconds()}


@functools.lru_cache(maxsize=8192)
def _iso(instant: datetime) -> str:
    # A market's answers repeat the same few hundred delivery intervals; isoformat is what
    # a position list spends most of its own time on.
    return instant.isoformat()


def quote_document(rest: OpenQuote, quantity_scale: int) -> dict[str, Any]:
    """A quote as anyone may accept it; ``remaining`` is at the market's quantity scale."""
    tender = rest.quote.tender
    detail = tender.interval_detail
    return {
        "quote_id": rest.quote.quote_id,
        "side": tender.side.value,
        "interval": _interval(detail.interval),
        "price": detail.price,
        "price_scale": tender.price_scale,
        "remaining": rest.remaining,
        "quantity_scale": quantity_scale,
        "tradeable": rest.quote.tradeable,
        "rfq_id": rest.quote.rfq_id,
    }


def _entry_document(stored: StoredEntry) -> dict[str, Any]:
    entry = stored.entry
    return {
        "seq": stored.seq,
        "transaction_id": entry.transaction_id,
        "tender_id": entry.tender_id,
        "party_id": entry.party,
        "counter_party_id": entry.counter_party,
        "side": entry.side.value,
        "interval": _interval(entry.interval),
        "price": entry.price,
        "price_scale": entry.price_scale,
        "quantity": entry.quantity,
        "quantity_scale": entry.quantity_scale,
        "currency": entry.currency,
        "committed_at": entry.committed_at.isoformat(),
    }


def _sees(principal: Principal, party: str | None) -> None:
    """A participant asks for its own party only (403 for another's)."""
    if party is not None and not principal.owns_party(party):
        raise PermissionDeniedError(f"{principal.subject} may not read the rows of {party!r}")


def _own_rows(principal: Principal, party: str | None) -> Any:
    """Which rows a list shows: ``party``'s if asked for, else every row the principal owns."""

    def shown(owner: str) -> bool:
        return (party is None or owner == party) and principal.owns_party(owner)

    return shown


def create_router(
    markets: Mapping[str, MarketAccess], *, caller: Caller, described: Any
) -> APIRouter:
    router = APIRouter(tags=["markets"])
    who = Depends(caller)

    def service(market_id: str) -> MarketAccess:
        return market_of(markets, market_id)

    async def market_document(market_id: str) -> dict[str, Any]:
        running = service(market_id)
        terms = await running.terms()
        units = terms.units
        return {
            "market_id": market_id,
            "mechanism": terms.mechanism,
            "continuous": terms.continuous,
            "currency": units.currency,
            "price_scale": units.price_scale,
            "quantity_scale": units.quantity_scale,
            "interval_s": None
            if units.resolution is None
            else int(units.resolution.total_seconds()),
            "open_intervals": [i.key() for i in await running.open_intervals()],
            "links": {
                name: f"/api/v1/markets/{market_id}/{name}"
                for name in ("tenders", "transactions", "positions", "quotes")
            },
        }

    @router.get("/markets", responses=described({200: "the markets the Market Agents serve"}))
    async def listing(principal: Principal = who) -> dict[str, Any]:
        permit(principal, *READERS, to="read markets")
        items = [await market_document(m) for m in sorted(markets)]
        return {"items": items, "next_cursor": None}

    @router.get(
        "/markets/{market_id}",
        responses=described({200: "the market's terms and open delivery intervals"}, 404),
    )
    async def market(market_id: MarketId, principal: Principal = who) -> dict[str, Any]:
        permit(principal, *READERS, to="read markets")
        return await market_document(market_id)

    @router.get(
        "/markets/{market_id}/book",
        responses=described({200: "the book of one delivery interval, aggregated by price"}, 404),
    )
    async def book(
        market_id: MarketId,
        interval: Annotated[
            str,
            Query(
                pattern=INSTRUMENT_PATTERN,
                max_length=40,
                description="the delivery interval: <start, UTC>/<seconds>, as open_intervals",
            ),
        ],
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, *READERS, to="read markets")
        snapshot = await service(market_id).book(interval)
        return {
            "interval": snapshot.instrument,
            "bids": [_level(level) for level in snapshot.bids],
            "offers": [_level(level) for level in snapshot.offers],
        }

    @router.post(
        "/markets/{market_id}/tenders",
        status_code=201,
        openapi_extra=TENDER_BODY,
        responses=described(
            {
                201: "the tender, created (fills it made are in the transactions)",
                409: "the tender id is taken",
            },
            404,
        ),
    )
    async def submit(
        market_id: MarketId,
        response: Response,
        body: Annotated[dict[str, Any], Body()],
        idempotency_key: IdempotencyKey = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, *TRADERS, to="submit tenders")
        running = service(market_id)
        request = _create_request(body, principal, market_id, idempotency_key)
        answer = (await running.serve(request)).response
        assert isinstance(answer, EiCreatedTender)
        text = answer.response.response_description
        raise_for(answer.response.response_code, text, subject="tender")
        tender_id = request.tender.tender_id
        response.headers["Location"] = f"/api/v1/markets/{market_id}/tenders/{tender_id}"
        return {
            "tender_id": tender_id,
            "party_id": request.party_id,
            "market_id": market_id,
            "description": text,
            "open": [_tender_document(p, market_id) for p in await running.open_parts(tender_id)],
        }

    @router.get(
        "/markets/{market_id}/tenders",
        responses=described({200: "open tenders the caller may see, by id"}, 404),
    )
    async def tenders(
        market_id: MarketId,
        party: PartyQuery = None,
        limit: LimitQuery = 100,
        cursor: CursorQuery = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, *TRADERS, to="read tenders")
        _sees(principal, party)
        shown = _own_rows(principal, party)
        rows = (t for t in await service(market_id).open_tenders() if shown(t.party))
        page = paginate(
            rows,
            lambda t: t.tender.tender_id,
            listing=f"tenders:{market_id}:{party or ''}",
            limit=limit,
            cursor=cursor,
        )
        path = f"/api/v1/markets/{market_id}/tenders"
        filters = {"party": party} if party else {}
        items = [_tender_document(t, market_id) for t in page.items]
        return page_document(items, page.next_cursor, path, limit, filters)

    @router.get(
        "/markets/{market_id}/tenders/{tender_id}",
        responses=described({200: "what rests of the tender"}, 404),
    )
    async def tender(
        market_id: MarketId, tender_id: TenderId, principal: Principal = who
    ) -> dict[str, Any]:
        permit(principal, *TRADERS, to="read tenders")
        parts = await _owned_parts(service(market_id), tender_id, principal)
        return {"tender_id": tender_id, "open": [_tender_document(p, market_id) for p in parts]}

    @router.delete(
        "/markets/{market_id}/tenders/{tender_id}",
        responses=described({200: "cancelled: the quantity that was still open"}, 404),
    )
    async def cancel(
        market_id: MarketId, tender_id: TenderId, principal: Principal = who
    ) -> dict[str, Any]:
        permit(principal, *TRADERS, to="cancel tenders")
        running = service(market_id)
        parts = await _owned_parts(running, tender_id, principal)
        request = EiCancelTender(
            request_id=f"api-cancel:{uuid.uuid4().hex}",
            party_id=parts[0].party,
            counter_party_id=parts[0].counter_party,
            tender_id=tender_id,
        )
        answer = (await running.serve(request)).response
        assert isinstance(answer, EiCanceledTender)
        response = answer.response
        raise_for(response.response_code, response.response_description, subject="cancel")
        return {"tender_id": tender_id, "cancelled": answer.success}

    @router.get(
        "/markets/{market_id}/transactions",
        responses=described({200: "ledger entries the caller may see, oldest first"}, 404),
    )
    async def transactions(
        market_id: MarketId,
        party: PartyQuery = None,
        limit: LimitQuery = 100,
        cursor: CursorQuery = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, *TRADERS, to="read transactions")
        _sees(principal, party)
        shown = _own_rows(principal, party)
        ledger = service(market_id).ledger

        def rows() -> Iterator[StoredEntry]:
            for stored in ledger.entries():
                if stored.entry.market_id == market_id and shown(stored.entry.party):
                    yield stored

        page = paginate(
            rows(),
            lambda e: e.seq,
            listing=f"transactions:{market_id}:{party or ''}",
            limit=limit,
            cursor=cursor,
            kind=int,
        )
        path = f"/api/v1/markets/{market_id}/transactions"
        filters = {"party": party} if party else {}
        items = [_entry_document(e) for e in page.items]
        return page_document(items, page.next_cursor, path, limit, filters)

    @router.get(
        "/markets/{market_id}/positions",
        responses=described({200: "net positions per party and delivery interval"}, 404),
    )
    async def positions(
        market_id: MarketId,
        party: PartyQuery = None,
        limit: LimitQuery = 100,
        cursor: CursorQuery = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, *TRADERS, to="read positions")
        _sees(principal, party)
        ledger = service(market_id).ledger
        if principal.sees_every_party:
            rows = ledger.positions(party) if party else ledger.all_positions()
        else:  # its own party's rows only, read alone (another party asked for was 403)
            own = principal.party
            rows = [r for r in ledger.positions(own) if r.party == own] if own else []
        rows.sort(key=lambda r: (r.party, r.interval.start, r.interval.duration))
        page = paginate(
            rows,
            _position_key,
            listing=f"positions:{market_id}:{party or ''}",
            limit=limit,
            cursor=cursor,
        )
        items = [
            {
                "party_id": r.party,
                "interval": _interval(r.interval),
                "quantity": r.quantity,
                "quantity_scale": r.quantity_scale,
            }
            for r in page.items
        ]
        filters = {"party": party} if party else {}
        path = f"/api/v1/markets/{market_id}/positions"
        return page_document(items, page.next_cursor, path, limit, filters)

    @router.get(
        "/markets/{market_id}/quotes", responses=described({200: "open quotes, by id"}, 404)
    )
    async def quotes(
        market_id: MarketId,
        rfq: Annotated[
            str | None,
            Query(min_length=1, max_length=128, description="only the quotes answering this RFQ"),
        ] = None,
        limit: LimitQuery = 100,
        cursor: CursorQuery = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, *READERS, to="read quotes")
        running = service(market_id)
        rows = (q for q in await running.open_quotes() if rfq is None or q.quote.rfq_id == rfq)
        page = paginate(
            rows,
            lambda q: q.quote.quote_id,
            listing=f"quotes:{market_id}:{rfq or ''}",
            limit=limit,
            cursor=cursor,
        )
        path = f"/api/v1/markets/{market_id}/quotes"
        scale = (await running.terms()).units.quantity_scale
        items = [quote_document(q, scale) for q in page.items]
        return page_document(items, page.next_cursor, path, limit, {"rfq": rfq} if rfq else {})

    return router


async def _owned_parts(
    running: MarketAccess, tender_id: str, principal: Principal
) -> list[OpenTender]:
    parts = await running.open_parts(tender_id)
    if not parts or not principal.owns_party(parts[0].party):
        # Another party's tender is as absent as an unknown one: its existence is theirs.
        raise NotFoundError(f"no open tender {tender_id!r} of the caller's party")
    return parts


def _create_request(
    body: dict[str, Any], principal: Principal, market_id: str, key: str | None
) -> EiCreateTender:
    """The CTS request of a tender body, every problem of body and key found at once."""
    party = body.get("partyId", principal.party)
    if isinstance(party, str) and not principal.owns_party(party):
        raise PermissionDeniedError(f"{principal.subject} may not tender for {party!r}")
    problems = shape_problems(body, _BODY_KEYS, key)
    if party is None:
        problems.append(Problem("$.partyId", "required", "the caller acts for no party: name one"))
    digest = hashlib.sha256(f"{owner_of(principal)}\x1f{key}".encode()).hexdigest()
    message = {
        "messageType": "EiCreateTender",
        "requestId": f"api:{digest[:40]}",
        "partyId": "-" if party is None else party,
        "counterPartyId": body.get("counterPartyId", market_id),
        "tender": body.get("tender"),
        "marketId": market_id,
    }
    try:
        decoded = codec.decode(message)
    except ValidationError as exc:
        problems += exc.problems
    if problems:
        raise ValidationError(problems, subject="tender")
    assert isinstance(decoded, EiCreateTender)
    return decoded


def raise_for(code: int, text: str, *, subject: str) -> None:
    if code in (ResponseCode.BAD_REQUEST, ResponseCode.TERMS_VIOLATED):
        raise ValidationError(
            [Problem("$", "refused_by_market", text or "refused")], subject=subject
        )
    if code == ResponseCode.CONFLICT:
        raise ConflictError(text or f"the {subject} conflicts with the market's records")
    if code == ResponseCode.NOT_FOUND:
        raise NotFoundError(text or f"the market does not know this {subject}")
    if not 200 <= code < 300:
        raise ConflictError(f"the market answered {code}: {text}")
