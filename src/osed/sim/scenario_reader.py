"""Reading a scenario document: every field checked, every problem named with its JSON path,
the network loaded (events name its elements). The result is a :class:`Scenario`, from which
:func:`osed.sim.scenario.materialise` draws a study."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from osed.domain.errors import ConfigurationError, ValidationError
from osed.edge.intelligence_rules import Rules
from osed.grid.network import BRANCHES, Network
from osed.gridfunctions.builtin._document_fields import FieldReader
from osed.gridfunctions.registry import function_names, load_function
from osed.markets.registry import available_markets
from osed.sim.distributions import Distribution, read_distribution
from osed.sim.households import DEFAULT_AWAY_SHARE, DEFAULT_SHARES, DEVICE_KINDS, PARAMETERS
from osed.sim.mv_feeder import default_mv_feeders, generate_network
from osed.sim.study import EdcMode, Event, FunctionSpec, MarketSpec
from osed.sim.weather import WeatherSpec

SUBJECT = "scenario"
TOP = (
    "name",
    "seed",
    "start",
    "horizon_h",
    "resolution_min",
    "timezone",
    "network",
    "households",
    "weather",
    "tariffs",
    "market",
    "functions",
    "rules",
    "events",
    "measurement",
    "edge",
)
EDC_MODES = ("areas", "intelligence")
MAX_AREAS = 1000
MAX_STEPS = 10_000
NETWORK_RNG_KEY = 1


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    seed: int
    start: datetime
    steps: int
    step_h: float
    timezone: str
    network: Network
    household_buses: tuple[str, ...]
    """The bus of each household, in household order (their count)."""
    shares: Mapping[str, float]
    away_share: float
    parameters: Mapping[str, Mapping[str, Distribution]]
    """kind → parameter → distribution (``PARAMETERS`` with the scenario's choices)."""
    weather: WeatherSpec
    time_of_use: tuple[float, ...]
    """24 prices per kWh, by local hour."""
    feed_in_per_kwh: float
    market: MarketSpec | None
    functions: tuple[FunctionSpec, ...]
    rules: Rules
    events: tuple[Event, ...]
    measurement: Mapping[str, float] = field(default_factory=dict)
    edcs: EdcMode = "areas"
    """Where EDCs run: one per area from the start, or where the grid intelligence decides."""
    forecast_h: float = 0.0
    """How far ahead the grid intelligence sees the day-ahead grid forecast (0: not at all)."""


def read_scenario(document: Any, *, base: Path | None = None) -> Scenario:
    """The scenario in ``document`` (a parsed YAML/JSON object); :class:`ValidationError`
    names every problem first. Relative network file paths are taken from ``base`` (default:
    the working folder)."""
    r = FieldReader(SUBJECT)
    root = r.root(document)
    r.unknown_keys(root, "$", TOP)
    name = r.string(root, "name", "$")
    seed = r.integer(root, "seed", "$", minimum=0, maximum=2**63 - 1)
    start = _start(r, root)
    horizon_h = r.number(root, "horizon_h", "$", above=0.0, default=24.0)
    resolution = r.number(root, "resolution_min", "$", minimum=1.0, maximum=60.0, default=15.0)
    steps, step_h = 0, resolution / 60.0
    if math.isfinite(horizon_h) and math.isfinite(resolution) and resolution >= 1:
        count = horizon_h * 60.0 / resolution
        if abs(count - round(count)) > 1e-9:
            r.problems.add("$.horizon_h", "not_aligned", "not a whole number of steps")
        elif not 1 <= round(count) <= MAX_STEPS:
            r.problems.add("$.horizon_h", "out_of_range", f"1 to {MAX_STEPS} steps")
        else:
            steps = round(count)
    timezone = _timezone(r, root)
    # A seed out of range is reported; the network is still read, to report its problems too.
    usable_seed = seed if isinstance(seed, int) and 0 <= seed < 2**63 else 0
    network, buses = _network(r, root, usable_seed, base or Path())
    count = _household_count(r, root, buses)
    household_buses = tuple(buses[i % len(buses)] for i in range(count)) if buses else ()
    shares, away, parameters = _households(r, root)
    weather = _weather(r, root, network)
    tou, feed_in = _tariffs(r, root)
    market = _market(r, root, step_h, steps)
    functions = _functions(r, root)
    rules = _rules(r, root)
    events = _events(r, root, start=start, steps=steps, step_h=step_h, network=network)
    measurement = _measurement(r, root)
    edcs, forecast_h = _edge(r, root)
    r.check()
    assert network is not None
    assert start is not None
    return Scenario(
        name=name,
        seed=seed,
        start=start,
        steps=steps,
        step_h=step_h,
        timezone=timezone,
        network=network,
        household_buses=household_buses,
        shares=shares,
        away_share=away,
        parameters=parameters,
        weather=weather,
        time_of_use=tou,
        feed_in_per_kwh=feed_in,
        market=market,
        functions=functions,
        rules=rules,
        events=events,
        measurement=measurement,
        edcs=edcs,
        forecast_h=forecast_h,
    )


def _section(r: FieldReader, root: Mapping[str, Any], key: str, known: tuple[str, ...]) -> Any:
    raw = root.get(key, {})
    if raw is None:
        raw = {}
    section = r.object(raw, f"$.{key}")
    r.unknown_keys(section, f"$.{key}", known)
    return section


def _instant(raw: Any) -> datetime | None:
    """A UTC instant from a YAML timestamp, a date (midnight UTC) or an ISO 8601 string."""
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, date):
        moment = datetime(raw.year, raw.month, raw.day, tzinfo=UTC)
    elif isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        if len(raw) == 10:  # a bare date
            moment = moment.replace(tzinfo=UTC)
    else:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC)


