"""Plays a study twice, as a baseline and managed, on the platform's own parts, and returns what
both runs did (:class:`osed.sim.results.StudyResult`).

Both runs share the households, their devices and the grid; the baseline has no grid function
and no market (every building agent plans against the tariff alone), the managed run has the
EDCs, their functions, the grid intelligence and the market. Time is a :class:`ManualClock`
moved a step once everything the step caused was handled (the bus settled), and all noise is
drawn from the study's seed, so the same study gives the same tables, bit for bit.

A step k (from ``start + k·step_h``):

1. events beginning or ending at k act (a DSO capacity limit or an XOR request is assigned to
   the EDC at its element, an outage cuts the households below its element);
2. the market trades the interval starting at k (managed, once per market interval);
3. the EDCs tick: their grid functions act on the latest reports and estimate;
4. the building agents run their control cycle and answer (the DAC game, bids, bounds);
5. the households' nets during k go into a power flow, measurements with noise are taken, the
   state is estimated, and the grid intelligence and the EDCs receive the estimate;
6. the devices evolve over the step and report; the clock moves on.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from osed.domain.time import ManualClock
from osed.edge.building.interpreter import FUNCTIONS as AGENT_FUNCTIONS
from osed.edge.intelligence_areas import AreaMap
from osed.sim import kpis
from osed.sim.baseline_process import BaselineProcess
from osed.sim.results import RunName, RunResult, StudyResult
from osed.sim.settling_bus import CountingBroker, SettlingBus
from osed.sim.sim_edge import (
    EVENT_FUNCTIONS,
    Edge,
    assign_study_functions,
    event_edcs,
    event_parameters,
    households_below,
    open_edge,
)
from osed.sim.sim_forecast import GridForecast
from osed.sim.sim_grid import GridSim
from osed.sim.sim_homes import Homes
from osed.sim.sim_market import SimMarket
from osed.sim.sim_record import Recorder
from osed.sim.study import Event, Study

Array = NDArray[np.float64]
Progress = Callable[[int, int], None]
"""Called with (steps done, steps in both runs)."""
STAGES = ("devices", "power_flow", "estimation", "intelligence", "market", "functions", "agents")


def run_study(
    study: Study, *, progress: Progress | None = None, parallel: bool = True
) -> StudyResult:
    """Both runs of ``study`` and their KPIs.

    With ``parallel`` the baseline plays in a process of its own
    (:mod:`osed.sim.baseline_process`) while the managed run plays here: the managed run keeps
    about one core busy with its agents and EDCs, the baseline takes the other. The runs share
    nothing, so the tables are the same either way."""
    if not parallel:
        baseline = play_run(study, "baseline", progress)
        managed, facts = _play(study, "managed", progress, study.steps)
    else:
        child = BaselineProcess(study)
        try:

            def report(done: int, total: int) -> None:
                if progress is not None:
                    progress(done + child.steps_done, total)

            managed, facts = _play(study, "managed", report, 0)
            baseline = child.result()
        finally:
            child.stop()
        if progress is not None:
            progress(2 * study.steps, 2 * study.steps)
    return StudyResult(
        study=study.name,
        seed=study.seed,
        baseline=baseline,
        managed=managed,
        kpis=kpis.kpis(study, baseline, managed, facts),
    )


def play_run(study: Study, run: RunName, progress: Progress | None = None) -> RunResult:
    """One run of ``study`` on its own (``progress`` counts its steps from 0)."""
    return _play(study, run, progress, 0)[0]


def _play(
    study: Study, run: RunName, progress: Progress | None, done: int
) -> tuple[RunResult, kpis.RunFacts]:
    """The run on an event loop of its own: on a thread of its own when the caller's thread
    runs one already (a notebook, an async service)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_Run(study, run, progress, done).play())
    with ThreadPoolExecutor(1, thread_name_prefix="osed-study") as thread:
        return thread.submit(lambda: asyncio.run(_Run(study, run, progress, done).play())).result()


