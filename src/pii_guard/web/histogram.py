"""The search page's time histogram: the range cut into at most ~60 round buckets, each counted through the
backend's `count` (so it works on both stores), newest first, within a time budget. What was not counted in
time is marked as such (the page then loads the rest on its own request). Drawn as server-side SVG: bars are
plain attributes styled from the static CSS (nothing inline, so the strict CSP holds), each with a <title>,
and the same numbers as a table for screen readers and for reading without SVG."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pii_guard.clock import Clock
from pii_guard.model import format_timestamp
from pii_guard.search.query import Node
from pii_guard.search.request import SearchBackend, SearchRequest

_MINUTE: Final = 60_000_000
_STEPS: Final[tuple[int, ...]] = tuple(m * _MINUTE for m in (
    1, 5, 15, 30, 60, 180, 360, 720, 1440, 2880, 10080, 43200))  # fmt: skip
MAX_BUCKETS: Final = 60
WIDTH, HEIGHT, LEFT, BOTTOM = 720, 160, 48, 22


@dataclass(frozen=True)
class Bucket:
    start_us: int
    end_us: int
    count: int | None  # None: not counted within the budget


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Histogram:
    buckets: tuple[Bucket, ...]
    step_us: int

    @property
    def complete(self) -> bool:
        return all(b.count is not None for b in self.buckets)

    @property
    def total(self) -> int:
        return sum(b.count or 0 for b in self.buckets)

    def bars(self) -> list[Bar]:
        top = max((b.count or 0 for b in self.buckets), default=0) or 1
        slot = (WIDTH - LEFT) / max(1, len(self.buckets))
        out = []
        for i, b in enumerate(self.buckets):
            h = 0.0 if not b.count else max(1.0, (HEIGHT - BOTTOM - 8) * b.count / top)
            label = f"{_label(b.start_us, self.step_us)}: " + (f"{b.count:,} event(s)" if b.count is not None
                                                                 else "not counted yet")
            out.append(Bar(round(LEFT + i * slot + 1, 1), round(HEIGHT - BOTTOM - h, 1),
                           round(max(1.0, slot - 2), 1), round(h, 1), label))
        return out

    def ticks(self) -> list[tuple[float, str]]:
        """A few x-axis labels: the first bucket, about five in between, the last."""
        n = len(self.buckets)
        if n == 0:
            return []
        slot = (WIDTH - LEFT) / n
        every = max(1, n // 5)
        last = n - max(1, int(90 // slot))  # no label that would run past the right edge
        return [(round(LEFT + i * slot, 1), _label(self.buckets[i].start_us, self.step_us))
                for i in range(0, n, every) if i <= max(0, last)]

    @property
    def step_text(self) -> str:
        minutes = self.step_us // _MINUTE
        for size, unit in ((10080, "week"), (1440, "day"), (60, "hour")):
            if minutes % size == 0:
                n = minutes // size
                return f"{n} {unit}s" if n > 1 else unit
        return f"{minutes} minutes" if minutes > 1 else "minute"

    @property
    def peak(self) -> int:
        return max((b.count or 0 for b in self.buckets), default=0)


def _label(us: int, step_us: int) -> str:
    text = format_timestamp(us)
    if step_us >= 1440 * _MINUTE:
        return text[:10]
    return text[5:16].replace("T", " ")


def plan(since_us: int, until_us: int) -> tuple[int, list[tuple[int, int]]]:
    """The bucket size (a round step giving at most MAX_BUCKETS) and the buckets, aligned to it (UTC)."""
    span = max(1, until_us - since_us)
    step = next((s for s in _STEPS if span / s <= MAX_BUCKETS), _STEPS[-1])
    start = since_us - since_us % step
    edges: list[tuple[int, int]] = []
    at = start
    while at < until_us and len(edges) < MAX_BUCKETS * 2:
        edges.append((max(at, since_us), min(at + step, until_us)))
        at += step
    return step, edges


def count(backend: SearchBackend, node: Node, since_us: int, until_us: int, clock: Clock,
          budget_s: float) -> Histogram:
    """Count the buckets newest first until the budget is spent (each count is bounded by its bucket)."""
    step, edges = plan(since_us, until_us)
    deadline = clock.monotonic() + budget_s
    counts: dict[int, int] = {}
    for i in reversed(range(len(edges))):
        if clock.monotonic() > deadline:
            break
        lo, hi = edges[i]
        counts[i] = backend.count(SearchRequest(node, lo, hi, (), 1))
    return Histogram(tuple(Bucket(lo, hi, counts.get(i)) for i, (lo, hi) in enumerate(edges)), step)