def _start(r: FieldReader, root: Mapping[str, Any]) -> datetime | None:
    if "start" not in root:
        r.problems.add("$.start", "missing", "required")
        return None
    moment = _instant(root["start"])
    if moment is None:
        r.problems.add(
            "$.start", "not_a_time", "a date (midnight UTC) or an ISO 8601 time with a time zone"
        )
    return moment


def _timezone(r: FieldReader, root: Mapping[str, Any]) -> str:
    raw = root.get("timezone", "UTC")
    try:
        ZoneInfo(str(raw))
    except (ZoneInfoNotFoundError, ValueError):
        r.problems.add("$.timezone", "unknown_timezone", "an IANA time zone (Europe/Berlin)")
        return "UTC"
    return str(raw)


def _network(
    r: FieldReader, root: Mapping[str, Any], seed: int, base: Path
) -> tuple[Network | None, list[str]]:
    section = r.object(root.get("network"), "$.network") if "network" in root else None
    if section is None:
        r.problems.add("$.network", "missing", "required")
        return None, []
    if len(section) != 1:
        r.problems.add("$.network", "one_kind", "exactly one of generated, pandapower, cgmes")
        return None, []
    ((kind, spec),) = section.items()
    where = f"$.network.{kind}"
    if kind == "generated":
        g = r.object(spec, where)
        before = len(r.problems)
        keys = ("households", "feeders", "households_per_bus", "admd_kva", "areas", "mv_feeders")
        r.unknown_keys(g, where, keys)
        households = r.integer(g, "households", where, minimum=1, maximum=100_000)
        feeders = r.integer(g, "feeders", where, minimum=1, maximum=1000, default=4)
        per_bus = r.integer(g, "households_per_bus", where, minimum=1, maximum=50, default=2)
        admd = r.number(g, "admd_kva", where, above=0.0, maximum=100.0, default=2.0)
        areas = r.integer(g, "areas", where, minimum=1, maximum=MAX_AREAS, default=1)
        mv_feeders = r.integer(g, "mv_feeders", where, minimum=1, maximum=MAX_AREAS, default=0)
        if len(r.problems) == before:
            if areas > households:
                r.problems.add(
                    f"{where}.areas", "too_many", f"{areas} areas for {households} households"
                )
            if "mv_feeders" in g and mv_feeders > areas:
                r.problems.add(
                    f"{where}.mv_feeders",
                    "too_many",
                    f"{mv_feeders} MV feeders for {areas} areas: at most one per area",
                )
        if len(r.problems) != before:
            return None, []
        grid = generate_network(
            households,
            feeders,
            areas=areas,
            mv_feeders=mv_feeders if "mv_feeders" in g else default_mv_feeders(areas),
            households_per_bus=per_bus,
            admd_kva=admd,
            rng=np.random.default_rng([seed, NETWORK_RNG_KEY]),
        )
        return grid.network, list(grid.household_buses)
    if kind not in ("pandapower", "cgmes"):
        r.problems.add(where, "unknown_kind", "one of generated, pandapower, cgmes")
        return None, []
    if not isinstance(spec, str) or not spec:
        r.problems.add(where, "not_a_string", "a constructor name or a file path")
        return None, []
    try:
        network = _imported(kind, spec, base)
    except ValidationError as exc:
        for problem in exc.problems[:20]:
            r.problems.add(where, problem.code, f"{problem.path}: {problem.message}")
        return None, []
    except ConfigurationError as exc:
        r.problems.add(where, "unavailable", str(exc))
        return None, []
    loads = network.table("sym_load")
    buses = sorted({network.external_ids[n] for n in loads["node"]}) if len(loads) else []
    if not buses:
        r.problems.add(where, "no_loads", "the network has no load bus to attach households to")
    return _without_loads(network), buses


