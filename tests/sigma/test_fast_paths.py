"""The shortcuts of Sigma evaluation give the answers of the long way: the hits SigmaDetector hands over to
CorrelationDetector, what the index remembers per field value and per set of rule lists, and the rules it
leaves out of a bucket because the bucket's dataset and action decide them."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

import pii_guard.sigma.index as index_module
from pii_guard.detection.engine import DetectionEngine
from pii_guard.model import EnrichedEvent, Match
from pii_guard.policy.context import Detector
from pii_guard.sigma.detector import CorrelationDetector, Handoff, SigmaDetector, sigma_detectors
from pii_guard.sigma.index import RuleIndex, decided
from pii_guard.sigma.ruleset import RuleSet
from pii_guard.sigma.values import EventView, texts_of
from tests.sigma.helpers import CTX, event, ruleset

T0 = 1_800_000_000_000_000
SEC = 1_000_000


def rule(name: str, detection: str, level: str = "informational", condition: str = "sel") -> str:
    return (f"title: {name}\nname: {name}\nlevel: {level}\nlogsource: {{product: pii-guard}}\n"
            f"detection:\n  sel: {detection}\n  condition: {condition}\n")


CHAIN = "---\n".join([
    rule("failed", "{event.action: login, event.outcome: failure}"),
    rule("ok", "{event.action: login, event.outcome: success}"),
    rule("read", "{event.action: read}"),
    rule("bulk", "{pii.rows|gte: 100}", level="high"),
    "title: many\nname: many\nlevel: high\ncorrelation:\n  type: event_count\n  rules: [failed]\n"
    "  group-by: [user.name]\n  timespan: 10m\n  condition: {gte: 3}\n",
    "title: seq\nname: seq\nlevel: critical\ncorrelation:\n  type: temporal_ordered\n  rules: [many, ok, read]\n"
    "  group-by: [user.name]\n  timespan: 30m\n",
])


def chain_events() -> list[EnrichedEvent]:
    """Two users each failing four logins, logging in, reading a lot; pairs of events swapped (by less than
    the engine's lateness), so that they reach the correlations in another order than they arrive."""
    out: list[EnrichedEvent] = []
    for u, user in enumerate(("bob", "eve")):
        steps: list[dict[str, Any]] = [{"event.action": "login", "event.outcome": "failure"}] * 4 + [
            {"event.action": "login", "event.outcome": "success"},
            {"event.action": "read", "pii.rows": 500}, {"event.action": "read", "pii.rows": 5}]
        for i, doc in enumerate(steps):
            out.append(event({"user.name": user, **doc}, time_us=T0 + (u * 60 + i * 2) * SEC))
    for i in range(0, len(out) - 1, 2):
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


def found(detectors: list[Detector], items: list[EnrichedEvent]) -> list[tuple[str, str, tuple[str, ...]]]:
    engine = DetectionEngine(detectors, 5 * SEC)
    matches: list[Match] = [m for item in items for m, _ in engine.process(item, "s")]
    matches += [m for m, _ in engine.drain()]
    return [(m.rule_id, m.id, m.evidence) for m in matches]


def unwired(rules: RuleSet) -> list[Detector]:
    """The two detectors, each judging every event itself."""
    emitting = rules.emitting()
    return [SigmaDetector([r for r in rules.rules if r.label in emitting], rules, CTX), CorrelationDetector(rules, CTX)]


def test_handed_over_hits_give_the_matches_of_judging_alone(tmp_path: Path) -> None:
    rules = ruleset(CHAIN, tmp_path)
    items = chain_events()
    expected = found(unwired(rules), items)
    assert {r for r, _, _ in expected} == {"sigma:bulk", "sigma:seq"}
    wired = sigma_detectors(rules, CTX)
    assert found(list(wired), items) == expected
    correlated = wired[-1]
    assert isinstance(correlated, CorrelationDetector)
    assert correlated.handoff is not None
    assert correlated.handoff.misses == 0  # every event's hits were handed over ...
    assert len(correlated.handoff) == 0  # ... and taken
    wired = sigma_detectors(rules, CTX)
    dropping = wired[-1]
    assert isinstance(dropping, CorrelationDetector)
    assert dropping.handoff is not None
    dropping.handoff.limit = 1  # the handoff drops all but the newest event
    assert found(list(wired), items) == expected
    assert dropping.handoff.misses > 0  # those dropped were judged again


def test_handoff_answers_only_for_the_very_event_handed(tmp_path: Path) -> None:
    handoff = Handoff(lambda item: True, limit=2)
    first = event({"user.name": "bob"}, time_us=T0)
    twin = EnrichedEvent(*first)  # equal, but another event
    assert twin == first
    assert twin is not first
    handoff.put(first, ("sigma:a",))
    assert handoff.take(twin) is None
    assert handoff.take(first) == ("sigma:a",)
    assert handoff.take(first) is None  # taken once
    second, third, fourth = (event({"user.name": "bob"}, time_us=T0) for _ in range(3))
    for item in (first, second, third, fourth):
        handoff.put(item, ())
    assert len(handoff) == 2
    assert handoff.take(first) is None  # dropped, the oldest first
    assert handoff.take(second) is None
    assert handoff.take(third) == ()
    assert handoff.take(fourth) == ()


INDEXED = "---\n".join([
    rule("names", "{user.name: [alice, bob]}"),
    rule("secret", "{pii.statement|contains: secret}"),
    rule("rows", "{pii.rows|gt: 10}"),
    rule("rows_both", "{pii.rows|gt: 3}", condition="sel or low\n  low: {pii.rows|lt: 10}"),
    rule("ip", "{source.ip|exists: true, user.name: carol}"),
    rule("flag_text", "{x.flag: 'true'}"),
    rule("flag_number", "{x.flag: 1}"),
    rule("flag_any", "{x.flag|contains: '1'}"),
])

VALUES: dict[str, list[Any]] = {
    "user.name": ["alice", "Bob", "carol", "dave", None],
    "pii.statement": ["select secret", "SELECT SECRET2", "select 1", None],
    "pii.rows": [1, 5, 11, 200, None],
    "source.ip": ["10.0.0.1", None],
    "x.flag": [1, True, 1.0, "1", "TRUE", ["true", None], 11, None],
}


def test_index_remembers_what_field_values_file_without_changing_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answers are remembered per field value (texts and integers; not True, 1.0 or lists, which equal 1 or
    are unhashable but read otherwise) and per set of rule lists, bounded: over every combination of values,
    in an order that repeats them, the index gives what a fresh index gives, each rule once, and every rule
    that matches."""
    monkeypatch.setattr(index_module, "MAX_REMEMBERED", 2)  # so that the memories are cleared during the test
    rules = ruleset(INDEXED, tmp_path)
    kept = RuleIndex(rules.rules)
    names = list(VALUES)
    combos = list(itertools.product(*VALUES.values()))
    for n, values in enumerate(combos * 2):
        doc = {k: v for k, v in zip(names, values, strict=True) if v is not None}
        if n % 3 == 0:
            doc["x.flag"] = True
        view = EventView(event(doc), CTX)
        got = [r.label for r in kept.candidates(view)]
        assert got == [r.label for r in RuleIndex(rules.rules).candidates(EventView(event(doc), CTX))]
        assert len(got) == len(set(got))
        matched = {r.label for r in rules.rules if r.predicate(view)}
        if isinstance(doc.get("x.flag"), float):  # the index files `x.flag: 1` under its spelling "1" only,
            matched.discard("sigma:flag_number")  # so it misses a float 1.0 (as it did before these shortcuts)
        assert matched <= set(got)
    [bucket] = kept._buckets.values()
    assert all(len(known) <= 2 for _, _, known in bucket.probes)
    assert 0 < len(bucket.merges) <= 2


def test_a_rule_in_range_both_ways_is_a_candidate_once(tmp_path: Path) -> None:
    rules = ruleset(INDEXED, tmp_path)
    index = RuleIndex(rules.rules)
    for _ in range(2):  # computed, then remembered
        labels = [r.label for r in index.candidates(EventView(event({"pii.rows": 5}), CTX))]
        assert labels == ["sigma:rows_both"]


BUCKETED = "---\n".join([
    rule("reads", "{event.action: [read, export], user.name: bob}"),
    rule("not_write", "{event.action: write}", condition="not sel"),
    rule("web", "{event.dataset: nginx.access}", condition="sel or other\n  other: {user.name: bob}"),
    rule("same", "{event.action|fieldref: user.name}"),
    rule("nginx", "{event.dataset: nginx.access}"),
])


def test_bucket_leaves_out_the_rules_its_dataset_and_action_decide(tmp_path: Path) -> None:
    rules = ruleset(BUCKETED, tmp_path)
    by_label = {r.label: r for r in rules.rules}
    read, write = (EventView(event({"event.action": a, "user.name": "bob"}), CTX) for a in ("read", "write"))
    assert decided(by_label["sigma:reads"].tree, read) is None  # user.name is not decided
    assert decided(by_label["sigma:reads"].tree, write) is False
    assert decided(by_label["sigma:not_write"].tree, read) is True
    assert decided(by_label["sigma:not_write"].tree, write) is False
    assert decided(by_label["sigma:web"].tree, read) is None
    assert decided(by_label["sigma:same"].tree, write) is None  # a field reference reads user.name too
    assert decided(by_label["sigma:nginx"].tree, read) is False  # the helpers' events are of dataset "test"
    index = RuleIndex(rules.rules)
    for action in ("read", "write", "bob"):
        view = EventView(event({"event.action": action, "user.name": "bob"}), CTX)
        got = [r.label for r in index.candidates(view)]
        assert {r.label for r in rules.rules if r.predicate(view)} <= set(got)
        assert ("sigma:reads" in got) is (action == "read")
        assert ("sigma:not_write" in got) is (action != "write")
        assert "sigma:same" in got
        assert "sigma:nginx" not in got


@pytest.mark.parametrize("raw", [("A", "b"), ("A", None, 1, True, 2.5), (), ["X", "y"], ("a", ("b",))])
def test_texts_of_a_tuple_of_strings_in_one_step_as_any_value(raw: Any) -> None:
    expected = tuple(t.lower() for t in (v if isinstance(v, str) else str(v).lower() if isinstance(v, bool)
                                         else str(v) for v in raw if v is not None))
    assert texts_of(raw) == expected
