"""The outbox worker driving the Jira notifier against the local fake Jira: one issue per incident, comments
for changes, a transition on resolve, retries on outages, and no twin issue after a crash mid-delivery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pii_guard.clock import FixedClock
from pii_guard.config.models import JiraConfig
from pii_guard.config.secrets import Secret
from pii_guard.incidents.actions import Responder
from pii_guard.notify.jira import JiraNotifier
from pii_guard.notify.worker import OutboxWorker
from pii_guard.store.sqlite import connect
from tests.incidents.helpers import T0, Book, match, targets
from tests.notify_peers.fake_jira import TOKEN, USER, FakeJira


@pytest.fixture
def jira() -> Iterator[FakeJira]:
    fake = FakeJira().start()
    try:
        yield fake
    finally:
        fake.stop()


def _setup(tmp_path: Path, jira: FakeJira) -> tuple[Book, OutboxWorker, FixedClock]:
    book = Book(tmp_path, notify=targets(("jira", "low")))
    config = JiraConfig(url=jira.url, project="SEC", user=USER, min_severity="low", timeout_s=2.0)
    clock = FixedClock(T0 / 1e6)
    worker = OutboxWorker(connect(tmp_path / "state.db", "FULL", "state database"),
                          {"jira": JiraNotifier(config, Secret(TOKEN))}, clock, backoff_max_s=60)
    return book, worker, clock


def _drain(worker: OutboxWorker, clock: FixedClock, turns: int = 20) -> None:
    for _ in range(turns):
        wait = worker.run_once()
        clock.advance(max(wait, 0.01))


def test_an_incident_is_one_issue_with_comments_and_a_transition(tmp_path: Path, jira: FakeJira) -> None:
    book, worker, clock = _setup(tmp_path, jira)
    book.commit([match(at_us=T0 + i) for i in range(50)])
    responder = Responder(book.conn, book.book.targets, "alice")
    responder.comment("INC-1", "asked bob's manager", T0 + 10)
    responder.resolve("INC-1", "approved export", T0 + 20)
    _drain(worker, clock)
    assert len(jira.issues) == 1
    issue = next(iter(jira.issues.values()))
    assert issue.status == "Done"
    assert "INC-1" in issue.fields["summary"]
    bodies = [c.body for c in issue.comments]
    assert any("asked bob" in b for b in bodies)
    assert any("approved export" in b for b in bodies)
    states = book.conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
    assert states == [("done", len(book.outbox()))]


def test_an_outage_delays_delivery_and_loses_nothing(tmp_path: Path, jira: FakeJira) -> None:
    book, worker, clock = _setup(tmp_path, jira)
    jira.fail_next(3, 503)
    book.commit([match(user="bob"), match(user="eve")])
    worker.run_once()
    assert jira.issues == {}
    assert book.conn.execute("SELECT count(*) FROM outbox WHERE state='pending' AND attempts=1").fetchone() == (1,)
    _drain(worker, clock)
    assert len(jira.issues) == 2
    assert book.conn.execute("SELECT count(*) FROM outbox WHERE state!='done'").fetchone() == (0,)


def test_a_crash_after_the_issue_was_created_does_not_create_a_twin(tmp_path: Path, jira: FakeJira) -> None:
    book, worker, clock = _setup(tmp_path, jira)
    book.commit([match()])
    # what a crash leaves behind: the row marked as being sent, the issue created, nothing recorded
    note = worker._note(worker_row(book))
    assert note is not None
    book.conn.execute("UPDATE outbox SET state='sending', attempts=1")
    JiraNotifier(JiraConfig(url=jira.url, project="SEC", user=USER), Secret(TOKEN)).send(note, None)
    assert len(jira.issues) == 1
    assert worker.recover() == 1
    _drain(worker, clock)
    assert len(jira.issues) == 1
    [(ref,)] = book.conn.execute("SELECT ref FROM incident_refs").fetchall()
    assert ref == next(iter(jira.issues))


def test_a_permanent_refusal_is_kept_as_failed_with_its_reason(tmp_path: Path, jira: FakeJira) -> None:
    book, worker, clock = _setup(tmp_path, jira)
    jira.fail_next(1, 401)
    book.commit([match()])
    _drain(worker, clock, 3)
    [(state, error)] = book.conn.execute("SELECT state, last_error FROM outbox").fetchall()
    assert state == "failed"
    assert "authentication" in error
    assert TOKEN not in error


def worker_row(book: Book) -> object:
    from pii_guard.notify.worker import _Row

    return _Row(*book.conn.execute(
        "SELECT id, incident_id, target, route, change, attempts, next_at_us FROM outbox").fetchone())
