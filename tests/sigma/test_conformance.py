"""Conformance: 37 real SigmaHQ rules (copied unchanged under conformance/rules, DRL 1.1) evaluated by pii-guard
on crafted events that must and must not match, and by pySigma's own SQLite backend on the same events loaded
into SQLite; both must agree on every rule and every event of its family.

The SQLite row of an event holds, under each Sigma field name a rule uses, the value pii-guard reads for that
name (through the field mapping), and the raw line in the full-text column keywords search. So the comparison
is of matching semantics (wildcards and their escapes, case, modifiers, null, CIDR, regex, keywords,
conditions) on identical values; the field mapping is tested by building web events with ECS names."""

from __future__ import annotations

import re
import sqlite3
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection

from pii_guard.model import EnrichedEvent
from pii_guard.sigma.compile import CompiledRule
from pii_guard.sigma.detector import SigmaDetector
from pii_guard.sigma.fields import FieldMapping, LogsourceEntry
from pii_guard.sigma.ruleset import RuleSet, load_ruleset
from pii_guard.sigma.values import EventView
from tests.sigma.helpers import CTX, event

HERE = Path(__file__).parent / "conformance"
CASES: dict[str, Any] = yaml.safe_load((HERE / "cases.yaml").read_text())
# Cloud, Bitbucket and application logs are no pii-guard source: the test maps their logsources to test events.
MAPPING = FieldMapping(logsources=[LogsourceEntry(product="aws", datasets=["test"]),
                                   LogsourceEntry(product="bitbucket", datasets=["test"]),
                                   LogsourceEntry(category="application", product="sql", datasets=["test"])])
DATASET = {"web": "nginx.access", "cloud": "test", "bitbucket": "test", "sql": "test"}


@cache
def rules() -> RuleSet:
    return load_ruleset([HERE / "rules"], MAPPING)


@cache
def compiled(name: str) -> CompiledRule:
    doc = yaml.safe_load((HERE / "rules" / name).read_text())
    return next(r for r in rules().rules if str(r.rule.id) == doc["id"])


@cache
def family(name: str) -> dict[str, EnrichedEvent]:
    return {key: event({"event.dataset": DATASET[name], **doc}) for key, doc in CASES["families"][name].items()}


def ours(rule: CompiledRule, item: EnrichedEvent) -> bool:
    detector = SigmaDetector([rule], rules(), CTX)
    return any(m.rule_id == rule.label for m in detector.observe(item))


def _regexp(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


def sqlite_matches(name: str, fam: str) -> set[str]:
    """The events of the family SQLite returns for the rule's query, by key."""
    rule = compiled(name)
    items = family(fam)
    columns = sorted({*rule.fields, *(f for r in rules().rules for f in r.fields if _family_of(r) == fam)})
    rows = []
    for key, item in items.items():
        view = EventView(item, CTX)
        row: dict[str, Any] = {"_key": key, "_fulltext": item.event.original or None}
        for col in columns:
            values = view.values(FieldMapping.event_field(rule.logsource, col) if rule.logsource else col)
            row[col] = values[0] if values else None
        rows.append(row)
    numeric = {c for c in columns if any(isinstance(r[c], int) and not isinstance(r[c], bool) for r in rows)}
    conn = sqlite3.connect(":memory:")
    conn.create_function("REGEXP", 2, _regexp, deterministic=True)
    names = ["_key", "_fulltext", *columns]
    decl = ", ".join(f'"{c}" {"NUMERIC" if c in numeric else "TEXT"}' for c in names)
    conn.execute(f"CREATE TABLE logs ({decl})")
    conn.executemany(f"INSERT INTO logs VALUES ({', '.join('?' for _ in names)})",
                     [[r[c] for c in names] for r in rows])
    backend = sqliteBackend(collate_nocase=True, fulltext_field="_fulltext")
    [query] = backend.convert(SigmaCollection.from_yaml((HERE / "rules" / name).read_text()))
    cursor = conn.execute(query)
    key_at = [d[0] for d in cursor.description].index("_key")
    return {row[key_at] for row in cursor}


@cache
def _families() -> dict[str, str]:
    return {compiled(name).label: str(case["family"]) for name, case in CASES["rules"].items()}


def _family_of(rule: CompiledRule) -> str | None:
    return _families().get(rule.label)


def test_at_least_30_rules_each_with_events_that_must_and_must_not_match() -> None:
    assert len(CASES["rules"]) >= 30
    assert {str(p.relative_to(HERE / "rules")) for p in (HERE / "rules").rglob("*.yml")} == set(CASES["rules"])
    for case in CASES["rules"].values():
        assert case["match"]
        assert case["nomatch"]
    assert (HERE / "rules" / "LICENSE").exists()


@pytest.mark.parametrize("name", sorted(CASES["rules"]))
def test_rule_agrees_with_sqlite_backend(name: str) -> None:
    case = CASES["rules"][name]
    rule = compiled(name)
    items = family(case["family"])
    mine = {key for key, item in items.items() if ours(rule, item)}
    theirs = sqlite_matches(name, case["family"])
    assert set(case["match"]) <= mine, "events that must match"
    assert not set(case["nomatch"]) & mine, "events that must not match"
    assert mine == theirs, f"pii-guard {sorted(mine)} vs SQLite {sorted(theirs)}"


def test_web_rules_use_the_builtin_field_mapping() -> None:
    rule = compiled("web/proxy_generic/proxy_ua_malware.yml")
    assert rule.logsource is not None
    assert rule.logsource.datasets == ("nginx.access", "apache.access")
    assert rule.fields == {"c-useragent": "user_agent.original"}
