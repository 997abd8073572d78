"""Stateful policy detectors: per-role quotas over windows, and bulk-export anomalies."""

from __future__ import annotations

import statistics
from typing import Any

from pii_guard.model import FAILURE, EnrichedEvent, Match
from pii_guard.policy.context import PolicyContext, count, make_match, span, who
from pii_guard.policy.models import BulkExport, BulkRule, Exception_, Quota
from pii_guard.rules.matchers import GlobSet
from pii_guard.rules.windows import DistinctSet, KeyedWindows, SlidingSum, evidence_ids

BUCKETS = 20  # per window: the window slides in steps of 1/20 of its width


def _amount(item: EnrichedEvent, measure: str) -> float:
    ev = item.event
    if measure == "records":
        return float(ev.rows) if ev.rows is not None else 1.0
    if measure == "rows":
        return float(ev.rows or 0)
    if measure == "bytes":
        return float(ev.bytes or 0)
    return 1.0


_UNIT = {"records": "records", "rows": "rows", "bytes": "bytes", "events": "accesses",
         "distinct_objects": "distinct objects"}



def escalation(total: float, limit: float) -> int:
    """The step of an episode over `limit`: 1 up to twice the limit, 2 up to four times, and so on. A window
    reports the crossing and then each doubling, so a slow export keeps adding its volume and evidence to
    its incident (whose severity grows with it) instead of stopping at the first few records over."""
    step, bound = 1, 2 * limit
    while total > bound > 0 and step < 64:
        step += 1
        bound *= 2
    return step

