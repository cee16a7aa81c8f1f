"""Line charts as standalone SVG text: axes, ticks, labels, legend, shaded bands, limit rules.

Series are lines, steps (a value holds until the next x) or points; NaN breaks a line. A time
axis takes seconds since the epoch and labels UTC clock times. Coordinates are rounded to a
tenth of a pixel, so the same chart gives the same text. The SVG scales to its container
through its viewBox; colours and fonts come from attributes and the page's CSS.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Values = NDArray[np.float64]
SeriesKind = Literal["line", "step", "points"]

_FONT_PX = 12
_CHAR_PX = 6.6  # average width of a character at the chart font size, for layout
_TIME_STEPS_H = (0.25, 0.5, 1.0, 2.0, 3.0, 6.0, 12.0, 24.0, 48.0, 168.0)


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    x: Values
    y: Values
    color: str
    kind: SeriesKind = "line"
    dashed: bool = False
    thin: bool = False


@dataclass(frozen=True, slots=True)
class Band:
    """A shaded area between ``low`` and ``high``."""

    label: str
    x: Values
    low: Values
    high: Values
    color: str
    step: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """A horizontal reference line across the plot (a limit)."""

    label: str
    y: float
    color: str


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    x_label: str
    y_label: str
    series: tuple[Series, ...] = ()
    bands: tuple[Band, ...] = ()
    rules: tuple[Rule, ...] = ()
    time_axis: bool = False
    y_min: float | None = None
    """Force the y axis to include this value (e.g. 0)."""
    y_max: float | None = None
    y_categories: tuple[str, ...] = ()
    """Label y = 0, 1, … with these names instead of numbers."""
    width: int = 640
    height: int = 300


@dataclass(frozen=True, slots=True)
class _Frame:
    left: float
    top: float
    right: float
    bottom: float
    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, x: float) -> float:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def py(self, y: float) -> float:
        return self.bottom - (y - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)


def render_svg(chart: Chart, chart_id: str) -> str:
    """The chart as one ``<svg>`` element; ``chart_id`` makes its element ids unique."""
    x_lo, x_hi = _x_domain(chart)
    y_lo, y_hi = _y_domain(chart)
    if chart.y_categories:
        y_ticks = [float(index) for index in range(len(chart.y_categories))]
        y_lo, y_hi = -0.6, len(chart.y_categories) - 0.4
        y_labels = list(chart.y_categories)
    else:
        y_ticks, y_lo, y_hi = nice_ticks(y_lo, y_hi)
        y_labels = _number_labels(y_ticks)
    if chart.time_axis:
        if x_hi - x_lo < 60.0:  # a single instant: half an hour either side
            x_lo, x_hi = x_lo - 1800.0, x_hi + 1800.0
        x_ticks = time_ticks(x_lo, x_hi)
        x_labels = _time_labels(x_ticks, x_hi - x_lo)
    else:
        x_ticks, x_lo, x_hi = nice_ticks(x_lo, x_hi)
        x_labels = _number_labels(x_ticks)
    legend = _legend_items(chart)
    legend_rows = _legend_rows(legend, chart.width - 24)
    left = 28 + _FONT_PX + max(len(label) for label in y_labels) * _CHAR_PX
    # The plot keeps its size; each further row of the legend makes the SVG taller.
    bottom = chart.height - 68.0
    height = bottom + 48 + 20 * max(len(legend_rows), 1)
    frame = _Frame(left, 14.0, chart.width - 18.0, bottom, x_lo, x_hi, y_lo, y_hi)
    clip = f"{chart_id}-clip"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" class="chart" role="img" '
        f'viewBox="0 0 {chart.width} {_n(height)}" aria-labelledby="{chart_id}-title">',
        f'<title id="{chart_id}-title">{escape(chart.title)}</title>',
        # The clip leaves room for half a point mark, so that points on the axes stay round.
        f'<defs><clipPath id="{clip}"><rect x="{_n(frame.left - 4)}" y="{_n(frame.top - 4)}" '
        f'width="{_n(frame.right - frame.left + 8)}" height="{_n(frame.bottom - frame.top + 8)}"/>'
        "</clipPath></defs>",
        *_axes(
            frame, chart, x_ticks=x_ticks, x_labels=x_labels, y_ticks=y_ticks, y_labels=y_labels
        ),
        f'<g clip-path="url(#{clip})">',
        *(_band(frame, band) for band in chart.bands),
        *(_rule(frame, rule) for rule in chart.rules),
        *(_series(frame, series) for series in chart.series),
        "</g>",
        *_legend(legend_rows, bottom + 58),
    ]
    if not _has_data(chart):
        parts.append(
            f'<text class="empty" x="{_n((frame.left + frame.right) / 2)}" '
            f'y="{_n((frame.top + frame.bottom) / 2)}" text-anchor="middle">no data</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def nice_ticks(low: float, high: float, count: int = 5) -> tuple[list[float], float, float]:
    """Ticks at 1, 2, 2.5 or 5 × 10ⁿ covering [low, high], and the domain they span."""
    if high - low < 1e-12:
        pad = max(abs(low) * 0.05, 1e-3)
        low, high = low - pad, high + pad
    raw = (high - low) / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    # 12 significant digits drop float noise (0.30000000000000004) at any scale.
    ticks = [float(f"{index * step:.12g}") for index in range(first, last + 1)]
    return ticks, ticks[0], ticks[-1]


def time_ticks(low: float, high: float, most: int = 8) -> list[float]:
    """Epoch seconds at whole UTC hours (or quarter hours) within [low, high], at most ``most``."""
    span_h = max(high - low, 1.0) / 3600.0
    step_h = next((s for s in _TIME_STEPS_H if span_h / s <= most), _TIME_STEPS_H[-1])
    step = step_h * 3600.0
    # No tolerance: an end that lies on a tick divides exactly, and no tick falls outside.
    first = math.ceil(low / step)
    last = math.floor(high / step)
    return [index * step for index in range(first, last + 1)]


def _time_labels(ticks: Sequence[float], span: float) -> list[str]:
    pattern = "%H:%M" if span <= 86400.0 else "%d %b %H:%M"
    return [datetime.fromtimestamp(tick, UTC).strftime(pattern) for tick in ticks]


def _number_labels(ticks: Sequence[float]) -> list[str]:
    steps = [abs(b - a) for a, b in itertools.pairwise(ticks)]
    step = min(steps) if steps else 1.0
    decimals = 0
    while decimals < 6 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6:
        decimals += 1
    texts = [f"{tick:.{decimals}f}" for tick in ticks]
    return [text.lstrip("-") if float(text) == 0 else text for text in texts]


def _finite(values: Values) -> Values:
    array = np.asarray(values, dtype=np.float64)
    return array[np.isfinite(array)]


def _x_domain(chart: Chart) -> tuple[float, float]:
    xs = [_finite(s.x) for s in chart.series] + [_finite(b.x) for b in chart.bands]
    xs += [_finite(_step_ends(s.x)) for s in chart.series if s.kind == "step"]
    xs += [_finite(_step_ends(b.x)) for b in chart.bands if b.step]
    joined = np.concatenate(xs) if xs else np.zeros(0)
    if joined.size == 0:
        return 0.0, 1.0
    return float(joined.min()), float(joined.max())


def _y_domain(chart: Chart) -> tuple[float, float]:
    ys = [_finite(s.y) for s in chart.series]
    ys += [_finite(b.low) for b in chart.bands] + [_finite(b.high) for b in chart.bands]
    ys.append(np.array([rule.y for rule in chart.rules], dtype=np.float64))
    ys.append(np.array([v for v in (chart.y_min, chart.y_max) if v is not None], np.float64))
    joined = np.concatenate(ys)
    if joined.size == 0:
        return 0.0, 1.0
    return float(joined.min()), float(joined.max())


def _has_data(chart: Chart) -> bool:
    return any(_finite(s.y).size for s in chart.series) or any(
        _finite(b.high).size for b in chart.bands
    )


def _step_ends(x: Values) -> Values:
    """Where each step ends: at the next x; the last one a typical step after its start."""
    array = np.asarray(x, dtype=np.float64)
    ends = array.copy()
    if len(array) > 1:
        ends[:-1] = array[1:]
        ends[-1] = array[-1] + float(np.median(np.diff(array)))
    elif len(array) == 1:
        ends[0] = array[0] + 1.0
    return ends


def _segments(x: Values, y: Values) -> list[tuple[int, int]]:
    """Index ranges [start, stop) of runs where both x and y are finite."""
    ok = np.isfinite(np.asarray(x, dtype=np.float64)) & np.isfinite(np.asarray(y, np.float64))
    runs, start = [], None
    for index, good in enumerate(ok.tolist()):
        if good and start is None:
            start = index
        elif not good and start is not None:
            runs.append((start, index))
            start = None
    if start is not None:
        runs.append((start, len(ok)))
    return runs


def _series(frame: _Frame, series: Series) -> str:
    x = np.asarray(series.x, dtype=np.float64)
    y = np.asarray(series.y, dtype=np.float64)
    ends = _step_ends(x)
    commands: list[str] = []
    for start, stop in _segments(x, y):
        if series.kind == "points":
            commands.extend(
                f"M{_n(frame.px(x[i]))} {_n(frame.py(y[i]))}h0" for i in range(start, stop)
            )
            continue
        points = []
        for i in range(start, stop):
            points.append((x[i], y[i]))
            if series.kind == "step":
                points.append((ends[i], y[i]))
        commands.append(
            "M" + "L".join(f"{_n(frame.px(px))} {_n(frame.py(py))}" for px, py in points)
        )
    width = 7 if series.kind == "points" else 1.25 if series.thin else 2
    dash = ' stroke-dasharray="5 4"' if series.dashed else ""
    return (
        f'<path class="series" d="{" ".join(commands)}" fill="none" stroke="{series.color}" '
        f'stroke-width="{width}" stroke-linecap="round" stroke-linejoin="round"{dash}>'
        f"<title>{escape(series.label)}</title></path>"
    )


def _band(frame: _Frame, band: Band) -> str:
    x = np.asarray(band.x, dtype=np.float64)
    low = np.asarray(band.low, dtype=np.float64)
    high = np.asarray(band.high, dtype=np.float64)
    ends = _step_ends(x)
    shapes = []
    for start, stop in _segments(x, low + high):
        upper: list[tuple[float, float]] = []
        lower: list[tuple[float, float]] = []
        for i in range(start, stop):
            xs = (x[i], ends[i]) if band.step else (x[i],)
            upper.extend((px, high[i]) for px in xs)
            lower.extend((px, low[i]) for px in xs)
        outline = upper + lower[::-1]
        shapes.append(
            "M" + "L".join(f"{_n(frame.px(px))} {_n(frame.py(py))}" for px, py in outline) + "Z"
        )
    return (
        f'<path class="band" d="{" ".join(shapes)}" fill="{band.color}" fill-opacity="0.22" '
        f'stroke="none"><title>{escape(band.label)}</title></path>'
    )


def _rule(frame: _Frame, rule: Rule) -> str:
    y = _n(frame.py(rule.y))
    return (
        f'<path class="rule" d="M{_n(frame.left)} {y}H{_n(frame.right)}" stroke="{rule.color}" '
        f'stroke-width="1.5" stroke-dasharray="3 3"><title>{escape(rule.label)}</title></path>'
    )


def _axes(
    frame: _Frame,
    chart: Chart,
    *,
    x_ticks: Sequence[float],
    x_labels: Sequence[str],
    y_ticks: Sequence[float],
    y_labels: Sequence[str],
) -> list[str]:
    parts = ['<g class="axes">']
    for tick, label in zip(y_ticks, y_labels, strict=True):
        y = _n(frame.py(tick))
        parts.append(f'<path class="grid" d="M{_n(frame.left)} {y}H{_n(frame.right)}"/>')
        parts.append(
            f'<text x="{_n(frame.left - 6)}" y="{y}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(label)}</text>'
        )
    for tick, label in zip(x_ticks, x_labels, strict=True):
        x = _n(frame.px(tick))
        parts.append(f'<path class="tick" d="M{x} {_n(frame.bottom)}v5"/>')
        parts.append(
            f'<text x="{x}" y="{_n(frame.bottom + 18)}" text-anchor="middle">{escape(label)}</text>'
        )
    parts.append(
        f'<path class="axis" d="M{_n(frame.left)} {_n(frame.top)}V{_n(frame.bottom)}'
        f'H{_n(frame.right)}"/>'
    )
    middle_y = _n((frame.top + frame.bottom) / 2)
    parts.append(
        f'<text class="label" x="14" y="{middle_y}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle_y})">{escape(chart.y_label)}</text>'
    )
    parts.append(
        f'<text class="label" x="{_n((frame.left + frame.right) / 2)}" '
        f'y="{_n(frame.bottom + 38)}" text-anchor="middle">{escape(chart.x_label)}</text>'
    )
    parts.append("</g>")
    return parts


_LegendItem = tuple[str, str, str]  # label, colour, swatch kind


def _legend_items(chart: Chart) -> list[_LegendItem]:
    items: list[_LegendItem] = [
        (s.label, s.color, "points" if s.kind == "points" else "dash" if s.dashed else "line")
        for s in chart.series
    ]
    items += [(band.label, band.color, "band") for band in chart.bands]
    items += [(rule.label, rule.color, "rule") for rule in chart.rules]
    return [item for item in items if item[0]]  # unlabelled: not in the legend


def _legend_rows(items: list[_LegendItem], width: float) -> list[list[_LegendItem]]:
    rows: list[list[_LegendItem]] = []
    used = width
    for item in items:
        size = _item_width(item)
        if used + size > width:
            rows.append([])
            used = 0.0
        rows[-1].append(item)
        used += size
    return rows


def _item_width(item: _LegendItem) -> float:
    return 34 + len(item[0]) * _CHAR_PX + 16


def _legend(rows: list[list[_LegendItem]], top: float) -> list[str]:
    parts = ['<g class="legend">']
    for row_index, row in enumerate(rows):
        y = top + 20 * row_index
        x = 16.0
        for label, color, kind in row:
            parts.append(_swatch(x, y, color, kind))
            parts.append(
                f'<text x="{_n(x + 30)}" y="{_n(y)}" dominant-baseline="middle">'
                f"{escape(label)}</text>"
            )
            x += _item_width((label, color, kind))
    parts.append("</g>")
    return parts


def _swatch(x: float, y: float, color: str, kind: str) -> str:
    if kind == "band":
        return (
            f'<rect x="{_n(x)}" y="{_n(y - 6)}" width="24" height="12" fill="{color}" '
            'fill-opacity="0.22"/>'
        )
    if kind == "points":
        return f'<circle cx="{_n(x + 12)}" cy="{_n(y)}" r="3.5" fill="{color}"/>'
    dash = {"dash": ' stroke-dasharray="6 4"', "rule": ' stroke-dasharray="3 3"'}.get(kind, "")
    return f'<path d="M{_n(x)} {_n(y)}h24" stroke="{color}" stroke-width="2"{dash}/>'


def _n(value: float) -> str:
    """A coordinate with one decimal and no negative zero."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text
