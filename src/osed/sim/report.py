"""The study report: one HTML file with inline CSS and SVG that opens offline.

It shows the KPIs, then each figure with the baseline beside the managed run, and the grid
functions' activity as a table. It holds nothing that changes between two writes of the same
result (no write time, no wall-clock timings), so equal results give equal bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from osed.sim.atomic_files import write_atomic
from osed.sim.outputs import KPIS_FILE, check_result, plain
from osed.sim.report_data import epoch_seconds, kind_counts
from osed.sim.report_figures import Section, sections
from osed.sim.results import TABLES, StudyResult
from osed.sim.svg_charts import render_svg

ACTIVITY_ROWS_SHOWN = 200

_CSS = """
:root { color-scheme: light; --ink: #1d1d1f; --muted: #5a5a60; --line: #d9d9de; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #f6f6f8; }
header, main, footer { max-width: 1360px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 32px 0 12px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; }
nav a { margin-right: 14px; color: #0b5cab; }
.facts { color: var(--muted); margin: 0 0 8px; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr));
  gap: 16px; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 12px 8px; }
figure h3 { font-size: 1rem; margin: 0 0 6px; }
figcaption { color: var(--muted); font-size: 0.85rem; margin-top: 4px; }
svg.chart { width: 100%; height: auto; display: block; font-size: 12px; fill: var(--ink); }
svg.chart text { fill: var(--ink); }
svg.chart .label { font-weight: 600; }
svg.chart .grid { stroke: #ececf0; stroke-width: 1; }
svg.chart .axis, svg.chart .tick { stroke: #6b6b70; stroke-width: 1; fill: none; }
svg.chart .empty { fill: var(--muted); font-style: italic; }
table { border-collapse: collapse; background: #fff; border: 1px solid var(--line);
  font-variant-numeric: tabular-nums; }
th, td { padding: 6px 12px; border-bottom: 1px solid var(--line); text-align: left; }
td.number { text-align: right; }
thead th { background: #eef0f4; }
.scroll { max-height: 420px; overflow: auto; border-radius: 8px; }
footer { color: var(--muted); padding-bottom: 32px; }
code { font-size: 0.9em; }
"""

_LABELS = {
    "peak_reduction_pct": "Peak reduction (%)",
    "peak_kw": "Area peak (kW)",
    "cost_per_household": "Energy cost per household",
    "voltage_violations": "Voltage violations (node-steps outside 0.95–1.05 pu)",
    "comfort_violations": "Comfort violations (household-steps outside the band)",
    "ev_unserved_kwh": "EV energy not charged by the end (kWh)",
    "market_volume_kwh": "Market volume (kWh)",
    "ledger_verified": "Ledger verified",
    "dac_iterations": "DAC iterations",
    "edcs_created": "EDCs created",
    "edcs_destroyed": "EDCs destroyed",
}
_UNITS = {"_pct": "%", "_kwh": "kWh", "_kw": "kW", "_pu": "pu", "_c": "°C", "_s": "s"}


def write_report(result: StudyResult, path: Path) -> Path:
    """Write the report of ``result`` to ``path`` (atomically); the tables are checked first."""
    check_result(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, [report_html(result).encode("utf-8")])


def report_html(result: StudyResult) -> str:
    parts = sections(result)
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>OSED study: {escape(result.study)}</title>",
            f"<style>{_CSS}</style>",
            "</head>",
            "<body>",
            _header(result, parts),
            "<main>",
            _kpi_section(result.kpis),
            *(_section(section) for section in parts),
            _activity_tables(result),
            "</main>",
            _footer(),
            "</body>",
            "</html>",
            "",
        ]
    )


def _header(result: StudyResult, parts: tuple[Section, ...]) -> str:
    grid = result.managed.tables["grid"]
    times = np.sort(epoch_seconds(grid["time_utc"]))
    households = len(set(result.managed.tables["households"]["household"].tolist()))
    nodes = len(set(result.managed.tables["buses"]["bus"].tolist()))
    if times.size > 1:
        step_min = float(np.median(np.diff(times))) / 60.0
        period = f"{_time(times[0])} to {_time(times[-1])}, {times.size} steps of {step_min:g} min"
    elif times.size == 1:
        period = f"one step at {_time(times[0])}"
    else:
        period = "no steps"
    links = " ".join(
        f'<a href="#{key}">{escape(title)}</a>'
        for key, title in [("kpis", "KPIs"), *((s.key, s.title) for s in parts)]
    )
    return (
        f"<header><h1>Study: {escape(result.study)}</h1>"
        f'<p class="facts">Seed {result.seed} · {escape(period)} · {households} households · '
        f"{nodes} nodes · baseline (no grid functions, no market) and managed runs</p>"
        f'<nav aria-label="sections">{links}</nav></header>'
    )


def _kpi_section(kpis: Mapping[str, Any]) -> str:
    rows = []
    values = plain(kpis)
    # The headline figures first, in the order of _LABELS; any others after them by name.
    order = [key for key in _LABELS if key in values] + sorted(set(values) - set(_LABELS))
    for key in order:
        value = values[key]
        label = escape(kpi_label(key))
        if isinstance(value, dict) and set(value) <= {"baseline", "managed"}:
            cells = "".join(_value_cell(value.get(run)) for run in ("baseline", "managed"))
        elif isinstance(value, dict):
            cells = f'<td colspan="2">{escape(_nested(value))}</td>'
        else:
            cells = f'<td colspan="2" class="number">{escape(kpi_text(value))}</td>'
        rows.append(f'<tr><th scope="row">{label}</th>{cells}</tr>')
    return (
        '<section id="kpis" aria-labelledby="kpis-title"><h2 id="kpis-title">Key figures</h2>'
        '<table class="kpis"><thead><tr><th scope="col">KPI</th><th scope="col">baseline</th>'
        f'<th scope="col">managed</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
        "</section>"
    )


def kpi_label(key: str) -> str:
    if key in _LABELS:
        return _LABELS[key]
    for suffix, unit in _UNITS.items():
        if key.endswith(suffix):
            return f"{key[: -len(suffix)].replace('_', ' ').capitalize()} ({unit})"
    return key.replace("_", " ").capitalize()


def kpi_text(value: Any) -> str:
    """A KPI value as the table shows it: yes/no, integers whole, other numbers with 2 decimals."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.3g}"
    if isinstance(value, list):
        return ", ".join(kpi_text(item) for item in value)
    return str(value)


def _value_cell(value: Any) -> str:
    return f'<td class="number">{escape(kpi_text(value))}</td>'


def _nested(value: Mapping[str, Any]) -> str:
    return "; ".join(f"{key}: {kpi_text(item)}" for key, item in sorted(value.items()))


def _section(section: Section) -> str:
    figures = []
    for figure in section.figures:
        chart_id = f"chart-{figure.key}"
        figures.append(
            f'<figure aria-labelledby="{chart_id}-heading"><h3 id="{chart_id}-heading">'
            f"{escape(figure.chart.title)}</h3>{render_svg(figure.chart, chart_id)}"
            f"<figcaption>{escape(figure.caption)}</figcaption></figure>"
        )
    return (
        f'<section id="{section.key}" aria-labelledby="{section.key}-title">'
        f'<h2 id="{section.key}-title">{escape(section.title)}</h2>'
        f'<div class="figures">{"".join(figures)}</div></section>'
    )


def _activity_tables(result: StudyResult) -> str:
    counts = {
        run.run: kind_counts(run.tables["activity"]) for run in (result.baseline, result.managed)
    }
    kinds = sorted(set(counts["baseline"]) | set(counts["managed"]))
    count_rows = "".join(
        f'<tr><th scope="row">{escape(kind)}</th>'
        f'<td class="number">{counts["baseline"].get(kind, 0)}</td>'
        f'<td class="number">{counts["managed"].get(kind, 0)}</td></tr>'
        for kind in kinds
    )
    rows: list[tuple[float, str, str, str, str]] = []
    for run in (result.managed, result.baseline):
        table = run.tables["activity"]
        times = epoch_seconds(table["time_utc"])
        rows.extend(
            (
                times[i],
                run.run,
                str(table["kind"][i]),
                str(table["edc"][i]),
                str(table["detail"][i]),
            )
            for i in range(len(times))
        )
    rows.sort(key=lambda row: (row[0], row[1]))
    shown = "".join(
        f"<tr><td>{escape(_time(time))}</td><td>{escape(run)}</td><td>{escape(kind)}</td>"
        f"<td>{escape(edc)}</td><td>{escape(detail)}</td></tr>"
        for time, run, kind, edc, detail in rows[:ACTIVITY_ROWS_SHOWN]
    )
    more = (
        f"<p>{len(rows) - ACTIVITY_ROWS_SHOWN} more rows in <code>activity.csv</code>.</p>"
        if len(rows) > ACTIVITY_ROWS_SHOWN
        else ""
    )
    return (
        '<section id="activity-log" aria-labelledby="activity-log-title">'
        '<h3 id="activity-log-title">Actions per kind</h3>'
        '<table><thead><tr><th scope="col">kind</th><th scope="col">baseline</th>'
        f'<th scope="col">managed</th></tr></thead><tbody>{count_rows}</tbody></table>'
        '<h3>Every action</h3><div class="scroll"><table><thead><tr><th scope="col">time (UTC)'
        '</th><th scope="col">run</th><th scope="col">kind</th><th scope="col">EDC</th>'
        f'<th scope="col">detail</th></tr></thead><tbody>{shown}</tbody></table></div>{more}'
        "</section>"
    )


def _footer() -> str:
    files = ", ".join(f"<code>{name}.parquet</code>/<code>.csv</code>" for name in TABLES)
    return (
        f"<footer><h2>Data</h2><p>The data behind every figure: {files} and "
        f"<code>{KPIS_FILE}</code>, both runs in each table (column <code>run</code>), "
        "times in UTC, units in the column names.</p></footer>"
    )


def _time(epoch: float) -> str:
    return str(np.datetime_as_string(np.datetime64(int(epoch), "s"), unit="m")).replace("T", " ")
