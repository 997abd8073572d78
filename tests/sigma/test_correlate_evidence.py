"""A correlation's evidence is the events that made it fire, not every event of the group in its timespan:
event_count, the events counted in the window; value_count, one event per distinct value counted (the latest
with that value); temporal, the occurrence of each rule used up (the latest of each); temporal_ordered, the
events of the chain that fired (a step that is itself a correlation gives that correlation's own evidence).
Windows saved by earlier versions (same state lists) still load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pii_guard.detection.engine import DetectionEngine
from pii_guard.model import EnrichedEvent, Match
from pii_guard.rules.windows import EVIDENCE_KEPT, evidence_ids
from pii_guard.sigma.correlate import DistinctValues, EventTimes
from pii_guard.sigma.detector import sigma_detectors
from pii_guard.sigma.ruleset import RuleSet, load_ruleset
from tests.sigma.helpers import CTX, PACK, event, ruleset, run
from tests.sigma.test_correlate import FAILED, MIN, OK, READ, T0, correlation

MANY = correlation("many", "  type: event_count\n  rules: [failed]\n  group-by: [user.name]\n  timespan: 10m\n"
                           "  condition: {gte: 3}\n")
BRUTE = correlation("brute", "  type: temporal_ordered\n  rules: [many, ok, read]\n  group-by: [user.name]\n"
                             "  timespan: 1h\n")
SPREAD = correlation("spread", "  type: value_count\n  rules: [read]\n  group-by: [user.name]\n  timespan: 1h\n"
                               "  condition: {field: pii.object, gte: 3}\n")
BOTH = correlation("both", "  type: temporal\n  rules: [read, ok]\n  group-by: [user.name]\n  timespan: 5m\n")


def eid(n: int) -> str:
    return f"{n:032x}"


def numbered(item: EnrichedEvent, n: int) -> EnrichedEvent:
    return item._replace(event=item.event._replace(id=eid(n)))


def at(minute: float) -> int:
    return int(T0 + minute * MIN)


def login(n: int, minute: float, ok: bool = False, ip: str = "203.0.113.9", user: str = "bob") -> EnrichedEvent:
    doc = {"user.name": user, "event.action": "login", "event.outcome": "success" if ok else "failure",
           "source.ip": ip}
    return numbered(event(doc, time_us=at(minute)), n)


def read(n: int, minute: float, obj: str = "public.customers", user: str = "bob") -> EnrichedEvent:
    doc = {"user.name": user, "event.action": "read", "event.outcome": "success", "pii.object": obj,
           "pii.rows": 5000}
    return numbered(event(doc, time_us=at(minute), categories=("personal",)), n)


def evidence(matches: list[Match], rule_id: str) -> list[str]:
    [match] = [m for m in matches if m.rule_id == rule_id]
    return list(match.evidence)


def chain_rules(tmp_path: Path) -> RuleSet:
    return ruleset("---\n".join([FAILED, OK, READ, MANY, BRUTE]), tmp_path)


def test_brute_force_evidence_leaves_out_an_earlier_unrelated_login() -> None:
    """The shipped rule: bob logged in from his office an hour earlier; then six failures from elsewhere, a
    success and a bulk read. The evidence is the five failures counted, the success and the read."""
    rules = load_ruleset([PACK / "brute_force_then_bulk_read.yml"])
    earlier = login(1, 0, ok=True, ip="10.20.0.7")
    failures = [login(10 + k, 20 + k / 3) for k in range(6)]
    events = [earlier, *failures, login(20, 23, ok=True), read(21, 25)]
    found = run(rules, events, CTX)
    assert [m.rule_id for m in found] == ["sigma:brute-force-then-bulk-read"]
    # the sixth failure came after the count had fired: it is no part of what fired
    assert evidence(found, "sigma:brute-force-then-bulk-read") == [eid(n) for n in (10, 11, 12, 13, 14, 20, 21)]


def test_chain_evidence_leaves_out_a_failure_the_count_did_not_count(tmp_path: Path) -> None:
    """A failure 20 min before the burst is in the chain's hour but not in the 10-min count that fired."""
    events = [login(1, 0), login(2, 5, ok=True, ip="10.20.0.7"), *(login(10 + k, 20 + k) for k in range(3)),
              login(20, 23, ok=True), read(21, 25)]
    found = run(chain_rules(tmp_path), events)
    assert evidence(found, "sigma:brute") == [eid(n) for n in (10, 11, 12, 20, 21)]


