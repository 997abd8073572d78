"""The shipped rule pack (rules/sigma) against its golden samples: each planted scenario raises exactly its
expected matches, the controls beside it and the normal day raise nothing, and every rule is exercised."""

from __future__ import annotations

from pathlib import Path

import pytest

from pii_guard.policy.compile import load_policy
from pii_guard.policy.context import PolicyContext
from pii_guard.sigma.lint import lint
from pii_guard.sigma.ruleset import load_ruleset
from tests.sigma.helpers import PACK, RULES, event, golden_cases, golden_events, run, run_with_restarts

CASES = golden_cases()
SHIPPED = load_policy(RULES / "access-policy.yaml").policy
CTX = PolicyContext(SHIPPED.timezone, SHIPPED.defaults)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_sample(name: str) -> None:
    found = run(load_ruleset([PACK]), golden_events(CASES[name]), CTX)
    assert sorted([m.rule_id, m.user] for m in found) == sorted(CASES[name]["matches"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_sample_with_restarts(name: str) -> None:
    """Windows saved and restored at every third event give the same matches (correlations included)."""
    items = golden_events(CASES[name])
    found = run_with_restarts(PACK, items, list(range(3, len(items), 3)), CTX)
    assert sorted([m.rule_id, m.user] for m in found) == sorted(CASES[name]["matches"])


def test_every_rule_has_a_golden_sample_that_fires_it() -> None:
    rules = load_ruleset([PACK])
    fired = {rule for case in CASES.values() for rule, _ in case["matches"]}
    assert rules.emitting() - fired == set()
    for path in PACK.glob("*.yml"):
        assert (PACK / f"{path.stem}.expected.yaml").exists(), path.name


def test_every_sample_file_is_listed() -> None:
    listed = {spec["file"] for case in CASES.values() for spec in case["files"]}
    on_disk = {p.name for p in PACK.iterdir() if p.suffix in (".log", ".jsonl")}
    assert on_disk == listed


def test_pack_is_lint_clean() -> None:
    assert lint([PACK]) == []


def test_matches_carry_level_tags_and_evidence() -> None:
    found = run(load_ruleset([PACK]), golden_events(CASES["brute_force_then_bulk_read"]), CTX)
    [match] = found
    assert match.severity == "critical"
    assert match.kind == "sigma"
    assert "[attack.credential-access, attack.t1110, attack.collection]" in match.sentence
    assert "5 matching events" not in match.sentence
    assert "in this order" in match.sentence
    assert match.window_start_us is not None
    assert match.window_end_us == match.time_us
    assert len(match.evidence) > 3


def test_golden_directory_extends_the_shipped_one(tmp_path: Path) -> None:
    import yaml

    shipped = yaml.safe_load((RULES / "directory.yaml").read_text())["users"]
    golden = yaml.safe_load((PACK / "golden-directory.yaml").read_text())["users"]
    assert {k: v for k, v in golden.items() if k in shipped} == shipped


def test_an_audit_setting_change_names_the_statement_not_only_its_verb() -> None:
    """`SET GLOBAL server_audit_logging=OFF` and `=ON` must read apart in the alert, not both as `SET`."""
    rules = load_ruleset([PACK / "audit_logging_reduced.yml"])
    for value in ("OFF", "ON"):
        item = event({"event.action": "other", "pii.command": "SET", "user.name": "root",
                      "pii.statement": f"SET GLOBAL server_audit_logging={value}", "event.dataset": "mariadb.audit"})
        (match,) = run(rules, [item])
        assert f"`SET GLOBAL server_audit_logging={value}`" in match.sentence
