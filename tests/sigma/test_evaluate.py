"""Sigma matching semantics on single events: every listed modifier, wildcards and their escapes, case,
null and exists, keywords, conditions; the index lets through exactly the rules that can match."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pii_guard.sigma.detector import SigmaDetector
from pii_guard.sigma.index import RuleIndex
from pii_guard.sigma.values import EventView
from tests.sigma.helpers import CTX, event, ruleset

HEAD = """title: t
name: t
logsource: {product: pii-guard}
detection:
"""


def matches(tmp_path: Path, detection: str, doc: dict[str, Any], **kw: Any) -> bool:
    rules = ruleset(HEAD + detection, tmp_path)
    return bool(SigmaDetector(rules.rules, rules, CTX).observe(event(doc, **kw)))


CASES: list[tuple[str, dict[str, Any], bool]] = [
    # plain values: whole field, case-insensitive
    ("sel: {user.name: Alice}", {"user.name": "alice"}, True),
    ("sel: {user.name: alice}", {"user.name": "alice2"}, False),
    ("sel: {user.name: [bob, alice]}", {"user.name": "ALICE"}, True),
    # wildcards and escapes
    ("sel: {pii.object: 'db:crm.*'}", {"pii.object": "DB:CRM.public.x"}, True),
    ("sel: {pii.object: 'db:cr?.x'}", {"pii.object": "db:crm.x"}, True),
    ("sel: {pii.object: 'db:cr?.x'}", {"pii.object": "db:cr.x"}, False),
    ("sel: {pii.object: 'a\\*b'}", {"pii.object": "a*b"}, True),
    ("sel: {pii.object: 'a\\*b'}", {"pii.object": "axxb"}, False),
    ("sel: {pii.object: 'a\\?b'}", {"pii.object": "axb"}, False),
    ("sel: {pii.object: 'a\\\\*'}", {"pii.object": "a\\anything"}, True),
    ("sel: {pii.object: 'a\\\\\\*'}", {"pii.object": "a\\*"}, True),
    ("sel: {pii.object: 'a\\\\\\*'}", {"pii.object": "a\\x"}, False),
    ("sel: {pii.object: 'C:\\Windows\\x'}", {"pii.object": "c:\\windows\\x"}, True),
    # contains / startswith / endswith / all
    ("sel: {pii.statement|contains: 'SSN'}", {"pii.statement": "select ssn from t"}, True),
    ("sel: {pii.statement|startswith: 'select'}", {"pii.statement": "SELECT 1"}, True),
    ("sel: {pii.statement|endswith: 'from t'}", {"pii.statement": "select ssn FROM T"}, True),
    ("sel: {pii.statement|endswith: 'from t'}", {"pii.statement": "select ssn from t2"}, False),
    ("sel: {pii.statement|contains|all: [ssn, email]}", {"pii.statement": "select ssn, email"}, True),
    ("sel: {pii.statement|contains|all: [ssn, email]}", {"pii.statement": "select ssn"}, False),
    ("sel: {pii.statement|contains: ['a*c']}", {"pii.statement": "xxabbbcxx"}, True),
    # cased
    ("sel: {pii.command|cased: SELECT}", {"pii.command": "select"}, False),
    ("sel: {pii.command|cased: SELECT}", {"pii.command": "SELECT"}, True),
    ("sel: {pii.command|cased|startswith: SEL}", {"pii.command": "Select"}, False),
    # re (RE2), case-sensitive unless i
    ("sel: {pii.statement|re: 'ssn\\s+from'}", {"pii.statement": "select ssn  from t"}, True),
    ("sel: {pii.statement|re: 'SSN'}", {"pii.statement": "select ssn"}, False),
    ("sel: {pii.statement|re|i: 'SSN'}", {"pii.statement": "select ssn"}, True),
    ("sel: {pii.statement|re|m: '^from'}", {"pii.statement": "select\nfrom t"}, True),
    ("sel: {pii.statement|re: '^from'}", {"pii.statement": "select\nfrom t"}, False),
    ("sel: {pii.statement|re|s: 'select.from'}", {"pii.statement": "select\nfrom"}, True),
    # cidr
    ("sel: {source.ip|cidr: 10.20.0.0/16}", {"source.ip": "10.20.3.4"}, True),
    ("sel: {source.ip|cidr: [10.20.0.0/16, '2001:db8::/32']}", {"source.ip": "2001:db8::1"}, True),
    ("sel: {source.ip|cidr: 10.20.0.0/16}", {"source.ip": "10.21.0.1"}, False),
    ("sel: {source.ip|cidr: 10.20.0.0/16}", {"source.ip": "not-an-ip"}, False),
    # numbers
    ("sel: {pii.rows|gt: 100}", {"pii.rows": 101}, True),
    ("sel: {pii.rows|gt: 100}", {"pii.rows": 100}, False),
    ("sel: {pii.rows|gte: 100}", {"pii.rows": 100}, True),
    ("sel: {pii.rows|lt: 5}", {"pii.rows": 4}, True),
    ("sel: {pii.rows|lte: 5}", {"pii.rows": 6}, False),
    ("sel: {http.response.status_code|gte: 400}", {"http.response.status_code": "404"}, True),
    ("sel: {pii.rows: 5}", {"pii.rows": 5}, True),
    ("sel: {http.response.status_code: 200}", {"http.response.status_code": "200"}, True),
    ("sel: {pii.rows|gt: 1}", {}, False),
    # null, empty, exists
    ("sel: {source.ip: null}", {}, True),
    ("sel: {source.ip: null}", {"source.ip": "10.0.0.1"}, False),
    ("sel: {user_agent.original: ''}", {"user_agent.original": ""}, True),
    ("sel: {user_agent.original: ''}", {}, False),
    ("sel: {source.ip|exists: true}", {"source.ip": "10.0.0.1"}, True),
    ("sel: {source.ip|exists: false}", {}, True),
    ("sel: {source.ip|exists: false}", {"source.ip": "10.0.0.1"}, False),
    # neq
    ("sel: {user.name|neq: alice}", {"user.name": "bob"}, True),
    ("sel: {user.name|neq: alice}", {"user.name": "Alice"}, False),
    # fieldref
    ("sel: {user.name|fieldref: user.target.name}", {"user.name": "bob", "user.target.name": "BOB"}, True),
    ("sel: {user.name|fieldref: user.target.name}", {"user.name": "bob", "user.target.name": "eve"}, False),
    # booleans
    ("sel: {pii.honeytoken: true}", {}, False),
    # keywords search the raw line
    ("kw: ['union select']", {"event.original": "GET /x?q=1 UNION SELECT 2"}, True),
    ("kw: ['union*select']", {"event.original": "GET /x?q=1 UNION ALL SELECT 2"}, True),
    ("kw: ['union select']", {"event.original": "GET /x"}, False),
    ("kw: {'|all': [union, select]}", {"event.original": "select ... union"}, True),
    ("kw: {'|re': 'UNION\\s+SELECT'}", {"event.original": "union select"}, False),
]


@pytest.mark.parametrize(("detection", "doc", "expected"), CASES)
def test_value_semantics(tmp_path: Path, detection: str, doc: dict[str, Any], expected: bool) -> None:
    name = detection.split(":")[0]
    assert matches(tmp_path, f"  {detection}\n  condition: {name}\n", doc) is expected


def test_multi_valued_fields_match_any_value(tmp_path: Path) -> None:
    assert matches(tmp_path, "  sel: {pii.categories: sensitive}\n  condition: sel\n", {}, categories=["personal",
                                                                                                      "sensitive"])
    assert not matches(tmp_path, "  sel: {pii.categories: hr}\n  condition: sel\n", {}, categories=["personal"])
    assert matches(tmp_path, "  sel: {user.roles: dba}\n  condition: sel\n", {"user.name": "x"}, roles=["a", "dba"])


@pytest.mark.parametrize(("condition", "expected"), [
    ("sel_a and sel_b", False), ("sel_a or sel_b", True), ("sel_a and not sel_b", True),
    ("not sel_a", False), ("1 of sel_*", True), ("all of sel_*", False), ("all of them", False),
    ("1 of them", True), ("sel_a and (sel_b or filter)", True), ("not (sel_a or sel_b)", False),
    ("sel_a and not 1 of filter*", False),
])
def test_conditions(tmp_path: Path, condition: str, expected: bool) -> None:
    detection = ("  sel_a: {user.name: alice}\n  sel_b: {user.name: bob}\n  filter: {event.action: read}\n"
                 f"  condition: {condition}\n")
    assert matches(tmp_path, detection, {"user.name": "alice", "event.action": "read"}) is expected


def test_list_of_maps_is_or_and_a_map_is_and(tmp_path: Path) -> None:
    detection = "  sel:\n    - {user.name: alice, event.action: write}\n    - {user.name: bob}\n  condition: sel\n"
    assert matches(tmp_path, detection, {"user.name": "bob"})
    assert not matches(tmp_path, detection, {"user.name": "alice", "event.action": "read"})
    assert matches(tmp_path, detection, {"user.name": "alice", "event.action": "write"})


def test_condition_list_is_or(tmp_path: Path) -> None:
    detection = "  a: {user.name: alice}\n  b: {user.name: bob}\n  condition: [a, b]\n"
    assert matches(tmp_path, detection, {"user.name": "bob"})


def test_computed_fields_hour_weekday_status(tmp_path: Path) -> None:
    # 2026-11-27 is a Friday; 21:30 UTC is 22:30 in Berlin (the context's zone)
    friday_night = 1_795_815_000_000_000
    detection = "  sel: {pii.hour|gte: 22, pii.weekday: fri}\n  condition: sel\n"
    assert matches(tmp_path, detection, {}, time_us=friday_night)
    assert not matches(tmp_path, detection, {}, time_us=friday_night - 3_600_000_000)
    assert matches(tmp_path, "  sel: {'@timestamp|hour': 21}\n  condition: sel\n", {}, time_us=friday_night)


def test_generated_predicate_has_no_values_in_its_code(tmp_path: Path) -> None:
    rules = ruleset(HEAD + "  sel: {user.name: \"x') or __import__('os') or ('\"}\n  condition: sel\n", tmp_path)
    [rule] = rules.rules
    assert "import" not in rule.predicate.__code__.co_consts.__repr__()
    assert not rule.predicate(EventView(event({"user.name": "y"}), CTX))


def test_index_skips_rules_that_cannot_match(tmp_path: Path) -> None:
    text = "\n---\n".join(
        f"title: r{i}\nname: r{i}\nlogsource: {{product: pii-guard}}\ndetection:\n"
        f"  sel: {{pii.statement|contains: 'needle{i}x', user.name: u{i}}}\n  condition: sel"
        for i in range(50)) + "\n---\ntitle: any\nname: any\nlogsource: {product: pii-guard}\ndetection:\n" \
        "  sel: {pii.rows|gt: 5}\n  condition: sel\n---\ntitle: web\nname: web\nlogsource: {category: webserver}\n" \
        "detection:\n  sel: {cs-method: GET}\n  condition: sel\n"
    rules = ruleset(text, tmp_path)
    index = RuleIndex(rules.rules)
    hit = index.candidates(EventView(event({"user.name": "u7", "pii.statement": "select NEEDLE7X"}), CTX))
    assert [r.label for r in hit] == ["sigma:r7"]
    none = index.candidates(EventView(event({"user.name": "zz", "pii.statement": "select 1", "pii.rows": 2}), CTX))
    assert [r.label for r in none] == []
    many = index.candidates(EventView(event({"user.name": "u7", "pii.statement": "needle7x", "pii.rows": 6}), CTX))
    assert [r.label for r in many] == ["sigma:r7", "sigma:any"]
    web = index.candidates(EventView(event({"event.dataset": "nginx.access", "http.request.method": "get"}), CTX))
    assert [r.label for r in web] == ["sigma:web"]  # no rows: the rows rule is passed by


def test_index_remembers_literal_searches_without_changing_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The literal search of a field is remembered per text (bounded, short texts only): the same texts in
    any order, over and over, get the answers a fresh index gives them."""
    import pii_guard.sigma.index as index_module

    monkeypatch.setattr(index_module, "MAX_REMEMBERED", 3)  # so that the memory is cleared during the test
    text = "\n---\n".join(
        f"title: r{i}\nname: r{i}\nlogsource: {{product: pii-guard}}\ndetection:\n"
        f"  sel: {{pii.statement|contains: 'needle{i}x'}}\n  condition: sel" for i in range(8))
    rules = ruleset(text, tmp_path)
    long_tail = " and x = 1" * 120  # over MAX_REMEMBERED_TEXT: searched every time
    statements = [f"select needle{i}x, needle{(i * 3) % 8}x" + (long_tail if i % 4 == 0 else "")
                  for i in range(6)] + ["select nothing"]
    kept = RuleIndex(rules.rules)
    for statement in [s for s in statements * 3 for _ in range(2)]:  # each twice in a row: remembered
        doc = {"pii.statement": statement}
        fresh = RuleIndex(rules.rules).candidates(EventView(event(doc), CTX))
        assert [r.label for r in kept.candidates(EventView(event(doc), CTX))] == [r.label for r in fresh]
    [bucket] = kept._buckets.values()
    [(_, _, _, recent)] = bucket.sub
    assert 0 < len(recent) <= 3
    assert all(len(t) <= index_module.MAX_REMEMBERED_TEXT for t in recent)


