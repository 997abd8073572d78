"""Sigma correlation rules in stream: event_count, value_count, temporal and temporal_ordered.

Each correlation keeps one keyed window store (rules/windows.py) named `sigma:<rule>`, keyed by its group-by
values, so the engine saves it with each batch and a restart neither forgets a half-built sequence nor counts
an event twice. Events reach correlations in event-time order (the engine's reorder buffer). A window is the
timespan ending at the newest event of the group.

When a correlation fires:
- event_count and value_count: when the condition becomes true for the group; again only after it has been
  false (one match per episode, as policy quotas). `eq 1` over a long timespan grouped by (user, IP) thus
  fires on a user's first event from an IP not seen for that long.
- temporal: when the group has seen enough of its rules (by default all) within the timespan; the occurrences
  are then used up, so a repeat of the whole set fires again.
- temporal_ordered: when the rules occurred in their listed order within the timespan (one event counts for
  one step only); the chain is then used up.
A correlation's own rules may be correlations (chains); a correlation referred to by another one raises no
match of its own, nor does a rule a correlation refers to, unless the correlation says `generate: true`.

A match's evidence is the events that made it fire (the newest EVIDENCE_KEPT of them), not every event of the
group within the timespan:
- event_count: the events counted in the window (ids kept beside the newest times only);
- value_count: one event per distinct value counted, the latest with that value (an event bringing several
  values is named once);
- temporal: the occurrence of each rule that was used up, the latest of each within the timespan;
- temporal_ordered: the events of the chain that fired, step by step; a step that is a correlation gives
  that correlation's own evidence (`carried`).
Windows saved by earlier versions load: their ids are taken as those of the newest times or values, and a
half-built temporal sequence keeps the group's ids as the evidence of each step it has reached.
"""

from __future__ import annotations

import bisect
import functools
import itertools
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sigma.correlations import SigmaCorrelationConditionOperator as Op
from sigma.correlations import SigmaCorrelationRule, SigmaCorrelationType

from pii_guard.rules.windows import EVIDENCE_KEPT, DistinctSet, KeyedWindows, id_bytes
from pii_guard.sigma.compile import LEVELS, rule_label
from pii_guard.sigma.values import EventView

_OPS: dict[Op, Callable[[float, float], bool]] = {
    Op.LT: lambda a, b: a < b, Op.LTE: lambda a, b: a <= b, Op.GT: lambda a, b: a > b,
    Op.GTE: lambda a, b: a >= b, Op.EQ: lambda a, b: a == b, Op.NEQ: lambda a, b: a != b,
}  # fmt: skip
_SYMBOL = {Op.LT: "<", Op.LTE: "≤", Op.GT: ">", Op.GTE: "≥", Op.EQ: "=", Op.NEQ: "≠"}
SUPPORTED = {SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT, SigmaCorrelationType.TEMPORAL,
             SigmaCorrelationType.TEMPORAL_ORDERED}
MAX_KEPT = 100_000  # event times kept per group at most (a count condition above this is refused)
_ID = 16  # bytes per kept event id


def _join(*blobs: bytes) -> bytes:
    """The newest EVIDENCE_KEPT distinct ids of `blobs` in order (a repeated id keeps its first place)."""
    joined = b"".join(blobs)
    if len(joined) <= _ID:  # one id (a step of a single event), or none
        return joined
    chunks = dict.fromkeys(joined[i : i + _ID] for i in range(0, len(joined), _ID))
    return b"".join(list(chunks)[-EVIDENCE_KEPT:])


def _tail(blob: bytes, count: int) -> bytes:
    """The last `count` ids of `blob`."""
    return blob[max(0, len(blob) - _ID * count) :]


def _split(blob: bytes) -> tuple[bytes, ...]:
    return tuple(dict.fromkeys(blob[i : i + _ID] for i in range(0, len(blob), _ID)))


