"""The state-estimation service on the in-memory bus with a manual clock: a 31-node feeder's
power flow measured, published as SOGNO messages, estimated and published back."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from osed.domain.errors import ValidationError
from osed.grid.estimation import BadDataOptions
from osed.grid_services.estimation_config import EstimationConfig
from osed.grid_services.estimation_sensors import SensorSpec
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.unit.grid_services.estimation_support import (
    T0,
    Feeder,
    Rig,
    feeder,
    make_rig,
    messages,
    shifted,
    snapshot_config,
    sogno,
)

FEEDER = feeder(31)
U_PHASE = 10_500.0 / math.sqrt(3.0)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    rig = await make_rig(snapshot_config(FEEDER), FEEDER.network)
    yield rig
    await rig.close()


def assert_power_flow_state(rig: Rig, feeder: Feeder, stamp: str, tolerance: float) -> None:
    nodes = {d["component"]: d for d in rig.nodes.documents if d["timestamp"] == stamp}
    state = feeder.state
    assert sorted(nodes) == sorted(state.node_ids)
    reference = next(r["data"] for r in nodes["n0"]["readings"] if r["measurand"] == "voltangle")
    for i, node in enumerate(state.node_ids):
        readings = {(r["measurand"], r["phase"]): r["data"] for r in nodes[node]["readings"]}
        assert abs(readings[("voltmagnitude", "ABC")] / U_PHASE - state.u_pu[i]) < tolerance
        # angles relative to the source node (the estimate's reference is its own)
        angle = readings[("voltangle", "ABC")] - reference
        assert abs(angle - (state.u_angle[i] - state.u_angle[0])) < tolerance
        assert set(readings) == {
            ("voltmagnitude", "ABC"),
            ("voltangle", "ABC"),
            ("activepower", "ABC"),
            ("reactivepower", "ABC"),
        }


async def test_a_snapshot_publishes_the_power_flow_state(rig: Rig) -> None:
    await rig.send(messages(FEEDER.measurements, T0))
    await rig.settle()

    stamp = "2023-06-29T10:00:00.000000+00:00"
    assert_power_flow_state(rig, FEEDER, stamp, 1e-6)
    assert {e.topic for e in rig.nodes.envelopes} == {f"se/node/n{i}" for i in range(31)}
    node = rig.nodes.documents[0]
    assert set(node) == {"component", "timestamp", "readings"}
    assert set(node["readings"][0]) == {"measurand", "phase", "data"}

    branches = {d["component"]: d for d in rig.branches.documents}
    flows = FEEDER.state.branches
    largest = float(max(abs(flows.p_from_w)))
    for i, branch in enumerate(flows.ids):
        readings = {r["measurand"]: r["data"] for r in branches[branch]["readings"]}
        assert set(readings) == {
            "currmagnitude",
            "activepower",
            "reactivepower",
            "currmagnitude_to",
            "activepower_to",
            "reactivepower_to",
        }
        assert abs(readings["activepower"] - flows.p_from_w[i]) < 1e-6 * largest
        assert abs(readings["reactivepower_to"] - flows.q_to_var[i]) < 1e-6 * largest
        assert abs(readings["currmagnitude"] - flows.i_from_a[i]) < 1e-6 * float(
            max(flows.i_from_a)
        )
    assert rig.branches.envelopes[0].topic == "se/branch/l1"

    (summary,) = rig.summaries.documents
    assert summary["timestamp"] == stamp
    assert summary["status"] == "ok"
    assert summary["chi2_passed"] is True
    assert summary["degrees_of_freedom"] == len(FEEDER.measurements) - (2 * 31 - 1)
    assert summary["bad_data_removed"] == []
    assert summary["pseudo_measurements"] == 0
    assert summary["observability"]["observable"] is True
    assert summary["readings"] == len(FEEDER.measurements)
    # The summary comes last: a consumer that sees it has the state.
    assert rig.summaries.envelopes[0].seq == 31 + 30 + 1
    keys = [e.key for e in rig.nodes.envelopes]
    assert keys[0] == f"estimation:{1688032800 * 10**9}:node:n0"
    assert rig.service.counters.layouts == 1
    assert rig.service.counters.estimates == 1


async def test_the_estimator_is_kept_while_the_layout_stays(rig: Rig) -> None:
    for second in range(3):
        at = shifted(T0, second)
        loads = {(f"load{k}", "activepower"): 3e5 + 1e3 * second for k in range(1, 31)}
        await rig.send(messages(FEEDER.measurements, at, changed=loads))
        await rig.settle()
    assert rig.service.counters.estimates == 3
    assert rig.service.counters.layouts == 1
    assert [d["layout"]["built"] for d in rig.summaries.documents] == [True, False, False]
    p0 = [d["readings"] for d in rig.nodes.documents if d["component"] == "n0"]
    assert len({json.dumps(r) for r in p0}) == 3  # each snapshot its own state


async def test_a_gross_error_is_named_and_the_state_recovers(rig: Rig) -> None:
    wrong = {("n7", "voltmagnitude"): float(FEEDER.state.u_v[7]) + 0.1 * U_PHASE}
    await rig.send(messages(FEEDER.measurements, T0, changed=wrong))
    await rig.settle()

    (summary,) = rig.summaries.documents
    assert summary["status"] == "ok"
    (removal,) = summary["bad_data_removed"]
    assert removal["measurements"] == ["voltmagnitude[ABC] n7"]
    assert removal["readings"] == ["dev-n7 voltmagnitude[ABC]"]
    assert removal["normalised_residual"] > 3
    assert summary["chi2_passed"] is True
    assert_power_flow_state(rig, FEEDER, summary["timestamp"], 2e-4)


async def test_a_snapshot_waits_for_every_listed_sensor(rig: Rig) -> None:
    payloads = messages(FEEDER.measurements, T0)
    await rig.send(payloads[:-1])
    await rig.settle()
    assert rig.summaries.envelopes == []
    assert rig.service.counters.estimates == 0
    await rig.send(payloads[-1:])
    await rig.settle()
    assert [d["status"] for d in rig.summaries.documents] == ["ok"]


async def test_readings_within_max_age_complete_a_snapshot() -> None:
    rig = await make_rig(snapshot_config(FEEDER, max_age=timedelta(seconds=1)), FEEDER.network)
    payloads = messages(FEEDER.measurements, T0)
    early = messages(FEEDER.measurements, shifted(T0, -0.5))
    await rig.send([early[-1], *payloads[:-1]])  # one device reported half a second early
    await rig.settle()
    (summary,) = rig.summaries.documents
    assert summary["timestamp"] == "2023-06-29T10:00:00.000000+00:00"
    assert_power_flow_state(rig, FEEDER, summary["timestamp"], 1e-6)
    await rig.close()


async def test_an_incomplete_snapshot_is_given_up_and_named() -> None:
    rig = await make_rig(snapshot_config(FEEDER, wait=timedelta(seconds=10)), FEEDER.network)
    payloads = messages(FEEDER.measurements, T0)
    await rig.send(payloads[1:])  # n0's voltage is missing at 10:00:00
    await rig.send(messages(FEEDER.measurements, shifted(T0, 5))[1:])
    await rig.settle()
    assert rig.summaries.envelopes == []  # still waiting: 5 s < wait
    await rig.send(messages(FEEDER.measurements, shifted(T0, 12))[1:])
    await rig.settle()
    (summary,) = rig.summaries.documents  # 10:00:00 given up; :05 and :12 still wait
    assert summary["status"] == "incomplete"
    assert summary["missing"] == ["dev-n0 voltmagnitude[ABC]"]
    await rig.send(messages(FEEDER.measurements, shifted(T0, 20)))
    await rig.settle()
    statuses = [(d["timestamp"][11:19], d["status"]) for d in rig.summaries.documents]
    assert statuses == [
        ("10:00:00", "incomplete"),
        ("10:00:05", "incomplete"),
        ("10:00:12", "incomplete"),
        ("10:00:20", "ok"),
    ]
    assert rig.service.counters.abandoned == 3
    # Everything up to the estimate is done: committed.
    (consumer,) = rig.service._consumers
    assert consumer.committed("bridge.pmu") == rig.source.last_seq
    await rig.close()


def cadence_config(**options: Any) -> EstimationConfig:
    values: dict[str, Any] = {
        "network": "test",
        "inputs": ("bal/processed",),
        "trigger": "cadence",
        "period": timedelta(seconds=10),
        "max_age": timedelta(seconds=15),
        "tick_s": 3600.0,
    }
    values.update(options)
    return EstimationConfig(**values)


async def test_the_cadence_estimates_every_period_with_the_fresh_readings() -> None:
    """No sensor listed: the readings name the network's elements and take default sigmas."""
    rig = await make_rig(cadence_config(), FEEDER.network)
    await rig.send(messages(FEEDER.measurements, shifted(T0, 1), prefix=""))
    await rig.settle()
    assert rig.summaries.envelopes == []  # the cadence is the clock's
    assert not await rig.service.tick()  # 10:00:00: no reading yet at or before it
    assert rig.service.counters.skipped == 1
    rig.clock.advance(timedelta(seconds=10))
    assert await rig.service.tick()
    await rig.settle()
    (summary,) = rig.summaries.documents
    assert summary["timestamp"] == "2023-06-29T10:00:10.000000+00:00"
    assert summary["trigger"] == "cadence"
    assert_power_flow_state(rig, FEEDER, summary["timestamp"], 1e-6)
    assert not await rig.service.tick()  # the same instant once

    rig.clock.advance(timedelta(seconds=20))  # 10:00:30: the readings of 10:00:01 are too old
    assert not await rig.service.tick()
    assert rig.service.counters.skipped == 2
    assert len(rig.summaries.envelopes) == 1
    (consumer,) = rig.service._consumers
    assert consumer.committed("bridge.pmu") == rig.source.last_seq  # nothing can use them

    # load5 stops reporting: a new layout, made observable by pseudo-measurements
    readings = [m for m in FEEDER.measurements if m.element != "load5"]
    await rig.send(messages(readings, shifted(T0, 35), prefix=""))
    await rig.settle()
    rig.clock.advance(timedelta(seconds=10))
    assert await rig.service.tick()
    await rig.settle()
    summary = rig.summaries.documents[-1]
    assert summary["status"] == "ok"
    assert summary["pseudo_measurements"] == 2
    assert summary["layout"] == {"sensors": len(readings), "built": True}
    assert rig.service.counters.layouts == 2
    # the profile values are the power flow's loads: the estimate is still exact
    assert_power_flow_state(rig, FEEDER, summary["timestamp"], 1e-6)
    await rig.close()


