"""Event-time detection.

Stateless detectors (zones, roles, honeytokens) judge each event alone, so they run as soon as it arrives: a
leak of that kind is committed within milliseconds. Windowed detectors (quotas, bulk exports) depend on
order, so their events wait in a reorder buffer until the watermark (newest event time minus the allowed
lateness) passes them and reach them in time order: out-of-order lines within the lateness give the same
matches as ordered ones. The buffer is saved with each batch."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mypy_extensions import mypyc_attr

from pii_guard.detection import codec
from pii_guard.model import EnrichedEvent, Match
from pii_guard.policy.context import Detector, signature

EXPIRE_EVERY = 4096  # released events between sweeps of idle window keys
MAX_OBJECT_ROUTES = 200_000  # (route, object) answers remembered, over all routes


Observe = Callable[[EnrichedEvent], list[Match]]


class _Route:
    """The detectors an event of one signature can reach, as the callables to call. Stateless detectors
    limited to some objects (`accepts_object`) are narrowed further per object, so that a policy with many
    object-scoped rules does not call every one of them for every event."""

    __slots__ = ("by_object", "immediate", "observers", "ordered", "scoped")

    def __init__(self, immediate: tuple[tuple[Observe, int], ...], ordered: tuple[Observe, ...]) -> None:
        self.immediate = immediate  # (what to call, index of its object filter or -1)
        self.observers = tuple(observe for observe, _ in immediate)
        self.ordered = ordered
        self.scoped = any(k >= 0 for _, k in immediate)
        self.by_object: dict[str | None, tuple[Observe, ...]] = {}


class _Admission:
    """Which of some detectors' prefilters admit an event, when a route is built (once per signature).

    Detectors whose class has a `prefilter_key` (a static function of the event: the part of the signature
    their prefilter reads) are decided together and remembered per key, so that fifty rules of one kind cost
    one lookup rather than fifty calls on every new signature."""

    def __init__(self, detectors: tuple[Detector, ...]) -> None:
        self._detectors = detectors
        self._single: list[int] = []
        classes: dict[type, list[int]] = {}
        for i, d in enumerate(detectors):
            if getattr(type(d), "prefilter_key", None) is None:
                self._single.append(i)
            else:
                classes.setdefault(type(d), []).append(i)
        self._groups: list[tuple[Callable[[EnrichedEvent], object], tuple[int, ...], dict[object, frozenset[int]]]] = []
        for cls, members in classes.items():
            key_of: Callable[[EnrichedEvent], object] = cls.prefilter_key  # type: ignore[attr-defined]
            self._groups.append((key_of, tuple(members), {}))

    def admitted(self, item: EnrichedEvent) -> set[int]:
        """Indexes (into the detectors) of those whose prefilter admits `item`."""
        detectors = self._detectors
        found = {i for i in self._single if detectors[i].prefilter(item)}
        for key_of, members, known in self._groups:
            key = key_of(item)
            hit = known.get(key)
            if hit is None:
                hit = frozenset(i for i in members if detectors[i].prefilter(item))
                if len(known) >= 10_000:
                    known.clear()
                known[key] = hit
            found |= hit
        return found


def _observer(detector: Detector) -> Observe:
    """What the engine calls for an event the detector's prefilter admitted: its optional `observe_routed`
    (which may skip the checks the prefilter made), else `observe`."""
    routed: Observe | None = getattr(detector, "observe_routed", None)
    return routed if routed is not None else detector.observe


def _object_filter(detector: Detector) -> Callable[[str | None], bool] | None:
    """A detector's optional `accepts_object(obj)`: False only when `observe` would return no match and
    change nothing for any event on that object."""
    return getattr(detector, "accepts_object", None)


@dataclass
class EngineChanges:
    """What changed since the last batch: window states, deleted keys, and the engine's own state."""

    windows: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    deleted: set[tuple[str, str]] = field(default_factory=set)
    engine: dict[str, Any] = field(default_factory=dict)
    buffered: list[tuple[int, int, str, list[Any]]] = field(default_factory=list)  # (seq, time, source, event)
    released: list[int] = field(default_factory=list)  # seqs that left the reorder buffer


