"""The results chart: throughput per stage and per peer, one horizontal bar each (median, min–max whiskers),
on a log scale, written as PNG with matplotlib's Agg backend."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from benchmarks.results import OK, Row, median

RATES: Final = ("events/s", "lines/s")
COLORS: Final = {"pii-guard": "#1f77b4", "baseline": "#8c8c8c", "peer": "#ff7f0e"}


def kind(row: Row) -> str:
    if row.stage != "peers":
        return "pii-guard"
    if row.name.startswith("pii-guard"):
        return "pii-guard"
    if row.name.startswith(("wc -l", "re.match")):
        return "baseline"
    return "peer"


def missing() -> str | None:
    """Why the chart cannot be drawn here (matplotlib is not installed), or None. The suite asks before its
    first stage, not after half an hour of measuring."""
    if importlib.util.find_spec("matplotlib") is None:
        return "the results chart needs matplotlib: pip install -e '.[bench]'"
    return None


def label(row: Row) -> str:
    return f"{row.stage}: {row.name}"[:90]


def draw(rows: Sequence[Row], path: Path, title: str) -> Path | None:
    """The chart of every throughput row that has figures; None (nothing written) when there is none."""
    bars = [r for r in rows if r.unit in RATES and r.status == OK and r.values]
    if not bars:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars.reverse()  # the first row at the top
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(bars) + 1.6), dpi=110)
    mids = [median(r.values) for r in bars]
    low = [m - min(r.values) for m, r in zip(mids, bars, strict=True)]
    high = [max(r.values) - m for m, r in zip(mids, bars, strict=True)]
    ax.barh(range(len(bars)), mids, xerr=[low, high], color=[COLORS[kind(r)] for r in bars], capsize=2)
    ax.set_yticks(range(len(bars)), [label(r) for r in bars], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("events/s or lines/s (median of the runs, min–max whiskers; log scale)")
    for y, (m, r) in enumerate(zip(mids, bars, strict=True)):
        ax.text(max(r.values) * 1.15, y, f"{m:,.0f} {r.unit}", va="center", fontsize=7)
    ax.set_xlim(right=max(max(r.values) for r in bars) * 12)  # room for the last label
    from matplotlib.patches import Rectangle

    handles = [Rectangle((0, 0), 1, 1, color=c) for c in COLORS.values()]
    ax.legend(handles, ["pii-guard", "baseline (wc -l, re.match)", "peer"], loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", which="both", alpha=0.25)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
