"""Which rules an event can meet, so that it meets only those.

First by the event's dataset and action (a rule's logsource admits some of them): the rules of each
(dataset, action) pair form a bucket, built on first sight and kept. Within a bucket, a rule whose every
match needs a field to equal one of some values, or to contain one of some literals (compile.anchors_of),
is filed under those: a dictionary lookup per such field, and one RE2 set search per field for all the
literals at once. Only the rules filed under what the event holds, and the rules that cannot be filed, are
evaluated. Rules that need a number beyond a bound (`pii.rows|gt: 10000`) or a field to be present are filed
under those, so an event with few rows or without the field passes them by.

A rule whose tests of the dataset and action alone are false for a bucket's events is left out of it
(`decided`). What a field's value files an event under depends on that value alone, so it is remembered per
value (as the literal searches are per text); so is the merge of the lists of rules an event is filed under
when there are several, by the lists' identities."""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import re2

from pii_guard.sigma.compile import CompiledRule, Node
from pii_guard.sigma.getters import Getter
from pii_guard.sigma.values import EventView, field_getter, texts_of, values_of

R = TypeVar("R", bound=CompiledRule)
MAX_BUCKETS = 10_000
# The fields a bucket's key is made of: every event of a bucket holds the same values in them, so a rule whose
# tests of them alone are false for one of its events is false for all of them and is left out of the bucket.
BUCKET_FIELDS = frozenset({"event.dataset", "event.action"})
# Literal searches are remembered per field text (objects and masked statements repeat), for texts up to
# 1 KiB: at most 4 MiB per field and bucket.
MAX_REMEMBERED = 4096
MAX_REMEMBERED_TEXT = 1024
# What a field's value files an event under is remembered per value too, for texts up to 256 characters (and
# integers): names, objects, short statements; at most 1 MiB per field and bucket.
MAX_REMEMBERED_VALUE = 256


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


def _in_order(rules: Sequence[R]) -> list[R]:
    """Each rule once, in rule order."""
    return sorted({rule.order: rule for rule in rules}.values(), key=lambda rule: rule.order)


class _Bucket(Generic[R]):
    """The rules of one (dataset, action), filed by what they need. Every field the filing reads is read once
    per event (a probe); what its value files the event under (a few lists of rules, each in rule order)
    depends on that value alone, so it is remembered per text, as the literal searches are."""

    __slots__ = ("always", "eq", "exists", "merges", "probes", "ranges", "sub")

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
            search = re2.Set.SearchSet(options)
            owners: list[list[R]] = []
            for lit, owned in by_literal.items():
                search.Add(lit)
                owners.append(owned)
            search.Compile()
            self.sub.append((name, search, owners, {}))
        # per field read: its getter, and what it filed the event under by its recent texts
        names = dict.fromkeys([*self.exists, *self.ranges, *self.eq, *(name for name, _, _, _ in self.sub)])
        self.probes: list[tuple[str, Getter, dict[str | int, tuple[list[R], ...]]]] = [
            (name, field_getter(name), {}) for name in names]
        self.merges: dict[tuple[int, ...], tuple[tuple[list[R], ...], list[R]]] = {}

    def _filed(self, name: str, raw: Any) -> tuple[list[R], ...]:
        """The lists of rules field `name` holding `raw` files an event under."""
        found: list[list[R]] = []
        values = values_of(raw)
        if not values:
            return ()
        present = self.exists.get(name)
        if present is not None:
            found.append(present)
        ranges = self.ranges.get(name)
        if ranges is not None:
            beyond: list[R] = []
            for value in values:
                number = _number(value)
                if number is not None:
                    beyond += ranges.hits(number)
            if beyond:
                found.append(beyond if len(beyond) == 1 else _in_order(beyond))
        table = self.eq.get(name)
        if table is not None:
            for text in texts_of(raw):
                owned = table.get(text)
                if owned:
                    found.append(owned)
        for field, search, owners, recent in self.sub:
            if field == name:
                for text in texts_of(raw):
                    found.extend(owners[i] for i in self._search(search, recent, text))
        return tuple(found)

    @staticmethod
    def _search(search: re2.Set, recent: dict[str, tuple[int, ...]], text: str) -> tuple[int, ...]:
        which = recent.get(text)
        if which is None:
            which = tuple(search.Match(text) or ())
            if len(text) <= MAX_REMEMBERED_TEXT:
                if len(recent) >= MAX_REMEMBERED:
                    recent.clear()
                recent[text] = which
        return which

    def candidates(self, view: EventView) -> list[R]:
        """The bucket's rules filed under what the event holds, and those that cannot be filed, in rule order.
        The usual event is filed under one list or none, returned as it is: only several lists are merged."""
        item, ctx = view.item, view.ctx
        found: list[list[R]] = []
        for name, get, known in self.probes:
            raw = get(item, ctx)
            if raw is None:
                continue  # an absent field files nothing
            kind = raw.__class__
            if kind is str or kind is int:  # (not bool, nor float: True == 1 == 1.0, but their texts differ)
                filed = known.get(raw)
                if filed is None:
                    filed = self._filed(name, raw)
                    if kind is int or len(raw) <= MAX_REMEMBERED_VALUE:
                        if len(known) >= MAX_REMEMBERED:
                            known.clear()
                        known[raw] = filed
            else:
                filed = self._filed(name, raw)
            if filed:
                found += filed
        if not found:
            return self.always
        if len(found) == 1 and not self.always:
            return found[0]
        return self._merged(found)

    def _merged(self, found: list[list[R]]) -> list[R]:
        """The rules of several lists and the unfiled ones, in rule order; remembered by the lists' identities
        (each entry holds its lists, so no other list can take one's identity while the entry lives)."""
        key = tuple(map(id, found))
        entry = self.merges.get(key)
        if entry is None:
            if len(self.merges) >= MAX_REMEMBERED:
                self.merges.clear()
            entry = self.merges[key] = (tuple(found), _in_order([r for owned in (*found, self.always) for r in owned]))
        return entry[1]


def decided(node: Node, view: EventView) -> bool | None:
    """The value of a rule's condition (sub)tree for every event of the bucket of `view`'s event, when its
    tests of the fields all those events hold alike (BUCKET_FIELDS) decide it; None when they do not."""
    if node.op == "leaf":
        leaf = node.leaf
        if leaf is None or leaf.field not in BUCKET_FIELDS or leaf.others:
            return None
        return leaf.match(view)
    if node.op in ("true", "false"):
        return node.op == "true"
    values = [decided(arg, view) for arg in node.args]
    if node.op == "not":
        return None if values[0] is None else not values[0]
    final = node.op == "or"  # the value one argument gives the whole: True for or, False for and
    if final in values:
        return final
    return None if None in values else not final


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
            bucket = self._buckets[key] = _Bucket([r for r in self.rules if r.logsource is not None and
                                                   r.logsource.admits(*key) and decided(r.tree, view) is not False])
        return bucket.candidates(view)

    def may_see(self, action: str) -> bool:
        """Could any rule see an event with this action (from some dataset)? For the engine's prefilter."""
        hit = self._actions.get(action)
        if hit is None:
            hit = self._actions[action] = any(
                r.logsource is not None and (r.logsource.actions is None or action in r.logsource.actions)
                and action not in r.logsource.exclude_actions for r in self.rules)
        return hit
