"""``osed market submit | cancel | position``: a party's requests to a running Market Agent.

The commands reach the agent over the configured databus (MQTT or NATS, the settings
``osed serve`` reads) through the agents' own :class:`~osed.agents.bus_client.BusMarketClient`:
the request on ``cts/<market>/requests``, the reply on ``cts/<market>/replies/<source>``,
the party's transactions on ``cts/<market>/transactions/<party>`` (docs/market-agent.md).
Prices and quantities are given and printed in units; on the wire they are integers at the
market's scales (``market.price_scale``, ``market.quantity_scale``). Each command prints one
JSON object on standard output.
"""

from __future__ import annotations

import argparse
import asyncio
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osed.cli import _arguments as arguments
from osed.cli._market_session import Connection, market_session, new_id
from osed.cli._output import document_text, emit
from osed.codec._iso import format_instant
from osed.domain.cts import (
    EiCanceledTender,
    EiCancelTender,
    EiCreatedTender,
    EiCreateTender,
    EiCreateTransaction,
    EiReplyPosition,
    EiRequestPosition,
    EiResponse,
    IntervalDetail,
    Side,
    Tender,
)
from osed.domain.errors import Problem, ValidationError
from osed.domain.problems import Problems
from osed.domain.time import Interval
from osed.domain.units import scaled_to_decimal

if TYPE_CHECKING:  # the bus, the agents and the settings load only when a command runs
    from osed.agents.bus_client import BusMarketClient
    from osed.runtime.settings import Settings

EXIT_REFUSED = 1
_SIDES = ("buy", "sell")


def register(commands: Any) -> None:
    _register_submit(commands)
    _register_cancel(commands)
    _register_position(commands)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--party", required=True, help="the party the request is made for")
    parser.add_argument(
        "--config", type=Path, default=None, help="YAML settings file (else $OSED_CONFIG)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        help="seconds to wait for the agent's reply before asking again (default: %(default)s)",
    )
    parser.add_argument(
        "--attempts",
        type=int,
        default=3,
        help="requests sent (same request id) before giving up (default: %(default)s)",
    )


def _register_submit(commands: Any) -> None:
    submit: argparse.ArgumentParser = commands.add_parser(
        "submit",
        help="submit a tender to a running Market Agent",
        description=(
            "Sends EiCreateTender for one delivery interval of the market's length and prints "
            '{"status": "accepted"|"rejected", "code", "reasons", "tender_id", "party", '
            '"transactions": [...]}: the transactions are the trades the market made within '
            "--wait seconds of the reply (a continuous market's immediate matches); a call "
            "market trades at its gate closure, see `osed market position`. Exit 1 when "
            "the agent rejects the tender."
        ),
    )
    _common(submit)
    submit.add_argument("--side", required=True, choices=_SIDES, help="buy or sell")
    submit.add_argument("--quantity", required=True, help="energy in the market's unit, > 0")
    submit.add_argument("--price", required=True, help="limit price per unit, > 0")
    submit.add_argument(
        "--interval",
        required=True,
        metavar="START",
        help="start of the delivery interval, ISO 8601 with time zone (2026-07-01T10:00Z); "
        "its length is market.interval_minutes",
    )
    submit.add_argument(
        "--tender-id", default=None, help="the tender's id (default: a new unique one)"
    )
    submit.add_argument(
        "--wait",
        type=float,
        default=0.5,
        help="seconds to collect transactions after the reply (default: %(default)s)",
    )
    submit.set_defaults(handler=_run_submit)


def _register_cancel(commands: Any) -> None:
    cancel: argparse.ArgumentParser = commands.add_parser(
        "cancel",
        help="cancel a tender at a running Market Agent",
        description=(
            'Sends EiCancelTender and prints {"status": "cancelled"|"rejected", "code", '
            '"reasons", "tender_id", "party", "remaining_quantity"}. Exit 1 when refused.'
        ),
    )
    cancel.add_argument("tender_id", metavar="TENDER_ID", help="the id given at submit")
    _common(cancel)
    cancel.set_defaults(handler=_run_cancel)