class QuotaDetector:
    """'support may view at most 200 records of personal data an hour', counted per user."""

    kind = "quota"

    def __init__(self, role: str, quota: Quota, ctx: PolicyContext, max_keys: int = 200_000) -> None:
        self.role = role
        self.quota = quota
        self.ctx = ctx
        self._cats = frozenset(quota.categories)
        self._objects = GlobSet(quota.objects)
        self._scoped = bool(self._objects)
        self._actions = frozenset(ctx.defaults.view_actions)
        self._bucket_us = max(1, quota.per // BUCKETS)
        self._state: KeyedWindows[Any] = KeyedWindows(max_keys)
        self._distinct = quota.measure == "distinct_objects"
        self.exercised: set[str] = set()
        self.peak = 0.0  # highest window total seen, for `rules test`

    def branches(self) -> set[str]:
        return {self.quota.id}

    def why_not(self, item: EnrichedEvent) -> str | None:
        if not self._applies(item):
            return None
        user = item.event.user or ""
        window = self._state.get(user)
        total = window.total if window is not None else 0.0
        return f"{user} at {count(total)} of {count(self.quota.max)} {_UNIT[self.quota.measure]} in the window"

    def windows(self) -> dict[str, KeyedWindows]:  # type: ignore[type-arg]
        return {self.quota.id: self._state}

    def restore(self, store: str, key: str, state: list[Any]) -> None:
        self._state.load(key, DistinctSet.from_state(state) if self._distinct else SlidingSum.from_state(state))

    def expire(self, watermark_us: int) -> None:
        self._state.evict_idle(watermark_us - self.quota.per)

    @staticmethod
    def prefilter_key(item: EnrichedEvent) -> object:
        """What `prefilter` reads of an event (the engine decides all quotas of one key together)."""
        ev, data = item.event, item.data
        roles = item.user.roles if item.user is not None else None
        return ev.outcome, ev.action, roles, data.classified, data.categories

    def prefilter(self, item: EnrichedEvent) -> bool:
        ev = item.event
        if ev.outcome == FAILURE or ev.action not in self._actions or item.user is None:
            return False
        if self.role not in item.user.roles:
            return False
        cats = item.data.categories if item.data.classified else self.ctx.unclassified  # ctx.categories(item)
        return bool(cats) and (not self._cats or not self._cats.isdisjoint(cats))

    def _applies(self, item: EnrichedEvent) -> bool:
        ev = item.event
        if ev.outcome == FAILURE or ev.action not in self._actions or ev.user is None:
            return False  # a refused attempt never counts towards a quota
        if item.user is None or self.role not in item.user.roles:
            return False
        if self._scoped and not self._objects(ev.object):
            return False
        cats = item.data.categories if item.data.classified else self.ctx.unclassified  # ctx.categories(item)
        return bool(cats) and (not self._cats or not self._cats.isdisjoint(cats))

    def observe(self, item: EnrichedEvent) -> list[Match]:
        return self._count(item) if self._applies(item) else []

    def observe_routed(self, item: EnrichedEvent) -> list[Match]:
        """`observe` for an event `prefilter` admitted (outcome, action, role and categories are known to
        apply): the engine's route, once per event for each of a role's quotas."""
        ev = item.event
        if ev.user is None or (self._scoped and not self._objects(ev.object)):
            return []
        return self._count(item)

    def _count(self, item: EnrichedEvent) -> list[Match]:
        ev = item.event
        user = ev.user or ""
        q = self.quota
        if self._distinct:
            distinct = self._state.get_or_add(user, DistinctSet)
            distinct.add(ev.time_us, ev.object or "", q.per, int(q.max) * 2 + 1, ev.id)
            window: SlidingSum | DistinctSet = distinct
        else:
            sliding = self._state.get_or_add(user, SlidingSum)
            records = q.measure == "records"  # the common measure, without a call
            amount = (float(ev.rows) if ev.rows is not None else 1.0) if records else _amount(item, q.measure)
            sliding.add(ev.time_us, amount, self._bucket_us, BUCKETS, ev.id)
            window = sliding
        total = window.total
        if total > self.peak:
            self.peak = total
        if total <= q.max:
            window.fired = 0
            return []
        step = escalation(total, q.max)
        if window.fired >= step:
            return []
        window.fired = step
        self.exercised.add(q.id)
        cats = tuple(sorted(self._cats.intersection(self.ctx.categories(item)))) if self._cats else \
            self.ctx.categories(item)
        what = ", ".join(cats) if cats else "classified"
        sentence = (f"{who(item)} read {count(window.total)} {_UNIT[q.measure]} of {what} data in "
                    f"{span(q.per)}, quota {count(q.max)}")
        start = max(window.window_start_us(self._bucket_us), ev.time_us - q.per)
        return [make_match(item, self.ctx, rule_id=q.id, kind=self.kind, severity=q.severity, sentence=sentence,
                           categories=cats, key=user + f"@{start}", volume=window.total, unit=_UNIT[q.measure],
                           limit=q.max, window=(start, ev.time_us), evidence=evidence_ids(window.evidence))]


class BaselineState:
    """Per-user daily volumes (policy-zone days) and the last day a match fired."""

    __slots__ = ("days", "fired_day", "last_us")

    def __init__(self) -> None:
        self.days: dict[int, float] = {}
        self.fired_day = 0
        self.last_us = 0

    def to_state(self) -> list[Any]:
        return [[[d, v] for d, v in self.days.items()], self.fired_day, self.last_us]

    @classmethod
    def from_state(cls, state: list[Any]) -> BaselineState:
        item = cls()
        item.days = {int(d): float(v) for d, v in state[0]}
        item.fired_day = int(state[1])
        item.last_us = int(state[2])
        return item


class BulkExportDetector:
    """One big export, many small ones that add up over a window, or far above the user's own baseline."""

    kind = "bulk_export"

    def __init__(self, rule: BulkRule, weights: BulkExport, ctx: PolicyContext, max_keys: int = 200_000) -> None:
        self.rule = rule
        self.ctx = ctx
        self._export_w = weights.export_weight
        self._read_w = weights.read_weight
        self._cats = frozenset(rule.categories)
        self._state: KeyedWindows[Any] = KeyedWindows(max_keys)
        self._width = rule.per or rule.history
        self._bucket_us = max(1, self._width // BUCKETS)
        self._history_days = max(1, rule.history // 86_400_000_000)
        # a window or a baseline adds up rows or bytes: an event whose log gives none adds nothing (`_measures`)
        self._measured = rule.measure if rule.kind != "per_access" and rule.measure in ("rows", "bytes") else None
        self.exercised: set[str] = set()

    def branches(self) -> set[str]:
        labels = {self.rule.id} | {f"{self.rule.id}:exception:{i}" for i in range(len(self.rule.exceptions))}
        if self.rule.kind == "per_access" and self.rule.on_unknown_volume == "alert":
            labels.add(f"{self.rule.id}:unknown-volume")
        return labels

    def _excepted(self, item: EnrichedEvent) -> Exception_ | None:
        """The exception that allows this export (a backup job's dump), noted as exercised."""
        exceptions = self.rule.exceptions
        exc = self.ctx.excepted(exceptions, item) if exceptions else None
        if exc is not None:
            self.exercised.add(f"{self.rule.id}:exception:{exceptions.index(exc)}")
        return exc

    def prefilter(self, item: EnrichedEvent) -> bool:
        if self.weight(item) <= 0.0 or not self._measures(item):
            return False
        cats = self.ctx.categories(item)
        return bool(cats) and not (self._cats and self._cats.isdisjoint(cats))

    def _measures(self, item: EnrichedEvent) -> bool:
        """Whether the log gives this rule's measure for the event at all (a web download has bytes but no
        rows, a SELECT rows but no bytes): a window or a baseline of rows or bytes only adds what is given."""
        measured = self._measured
        if measured is None:
            return True
        return (item.event.rows if measured == "rows" else item.event.bytes) is not None

    def why_not(self, item: EnrichedEvent) -> str | None:
        weight = self.weight(item)
        cats = self.ctx.categories(item)
        if weight <= 0.0 or not cats or (self._cats and self._cats.isdisjoint(cats)):
            return None
        exc = self.ctx.excepted(self.rule.exceptions, item)
        if exc is not None:
            return f"exception: {exc.reason}"
        volume = _amount(item, self.rule.measure) * weight
        if self.rule.kind != "per_access" and volume <= 0.0:
            return f"no {self.rule.measure} in this access: nothing to add up"
        if self.rule.kind == "per_access":
            return f"{count(volume)} {self.rule.measure} in one access, limit {count(self.rule.max or 0)}"
        state = self._state.get(item.event.user or "")
        total = getattr(state, "total", None)
        if total is not None:
            return f"{count(total)} {self.rule.measure} in the window, limit {count(self.rule.max or 0)}"
        return "below the user's baseline or not enough history"

    def windows(self) -> dict[str, KeyedWindows]:  # type: ignore[type-arg]
        return {} if self.rule.kind == "per_access" else {self.rule.id: self._state}

    def restore(self, store: str, key: str, state: list[Any]) -> None:
        loader = BaselineState.from_state if self.rule.kind == "baseline" else SlidingSum.from_state
        self._state.load(key, loader(state))

    def expire(self, watermark_us: int) -> None:
        self._state.evict_idle(watermark_us - self._width - 86_400_000_000)

    def weight(self, item: EnrichedEvent) -> float:
        """Exports (COPY TO, INTO OUTFILE) and downloads (file or URL reads with a byte count) weigh as
        exports; plain reads weigh `read_weight`; other actions do not count."""
        ev = item.event
        if ev.outcome == FAILURE:
            return 0.0
        if ev.action == "export":
            return self._export_w
        if ev.action == "read":
            if ev.bytes is not None and ev.object is not None and ev.object.startswith(("file:", "url:", "s3:")):
                return self._export_w
            return self._read_w
        return 0.0

    def observe(self, item: EnrichedEvent) -> list[Match]:
        weight = self.weight(item)
        if weight <= 0.0 or item.event.user is None:
            return []
        cats = self.ctx.categories(item)
        if not cats or (self._cats and self._cats.isdisjoint(cats)):
            return []
        if self.rule.exceptions and self._excepted(item) is not None:
            return []  # allowed, and not counted towards a window or the user's baseline either
        volume = _amount(item, self.rule.measure) * weight
        kind = self.rule.kind
        if kind != "per_access" and volume <= 0.0:
            return []  # adds nothing: not counted as evidence, nor as a day of the user's baseline
        if kind == "per_access":
            return self._per_access(item, volume, cats)
        if kind == "cumulative":
            return self._cumulative(item, volume, cats)
        return self._baseline(item, volume, cats)

    def _per_access(self, item: EnrichedEvent, volume: float, cats: tuple[str, ...]) -> list[Match]:
        rule = self.rule
        ev = item.event
        unit = rule.measure
        if volume == 0 and ev.action == "export" and rule.on_unknown_volume == "alert":
            sentence = (f"{who(item)} exported {', '.join(cats)} data ({ev.object or 'unnamed object'}); "
                        f"the log does not say how many {unit}")
            self.exercised.add(f"{rule.id}:unknown-volume")
            return [make_match(item, self.ctx, rule_id=rule.id, kind=self.kind, severity=rule.severity,
                               sentence=sentence, unit=unit, limit=rule.max)]
        if rule.max is None or volume <= rule.max:
            return []
        sentence = (f"{who(item)} exported {count(volume)} {unit} of {', '.join(cats)} data "
                    f"({ev.object or 'unnamed object'}) in one access, limit {count(rule.max)}")
        self.exercised.add(rule.id)
        return [make_match(item, self.ctx, rule_id=rule.id, kind=self.kind, severity=rule.severity,
                           sentence=sentence, volume=volume, unit=unit, limit=rule.max)]

    def _cumulative(self, item: EnrichedEvent, volume: float, cats: tuple[str, ...]) -> list[Match]:
        rule = self.rule
        ev = item.event
        user = ev.user or ""
        window = self._state.get(user)
        if window is None:
            window = SlidingSum()
            self._state.put(user, window)
        else:
            self._state.touch(user)
        window.add(ev.time_us, volume, self._bucket_us, BUCKETS, ev.id)
        assert rule.max is not None
        assert rule.per is not None
        if window.total <= rule.max:
            window.fired = 0
            return []
        step = escalation(window.total, rule.max)
        if window.fired >= step:
            return []
        window.fired = step
        self.exercised.add(rule.id)
        start = max(window.window_start_us(self._bucket_us), ev.time_us - rule.per)
        sentence = (f"{who(item)} exported {count(window.total)} {rule.measure} of {', '.join(cats)} data in "
                    f"{span(rule.per)}, limit {count(rule.max)}")
        return [make_match(item, self.ctx, rule_id=rule.id, kind=self.kind, severity=rule.severity,
                           sentence=sentence, key=f"{user}@{start}", volume=window.total, unit=rule.measure,
                           limit=rule.max, window=(start, ev.time_us), evidence=evidence_ids(window.evidence))]

    def _baseline(self, item: EnrichedEvent, volume: float, cats: tuple[str, ...]) -> list[Match]:
        rule = self.rule
        ev = item.event
        user = ev.user or ""
        state = self._state.get(user)
        if state is None:
            state = BaselineState()
            self._state.put(user, state)
        else:
            self._state.touch(user)
        _, _, today = self.ctx.local(ev.time_us)
        state.days[today] = state.days.get(today, 0.0) + volume
        state.last_us = max(state.last_us, ev.time_us)
        for day in [d for d in state.days if d <= today - self._history_days - 1]:
            del state.days[day]
        history = [v for d, v in state.days.items() if d < today]
        if len(history) < rule.min_history_days or state.fired_day == today:
            return []
        median = statistics.median(history)
        assert rule.factor is not None
        total = state.days[today]
        if total < rule.min_volume or total <= rule.factor * median:
            return []
        state.fired_day = today
        self.exercised.add(rule.id)
        sentence = (f"{who(item)} exported {count(total)} {rule.measure} of {', '.join(cats)} data today, "
                    f"{total / median if median else float('inf'):,.1f}x their median of {count(median)} "
                    f"over the last {len(history)} active day(s)")
        return [make_match(item, self.ctx, rule_id=rule.id, kind=self.kind, severity=rule.severity,
                           sentence=sentence, key=f"{user}@{today}", volume=total, unit=rule.measure,
                           limit=rule.factor * median)]