class _Run:
    def __init__(self, study: Study, run: RunName, progress: Progress | None, done: int) -> None:
        self.study = study
        self.run = run
        self.managed = run == "managed"
        self.progress = progress
        self.done = done
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.step_delta = timedelta(hours=study.step_h)
        self.clock = ManualClock(study.start)
        rng = np.random.default_rng(np.random.SeedSequence([study.seed, 1]))
        self.grid = GridSim(
            study.network,
            [h.bus for h in study.households],
            voltage_sigma_pu=study.voltage_sigma_pu,
            power_sigma_kw=study.power_sigma_kw,
            rng=rng,
        )
        self.areas = AreaMap(study.network)
        self.record = Recorder(
            run, [h.id for h in study.households], self.grid.node_ids, self.grid.distance_km
        )
        self.dac_prices = np.full(study.steps, np.nan)
        self.market_price = np.full(study.steps, np.nan)
        self.market_volume = np.zeros(study.steps)
        self.positions_kwh = np.zeros((study.steps, len(study.households)))
        self.paid = np.zeros((study.steps, len(study.households)))
        self.facts = kpis.RunFacts()
        self.forecast: GridForecast | None = None
        self.replaced: dict[tuple[str, str], dict[str, Any]] = {}
        """(EDC, function) -> the parameters of the area's function an event replaced."""

    async def play(self) -> tuple[RunResult, kpis.RunFacts]:
        study = self.study
        with tempfile.TemporaryDirectory(prefix="osed-study-") as folder:
            bus = SettlingBus(CountingBroker())
            await bus.start()
            edge: Edge | None = None
            market: SimMarket | None = None
            if self.managed:
                edge = await open_edge(study, bus, self.clock, Path(folder))
                if study.forecast_h > 0:
                    with self._timed("intelligence"):
                        steps = max(1, round(study.forecast_h / study.step_h))
                        self.forecast = await GridForecast.of(study, steps)
                if study.market is not None:
                    market = SimMarket(
                        study.market.mechanism,
                        [h.id for h in study.households],
                        Path(folder) / "ledger.sqlite",
                        slot=self.step_delta * study.market.interval_steps,
                    )
            homes = Homes(
                study,
                bus,
                self.clock,
                {h: c for h, c in edge.channels.items() if c} if edge is not None else {},
                on_demand=study.edcs == "intelligence",
            )
            try:
                await homes.start()
                if edge is not None:
                    with self._timed("functions"):
                        for edc_id, name, detail in await assign_study_functions(study, edge):
                            what = f"{name} {detail}".strip()
                            self.record.activity(self.clock.now(), "assigned", edc_id, what)
                        for edc in edge.manager.edcs():
                            self.record.activity(self.clock.now(), "edc_created", edc.edc_id, "")
                        await bus.settle()  # a DAC game plays out before the day begins
                    self._dac_outcome(edge)
                for k in range(study.steps):
                    await self._step(k, bus, homes, edge, market)
                    if self.progress is not None:
                        self.progress(self.done + k + 1, 2 * study.steps)
                ev_unserved_kwh = homes.ev_unserved_kwh()
                self.facts.agents_started = homes.started_agents
                if market is not None:
                    self.facts.ledger_verified = market.verified()
                    self.facts.market_imbalance_kwh = market.imbalance_kwh()
                    self.facts.market_transactions = market.transactions
                if edge is not None:
                    self.facts.edcs_created = sum(
                        d["action"] == "create" for d in edge.intelligence.decisions
                    )
                    self.facts.edcs_destroyed = sum(
                        d["action"] == "destroy" for d in edge.intelligence.decisions
                    )
            finally:
                await homes.stop()
                if edge is not None:
                    await edge.stop()
                if market is not None:
                    market.close()
                await bus.stop()
        tables = self.record.tables()
        result = RunResult(self.run, tables, dict(self.seconds), ev_unserved_kwh)
        result.seconds |= {
            "power_flow": self.grid.seconds["power_flow"],
            "estimation": self.grid.seconds["estimation"],
        }
        return result, self.facts

    async def _step(
        self,
        k: int,
        bus: SettlingBus,
        homes: Homes,
        edge: Edge | None,
        market: SimMarket | None,
    ) -> None:
        study = self.study
        now = self.clock.now()
        with self._timed("functions"):
            for event in study.events:
                if event.start_step == k:
                    await self._begin(event, homes, edge)
                elif event.end_step == k:
                    await self._end(event, homes, edge)
        if market is not None and study.market is not None:
            with self._timed("market"):
                m = study.market.interval_steps
                if k % m == 0:
                    await self._trade_interval(k, m, market, homes, now)
        if edge is not None:
            with self._timed("functions"):
                await edge.tick()
                await bus.settle()
        with self._timed("agents"):
            await homes.cycle()
            await bus.settle()
        rows = homes.record(k)
        grid = self.grid.step(rows[:, 0])
        ahead = None if self.forecast is None else self.forecast.ahead(k)
        if edge is not None and (grid.observed is not None or ahead is not None):
            with self._timed("intelligence"):
                if ahead is not None:
                    await edge.forecast(now, ahead)
                if grid.observed is not None:
                    await edge.observe(now, grid.observed)
                await bus.settle()
                for decision in edge.new_decisions():
                    self.record.activity(
                        now,
                        f"intelligence_{decision['action']}",
                        str(decision.get("edc") or ""),
                        str(decision.get("reason", "")),
                    )
                    if study.edcs == "intelligence":
                        await self._follow(decision, k + 1, homes, edge)
                await bus.settle()
        self.record.step(
            now,
            grid,
            rows,
            self._cost(k, rows[:, 0]),
            (
                float(study.tariff_per_kwh[k]),
                float(self.dac_prices[k]),
                float(self.market_price[k]),
                float(self.market_volume[k]),
            ),
        )
        with self._timed("devices"):
            await homes.advance()
            await bus.settle()
        self.clock.advance(self.step_delta)

    async def _follow(self, decision: dict[str, Any], step: int, homes: Homes, edge: Edge) -> None:
        """The households below an EDC the intelligence created (or gave functions) enrol in
        it and their agents join from the next step, in the functions a building agent takes
        part in (volt-var acts on its own); those of an EDC it destroyed leave."""
        edc_id = str(decision.get("edc") or "")
        if not edc_id:
            return
        functions = [f for f in decision.get("functions", ()) if f in AGENT_FUNCTIONS]
        if decision["action"] in ("create", "keep") and functions:
            joined = await edge.enrol_below(self.study, edc_id, functions)
            for index, function, channel in joined:
                await homes.join(index, function, channel, step)
            households = len({index for index, _, _ in joined})
            what = f"{households} households joined {', '.join(functions)}"
            self.record.activity(self.clock.now(), "enrolled", edc_id, what)
        elif decision["action"] == "destroy":
            gone = edge.forget(edc_id)
            for index in gone:
                await homes.leave(index, edc_id)
            if gone:
                self.record.activity(self.clock.now(), "left", edc_id, f"{len(gone)} households")

    async def _trade_interval(
        self, k: int, m: int, market: SimMarket, homes: Homes, now: datetime
    ) -> None:
        study = self.study
        clearing = await market.trade(
            now,
            homes.net_kw(),
            float(study.tariff_per_kwh[k]),
            float(study.feed_in_per_kwh[k]),
            homes.with_agent,
            capacity_kw=max(1.0, 10.0 * len(study.households)),
        )
        span = slice(k, min(k + m, study.steps))
        self.market_price[span] = clearing.price_per_kwh
        self.market_volume[span] = clearing.volume_kwh / m
        self.positions_kwh[span] = clearing.positions_kwh / m
        self.paid[span] = clearing.paid / m

    def _cost(self, k: int, net_kw: Array) -> Array:
        """What each household pays for step k: what its market trades for the interval cost
        (spread evenly over the interval's steps), the rest at the tariff (imports) or the
        feed-in price (exports)."""
        energy = net_kw * self.study.step_h
        traded = self.paid[k]
        rest = energy - self.positions_kwh[k]
        tariff = float(self.study.tariff_per_kwh[k])
        feed_in = float(self.study.feed_in_per_kwh[k])
        cost: Array = traded + np.where(rest > 0, rest * tariff, rest * feed_in)
        return cost

    async def _begin(self, event: Event, homes: Homes, edge: Edge | None) -> None:
        now = self.clock.now()
        where = event.element or "network"
        if event.kind == "outage":
            await homes.supply(
                households_below(self.study, self.areas, event.element), on=False, at=now
            )
            self.record.activity(now, "outage", "", f"supply cut below {where}")
            return
        if edge is None:
            return
        function = EVENT_FUNCTIONS[event.kind]
        for edc in event_edcs(self.study, edge, event):
            if function in edc.function_names():
                # The area's standing function (say its rating's limit) gives way to the
                # event's and comes back when the event ends.
                standing = edc.function_status(function)["parameters"]
                self.replaced[(edc.edc_id, function)] = dict(standing)
                await edc.remove_function(function)
            await edc.assign(function, event_parameters(self.study, event))
            self.record.activity(now, event.kind, edc.edc_id, f"{function} at {where}")

    async def _end(self, event: Event, homes: Homes, edge: Edge | None) -> None:
        now = self.clock.now()
        where = event.element or "network"
        if event.kind == "outage":
            await homes.supply(
                households_below(self.study, self.areas, event.element), on=True, at=now
            )
            self.record.activity(now, "restored", "", f"supply back below {where}")
            return
        if edge is None:
            return
        function = EVENT_FUNCTIONS[event.kind]
        for edc in event_edcs(self.study, edge, event):
            if function not in edc.function_names():
                continue
            if event.kind == "xor_request":
                self._xor_outcome(edc.edc_id, edc.function_status(function))
            await edc.remove_function(function)
            self.record.activity(now, f"{event.kind}_end", edc.edc_id, f"{function} at {where}")
            standing = self.replaced.pop((edc.edc_id, function), None)
            if standing is not None:
                await edc.assign(function, standing)
                self.record.activity(now, "function_restored", edc.edc_id, function)

    def _dac_outcome(self, edge: Edge) -> None:
        prices = []
        for edc in edge.manager.edcs():
            if "dac" not in edc.function_names():
                continue
            status = edc.function_status("dac")["status"]
            peaks = status.get("peak_history_kw") or []
            detail = (
                f"{status.get('state')} after {status.get('iteration')} rounds; "
                f"peak {peaks[0]:.2f} -> {peaks[-1]:.2f} kW"
                if peaks
                else str(status.get("state"))
            )
            self.record.activity(self.clock.now(), "dac", edc.edc_id, detail)
            self.facts.dac_iterations += int(status.get("iteration", 0))
            if status.get("prices_per_kwh"):
                prices.append(np.asarray(status["prices_per_kwh"], dtype=np.float64))
        if prices:
            self.dac_prices = np.mean(prices, axis=0)[: self.study.steps]

    def _xor_outcome(self, edc_id: str, status: dict[str, Any]) -> None:
        for winner in status.get("status", {}).get("winners", []):
            self.record.activity(
                self.clock.now(),
                "xor_award",
                edc_id,
                f"{winner['building']}: {winner['quantity_kw']:.3f} kW at {winner['price']:.4f}",
            )

    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - started