def test_informational_rules_raise_no_match(tmp_path: Path) -> None:
    rules = ruleset(HEAD + "  sel: {user.name: alice}\n  condition: sel\nlevel: informational\n", tmp_path)
    detector = SigmaDetector(rules.rules, rules, CTX)
    assert detector.observe(event({"user.name": "alice"})) == []
    assert detector.exercised == {"sigma:t"}


def test_level_and_attempt(tmp_path: Path) -> None:
    rules = ruleset(HEAD + "  sel: {event.outcome: failure}\n  condition: sel\nlevel: critical\n"
                    "tags: [attack.t1110]\n", tmp_path)
    [m] = SigmaDetector(rules.rules, rules, CTX).observe(event({"user.name": "bob", "event.outcome": "failure",
                                                                "pii.object": "db:crm"}))
    assert (m.severity, m.attempt, m.rule_id, m.kind) == ("critical", True, "sigma:t", "sigma")
    assert m.sentence == "t: bob (no role) tried to read db:crm [attack.t1110]"


@pytest.mark.parametrize(("pattern", "literal"), [
    (r"pg_sleep\(\s*91\d{3}\s*\)", "pg_sleep("), (r"(?i)(ipfs\.io/|ipfs\.io\s).+\..+@.+\.[a-z]+", ""),
    ("abc|def", ""), ("fooo*bar", "foo"), (r"UNION\s+SELECT", "select"), ("ab(cd|ef)ghij", "ghij"),
    ("[abc]xyzw", "xyzw"), ("a{0,3}bcd", "bcd"), ("abc{2}defg", "defg"), ("x?", ""),
])
def test_regex_literal_for_the_index(pattern: str, literal: str) -> None:
    from pii_guard.sigma.values import regex_literal

    assert regex_literal(pattern) == literal
