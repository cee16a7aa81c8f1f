"""The statistics service on the in-memory bus with a manual clock: windows, late values, the
timer, dead letters, storage and commits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest

from osed.bus.memory import MemoryBus
from osed.bus.reliable import InMemoryOutbox, InMemoryPositions, Publisher
from osed.domain.errors import ValidationError
from osed.domain.time import ManualClock
from osed.grid.stats import STATS
from osed.grid_services import StatsConfig, StatsService
from osed.storage.timeseries_sqlite import SqliteTimeSeriesStore
from tests.unit.grid_services.stats_support import (
    T0,
    Listener,
    aggregates,
    expected,
    listen,
    measurement,
    pmu,
)

PERIOD = timedelta(seconds=10)
CONFIG = StatsConfig(inputs=("bal/processed",), period=PERIOD, tick_s=3600.0)


@dataclass
class Rig:
    bus: MemoryBus
    clock: ManualClock
    source: Publisher
    service: StatsService
    out: Listener
    dead: Listener
    positions: InMemoryPositions

    async def send(self, payload: bytes, topic: str = "bal/processed") -> None:
        await self.source.publish(topic, payload)

    async def settle(self) -> None:
        """Let the bus deliver, then process what the service queued."""
        for _ in range(3):
            await asyncio.sleep(0)
        for subscription in list(self.bus._subscriptions):
            await subscription.drain()
        await self.service.drain()
        for subscription in list(self.bus._subscriptions):
            await subscription.drain()


async def make_rig(config: StatsConfig = CONFIG, store: SqliteTimeSeriesStore | None = None) -> Rig:
    clock = ManualClock(T0)
    bus = MemoryBus(clock=clock)
    await bus.start()
    out = await listen(bus, "bal/stats/#")
    dead = await listen(bus, "dead-letter/#")
    source = Publisher(bus, "bridge.pmu", InMemoryOutbox(), clock=clock, heartbeat=None)
    await source.start()
    positions = InMemoryPositions()
    service = StatsService(
        config, bus, store=store, positions=positions, clock=clock, heartbeat=None
    )
    await service.start()
    return Rig(bus, clock, source, service, out, dead, positions)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    rig = await make_rig()
    yield rig
    await rig.service.stop()
    await rig.source.close()
    await rig.bus.stop()


async def test_closed_windows_are_published_with_basicstats_of_their_values(rig: Rig) -> None:
    values = []
    for k in range(25):  # 10:00:00 .. 10:00:24: windows 00, 10 close, 20 stays open
        at = T0 + timedelta(seconds=k)
        volts = 230.0 + (k * 7 % 5) / 10
        await rig.send(pmu("pmu1", at, volts, watts=1000.0 + k))
        values += [
            ("pmu1", at, "n1", "voltmagnitude", "A", volts),
            ("pmu1", at, "n1", "activepower", "A", 1000.0 + k),
        ]
    await rig.settle()

    assert [d["timestamp"] for d in rig.out.documents] == [
        "2023-06-29T10:00:00.000000+00:00",
        "2023-06-29T10:00:10.000000+00:00",
    ]
    assert rig.out.documents[0]["end"] == "2023-06-29T10:00:10.000000+00:00"
    assert {e.topic for e in rig.out.envelopes} == {"bal/stats/pmu1"}
    closed = [v for v in values if v[1] < T0 + timedelta(seconds=20)]
    assert aggregates(rig.out.documents) == expected(closed, PERIOD)
    assert rig.service.pending == 10  # the window at 10:00:20, two series
    assert rig.service.counters.values == 50
    assert rig.service.counters.windows == 4
    assert rig.service.counters.published == 2


async def test_one_message_per_device_and_window_in_a_fixed_order(rig: Rig) -> None:
    for device in ("pmu2", "pmu1"):
        await rig.send(
            measurement(
                device,
                T0,
                [("n2", "frequency", "ABC", 50.0), ("n1", "voltmagnitude", "B", 231.0)],
            )
        )
    await rig.send(pmu("pmu1", T0 + PERIOD, 230.0))
    await rig.settle()
    docs = rig.out.documents
    assert [d["device"] for d in docs] == ["pmu1", "pmu2"]
    assert [(r["component"], r["measurand"]) for r in docs[0]["readings"]][:3] == [
        ("n1", "voltmagnitude_count"),
        ("n1", "voltmagnitude_min"),
        ("n1", "voltmagnitude_max"),
    ]
    # One value: no s2 and no stdev, as basicstats.
    assert {r["measurand"] for r in docs[1]["readings"] if r["component"] == "n2"} == {
        "frequency_count",
        "frequency_min",
        "frequency_max",
        "frequency_mean",
    }
    assert [e.key for e in rig.out.envelopes] == [
        f"stats:pmu1:{1688032800 * 10**9}:{10 * 10**9}",
        f"stats:pmu2:{1688032800 * 10**9}:{10 * 10**9}",
    ]


async def test_a_value_for_a_closed_window_is_late_counted_and_left_out(rig: Rig) -> None:
    await rig.send(pmu("pmu1", T0, 230.0))
    await rig.send(pmu("pmu1", T0 + PERIOD, 231.0))  # closes 10:00:00
    await rig.settle()
    await rig.send(pmu("pmu1", T0 + timedelta(seconds=5), 999.0))  # for 10:00:00: late
    await rig.settle()
    assert rig.service.counters.late == 2
    assert len(rig.out.documents) == 1
    assert aggregates(rig.out.documents)[
        ("pmu1", "2023-06-29T10:00:00.000000+00:00", "n1/A", "voltmagnitude_max")
    ] == pytest.approx(230.0)


async def test_lateness_keeps_a_window_open_for_stragglers() -> None:
    rig = await make_rig(replace(CONFIG, lateness=timedelta(seconds=3)))
    await rig.send(pmu("pmu1", T0, 230.0))
    await rig.send(pmu("pmu1", T0 + timedelta(seconds=12), 231.0))  # 10:00:00 not closed yet
    await rig.send(pmu("pmu1", T0 + timedelta(seconds=9), 232.0))  # a straggler, on time
    await rig.settle()
    assert rig.out.documents == []
    await rig.send(pmu("pmu1", T0 + timedelta(seconds=13), 233.0))  # 10 + 3: closes it
    await rig.settle()
    window = ("pmu1", "2023-06-29T10:00:00.000000+00:00", "n1/A")
    assert aggregates(rig.out.documents)[(*window, "voltmagnitude_count")] == 2
    await rig.service.stop()
    await rig.bus.stop()


async def test_the_timer_closes_the_last_window_once_the_input_is_idle() -> None:
    rig = await make_rig(replace(CONFIG, idle=timedelta(seconds=1)))
    await rig.send(pmu("pmu1", T0 + timedelta(seconds=1), 230.0))
    await rig.settle()  # received at 10:00:00 by the clock
    rig.clock.set(T0 + timedelta(seconds=5))  # idle, but live: the window runs until 10:00:10
    assert await rig.service.tick() is False
    rig.clock.set(T0 + PERIOD)
    assert await rig.service.tick() is True
    await rig.settle()
    assert [d["timestamp"] for d in rig.out.documents] == ["2023-06-29T10:00:00.000000+00:00"]
    assert rig.service.counters.timer_closes == 1
    assert rig.service.pending == 0
    assert rig.positions.load("stats.0") == {"bridge.pmu": 1}
    # The window is closed for good: a value for it now is late, not a second message.
    await rig.send(pmu("pmu1", T0 + timedelta(seconds=2), 231.0))
    await rig.settle()
    assert rig.service.counters.late == 2
    assert len(rig.out.documents) == 1
    assert rig.service.horizon == T0 + PERIOD
    await rig.service.stop()
    await rig.bus.stop()


async def test_the_timer_waits_while_historical_data_streams_in(rig: Rig) -> None:
    rig.clock.set(T0 + timedelta(days=1000))  # replaying old data: the clock is far ahead
    await rig.send(pmu("pmu1", T0, 230.0))
    await rig.settle()
    assert await rig.service.tick() is False  # input arrived just now: not idle
    rig.clock.advance(timedelta(seconds=9))
    assert await rig.service.tick() is False
    rig.clock.advance(timedelta(seconds=1))
    assert await rig.service.tick() is True


async def test_the_timer_runs_by_itself() -> None:
    rig = await make_rig(replace(CONFIG, tick_s=0.01, idle=timedelta(seconds=1)))
    await rig.send(pmu("pmu1", T0, 230.0))
    await rig.settle()
    rig.clock.advance(timedelta(minutes=1))
    for _ in range(200):
        if rig.out.envelopes:
            break
        await asyncio.sleep(0.01)
    assert len(rig.out.documents) == 1
    await rig.service.stop()
    await rig.bus.stop()


async def test_bad_messages_are_dead_lettered_and_the_service_goes_on(rig: Rig) -> None:
    await rig.send(b"\xff not json")
    await rig.send(b'{"device": "pmu1"}')
    await rig.send(pmu("pm+u", T0, 230.0))  # no topic can carry this device
    await rig.send(pmu("pmu1", T0.replace(year=2200), 230.0))  # beyond the nanosecond range
    await rig.send(pmu("pmu1", T0, 230.0))
    await rig.send(pmu("pmu1", T0 + PERIOD, 230.0))
    await rig.settle()
    assert rig.service.counters.dead_lettered == 4
    letters = rig.dead.documents
    assert [e.topic for e in rig.dead.envelopes] == ["dead-letter/bal/processed"] * 4
    assert [letter["seq"] for letter in letters] == [1, 2, 3, 4]
    assert {letter["stage"] for letter in letters} == {"decode"}
    assert letters[0]["problems"][0]["code"] == "not_json"
    assert letters[2]["problems"][0]["code"] == "bad_topic"
    assert letters[3]["problems"][0]["code"] == "out_of_range"
    assert rig.dead.envelopes[0].key == "bridge.pmu:1/stats/dead-letter"
    assert len(rig.out.documents) == 1
    assert rig.service.ready()


async def test_its_own_output_on_an_input_pattern_is_ignored() -> None:
    rig = await make_rig(replace(CONFIG, inputs=("#",)))
    await rig.send(pmu("pmu1", T0, 230.0))
    await rig.send(pmu("pmu1", T0 + PERIOD, 230.0))
    await rig.settle()
    await rig.settle()
    assert len(rig.out.documents) == 1
    assert rig.service.counters.ignored >= 1
    assert rig.service.counters.dead_lettered == 0
    await rig.service.stop()
    await rig.bus.stop()


async def test_aggregates_are_stored_one_point_each(tmp_path: Path) -> None:
    store = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    rig = await make_rig(replace(CONFIG, fields=("count", *STATS)), store=store)
    for k, volts in enumerate([230.0, 232.0, 231.0]):
        await rig.send(pmu("pmu1", T0 + timedelta(seconds=k), volts))
    await rig.send(pmu("pmu1", T0 + PERIOD, 230.0))
    await rig.settle()
    units = {info.series_id: info.unit for info in store.series()}
    assert units["pmu1/n1/voltmagnitude_mean/A"] == "V"
    assert units["pmu1/n1/voltmagnitude_s2/A"] == "V^2"
    assert units["pmu1/n1/voltmagnitude_count/A"] == "1"
    assert units["pmu1/n1/activepower_non_negative_diff/A"] == "W"
    (mean,) = store.read("pmu1/n1/voltmagnitude_mean/A", T0, T0 + PERIOD)
    assert mean.value == pytest.approx(231.0)
    assert (mean.event_time, mean.belief_time, mean.source) == (T0, T0 + PERIOD, "stats")
    (diff,) = store.read("pmu1/n1/voltmagnitude_diff/A", T0, T0 + PERIOD)
    assert diff.value == pytest.approx(-1.0)
    assert store.read("pmu1/n1/voltmagnitude_non_negative_diff/A", T0, T0 + PERIOD) == []
    stored = {p for s in units for p in store.read(s, T0, T0 + PERIOD)}
    readings = len(rig.out.documents[0]["readings"])
    assert len(stored) == readings == rig.service.counters.stored
    await rig.service.stop()
    await rig.bus.stop()
    store.close()


async def test_a_window_the_store_refuses_is_dead_lettered_and_still_published(
    tmp_path: Path,
) -> None:
    store = SqliteTimeSeriesStore(tmp_path / "ts.sqlite")
    from osed.ports.timeseries import TimeSeriesPoint

    # The series exists in another unit: the store refuses pmu1's mean.
    store.write([TimeSeriesPoint("pmu1/n1/voltmagnitude_mean/A", T0, 1.0, "kV", T0, "x")])
    rig = await make_rig(store=store)
    await rig.send(pmu("pmu1", T0, 230.0))
    await rig.send(pmu("pmu2", T0, 230.0))
    await rig.send(pmu("pmu1", T0 + PERIOD, 230.0))
    await rig.settle()
    assert len(rig.out.documents) == 2
    (letter,) = rig.dead.documents
    assert rig.dead.envelopes[0].topic == "dead-letter/bal/stats/pmu1"
    assert letter["stage"] == "store"
    assert letter["problems"][0]["code"] == "unit_mismatch"
    assert store.read("pmu2/n1/voltmagnitude_mean/A", T0, T0 + PERIOD)
    await rig.service.stop()
    await rig.bus.stop()
    store.close()


async def test_inputs_are_committed_only_once_their_windows_are_out(rig: Rig) -> None:
    for k in range(5):
        await rig.send(pmu("pmu1", T0 + timedelta(seconds=2 * k), 230.0))  # seq 1..5
    await rig.send(b"junk")  # seq 6: done at once, but after 1..5
    await rig.settle()
    assert rig.positions.load("stats.0") == {}
    await rig.send(pmu("pmu1", T0 + PERIOD, 230.0))  # seq 7 closes the first window
    await rig.settle()
    assert rig.positions.load("stats.0") == {"bridge.pmu": 6}
    assert rig.positions.load("stats.windows") == {"closed-through": 1688032810 * 10**9}


async def test_the_same_window_is_never_published_twice_by_the_same_service(rig: Rig) -> None:
    await rig.send(pmu("pmu1", T0, 230.0))
    await rig.send(pmu("pmu1", T0 + PERIOD, 230.0))
    await rig.settle()
    keys = [e.key for e in rig.out.envelopes]
    assert len(keys) == len(set(keys)) == 1


def test_a_bad_config_names_every_problem() -> None:
    with pytest.raises(ValidationError) as caught:
        StatsConfig(
            inputs=("a/#/b", "ok"),
            period=timedelta(0),
            output_topic="x/{node}",
            fields=("mean", "median"),
            series="{device}/{unit}",
        )
    paths = {(p.path, p.code) for p in caught.value.problems}
    assert paths == {
        ("$.inputs[0]", "bad_pattern"),
        ("$.period_s", "bad_period"),
        ("$.output_topic", "bad_topic"),
        ("$.fields[1]", "unknown_stat"),
        ("$.series", "bad_series"),
    }


async def test_a_message_payload_is_plain_json_without_nan(rig: Rig) -> None:
    await rig.send(pmu("pmu1", T0, 1e308, watts=-1e308))
    await rig.send(pmu("pmu1", T0 + timedelta(seconds=1), 1e308, watts=1e308))
    await rig.send(pmu("pmu1", T0 + PERIOD, 1.0))
    await rig.settle()
    (document,) = rig.out.documents
    readings = {r["measurand"]: r["data"] for r in document["readings"]}
    assert readings["voltmagnitude_count"] == 2
    assert readings["voltmagnitude_max"] == 1e308
    # s2 of ±1e308 overflows: left out as basicstats leaves out what it cannot emit.
    assert "activepower_s2" not in readings
    assert json.loads(rig.out.envelopes[0].payload) == document
