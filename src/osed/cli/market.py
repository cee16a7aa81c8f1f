"""``osed market``: clear an auction, replay an order book, run the market demo.

``osed market clear FILE|-`` reads one auction as JSON and prints its result as JSON;
``osed market replay FILE.jsonl`` feeds order-book actions to one instrument and prints one
JSON event per line. The whole input is validated before anything runs: a rejected input
names every problem with its JSON path and prints nothing on standard output.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from osed.cli import market_client, market_demo
from osed.cli._io import parse_json, read_json, read_text
from osed.cli._market_text import auction_text, replay_text
from osed.cli._output import emit, emit_lines
from osed.domain.cts.tenders import Side
from osed.domain.errors import ValidationError
from osed.domain.problems import Problems
from osed.markets.auction import clear_auction
from osed.markets.auction_document import (
    _BOUND_TEXT,
    JsonId,
    _code,
    _is_bounded,
    _is_id,
    _parse_id,
    _parse_quantity,
    auction_output,
    parse_auction,
)
from osed.markets.orderbook import BilateralMarket
from osed.markets.protocol import Order

REPLAY_INSTRUMENT = "replay"
REPLAY_NOW = datetime(1970, 1, 1, tzinfo=UTC)  # replayed orders carry no expiry
_SIDES = {"buy": Side.BUY, "sell": Side.SELL}


def register(groups: Any) -> None:
    parser: argparse.ArgumentParser = groups.add_parser(
        "market",
        help="clear auctions, replay order books, run the market demo, talk to a Market Agent",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    _register_clear(commands)
    _register_replay(commands)
    market_demo.register(commands)
    market_client.register(commands)


def _register_clear(commands: Any) -> None:
    clear: argparse.ArgumentParser = commands.add_parser(
        "clear",
        help="clear one call auction given as JSON",
        description=(
            'Input: {"pricing": "gridlabd"|"pay-as-clear"|"pay-as-bid", "price_cap": number '
            '(optional), "bids": [{"id", "price", "quantity"}], "offers": [...]}; a null price '
            'is an unresponsive order and needs price_cap. Output: {"price", "quantity", '
            '"outcome", "fills": [{"id", "quantity", "price"}]}, bids then offers in input '
            "order, zero fills omitted."
        ),
    )
    clear.add_argument("file", metavar="FILE", help="auction JSON file, or - for standard input")
    clear.set_defaults(handler=_run_clear)


def _register_replay(commands: Any) -> None:
    replay: argparse.ArgumentParser = commands.add_parser(
        "replay",
        help="replay order-book actions (JSON lines) against one bilateral book",
        description=(
            'Each line: {"action": "submit", "id", "side": "buy"|"sell", "price", "quantity", '
            '"all_or_none" (optional)} or {"action": "cancel", "id", "quantity" (new remaining '
            'size; 0 or absent cancels all)}. Prints one JSON event per line: {"event": "fill", '
            '"resting_id", "incoming_id", "price", "quantity"} or {"event": "cancel", "id", '
            '"canceled", "remaining"}.'
        ),
    )
    replay.add_argument("file", metavar="FILE", help="JSON lines file, or - for standard input")
    replay.set_defaults(handler=_run_replay)


# ---------------------------------------------------------------------------------- clear


def _run_clear(args: argparse.Namespace) -> int:
    subject = "market clear input"
    auction = parse_auction(read_json(args.file, subject=subject), subject=subject)
    result = clear_auction(
        auction.bid_prices,
        auction.bid_quantities,
        auction.offer_prices,
        auction.offer_quantities,
        pricing=auction.pricing,
        price_cap=auction.price_cap,
    )
    emit(auction_output(auction, result), auction_text, args)
    return 0


# --------------------------------------------------------------------------------- replay


@dataclass(frozen=True, slots=True)
class Submit:
    json_id: JsonId
    order: Order


@dataclass(frozen=True, slots=True)
class Cancel:
    json_id: JsonId
    order_id: str
    remaining: float | None


def _run_replay(args: argparse.Namespace) -> int:
    actions = parse_replay(read_text(args.file, subject="market replay input"))
    emit_lines(replay_events(actions), replay_text, args)
    return 0


def parse_replay(text: str, *, subject: str = "market replay input") -> list[Submit | Cancel]:
    """Check every line of a replay; raises ValidationError naming every problem."""
    problems = Problems(subject)
    actions: list[Submit | Cancel] = []
    submitted: dict[JsonId, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}: $"
        try:
            data = parse_json(line, subject=subject)
        except ValidationError as exc:
            problems.add(where, exc.problems[0].code, exc.problems[0].message)
            continue
        if not isinstance(data, dict):
            problems.add(where, "not_object", "each line must be a JSON object")
            continue
        action = data.get("action")
        if action == "submit":
            submit = _parse_submit(data, where, number, submitted, problems)
            if submit is not None:
                actions.append(submit)
        elif action == "cancel":
            cancel = _parse_cancel(data, where, submitted, problems)
            if cancel is not None:
                actions.append(cancel)
        else:
            problems.add(f"{where}.action", "unknown_action", 'must be "submit" or "cancel"')
    problems.check()
    return actions


def _parse_submit(
    data: dict[str, Any],
    where: str,
    number: int,
    submitted: dict[JsonId, str],
    problems: Problems,
) -> Submit | None:
    before = len(problems)
    order_id = _parse_id(data, where, submitted, problems, first_seen=f"line {number}")
    side: Any = data.get("side")
    if side not in _SIDES:
        problems.add(f"{where}.side", "bad_side", 'must be "buy" or "sell"')
    price: Any = data.get("price")
    if not _is_bounded(price):
        problems.add(
            f"{where}.price", _code(price, "not_a_number"), f"must be a number {_BOUND_TEXT}"
        )
    quantity = _parse_quantity(data, where, problems, allow_zero=False)
    all_or_none = data.get("all_or_none", False)
    if not isinstance(all_or_none, bool):
        problems.add(f"{where}.all_or_none", "not_boolean", "must be true or false")
    if len(problems) > before or order_id is None or quantity is None:
        return None
    order = Order(str(order_id), _SIDES[side], float(price), quantity, all_or_none=all_or_none)
    return Submit(order_id, order)


def _parse_cancel(
    data: dict[str, Any], where: str, submitted: dict[JsonId, str], problems: Problems
) -> Cancel | None:
    before = len(problems)
    order_id: Any = data.get("id")
    if "id" not in data:
        problems.add(f"{where}.id", "missing", "required")
    elif not _is_id(order_id):
        problems.add(f"{where}.id", "bad_id", "must be a non-empty string or an integer")
    elif order_id not in submitted:
        problems.add(f"{where}.id", "unknown_id", f"no earlier submit has id {order_id!r}")
    remaining: Any = data.get("quantity")
    if remaining is not None and (not _is_bounded(remaining) or remaining < 0):
        problems.add(f"{where}.quantity", "bad_quantity", f"must be a number >= 0 {_BOUND_TEXT}")
    if len(problems) > before:
        return None
    return Cancel(order_id, str(order_id), float(remaining) if remaining else None)


def replay_events(actions: list[Submit | Cancel]) -> list[dict[str, Any]]:
    market = BilateralMarket()
    json_ids: dict[str, JsonId] = {}
    events: list[dict[str, Any]] = []
    for action in actions:
        if isinstance(action, Submit):
            json_ids[action.order.order_id] = action.json_id
            fills = market.submit(REPLAY_INSTRUMENT, action.order, now=REPLAY_NOW)
            for fill in fills[0::2]:  # each match: the incoming side's fill, then the resting's
                assert fill.counter_order_id is not None
                events.append(
                    {
                        "event": "fill",
                        "resting_id": json_ids[fill.counter_order_id],
                        "incoming_id": action.json_id,
                        "price": fill.price,
                        "quantity": fill.quantity,
                    }
                )
        else:
            result = market.cancel(REPLAY_INSTRUMENT, action.order_id, remaining=action.remaining)
            events.append(
                {
                    "event": "cancel",
                    "id": action.json_id,
                    "canceled": result.canceled_quantity,
                    "remaining": result.remaining_quantity,
                }
            )
    return events