def _imported(kind: str, spec: str, base: Path) -> Network:
    """The imported network; a relative file path is taken from ``base`` (the scenario
    file's folder)."""
    if kind == "pandapower":
        from osed.grid.imports.pandapower import PREFIX, load_pandapower  # noqa: PLC0415

        if spec.endswith(".json"):
            return load_pandapower(str(base / spec))
        return load_pandapower(spec if spec.startswith(PREFIX) else f"{PREFIX}{spec}")
    from osed.grid.imports.cgmes import from_cgmes  # noqa: PLC0415 - optional extra

    return from_cgmes([base / spec])


def _without_loads(network: Network) -> Network:
    """The imported network with its own loads out of service: the households take their
    places at the load buses."""
    data = dict(network.data)
    for kind in ("sym_load", "asym_load"):
        if kind in data:
            table = data[kind].copy()
            table["status"] = 0
            data[kind] = table
    return Network(
        name=network.name,
        frequency_hz=network.frequency_hz,
        data=data,
        external_ids=network.external_ids,
        names=network.names,
        node_xy=network.node_xy,
        unsupported=network.unsupported,
        source=network.source,
        metadata=network.metadata,
    )


def _household_count(r: FieldReader, root: Mapping[str, Any], buses: list[str]) -> int:
    section = root.get("households")
    if not isinstance(section, Mapping) or section.get("count") is None:
        return len(buses)
    network = root.get("network")
    generated = isinstance(network, Mapping) and "generated" in network
    count = r.integer(section, "count", "$.households", minimum=1, maximum=100_000)
    if generated and buses and count != len(buses):
        r.problems.add(
            "$.households.count",
            "conflict",
            f"{count} households, but the generated network has {len(buses)}",
        )
    return count