class EventTimes:
    """The times of a group's events within the timespan (at most `cap` of the newest), for event_count. The
    evidence holds the ids of the newest min(len(times), EVIDENCE_KEPT) times, in the same order."""

    __slots__ = ("evidence", "fired", "last_us", "times")

    def __init__(self) -> None:
        self.times = array("q")
        self.evidence = b""
        self.fired = False
        self.last_us = 0

    def add(self, time_us: int, width_us: int, cap: int, event_id: str) -> bool:
        newest = time_us if time_us > self.last_us else self.last_us
        if time_us <= newest - width_us:
            return False  # older than the window already is
        times = self.times
        pos = bisect.bisect_right(times, time_us)
        times.insert(pos, time_us)
        newer = len(times) - 1 - pos
        if newer < EVIDENCE_KEPT:
            self._keep_id(newer, event_id)
        self.last_us = newest
        drop = bisect.bisect_right(times, newest - width_us)
        if len(times) - cap > drop:
            drop = len(times) - cap
        if drop:
            del times[:drop]
        self.evidence = _tail(self.evidence, min(len(times), EVIDENCE_KEPT))
        return True

    def _keep_id(self, newer: int, event_id: str) -> None:
        """Place the id of an event that has `newer` times after it, if it is among the newest kept."""
        if newer >= EVIDENCE_KEPT:
            return
        at = max(0, len(self.evidence) - _ID * newer)
        self.evidence = _tail(self.evidence[:at] + id_bytes(event_id) + self.evidence[at:], EVIDENCE_KEPT)

    @property
    def total(self) -> int:
        return len(self.times)

    def start_us(self) -> int:
        return self.times[0] if self.times else self.last_us

    def to_state(self) -> list[Any]:
        return [list(self.times), self.evidence.hex(), self.fired, self.last_us]

    @classmethod
    def from_state(cls, state: list[Any]) -> EventTimes:
        item = cls()
        item.times = array("q", state[0])
        # earlier versions kept the newest ids whatever the window: those of the newest times are the last ones
        item.evidence = _tail(bytes.fromhex(state[1]), min(len(item.times), EVIDENCE_KEPT))
        item.fired = bool(state[2])
        item.last_us = int(state[3])
        return item


class DistinctValues(DistinctSet):
    """A DistinctSet whose evidence holds one id per value: that of the latest event with each of the newest
    min(len(seen), EVIDENCE_KEPT) values, in the order of `seen`. The state is a DistinctSet's."""

    __slots__ = ()

    def add(self, time_us: int, value: str, width_us: int, cap: int, event_id: str) -> None:
        self._drop_id(value)
        super().add(time_us, value, width_us, cap, event_id)  # the value moves last, its id is appended
        self.evidence = _tail(self.evidence, len(self.seen))

    def _drop_id(self, value: str) -> None:
        kept = len(self.evidence) // _ID
        for back, seen in enumerate(itertools.islice(reversed(self.seen), kept)):
            if seen == value:
                at = _ID * (kept - 1 - back)
                self.evidence = self.evidence[:at] + self.evidence[at + _ID :]
                return

    @classmethod
    def from_state(cls, state: list[Any]) -> DistinctValues:
        item = cls()
        item.restore(state)
        item.evidence = _tail(item.evidence, min(len(item.seen), EVIDENCE_KEPT))  # as EventTimes.from_state
        return item


class RuleTimes:
    """Per rule of a temporal correlation: when it last occurred (temporal), or the latest start of an ordered
    chain through it (temporal_ordered); -1 for never. `steps`, per rule: the ids of that occurrence
    (temporal), or of the chain through it (temporal_ordered)."""

    __slots__ = ("fired", "last_us", "seen", "steps")

    def __init__(self, rules: int) -> None:
        self.seen = [-1] * rules
        self.steps = [b""] * rules
        self.fired = False
        self.last_us = 0

    def clear(self) -> None:
        self.seen = [-1] * len(self.seen)
        self.steps = [b""] * len(self.seen)

    def to_state(self) -> list[Any]:
        # the second item, the group's evidence in earlier versions, is kept for them: all the steps' ids
        return [self.seen, _join(*self.steps).hex(), self.fired, self.last_us, [s.hex() for s in self.steps]]

    @classmethod
    def from_state(cls, state: list[Any]) -> RuleTimes:
        item = cls(len(state[0]))
        item.seen = [int(x) for x in state[0]]
        if len(state) > 4:
            item.steps = [bytes.fromhex(s) for s in state[4]]
        else:  # earlier versions kept the group's ids since its last match: each step reached keeps them
            old = bytes.fromhex(state[1])
            item.steps = [old if s >= 0 else b"" for s in item.seen]
        item.fired = bool(state[2])
        item.last_us = int(state[3])
        return item


@dataclass
class Fired:
    """A correlation that fired on an event: what it counted and over which window."""

    correlation: CompiledCorrelation
    count: float
    window: tuple[int, int]
    evidence: tuple[bytes, ...]
    group: str


