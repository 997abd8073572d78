"""The report's charts, drawn by pygal as inline SVG: readable offline and in print, no script needed.

pygal adds a small script (its tooltip config) and comments carrying the render date to every chart; both are
taken out, and the random chart id replaced by a stable one, so the same data gives the same bytes."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pygal
from pygal.style import Style

from pii_guard.reports.model import Report

_STYLE = Style(
    background="white", plot_background="white", foreground="#222", foreground_strong="#111",
    foreground_subtle="#666", font_family="'DejaVu Sans', Arial, sans-serif", label_font_size=11,
    major_label_font_size=11, legend_font_size=12, title_font_size=15, value_font_size=10, tooltip_font_size=11,
    colors=("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"),
)  # fmt: skip
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_ID = re.compile(r"chart-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Chart:
    key: str  # stable id, also the figure's anchor
    title: str
    caption: str
    svg: str


def _svg(chart: pygal.graph.graph.Graph, key: str, title: str) -> str:
    raw = str(chart.render(is_unicode=True))
    raw = _SCRIPT.sub("", _COMMENT.sub("", raw))
    raw = _ID.sub(f"chart-{key}", raw)
    return raw.replace("<svg ", f'<svg role="img" aria-label="{_attr(title)}" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def _common(title: str, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "title": title, "style": _STYLE, "js": (), "disable_xml_declaration": True, "width": 960, "height": 380,
        "legend_at_bottom": True, "truncate_legend": 40, "truncate_label": 40, "print_values": False,
        "explicit_size": False,
    }
    return {**base, **extra}


def per_day(report: Report) -> Chart | None:
    days = [d.isoformat() for d in report.period.days()]
    cats = sorted({r.category for r in report.days})
    if not cats:
        return None
    counts = {(r.day, r.category): r.events for r in report.days}
    title = "Accesses per day and category"
    chart = pygal.StackedBar(**_common(title, x_title="day", y_title="accesses", x_label_rotation=45,
                                       show_minor_x_labels=len(days) <= 16))
    chart.x_labels = [d[5:] for d in days]
    if len(days) > 16:
        chart.x_labels_major = [d[5:] for i, d in enumerate(days) if i % 7 == 0]
    for cat in cats:
        chart.add(cat, [counts.get((d, cat), 0) for d in days])
    return Chart("per-day", title, "Accesses to each category of personal data, per local day.",
                 _svg(chart, "per-day", title))


def per_user(report: Report) -> Chart | None:
    users = report.top_users
    if not users:
        return None
    title = f"Volume per user (top {len(users)})"
    chart = pygal.HorizontalBar(**_common(title, x_title="accesses", height=max(260, 60 + 26 * len(users)),
                                          legend_at_bottom=True))
    chart.x_labels = [u.user for u in reversed(users)]
    chart.add("accesses", [u.events for u in reversed(users)])
    return Chart("per-user", title, "The users with the most accesses to classified data in the period.",
                 _svg(chart, "per-user", title))


def heatmap(report: Report) -> Chart | None:
    grid = report.heatmap
    if not any(any(row) for row in grid):
        return None
    title = f"Accesses by hour and weekday ({report.period.timezone})"
    chart = pygal.Dot(**_common(title, x_title="hour of day", show_legend=True, height=360))
    chart.x_labels = [f"{h:02d}" for h in range(24)]
    for name, row in zip(WEEKDAYS, grid, strict=True):
        chart.add(name, [v or None for v in row])
    return Chart("heatmap", title, "Each dot's size is the number of accesses to classified data in that hour.",
                 _svg(chart, "heatmap", title))


def charts_for(report: Report) -> list[Chart]:
    return [c for c in (per_day(report), per_user(report), heatmap(report)) if c is not None]