def test_ordered_chain_evidence_is_the_latest_chain(tmp_path: Path) -> None:
    """Two successes after the burst: the chain that fired goes through the one just before the read; a read
    before any success is no step."""
    events = [read(5, 19), *(login(10 + k, 20 + k) for k in range(3)), login(20, 23, ok=True),
              login(22, 24, ok=True), read(23, 25)]
    found = run(chain_rules(tmp_path), events)
    assert evidence(found, "sigma:brute") == [eid(n) for n in (10, 11, 12, 22, 23)]


def test_ordered_chain_after_firing_starts_again_from_nothing(tmp_path: Path) -> None:
    rules = ruleset("---\n".join([OK, READ, correlation(
        "seq", "  type: temporal_ordered\n  rules: [ok, read]\n  group-by: [user.name]\n  timespan: 5m\n")]),
        tmp_path)
    found = run(rules, [login(1, 0, ok=True), read(2, 1), read(3, 2), login(4, 3, ok=True), read(5, 4)])
    assert [list(m.evidence) for m in found] == [[eid(1), eid(2)], [eid(4), eid(5)]]


def test_event_count_evidence_is_the_events_in_the_window(tmp_path: Path) -> None:
    rules = ruleset(FAILED + "---\n" + MANY, tmp_path)
    events = [login(1, 0), login(2, 1), login(10, 30), login(11, 31), login(12, 32), login(13, 33)]
    found = run(rules, events)
    assert evidence(found, "sigma:many") == [eid(10), eid(11), eid(12)]


def test_value_count_evidence_is_one_event_per_distinct_value(tmp_path: Path) -> None:
    """The latest event of each value counted; repeats and values that left the window are left out."""
    rules = ruleset(READ + "---\n" + SPREAD, tmp_path)
    events = [read(1, 0, "db:x"), read(2, 70, "db:a"), read(3, 71, "db:a"), read(4, 72, "db:b"),
              read(5, 73, "db:a"), read(6, 74, "db:c")]
    found = run(rules, events)
    assert sorted(evidence(found, "sigma:spread")) == [eid(4), eid(5), eid(6)]


def test_value_count_evidence_of_a_multi_valued_event_is_that_event_once(tmp_path: Path) -> None:
    rules = ruleset(READ + "---\n" + SPREAD.replace("pii.object", "pii.record_ids"), tmp_path)
    many = numbered(event({"user.name": "bob", "event.action": "read", "pii.record_ids": ("a", "b", "c")},
                          time_us=at(1)), 7)
    found = run(rules, [read(1, 0), many])
    assert evidence(found, "sigma:spread") == [eid(7)]


def test_temporal_evidence_is_the_occurrences_used_up(tmp_path: Path) -> None:
    """The latest occurrence of each rule within the timespan: not a read that left it, nor an older repeat."""
    rules = ruleset("---\n".join([OK, READ, BOTH]), tmp_path)
    events = [read(1, 0), read(2, 10), read(3, 11), login(4, 12, ok=True), read(5, 13), login(6, 14, ok=True)]
    found = run(rules, events)
    assert [list(m.evidence) for m in found] == [[eid(3), eid(4)], [eid(5), eid(6)]]


WIDTH = 60_000_000
# (seconds since the previous event, how late this one is), so some events arrive out of order
arrivals = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 70)), min_size=1, max_size=120)


@settings(max_examples=300, deadline=None)
@given(arrivals, st.integers(1, 40))
def test_event_times_evidence_is_the_newest_events_of_the_window(steps: list[tuple[int, int]], cap: int) -> None:
    window = EventTimes()
    kept: list[tuple[int, int]] = []  # (time, arrival) of the events the window holds
    clock = 0
    for n, (delta, late) in enumerate(steps):
        clock += delta * 1_000_000
        t = clock - late * 1_000_000
        if window.add(t, WIDTH, cap, eid(n)):
            newest = max(window.last_us, t)
            kept = sorted([*kept, (t, n)])
            kept = [k for k in kept if k[0] > newest - WIDTH][-cap:]
        assert list(window.times) == [k[0] for k in kept]
        assert list(evidence_ids(window.evidence)) == [eid(k[1]) for k in kept[-EVIDENCE_KEPT:]]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from("abcdefghijklmnopqrstuvwxyz")), min_size=1,
                max_size=120), st.integers(1, 40))
