"""Buildings and their devices, through the building agents the process runs: each building
with its latest plan and report, the devices its gateway found with their latest measurements
and liveness, and commands to a device through the gateway.

A building belongs to the market party its agent's document names (``party``, docs/api.md);
a participant reads and commands only its own party's buildings, an operator (and admin)
every one, other roles none. Another party's building is as absent as an unknown one (404):
its existence is that party's.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Response

from osed.api.auth import Caller
from osed.api.idempotency import IdempotencyKey, owner_of, shape_problems
from osed.api.listing import CursorQuery, LimitQuery, page_document
from osed.api.markets import PartyQuery
from osed.buildings.mpc import Plan
from osed.codec.cursor import paginate
from osed.domain.access import permit
from osed.domain.devices import (
    VALUED_ACTIONS,
    Action,
    Command,
    DeviceInfo,
    Liveness,
    Measurement,
    Outcome,
)
from osed.domain.errors import NotFoundError, PermissionDeniedError, Problem, ValidationError
from osed.domain.identity import Principal, Role
from osed.edge.building.agent import BuildingAgent

OWNERS = (Role.PARTICIPANT, Role.OPERATOR)
BASE = "/api/v1/buildings"
BuildingId = Annotated[str, Path(min_length=1, max_length=200, description="the building's id")]
DeviceId = Annotated[str, Path(min_length=1, max_length=200, description="a device's id")]
_COMMAND_KEYS = ("action", "value")
_ACTIONS = frozenset(a.value for a in Action)

COMMAND_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["action"],
                    "properties": {
                        "action": {"type": "string", "enum": [a.value for a in Action]},
                        "value": {
                            "type": ["number", "null"],
                            "description": "the setpoint (kW or °C); none for turn_on, turn_off",
                        },
                    },
                }
            }
        },
    }
}


@dataclass(frozen=True)
class OwnedBuilding:
    """A building agent the process runs and the market party its building belongs to."""

    agent: BuildingAgent
    party: str | None = None


def _numbers(values: Iterable[float]) -> list[float | None]:
    """Floats as JSON takes them: a step without a value (NaN) is null."""
    return [float(v) if math.isfinite(v) else None for v in values]


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _plan_document(building_id: str, agent: BuildingAgent, plan: Plan) -> dict[str, Any]:
    return {
        "building_id": building_id,
        "from_step": agent.plan_step,
        "step_h": agent.settings.step_h,
        "status": plan.status,
        "usable": plan.usable,
        "kept": plan.kept,
        "cost": _number(plan.cost),
        "penalty": _number(plan.penalty),
        "infeasible": list(plan.infeasible),
        "shortfall": {name: _number(value) for name, value in sorted(plan.shortfall.items())},
        "net_kw": _numbers(plan.net_kw),
        "devices_kw": {name: _numbers(p) for name, p in sorted(plan.devices.items())},
    }


def _report_document(building_id: str, agent: BuildingAgent) -> dict[str, Any]:
    """What the agent reports to its grid functions, from its measurements now."""
    net = agent.measured.reading().net_kw
    low, high = agent.flexibility_kw()
    return {
        "building_id": building_id,
        "step": agent.step,
        "net_kw": net,
        "demand_kw": max(net, 0.0),
        "production_kw": max(-net, 0.0),
        "flexibility_up_kw": max(high - net, 0.0),
        "flexibility_down_kw": max(net - low, 0.0),
        "channels": [
            {"function": function, "edc_id": channel.edc_id}
            for function, channel in sorted(agent.channels.items())
        ],
    }


def _device_document(
    building_id: str,
    info: DeviceInfo,
    alive: Liveness | None,
    latest: Mapping[Any, Measurement],
) -> dict[str, Any]:
    link = f"{BASE}/{building_id}/devices/{info.device_id}"
    return {
        "device_id": info.device_id,
        "kind": info.kind.value,
        "name": info.name,
        "actions": [
            {
                "action": action.value,
                "minimum": None if action not in info.ranges else info.ranges[action].minimum,
                "maximum": None if action not in info.ranges else info.ranges[action].maximum,
            }
            for action in sorted(info.actions)
        ],
        "online": None if alive is None else alive.online,
        "last_seen": None
        if alive is None or alive.last_seen is None
        else alive.last_seen.isoformat(),
        "state": {
            quantity.value: {"value": m.value, "at": m.at.isoformat()}
            for quantity, m in sorted(latest.items())
        },
        "links": {"self": link, "commands": f"{link}/commands"},
    }


def create_router(
    buildings: Sequence[OwnedBuilding], *, caller: Caller, described: Any
) -> APIRouter:
    router = APIRouter(tags=["buildings"])
    who = Depends(caller)
    known = {owned.agent.building.id: owned for owned in buildings}

    def owned(building_id: str, principal: Principal) -> OwnedBuilding:
        permit(principal, *OWNERS, to="read buildings")
        found = known.get(building_id)
        if found is None or not _owns(principal, found.party):
            raise NotFoundError(f"no building {building_id!r} of the caller's party")
        return found

    def device(found: OwnedBuilding, device_id: str) -> DeviceInfo:
        info = found.agent.found.get(device_id)
        if info is None:
            building_id = found.agent.building.id
            raise NotFoundError(f"building {building_id!r} has no device {device_id!r}")
        return info

    def building_document(found: OwnedBuilding) -> dict[str, Any]:
        agent = found.agent
        building_id = agent.building.id
        return {
            "building_id": building_id,
            "party_id": found.party,
            "step": agent.step,
            "step_h": agent.settings.step_h,
            "devices": len(agent.found),
            "planned": agent.plan is not None,
            "links": {
                name: f"{BASE}/{building_id}/{name}" for name in ("plan", "report", "devices")
            },
        }

    @router.get("/buildings", responses=described({200: "the caller's buildings, by id"}))
    async def listing(
        party: PartyQuery = None,
        limit: LimitQuery = 100,
        cursor: CursorQuery = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        permit(principal, *OWNERS, to="read buildings")
        if party is not None and not principal.owns_party(party):
            raise PermissionDeniedError(f"{principal.subject} may not read the rows of {party!r}")
        rows = sorted(
            (
                b
                for b in known.values()
                if _owns(principal, b.party) and (party is None or b.party == party)
            ),
            key=lambda b: b.agent.building.id,
        )
        page = paginate(
            rows,
            lambda b: b.agent.building.id,
            listing=f"buildings:{party or ''}",
            limit=limit,
            cursor=cursor,
        )
        filters = {"party": party} if party else {}
        items = [building_document(b) for b in page.items]
        return page_document(items, page.next_cursor, BASE, limit, filters)

    @router.get(
        "/buildings/{building_id}",
        responses=described({200: "the building, its party and where its agent is"}, 404),
    )
    async def building(building_id: BuildingId, principal: Principal = who) -> dict[str, Any]:
        return building_document(owned(building_id, principal))

    @router.get(
        "/buildings/{building_id}/plan",
        responses=described({200: "the agent's latest plan", 404: "no building, or no plan yet"}),
    )
    async def plan(building_id: BuildingId, principal: Principal = who) -> dict[str, Any]:
        agent = owned(building_id, principal).agent
        if agent.plan is None:
            raise NotFoundError(f"building {building_id!r} has no plan yet")
        return _plan_document(building_id, agent, agent.plan)

    @router.get(
        "/buildings/{building_id}/report",
        responses=described({200: "consumption and flexibility as the agent reports them"}, 404),
    )
    async def report(building_id: BuildingId, principal: Principal = who) -> dict[str, Any]:
        return _report_document(building_id, owned(building_id, principal).agent)

    @router.get(
        "/buildings/{building_id}/devices",
        responses=described({200: "the devices the gateway found, with their state"}, 404),
    )
    async def devices(
        building_id: BuildingId,
        limit: LimitQuery = 100,
        cursor: CursorQuery = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        agent = owned(building_id, principal).agent
        alive = {entry.device_id: entry for entry in agent.gateway.liveness()}
        page = paginate(
            sorted(agent.found.values(), key=lambda info: info.device_id),
            lambda info: info.device_id,
            listing=f"devices:{building_id}",
            limit=limit,
            cursor=cursor,
        )
        items = [
            _device_document(
                building_id,
                info,
                alive.get(info.device_id),
                agent.measured.latest.get(info.device_id, {}),
            )
            for info in page.items
        ]
        return page_document(items, page.next_cursor, f"{BASE}/{building_id}/devices", limit)

    @router.get(
        "/buildings/{building_id}/devices/{device_id}",
        responses=described({200: "the device, its liveness and latest measurements"}, 404),
    )
    async def one_device(
        building_id: BuildingId, device_id: DeviceId, principal: Principal = who
    ) -> dict[str, Any]:
        found = owned(building_id, principal)
        agent, info = found.agent, device(found, device_id)
        alive = {entry.device_id: entry for entry in agent.gateway.liveness()}
        latest = agent.measured.latest.get(device_id, {})
        return _device_document(building_id, info, alive.get(device_id), latest)

    @router.post(
        "/buildings/{building_id}/devices/{device_id}/commands",
        openapi_extra=COMMAND_BODY,
        responses=described(
            {
                200: "applied: the device confirmed it",
                202: "sent, not confirmed in time: the gateway resends it, applied once",
                422: "the request, or the device refused the command",
            },
            404,
        ),
    )
    async def command(
        building_id: BuildingId,
        device_id: DeviceId,
        *,
        response: Response,
        body: Annotated[dict[str, Any], Body()],
        idempotency_key: IdempotencyKey = None,
        principal: Principal = who,
    ) -> dict[str, Any]:
        found = owned(building_id, principal)
        info = device(found, device_id)
        agent = found.agent
        sent = _command(
            body,
            info,
            principal=principal,
            building_id=building_id,
            key=idempotency_key,
            agent=agent,
        )
        result = await agent.gateway.send(sent, timeout_s=agent.settings.command_timeout_s)
        if result.outcome is Outcome.REJECTED:
            raise ValidationError(
                [Problem("$", "refused_by_device", result.detail or "refused")], subject="command"
            )
        if result.outcome is Outcome.PENDING:
            response.status_code = 202
        return {
            "command_id": sent.command_id,
            "building_id": building_id,
            "device_id": device_id,
            "action": sent.action.value,
            "value": sent.value,
            "outcome": result.outcome.value,
            "detail": result.detail,
            "at": result.at.isoformat(),
        }

    return router


def _owns(principal: Principal, party: str | None) -> bool:
    """A building without a party is the operators' only."""
    return principal.sees_every_party or (party is not None and principal.owns_party(party))


