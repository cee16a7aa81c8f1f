"""Negotiation over CTS, through the market's Market Agent (:mod:`osed.api.market_access`):
requests for quotes (``EiCreateRfq``), quotes created (``EiCreateQuote``), accepted
(``EiAcceptQuote``: a trade at the quote's price, in the ledger and sent to both parties) and
withdrawn by their maker (``EiCancelQuote``). Each creation asks for an ``Idempotency-Key``;
its CTS request id comes from the caller and the key, so the Market Agent answers a retry
from its reply cache.

A participant acts for its own party only; an operator names the party. An open quote is
public (as the list of quotes); withdrawing one is its maker's (another party's is 404).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Response

from osed.agents.market_state import OpenQuote, Reply
from osed.api.auth import Caller
from osed.api.idempotency import IdempotencyKey, owner_of, shape_problems
from osed.api.market_access import MarketAccess, market_of
from osed.api.markets import TRADERS, MarketId, quote_document, raise_for
from osed.codec import cts as codec
from osed.domain.access import READERS, permit
from osed.domain.cts import (
    EiAcceptQuote,
    EiCancelQuote,
    EiCreateQuote,
    EiCreateRfq,
    EiResponse,
    ResponseCode,
)
from osed.domain.errors import NotFoundError, PermissionDeniedError, Problem, ValidationError
from osed.domain.identity import Principal
from osed.ports.ledger import LedgerStore

QuoteId = Annotated[str, Path(min_length=1, max_length=128, description="a quote's id")]
_PARTY = {
    "type": "string",
    "minLength": 1,
    "maxLength": 128,
    "description": "default: the caller's party",
}


def _body(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": {"partyId": _PARTY, **properties},
    }
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


RFQ_BODY = _body(
    {"rfq": {"type": "object", "description": "a CTS rfq, wire format (docs/cts-wire-format.md)"}},
    ["rfq"],
)
QUOTE_BODY = _body(
    {
        "quote": {
            "type": "object",
            "description": "a CTS quote, wire format (docs/cts-wire-format.md)",
        }
    },
    ["quote"],
)
_SCALED = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
ACCEPT_BODY = _body(
    {
        "quantity": _SCALED | {"description": "how much to take, at the quote's quantity scale"},
        "price": _SCALED
        | {"description": "the caller's limit at the quote's price scale (buy: at most)"},
    },
    ["quantity", "price"],
)


def create_router(
    markets: Mapping[str, MarketAccess], *, caller: Caller, described: Any
) -> APIRouter:
    router = APIRouter(tags=["markets"])
    who = Depends(caller)

    def service(market_id: str) -> MarketAccess:
        return market_of(markets, market_id)

    async def open_quote(running: MarketAccess, quote_id: str) -> OpenQuote:
        for rest in await running.open_quotes():
            if rest.quote.quote_id == quote_id:
                return rest
        raise NotFoundError(f"no open quote {quote_id!r}")

    async def answered(running: MarketAccess, request: Any, subject: str) -> Reply:
        """The Market Agent's reply to ``request``; a refusal as its problem."""
        reply = await running.serve(request)
        response = reply.response
        assert isinstance(response, EiResponse)
        if response.response_code == ResponseCode.TERMS_VIOLATED:
            terms = response.response_terms_violated or ("",)
            raise ValidationError(
                [
                    Problem(f"$.{t}".rstrip("."), "terms_violated", "outside the quote")
                    for t in terms
                ],
                subject=subject,
            )
        raise_for(response.response_code, response.response_description, subject=subject)
        return reply

    @router.post(
        "/markets/{market_id}/rfqs",
        status_code=201,
        openapi_extra=RFQ_BODY,
        responses=described({201: "the request for quotes, acknowledged and traced"}, 404),
    )
    async def create_rfq(
        market_id: MarketId,
        body: Annotated[dict[str, Any], Body()],
        idempotency_key: IdempotencyKey = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, *TRADERS, to="request quotes")
        running = service(market_id)
        request = _decoded(
            "EiCreateRfq",
            body,
            fields={"rfq": body.get("rfq")},
            principal=principal,
            market_id=market_id,
            key=idempotency_key,
            keys=("rfq",),
        )
        assert isinstance(request, EiCreateRfq)
        reply = await answered(running, request, "rfq")
        assert isinstance(reply.response, EiResponse)
        return {
            "rfq_id": request.rfq.rfq_id,
            "party_id": request.party_id,
            "market_id": market_id,
            "description": reply.response.response_description,
            "links": {"quotes": f"/api/v1/markets/{market_id}/quotes?rfq={request.rfq.rfq_id}"},
        }

    @router.post(
        "/markets/{market_id}/quotes",
        status_code=201,
        openapi_extra=QUOTE_BODY,
        responses=described(
            {201: "the quote, open to be accepted", 409: "the quote id is taken"}, 404
        ),
    )
    async def create_quote(
        market_id: MarketId,
        response: Response,
        body: Annotated[dict[str, Any], Body()],
        idempotency_key: IdempotencyKey = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, *TRADERS, to="create quotes")
        running = service(market_id)
        request = _decoded(
            "EiCreateQuote",
            body,
            fields={"quote": body.get("quote")},
            principal=principal,
            market_id=market_id,
            key=idempotency_key,
            keys=("quote",),
        )
        assert isinstance(request, EiCreateQuote)
        await answered(running, request, "quote")
        quote_id = request.quote.quote_id
        response.headers["Location"] = f"/api/v1/markets/{market_id}/quotes/{quote_id}"
        scale = (await running.terms()).units.quantity_scale
        return quote_document(await open_quote(running, quote_id), scale) | {
            "party_id": request.party_id,
            "rfq_id": request.quote.rfq_id,
        }

    @router.get(
        "/markets/{market_id}/quotes/{quote_id}",
        responses=described({200: "the open quote and what is left of it"}, 404),
    )
    async def quote(
        market_id: MarketId, quote_id: QuoteId, principal: Principal = who
    ) -> dict[str, Any]:
        permit(principal, *READERS, to="read quotes")
        running = service(market_id)
        scale = (await running.terms()).units.quantity_scale
        return quote_document(await open_quote(running, quote_id), scale)

    @router.post(
        "/markets/{market_id}/quotes/{quote_id}/acceptances",
        status_code=201,
        openapi_extra=ACCEPT_BODY,
        responses=described({201: "the trade: the caller's transactions"}, 404),
    )
    async def accept(
        market_id: MarketId,
        quote_id: QuoteId,
        body: Annotated[dict[str, Any], Body()],
        idempotency_key: IdempotencyKey = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, *TRADERS, to="accept quotes")
        running = service(market_id)
        rest = await open_quote(running, quote_id)
        fields = {
            "counterPartyId": rest.party,
            "quoteId": quote_id,
            "quantity": body.get("quantity"),
            "price": body.get("price"),
        }
        request = _decoded(
            "EiAcceptQuote",
            body,
            fields=fields,
            principal=principal,
            market_id=market_id,
            key=idempotency_key,
            keys=("quantity", "price"),
            maker=rest.party,
        )
        assert isinstance(request, EiAcceptQuote)
        await answered(running, request, "acceptance")
        return {
            "quote_id": quote_id,
            "party_id": request.party_id,
            "quantity": request.quantity,
            "price": request.price,
            "transaction_ids": _transaction_ids(running.ledger, request),
            "links": {"transactions": f"/api/v1/markets/{market_id}/transactions"},
        }

    @router.delete(
        "/markets/{market_id}/quotes/{quote_id}",
        responses=described({200: "withdrawn"}, 404),
    )
    async def withdraw(
        market_id: MarketId, quote_id: QuoteId, principal: Principal = who
    ) -> dict[str, Any]:
        permit(principal, *TRADERS, to="withdraw quotes")
        running = service(market_id)
        rest = await open_quote(running, quote_id)
        if not principal.owns_party(rest.party):
            raise NotFoundError(f"no open quote {quote_id!r} of the caller's party")
        digest = hashlib.sha256(f"{owner_of(principal)}\x1fcancel\x1f{quote_id}".encode())
        request = EiCancelQuote(f"api-cancel-quote:{digest.hexdigest()[:32]}", rest.party, quote_id)
        await answered(running, request, "withdrawal")
        return {"quote_id": quote_id, "withdrawn": True}

    return router