def _households(
    r: FieldReader, root: Mapping[str, Any]
) -> tuple[dict[str, float], float, dict[str, dict[str, Distribution]]]:
    known = ("count", "shares", "away_share", *PARAMETERS)
    section = _section(r, root, "households", known)
    shares = dict(DEFAULT_SHARES)
    raw_shares = r.object(section.get("shares", {}), "$.households.shares")
    r.unknown_keys(raw_shares, "$.households.shares", DEVICE_KINDS)
    for kind in DEVICE_KINDS:
        shares[kind] = r.number(
            raw_shares, kind, "$.households.shares", minimum=0.0, maximum=1.0, default=0.0
        )
    away = r.number(
        section, "away_share", "$.households", minimum=0.0, maximum=1.0, default=DEFAULT_AWAY_SHARE
    )
    parameters: dict[str, dict[str, Distribution]] = {}
    for kind, spec in PARAMETERS.items():
        where = f"$.households.{kind}"
        given = r.object(section.get(kind, {}), where)
        r.unknown_keys(given, where, tuple(spec))
        parameters[kind] = {
            name: (
                read_distribution(given[name], f"{where}.{name}", bounds, r.problems)
                if name in given
                else default
            )
            for name, (default, bounds) in spec.items()
        }
    return shares, away, parameters


def _weather(r: FieldReader, root: Mapping[str, Any], network: Network | None) -> WeatherSpec:
    groups = {
        "pv": ("tilt_deg", "azimuth_deg", "gamma_per_k", "system_losses"),
        "clouds": ("cloudiness", "persistence"),
        "temperature": ("mean_c", "amplitude_c", "peak_hour", "noise_c"),
    }
    top = ("latitude", "longitude", "altitude_m", "linke_turbidity", *groups)
    section = _section(r, root, "weather", top)
    defaults = WeatherSpec(0.0, 0.0)
    place = _network_place(network)
    values: dict[str, float] = {}
    for key, low, high in (("latitude", -90.0, 90.0), ("longitude", -180.0, 180.0)):
        fallback = None if place is None else place[key == "longitude"]
        values[key] = r.number(
            section, key, "$.weather", minimum=low, maximum=high, default=fallback
        )
    values["altitude_m"] = r.number(
        section, "altitude_m", "$.weather", minimum=-500.0, maximum=9000.0, default=0.0
    )
    values["linke_turbidity"] = r.number(
        section, "linke_turbidity", "$.weather", minimum=1.0, maximum=10.0, default=3.0
    )
    bounds = {
        "tilt_deg": (0.0, 90.0),
        "azimuth_deg": (0.0, 360.0),
        "gamma_per_k": (-0.02, 0.0),
        "system_losses": (0.0, 0.9),
        "cloudiness": (0.0, 1.0),
        "persistence": (0.0, 1.0),
        "mean_c": (-40.0, 45.0),
        "amplitude_c": (0.0, 25.0),
        "peak_hour": (0.0, 24.0),
        "noise_c": (0.0, 10.0),
    }
    for group, keys in groups.items():
        where = f"$.weather.{group}"
        given = r.object(section.get(group, {}), where)
        r.unknown_keys(given, where, keys)
        for key in keys:
            low, high = bounds[key]
            values[key] = r.number(
                given, key, where, minimum=low, maximum=high, default=getattr(defaults, key)
            )
    return WeatherSpec(**values)


def _network_place(network: Network | None) -> tuple[float, float] | None:
    """The network's mean (latitude, longitude) where its coordinates are geographic: a CGMES
    model's GL positions (longitude, latitude). Other coordinates (diagrams, pandapower's
    plotting data, the generated layout in metres) say nothing about the site."""
    if network is None or network.metadata.get("xy_source") != "GL":
        return None
    xy = network.node_xy[~np.isnan(network.node_xy).any(axis=1)]
    if not len(xy) or np.abs(xy[:, 0]).max() > 180 or np.abs(xy[:, 1]).max() > 90:
        return None
    return float(xy[:, 1].mean()), float(xy[:, 0].mean())


def _tariffs(r: FieldReader, root: Mapping[str, Any]) -> tuple[tuple[float, ...], float]:
    section = _section(r, root, "tariffs", ("time_of_use", "feed_in"))
    if "time_of_use" in section:
        prices = r.series(section, "time_of_use", "$.tariffs", 24, minimum=0.0, maximum=100.0)
    else:
        prices = [0.30] * 24
    feed_in = r.number(section, "feed_in", "$.tariffs", minimum=0.0, maximum=100.0, default=0.08)
    if len(prices) == 1:
        prices = prices * 24
    return tuple(prices), feed_in


