"""Event-time detection.

Stateless detectors (zones, roles, honeytokens) judge each event alone, so they run as soon as it arrives: a
leak of that kind is committed within milliseconds. Windowed detectors (quotas, bulk exports) depend on
order, so their events wait in a reorder buffer until the watermark (newest event time minus the allowed
lateness) passes them and reach them in time order: out-of-order lines within the lateness give the same
matches as ordered ones. The buffer is saved with each batch."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pii_guard.detection import codec
from pii_guard.model import EnrichedEvent, Match
from pii_guard.policy.context import Detector, signature

EXPIRE_EVERY = 4096  # released events between sweeps of idle window keys


@dataclass
class EngineChanges:
    """What changed since the last batch: window states, deleted keys, and the engine's own state."""

    windows: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    deleted: set[tuple[str, str]] = field(default_factory=set)
    engine: dict[str, Any] = field(default_factory=dict)
    buffered: list[tuple[int, int, str, list[Any]]] = field(default_factory=list)  # (seq, time, source, event)
    released: list[int] = field(default_factory=list)  # seqs that left the reorder buffer


class DetectionEngine:
    def __init__(self, detectors: Sequence[Detector], lateness_us: int, max_pending: int = 20_000) -> None:
        self.detectors = tuple(detectors)
        self.immediate = tuple(d for d in self.detectors if not d.windows())
        self.ordered = tuple(d for d in self.detectors if d.windows())
        self.lateness_us = lateness_us
        self.max_pending = max_pending
        self._heap: list[tuple[int, int, EnrichedEvent, str, tuple[Detector, ...]]] = []
        # changes of the reorder buffer since the last take_changes(), saved incrementally
        self._added: dict[int, tuple[int, EnrichedEvent, str]] = {}
        self._removed: list[int] = []
        self._seq = 0
        self.newest_us = 0
        self.released_us = 0  # time of the last event released to the detectors
        self.late = 0  # events older than what was already released (reach detectors out of order)
        self._since_expire = 0
        self._routes: dict[tuple[object, ...], tuple[tuple[Detector, ...], tuple[Detector, ...]]] = {}
        self._stores = {name: store for d in self.detectors for name, store in d.windows().items()}
        self._owners = {name: d for d in self.detectors for name in d.windows()}

    def process(self, item: EnrichedEvent, source: str) -> list[tuple[Match, str]]:
        """Take one event; return its immediate matches and those of the events it released."""
        t = item.event.time_us
        if t > self.newest_us:
            self.newest_us = t
        immediate, ordered = self._route(item)
        out: list[tuple[Match, str]] = []
        for detector in immediate:
            found = detector.observe(item)
            if found:
                out.extend((m, source) for m in found)
        if ordered:
            self._seq += 1
            heapq.heappush(self._heap, (t, self._seq, item, source, ordered))
            self._added[self._seq] = (t, item, source)
        if self._heap:
            out.extend(self._release(self.newest_us - self.lateness_us))
        return out

    def _route(self, item: EnrichedEvent) -> tuple[tuple[Detector, ...], tuple[Detector, ...]]:
        sig = signature(item)
        route = self._routes.get(sig)
        if route is None:
            route = (tuple(d for d in self.immediate if d.prefilter(item)),
                     tuple(d for d in self.ordered if d.prefilter(item)))
            if len(self._routes) >= 100_000:
                self._routes.clear()
            self._routes[sig] = route
        return route

    def drain(self) -> list[tuple[Match, str]]:
        """Release everything (end of a replay, or the log went quiet for longer than the lateness)."""
        return self._release(None)

    def advance(self, watermark_us: int) -> list[tuple[Match, str]]:
        """Release what a wall-clock watermark says can no longer be overtaken (the daemon's idle tick)."""
        return self._release(watermark_us)

    @property
    def pending(self) -> int:
        return len(self._heap)

    def _release(self, watermark: int | None) -> list[tuple[Match, str]]:
        out: list[tuple[Match, str]] = []
        heap = self._heap
        while heap and (watermark is None or heap[0][0] <= watermark or len(heap) > self.max_pending):
            t, seq, item, source, route = heapq.heappop(heap)
            if self._added.pop(seq, None) is None:
                self._removed.append(seq)
            if t < self.released_us:
                self.late += 1
            else:
                self.released_us = t
            for detector in route:
                found = detector.observe(item)
                if found:
                    out.extend((m, source) for m in found)
            self._since_expire += 1
            if self._since_expire >= EXPIRE_EVERY:
                self._since_expire = 0
                for detector in self.ordered:
                    detector.expire(self.released_us)
        return out

    def take_changes(self) -> EngineChanges:
        changes = EngineChanges()
        for name, store in self._stores.items():
            changed, deleted = store.take_changes()
            for key, state in changed.items():
                changes.windows[(name, key)] = state
            changes.deleted.update((name, key) for key in deleted)
        changes.buffered = [(seq, t, src, codec.encode(item)) for seq, (t, item, src) in self._added.items()]
        changes.released = self._removed
        self._added = {}
        self._removed = []
        changes.engine = {
            "seq": self._seq,
            "newest_us": self.newest_us,
            "released_us": self.released_us,
        }
        return changes

    def restore(
        self,
        windows: Sequence[tuple[str, str, list[Any]]],
        engine: dict[str, Any] | None,
        buffered: Sequence[tuple[int, int, str, list[Any]]] = (),
    ) -> None:
        for name, key, state in windows:
            owner = self._owners.get(name)
            if owner is not None:  # a rule removed from the policy leaves state nobody reads
                owner.restore(name, key, state)
        if engine:
            self._heap = []
            for seq, t, src, raw in buffered:
                item = codec.decode(raw)
                self._heap.append((t, seq, item, src, self._route(item)[1]))
            heapq.heapify(self._heap)
            self._seq = int(engine["seq"])
            self.newest_us = int(engine["newest_us"])
            self.released_us = int(engine["released_us"])
