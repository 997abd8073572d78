"""The report's HTML in headless Chromium (Debian's chromium package): it renders without errors, loads
nothing from outside the file, and shows its charts with titles and axis labels. The screenshot is saved under
$PII_GUARD_ARTIFACTS (default: the test's temp dir) as a CI artifact."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from pii_guard.reports.job import make_and_deliver
from tests.conftest import require_binaries
from tests.reports.chromium import Chromium
from tests.reports.conftest import Month
from tests.reports.test_report_month import NOW_US

PAGE_FACTS = """(() => {
  const charts = [...document.querySelectorAll('figure.chart')].map(f => {
    const svg = f.querySelector('svg');
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    const texts = svg ? [...svg.querySelectorAll('text')].map(t => t.textContent.trim()).filter(Boolean) : [];
    return {id: f.id, title: f.dataset.title, width: box.width, height: box.height,
            svgTitle: svg && svg.querySelector('title') ? svg.querySelector('title').textContent : null,
            axisTitles: svg ? [...svg.querySelectorAll('.titles text.title, text.title')].map(t => t.textContent) : [],
            texts: texts.length, shapes: svg ? svg.querySelectorAll('rect, circle, path').length : 0,
            caption: f.querySelector('figcaption') ? f.querySelector('figcaption').textContent : ''};
  });
  return {title: document.title, height: document.documentElement.scrollHeight, charts,
          tables: document.querySelectorAll('table').length, scripts: document.scripts.length,
          findings: [...document.querySelectorAll('table.findings')].map(t => t.dataset.kind)};
})()"""


def artifacts_dir(tmp_path: Path) -> Path:
    path = Path(os.environ.get("PII_GUARD_ARTIFACTS") or tmp_path / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.mark.realserver
def test_report_renders_in_headless_chromium(month: Month, tmp_path: Path) -> None:
    binary = require_binaries("chromium")["chromium"]
    made = make_and_deliver(month.config, month.period, NOW_US, slack=False)
    assert made.html is not None
    browser = Chromium(binary, tmp_path / "profile")
    try:
        session = browser.open(made.html.as_uri())
        facts = browser.evaluate(session, PAGE_FACTS)
        shot = artifacts_dir(tmp_path) / "report-month.png"
        browser.screenshot(session, shot)
        problems = browser.problems()
    finally:
        browser.close()
    assert problems == []
    assert facts["title"] == "Access review: 1 March 2026 to 31 March 2026"
    assert facts["scripts"] == 0
    charts = {c["id"]: c for c in facts["charts"]}
    assert sorted(charts) == ["chart-heatmap", "chart-per-day", "chart-per-user"]
    for chart in charts.values():
        assert chart["width"] > 600, chart
        assert chart["height"] > 150, chart
        assert chart["svgTitle"] == chart["title"], chart  # the chart's own title, drawn in the SVG
        assert chart["texts"] > 20, chart
        assert chart["shapes"] > 10, chart
        assert chart["caption"].startswith(chart["title"])
    assert "day" in charts["chart-per-day"]["axisTitles"]
    assert "accesses" in charts["chart-per-day"]["axisTitles"]
    assert "hour of day" in charts["chart-heatmap"]["axisTitles"]
    assert {"off_hours", "largest_export", "unknown_account"} <= set(facts["findings"])
    width, height = png_size(shot)
    assert width == 1200
    assert height == facts["height"]
    assert height > 3000
