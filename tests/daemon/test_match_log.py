"""The daemon's own log: one line per match, but a flood is summarized, never thousands of lines a batch."""

from __future__ import annotations

import logging

import pytest

from pii_guard.daemon import MATCH_LINES_PER_BATCH, log_matches
from tests.incidents.helpers import match


def test_a_batch_logs_its_first_matches_and_counts_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    matches = [match(rule="honeytoken-decoy-table" if i % 3 == 0 else "support-personal-hourly")
               for i in range(MATCH_LINES_PER_BATCH + 7)]
    with caplog.at_level(logging.WARNING, logger="pii_guard.daemon"):
        log_matches(matches)
    one_by_one = [r for r in caplog.records if getattr(r, "event", None) == "match"]
    assert [r.getMessage() for r in one_by_one] == [m.sentence for m in matches[:MATCH_LINES_PER_BATCH]]
    [summary] = [r for r in caplog.records if getattr(r, "event", None) == "matches_not_logged"]
    assert summary.count == 7  # type: ignore[attr-defined]
    rest = matches[MATCH_LINES_PER_BATCH:]
    expected = {"support-personal-hourly": sum(m.rule_id == "support-personal-hourly" for m in rest),
                "honeytoken-decoy-table": sum(m.rule_id == "honeytoken-decoy-table" for m in rest)}
    assert dict(part.split(":") for part in summary.rules.split(",")) == {  # type: ignore[attr-defined]
        rule: str(n) for rule, n in expected.items() if n}


def test_a_small_batch_is_logged_whole(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="pii_guard.daemon"):
        log_matches([match() for _ in range(3)])
    assert [getattr(r, "event", None) for r in caplog.records] == ["match"] * 3
