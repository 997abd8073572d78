"""The suite's result rows, and writing them as Markdown and JSON under benchmarks/results/.

A row is one measurement: its value in every run (the median is reported, with min and max), optionally its
value per CPU-second, the ratio to a baseline measured in the same run, and the issue's target with a verdict.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

RESULTS_DIR: Final = Path(__file__).resolve().parent / "results"

OK: Final = "ok"
NOT_INSTALLED: Final = "not installed"
NOT_BUILT: Final = "not built"
ERROR: Final = "error"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


@dataclass
class Row:
    """One measurement of the suite."""

    stage: str
    name: str
    unit: str
    values: list[float] = field(default_factory=list)  # one per run
    cpu: list[float] = field(default_factory=list)  # the same per CPU-second, where it applies
    ratios: list[float] = field(default_factory=list)  # per run: this ÷ the baseline of the same run
    baseline: str = ""  # what the ratio is taken against
    target: str = ""  # the target, as written there
    goal: float | None = None  # the median must reach this (>= or <=: higher_is_better)
    ratio_goal: float | None = None  # and the median ratio at least this
    higher_is_better: bool = True
    status: str = OK  # ok, not installed, not built, error
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # anything else worth keeping in the JSON

    @property
    def median(self) -> float:
        return median(self.values)

    @property
    def ratio(self) -> float:
        return median(self.ratios)

    @property
    def verdict(self) -> str:
        """pass, miss, or "" when the row has no target (or no figure)."""
        if (self.goal is None and self.ratio_goal is None) or self.status != OK:
            return ""
        met = True
        if self.goal is not None:
            value = self.median
            met = not math.isnan(value) and (value >= self.goal if self.higher_is_better else value <= self.goal)
        if self.ratio_goal is not None:
            met = met and not math.isnan(self.ratio) and self.ratio >= self.ratio_goal
        return "pass" if met else "miss"

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.update(
            median=_finite(self.median),
            min=_finite(min(self.values, default=math.nan)),
            max=_finite(max(self.values, default=math.nan)),
            cpu_median=_finite(median(self.cpu)),
            ratio=_finite(self.ratio),
            verdict=self.verdict,
        )
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Row:
        known = {k: doc[k] for k in cls.__dataclass_fields__ if k in doc}
        return cls(**known)


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else x


def number(x: float, unit: str = "") -> str:
    """A figure as the table shows it: thousands separators, a sensible number of digits."""
    if math.isnan(x):
        return "–"
    if unit in ("%",) or abs(x) < 10:
        return f"{x:,.2f}" if abs(x) < 100 else f"{x:,.1f}"
    if abs(x) < 100:
        return f"{x:,.1f}"
    return f"{x:,.0f}"


def _ratio_text(row: Row) -> str:
    r = row.ratio
    if math.isnan(r):
        return "–"
    return f"{r:.3f}" if r < 10 else f"{r:,.1f}"


def _status_text(row: Row, text: str) -> str:
    return text if row.status == OK else row.status


def markdown_table(rows: Iterable[Row]) -> str:
    head = ("| measurement | median | min | max | unit | per CPU-s | ratio | ratio to (same run) | target "
            "| pass/miss |")  # fmt: skip
    out = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        name = f"{row.stage}: {row.name}"
        if row.status != OK:
            reason = f"{row.status}" + (f" ({row.note})" if row.note else "")
            out.append(f"| {name} | {reason} | | | {row.unit} | | | {row.baseline} | {row.target} | |")
            continue
        cells = [
            name,
            number(row.median, row.unit),
            number(min(row.values), row.unit) if row.values else "–",
            number(max(row.values), row.unit) if row.values else "–",
            row.unit,
            number(median(row.cpu)) if row.cpu else "",
            _ratio_text(row),
            row.baseline,
            row.target,
            f"**{row.verdict}**" if row.verdict == "miss" else row.verdict,
        ]
        out.append("| " + " | ".join(_status_text(row, c) for c in cells) + " |")
    return "\n".join(out)


def machine_text(machine: dict[str, Any]) -> str:
    return (f"{machine.get('cpu') or 'unknown CPU'}, {machine.get('cpus')} cores, {machine.get('memory_gib')} GiB; "
            f"{machine.get('implementation')} {machine.get('python')} on {machine.get('platform')}; "
            f"load average {machine.get('loadavg_at_start')} at the start"
            + (f", {machine['loadavg_at_end']} at the end" if machine.get("loadavg_at_end") else ""))  # fmt: skip


def markdown(doc: dict[str, Any], rows: Sequence[Row]) -> str:
    machine = doc["machine"]
    lines = [
        f"# pii-guard benchmark results ({doc['mode']})",
        "",
        f"- command: `{doc['command']}`",
        f"- date: {doc['started']} – {doc['finished']} (UTC)",
        f"- commit: {machine.get('product')}",
        f"- build: {machine.get('build', 'pure Python')}",
        f"- machine: {machine_text(machine)}",
        f"- runs: each figure is the median of {doc['runs']} runs (min, max); ratios are taken per run against a "
        "baseline measured in the same run, and their median is shown",
        "",
        markdown_table(rows),
    ]
    notes = [f"- {r.stage}: {r.name}: {r.note}" for r in rows if r.note and r.status == OK]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


def write(doc: dict[str, Any], rows: Sequence[Row], directory: Path = RESULTS_DIR, stem: str = "latest") -> Path:
    """results/<stem>.json and results/<stem>.md; returns the Markdown file."""
    directory.mkdir(parents=True, exist_ok=True)
    full = dict(doc, rows=[r.to_json() for r in rows])
    (directory / f"{stem}.json").write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n")
    md = directory / f"{stem}.md"
    md.write_text(markdown(doc, rows))
    return md


def load(path: Path) -> tuple[dict[str, Any], list[Row]]:
    doc = json.loads(path.read_text())
    return doc, [Row.from_json(r) for r in doc.get("rows", [])]
