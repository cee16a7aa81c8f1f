"""The report's figures: each a chart built from the result tables, baseline beside managed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from osed.sim.report_data import (
    epoch_seconds,
    nanmax,
    peak_step,
    rows_at,
    series,
    spread,
)
from osed.sim.results import RunResult, StudyResult
from osed.sim.svg_charts import Band, Chart, Rule, Series, SeriesKind, Values

BASELINE = "#D55E00"
MANAGED = "#0072B2"
LIMIT = "#3A3A3A"
COMFORT = "#009E73"
TIME = "time (UTC)"
VOLTAGE_LIMITS = (0.95, 1.05)


@dataclass(frozen=True, slots=True)
class Figure:
    key: str
    chart: Chart
    caption: str


@dataclass(frozen=True, slots=True)
class Section:
    key: str
    title: str
    figures: tuple[Figure, ...]


def sections(result: StudyResult) -> tuple[Section, ...]:
    return (
        Section("loading", "Area peak and loading", _loading(result)),
        Section("voltage", "Voltages from the state estimation", _voltage(result)),
        Section("market", "Prices and market", _market(result)),
        Section("devices", "Batteries, EVs and comfort", _devices(result)),
        Section("activity", "Grid-function activity", (_activity(result),)),
    )


def _runs(result: StudyResult) -> tuple[tuple[RunResult, str], ...]:
    return ((result.baseline, BASELINE), (result.managed, MANAGED))


def _per_run(
    result: StudyResult, table: str, column: str, kind: SeriesKind = "line"
) -> tuple[Series, ...]:
    lines = []
    for run, color in _runs(result):
        x, y = series(run.tables[table], column)
        lines.append(Series(run.run, x, y, color, kind=kind))
    return tuple(lines)


def _range(
    run: RunResult, color: str, label: str, *, x: Values, low: Values, high: Values
) -> tuple[list[Band], list[Series]]:
    """A spread: shaded for the managed run, dashed bounds for the baseline (two shaded
    spreads on top of each other mix into an unreadable colour)."""
    if run.run == "managed":
        return [Band(label, x, low, high, color)], []
    return [], [
        Series(label, x, low, color, dashed=True, thin=True),
        Series("", x, high, color, dashed=True, thin=True),
    ]


def _loading(result: StudyResult) -> tuple[Figure, ...]:
    peaks = {
        run.run: nanmax(np.asarray(run.tables["grid"]["area_import_kw"], dtype=np.float64))
        for run, _ in _runs(result)
    }
    overload = (Rule("rating (100 %)", 100.0, LIMIT),)
    return (
        Figure(
            "area-import",
            Chart(
                "Area import",
                TIME,
                "area import (kW)",
                _per_run(result, "grid", "area_import_kw"),
                time_axis=True,
                y_min=0.0,
            ),
            f"Power drawn from the upstream grid. Peak: baseline {peaks['baseline']:.1f} kW, "
            f"managed {peaks['managed']:.1f} kW.",
        ),
        Figure(
            "transformer-loading",
            Chart(
                "Transformer loading",
                TIME,
                "loading (%)",
                _per_run(result, "grid", "transformer_loading_pct"),
                rules=overload,
                time_axis=True,
                y_min=0.0,
            ),
            "Loading of the most loaded transformer at each step, against its rating.",
        ),
        Figure(
            "line-loading",
            Chart(
                "Highest line loading",
                TIME,
                "loading (%)",
                _per_run(result, "grid", "max_line_loading_pct"),
                rules=overload,
                time_axis=True,
                y_min=0.0,
            ),
            "The most loaded line at each step (every line's loading is in lines.csv).",
        ),
    )


def _voltage_rules() -> tuple[Rule, ...]:
    low, high = VOLTAGE_LIMITS
    return (Rule(f"limits {low:.2f} / {high:.2f} pu", low, LIMIT), Rule("", high, LIMIT))


def _voltage(result: StudyResult) -> tuple[Figure, ...]:
    bands: list[Band] = []
    lines: list[Series] = []
    for run, color in _runs(result):
        x, low = series(run.tables["grid"], "min_estimated_voltage_pu")
        _, high = series(run.tables["grid"], "max_estimated_voltage_pu")
        band, bounds = _range(run, color, f"{run.run} lowest to highest", x=x, low=low, high=high)
        bands += band
        lines += bounds
    peak = peak_step(result.baseline.tables["grid"], "area_import_kw")
    points = []
    for run, color in _runs(result):
        at_peak = rows_at(run.tables["buses"], peak) if peak is not None else None
        distance = np.asarray(at_peak["distance_km"] if at_peak else [], dtype=np.float64)
        voltage = np.asarray(at_peak["estimated_voltage_pu"] if at_peak else [], np.float64)
        order = np.argsort(distance, kind="stable")
        points.append(
            Series(f"{run.run} estimate", distance[order], voltage[order], color, kind="points")
        )
    when = _clock(peak) if peak is not None else "no peak"
    return (
        Figure(
            "voltage-range",
            Chart(
                "Estimated voltage range over time",
                TIME,
                "voltage (pu)",
                tuple(lines),
                tuple(bands),
                _voltage_rules(),
                time_axis=True,
            ),
            "Lowest and highest node voltage of the state estimate at each step; gaps are steps "
            "without an estimate.",
        ),
        Figure(
            "voltage-profile",
            Chart(
                "Voltage along the feeder at the peak",
                "distance from the source (km)",
                "voltage (pu)",
                tuple(points),
                rules=_voltage_rules(),
            ),
            f"Estimated voltage at every node at the baseline's peak step ({when}); the power "
            "flow's voltage is in buses.csv.",
        ),
    )


def _market(result: StudyResult) -> tuple[Figure, ...]:
    prices = result.managed.tables["prices"]
    price_lines = []
    for column, label, color, dashed in (
        ("tariff_per_kwh", "tariff", LIMIT, True),
        ("dac_price_per_kwh", "DAC price", "#CC79A7", False),
        ("market_price_per_kwh", "market clearing price", COMFORT, False),
    ):
        x, y = series(prices, column)
        price_lines.append(Series(label, x, y, color, kind="step", dashed=dashed))
    volume = float(np.nansum(np.asarray(prices["market_volume_kwh"], dtype=np.float64)))
    return (
        Figure(
            "prices",
            Chart("Prices", TIME, "price (per kWh)", tuple(price_lines), time_axis=True),
            "The tariff and, in the managed run, the DAC game's price and the market's clearing "
            "price per interval.",
        ),
        Figure(
            "market-volume",
            Chart(
                "Market volume",
                TIME,
                "cleared energy (kWh)",
                _per_run(result, "prices", "market_volume_kwh", kind="step"),
                time_axis=True,
                y_min=0.0,
            ),
            f"Energy cleared per market interval; {volume:.1f} kWh in the managed run.",
        ),
    )


def _devices(result: StudyResult) -> tuple[Figure, ...]:
    return (
        _spread_figure(
            result, "battery_soc", "battery-soc", "Battery state of charge", "state of charge (0–1)"
        ),
        _spread_figure(result, "ev_energy_kwh", "ev-energy", "EV energy", "energy in the EV (kWh)"),
        _indoor(result),
    )


def _spread_figure(result: StudyResult, column: str, key: str, title: str, y_label: str) -> Figure:
    bands: list[Band] = []
    lines: list[Series] = []
    counts = []
    for run, color in _runs(result):
        values = spread(run.tables["households"], "household", column)
        lines.append(Series(f"{run.run} mean", values.times, values.mean, color))
        band, bounds = _range(
            run, color, f"{run.run} 10–90 %", x=values.times, low=values.low, high=values.high
        )
        bands += band
        lines += bounds
        counts.append(int(values.count.max()) if values.count.size else 0)
    chart = Chart(title, TIME, y_label, tuple(lines), tuple(bands), time_axis=True, y_min=0.0)
    caption = (
        f"Mean and 10th–90th percentile over the {counts[1]} households that have one "
        "(households without one are left out)."
    )
    return Figure(key, chart, caption)


def _indoor(result: StudyResult) -> Figure:
    households = result.managed.tables["households"]
    low = spread(households, "household", "comfort_min_c")
    high = spread(households, "household", "comfort_max_c")
    bands = [Band("comfort band (mean bounds)", low.times, low.mean, high.mean, COMFORT)]
    lines: list[Series] = []
    for run, color in _runs(result):
        values = spread(run.tables["households"], "household", "indoor_c")
        lines.append(Series(f"{run.run} mean", values.times, values.mean, color))
        band, bounds = _range(
            run, color, f"{run.run} 10–90 %", x=values.times, low=values.low, high=values.high
        )
        bands += band
        lines += bounds
    chart = Chart(
        "Indoor temperature",
        TIME,
        "indoor temperature (°C)",
        tuple(lines),
        tuple(bands),
        time_axis=True,
    )
    return Figure(
        "indoor",
        chart,
        "Indoor temperature of the heated zones against the households' comfort bounds.",
    )


def _activity(result: StudyResult) -> Figure:
    kinds = sorted(
        {str(kind) for run, _ in _runs(result) for kind in run.tables["activity"]["kind"]}
    )
    index = {kind: position for position, kind in enumerate(kinds)}
    marks = []
    for run, color in _runs(result):
        table = run.tables["activity"]
        x = epoch_seconds(table["time_utc"])
        # Each run on its own side of the kind's line, so that equal actions stay visible.
        offset = -0.15 if run.run == "baseline" else 0.15
        y = np.array([index[str(kind)] + offset for kind in table["kind"]], dtype=np.float64)
        marks.append(Series(run.run, x, y, color, kind="points"))
    times = series(result.managed.tables["grid"], "area_import_kw")[0]
    if times.size:  # the whole study's span, not only the span of its events
        marks.append(Series("", times[[0, -1]], np.full(2, np.nan), LIMIT))
    chart = Chart(
        "Grid-function activity",
        TIME,
        "kind",
        tuple(marks),
        time_axis=True,
        y_categories=tuple(kinds),
    )
    return Figure(
        "activity",
        chart,
        "Every recorded action: EDCs created and destroyed, DAC rounds, XOR winners, events.",
    )


def _clock(epoch: float) -> str:
    text = str(np.datetime_as_string(np.datetime64(int(epoch), "s"), unit="m"))
    return text.replace("T", " ") + " UTC"
