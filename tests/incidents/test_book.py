"""Grouping matches into incidents: one ticket per possible leak, not one per match."""

from __future__ import annotations

from pathlib import Path

import pytest

from pii_guard.config.models import IncidentsConfig
from pii_guard.incidents import records
from pii_guard.incidents.actions import Responder
from tests.incidents.helpers import HOUR, T0, Book, match, targets


def test_500_matches_of_one_export_are_one_incident_with_500_pieces_of_evidence(tmp_path: Path) -> None:
    book = Book(tmp_path)
    for batch in range(5):
        book.commit([match(at_us=T0 + (batch * 100 + i) * 1_000_000) for i in range(100)], T0 + batch)
    assert book.incidents() == [(1, "open", "high", 500)]  # 5,000 rows raised medium to high
    kinds = [k for _, _, k in book.outbox()]
    assert kinds[0] == "opened"
    assert kinds.count("opened") == 1
    assert len(kinds) <= 6  # a few milestones (severity, 100 and 1,000 units), never one per match
    record = records.load(book.conn, 1)
    assert record is not None
    assert record.facts.exposure().rows == 5000
    assert record.facts.exposure().events == 500


def test_a_replayed_batch_changes_nothing(tmp_path: Path) -> None:
    book = Book(tmp_path)
    batch = [match(at_us=T0 + i) for i in range(3)]
    assert book.commit(batch) == 3
    before = (book.incidents(), book.outbox())
    assert book.commit(batch) == 0
    assert (book.incidents(), book.outbox()) == before


def test_users_and_rules_group_apart_and_the_key_is_configurable(tmp_path: Path) -> None:
    book = Book(tmp_path)
    book.commit([match(user="bob"), match(user="eve"), match(user="bob", rule="other")])
    assert len(book.incidents()) == 3
    by_user = Book(tmp_path / "u", IncidentsConfig(group_by=["user"]))
    by_user.commit([match(user="bob"), match(user="eve"), match(user="bob", rule="other")])
    assert len(by_user.incidents()) == 2


def test_evidence_beyond_the_grouping_window_opens_a_new_incident(tmp_path: Path) -> None:
    book = Book(tmp_path, IncidentsConfig.model_validate({"group_window": "2h"}))
    book.commit([match(at_us=T0)])
    book.commit([match(at_us=T0 + HOUR)])
    book.commit([match(at_us=T0 + 4 * HOUR)])
    assert [(i, n) for i, _, _, n in book.incidents()] == [(1, 2), (2, 1)]


def test_new_evidence_reopens_a_resolved_incident_within_the_period_then_opens_a_twin_after(tmp_path: Path) -> None:
    book = Book(tmp_path, IncidentsConfig.model_validate({"reopen_within": "24h"}))
    book.commit([match(at_us=T0)], T0)
    Responder(book.conn, book.book.targets, "alice").resolve("INC-1", "talked to bob", T0 + HOUR)
    book.commit([match(at_us=T0 + 2 * HOUR)], T0 + 2 * HOUR)
    assert book.incidents()[0][:2] == (1, "open")
    assert [k for _, _, k in book.outbox()] == ["opened", "resolved", "reopened"]
    Responder(book.conn, book.book.targets, "alice").resolve("INC-1", "again", T0 + 3 * HOUR)
    book.commit([match(at_us=T0 + 40 * HOUR)], T0 + 40 * HOUR)
    assert [(i, s) for i, s, _, _ in book.incidents()] == [(1, "resolved"), (2, "open")]


def test_a_false_positive_takes_new_evidence_quietly(tmp_path: Path) -> None:
    book = Book(tmp_path)
    book.commit([match()], T0)
    Responder(book.conn, book.book.targets, "alice").resolve("INC-1", "test account", T0 + 1, false_positive=True)
    book.commit([match(at_us=T0 + 5)], T0 + 10)
    assert book.incidents() == [(1, "false_positive", "medium", 2)]
    assert [k for _, _, k in book.outbox()] == ["opened", "false_positive"]
    kinds = [r[0] for r in book.conn.execute("SELECT kind FROM incident_timeline WHERE incident_id=1")]
    assert kinds[-1] == "evidence"


def test_honeytoken_evidence_makes_it_critical_and_sensitive_data_high(tmp_path: Path) -> None:
    book = Book(tmp_path)
    book.commit([match(user="a", severity="low", rows=1)])
    book.commit([match(user="a", severity="low", rows=1, categories=("sensitive",))])
    book.commit([match(user="b", severity="low", rule="decoy", kind="honeytoken", rows=0)])
    assert [(i, s) for i, _, s, _ in book.incidents()] == [(1, "high"), (2, "critical")]
    assert ("1", "severity") in {(str(i), k) for i, _, k in book.outbox()}


