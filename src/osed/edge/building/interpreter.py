"""The grid interpreter: which grid function an inbound message (EDC → building) belongs to,
the optimiser it triggers, and the answer on that function's channel.

A message is recognised by its channel (``edc/<edc>/<function>/out/<building>``), checked
against the ``function`` it names, and dispatched on (function, type). What cannot be read,
or belongs to no function the agent takes part in, is logged with the reason and dropped: a
malformed message never stops the agent.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from osed.buildings.devices_schema import Array

log = logging.getLogger(__name__)


class UnreadableError(ValueError):
    """A message the agent cannot act on; the text says why."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A message for the function's inbound channel."""

    edc_id: str
    function: str
    message_type: str
    body: dict[str, Any]


class Optimisers(Protocol):
    """What the interpreter triggers in the agent."""

    async def dac_schedule(
        self, prices: Array, correction_kw: Array, rho: float
    ) -> Array | None: ...
    def dac_final(self, prices: Array | None) -> None: ...
    def flexibility_kw(self) -> tuple[float, float]: ...
    def capacity_bounds(
        self, max_kw: float | None, min_kw: float | None, *, until_h: float | None = None
    ) -> None: ...
    def reports(self, functions: Sequence[str] | None = None) -> list[Answer]: ...
    async def xor_bids(self, prices: Sequence[float], duration_h: float) -> list[float]: ...
    def xor_award(self, quantity_kw: float, duration_h: float) -> None: ...
    def xor_cancel(self) -> None: ...
    async def dlc_available_kw(self, offset_c: float, duration_h: float) -> float: ...
    def dlc_offset(self, offset_c: float, duration_h: float) -> None: ...
    def dlc_restore(self) -> None: ...
    def hours_until(self, moment: datetime) -> float: ...


Handler = Callable[[str, Mapping[str, Any]], Awaitable[list[Answer]]]
FUNCTIONS = frozenset({"dac", "capacity-limit", "xor", "dlc"})
"""The grid functions a building agent takes part in (those it has handlers for)."""