def _market(
    r: FieldReader, root: Mapping[str, Any], step_h: float, steps: int
) -> MarketSpec | None:
    raw = root.get("market")
    if raw is None or raw == "none":
        return None
    section = r.object(raw, "$.market")
    r.unknown_keys(section, "$.market", ("mechanism", "interval_min"))
    mechanism = r.string(section, "mechanism", "$.market")
    known = sorted(available_markets())
    if mechanism and mechanism not in known:
        r.problems.add(
            "$.market.mechanism", "unknown_mechanism", f"one of {', '.join(known) or 'none'}"
        )
    interval = r.number(section, "interval_min", "$.market", above=0.0, default=15.0)
    per_step = interval / (step_h * 60.0) if step_h > 0 and math.isfinite(interval) else 0.0
    if interval > 0 and (per_step < 1 or abs(per_step - round(per_step)) > 1e-9):
        r.problems.add(
            "$.market.interval_min", "not_aligned", "a whole number of steps (resolution_min)"
        )
    return MarketSpec(mechanism, max(1, round(per_step)))


def _functions(r: FieldReader, root: Mapping[str, Any]) -> tuple[FunctionSpec, ...]:
    if "functions" not in root:
        return ()
    specs: list[FunctionSpec] = []
    known = function_names()
    names: list[str] = []
    for i, item in enumerate(r.items(root, "functions", "$", min_length=0)):
        where = f"$.functions[{i}]"
        entry = {"name": item} if isinstance(item, str) else r.object(item, where)
        if not entry:
            continue
        r.unknown_keys(entry, where, ("name", "parameters"))
        name = r.string(entry, "name", where)
        names.append(name)
        parameters = r.object(entry.get("parameters", {}), f"{where}.parameters")
        if name and name not in known:
            r.problems.add(f"{where}.name", "unknown_function", f"one of {', '.join(known)}")
        elif name:
            _function_parameters(r, name, parameters, f"{where}.parameters")
        specs.append(FunctionSpec(name, dict(parameters)))
    r.unique_ids(names, "$.functions", "name")
    return tuple(specs)


def _function_parameters(
    r: FieldReader, name: str, parameters: Mapping[str, Any], where: str
) -> None:
    """The function's own check of what the scenario gives; what it leaves out (steps, prices)
    the runner fills, so a missing parameter is not a problem here."""
    try:
        load_function(name).manifest.check_parameters(parameters, path=where)
    except ValidationError as exc:
        r.problems.extend([p for p in exc.problems if p.code != "missing"])


def _rules(r: FieldReader, root: Mapping[str, Any]) -> Rules:
    names = tuple(Rules.__dataclass_fields__)
    section = _section(r, root, "rules", names)
    defaults = Rules()
    values = {
        name: r.number(section, name, "$.rules", default=getattr(defaults, name)) for name in names
    }
    rules = Rules(**values)
    r.problems.extend(rules.problems("$.rules"))
    return rules


EVENT_FIELDS = {
    "capacity_limit": ("limit_kw",),
    "outage": (),
    "xor_request": ("request_kw", "prices"),
}


