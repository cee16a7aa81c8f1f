"""The study report: every section and figure, the KPIs shown, offline, the same bytes twice."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from osed.domain.errors import ValidationError
from osed.sim.report import ACTIVITY_ROWS_SHOWN, kpi_label, kpi_text, report_html, write_report
from osed.sim.results import TABLES
from tests.unit.sim.synthetic_results import synthetic_result

SECTIONS = ("kpis", "loading", "voltage", "market", "devices", "activity", "activity-log")
FIGURES = (
    "area-import",
    "transformer-loading",
    "line-loading",
    "voltage-range",
    "voltage-profile",
    "prices",
    "market-volume",
    "battery-soc",
    "ev-energy",
    "indoor",
    "activity",
)


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def html() -> str:
    return report_html(synthetic_result())


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.tags


def test_every_section_and_figure_is_there(html: str) -> None:
    ids = {attrs.get("id") for _, attrs in _elements(html)}
    assert set(SECTIONS) <= ids
    assert {f"chart-{key}" for key in FIGURES} <= ids
    assert html.count("<svg ") == len(FIGURES)


def test_every_chart_is_well_formed_svg_with_data(html: str) -> None:
    for svg in re.findall(r"<svg .*?</svg>", html, flags=re.DOTALL):
        root = ET.fromstring(svg)
        drawn = [p for p in root.iter("{http://www.w3.org/2000/svg}path") if p.get("class")]
        data = [p for p in drawn if p.get("class") in {"series", "band"} and p.get("d")]
        assert data, root.get("id")
        assert "no data" not in svg, root.get("id")


def test_the_report_needs_nothing_from_outside(html: str) -> None:
    tags = _elements(html)
    assert not [tag for tag, _ in tags if tag in {"script", "link", "img", "iframe", "object"}]
    assert not [attrs for _, attrs in tags if "src" in attrs]
    assert set(re.findall(r"https?://[^\"' )]+", html)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"url\((?!#)", html)  # only references to the page's own clip paths


def test_the_kpi_table_shows_the_values(html: str) -> None:
    table = re.search(r'<table class="kpis">.*?</table>', html, flags=re.DOTALL)
    assert table is not None
    rows = {
        re.sub(r"<[^>]+>", "", row[0]): [re.sub(r"<[^>]+>", "", cell) for cell in row[1:]]
        for row in (
            re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr)
            for tr in re.findall(r"<tr>(.*?)</tr>", table.group(0))
        )
    }
    assert rows["Peak reduction (%)"] == ["35.05"]
    assert rows["Energy cost per household"] == ["3.41", "3.19"]
    assert rows["Voltage violations (node-steps outside 0.95–1.05 pu)"] == ["12", "0"]
    assert rows["Comfort violations (household-steps outside the band)"] == ["0", "1"]
    assert rows["Market volume (kWh)"] == ["41.25"]
    assert rows["Ledger verified"] == ["yes"]
    assert rows["DAC iterations"] == ["37"]
    assert rows["Area peak (kW)"] == ["16.64", "10.81"]
    assert next(iter(rows)) == "KPI"
    assert list(rows)[1:3] == ["Peak reduction (%)", "Area peak (kW)"]  # headline first


def test_kpi_names_and_values_read_well() -> None:
    assert kpi_label("unserved_energy_kwh") == "Unserved energy (kWh)"
    assert kpi_label("xor_winners") == "Xor winners"
    assert [kpi_text(v) for v in (True, False, None, 1234, 0.5, 0.0012, 0.0)] == [
        "yes",
        "no",
        "–",
        "1,234",
        "0.50",
        "0.0012",
        "0.00",
    ]


def test_the_activity_is_listed_per_kind_and_run(html: str) -> None:
    counts = re.search(r"Actions per kind</h3><table>.*?</table>", html, flags=re.DOTALL)
    assert counts is not None
    assert re.search(
        r'dac_round</th><td class="number">0</td><td class="number">10</td>', counts.group(0)
    )
    assert html.count("<td>capacity_limit at trafo: 10 kW</td>") == 2  # both runs


def test_a_long_activity_log_is_cut_with_a_pointer_to_the_file() -> None:
    result = synthetic_result()
    activity = result.managed.tables["activity"]
    rows = ACTIVITY_ROWS_SHOWN + 30
    result.managed.tables["activity"] = {
        name: np.resize(column, rows) for name, column in activity.items()
    }
    html = report_html(result)
    log = html[html.index("Every action") :]
    assert log.count("<tr><td>") == ACTIVITY_ROWS_SHOWN
    assert "more rows in <code>activity.csv</code>" in html


def test_the_same_result_gives_the_same_bytes(tmp_path: Path) -> None:
    first = write_report(synthetic_result(), tmp_path / "a" / "report.html")
    second = write_report(synthetic_result(), tmp_path / "b" / "report.html")
    assert first.read_bytes() == second.read_bytes()
    assert write_report(synthetic_result(seed=8), tmp_path / "c.html").read_bytes() != (
        first.read_bytes()
    )


def test_the_data_files_are_named(html: str) -> None:
    for name in TABLES:
        assert f"<code>{name}.parquet</code>" in html
    assert "<code>kpis.json</code>" in html


def test_a_malformed_result_is_refused_and_nothing_written(tmp_path: Path) -> None:
    result = synthetic_result()
    del result.managed.tables["grid"]["area_import_kw"]
    with pytest.raises(ValidationError) as error:
        write_report(result, tmp_path / "out" / "report.html")
    assert [problem.path for problem in error.value.problems] == ["$.managed.tables.grid"]
    assert not (tmp_path / "out").exists()


def test_a_run_without_actions_or_devices_still_renders() -> None:
    result = synthetic_result()
    for run in (result.baseline, result.managed):
        run.tables["activity"] = {
            name: column[:0] for name, column in run.tables["activity"].items()
        }
        households = run.tables["households"]
        for column in (
            "battery_soc",
            "ev_energy_kwh",
            "indoor_c",
            "comfort_min_c",
            "comfort_max_c",
        ):
            households[column] = np.full(len(households[column]), np.nan)
    html = report_html(result)
    assert html.count(">no data</text>") == 4  # battery, EV, indoor, activity
    assert html.count("<svg ") == len(FIGURES)


def test_a_single_step_study_renders() -> None:
    html = report_html(synthetic_result(steps=1))
    assert html.count("<svg ") == len(FIGURES)
    assert "one step at 2026-01-15 00:00" in html
