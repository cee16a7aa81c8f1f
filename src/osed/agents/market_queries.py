"""Reads of a Market Agent's in-memory state over the databus: its terms, open tenders and
quotes, open delivery intervals and the book of one interval. CTS has no message for these,
so they travel as small JSON queries beside the CTS requests (``bus_topics.queries``), each
answered on the asker's own topic (``bus_topics.answers``) under the asker's ``queryId``.

A query changes nothing the agent keeps, so it is answered afresh, never traced (a replay
would have nothing to redo) and safe to repeat.

Query: ``{"queryId": "...", "query": "<kind>", "tenderId"?: "...", "interval"?: "..."}``.
Answer: ``{"refId": "<queryId>", "answer": <value>}`` or ``{"refId", "error": "<text>"}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from osed.agents.market_agent import MarketAgent
from osed.agents.market_state import OpenQuote, OpenTender
from osed.agents.units import MarketUnits
from osed.codec.snapshot import ValueCodec
from osed.domain import cts
from osed.domain.errors import Problem, ValidationError
from osed.domain.time import Interval
from osed.markets.protocol import BookLevel, BookSnapshot

TERMS = "terms"
OPEN_TENDERS = "open_tenders"
OPEN_PARTS = "open_parts"
OPEN_QUOTES = "open_quotes"
OPEN_INTERVALS = "open_intervals"
BOOK = "book"
KINDS = (TERMS, OPEN_TENDERS, OPEN_PARTS, OPEN_QUOTES, OPEN_INTERVALS, BOOK)
_MAX_ID = 128


@dataclass(frozen=True, slots=True)
class MarketTerms:
    """What a market is: its mechanism, whether it matches continuously, its units."""

    mechanism: str
    continuous: bool
    units: MarketUnits


_CODEC = ValueCodec(
    [
        Interval,
        cts.IntervalDetail,
        cts.StreamDetail,
        cts.StreamInterval,
        cts.Tender,
        cts.Quote,
        OpenTender,
        OpenQuote,
        BookLevel,
        BookSnapshot,
        MarketUnits,
        MarketTerms,
    ]
)


@dataclass(frozen=True, slots=True)
class Query:
    query_id: str
    kind: str
    tender_id: str = ""
    interval: str = ""

    def dumps(self) -> bytes:
        body: dict[str, str] = {"queryId": self.query_id, "query": self.kind}
        if self.kind == OPEN_PARTS:
            body["tenderId"] = self.tender_id
        if self.kind == BOOK:
            body["interval"] = self.interval
        return json.dumps(body).encode()


def parse_query(payload: bytes) -> Query:
    """A query as sent; every problem named with its JSON path."""
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise ValidationError([Problem("$", "bad_json", str(exc))], subject="market query") from exc
    if not isinstance(data, dict):
        raise ValidationError(
            [Problem("$", "not_object", "must be an object")], subject="market query"
        )
    problems: list[Problem] = []

    def text(name: str, required: bool) -> str:
        value = data.get(name)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not 0 < len(value) <= _MAX_ID:
            problems.append(Problem(f"$.{name}", "bad_id", f"text of 1 to {_MAX_ID} characters"))
            return ""
        return value

    query_id = text("queryId", True)
    kind = data.get("query")
    if kind not in KINDS:
        problems.append(Problem("$.query", "unknown_query", f"one of {', '.join(KINDS)}"))
    tender_id = text("tenderId", kind == OPEN_PARTS)
    interval = text("interval", kind == BOOK)
    if problems:
        raise ValidationError(problems, subject="market query")
    return Query(query_id, str(kind), tender_id, interval)


def answer(agent: MarketAgent, payload: bytes) -> tuple[str, bytes]:
    """The asker's query id and the answer to send it (an error answer for a bad query)."""
    try:
        query = parse_query(payload)
    except ValidationError as exc:
        return _query_id_of(payload), _dumps({"refId": _query_id_of(payload), "error": str(exc)})
    value: Any
    if query.kind == TERMS:
        market = agent.market
        value = MarketTerms(market.name, market.continuous, agent.units)
    elif query.kind == OPEN_TENDERS:
        value = agent.open_tenders()
    elif query.kind == OPEN_PARTS:
        value = agent.open_parts(query.tender_id)
    elif query.kind == OPEN_QUOTES:
        value = agent.open_quotes()
    elif query.kind == OPEN_INTERVALS:
        value = agent.open_intervals()
    else:
        value = agent.market.snapshot(query.interval)
    encoded = [_CODEC.encode(v) for v in value] if isinstance(value, list) else _CODEC.encode(value)
    return query.query_id, _dumps({"refId": query.query_id, "answer": encoded})


@dataclass(frozen=True, slots=True)
class Answer:
    ref_id: str
    value: Any
    error: str | None


def parse_answer(payload: bytes) -> Answer | None:
    """An answer as received; None for anything that is not one (ignored by the asker)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("refId"), str):
        return None
    error = data.get("error")
    return Answer(data["refId"], data.get("answer"), error if isinstance(error, str) else None)


def decode_terms(value: Any) -> MarketTerms:
    terms: MarketTerms = _CODEC.decode(MarketTerms, value)
    return terms


def decode_tenders(value: Any) -> list[OpenTender]:
    return [_CODEC.decode(OpenTender, item) for item in _list(value)]


def decode_quotes(value: Any) -> list[OpenQuote]:
    return [_CODEC.decode(OpenQuote, item) for item in _list(value)]


def decode_intervals(value: Any) -> list[Interval]:
    return [_CODEC.decode(Interval, item) for item in _list(value)]


def decode_book(value: Any) -> BookSnapshot:
    book: BookSnapshot = _CODEC.decode(BookSnapshot, value)
    return book


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValidationError(
            [Problem("$.answer", "not_array", "must be an array")], subject="answer"
        )
    return value


def _query_id_of(payload: bytes) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return ""
    found = data.get("queryId") if isinstance(data, dict) else None
    return found if isinstance(found, str) else ""


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