def _register_position(commands: Any) -> None:
    position: argparse.ArgumentParser = commands.add_parser(
        "position",
        help="a party's committed position per interval, from a running Market Agent",
        description=(
            'Sends EiRequestPosition and prints {"party", "start", "end", "positions": '
            '[{"start", "end", "quantity"}]}, quantities in units, bought positive, one entry '
            "per interval with trades."
        ),
    )
    _common(position)
    position.add_argument("--start", required=True, help="ISO 8601 date-time with time zone")
    position.add_argument("--end", required=True, help="ISO 8601 date-time with time zone")
    position.set_defaults(handler=_run_position)


# ------------------------------------------------------------------------------ commands


@dataclass(frozen=True, slots=True)
class TenderArguments:
    party: str
    side: str
    quantity: int
    price: int
    start: datetime
    tender_id: str


def _run_submit(args: argparse.Namespace) -> int:
    settings = _settings(args)
    market = settings.market
    tender = parse_tender_arguments(args, market.price_scale, market.quantity_scale)
    interval = Interval(tender.start, timedelta(minutes=market.interval_minutes))
    request = EiCreateTender(
        request_id=new_id("submit"),
        party_id=tender.party,
        counter_party_id=market.market_id,
        tender=Tender(
            tender_id=tender.tender_id,
            side=Side(tender.side.upper()),
            detail=IntervalDetail(interval, tender.price, tender.quantity),
            price_scale=market.price_scale,
            quantity_scale=market.quantity_scale,
            currency=market.currency,
            market_id=market.market_id,
        ),
        market_id=market.market_id,
    )
    collected: list[EiCreateTransaction] = []

    async def submit(client: BusMarketClient) -> EiCreatedTender:
        reply = await client.create_tender(request)
        if reply.response.ok and args.wait > 0:
            await asyncio.sleep(args.wait)
        return reply

    reply = market_session(settings, _connection(args), tender.party, submit, collected)
    transactions = [
        _transaction_json(message)
        for message in collected
        if message.transaction.tender.tender_id == tender.tender_id
    ]
    emit(
        {
            "status": "accepted" if reply.response.ok else "rejected",
            **_response_json(reply.response),
            "tender_id": tender.tender_id,
            "party": tender.party,
            "transactions": transactions,
        },
        document_text,
        args,
    )
    return 0 if reply.response.ok else EXIT_REFUSED


def _run_cancel(args: argparse.Namespace) -> int:
    settings = _settings(args)
    problems = Problems("market cancel arguments")
    party = arguments.name(args.party, "--party", problems)
    if not args.tender_id:
        problems.add("TENDER_ID", "missing", "needs the id given at submit")
    _check_client_options(args, problems)
    problems.check()
    assert party is not None
    request = EiCancelTender(
        request_id=new_id("cancel"),
        party_id=party,
        counter_party_id=settings.market.market_id,
        tender_id=args.tender_id,
    )

    async def cancel(client: BusMarketClient) -> EiCanceledTender:
        return await client.cancel_tender(request)

    reply = market_session(settings, _connection(args), party, cancel, [])
    remaining = scaled_to_decimal(reply.remaining_quantity, settings.market.quantity_scale)
    emit(
        {
            "status": "cancelled" if reply.response.ok else "rejected",
            **_response_json(reply.response),
            "tender_id": args.tender_id,
            "party": party,
            "remaining_quantity": _number(remaining),
        },
        document_text,
        args,
    )
    return 0 if reply.response.ok else EXIT_REFUSED