async def test_the_cadence_keeps_the_newest_reading_of_each_sensor_uncommitted() -> None:
    rig = await make_rig(cadence_config(), FEEDER.network)
    await rig.send(messages(FEEDER.measurements, shifted(T0, 1), prefix=""))
    await rig.settle()
    rig.clock.advance(timedelta(seconds=10))
    assert await rig.service.tick()
    await rig.settle()
    (consumer,) = rig.service._consumers
    assert consumer.committed("bridge.pmu") == 0  # still each sensor's newest: needed later
    await rig.send(messages(FEEDER.measurements, shifted(T0, 2), prefix=""))
    await rig.settle()
    assert consumer.committed("bridge.pmu") == rig.source.last_seq // 2  # superseded
    await rig.close()


async def test_unobservable_publishes_the_report_and_goes_on() -> None:
    config = snapshot_config(FEEDER, pseudo=False)
    rig = await make_rig(config, FEEDER.network)
    unmeasured = {"load5", "load6"}
    kept = [m for m in FEEDER.measurements if m.element not in unmeasured]
    missing = [m for m in FEEDER.measurements if m.element in unmeasured]
    # The listed load sensors report only P: incomplete pairs are left out, named.
    partial = [m for m in missing if m.measurand == "activepower"]
    await rig.send(messages([*kept, *partial], T0))
    await rig.settle()
    assert rig.summaries.envelopes == []  # listed Q readings missing: the snapshot waits

    config = snapshot_config(
        FEEDER,
        pseudo=False,
        sensors=tuple(s for s in FEEDER.sensors() if s.element not in unmeasured),
    )
    await rig.close()
    rig = await make_rig(config, FEEDER.network)
    await rig.send(messages(FEEDER.measurements, T0))  # load5/load6 readings: not listed
    await rig.settle()
    (summary,) = rig.summaries.documents
    assert summary["status"] == "unobservable"
    assert "not observable" in summary["error"]
    report = summary["observability"]
    assert report["observable"] is False
    assert len(report["islands"]) > 1
    assert report["unmeasured_branches"]
    assert rig.nodes.envelopes == []
    assert rig.service.ready()
    assert rig.service.counters.failed == 1
    assert rig.service.counters.unmapped == 4
    # The next snapshot with the same layout: the same answer, from the cached layout.
    await rig.send(messages(FEEDER.measurements, shifted(T0, 1)))
    await rig.settle()
    assert [d["status"] for d in rig.summaries.documents] == ["unobservable"] * 2
    assert rig.service.counters.layouts == 1
    await rig.close()