def test_refused_attempts_are_not_exposure(tmp_path: Path) -> None:
    book = Book(tmp_path)
    book.commit([match(attempt=True, rows=None), match(attempt=True, rows=None)])
    record = records.load(book.conn, 1)
    assert record is not None
    exposure = record.facts.exposure()
    assert (exposure.attempts, exposure.rows, exposure.objects, record.deadline_us) == (2, 0, 0, None)


def test_the_notification_clock_runs_from_the_opening_for_high_incidents_with_exposure(tmp_path: Path) -> None:
    book = Book(tmp_path, IncidentsConfig.model_validate({"notify_deadline": "72h"}))
    book.commit([match(severity="high", rows=3)], T0)
    book.commit([match(user="eve", severity="medium", rows=3)], T0)
    deadlines = book.conn.execute("SELECT id, deadline_us FROM incidents ORDER BY id").fetchall()
    assert deadlines == [(1, T0 + 72 * HOUR), (2, None)]


def test_a_whole_table_export_or_a_decoy_read_of_unknown_volume_starts_the_clock(tmp_path: Path) -> None:
    """COPY customers TO ... logs 0 rows (pgAudit cannot count it), a decoy read may log none: data left."""
    book = Book(tmp_path, IncidentsConfig.model_validate({"notify_deadline": "72h"}))
    book.commit([match(rule="bulk-export-single", kind="bulk_export", severity="high", rows=0)], T0)
    book.commit([match(user="eve", rule="decoy", kind="honeytoken", severity="critical", rows=None)], T0)
    book.commit([match(user="zed", severity="high", rows=0)], T0)  # a quota match of no volume: no clock
    deadlines = book.conn.execute("SELECT id, deadline_us FROM incidents ORDER BY id").fetchall()
    assert deadlines == [(1, T0 + 72 * HOUR), (2, T0 + 72 * HOUR), (3, None)]


def test_a_target_hears_of_an_incident_once_it_reaches_its_bar_with_an_opening(tmp_path: Path) -> None:
    book = Book(tmp_path, notify=targets(("slack", "low"), ("jira", "high")))
    book.commit([match(rows=1)], T0)
    assert book.outbox() == [(1, "slack", "opened")]
    book.commit([match(rows=1, categories=("sensitive",), at_us=T0 + 1)], T0 + 1)
    assert book.outbox()[1:] == [(1, "slack", "severity"), (1, "jira", "opened")]
    routes = book.conn.execute("SELECT target, route FROM incident_refs ORDER BY target").fetchall()
    assert routes == [("jira", "C-high"), ("slack", "C-medium")]  # a route is chosen once, at the opening


def test_a_silence_keeps_the_incident_and_its_evidence_but_says_nothing_until_it_expires(tmp_path: Path) -> None:
    book = Book(tmp_path)
    responder = Responder(book.conn, book.book.targets, "alice")
    number = responder.silence("support-personal-quota", "bob", 2 * HOUR, "migration tonight", T0)
    book.commit([match(at_us=T0)], T0 + 1)
    book.commit([match(user="eve", at_us=T0)], T0 + 1)
    assert len(book.incidents()) == 2
    assert book.outbox() == [(2, "slack", "opened")]
    silenced = records.load(book.conn, 1)
    assert silenced is not None
    assert silenced.silence_id == number
    book.commit([match(at_us=T0 + 3 * HOUR, rows=200)], T0 + 3 * HOUR)  # the silence is over
    assert book.outbox()[-1] == (1, "slack", "opened")


def test_responder_actions_are_recorded_and_queued_and_refuse_impossible_transitions(tmp_path: Path) -> None:
    from pii_guard.errors import IncidentError

    book = Book(tmp_path)
    book.commit([match()], T0)
    responder = Responder(book.conn, book.book.targets, "alice")
    responder.acknowledge("INC-1", T0 + 1)
    responder.assign("1", "carol", T0 + 2)
    responder.comment("inc-1", "called bob", T0 + 3)
    with pytest.raises(IncidentError, match="only an open incident can be acknowledged"):
        responder.acknowledge("INC-1", T0 + 4)
    responder.resolve("INC-1", "ticket 77", T0 + 5)
    with pytest.raises(IncidentError, match="already resolved"):
        responder.resolve("INC-1", "again", T0 + 6)
    with pytest.raises(IncidentError, match="no incident 'INC-9'"):
        responder.comment("INC-9", "x", T0 + 7)
    timeline = book.conn.execute("SELECT actor, kind, text, previous FROM incident_timeline ORDER BY seq").fetchall()
    assert timeline[1:] == [
        ("alice", "acknowledged", "", "open"),
        ("alice", "assigned", "carol", "alice"),
        ("alice", "comment", "called bob", None),
        ("alice", "resolved", "ticket 77", "acknowledged"),
    ]
    assert [k for _, _, k in book.outbox()] == ["opened", "acknowledged", "assigned", "comment", "resolved"]
