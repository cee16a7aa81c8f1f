"""One building agent: MPC on a receding horizon, the real-time rule every control cycle,
setpoints through the device gateway, and the grid functions through the EDC channels.

A control cycle (:meth:`BuildingAgent.cycle`) re-plans when a plan is due (every
``replan_every`` cycles, or at once when a grid function changed what it asks), takes the
plan's powers for the current step, lets the real-time rule bring them within the devices'
limits, comfort and the import limit from the measured state, sends what changed, and reports
consumption and flexibility on every channel the building takes part in.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from osed.buildings.devices_schema import Array, Building
from osed.buildings.mpc import GridRequests, Plan, Planner
from osed.buildings.realtime import ORDER, Control, Reading, control, ev_needs_kw, power_range
from osed.domain.devices import (
    Action,
    Command,
    CommandResult,
    DeviceInfo,
    Measurement,
    Outcome,
)
from osed.domain.envelope import Envelope
from osed.domain.time import Clock, SystemClock
from osed.edge.building import offers
from osed.edge.building.actuation import Order, orders
from osed.edge.building.dac_response import DacResponder
from osed.edge.building.horizon import from_step
from osed.edge.building.interpreter import Answer, Interpreter
from osed.edge.building.learning import Learner, LearningSettings, with_forecast
from osed.edge.building.reading import Measured, meters
from osed.edge.building.requests import ActiveRequests, ComfortOffset, Commitment
from osed.edge.building.solvers import SolverPool, shared_pool
from osed.edge.names import inbound_topic, outbound_topic
from osed.edge.wire import REPORT
from osed.ports.bus import Bus, Subscription
from osed.ports.devices import DeviceGateway

log = logging.getLogger(__name__)
_BOUND_TOLERANCE_KW = 1e-6
_PENALTY_TOLERANCE = 1e-6
_RAISE_TOLERANCE_KW = 0.05
"""How close to the least the DAC schedule is raised when it cannot be kept."""


@dataclass(frozen=True, slots=True)
class Channel:
    """A grid function the building is enrolled in: the EDC running it and the token."""

    edc_id: str
    token: str


@dataclass(frozen=True, slots=True)
class AgentSettings:
    steps: int
    """The MPC horizon, and the length of a day's series."""
    step_h: float
    """Hours per plan step; also the control cycle."""
    tariff_per_kwh: Array
    replan_every: int = 4
    """Control cycles between two MPC runs (a grid function's change re-plans at once)."""
    deadband_kw: float = 0.01
    """A power setpoint closer than this to the last one applied is not sent again."""
    deadband_c: float = 0.1
    """Likewise for a thermostat's setpoint (°C)."""
    owner_limit_kw: float = math.inf
    """The building's own import limit (its connection)."""
    dac_margin_kw: float = 0.5
    """How far above its schedule in the last DAC game a plan may take the net import."""
    command_timeout_s: float = 5.0
    learning: LearningSettings = field(default_factory=LearningSettings)
    """What the agent learns from its measurements (base load forecast, zones' C and R)."""
    plan_time_limit_s: float | None = 2.0
    """The most a plan may spend deciding a battery's charge/discharge modes (a MILP, needed
    only under negative prices or an export limit); the best schedule by then is followed.
    None solves it to optimality: a simulation does, so that its outputs do not depend on
    the machine's speed."""
    cycle_s: float | None = None
    """Wall seconds between control cycles (None: ``step_h`` hours; less for a simulation
    that runs faster than time)."""


@dataclass
class CycleReport:
    step: int
    replanned: bool
    control: Control
    results: list[CommandResult] = field(default_factory=list)