async def test_an_incomplete_sensor_pair_is_left_out_and_named() -> None:
    rig = await make_rig(cadence_config(), FEEDER.network)
    readings = [
        m
        for m in FEEDER.measurements
        if not (m.element == "load3" and m.measurand == "reactivepower")
    ]
    await rig.send(messages(readings, shifted(T0, 1), prefix=""))
    await rig.settle()
    rig.clock.advance(timedelta(seconds=10))
    await rig.service.tick()
    await rig.settle()
    (summary,) = rig.summaries.documents
    assert summary["incomplete"] == ["load3 activepower[ABC]"]
    assert summary["status"] == "ok"
    assert summary["pseudo_measurements"] == 2
    await rig.close()


async def test_malformed_inputs_are_dead_lettered_and_own_messages_ignored(rig: Rig) -> None:
    await rig.send([b"not json", b'{"device": "x"}'])
    await rig.send([sogno("pmu", T0, [("n1", "frequency", "ABC", 50.0)])])
    await rig.send(
        [
            json.dumps(
                {
                    "device": "p",
                    "timestamp": "1700-01-01T00:00:00+00:00",
                    "readings": [
                        {"component": "c", "measurand": "voltmagnitude", "phase": "A", "data": 1.0}
                    ],
                }
            ).encode()
        ]
    )
    await rig.send(messages(FEEDER.measurements, T0))
    await rig.settle()
    assert [e.topic for e in rig.dead.envelopes] == ["dead-letter/bal/processed"] * 3
    letter = json.loads(rig.dead.envelopes[2].payload)
    assert letter["problems"][0]["path"] == "$.timestamp"
    assert rig.service.counters.unmapped == 1  # the frequency
    assert rig.summaries.documents[0]["status"] == "ok"
    # Its own output on an input pattern: ignored.
    await rig.service.accept(rig.nodes.envelopes[0])
    await rig.service.drain()
    assert rig.service.counters.ignored == 1
    assert rig.service.ready()
    (consumer,) = rig.service._consumers
    assert consumer.committed("bridge.pmu") == rig.source.last_seq