def _events(
    r: FieldReader,
    root: Mapping[str, Any],
    *,
    start: datetime | None,
    steps: int,
    step_h: float,
    network: Network | None,
) -> tuple[Event, ...]:
    if "events" not in root:
        return ()
    events: list[Event] = []
    for i, item in enumerate(r.items(root, "events", "$", min_length=0)):
        where = f"$.events[{i}]"
        entry = r.object(item, where)
        if not entry:
            continue
        kind = entry.get("kind")
        if kind not in EVENT_FIELDS:
            r.problems.add(f"{where}.kind", "unknown_kind", f"one of {', '.join(EVENT_FIELDS)}")
            continue
        timing = ("start", "end", "start_step", "end_step")
        r.unknown_keys(entry, where, ("kind", "element", *timing, *EVENT_FIELDS[kind]))
        first = _event_step(r, entry, "start", where, start=start, steps=steps, step_h=step_h)
        last = _event_step(r, entry, "end", where, start=start, steps=steps, step_h=step_h)
        if first is not None and last is not None and last <= first:
            end_key = "end_step" if "end_step" in entry else "end"
            r.problems.add(f"{where}.{end_key}", "before_start", "must be after the start")
        element = _element(r, entry, where, network)
        limit = request = None
        prices: tuple[float, ...] = ()
        if kind == "capacity_limit":
            limit = r.number(entry, "limit_kw", where, minimum=0.0)
        elif kind == "xor_request":
            request = r.number(entry, "request_kw", where, above=0.0)
            prices = tuple(r.series(entry, "prices", where, None, minimum=0.0, constant=False))
        events.append(Event(kind, first or 0, last or 0, element, limit, request, prices))
    return tuple(events)


def _event_step(
    r: FieldReader,
    entry: Mapping[str, Any],
    which: str,
    where: str,
    *,
    start: datetime | None,
    steps: int,
    step_h: float,
) -> int | None:
    """The event's start or end step (end exclusive), from a time or a step index."""
    at, step_key = f"{where}.{which}", f"{which}_step"
    if (which in entry) == (step_key in entry):
        r.problems.add(at, "missing", f"give exactly one of {which} (a time) or {step_key}")
        return None
    if step_key in entry:
        before = len(r.problems)
        step = r.integer(entry, step_key, where, minimum=0, maximum=steps or None)
        return step if len(r.problems) == before else None
    moment = _instant(entry[which])
    if moment is None:
        r.problems.add(at, "not_a_time", "an ISO 8601 time with a time zone")
        return None
    if start is None or not steps:
        return None
    offset = (moment - start) / timedelta(hours=step_h)
    if abs(offset - round(offset)) > 1e-9:
        r.problems.add(at, "not_aligned", "not at a step boundary")
        return None
    if not 0 <= round(offset) <= steps:
        r.problems.add(at, "out_of_range", "outside the study's horizon")
        return None
    return round(offset)


def _element(
    r: FieldReader, entry: Mapping[str, Any], where: str, network: Network | None
) -> str | None:
    element = entry.get("element")
    if element is None:
        return None
    if not isinstance(element, str) or not element:
        r.problems.add(f"{where}.element", "not_a_string", "a transformer or line id")
        return None
    if network is not None and (
        not network.has(element) or network.kind(element) not in (*BRANCHES, "node")
    ):
        r.problems.add(
            f"{where}.element", "unknown_element", f"no transformer, line or node {element!r}"
        )
    return element


def _measurement(r: FieldReader, root: Mapping[str, Any]) -> dict[str, float]:
    section = _section(r, root, "measurement", ("voltage_sigma_pu", "power_sigma_kw"))
    return {
        "voltage_sigma_pu": r.number(
            section, "voltage_sigma_pu", "$.measurement", minimum=0.0, maximum=0.1, default=0.002
        ),
        "power_sigma_kw": r.number(
            section, "power_sigma_kw", "$.measurement", minimum=0.0, maximum=100.0, default=0.05
        ),
    }


def _edge(r: FieldReader, root: Mapping[str, Any]) -> tuple[EdcMode, float]:
    section = _section(r, root, "edge", ("edcs", "forecast_h"))
    forecast_h = r.number(section, "forecast_h", "$.edge", minimum=0.0, maximum=48.0, default=0.0)
    mode = section.get("edcs", "areas")
    if mode == "areas":
        return "areas", forecast_h
    if mode == "intelligence":
        return "intelligence", forecast_h
    r.problems.add(
        "$.edge.edcs",
        "unknown_mode",
        "areas (an EDC in every area from the start) or intelligence (EDCs where the grid "
        "intelligence creates them)",
    )
    return "areas", forecast_h