class BuildingAgent:
    def __init__(
        self,
        building: Building,
        gateway: DeviceGateway,
        bus: Bus,
        channels: Mapping[str, Channel],
        settings: AgentSettings,
        *,
        clock: Clock | None = None,
        solvers: SolverPool | None = None,
        step: int = 0,
    ) -> None:
        """``solvers``: the threads the agent's models are solved on (the process' shared
        pool unless given); ``step``: the step of the building's series its first control
        cycle is at (an agent started during the day)."""
        if len(building.base_kw) != settings.steps:
            raise ValueError(f"building {building.id!r}: base_kw needs {settings.steps} values")
        self.building = building
        self.gateway = gateway
        self.bus = bus
        self.channels = dict(channels)
        self.settings = settings
        self.clock = clock or SystemClock()
        self.solvers = solvers or shared_pool()
        self.planner = Planner(
            building,
            settings.steps,
            settings.step_h,
            mode_time_limit_s=settings.plan_time_limit_s,
            soft=True,
        )
        self.learner = Learner(building, settings.step_h, settings.learning)
        self._base_forecast: tuple[int, Array] | None = None
        """(the step it starts at, the learnt base load forecast)."""
        self.requests = ActiveRequests(
            settings.steps,
            owner_limit_kw=settings.owner_limit_kw,
            dac_margin_kw=settings.dac_margin_kw,
        )
        self.measured = Measured(building, frozenset())
        self.interpreter = Interpreter(
            building.id, {f: c.edc_id for f, c in self.channels.items()}, self
        )
        self.step = step
        self.plan: Plan | None = None
        self._plan_step = step
        self._without_plan = False
        """Was the last plan infeasible (logged once until a plan is found again)?"""
        self._short = False
        """Did the last plan leave something short (logged once until one keeps everything)?"""
        self._dac: DacResponder | None = None
        self._applied: dict[tuple[str, str], float] = {}
        """(device, action or "on") -> the last value the device applied (on: 1, off: 0)."""
        self.found: dict[str, DeviceInfo] = {}
        """What the gateway's discovery found, by device id."""
        self._unreachable: set[str] = set()
        self._ids = itertools.count(1)
        self._run_id = ""
        """Set at start from the clock: a restarted agent's command ids are new ids, which a
        gateway that applies each id once must not take for resends of the last run's."""
        self._seq = itertools.count(1)
        self._subscriptions: dict[str, Subscription] = {}
        """Function -> the subscription to its channel's outbound topic."""
        self._started = False
        self._lock = asyncio.Lock()
        """Held around the control cycle and every use of the planner."""
        self._dac_lock = asyncio.Lock()
        self._preparing: asyncio.Task[None] | None = None
        self._game_over = False
        """Has the last DAC game ended? Its model is then built afresh by the next game's
        first round, not prepared for every step in between."""
        self._here_step = -1
        self._here_building = building

    @property
    def plan_step(self) -> int:
        """The step of the building's series the current plan starts at."""
        return self._plan_step

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._run_id = f"{self.clock.now():%Y%m%dT%H%M%S.%f}-"
        self.gateway.on_measurements(self._take)
        await self.gateway.start()
        self.found = {info.device_id: info for info in await self.gateway.discover()}
        found = {device_id: info.kind for device_id, info in self.found.items()}
        self.measured.meter_ids = meters(found)
        for meter in self.measured.meter_ids:  # measured before discovery told what it is
            self.measured.power_kw.pop(meter, None)
        missing = [d.id for d in self.building.devices if d.kind in ORDER and d.id not in found]
        if missing:
            log.warning("building %s: the gateway has no device %s", self.building.id, missing)
        for function, channel in self.channels.items():
            await self._listen(function, channel)
        self._started = True
        if "dac" in self.channels:  # the first game's first round then starts warm
            async with self._dac_lock:
                self._dac = await self.solvers.run(self._prepared_dac, self._here())

    async def stop(self) -> None:
        self._started = False
        for subscription in self._subscriptions.values():
            await subscription.close()
        self._subscriptions.clear()
        if self._preparing is not None:
            self._preparing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._preparing

    async def join(self, function: str, channel: Channel) -> None:
        """Take part in ``function`` through ``channel`` from now on (an EDC created or given a
        function while the agent runs); the EDC hears the building's report at once."""
        if function in self.channels:
            await self.leave(function)
        self.channels[function] = channel
        self.interpreter.functions[function] = channel.edc_id
        if self._started:
            await self._listen(function, channel)
            await self._publish(self.reports([function]))

    async def leave(self, function: str) -> None:
        """Stop taking part in ``function`` (its EDC went, or the building was unenrolled):
        what the function asked of the building no longer holds."""
        subscription = self._subscriptions.pop(function, None)
        if subscription is not None:
            await subscription.close()
        if self.channels.pop(function, None) is None:
            return
        self.interpreter.functions.pop(function, None)
        if function == "capacity-limit":
            self.capacity_bounds(None, None)
        elif function == "dac":
            self.dac_final(None)
        elif function == "xor":
            self.xor_cancel()
        elif function == "dlc":
            self.dlc_restore()

    async def _listen(self, function: str, channel: Channel) -> None:
        topic = outbound_topic(channel.edc_id, function, self.building.id)
        self._subscriptions[function] = await self.bus.subscribe(topic, self._inbound)

    async def _take(self, batch: Sequence[Measurement]) -> None:
        self.measured.take(batch)
        if any(m.device_id in self.measured.meter_ids for m in batch):
            await self._report()  # a new meter reading: the EDCs hear it at once

    async def _inbound(self, envelope: Envelope) -> None:
        answers = await self.interpreter.interpret(envelope.topic, envelope.payload)
        await self._publish(answers)

    # ------------------------------------------------------------------ the control cycle

    async def cycle(self) -> CycleReport:
        """One control cycle at the current step; the caller (or :meth:`run`) advances time."""
        async with self._lock:
            reading = self.measured.reading()
            await self._learn(reading)
            replanned = await self._replan_if_due()
            here = self._here()
            offset = self.step - self._plan_step
            planned = {}
            if self.plan is not None and self.plan.usable:
                at = min(offset, self.settings.steps - 1)
                planned = {d: float(p[at]) for d, p in self.plan.devices.items()}
            decided = control(
                here,
                0,
                planned,
                reading,
                limit_kw=self.requests.limit_kw(self.step),
                cycle_h=self.settings.step_h,
                comfort_offset_c=self.requests.comfort_offset_c(self.step),
            )
            results = await self._send(decided.setpoints_kw, reading)
            if not self.measured.meter_ids:  # no meter: report once a cycle
                await self._report()
            report = CycleReport(self.step, replanned, decided, results)
            self.step += 1
        idle = self._preparing is None or self._preparing.done()
        if self._dac is not None and not self._game_over and idle:
            self._preparing = asyncio.create_task(self._prepare_dac())
        return report

    async def run(self, stop: asyncio.Event) -> None:
        """Cycles every ``cycle_s`` seconds (``step_h`` hours) until ``stop`` is set."""
        period = self.settings.cycle_s or self.settings.step_h * 3600.0
        while not stop.is_set():
            try:
                await self.cycle()
            except Exception:  # one bad cycle must not end the building's control
                log.exception("building %s: control cycle failed", self.building.id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=period)

    async def _replan_if_due(self) -> bool:
        due = (
            self.plan is None
            or self.requests.changed
            or self.step - self._plan_step >= self.settings.replan_every
        )
        if not due:
            return False
        self.requests.changed.clear()
        self.planner.update(self._here())
        state = self._state()
        following = self.requests.dac_net_kw is not None
        plan = await self._plan(
            self.requests.grid_requests(self.step),
            state,
            diagnose=not following and not self._without_plan,  # named once, when logged
        )
        if following and not plan.kept:
            plan = await self._closest_to_dac(plan, state)
        self._tell_feasibility(plan)
        self.plan = plan
        self._plan_step = self.step
        return True

    async def _plan(
        self, requests: GridRequests, state: Mapping[str, float], *, diagnose: bool = False
    ) -> Plan:
        return await self.solvers.run(
            self.planner.plan, self._tariff(), requests, state=state, diagnose=diagnose
        )

    async def _closest_to_dac(self, followed: Plan, state: Mapping[str, float]) -> Plan:
        """The plan when the DAC schedule cannot be kept (the load came out above its
        forecast, a car is a little behind its schedule): the schedule raised evenly by the
        least that keeps everything else (to ``_RAISE_TOLERANCE_KW``), so that the building
        leaves its share of the game's aggregate by as little as it must at any step. The
        prices alone would put what is left wherever the plateau's level prices are a hair
        lower: a car's whole remaining energy at full power in one step, the same step for
        many cars (the last before their deadline). When the prices alone leave something
        short too, the schedule is not what stands in the way: the plan of the two that
        pays less penalty."""
        unfollowed = await self._plan(
            self.requests.grid_requests(self.step, follow_dac=False),
            state,
            diagnose=not self._without_plan,
        )
        if not unfollowed.kept:
            if not followed.usable or unfollowed.penalty < followed.penalty - _PENALTY_TOLERANCE:
                return unfollowed
            return followed
        # Raised by the most the prices-alone plan goes above it, the schedule lets that plan
        # through: keeping everything is possible there, and is not below a raise of 0.
        ceiling = self.requests.dac_ceiling(self.step)
        inside = np.isfinite(ceiling)
        low = 0.0
        high = float(np.max(unfollowed.net_kw[inside] - ceiling[inside], initial=0.0))
        best = await self._plan(self.requests.grid_requests(self.step, dac_raise_kw=high), state)
        if not best.kept:
            return unfollowed
        while high - low > _RAISE_TOLERANCE_KW:
            middle = (low + high) / 2.0
            plan = await self._plan(
                self.requests.grid_requests(self.step, dac_raise_kw=middle), state
            )
            if plan.kept:
                high, best = middle, plan
            else:
                low = middle
        return best

    def _tell_feasibility(self, plan: Plan) -> None:
        """Logs when the building's plans become infeasible (or leave something short) and
        when they are feasible (keep everything) again, not at every re-plan in between (a
        limit below the must-run load lasts many cycles)."""
        if not plan.usable and not self._without_plan:
            log.warning(
                "building %s: no plan from step %d (%s); the real-time rule holds the limits",
                self.building.id,
                self.step,
                ", ".join(plan.infeasible),
            )
        elif plan.usable and self._without_plan:
            log.info("building %s: a plan again from step %d", self.building.id, self.step)
        short = plan.usable and not plan.kept
        if short and not self._short:
            log.info(
                "building %s: the plan from step %d leaves short: %s",
                self.building.id,
                self.step,
                ", ".join(f"{name} {value:.3g}" for name, value in plan.shortfall.items()),
            )
        elif plan.kept and self._short:
            log.info(
                "building %s: the plan keeps everything from step %d", self.building.id, self.step
            )
        self._without_plan = not plan.usable
        self._short = short

    async def _send(self, setpoints: Mapping[str, float], reading: Reading) -> list[CommandResult]:
        """The commands that give each device its power, in the form it accepts; what the
        device already applied (within the deadband) is not sent again."""
        devices = {d.id: d for d in self.building.devices}
        wanted: list[Order] = []
        for device_id, power in setpoints.items():
            info = self.found.get(device_id)
            if info is None:
                continue  # not found by discovery: warned at start
            made = orders(
                devices[device_id],
                info,
                power,
                indoor_c=reading.state.get(device_id),
                cycle_h=self.settings.step_h,
            )
            if not made and device_id not in self._unreachable:
                self._unreachable.add(device_id)
                log.warning(
                    "building %s: %s takes no command that sets its power (it takes: %s)",
                    self.building.id,
                    device_id,
                    ", ".join(sorted(info.actions)) or "none",
                )
            wanted += made
        now = self.clock.now()
        commands = [
            Command(
                f"{self.building.id}-{self._run_id}{next(self._ids)}",
                order.device_id,
                order.action,
                None if order.value is None else _rounded(order, self.found[order.device_id]),
                now,
            )
            for order in wanted
            if self._differs(order)
        ]
        timeout = self.settings.command_timeout_s
        results = await asyncio.gather(*(self.gateway.send(c, timeout_s=timeout) for c in commands))
        for command, result in zip(commands, results, strict=True):
            if result.outcome is Outcome.APPLIED:
                key, value = _applied_as(command.device_id, command.action, command.value)
                self._applied[key] = value
            elif result.outcome is Outcome.REJECTED:
                log.warning(
                    "building %s: %s refused %s %s: %s",
                    self.building.id,
                    command.device_id,
                    command.action,
                    "" if command.value is None else command.value,
                    result.detail,
                )
        return list(results)

    def _differs(self, order: Order) -> bool:
        """Is ``order`` more than the deadband away from what the device applied last?"""
        key, value = _applied_as(order.device_id, order.action, order.value)
        last = self._applied.get(key)
        if last is None:
            return True
        if order.action is Action.SET_SETPOINT_C:
            return abs(value - last) > self.settings.deadband_c
        if order.action in (Action.TURN_ON, Action.TURN_OFF):
            return value != last
        return abs(value - last) > self.settings.deadband_kw

    # ------------------------------------------------------------------ reports

    def flexibility_kw(self) -> tuple[float, float]:
        """The net import the building can reach in the next cycle: [lowest, highest]. The
        lowest keeps what an EV must take to still be filled by its departure: a capacity
        limit shared by these ranges then leaves a car the time it has not got to spare."""
        reading = self.measured.reading()
        here = self._here()
        low = high = reading.net_kw
        for device in here.devices:
            if device.kind not in ORDER:
                continue
            now = reading.device_kw.get(device.id, 0.0)
            allowed = power_range(device, 0, reading.state, self.settings.step_h)
            floor = allowed.low_kw
            if device.kind == "ev":
                needs = ev_needs_kw(device, 0, reading.state, self.settings.step_h)
                floor = max(floor, min(needs, allowed.high_kw))
            low += floor - now
            high += allowed.high_kw - now
        return float(low), float(high)

    def reports(self, functions: Sequence[str] | None = None) -> list[Answer]:
        """The building's consumption and flexibility, on each channel in the form its
        function reads: ``report`` on every channel, ``flexibility`` for the capacity limit
        (its range, so that the limit is shared by flexibility), ``consumption`` for DLC."""
        net = self.measured.reading().net_kw
        low, high = self.flexibility_kw()
        body = {
            "demand_kw": max(net, 0.0),
            "production_kw": max(-net, 0.0),
            "flexibility_up_kw": max(high - net, 0.0),
            "flexibility_down_kw": max(net - low, 0.0),
        }
        answers = []
        for function, channel in self.channels.items():
            if functions is not None and function not in functions:
                continue
            answers.append(Answer(channel.edc_id, function, REPORT, body))
            if function == "capacity-limit":
                range_kw = {"min_kw": low, "max_kw": high}
                answers.append(Answer(channel.edc_id, function, "flexibility", range_kw))
            elif function == "dlc":
                answers.append(
                    Answer(channel.edc_id, function, "consumption", {"kw": max(net, 0.0)})
                )
        return answers

    async def _report(self) -> None:
        await self._publish(self.reports())

    async def _publish(self, answers: Sequence[Answer]) -> None:
        if not answers:
            return
        now = self.clock.now()
        envelopes = []
        for answer in answers:
            channel = self.channels[answer.function]
            message = {
                "building": self.building.id,
                "token": channel.token,
                "type": answer.message_type,
                "body": answer.body,
            }
            payload = _json(message)
            topic = inbound_topic(answer.edc_id, answer.function)
            source = f"building:{self.building.id}"
            envelopes.append(Envelope(topic, source, next(self._seq), payload, now))
        await self.bus.publish_many(envelopes)

    # ------------------------------------------------------------------ the optimisers

    async def dac_schedule(self, prices: Array, correction_kw: Array, rho: float) -> Array | None:
        """Best response to one DAC round; a first round (ρ = 0) starts a game from the
        building's state now."""
        if len(prices) != self.settings.steps:
            return None
        async with self._dac_lock:
            if self._dac is None or rho == 0.0:
                self._game_over = False
                here, state = self._here(), self._state()
                return await self.solvers.run(self._first_round, here, state, prices)
            return await self.solvers.run(self._dac.respond, prices, correction_kw, rho)

    def _prepared_dac(self, here: Building) -> DacResponder:
        """A responder that has solved the tariff once, so that a game starts from a basis."""
        responder = DacResponder(here, self.settings.steps, self.settings.step_h)
        responder.respond(self._tariff(), np.zeros(self.settings.steps), 0.0)
        return responder

    def _first_round(
        self, here: Building, state: Mapping[str, float], prices: Array
    ) -> Array | None:
        if self._dac is None:
            self._dac = DacResponder(here, self.settings.steps, self.settings.step_h)
        self._dac.restart(here, state)
        return self._dac.respond(prices, np.zeros(self.settings.steps), 0.0)

    async def _prepare_dac(self) -> None:
        """The DAC model of the new step, built while the agent is idle."""
        async with self._dac_lock:
            if self._dac is not None:
                await self.solvers.run(self._dac.prepare, self._here())

    def _here(self) -> Building:
        """The building as the plan from the current step sees it, with the learnt base load
        (one object per step, so that the planner and the DAC model know a step they have
        already built)."""
        if self._here_step != self.step:
            here = from_step(self.building, self.step)
            self._here_building = with_forecast(here, self._forecast_from_now())
            self._here_step = self.step
        return self._here_building

    def _forecast_from_now(self) -> Array | None:
        if self._base_forecast is None:
            return None
        origin, values = self._base_forecast
        ahead = values[self.step - origin :][: self.settings.steps]
        return np.concatenate([ahead, np.full(self.settings.steps - ahead.size, np.nan)])

    async def _learn(self, reading: Reading) -> None:
        """One cycle's sample; once a day, the zones' C and R refitted."""
        self.learner.record(self.clock.now(), reading, self.measured.outdoor_c)
        forecast = None
        if self.learner.forecasts():  # a regression to fit: on a solver thread
            # One step more than the horizon: the next step's model is built before its cycle.
            forecast = await self.solvers.run(self.learner.base_forecast, self.settings.steps + 1)
        self._base_forecast = None if forecast is None else (self.step, forecast)
        if self.learner.thermal_due():
            self.building = await self.solvers.run(self.learner.refit, self.building)
            self._here_step = -1  # the next plan sees the new parameters

    def dac_final(self, prices: Array | None) -> None:
        """The game's last prices (None: cancelled) and the building's last schedule in it."""
        self._game_over = True
        self.requests.prices_per_kwh = None if prices is None else prices.copy()
        self.requests.prices_from = self.step
        last = None if self._dac is None or prices is None else self._dac.last
        self.requests.dac_net_kw = None if last is None else last.copy()
        self.requests.changed.append("dac")

    async def xor_bids(self, prices: Sequence[float], duration_h: float) -> list[float]:
        """The reduction offered at each XOR price, found by re-planning with it."""
        async with self._lock:
            self.planner.update(self._here())
            low, _ = self.flexibility_kw()
            now = self.measured.reading().net_kw
            return await self.solvers.run(
                offers.xor_bids,
                self.planner,
                self._tariff(),
                self.requests.grid_requests(self.step),
                self._state(),
                prices=prices,
                steps=self._steps_for(duration_h),
                baseline_kw=now,
                largest_kw=now - low,
            )

    def xor_award(self, quantity_kw: float, duration_h: float) -> None:
        """Deliver ``quantity_kw`` below the consumption now (the EDC's baseline) from now."""
        baseline = self.measured.reading().net_kw
        end = self.step + self._steps_for(duration_h)
        self.requests.commitment = Commitment(quantity_kw, baseline, self.step, end)
        self.requests.changed.append("xor")

    def xor_cancel(self) -> None:
        self.requests.commitment = None
        self.requests.changed.append("xor")

    async def dlc_available_kw(self, offset_c: float, duration_h: float) -> float:
        async with self._lock:
            self.planner.update(self._here())
            return await self.solvers.run(
                offers.dlc_available_kw,
                self.planner,
                self._tariff(),
                self.requests.grid_requests(self.step),
                self._state(),
                zones=self._zones(),
                offset_c=offset_c,
                steps=self._steps_for(duration_h),
            )

    def dlc_offset(self, offset_c: float, duration_h: float) -> None:
        end = self.step + self._steps_for(duration_h)
        self.requests.offset = ComfortOffset(offset_c, tuple(self._zones()), end)
        self.requests.changed.append("dlc")

    def dlc_restore(self) -> None:
        self.requests.offset = None
        self.requests.changed.append("dlc")

    def hours_until(self, moment: datetime) -> float:
        return (moment - self.clock.now()).total_seconds() / 3600.0

    # ------------------------------------------------------------------ helpers

    def _tariff(self) -> Array:
        return np.roll(self.settings.tariff_per_kwh, -(self.step % self.settings.steps))

    def _state(self) -> dict[str, float]:
        known = {d.id for d in self.building.devices}
        return {k: v for k, v in self.measured.reading().state.items() if k in known}

    def _zones(self) -> list[str]:
        return [d.id for d in self.building.devices if d.kind == "heating"]

    def _steps_for(self, hours: float) -> int:
        """Plan steps covering ``hours`` from now (at least one, at most the horizon)."""
        steps = math.ceil(hours / self.settings.step_h - 1e-9)
        return min(max(steps, 1), self.settings.steps)

    def capacity_bounds(
        self, max_kw: float | None, min_kw: float | None, *, until_h: float | None = None
    ) -> None:
        """Bounds on the net power from now; ``until_h``: the hours left of the limit's
        interval (None: a limit without an end, whose bounds are shared anew every cycle).

        The bounds move every cycle: a new plan is due only when the plan breaks them, or when
        a bound that held the plan back gave way (a car that just arrived gets its share)."""
        before = self._plan_bounds()
        self.requests.import_limit_kw = math.inf if max_kw is None else max_kw
        self.requests.export_limit_kw = math.inf if min_kw is None else max(-min_kw, 0.0)
        self.requests.limits_end = None if until_h is None else self.step + self._steps_for(until_h)
        if self._bounds_call_for_a_plan(before, self._plan_bounds()):
            self.requests.changed.append("capacity-limit")

    def _plan_bounds(self) -> tuple[Array, Array]:
        """(lower, upper) on the net over the horizon from now, as the plan must hold them."""
        requests = self.requests.grid_requests(self.step)
        assert requests.import_limit_kw is not None
        assert requests.export_limit_kw is not None
        return -requests.export_limit_kw, requests.import_limit_kw

    def _bounds_call_for_a_plan(
        self, before: tuple[Array, Array], after: tuple[Array, Array]
    ) -> bool:
        plan = self.plan
        if plan is None or not plan.usable:
            return True
        ahead = plan.net_kw[self.step - self._plan_step :]
        n, tolerance = ahead.size, self.settings.deadband_kw
        (low_was, high_was), (low, high) = ((b[0][:n], b[1][:n]) for b in (before, after))
        breaks = (ahead > high + _BOUND_TOLERANCE_KW) | (ahead < low - _BOUND_TOLERANCE_KW)
        held = ((ahead >= high_was - tolerance) & (high > high_was + tolerance)) | (
            (ahead <= low_was + tolerance) & (low < low_was - tolerance)
        )
        return bool((breaks | held).any())


def _rounded(order: Order, info: DeviceInfo) -> float:
    """The order's value to 6 decimals, kept within the device's range (rounding must not
    carry a value at a bound past it)."""
    assert order.value is not None
    value = round(order.value, 6)
    limits = info.ranges.get(order.action)
    if limits is not None:
        value = min(max(value, limits.minimum), limits.maximum)
    return value


def _applied_as(
    device_id: str, action: Action, value: float | None
) -> tuple[tuple[str, str], float]:
    """The key and value under which a command is remembered once applied: on and off share
    one key (on: 1, off: 0)."""
    if action is Action.TURN_ON:
        return (device_id, "on"), 1.0
    if action is Action.TURN_OFF:
        return (device_id, "on"), 0.0
    assert value is not None
    return (device_id, action.value), float(value)


def _json(message: Mapping[str, object]) -> bytes:
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