def _command(
    body: Mapping[str, Any],
    info: DeviceInfo,
    *,
    principal: Principal,
    building_id: str,
    key: str | None,
    agent: BuildingAgent,
) -> Command:
    """The gateway's command of a body, every problem of body and key found at once. Its id
    comes from the caller, the key and the request, so that a retry is the same command (a
    gateway applies an id once) and another request never takes an earlier one's outcome."""
    problems = shape_problems(body, _COMMAND_KEYS, key)
    raw_action, value = body.get("action"), body.get("value")
    action = None
    if raw_action is None:
        problems.append(Problem("$.action", "missing_field", "is required"))
    elif not isinstance(raw_action, str) or raw_action not in _ACTIONS:
        offered = ", ".join(a.value for a in Action)
        problems.append(Problem("$.action", "bad_action", f"one of {offered}"))
    else:
        action = Action(raw_action)
        if action not in info.actions:
            takes = ", ".join(sorted(info.actions)) or "none"
            problems.append(Problem("$.action", "not_offered", f"{info.device_id} takes {takes}"))
    if action in VALUED_ACTIONS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(Problem("$.value", "not_number", f"{action} needs a number"))
        elif not math.isfinite(value):
            problems.append(Problem("$.value", "not_finite", "must be finite"))
        elif action in info.ranges and value not in info.ranges[action]:
            limits = info.ranges[action]
            problems.append(
                Problem(
                    "$.value",
                    "out_of_range",
                    f"{info.device_id} takes {action} in [{limits.minimum:g}, {limits.maximum:g}]",
                )
            )
    elif action is not None and value is not None:
        problems.append(Problem("$.value", "unexpected", f"{action} takes no value"))
    if problems:
        raise ValidationError(problems, subject="command")
    assert action is not None
    request = "\x1f".join(
        [owner_of(principal), building_id, info.device_id, action.value, repr(value), str(key)]
    )
    digest = hashlib.sha256(request.encode()).hexdigest()
    number = None if value is None else float(value)
    return Command(f"api-{digest[:40]}", info.device_id, action, number, agent.clock.now())