class Interpreter:
    def __init__(self, building_id: str, functions: Mapping[str, str], agent: Optimisers) -> None:
        """``functions``: function name -> the EDC whose channel it is on."""
        self.building_id = building_id
        self.functions = dict(functions)
        self.agent = agent
        self.handlers: dict[tuple[str, str], Handler] = {
            ("dac", "prices"): self._dac_prices,
            ("dac", "final"): self._dac_final,
            ("dac", "cancel"): self._dac_cancel,
            ("capacity-limit", "flexibility_request"): self._flexibility_request,
            ("capacity-limit", "limit"): self._limit,
            ("capacity-limit", "release"): self._release,
            ("xor", "price_offer"): self._price_offer,
            ("xor", "award"): self._award,
            ("xor", "no_award"): self._nothing,
            ("xor", "bid_rejected"): self._bid_rejected,
            ("xor", "award_cancelled"): self._award_cancelled,
            ("dlc", "flexibility_request"): self._dlc_request,
            ("dlc", "setpoint_offset"): self._dlc_offset,
            ("dlc", "restore"): self._dlc_restore,
        }
        self.ignored = 0

    async def interpret(self, topic: str, payload: bytes) -> list[Answer]:
        """The answers to one message; none (and a log line with the reason) when it cannot
        be acted on."""
        try:
            edc_id, function, message_type, body = self._read(topic, payload)
            handler = self.handlers.get((function, message_type))
            if handler is None:
                raise UnreadableError(f"no handler for {function!r} message {message_type!r}")
            return await handler(edc_id, body)
        except UnreadableError as exc:
            self.ignored += 1
            log.warning("building %s: ignored a message on %s: %s", self.building_id, topic, exc)
            return []

    def _read(self, topic: str, payload: bytes) -> tuple[str, str, str, Mapping[str, Any]]:
        parts = topic.split("/")
        if len(parts) != 5 or parts[0] != "edc" or parts[3] != "out":
            raise UnreadableError("not an EDC's outbound channel")
        edc_id, function, building = parts[1], parts[2], parts[4]
        if building != self.building_id:
            raise UnreadableError(f"addressed to building {building!r}")
        if self.functions.get(function) != edc_id:
            raise UnreadableError(f"not enrolled in {function!r} of EDC {edc_id!r}")
        try:
            document = json.loads(payload)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise UnreadableError(f"not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise UnreadableError("$: not an object")
        if document.get("function") != function or document.get("edc") != edc_id:
            raise UnreadableError("$.function / $.edc do not match the channel")
        body = document.get("body")
        message_type = document.get("type")
        if not isinstance(message_type, str) or not isinstance(body, dict):
            raise UnreadableError("$.type must be a string and $.body an object")
        return edc_id, function, message_type, body

    # ------------------------------------------------------------------ dac

    async def _dac_prices(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        iteration = _integer(body, "iteration")
        prices = _numbers(body, "prices_per_kwh")
        correction = _numbers(body, "correction_kw", len(prices))
        rho = _number(body, "rho")
        schedule = await self.agent.dac_schedule(prices, correction, rho)
        if schedule is None:
            raise UnreadableError("the building has no schedule under these prices")
        answer = {"iteration": iteration, "net_kw": [float(x) for x in schedule]}
        return [Answer(edc_id, "dac", "schedule", answer)]

    async def _dac_final(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        self.agent.dac_final(_numbers(body, "prices_per_kwh"))
        return []

    async def _dac_cancel(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        self.agent.dac_final(None)
        return []

    # ------------------------------------------------------------------ capacity limit

    async def _flexibility_request(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        low, high = self.agent.flexibility_kw()
        answer = {"min_kw": low, "max_kw": high}
        return [Answer(edc_id, "capacity-limit", "flexibility", answer)]

    async def _limit(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        high = _optional(body, "max_kw")
        low = _optional(body, "min_kw")
        interval = body.get("interval")
        until_h = None
        if isinstance(interval, dict) and interval.get("end") is not None:
            until_h = self.agent.hours_until(_moment(interval, "end", "$.body.interval"))
        self.agent.capacity_bounds(high, low, until_h=until_h)
        return []

    async def _release(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        self.agent.capacity_bounds(None, None)
        return []

    # ------------------------------------------------------------------ xor

    async def _price_offer(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        prices = _numbers(body, "prices")
        duration_h = _number(body, "duration_h")
        quantities = await self.agent.xor_bids([float(p) for p in prices], duration_h)
        # the consumption first: the EDC measures the delivery from what it holds at clearing
        bid = Answer(edc_id, "xor", "bid", {"quantities_kw": quantities})
        return [*self.agent.reports(["xor"]), bid]

    async def _award(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        quantity = _number(body, "quantity_kw")
        end = _moment(body, "end")
        self.agent.xor_award(quantity, self.agent.hours_until(end))
        return []

    async def _award_cancelled(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        self.agent.xor_cancel()
        return []

    async def _bid_rejected(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        log.warning("building %s: bid rejected: %s", self.building_id, body.get("reason"))
        return []

    async def _nothing(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        return []

    # ------------------------------------------------------------------ dlc

    async def _dlc_request(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        offset = _number(body, "offset_k")
        duration_h = _number(body, "duration_s") / 3600.0
        available = await self.agent.dlc_available_kw(offset, duration_h)
        return [Answer(edc_id, "dlc", "flexibility", {"available_kw": available})]

    async def _dlc_offset(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        offset = _number(body, "offset_k")
        until = _moment(body, "until")
        self.agent.dlc_offset(offset, self.agent.hours_until(until))
        return []

    async def _dlc_restore(self, edc_id: str, body: Mapping[str, Any]) -> list[Answer]:
        self.agent.dlc_restore()
        return []


def _moment(body: Mapping[str, Any], name: str, path: str = "$.body") -> datetime:
    value = body.get(name)
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise UnreadableError(f"{path}.{name}: must be an ISO 8601 time with a zone")
    return moment


def _number(body: Mapping[str, Any], name: str) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UnreadableError(f"$.body.{name}: must be a finite number")
    return float(value)


def _optional(body: Mapping[str, Any], name: str) -> float | None:
    return None if body.get(name) is None else _number(body, name)


def _integer(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnreadableError(f"$.body.{name}: must be an integer")
    return value


def _numbers(body: Mapping[str, Any], name: str, length: int | None = None) -> Array:
    values = body.get(name)
    if not isinstance(values, list) or not values:
        raise UnreadableError(f"$.body.{name}: must be a non-empty list of numbers")
    if length is not None and len(values) != length:
        raise UnreadableError(f"$.body.{name}: has {len(values)} values, needs {length}")
    for k, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UnreadableError(f"$.body.{name}[{k}]: must be a number")
    array = np.asarray(values, dtype=float)
    if not np.isfinite(array).all():
        raise UnreadableError(f"$.body.{name}: must be finite")
    return array
