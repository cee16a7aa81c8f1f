"""The SVG chart renderer: ticks that cover the data, paths that follow it, the same text twice."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from osed.sim.svg_charts import Band, Chart, Rule, Series, nice_ticks, render_svg, time_ticks

SVG = "{http://www.w3.org/2000/svg}"
DAY = 1_768_435_200.0  # 2026-01-15 00:00 UTC


def _chart(**changes: object) -> Chart:
    x = DAY + 900.0 * np.arange(96)
    y = 5.0 + np.sin(np.arange(96) / 10.0)
    fields: dict[str, object] = {
        "title": "Area import",
        "x_label": "time (UTC)",
        "y_label": "area import (kW)",
        "series": (Series("baseline", x, y, "#D55E00"), Series("managed", x, y - 1, "#0072B2")),
        "bands": (Band("managed range", x, y - 2, y, "#0072B2"),),
        "rules": (Rule("limit", 6.5, "#333"),),
        "time_axis": True,
    }
    fields.update(changes)
    return Chart(**fields)  # type: ignore[arg-type]


def _paths(svg: str, kind: str) -> list[ET.Element]:
    root = ET.fromstring(svg)
    return [p for p in root.iter(f"{SVG}path") if p.get("class") == kind]


def test_the_same_chart_gives_the_same_text() -> None:
    assert render_svg(_chart(), "c") == render_svg(_chart(), "c")


def test_the_chart_is_well_formed_svg_with_title_labels_and_legend() -> None:
    svg = render_svg(_chart(), "area")
    root = ET.fromstring(svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "area-title"
    assert root.find(f"{SVG}title").text == "Area import"  # type: ignore[union-attr]
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"time (UTC)", "area import (kW)", "baseline", "managed", "managed range", "limit"} <= (
        set(texts)
    )
    assert {"00:00", "06:00", "12:00", "18:00"} <= set(texts)
    assert len(_paths(svg, "series")) == 2
    assert len(_paths(svg, "band")) == 1
    assert len(_paths(svg, "rule")) == 1


def test_points_stay_inside_the_plot_area() -> None:
    svg = render_svg(_chart(), "c")
    clip = ET.fromstring(svg).find(f".//{SVG}clipPath/{SVG}rect")
    assert clip is not None
    left, top = float(clip.get("x", 0)), float(clip.get("y", 0))
    right = left + float(clip.get("width", 0))
    bottom = top + float(clip.get("height", 0))
    for path in _paths(svg, "series") + _paths(svg, "band"):
        numbers = [float(n) for n in re.findall(r"-?\d+\.\d", path.get("d", ""))]
        xs, ys = numbers[0::2], numbers[1::2]
        assert left - 0.05 <= min(xs)
        assert max(xs) <= right + 0.05
        assert top - 0.05 <= min(ys)
        assert max(ys) <= bottom + 0.05


def test_nan_breaks_a_line_into_pieces() -> None:
    x = np.arange(10, dtype=float)
    y = np.array([1, 2, np.nan, 3, 4, 5, np.nan, np.nan, 6, 7], dtype=float)
    chart = Chart("t", "x", "y", (Series("s", x, y, "#000"),))
    (path,) = _paths(render_svg(chart, "c"), "series")
    assert path.get("d", "").count("M") == 3


def test_a_step_series_holds_each_value_until_the_next_x() -> None:
    x = np.array([0.0, 1.0, 2.0])
    chart = Chart("t", "x", "y", (Series("s", x, np.array([1.0, 2.0, 3.0]), "#000", "step"),))
    (path,) = _paths(render_svg(chart, "c"), "series")
    corners = re.findall(r"(-?\d+\.\d) (-?\d+\.\d)", path.get("d", ""))
    assert len(corners) == 6  # a start and an end per step, the last as wide as the others
    assert corners[1][1] == corners[0][1]
    assert corners[1][0] == corners[2][0]


def test_points_are_drawn_one_mark_each() -> None:
    chart = Chart("t", "x", "y", (Series("s", np.arange(5.0), np.ones(5), "#000", "points"),))
    (path,) = _paths(render_svg(chart, "c"), "series")
    assert path.get("d", "").count("h0") == 5


def test_a_chart_without_data_says_so() -> None:
    empty = np.full(4, np.nan)
    chart = Chart("t", "x", "y", (Series("s", np.arange(4.0), empty, "#000"),))
    assert ">no data</text>" in render_svg(chart, "c")


def test_text_is_escaped() -> None:
    svg = render_svg(_chart(title="<b>&", y_label="a < b"), "c")
    ET.fromstring(svg)
    assert "&lt;b&gt;&amp;" in svg
    assert "a &lt; b" in svg


def test_category_labels_replace_numbers_on_the_y_axis() -> None:
    x = np.array([DAY, DAY + 3600.0])
    chart = Chart(
        "t",
        "time",
        "kind",
        (Series("s", x, np.array([0.0, 1.0]), "#000", "points"),),
        time_axis=True,
        y_categories=("dac_round", "edc_created"),
    )
    texts = {t.text for t in ET.fromstring(render_svg(chart, "c")).iter(f"{SVG}text")}
    assert {"dac_round", "edc_created"} <= texts


def test_a_long_legend_wraps_and_makes_the_chart_taller() -> None:
    many = tuple(Series(f"series number {i}", np.arange(3.0), np.ones(3), "#000") for i in range(9))
    short = ET.fromstring(render_svg(_chart(), "c")).get("viewBox", "").split()
    tall = ET.fromstring(render_svg(_chart(series=many), "c")).get("viewBox", "").split()
    assert float(tall[3]) > float(short[3])


bounds = st.floats(-1e6, 1e6, allow_nan=False)


@given(low=bounds, high=bounds)
def test_nice_ticks_cover_the_range_evenly(low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    ticks, start, stop = nice_ticks(low, high)
    steps = np.diff(ticks)
    slack = 1e-6 * steps[0]  # rounding noise must not add a tick
    assert start <= low + slack
    assert stop >= high - slack
    assert 2 <= len(ticks) <= 12
    np.testing.assert_allclose(steps, steps[0], rtol=1e-9)


@given(start=st.floats(0, 2e9), span_h=st.floats(0.5, 24 * 14))
def test_time_ticks_are_few_whole_quarter_hours_inside_the_range(
    start: float, span_h: float
) -> None:
    end = start + span_h * 3600.0
    ticks = time_ticks(start, end)
    assert 1 <= len(ticks) <= 8
    assert all(start - 1e-6 <= tick <= end + 1e-6 for tick in ticks)
    assert all(tick % 900.0 == 0 for tick in ticks)
