"""Correlation rules in stream: event_count, value_count, temporal, temporal_ordered, group-by, timespan, aliases,
chains; their windows survive restarts and events arrive in event-time order through the reorder buffer."""

from __future__ import annotations

from pathlib import Path

from pii_guard.detection.engine import DetectionEngine
from pii_guard.model import EnrichedEvent, Match
from pii_guard.sigma.detector import sigma_detectors
from tests.sigma.helpers import CTX, event, ruleset, run

T0 = 1_800_000_000_000_000
MIN = 60_000_000

BASE = """title: {name}
name: {name}
logsource: {{product: pii-guard}}
detection:
  sel: {detection}
  condition: sel
level: informational
"""


def base(name: str, detection: str) -> str:
    return BASE.format(name=name, detection=detection)


def correlation(name: str, body: str) -> str:
    return f"title: {name}\nname: {name}\nlevel: high\ncorrelation:\n{body}"


FAILED = base("failed", "{event.action: login, event.outcome: failure}")
OK = base("ok", "{event.action: login, event.outcome: success}")
READ = base("read", "{event.action: read}")


def login(user: str, minute: float, ok: bool = False, ip: str = "10.0.0.1") -> EnrichedEvent:
    return event({"user.name": user, "event.action": "login", "event.outcome": "success" if ok else "failure",
                  "source.ip": ip}, time_us=int(T0 + minute * MIN))


def read(user: str, minute: float, **fields: object) -> EnrichedEvent:
    return event({"user.name": user, "event.action": "read", **fields}, time_us=int(T0 + minute * MIN))


def ids(matches: list[Match]) -> list[tuple[str, str | None]]:
    return [(m.rule_id, m.user) for m in matches]


def test_event_count_fires_once_per_episode_per_group(tmp_path: Path) -> None:
    rules = ruleset(FAILED + "---\n" + correlation("many", "  type: event_count\n  rules: [failed]\n"
                                                  "  group-by: [user.name]\n  timespan: 10m\n  condition: {gte: 3}\n"),
                    tmp_path)
    events = [login("bob", m) for m in (0, 1, 2, 3, 4)] + [login("eve", m) for m in (0, 5, 11)]
    events += [login("bob", m) for m in (30, 31, 32)]
    found = run(rules, sorted(events, key=lambda e: e.event.time_us))
    assert ids(found) == [("sigma:many", "bob"), ("sigma:many", "bob")]
    first = found[0]
    assert (first.volume, first.unit, first.limit) == (3, "events", 3)
    assert first.window_start_us == T0
    assert "3 matching events (condition ≥ 3) within 10 min for user.name=bob" in first.sentence


def test_event_count_exact_timespan(tmp_path: Path) -> None:
    rules = ruleset(FAILED + "---\n" + correlation("many", "  type: event_count\n  rules: [failed]\n"
                                                  "  group-by: [user.name]\n  timespan: 10m\n  condition: {gte: 2}\n"),
                    tmp_path)
    assert run(rules, [login("bob", 0), login("bob", 10)]) == []  # (t - 10m, t]: the first has left
    assert len(run(rules, [login("bob", 0), login("bob", 9.99)])) == 1


def test_value_count_distinct_values(tmp_path: Path) -> None:
    rules = ruleset(READ + "---\n" + correlation(
        "spread", "  type: value_count\n  rules: [read]\n  group-by: [user.name]\n  timespan: 1h\n"
                  "  condition: {field: pii.object, gte: 3}\n"), tmp_path)
    same = [read("bob", m, **{"pii.object": "db:a"}) for m in range(10)]
    assert run(rules, same) == []
    spread = [read("bob", m, **{"pii.object": f"db:{m % 3}"}) for m in range(10)]
    [m] = run(rules, spread)
    assert (m.volume, m.unit) == (3, "distinct values")


def test_value_count_of_a_multi_valued_field(tmp_path: Path) -> None:
    rules = ruleset(READ + "---\n" + correlation(
        "records", "  type: value_count\n  rules: [read]\n  group-by: [user.name]\n  timespan: 10m\n"
                   "  condition: {field: pii.record_ids, gte: 5}\n"), tmp_path)
    events = [read("bob", 0, **{"pii.record_ids": ("a", "b", "c")}), read("bob", 1, **{"pii.record_ids": ("c",)}),
              read("bob", 2, **{"pii.record_ids": ("d", "e")})]
    assert ids(run(rules, events)) == [("sigma:records", "bob")]


def test_temporal_any_order(tmp_path: Path) -> None:
    rules = ruleset(OK + "---\n" + READ + "---\n" + correlation(
        "both", "  type: temporal\n  rules: [read, ok]\n  group-by: [user.name]\n  timespan: 5m\n"), tmp_path)
    assert ids(run(rules, [read("bob", 0), login("bob", 1, ok=True)])) == [("sigma:both", "bob")]
    assert run(rules, [read("bob", 0), login("bob", 6, ok=True)]) == []
    assert run(rules, [read("bob", 0), login("eve", 1, ok=True)]) == []


