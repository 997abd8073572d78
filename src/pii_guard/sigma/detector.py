"""Sigma rules as pii-guard detectors, and their findings as Matches that open incidents like policy matches.

Two detectors, so the engine treats each as it should: `SigmaDetector` holds the rules that judge one event
alone; it keeps no windows, so the engine runs it as soon as an event arrives. `CorrelationDetector` holds the
correlations and the rules they refer to; it keeps windows, so the engine feeds it in event-time order
through the reorder buffer and saves its windows with each batch.

A match's rule id is `sigma:` + the rule's name (or its id), its kind `sigma`, its severity the rule's level
(informational rules raise no match of their own: Sigma says they must not alert; they can feed
correlations). Tags are kept at the end of the sentence. A refused request still counts as an attempt
(`attempt`) but keeps the rule's level: a rule about failed logins is about failures.

Whether a rule matches an event depends on the event alone, so the two detectors of one rule set need not
each read the event's fields and search their index: `SigmaDetector`, which sees the event first, runs one
pass over its own rules and those the correlations refer to, and hands the latter's hits over (`Handoff`,
by the event's identity) to `CorrelationDetector`, which takes them when the event leaves the reorder
buffer. An event it was not handed (restored from the buffer, never seen by SigmaDetector, or dropped from
a full handoff) is judged by CorrelationDetector itself, with the same result."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from pii_guard.model import EnrichedEvent, Match
from pii_guard.policy.context import PolicyContext, count, make_match, span, verb, who
from pii_guard.rules.windows import KeyedWindows
from pii_guard.sigma.compile import CompiledRule, Predicate, compile_parts
from pii_guard.sigma.correlate import CompiledCorrelation, Fired
from pii_guard.sigma.index import RuleIndex
from pii_guard.sigma.ruleset import RuleSet
from pii_guard.sigma.values import EventView

KIND = "sigma"
MAX_HANDED = 1 << 15  # events handed over and not yet taken, at most (more than the engine's reorder buffer)
MAX_REACHED = 4096  # sets of rules met together, remembered with the correlations they can reach


def _sentence_tail(tags: Sequence[str]) -> str:
    return f" [{', '.join(tags)}]" if tags else ""


def _target(item: EnrichedEvent) -> str:
    """What was touched: the object, or else the statement (masked; `SET GLOBAL server_audit_logging=OFF`
    says more than `SET`), or else the command."""
    ev = item.event
    statement = " ".join(ev.statement.split()) if ev.statement else ""
    if len(statement) > 120:
        statement = statement[:119] + "…"
    what = ev.object or (statement and f"`{statement}`") or (ev.command and f"`{ev.command}`") or "something"
    origin = f" from {ev.source_ip}" if ev.source_ip else ""
    return f"{what}{origin}"


def sigma_match(item: EnrichedEvent, ctx: PolicyContext, *, rule_id: str, severity: str, sentence: str,
                key: str = "", volume: float | None = None, unit: str | None = None, limit: float | None = None,
                window: tuple[int, int] | None = None, evidence: tuple[str, ...] | None = None) -> Match:
    """policy.context.make_match of kind `sigma`, but a refused attempt keeps the rule's severity."""
    return make_match(item, ctx, rule_id=rule_id, kind=KIND, severity=severity, sentence=sentence, key=key,
                      volume=volume, unit=unit, limit=limit, window=window, evidence=evidence,
                      attempt_keeps_severity=True)


def rule_match(rule: CompiledRule, item: EnrichedEvent, ctx: PolicyContext) -> Match:
    sentence = f"{rule.title}: {who(item)} {verb(item)} {_target(item)}{_sentence_tail(rule.tags)}"
    return sigma_match(item, ctx, rule_id=rule.label, severity=rule.severity, sentence=sentence)


def correlation_match(fired: Fired, item: EnrichedEvent, ctx: PolicyContext, titles: dict[str, str]) -> Match:
    c = fired.correlation
    kind = c.kind.name.lower()
    if kind == "event_count":
        what = f"{count(fired.count)} matching events (condition {c.condition_text()})"
        unit = "events"
    elif kind == "value_count":
        what = f"{count(fired.count)} distinct {', '.join(c.value_fields)} (condition {c.condition_text()})"
        unit = "distinct values"
    else:
        sep = " → " if kind == "temporal_ordered" else ", "
        what = sep.join(titles.get(m, m) for m in c.members[: int(fired.count)])
        what += " in this order" if kind == "temporal_ordered" else ""
        unit = "rules"
    group = ", ".join(f"{n}={v or '-'}" for n, v in zip(c.group_names, fired.group.split("\x1f"), strict=False))
    sentence = (f"{c.title}: {what} within {span(c.timespan_us)}"
                f"{' for ' + group if group else ''}; last: {who(item)} {verb(item)} {_target(item)}"
                f"{_sentence_tail(c.tags)}")
    evidence = tuple(b.hex() for b in fired.evidence) or (item.event.id,)
    return sigma_match(item, ctx, rule_id=c.label, severity=c.severity, sentence=sentence, key=fired.group,
                       volume=fired.count, unit=unit, limit=c.threshold, window=fired.window, evidence=evidence)