@mypyc_attr(allow_interpreted_subclasses=True)  # compiled (setup.py): tests subclass it with an unrouted twin
class DetectionEngine:
    def __init__(self, detectors: Sequence[Detector], lateness_us: int, max_pending: int = 20_000) -> None:
        self.detectors = tuple(detectors)
        self.immediate = tuple(d for d in self.detectors if not d.windows())
        self.ordered = tuple(d for d in self.detectors if d.windows())
        self.lateness_us = lateness_us
        self.max_pending = max_pending
        self._heap: list[tuple[int, int, EnrichedEvent, str, tuple[Observe, ...]]] = []
        # changes of the reorder buffer since the last take_changes(), saved incrementally
        self._added: dict[int, tuple[int, EnrichedEvent, str]] = {}
        self._removed: list[int] = []
        self._seq = 0
        self.newest_us = 0
        self.released_us = 0  # time of the last event released to the detectors
        self.late = 0  # events older than what was already released (reach detectors out of order)
        self._since_expire = 0
        self._routes: dict[tuple[object, ...], _Route] = {}
        self._object_routes = 0  # entries in all `_Route.by_object`, bounded by MAX_OBJECT_ROUTES
        # per detector, looked up once: what to call, and the index of its object filter (-1: none)
        self._filters: list[Callable[[str | None], bool]] = []
        calls = []
        for d in self.immediate:
            accepts = _object_filter(d)
            if accepts is not None:
                self._filters.append(accepts)
            calls.append((_observer(d), len(self._filters) - 1 if accepts is not None else -1))
        self._immediate_calls = tuple(calls)
        self._ordered_calls = tuple(_observer(d) for d in self.ordered)
        self._admit_immediate = _Admission(self.immediate)
        self._admit_ordered = _Admission(self.ordered)
        self._rejected: dict[str | None, frozenset[int]] = {}  # object -> indexes of the filters refusing it
        self._stores = {name: store for d in self.detectors for name, store in d.windows().items()}
        self._owners = {name: d for d in self.detectors for name in d.windows()}

    def process(self, item: EnrichedEvent, source: str) -> list[tuple[Match, str]]:
        """Take one event; return its immediate matches and those of the events it released."""
        t = item.event.time_us
        if t > self.newest_us:
            self.newest_us = t
        immediate, ordered = self._route(item)
        out: list[tuple[Match, str]] = []
        for observe in immediate:
            found = observe(item)
            if found:
                out.extend((m, source) for m in found)
        if ordered:
            self._seq += 1
            heapq.heappush(self._heap, (t, self._seq, item, source, ordered))
            self._added[self._seq] = (t, item, source)
        if self._heap:
            out.extend(self._release(self.newest_us - self.lateness_us))
        return out

    def _route(self, item: EnrichedEvent) -> tuple[tuple[Observe, ...], tuple[Observe, ...]]:
        sig = signature(item)
        route = self._routes.get(sig)
        if route is None:
            immediate, ordered = self._admit_immediate.admitted(item), self._admit_ordered.admitted(item)
            route = _Route(tuple(call for i, call in enumerate(self._immediate_calls) if i in immediate),
                           tuple(observe for i, observe in enumerate(self._ordered_calls) if i in ordered))  # fmt: skip
            if len(self._routes) >= 100_000:
                self._routes.clear()
                self._object_routes = 0
            self._routes[sig] = route
        if not route.scoped:
            return route.observers, route.ordered
        obj = item.event.object
        narrowed = route.by_object.get(obj)
        if narrowed is None:
            if self._object_routes >= MAX_OBJECT_ROUTES:
                for known in self._routes.values():
                    known.by_object.clear()
                self._rejected.clear()
                self._object_routes = 0
            self._object_routes += 1
            rejected = self._rejected.get(obj)
            if rejected is None:
                rejected = frozenset(k for k, accepts in enumerate(self._filters) if not accepts(obj))
                self._rejected[obj] = rejected
            narrowed = tuple(observe for observe, k in route.immediate if k < 0 or k not in rejected)
            route.by_object[obj] = narrowed
        return narrowed, route.ordered

    def drain(self) -> list[tuple[Match, str]]:
        """Release everything (end of a replay, or the log went quiet for longer than the lateness)."""
        return self._release(None)

    def advance(self, watermark_us: int) -> list[tuple[Match, str]]:
        """Release what a wall-clock watermark says can no longer be overtaken (the daemon's idle tick)."""
        return self._release(watermark_us)

    @property
    def pending(self) -> int:
        return len(self._heap)

    @property
    def oldest_pending_us(self) -> int:
        """Event time of the oldest event held in the reorder buffer (check `pending` first)."""
        return self._heap[0][0]

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
            for observe in route:
                found = observe(item)
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