@dataclass
class CompiledCorrelation:
    label: str
    title: str
    rule: SigmaCorrelationRule
    kind: SigmaCorrelationType
    members: list[str]  # labels of the referenced rules and correlations, in the rule's order
    group_fields: dict[str, list[str]]  # member label → event field per group-by entry
    group_names: list[str]
    timespan_us: int
    op: Op
    threshold: float
    value_fields: list[str]  # value_count: the counted fields (event names)
    severity: str
    informational: bool
    tags: tuple[str, ...]
    order: int = 0
    store: KeyedWindows[Any] = field(default_factory=KeyedWindows)
    # derived, per event: the condition's test, and a group's new state
    _holds: Callable[[float, float], bool] = field(init=False, repr=False, compare=False)
    _new: Callable[[], Any] = field(init=False, repr=False, compare=False)
    _position: dict[str, int] = field(init=False, repr=False, compare=False)  # of each member (its first)
    _kept: int = field(init=False, repr=False, compare=False)  # times or values kept per group at most

    def __post_init__(self) -> None:
        self._holds = _OPS[self.op]
        self._position = {}
        for i, member in enumerate(self.members):
            self._position.setdefault(member, i)
        self._kept = int(self.threshold) + 1
        if self.kind is SigmaCorrelationType.EVENT_COUNT:
            self._new = EventTimes
        elif self.kind is SigmaCorrelationType.VALUE_COUNT:
            self._new = DistinctValues
        else:
            self._new = functools.partial(RuleTimes, len(self.members))

    @property
    def store_name(self) -> str:
        return self.label

    def condition_text(self) -> str:
        return f"{_SYMBOL[self.op]} {self.threshold:g}"

    def restore(self, key: str, state: list[Any]) -> None:
        if self.kind is SigmaCorrelationType.EVENT_COUNT:
            self.store.load(key, EventTimes.from_state(state))
        elif self.kind is SigmaCorrelationType.VALUE_COUNT:
            self.store.load(key, DistinctValues.from_state(state))
        else:
            self.store.load(key, RuleTimes.from_state(state))

    def _group(self, view: EventView, member: str) -> str:
        names = self.group_fields[member]
        if len(names) == 1:
            values = view.cased(names[0])
            return values[0] if values else ""
        parts = []
        for name in names:
            values = view.cased(name)
            parts.append(values[0] if values else "")
        return "\x1f".join(parts)

    def observe(self, view: EventView, hits: Sequence[str],
                carried: Mapping[str, tuple[bytes, ...]] | None = None) -> Fired | None:
        """Feed the members that matched this event; say whether the correlation fires on it. `carried`: the
        evidence of member correlations that fired on this event, kept as this one's evidence too."""
        present = [m for m in self.members if m in hits]
        if not present:
            return None
        ev = view.item.event
        if self.kind is SigmaCorrelationType.EVENT_COUNT:
            return self._count(self._group(view, present[0]), ev.time_us, ev.id)
        if self.kind is SigmaCorrelationType.VALUE_COUNT:
            return self._values(view, self._group(view, present[0]), ev.time_us, ev.id)
        return self._temporal(view, [m for m in reversed(self.members) if m in hits], ev.time_us, carried or {},
                              ev.id)

    def _cap(self) -> int:
        return self._kept

    def _episode(self, state: Any, count: float, group: str, start: int, end: int) -> Fired | None:
        if not self._holds(count, self.threshold):
            state.fired = False
            return None
        if state.fired:
            return None
        state.fired = True
        return Fired(self, count, (start, end), _split(state.evidence), group)

    def _count(self, group: str, time_us: int, event_id: str) -> Fired | None:
        state = self.store.get_or_add(group, self._new)
        if not state.add(time_us, self.timespan_us, self._kept, event_id):
            return None
        return self._episode(state, float(state.total), group, state.start_us(), time_us)

    def _values(self, view: EventView, group: str, time_us: int, event_id: str) -> Fired | None:
        values = ["\x1f".join(v) for v in zip(*(view.cased(f) for f in self.value_fields), strict=False)] \
            if len(self.value_fields) > 1 else list(view.cased(self.value_fields[0]))
        if not values:
            return None  # an event without the field adds no value (as COUNT(DISTINCT) skips NULL)
        state = self.store.get_or_add(group, self._new)
        if time_us <= state.last_us - self.timespan_us:
            return None
        for value in values:
            state.add(time_us, value, self.timespan_us, self._cap(), event_id)
        return self._episode(state, state.total, group, state.window_start_us(0), time_us)

    def _temporal(self, view: EventView, hits: list[str], time_us: int,
                  carried: Mapping[str, tuple[bytes, ...]], event_id: str) -> Fired | None:
        group = self._group(view, hits[0])
        state = self.store.get_or_add(group, self._new)
        if time_us > state.last_us:
            state.last_us = time_us
        steps = {m: _step_ids(m, carried, event_id) for m in hits}
        ordered = self.kind is SigmaCorrelationType.TEMPORAL_ORDERED
        live = self._chain(state, steps, time_us) if ordered else self._occur(state, steps, time_us)
        count = float(len(live))  # a float as value_count's (compiled code would convert it anyway)
        if not self._holds(count, self.threshold):
            return None
        evidence = state.steps[live[-1]] if ordered and live else _join(*(state.steps[i] for i in live))
        window = (min((state.seen[i] for i in live), default=time_us), time_us)
        fired = Fired(self, count, window, _split(evidence), group)
        state.clear()  # used up: a repeat of the whole set fires again
        first = self.members[0]
        if ordered and first in steps:  # this event may start the next chain
            state.seen[0], state.steps[0] = time_us, _join(steps[first])
        return fired

    def _occur(self, state: RuleTimes, steps: Mapping[str, bytes], time_us: int) -> list[int]:
        """temporal: note each rule's latest occurrence; the rules seen within the timespan."""
        seen = state.seen
        for member, ids in steps.items():
            i = self._position[member]
            if time_us >= seen[i]:
                seen[i], state.steps[i] = time_us, _join(ids)
        return [i for i, s in enumerate(seen) if s >= 0 and time_us - s <= self.timespan_us]

    def _chain(self, state: RuleTimes, steps: Mapping[str, bytes], time_us: int) -> list[int]:
        """temporal_ordered: extend the chains (last member first: one event fills one step of a chain, the
        latest chain through a step wins); the steps of the chain reached within the timespan."""
        seen, width = state.seen, self.timespan_us
        for member, ids in steps.items():
            i = self._position[member]
            if i == 0:
                seen[0], state.steps[0] = time_us, _join(ids)
            elif seen[i - 1] >= 0 and time_us - seen[i - 1] <= width and seen[i - 1] >= seen[i]:
                seen[i], state.steps[i] = seen[i - 1], _join(state.steps[i - 1], ids)
        done = 0
        while done < len(seen) and seen[done] >= 0 and time_us - seen[done] <= width:
            done += 1
        return list(range(done))


