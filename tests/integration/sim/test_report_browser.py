"""The study report opened in headless Chromium (Debian's chromium) from a file:// address.

Every figure must render with its data, the page must log no error and fetch nothing, and it
must fit a laptop screen's width. A full-page screenshot is kept under test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Request, sync_playwright

from osed.sim.report import write_report
from tests.unit.sim.synthetic_results import synthetic_result

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "report"
LAPTOP = {"width": 1366, "height": 768}

_SVG_BOXES = """() => [...document.querySelectorAll('svg.chart')].map(svg => {
  const box = svg.getBoundingClientRect();
  const data = [...svg.querySelectorAll('path.series, path.band')]
    .filter(path => path.getAttribute('d'))
    .map(path => path.getBBox())
    .filter(b => b.width > 0 || b.height > 0);
  return {id: svg.id, width: box.width, height: box.height, drawn: data.length};
})"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert CHROMIUM.exists(), "Debian's chromium is needed (scripts/test installs it)"
    return write_report(synthetic_result(), tmp_path_factory.mktemp("report") / "report.html")


def test_every_figure_renders_without_errors_or_fetches(report: Path) -> None:
    errors: list[str] = []
    fetched: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport=LAPTOP)

            def on_console(message: ConsoleMessage) -> None:
                if message.type in {"error", "warning"}:
                    errors.append(f"{message.type}: {message.text}")

            def on_request(request: Request) -> None:
                if not request.url.startswith(("file://", "data:")):
                    fetched.append(request.url)

            page.on("console", on_console)
            page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
            page.on("request", on_request)
            page.goto(report.as_uri(), wait_until="load")
            boxes = page.evaluate(_SVG_BOXES)
            page_width = page.evaluate("document.documentElement.scrollWidth")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            screenshot = ARTIFACTS / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    print(f"report screenshot: {screenshot}")
    assert errors == []
    assert fetched == []
    assert len(boxes) == 11
    for box in boxes:
        assert box["width"] > 300, box
        assert box["height"] > 150, box
        assert box["drawn"] >= 1, box
    assert page_width <= LAPTOP["width"]
    assert screenshot.stat().st_size > 50_000