def _run_position(args: argparse.Namespace) -> int:
    settings = _settings(args)
    problems = Problems("market position arguments")
    party = arguments.name(args.party, "--party", problems)
    start = arguments.instant(args.start, "--start", problems)
    end = arguments.instant(args.end, "--end", problems)
    if start is not None and end is not None and end <= start:
        problems.add("--end", "empty_range", "must be after --start")
    _check_client_options(args, problems)
    problems.check()
    assert party is not None
    assert start is not None
    assert end is not None
    request = EiRequestPosition(
        request_id=new_id("position"),
        requestor_party_id=party,
        position_party_id=party,
        bounding_interval=Interval(start, end - start),
        market_id=settings.market.market_id,
    )

    async def position(client: BusMarketClient) -> EiReplyPosition:
        return await client.request_position(request)

    reply = market_session(settings, _connection(args), party, position, [])
    emit(
        {
            "party": party,
            "start": format_instant(start),
            "end": format_instant(end),
            "positions": [
                {
                    "start": format_instant(row.interval.start),
                    "end": format_instant(row.interval.end),
                    "quantity": _number(scaled_to_decimal(row.quantity, reply.quantity_scale)),
                }
                for row in reply.positions
            ],
        },
        document_text,
        args,
    )
    return 0


# ----------------------------------------------------------------------------- arguments


def parse_tender_arguments(
    args: argparse.Namespace, price_scale: int, quantity_scale: int
) -> TenderArguments:
    """The tender options, checked all at once (ValidationError naming each option)."""
    problems = Problems("market submit arguments")
    party = arguments.name(args.party, "--party", problems)
    quantity = arguments.scaled(args.quantity, quantity_scale, "--quantity", problems)
    price = arguments.scaled(args.price, price_scale, "--price", problems)
    start = arguments.instant(args.interval, "--interval", problems)
    tender_id = args.tender_id if args.tender_id is not None else new_id("tender")
    arguments.name(tender_id, "--tender-id", problems)
    if not (math.isfinite(args.wait) and args.wait >= 0):
        problems.add("--wait", "bad_wait", "must be a number of seconds >= 0")
    _check_client_options(args, problems)
    problems.check()
    assert party is not None
    assert quantity is not None
    assert price is not None
    assert start is not None
    return TenderArguments(party, args.side, quantity, price, start, tender_id)


def _check_client_options(args: argparse.Namespace, problems: Problems) -> None:
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        problems.add("--timeout", "bad_timeout", "must be a number of seconds above zero")
    if args.attempts < 1:
        problems.add("--attempts", "bad_attempts", "must be at least 1")


def _connection(args: argparse.Namespace) -> Connection:
    return Connection(timeout_s=args.timeout, attempts=args.attempts)


def _settings(args: argparse.Namespace) -> Settings:
    from osed.runtime.settings import load_settings  # noqa: PLC0415 - pydantic: load late

    settings = load_settings(args.config)
    if settings.bus.backend == "memory":
        raise ValidationError(
            [
                Problem(
                    "$.bus.backend",
                    "memory_bus",
                    "the memory bus lives inside one process: set bus.backend to mqtt or nats "
                    "(OSED_BUS__BACKEND), as the running Market Agent has it",
                )
            ],
            subject="settings",
        )
    return settings


# -------------------------------------------------------------------------------- output


def _response_json(response: EiResponse) -> dict[str, Any]:
    reasons = [response.response_description] if response.response_description else []
    reasons += list(response.response_terms_violated)
    return {"code": int(response.response_code), "reasons": reasons}


def _transaction_json(message: EiCreateTransaction) -> dict[str, Any]:
    tender = message.transaction.tender
    detail = tender.interval_detail
    return {
        "transaction_id": message.transaction.transaction_id,
        "side": tender.side.value.lower(),
        "quantity": _number(scaled_to_decimal(detail.quantity, tender.quantity_scale)),
        "price": _number(scaled_to_decimal(detail.price, tender.price_scale)),
        "currency": tender.currency,
        "start": format_instant(detail.interval.start),
        "end": format_instant(detail.interval.end),
        "counter_party": message.counter_party_id,
    }


def _number(value: Decimal) -> int | float:
    """A scaled quantity for JSON: an integer when whole, else the nearest float."""
    return int(value) if value == value.to_integral_value() else float(value)