def test_distinct_values_evidence_is_the_latest_event_of_each_newest_value(steps: list[tuple[int, str]],
                                                                          cap: int) -> None:
    window = DistinctValues()
    latest: dict[str, str] = {}
    clock = 0
    for n, (delta, value) in enumerate(steps):
        clock += delta * 1_000_000
        window.add(clock, value, WIDTH, cap, eid(n))
        latest[value] = eid(n)
        newest = list(window.seen)[-EVIDENCE_KEPT:]
        assert list(evidence_ids(window.evidence)) == [latest[v] for v in newest]


def _engine(rules: RuleSet) -> DetectionEngine:
    return DetectionEngine(sigma_detectors(rules, CTX), 0)


def _resume(rules: RuleSet, windows: list[tuple[str, str, list[Any]]], items: list[EnrichedEvent]) -> list[Match]:
    engine = _engine(rules)
    engine.restore(windows, None)
    return [m for item in items for m, _ in engine.process(item, "s")]


def test_evidence_survives_a_restart_mid_chain(tmp_path: Path) -> None:
    rules = chain_rules(tmp_path)
    first = _engine(rules)
    for item in (login(1, 0, ok=True, ip="10.20.0.7"), *(login(10 + k, 20 + k) for k in range(3))):
        assert first.process(item, "s") == []
    changes = first.take_changes()
    windows = [(store, key, state) for (store, key), state in changes.windows.items()]
    found = _resume(chain_rules(tmp_path), windows, [login(20, 23, ok=True), read(21, 25)])
    assert evidence(found, "sigma:brute") == [eid(n) for n in (10, 11, 12, 20, 21)]


# States as the version before this fix saved them (EventTimes, DistinctSet and RuleTimes lists): the same
# scenarios cut at the same event. Evidence there was every event of the group since the last match.
_BOB_FAILED_TWICE = [
    # unrelated success (1) at 0, a stray failure (2) at 1, failures (10, 11) at 20 and 21
    ("sigma:many", "bob", [[1800001200000000, 1800001260000000],
                           eid(2) + eid(10) + eid(11), False, 1800001260000000]),
    ("sigma:brute", "bob", [[-1, -1, -1], eid(1), False, 1800000000000000]),
]
_BOB_HALF_CHAIN = [
    # unrelated success (1) at 0, failures (10, 11, 12) at 20, 21, 22: the count fired, the chain's first step
    ("sigma:many", "bob", [[1800001200000000, 1800001260000000, 1800001320000000],
                           eid(10) + eid(11) + eid(12), True, 1800001320000000]),
    ("sigma:brute", "bob", [[1800001320000000, -1, -1], eid(1) + eid(10) + eid(11) + eid(12), False,
                            1800001320000000]),
]
_BOB_READ_A_A_B = [("sigma:spread", "bob", [[["db:a", 1800000060000000], ["db:b", 1800000120000000]],
                                            eid(1) + eid(2) + eid(3), False, 1800000120000000])]
_BOB_READ = [("sigma:both", "bob", [[1800000000000000, -1], eid(1), False, 1800000000000000])]


def test_state_of_the_previous_version_loads_and_counts_the_window_only(tmp_path: Path) -> None:
    found = _resume(chain_rules(tmp_path), list(_BOB_FAILED_TWICE),
                    [login(12, 22), login(20, 23, ok=True), read(21, 25)])
    assert evidence(found, "sigma:brute") == [eid(n) for n in (10, 11, 12, 20, 21)]


def test_half_built_chain_of_the_previous_version_still_completes(tmp_path: Path) -> None:
    """Its steps' own events are not known apart: the old evidence is kept (with the unrelated login)."""
    found = _resume(chain_rules(tmp_path), list(_BOB_HALF_CHAIN), [login(20, 23, ok=True), read(21, 25)])
    assert evidence(found, "sigma:brute") == [eid(n) for n in (1, 10, 11, 12, 20, 21)]


def test_value_count_and_temporal_state_of_the_previous_version_load(tmp_path: Path) -> None:
    found = _resume(ruleset(READ + "---\n" + SPREAD, tmp_path), list(_BOB_READ_A_A_B), [read(4, 3, "db:c")])
    assert sorted(evidence(found, "sigma:spread")) == [eid(2), eid(3), eid(4)]
    found = _resume(ruleset("---\n".join([OK, READ, BOTH]), tmp_path), list(_BOB_READ), [login(2, 1, ok=True)])
    assert evidence(found, "sigma:both") == [eid(1), eid(2)]