async def test_the_graph_file_is_written_and_refreshed(tmp_path: Path) -> None:
    path = tmp_path / "state" / "estimation-graph.json"
    rig = await make_rig(snapshot_config(FEEDER), FEEDER.network, graph_path=path)
    assert not path.exists()
    await rig.send(messages(FEEDER.measurements, T0))
    await rig.settle()
    first = json.loads(path.read_text())
    assert first["timestamp"] == "2023-06-29T10:00:00.000000+00:00"
    assert first["calculation"] == "state_estimation"
    assert [n["id"] for n in first["nodes"]] == FEEDER.state.node_ids
    for node, u_pu in zip(first["nodes"], FEEDER.state.u_pu, strict=True):
        assert abs(node["u_pu"] - u_pu) < 1e-6
    assert {e["id"] for e in first["edges"]} == set(FEEDER.state.branches.ids)

    lighter = {(f"load{k}", m): 0.0 for k in range(1, 31) for m in ("activepower", "reactivepower")}
    await rig.send(messages(FEEDER.measurements, shifted(T0, 1), changed=lighter))
    await rig.settle()
    second = json.loads(path.read_text())
    assert second["timestamp"] == "2023-06-29T10:00:01.000000+00:00"
    assert [(n["x"], n["y"]) for n in second["nodes"]] == [(n["x"], n["y"]) for n in first["nodes"]]
    assert second["edges"][0]["p_from_w"] != first["edges"][0]["p_from_w"]
    assert rig.service.counters.graph_writes == 2
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    await rig.close()


