"""The shipped policy against its golden samples, through the whole replay path; every rule and every branch
(each exception, each role's category and hours checks ...) must be exercised by some sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pii_guard.clock import FixedClock
from pii_guard.config.load import parser_options
from pii_guard.detection.engine import DetectionEngine
from pii_guard.model import Match
from pii_guard.parsers.registry import parser_class
from pii_guard.pipeline import FileSpec
from pii_guard.policy.compile import CompiledPolicy
from pii_guard.replay import Replayer
from pii_guard.store.sqlite import SqliteEventStore
from pii_guard.store.state import StateStore
from tests.policy.events import enricher, shipped_policy

SAMPLES = Path(__file__).parents[1] / "samples" / "policy"
EXPECTED: dict[str, Any] = yaml.safe_load((SAMPLES / "expected.yaml").read_text())


def replay_sample(name: str, policy: CompiledPolicy, tmp: Path) -> list[Match]:
    spec_data = EXPECTED[name]
    parser = parser_class(spec_data["format"])
    spec = FileSpec(parser, parser_options(parser, spec_data.get("options", {})))
    found: list[Match] = []
    events = SqliteEventStore(tmp / "events.db")
    state = StateStore(tmp / "state.db")
    replayer = Replayer(enricher(), DetectionEngine(policy.detectors, policy.policy.lateness), events, state,
                        FixedClock(1_800_000_000), on_match=found.append)
    replayer.run([(SAMPLES / name, spec)])
    events.close()
    state.close()
    return found


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_policy_sample(name: str, tmp_path: Path) -> None:
    found = replay_sample(name, shipped_policy(), tmp_path)
    # stateless rules answer at once, windowed ones after the reorder buffer: compare as multisets
    assert sorted([m.rule_id, m.user] for m in found) == sorted(EXPECTED[name]["matches"])


def test_every_shipped_rule_and_branch_is_exercised(tmp_path: Path) -> None:
    policy = shipped_policy()
    for i, name in enumerate(sorted(EXPECTED)):
        (tmp_path / str(i)).mkdir()
        replay_sample(name, policy, tmp_path / str(i))
    wanted = set().union(*(d.branches() for d in policy.detectors))
    seen = set().union(*(d.exercised for d in policy.detectors))
    assert wanted - seen == set(), "rules or branches no sample exercises"
    matched_rules = {rule for case in EXPECTED.values() for rule, _ in case["matches"]}
    for rule_id in policy.policy.rule_ids():
        assert rule_id in matched_rules or any(b.startswith(rule_id) for b in seen), rule_id


def test_every_sample_file_has_expectations() -> None:
    logs = {p.name for p in SAMPLES.iterdir() if p.suffix in (".log", ".jsonl")}
    assert logs == set(EXPECTED)