def _step_ids(member: str, carried: Mapping[str, tuple[bytes, ...]], event_id: str) -> bytes:
    """What an event brings to a step: the evidence of the member correlation that fired on it, or itself."""
    own = carried.get(member)
    return b"".join(own) if own else id_bytes(event_id)


def compile_correlation(rule: SigmaCorrelationRule, fallback: str, member_labels: Mapping[int, str],
                        member_fields: Callable[[str, str], str], order: int = 0) -> CompiledCorrelation:
    """`member_labels`: id() of each referenced pySigma rule → its label; `member_fields(label, sigma_field)`
    → the event field that Sigma field means in that member's events."""
    label = rule_label(rule, fallback)
    members = [member_labels[id(ref.rule)] for ref in rule.rules or []]
    by_reference: dict[str, str] = {}
    for ref in rule.rules or []:
        for key in (ref.reference, ref.rule.name, str(ref.rule.id) if ref.rule.id else None):
            if key:
                by_reference[key] = member_labels[id(ref.rule)]
    names = list(rule.group_by or [])
    aliases = {alias.alias: {by_reference.get(ref.reference, ref.reference): fname
                             for ref, fname in alias.mapping.items()} for alias in rule.aliases}
    group_fields = {m: [member_fields(m, aliases[n].get(m, n) if n in aliases else n) for n in names]
                    for m in members}
    cond = rule.condition
    op = getattr(cond, "op", Op.GTE)
    threshold = float(getattr(cond, "count", len(members)))
    fieldref = getattr(cond, "fieldref", None)
    refs = [fieldref] if isinstance(fieldref, str) else list(fieldref or [])
    value_fields = [member_fields(members[0], r) for r in refs] if members else []
    level = rule.level.name.lower() if rule.level is not None else "medium"
    return CompiledCorrelation(
        label=label, title=rule.title or label, rule=rule, kind=rule.type, members=members,
        group_fields=group_fields, group_names=names, timespan_us=rule.timespan.seconds * 1_000_000, op=op,
        threshold=threshold, value_fields=value_fields, severity=LEVELS.get(level, "medium"),
        informational=level == "informational", tags=tuple(str(t) for t in rule.tags), order=order,
    )