async def test_the_estimates_are_stored(tmp_path: Path) -> None:
    store = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    rig = await make_rig(snapshot_config(FEEDER), FEEDER.network, store=store)
    await rig.send(messages(FEEDER.measurements, T0))
    await rig.settle()
    (point,) = store.read("se/node/n7/voltmagnitude/ABC", T0, shifted(T0, 1))
    assert abs(point.value / U_PHASE - FEEDER.state.u_pu[7]) < 1e-6
    assert (point.unit, point.source, point.belief_time) == ("V", "estimation", T0)
    (flow,) = store.read("se/branch/l3/activepower_to/ABC", T0, shifted(T0, 1))
    assert flow.unit == "W"
    assert rig.service.counters.stored == 31 * 4 + 30 * 6
    await rig.close()
    store.close()


def test_every_config_problem_is_named_with_its_path() -> None:
    with pytest.raises(ValidationError) as caught:
        EstimationConfig(
            network="",
            inputs=("a/#/b",),
            sensors=(
                SensorSpec("m1", "voltmagnitude", phase="N"),
                SensorSpec("m2", "currmagnitude", element="l1", side="from"),
                SensorSpec("m1", "voltmagnitude", phase="N", sigma=-1.0),
            ),
            default_sigma={"voltage": 0.01, "heat": 1.0},
            trigger="often",
            method="guess",
            bad_data=BadDataOptions(confidence=1.5),
            output_prefix="se/#",
        )
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "$.network",
        "$.inputs[0]",
        "$.default_sigma.heat",
        "$.sensors[0].phase",
        "$.sensors[1].sigma",  # no sigma and no default for currents
        "$.sensors[2].phase",
        "$.sensors[2].sigma",
        "$.sensors[2]",
        "$.trigger",
        "$.method",
        "$.bad_data.confidence",
        "$.output_prefix",
    }


async def test_sensors_the_network_cannot_take_are_named() -> None:
    config = snapshot_config(
        FEEDER,
        sensors=(
            SensorSpec("a", "voltmagnitude", element="nowhere", sigma=1.0),
            SensorSpec("b", "activepower", element="l1", sigma=1.0),
            SensorSpec("c", "voltmagnitude", element="load3", sigma=1.0),
        ),
    )
    with pytest.raises(ValidationError) as caught:
        await make_rig(config, FEEDER.network)
    assert [p.path for p in caught.value.problems] == [
        "$.sensors[0].element",
        "$.sensors[1].side",
        "$.sensors[2].element",
    ]
