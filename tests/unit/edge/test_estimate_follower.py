"""The EDC manager following the state estimation on the memory bus: an estimate published as
the estimation service publishes it (its own encoder) reaches each EDC cut to its area, and
volt-var answers it with the setpoints of the IEEE 1547 Category B curve; an old state is
marked stale; an EDC created later gets the latest estimate at once."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx2 as httpx
import numpy as np
import pytest

from osed.bus.memory import MemoryBroker, MemoryBus
from osed.domain.envelope import Envelope
from osed.domain.time import ManualClock
from osed.edge.api import create_app
from osed.edge.estimate_follower import EstimateFollower
from osed.edge.intelligence_areas import AreaMap
from osed.edge.manager import EdcManager
from osed.grid.state import GridState
from osed.grid_services.estimation_output import StateEncoder
from osed.gridfunctions import registry
from osed.gridfunctions.spec import AreaView, GridFunction, Outbound, Session
from osed.storage.edc_sqlite import SqliteEdcStateStore
from tests.unit.edge import probe
from tests.unit.edge.conftest import Field, eventually
from tests.unit.grid_services.estimation_support import T0, feeder

FEEDER = feeder(31)  # three feeders of ten nodes under n0: l1…l10, l11…l20, l21…l30
U_RATED_V = 10_500.0
# IEEE 1547-2018 Category B volt-var: (V pu, Q % of nameplate VA, + injects)
CATEGORY_B_V = (0.92, 0.98, 1.02, 1.08)
CATEGORY_B_Q = (44.0, 0.0, 0.0, -44.0)
MAX_AGE = timedelta(seconds=180)


class _Watching(probe.ProbeSession):
    """The probe, keeping the area state of every tick."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def on_tick(self, area: AreaView) -> list[Outbound]:
        _Watching.seen.append(dict(area.state))
        return super().on_tick(area)


class _WatchingProbe(probe.Probe):
    def open(
        self,
        parameters: Mapping[str, Any],
        area: AreaView,
        *,
        resume: Mapping[str, Any] | None = None,
    ) -> Session:
        return _Watching(parameters, resume)


def load_function(name: str) -> GridFunction:
    return _WatchingProbe() if name == "probe" else registry.load_function(name)


@dataclass
class Rig:
    manager: EdcManager
    follower: EstimateFollower
    client: httpx.AsyncClient
    field: Field
    estimation: MemoryBus
    clock: ManualClock
    seq: int = 0

    async def publish_estimate(self, state: GridState, seconds: float = 0.0) -> None:
        """One estimate as the estimation service publishes it: nodes, branches, summary."""
        at = T0 + timedelta(seconds=seconds)
        stamp = at.isoformat(timespec="microseconds")
        ns = int(at.timestamp()) * 10**9
        encoder = StateEncoder(
            name="estimation",
            prefix="se",
            node_ids=list(state.node_ids),
            branch_ids=list(state.branches.ids),
            store=False,
        )
        outputs = encoder.state(state, at, stamp, ns)
        summary = {"timestamp": stamp, "network": "radial", "status": "ok", "trigger": "cadence"}
        outputs.append(encoder.summary(summary, ns))
        envelopes = []
        for output in outputs:
            self.seq += 1
            envelopes.append(Envelope(output.topic, "estimation", self.seq, output.payload, at))
        before = self.follower.estimates
        await self.estimation.publish_many(envelopes)
        await eventually(lambda: self.follower.estimates == before + 1)

    async def create(self, edc_id: str, element: str) -> None:
        body = {"id": edc_id, "element": element}
        response = await self.client.post(
            "/api/v1/edcs", json=body, headers={"Idempotency-Key": edc_id}
        )
        assert response.status_code == 201, response.text


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    broker = MemoryBroker()
    clock = ManualClock(T0)
    buses = [MemoryBus(broker, clock=clock) for _ in range(3)]
    for bus in buses:
        await bus.start()
    areas = AreaMap(FEEDER.network)
    with SqliteEdcStateStore(tmp_path / "edc.sqlite") as store:
        manager = EdcManager(
            buses[0],
            store,
            clock=clock,
            control_cycle=timedelta(hours=1),  # ticks driven by the test
            element_exists=FEEDER.network.has,
            areas=areas,
            grid_state_max_age=MAX_AGE,
            load_function=load_function,
        )
        await manager.start()
        follower = EstimateFollower(buses[0], manager, areas, "se")
        await follower.start()
        field = Field(buses[1])
        await field.listen()
        transport = httpx.ASGITransport(app=create_app(manager))
        async with httpx.AsyncClient(transport=transport, base_url="http://edc") as client:
            yield Rig(manager, follower, client, field, buses[2], clock)
        await follower.stop()
        await manager.stop()
    for bus in buses:
        await bus.stop()


def pu(node: str) -> float:
    """The power flow's voltage at ``node`` in pu of its rated (line-to-line) voltage."""
    index = list(FEEDER.state.node_ids).index(node)
    return float(np.asarray(FEEDER.state.u_v)[index]) * math.sqrt(3) / U_RATED_V


def category_b_q_pct(voltage_pu: float) -> float:
    return float(np.interp(voltage_pu, CATEGORY_B_V, CATEGORY_B_Q))