class Handoff:
    """The referenced rules each event met, by the event's identity, from the detector that judged it on
    arrival to the one that takes it later. An entry holds the event itself, so no other event can have its
    identity while the entry lives; the oldest entries are dropped beyond `limit` (then judged again)."""

    def __init__(self, wanted: Callable[[EnrichedEvent], bool], limit: int | None = None) -> None:
        self.wanted = wanted  # will the taker see this event? (its prefilter)
        self.limit = MAX_HANDED if limit is None else limit
        self._held: dict[int, tuple[EnrichedEvent, tuple[str, ...]]] = {}
        self.misses = 0  # events taken that had not been handed over (or were dropped): judged again

    def __len__(self) -> int:
        return len(self._held)

    def put(self, item: EnrichedEvent, hits: tuple[str, ...]) -> None:
        held = self._held
        held[id(item)] = (item, hits)
        if len(held) > self.limit:
            del held[next(iter(held))]

    def take(self, item: EnrichedEvent) -> tuple[str, ...] | None:
        """The labels of the referenced rules `item` met, if it was handed over; None if not."""
        entry = self._held.pop(id(item), None)
        if entry is None or entry[0] is not item:
            self.misses += 1
            return None
        return entry[1]


class _RuleRunner:
    """What both detectors share: an index over rules, `rules test` bookkeeping, per-part explanations."""

    kind = KIND

    def __init__(self, rules: Sequence[CompiledRule], ruleset: RuleSet, ctx: PolicyContext) -> None:
        self.ctx = ctx
        self.ruleset = ruleset
        self.index: RuleIndex[CompiledRule] = RuleIndex(rules)
        self.exercised: set[str] = set()
        self._parts: dict[str, dict[str, Predicate]] = {}

    def prefilter(self, item: EnrichedEvent) -> bool:
        return self.index.may_see(item.event.action)

    def _hits(self, view: EventView) -> list[CompiledRule]:
        return [rule for rule in self.index.candidates(view) if rule.predicate(view)]

    def why_not_each(self, item: EnrichedEvent) -> dict[str, str]:
        """For each rule whose logsource covers this event and that did not match: which detections held."""
        view = EventView(item, self.ctx)
        ev = item.event
        out: dict[str, str] = {}
        for rule in self.index.rules:
            if rule.logsource is None or not rule.logsource.admits(ev.dataset, ev.action) or rule.predicate(view):
                continue
            parts = self._parts.get(rule.label)
            if parts is None:
                parts = self._parts[rule.label] = compile_parts(rule, self.ruleset.mapping)
            held = ", ".join(f"{name} {'yes' if p(view) else 'no'}" for name, p in parts.items())
            out[rule.label] = f"condition `{' / '.join(rule.rule.detection.condition)}` false: {held}"
        return out

    def why_not(self, item: EnrichedEvent) -> str | None:
        reasons = self.why_not_each(item)
        return next(iter(reasons.values()), None)

    def expire(self, watermark_us: int) -> None:
        return None

    def restore(self, store: str, key: str, state: list[object]) -> None:
        return None

    def windows(self) -> dict[str, KeyedWindows]:  # type: ignore[type-arg]
        return {}


class SigmaDetector(_RuleRunner):
    """The rules that judge each event alone (no correlation refers to them, or one says generate: true).
    With a `handoff`, it also judges the rules the correlations refer to (`feeds`), in the same pass."""

    def __init__(self, rules: Sequence[CompiledRule], ruleset: RuleSet, ctx: PolicyContext,
                 feeds: Sequence[CompiledRule] = (), handoff: Handoff | None = None) -> None:
        super().__init__(rules, ruleset, ctx)
        self._own = frozenset(r.label for r in rules)
        self._feeds = frozenset(r.label for r in feeds) if handoff is not None else frozenset()
        self._handoff = handoff
        self._pass: RuleIndex[CompiledRule] = self.index if not self._feeds else \
            RuleIndex([*rules, *(r for r in feeds if r.label not in self._own)])

    def branches(self) -> set[str]:
        return {r.label for r in self.index.rules if not r.informational}

    def labels(self) -> list[str]:
        return [r.label for r in self.index.rules]

    def observe(self, item: EnrichedEvent) -> list[Match]:
        view = EventView(item, self.ctx)
        out: list[Match] = []
        own, feeds = self._own, self._feeds
        fed: list[str] = []
        for rule in self._pass.candidates(view):
            if rule.predicate(view):
                label = rule.label
                if label in feeds:
                    fed.append(label)
                if label in own:
                    self.exercised.add(label)
                    if not rule.informational:
                        out.append(rule_match(rule, item, self.ctx))
        handoff = self._handoff
        if handoff is not None and handoff.wanted(item):
            handoff.put(item, tuple(fed))
        return out


