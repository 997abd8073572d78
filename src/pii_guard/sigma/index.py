"""Which rules an event can meet, so that it meets only those.

First by the event's dataset and action (a rule's logsource admits some of them): the rules of each
(dataset, action) pair form a bucket, built on first sight and kept. Within a bucket, a rule whose every
match needs a field to equal one of some values, or to contain one of some literals (compile.anchors_of),
is filed under those: a dictionary lookup per such field, and one RE2 set search per field for all the
literals at once. Only the rules filed under what the event holds, and the rules that cannot be filed, are
evaluated. Rules that need a number beyond a bound (`pii.rows|gt: 10000`) or a field to be present are filed
under those, so an event with few rows or without the field passes them by."""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import re2

from pii_guard.sigma.compile import CompiledRule
from pii_guard.sigma.values import EventView

R = TypeVar("R", bound=CompiledRule)
MAX_BUCKETS = 10_000
# Literal searches are remembered per field text (objects and masked statements repeat), for texts up to
# 1 KiB: at most 4 MiB per field and bucket.
MAX_REMEMBERED = 4096
MAX_REMEMBERED_TEXT = 1024


_BEYOND: dict[str, Callable[[float, float], bool]] = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt,
                                                        "lte": operator.le}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class _Ranges(Generic[R]):
    """Rules that need a field's number beyond a bound: above ones sorted by bound, below ones too."""

    def __init__(self) -> None:
        self.above: list[tuple[float, bool, R]] = []  # (bound, inclusive, rule): value > bound (>= if inclusive)
        self.below: list[tuple[float, bool, R]] = []

    def add(self, kind: str, bound: float, rule: R) -> None:
        (self.above if kind in ("gt", "gte") else self.below).append((bound, kind in ("gte", "lte"), rule))

    def done(self) -> None:
        self.above.sort(key=lambda x: x[0])
        self.below.sort(key=lambda x: -x[0])
        self._above_keys = [b for b, _, _ in self.above]
        self._below_keys = [-b for b, _, _ in self.below]

    def hits(self, value: float) -> list[R]:
        out = [r for b, inc, r in self.above[: bisect.bisect_right(self._above_keys, value)] if value > b or inc]
        out += [r for b, inc, r in self.below[: bisect.bisect_right(self._below_keys, -value)] if value < b or inc]
        return out


class _Bucket(Generic[R]):
    __slots__ = ("always", "eq", "exists", "ranges", "sub")

    def __init__(self, rules: Sequence[R]) -> None:
        self.always: list[R] = []
        self.eq: dict[str, dict[str, list[R]]] = {}
        self.exists: dict[str, list[R]] = {}
        self.ranges: dict[str, _Ranges[R]] = {}
        literals: dict[str, dict[str, list[R]]] = {}
        for rule in rules:
            anchors = rule.anchors
            if anchors is None:
                self.always.append(rule)
                continue
            for name, kind, lit in anchors:
                if kind == "exists":
                    self.exists.setdefault(name, []).append(rule)
                elif kind in _BEYOND:
                    self.ranges.setdefault(name, _Ranges()).add(kind, float(lit), rule)
                else:
                    table = self.eq if kind == "eq" else literals
                    table.setdefault(name, {}).setdefault(lit, []).append(rule)
        for ranges in self.ranges.values():
            ranges.done()
        # per field: the literals' search, the rules owning each literal, and its recent answers by text
        self.sub: list[tuple[str, re2.Set, list[list[R]], dict[str, tuple[int, ...]]]] = []
        for name, by_literal in literals.items():
            options = re2.Options()
            options.dot_nl = True
            options.literal = True
            found = re2.Set.SearchSet(options)
            owners: list[list[R]] = []
            for lit, owned in by_literal.items():
                found.Add(lit)
                owners.append(owned)
            found.Compile()
            self.sub.append((name, found, owners, {}))

    def candidates(self, view: EventView) -> list[R]:
        if not (self.eq or self.sub or self.exists or self.ranges):
            return self.always
        hits: dict[int, R] = {}
        for name, present in self.exists.items():
            if view.values(name):
                for rule in present:
                    hits[rule.order] = rule
        for name, ranges in self.ranges.items():
            for value in view.values(name):
                number = _number(value)
                if number is not None:
                    for rule in ranges.hits(number):
                        hits[rule.order] = rule
        for name, table in self.eq.items():
            for text in view.texts(name):
                owned = table.get(text)
                if owned:
                    for rule in owned:
                        hits[rule.order] = rule
        for name, found, owners, recent in self.sub:
            for text in view.texts(name):
                which = recent.get(text)
                if which is None:
                    which = tuple(found.Match(text) or ())
                    if len(text) <= MAX_REMEMBERED_TEXT:
                        if len(recent) >= MAX_REMEMBERED:
                            recent.clear()
                        recent[text] = which
                for i in which:
                    for rule in owners[i]:
                        hits[rule.order] = rule
        if not hits:
            return self.always
        for rule in self.always:
            hits[rule.order] = rule
        return [hits[k] for k in sorted(hits)]


class RuleIndex(Generic[R]):
    def __init__(self, rules: Sequence[R]) -> None:
        self.rules = sorted(rules, key=lambda r: r.order)
        self._buckets: dict[tuple[str, str], _Bucket[R]] = {}
        self._actions: dict[str, bool] = {}

    def candidates(self, view: EventView) -> list[R]:
        ev = view.item.event
        key = (ev.dataset, ev.action)
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._buckets.clear()
            bucket = self._buckets[key] = _Bucket(
                [r for r in self.rules if r.logsource is not None and r.logsource.admits(*key)])
        return bucket.candidates(view)

    def may_see(self, action: str) -> bool:
        """Could any rule see an event with this action (from some dataset)? For the engine's prefilter."""
        hit = self._actions.get(action)
        if hit is None:
            hit = self._actions[action] = any(
                r.logsource is not None and (r.logsource.actions is None or action in r.logsource.actions)
                and action not in r.logsource.exclude_actions for r in self.rules)
        return hit