async def test_volt_var_answers_the_estimated_voltages_of_its_area(rig: Rig) -> None:
    await rig.create("feeder-1", "l1")
    enrolled = await rig.client.post("/api/v1/edcs/feeder-1/buildings", json={"building_id": "b1"})
    token = enrolled.json()["token"]
    parameters = {"vv_response": 0, "vw_response": 0}
    assigned = await rig.client.post(
        "/api/v1/edcs/feeder-1/functions/volt-var", json={"parameters": parameters}
    )
    assert assigned.status_code == 201, assigned.text
    inverters = [
        ("pv-end", "n10", 10.0, 8.0),
        ("pv-mid", "n5", 6.0, 6.0),
        ("pv-far", "n15", 5.0, 5.0),
    ]
    for inverter_id, node, kva, kw in inverters:
        body = {"inverter_id": inverter_id, "node": node, "s_rated_kva": kva, "p_rated_kw": kw}
        await rig.field.send(
            "edc/feeder-1/volt-var/in",
            {"building": "b1", "token": token, "type": "inverter", "body": body},
        )
    edc = rig.manager.get("feeder-1")
    await eventually(lambda: edc.function_status("volt-var")["status"]["inverters"] == 3)

    await rig.publish_estimate(FEEDER.state)
    rig.clock.advance(timedelta(seconds=5))
    await edc.tick()

    await eventually(lambda: len(rig.field.on("edc/feeder-1/volt-var/out/b1")) == 2)
    setpoints = {
        m["body"]["inverter_id"]: m["body"] for m in rig.field.on("edc/feeder-1/volt-var/out/b1")
    }
    # n15 lies on the second feeder, outside this EDC's area: no voltage, no setpoint
    assert set(setpoints) == {"pv-end", "pv-mid"}
    for inverter_id, node, kva, kw in inverters[:2]:
        expected_pu = pu(node)
        assert 0.92 < expected_pu < 0.98  # on the curve's sloped part, injecting
        setpoint = setpoints[inverter_id]
        assert setpoint["voltage_pu"] == pytest.approx(expected_pu, abs=1e-6)
        assert setpoint["q_kvar"] == pytest.approx(
            category_b_q_pct(expected_pu) / 100 * kva, abs=1e-4
        )
        assert setpoint["q_kvar"] > 0.1  # not the deadband's zero
        # Volt-watt starts at 1.06 pu; reactive power priority leaves P what the rating allows.
        room = (kva**2 - setpoint["q_kvar"] ** 2) ** 0.5
        assert setpoint["p_limit_kw"] == pytest.approx(min(kw, room), rel=1e-6)

    state = (await rig.client.get("/api/v1/edcs/feeder-1/grid-state")).json()
    assert state["grid_state_source"] == "estimate"
    assert state["estimated_at"] == T0.isoformat()
    assert set(state["voltages_pu"]) == {f"n{i}" for i in range(1, 11)}
    assert set(state["loading"]) == {f"l{i}" for i in range(1, 11)}
    flows = FEEDER.state.branches
    head = list(flows.ids).index("l1")
    head_amps = max(float(np.asarray(flows.i_from_a)[head]), float(np.asarray(flows.i_to_a)[head]))
    assert state["element_loading"] == pytest.approx(head_amps / 400.0, rel=1e-6)
    assert state["voltage_min_pu"] == pytest.approx(pu("n10"), abs=1e-6)
    assert state["voltage_max_pu"] == pytest.approx(pu("n1"), abs=1e-6)
    assert state["grid_state_age_s"] == pytest.approx(5.0)
    assert state["grid_state_stale"] is False


async def test_a_state_older_than_the_maximum_age_is_marked_stale_for_the_functions(
    rig: Rig,
) -> None:
    _Watching.seen.clear()
    await rig.create("feeder-2", "l11")
    edc = rig.manager.get("feeder-2")
    await edc.assign("probe", {"limit_kw": 10})
    await rig.publish_estimate(FEEDER.state)
    rig.clock.advance(MAX_AGE)
    await edc.tick()
    rig.clock.advance(timedelta(seconds=1))
    await edc.tick()
    fresh, stale = _Watching.seen
    assert fresh["grid_state_stale"] is False
    assert fresh["grid_state_age_s"] == pytest.approx(180.0)
    assert stale["grid_state_stale"] is True
    assert stale["grid_state_age_s"] == pytest.approx(181.0)
    assert stale["voltages_pu"]["n15"] == pytest.approx(pu("n15"), abs=1e-6)
    assert "n5" not in stale["voltages_pu"]
    # a newer estimate makes it fresh again
    await rig.publish_estimate(FEEDER.state, seconds=181)
    await edc.tick()
    assert _Watching.seen[-1]["grid_state_stale"] is False
    assert _Watching.seen[-1]["grid_state_age_s"] == pytest.approx(0.0)


async def test_an_edc_created_after_an_estimate_starts_with_it(rig: Rig) -> None:
    await rig.publish_estimate(FEEDER.state)
    await rig.create("feeder-3", "n21")
    state = (await rig.client.get("/api/v1/edcs/feeder-3/grid-state")).json()
    assert set(state["voltages_pu"]) == {f"n{i}" for i in range(21, 31)}
    assert set(state["loading"]) == {f"l{i}" for i in range(22, 31)}
    assert state["element_loading"] is None  # a node has no loading of its own


async def test_a_failed_estimate_changes_nothing(rig: Rig) -> None:
    await rig.create("feeder-1", "l1")
    await rig.publish_estimate(FEEDER.state)
    stamp = (T0 + timedelta(seconds=60)).isoformat(timespec="microseconds")
    failed = {"timestamp": stamp, "status": "failed", "error": "unobservable"}
    await rig.estimation.publish(
        Envelope("se/summary", "estimation", 10_000, json.dumps(failed).encode(), T0)
    )
    await eventually(lambda: rig.follower.skipped == 1)
    state = (await rig.client.get("/api/v1/edcs/feeder-1/grid-state")).json()
    assert state["estimated_at"] == T0.isoformat()
    assert rig.follower.estimates == 1
