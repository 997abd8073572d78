"""One act, one incident: the matches of several rules fired by the same event join one incident."""

from __future__ import annotations

from pathlib import Path

from pii_guard.config.models import IncidentsConfig
from pii_guard.incidents import records
from pii_guard.incidents.actions import Responder
from pii_guard.model import Match
from tests.incidents.helpers import HOUR, T0, Book, match


def _copy_of_50k(event: str, at_us: int = T0) -> list[Match]:
    """What the shipped policy raises for one `COPY (SELECT email, ssn ...) TO` of 50,000 rows by an analyst."""
    return [
        match(rule="role-access:analyst", kind="role_access", severity="high", event=event, at_us=at_us, rows=50_000),
        match(rule="bulk-export-single", kind="bulk_export", severity="high", event=event, at_us=at_us, rows=50_000),
        match(rule="bulk-export-cumulative", kind="bulk_export", severity="medium", event=event, at_us=at_us,
              rows=50_000),
    ]


def test_three_rules_broken_by_one_export_open_one_incident_that_counts_its_rows_once(tmp_path: Path) -> None:
    book = Book(tmp_path)
    book.commit(_copy_of_50k("e-copy"))
    assert [(i, status) for i, status, _, _ in book.incidents()] == [(1, "open")]
    record = records.load(book.conn, 1)
    assert record is not None
    assert sorted(record.facts.rules) == ["bulk-export-cumulative", "bulk-export-single", "role-access:analyst"]
    assert record.facts.exposure().rows == 50_000  # not 150,000: three rules, one event
    assert record.facts.exposure().events == 1
    assert record.evidence_count == 1
    assert [k for _, _, k in book.outbox()] == ["opened"]  # one alert, not three


def test_a_later_match_of_a_joined_rule_finds_the_incident_by_its_own_key(tmp_path: Path) -> None:
    book = Book(tmp_path)
    book.commit(_copy_of_50k("e-copy"))
    # the cumulative window doubles an hour later: that rule's key now leads to incident 1
    book.commit([match(rule="bulk-export-cumulative", kind="bulk_export", severity="medium", event="e-more",
                       evidence=("e-copy",), at_us=T0 + HOUR, rows=60_000)], T0 + HOUR)
    assert [i for i, _, _, _ in book.incidents()] == [1]
    assert book.incidents()[0][3] == 2


def test_a_match_of_the_same_event_arriving_a_batch_later_joins(tmp_path: Path) -> None:
    book = Book(tmp_path)
    first, *_ = _copy_of_50k("e-copy")
    book.commit([first])
    # a windowed rule judges the event after the reorder delay, in the next batch
    book.commit([match(rule="bulk-export-single", kind="bulk_export", severity="critical", event="e-copy",
                       rows=50_000)], T0 + 5_000_000)
    assert book.incidents() == [(1, "open", "critical", 1)]
    record = records.load(book.conn, 1)
    assert record is not None
    assert record.facts.exposure().rows == 50_000


def test_an_event_never_joins_an_incident_marked_false_positive_or_silenced(tmp_path: Path) -> None:
    book = Book(tmp_path)
    book.commit([match(rule="role-access:analyst", kind="role_access", event="e1")])
    responder = Responder(book.conn, book.book.targets, "alice")
    responder.resolve("INC-1", "analysts may read this table", T0 + 1, false_positive=True)
    # the same kind of read again, now also a bulk export: the export must not vanish into the false positive
    book.commit([match(rule="role-access:analyst", kind="role_access", severity="high", event="e2", at_us=T0 + 2),
                 match(rule="bulk-export-single", kind="bulk_export", event="e2", at_us=T0 + 2)], T0 + 2)
    assert [(i, s) for i, s, _, _ in book.incidents()] == [(1, "false_positive"), (2, "open")]
    assert (2, "slack", "opened") in book.outbox()

    silenced = Book(tmp_path / "s")
    Responder(silenced.conn, silenced.book.targets, "alice").silence("role-access:analyst", "bob", 2 * HOUR,
                                                                      "audit week", T0)
    silenced.commit([match(rule="role-access:analyst", kind="role_access", severity="high", event="e3"),
                     match(rule="bulk-export-single", kind="bulk_export", event="e3")])
    assert len(silenced.incidents()) == 2
    assert [(i, k) for i, _, k in silenced.outbox()] == [(2, "opened")]


def test_join_same_event_off_keeps_one_incident_per_rule(tmp_path: Path) -> None:
    book = Book(tmp_path, IncidentsConfig(join_same_event=False))
    book.commit(_copy_of_50k("e-copy"))
    assert len(book.incidents()) == 3
