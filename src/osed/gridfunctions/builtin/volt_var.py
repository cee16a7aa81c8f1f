"""``volt-var``: IEEE 1547-2018 volt-var and volt-watt as setpoints to inverters.

From the estimated voltage at each inverter's node, the volt-var curve gives the reactive power
(in % of nameplate apparent power, positive injecting) and the volt-watt curve the active power
limit (in % of rated active power). Category B defaults; every curve point can be configured
and is checked (voltages increasing within 0.5–1.5 pu, values within range and not rising with
the voltage). Both are then kept within the inverter's apparent power rating, P² + Q² ≤ S², by
the configured priority (:mod:`._capability`). A live session moves each curve value towards
its target as a first-order response with the standard's open-loop response time (90 % of a
step after 5 s for volt-var, 10 s for volt-watt), one step per control cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

from osed.domain.errors import ValidationError
from osed.gridfunctions.builtin import _curves as curves
from osed.gridfunctions.builtin._capability import PRIORITIES, REACTIVE, Dispatch, within_rating
from osed.gridfunctions.builtin._document_fields import FieldReader
from osed.gridfunctions.spec import (
    AreaView,
    ComposedFunction,
    Inbound,
    Manifest,
    MessageType,
    Outbound,
    Parameter,
)

NAME = "volt-var"

MANIFEST = Manifest(
    name=NAME,
    version="1.0.0",
    description=(
        "IEEE 1547-2018 volt-var and volt-watt (Category B defaults) as inverter setpoints "
        "from the estimated voltages"
    ),
    parameters=(
        Parameter(
            "vv_v_pu",
            "volt-var V1..V4",
            kind="series",
            unit="pu",
            default=list(curves.VOLT_VAR_V_PU),
        ),
        Parameter(
            "vv_q_pct",
            "volt-var Q1..Q4, % of nameplate VA, + injects",
            kind="series",
            unit="%",
            default=list(curves.VOLT_VAR_Q_PCT),
        ),
        Parameter("volt_watt", "apply volt-watt too", kind="boolean", default=True),
        Parameter(
            "priority",
            "what gives way at the apparent power rating: reactive (P is curtailed so that "
            "P² + Q² ≤ S²) or active (Q is limited to √(S² − P²))",
            kind="string",
            default=REACTIVE,
            choices=PRIORITIES,
        ),
        Parameter(
            "vw_v_pu",
            "volt-watt V1, V2",
            kind="series",
            unit="pu",
            default=list(curves.VOLT_WATT_V_PU),
        ),
        Parameter(
            "vw_p_pct",
            "volt-watt P1, P2, % of rated power",
            kind="series",
            unit="%",
            default=list(curves.VOLT_WATT_P_PCT),
        ),
        Parameter(
            "vv_response",
            "volt-var open-loop response time",
            unit="s",
            minimum=0,
            maximum=90,
            default=curves.VOLT_VAR_RESPONSE_S,
        ),
        Parameter(
            "vw_response",
            "volt-watt open-loop response time",
            unit="s",
            minimum=0,
            maximum=90,
            default=curves.VOLT_WATT_RESPONSE_S,
        ),
        Parameter(
            "deadband_pct",
            "a setpoint is sent again when it moved by more than this",
            unit="%",
            minimum=0,
            maximum=10,
            default=0.5,
        ),
    ),
    messages=(
        MessageType(
            "inverter", "inbound", "{inverter_id, node, s_rated_kva, p_rated_kw, p_kw}", 1024
        ),
        MessageType("setpoint", "outbound", "{inverter_id, q_kvar, p_limit_kw, voltage_pu}", 512),
        MessageType("release", "outbound", "back to the inverter's own settings", 256),
    ),
)


class Settings:
    """The curves and response times of checked parameters."""

    def __init__(self, parameters: Mapping[str, Any], path: str = "$") -> None:
        problems = curves.check_curve(
            parameters["vv_v_pu"],
            parameters["vv_q_pct"],
            f"{path}.vv_v_pu",
            f"{path}.vv_q_pct",
            points=4,
            value_range=(-100.0, 100.0),
            decreasing=True,
        )
        problems += curves.check_curve(
            parameters["vw_v_pu"],
            parameters["vw_p_pct"],
            f"{path}.vw_v_pu",
            f"{path}.vw_p_pct",
            points=2,
            value_range=(0.0, 100.0),
            decreasing=True,
        )
        if problems:
            raise ValidationError(problems, subject=f"{NAME} parameters")
        self.volt_var = curves.Curve(tuple(parameters["vv_v_pu"]), tuple(parameters["vv_q_pct"]))
        self.volt_watt = curves.Curve(tuple(parameters["vw_v_pu"]), tuple(parameters["vw_p_pct"]))
        self.volt_watt_on = bool(parameters["volt_watt"])
        self.vv_response_s = float(parameters["vv_response"])
        self.vw_response_s = float(parameters["vw_response"])
        self.deadband_pct = float(parameters["deadband_pct"])
        self.priority = str(parameters.get("priority", REACTIVE))  # stored before it existed

    def targets(self, voltages: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], ...]:
        """Q in % of nameplate VA and the P limit in % of rated power at each voltage."""
        q_pct = self.volt_var.at(voltages)
        p_pct = self.volt_watt.at(voltages) if self.volt_watt_on else np.full_like(q_pct, 100.0)
        return q_pct, p_pct

    def dispatch(
        self,
        q_pct: np.ndarray[Any, Any],
        p_pct: np.ndarray[Any, Any],
        ratings: np.ndarray[Any, Any],
    ) -> Dispatch:
        """The curve values (volt-watt first) as setpoints within each rating; ``ratings``
        holds one row per inverter: S in kVA, rated P in kW and the available P in kW."""
        s_kva, p_rated, p_available = ratings.T
        return within_rating(
            q_pct / 100.0 * s_kva, p_pct / 100.0 * p_rated, s_kva, p_available, self.priority
        )


# ------------------------------------------------------------------------------- offline run

_INVERTER_FIELDS = ("id", "node", "s_rated_kva", "p_rated_kw", "p_kw")


def run_document(document: Any) -> dict[str, Any]:
    reader = FieldReader(f"{NAME} document")
    root = reader.root(document)
    reader.unknown_keys(root, "$", ("settings", "voltages_pu", "inverters"))
    settings_raw = root.get("settings", {})
    checked: dict[str, Any] = {}
    try:
        checked = MANIFEST.check_parameters(settings_raw, path="$.settings")
    except ValidationError as exc:
        reader.problems.extend(list(exc.problems))
    voltages = reader.object(root.get("voltages_pu"), "$.voltages_pu")
    for node, value in voltages.items():
        reader.value(value, f"$.voltages_pu.{node}", minimum=0.0, maximum=2.0)
    rows: list[tuple[str, str, float, float, float]] = []
    inverters = reader.items(root, "inverters", "$")
    for index, raw in enumerate(inverters):
        path = f"$.inverters[{index}]"
        inverter = reader.object(raw, path)
        reader.unknown_keys(inverter, path, _INVERTER_FIELDS)
        identifier = reader.string(inverter, "id", path)
        node = reader.string(inverter, "node", path)
        if node and node not in voltages:
            reader.problems.add(f"{path}.node", "no_voltage", f"no voltage for node {node!r}")
        rating = reader.number(inverter, "s_rated_kva", path, above=0.0)
        power = reader.number(inverter, "p_rated_kw", path, above=0.0, default=rating)
        available = reader.number(inverter, "p_kw", path, minimum=0.0, default=power)
        rows.append((identifier, node, rating, power, available))
    reader.unique_ids([r[0] for r in rows], "$.inverters")
    if not reader.problems:
        try:
            settings = Settings(checked, "$.settings")
        except ValidationError as exc:
            reader.problems.extend(list(exc.problems))
    reader.check()
    at = np.asarray([float(voltages[row[1]]) for row in rows], dtype=np.float64)
    q_pct, p_pct = settings.targets(at)
    ratings = np.asarray([row[2:] for row in rows], dtype=np.float64).reshape(len(rows), 3)
    sent = settings.dispatch(q_pct, p_pct, ratings)
    return {
        "settings": checked,
        "inverters": [
            {
                "id": identifier,
                "node": node,
                "voltage_pu": float(at[i]),
                "q_curve_pct": float(q_pct[i]),
                "q_pct": float(sent.q_kvar[i]) / rating * 100.0,
                "q_kvar": float(sent.q_kvar[i]),
                "p_limit_pct": float(sent.p_limit_kw[i]) / power * 100.0,
                "p_limit_kw": float(sent.p_limit_kw[i]),
            }
            for i, (identifier, node, rating, power, _) in enumerate(rows)
        ],
    }


# ------------------------------------------------------------------------------- live session


def _key(building: str, inverter: str) -> str:
    return f"{building}/{inverter}"


def _ratings(inverter: Mapping[str, Any]) -> tuple[float, float, float]:
    """S, rated P and available P; an inverter declared before ``p_kw`` existed may produce
    up to its rating."""
    rated = float(inverter["p_rated_kw"])
    return float(inverter["s_rated_kva"]), rated, float(inverter.get("p_kw", rated))


class VoltVarSession:
    """Volt-var and volt-watt for the inverters the buildings of one EDC declare."""

    def __init__(self, parameters: Mapping[str, Any], resume: Mapping[str, Any] | None) -> None:
        self._settings = Settings(parameters)
        saved = resume or {}
        # key → {building, inverter_id, node, s_rated_kva, p_rated_kw, p_kw, q_pct, p_pct (the
        # curve values after the response), q_kvar, p_limit_kw (within the rating), sent}
        self._inverters: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in saved.get("inverters", {}).items()
        }
        self._last_tick: str | None = saved.get("last_tick")
        self._cycles: int = saved.get("cycles", 0)
        self._held: int = saved.get("held_cycles", 0)
        self._closed: bool = saved.get("closed", False)

    def start(self, area: AreaView) -> list[Outbound]:
        self._last_tick = area.now.isoformat()
        return []

    def on_message(self, message: Inbound, area: AreaView) -> list[Outbound]:
        if message.message_type != "inverter":
            return []
        reader = FieldReader(f"{NAME} inverter from {message.building_id}")
        body = reader.object(message.body, "$")
        reader.unknown_keys(body, "$", ("inverter_id", "node", "s_rated_kva", "p_rated_kw", "p_kw"))
        inverter_id = reader.string(body, "inverter_id", "$")
        node = reader.string(body, "node", "$")
        rating = reader.number(body, "s_rated_kva", "$", above=0.0)
        power = reader.number(body, "p_rated_kw", "$", above=0.0, default=rating)
        available = reader.number(body, "p_kw", "$", minimum=0.0, default=power)
        reader.check()
        key = _key(message.building_id, inverter_id)
        previous = self._inverters.get(key, {})
        self._inverters[key] = {
            "building": message.building_id,
            "inverter_id": inverter_id,
            "node": node,
            "s_rated_kva": rating,
            "p_rated_kw": power,
            "p_kw": available,
            # A new inverter starts from its own state: no reactive power, no limit.
            "q_pct": previous.get("q_pct", 0.0),
            "p_pct": previous.get("p_pct", 100.0),
            "sent": previous.get("sent"),
        }
        return []

    def on_tick(self, area: AreaView) -> list[Outbound]:
        elapsed = 0.0
        if self._last_tick is not None:
            elapsed = (area.now - datetime.fromisoformat(self._last_tick)).total_seconds()
        self._last_tick = area.now.isoformat()
        self._cycles += 1
        if area.state.get("grid_state_stale") is True:
            # Voltages older than the EDC's maximum age say nothing about now: the setpoints
            # sent stand, and the curves move again with the next fresh estimate.
            self._held += 1
            return []
        voltages: Mapping[str, Any] = area.state.get("voltages_pu", {})
        enrolled = set(area.buildings)
        active = [
            inv
            for inv in self._inverters.values()
            if inv["building"] in enrolled and inv["node"] in voltages
        ]
        if not active:
            return []
        at = np.asarray([float(voltages[inv["node"]]) for inv in active], dtype=np.float64)
        q_target, p_target = self._settings.targets(at)
        q_step = curves.response_factor(elapsed, self._settings.vv_response_s)
        p_step = curves.response_factor(elapsed, self._settings.vw_response_s)
        for i, inv in enumerate(active):
            inv["q_pct"] += (float(q_target[i]) - inv["q_pct"]) * q_step
            inv["p_pct"] += (float(p_target[i]) - inv["p_pct"]) * p_step
            inv["voltage_pu"] = float(at[i])
        # The rating is shared after the response: what goes out always fits P² + Q² ≤ S².
        dispatch = self._settings.dispatch(
            np.asarray([inv["q_pct"] for inv in active], dtype=np.float64),
            np.asarray([inv["p_pct"] for inv in active], dtype=np.float64),
            np.asarray([_ratings(inv) for inv in active], dtype=np.float64),
        )
        messages: list[Outbound] = []
        band = self._settings.deadband_pct
        for i, inv in enumerate(active):
            inv["q_kvar"] = float(dispatch.q_kvar[i])
            inv["p_limit_kw"] = float(dispatch.p_limit_kw[i])
            shares = [
                inv["q_kvar"] / inv["s_rated_kva"] * 100.0,
                inv["p_limit_kw"] / inv["p_rated_kw"] * 100.0,
            ]
            sent = inv.get("sent")
            if sent is not None and all(
                abs(before - now) <= band for before, now in zip(sent, shares, strict=True)
            ):
                continue
            inv["sent"] = shares
            body = {
                "inverter_id": inv["inverter_id"],
                "q_kvar": inv["q_kvar"],
                "p_limit_kw": inv["p_limit_kw"],
                "voltage_pu": inv["voltage_pu"],
            }
            messages.append(Outbound("setpoint", body, inv["building"]))
        return messages

    def status(self) -> dict[str, Any]:
        return {
            "inverters": len(self._inverters),
            "cycles": self._cycles,
            "held_cycles": self._held,
            "q_kvar_total": sum(i.get("q_kvar", 0.0) for i in self._inverters.values()),
            "p_limited": sum(
                1
                for i in self._inverters.values()
                if i.get("p_limit_kw", i["p_rated_kw"]) < i["p_rated_kw"] - 1e-9
            ),
            "closed": self._closed,
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "inverters": {k: dict(v) for k, v in self._inverters.items()},
            "last_tick": self._last_tick,
            "cycles": self._cycles,
            "held_cycles": self._held,
            "closed": self._closed,
        }

    def close(self, area: AreaView) -> list[Outbound]:
        if self._closed:
            return []
        self._closed = True
        buildings = sorted({inv["building"] for inv in self._inverters.values()})
        return [Outbound("release", {}, building) for building in buildings]


VoltVar = ComposedFunction(MANIFEST, run_document, VoltVarSession)
"""The ``volt-var`` grid function (volt-var and volt-watt)."""