def test_temporal_ordered_needs_the_order(tmp_path: Path) -> None:
    rules = ruleset(OK + "---\n" + READ + "---\n" + correlation(
        "seq", "  type: temporal_ordered\n  rules: [ok, read]\n  group-by: [user.name]\n  timespan: 5m\n"), tmp_path)
    assert run(rules, [read("bob", 0), login("bob", 1, ok=True)]) == []
    assert ids(run(rules, [login("bob", 0, ok=True), read("bob", 1)])) == [("sigma:seq", "bob")]
    # used up: one login, two reads: one match; a new login starts a new chain
    events = [login("bob", 0, ok=True), read("bob", 1), read("bob", 2), login("bob", 3, ok=True), read("bob", 4)]
    assert len(run(rules, events)) == 2


def test_chained_correlations_and_generate(tmp_path: Path) -> None:
    many = correlation("many", "  type: event_count\n  rules: [failed]\n  group-by: [user.name]\n  timespan: 10m\n"
                               "  condition: {gte: 3}\n")
    chain = correlation("brute", "  type: temporal_ordered\n  rules: [many, ok]\n  group-by: [user.name]\n"
                                 "  timespan: 1h\n")
    rules = ruleset("---\n".join([FAILED, OK, many, chain]), tmp_path)
    assert rules.emitting() == {"sigma:brute"}
    events = [login("bob", m) for m in (0, 1, 2)] + [login("bob", 5, ok=True)]
    [m] = run(rules, events)
    assert m.rule_id == "sigma:brute"
    assert len(m.evidence) == 4  # the three failures (carried from `many`) and the success
    loud = chain.replace("timespan: 1h\n", "timespan: 1h\n  generate: true\n")
    generated = ruleset("---\n".join([FAILED, OK, many, loud]), tmp_path)
    assert generated.emitting() == {"sigma:brute", "sigma:many", "sigma:ok"}


def test_aliases_group_different_fields(tmp_path: Path) -> None:
    a = base("a", "{event.action: read}")
    b = base("b", "{event.action: login}")
    corr = correlation("ab", "  type: temporal\n  rules: [a, b]\n  group-by: [who]\n  timespan: 5m\n"
                             "  aliases:\n    who:\n      a: user.name\n      b: user.target.name\n")
    rules = ruleset("---\n".join([a, b, corr]), tmp_path)
    events = [read("bob", 0), event({"user.name": "admin", "event.action": "login", "user.target.name": "bob"},
                                    time_us=T0 + MIN)]
    assert ids(run(rules, events)) == [("sigma:ab", "admin")]


def test_out_of_order_within_lateness_gives_ordered_result(tmp_path: Path) -> None:
    rules = ruleset(OK + "---\n" + READ + "---\n" + correlation(
        "seq", "  type: temporal_ordered\n  rules: [ok, read]\n  group-by: [user.name]\n  timespan: 5m\n"), tmp_path)
    engine = DetectionEngine(sigma_detectors(rules, CTX), 5_000_000)
    login_first, read_after = login("bob", 0, ok=True), read("bob", 0.05)  # 3 s apart, read arrives first
    found = [m for e in (read_after, login_first) for m, _ in engine.process(e, "s")] + \
        [m for m, _ in engine.drain()]
    assert ids(found) == [("sigma:seq", "bob")]


def test_windows_survive_a_restart(tmp_path: Path) -> None:
    text = FAILED + "---\n" + correlation("many", "  type: event_count\n  rules: [failed]\n"
                                                  "  group-by: [user.name]\n  timespan: 10m\n  condition: {gte: 3}\n")
    first = DetectionEngine(sigma_detectors(ruleset(text, tmp_path), CTX), 0)
    for e in (login("bob", 0), login("bob", 1)):
        assert first.process(e, "s") == []
    changes = first.take_changes()
    assert ("sigma:many", "bob") in changes.windows
    second = DetectionEngine(sigma_detectors(ruleset(text, tmp_path), CTX), 0)
    second.restore([(store, key, state) for (store, key), state in changes.windows.items()], changes.engine)
    assert ids([m for m, _ in second.process(login("bob", 2), "s")]) == [("sigma:many", "bob")]


def test_idle_groups_are_evicted(tmp_path: Path) -> None:
    rules = ruleset(FAILED + "---\n" + correlation("many", "  type: event_count\n  rules: [failed]\n"
                                                  "  group-by: [user.name]\n  timespan: 10m\n  condition: {gte: 3}\n"),
                    tmp_path)
    [detector] = sigma_detectors(rules, CTX)
    detector.observe(login("bob", 0))
    assert len(detector.windows()["sigma:many"]) == 1
    detector.expire(T0 + 11 * MIN)
    assert len(detector.windows()["sigma:many"]) == 0