class CorrelationDetector(_RuleRunner):
    """Correlations and the rules they refer to, on keyed event-time windows saved with each batch."""

    def __init__(self, ruleset: RuleSet, ctx: PolicyContext, handoff: Handoff | None = None) -> None:
        referenced = ruleset.referenced
        super().__init__([r for r in ruleset.rules if r.label in referenced], ruleset, ctx)
        self.handoff = handoff
        # each detector keeps its own windows (a rule set may be run more than once, e.g. by `rules test`)
        self.correlations = [replace(c, store=KeyedWindows()) for c in ruleset.correlations]
        self._members = [frozenset(c.members) for c in self.correlations]
        self._reached: dict[tuple[str, ...], tuple[tuple[CompiledCorrelation, frozenset[str]], ...]] = {}
        emitting = ruleset.emitting()
        self._emit = {c.label for c in self.correlations if c.label in emitting}
        self._titles = {r.label: r.title for r in ruleset.rules} | {c.label: c.title for c in self.correlations}
        self._stores = {c.store_name: c for c in self.correlations}

    def branches(self) -> set[str]:
        return set(self._emit)

    def labels(self) -> list[str]:
        return [c.label for c in self.correlations]

    def windows(self) -> dict[str, KeyedWindows]:  # type: ignore[type-arg]
        return {c.store_name: c.store for c in self.correlations}

    def restore(self, store: str, key: str, state: list[Any]) -> None:
        owner = self._stores.get(store)
        if owner is not None:
            owner.restore(key, state)

    def expire(self, watermark_us: int) -> None:
        for c in self.correlations:
            c.store.evict_idle(watermark_us - c.timespan_us)

    def why_not_each(self, item: EnrichedEvent) -> dict[str, str]:
        return {}

    def _reachable(self, hits: tuple[str, ...]) -> tuple[tuple[CompiledCorrelation, frozenset[str]], ...]:
        """The correlations (in their order, with their members) that rules `hits` can feed, directly or
        through correlations they feed: the only ones an event meeting them can reach."""
        found = self._reached.get(hits)
        if found is None:
            labels, reached = set(hits), set()
            while True:
                more = {i for i, m in enumerate(self._members) if i not in reached and not m.isdisjoint(labels)}
                if not more:
                    break
                reached |= more
                labels.update(self.correlations[i].label for i in more)
            found = tuple((c, m) for i, (c, m) in enumerate(zip(self.correlations, self._members, strict=True))
                          if i in reached)
            if len(self._reached) >= MAX_REACHED:
                self._reached.clear()
            self._reached[hits] = found
        return found

    def observe(self, item: EnrichedEvent) -> list[Match]:
        handed = self.handoff.take(item) if self.handoff is not None else None
        if handed is None:
            view = EventView(item, self.ctx)
            hits = [r.label for r in self._hits(view)]
        elif handed:
            view = EventView(item, self.ctx)
            hits = list(handed)
        else:
            return []
        if not hits:
            return []
        self.exercised.update(hits)
        out: list[Match] = []
        carried: dict[str, tuple[bytes, ...]] = {}
        seen = set(hits)
        for c, members in self._reachable(tuple(hits)):  # referenced ones come first
            if members.isdisjoint(seen):
                continue
            fired = c.observe(view, hits, carried)
            if fired is None:
                continue
            hits.append(c.label)
            seen.add(c.label)
            carried[c.label] = fired.evidence
            self.exercised.add(c.label)
            if c.label in self._emit and not c.informational:
                out.append(correlation_match(fired, item, self.ctx, self._titles))
        return out


def sigma_detectors(ruleset: RuleSet, ctx: PolicyContext) -> list[SigmaDetector | CorrelationDetector]:
    """The detectors of a rule set: SigmaDetector for the rules that match on their own, CorrelationDetector
    for the correlations; the first hands the second what the correlations' rules met (see above)."""
    emitting = ruleset.emitting()
    single = [r for r in ruleset.rules if r.label in emitting]
    correlated = CorrelationDetector(ruleset, ctx) if ruleset.correlations else None
    out: list[SigmaDetector | CorrelationDetector] = []
    if single:
        if correlated is not None:
            correlated.handoff = Handoff(correlated.prefilter)
            out.append(SigmaDetector(single, ruleset, ctx, correlated.index.rules, correlated.handoff))
        else:
            out.append(SigmaDetector(single, ruleset, ctx))
    if correlated is not None:
        out.append(correlated)
    return out