def _transaction_ids(ledger: LedgerStore, request: EiAcceptQuote) -> list[str]:
    """The acceptor's transactions of the trade, from the ledger (recorded under the
    request's id before the agent answered): the same wherever the Market Agent runs."""
    first = ledger.message_seqs([request.request_id]).get(request.request_id)
    if first is None:
        return []
    found = []
    for stored in ledger.entries(after_seq=first - 1):
        entry = stored.entry
        if entry.tender_id not in (request.request_id, request.quote_id):
            break  # past the trade's entries (one per side, appended together)
        if entry.party == request.party_id and entry.tender_id == request.request_id:
            found.append(entry.transaction_id)
    return found


def _decoded(
    message_type: str,
    body: Mapping[str, Any],
    *,
    fields: Mapping[str, Any],
    principal: Principal,
    market_id: str,
    key: str | None,
    keys: tuple[str, ...],
    maker: str | None = None,
) -> Any:
    """The CTS request of a body, every problem of body and key found at once; its request id
    from the caller, the kind of request, the market and the key."""
    party = body.get("partyId", principal.party)
    if isinstance(party, str) and not principal.owns_party(party):
        raise PermissionDeniedError(f"{principal.subject} may not act for {party!r}")
    allowed = ("partyId", *keys)
    problems = shape_problems(body, allowed, key)
    if party is None:
        problems.append(Problem("$.partyId", "required", "the caller acts for no party: name one"))
    elif maker is not None and party == maker:
        problems.append(Problem("$.partyId", "own_quote", "a party does not take its own quote"))
    text = "\x1f".join([owner_of(principal), message_type, market_id, str(key)])
    digest = hashlib.sha256(text.encode()).hexdigest()
    message = {
        "messageType": message_type,
        "requestId": f"api:{digest[:40]}",
        "partyId": "-" if party is None else party,
        **fields,
    }
    try:
        decoded = codec.decode(message)
    except ValidationError as exc:
        problems += exc.problems
    if problems:
        raise ValidationError(problems, subject=message_type)
    return decoded
