"""The report as one self-contained HTML file (inline CSS and SVG, no script, no outside resource) and as CSV
files of its tables. Every value from the logs is escaped by Jinja2's autoescaping; CSV cells that a
spreadsheet would run as a formula get a leading quote."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from pii_guard.reports.charts import Chart
from pii_guard.reports.model import FINDING_KINDS, Report
from pii_guard.sizes import human_bytes

_ENV: Environment | None = None


def environment() -> Environment:
    global _ENV
    if _ENV is None:
        env = Environment(loader=PackageLoader("pii_guard.reports", "templates"),
                          autoescape=select_autoescape(["html", "j2"], default_for_string=True),
                          undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
        env.filters["num"] = lambda n: f"{int(n):,}"
        env.filters["size"] = human_bytes
        _ENV = env
    return _ENV


def render_html(report: Report, charts: Sequence[Chart], csv_files: Sequence[str] = ()) -> str:
    template = environment().get_template("report.html.j2")
    return template.render(r=report, charts=[(c, Markup(c.svg)) for c in charts], kinds=FINDING_KINDS,
                           csv_files=list(csv_files))


def render_index(entries: Sequence[dict[str, Any]], generated: str) -> str:
    return environment().get_template("index.html.j2").render(entries=list(entries), generated=generated)


def safe_cell(value: object) -> str:
    """Spreadsheets run cells that start with = + - @ (and tab, CR): log text is untrusted, so those get a quote."""
    text = "" if value is None else str(value)
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int | float):
        return text
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _table(rows: Iterable[Any], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(getattr(row, c)) for c in columns])
    return out.getvalue()


def _columns(cls: type, *, drop: Sequence[str] = ()) -> list[str]:
    return [f.name for f in fields(cls) if f.name not in drop]


def csv_tables(report: Report) -> dict[str, str]:
    """Table name -> CSV text. The names are part of the file names: keep them stable."""
    from pii_guard.reports.model import (
        Accessor,
        DayRow,
        DriftRow,
        Finding,
        IncidentRow,
        ObjectRow,
        UserVolume,
        ZoneRow,
    )

    summary = io.StringIO()
    writer = csv.writer(summary, lineterminator="\n")
    writer.writerow(["figure", "period", "previous_period", "change"])
    for f in report.summary:
        writer.writerow([f.label, f.current, f.previous, f.change])
    findings = _columns(Finding)
    findings.insert(0, "kind")
    return {
        "summary": summary.getvalue(),
        "accessors": _table((a for c in report.categories for a in c.accessors), _columns(Accessor)),
        "objects": _table((o for c in report.categories for o in c.object_rows), _columns(ObjectRow)),
        "zones": _table((z for c in report.categories for z in c.zones), _columns(ZoneRow)),
        "findings": _table(report.findings, list(dict.fromkeys(findings))),
        "role_drift": _table(report.drift, _columns(DriftRow)),
        "incidents": _table(report.incidents, _columns(IncidentRow)),
        "daily": _table(report.days, _columns(DayRow)),
        "top_users": _table(report.top_users, _columns(UserVolume)),
    }
