"""Incidents announced in Slack through the outbox worker, against the local fake Slack Web API: one parent
message per incident and its updates in the thread, a storm that stays within the rate limit and loses
nothing, no double post after a lost answer or a crash, untrusted names escaped."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from pii_guard.clock import FixedClock, SystemClock
from pii_guard.config.models import SlackConfig
from pii_guard.config.secrets import Secret
from pii_guard.incidents.actions import Responder
from pii_guard.incidents.outbox import Target
from pii_guard.notify.slack import SlackNotifier, route_for
from pii_guard.notify.worker import OutboxWorker
from pii_guard.store.sqlite import connect
from tests.incidents.helpers import T0, Book, match
from tests.notify.fake_slack import TOKEN, FakeSlack

CHANNEL = "C0SECURITY"


def _slack(fake: FakeSlack, **config: object) -> tuple[SlackConfig, SlackNotifier]:
    cfg = SlackConfig.model_validate({"mode": "bot", "api_url": fake.api_url, "channel": CHANNEL,
                                      "min_severity": "low", "timeout_s": 1.0, **config})
    return cfg, SlackNotifier(cfg, token=Secret(TOKEN))


def _setup(tmp_path: Path, fake: FakeSlack, clock: FixedClock | SystemClock | None = None,
           report: Callable[[str, str, int], None] | None = None, **config: object) -> tuple[Book, OutboxWorker]:
    cfg, notifier = _slack(fake, **config)
    book = Book(tmp_path, notify=[Target("slack", "low", lambda view: route_for(cfg, view))])
    worker = OutboxWorker(connect(tmp_path / "state.db", "FULL", "state database"), {"slack": notifier},
                          clock or FixedClock(T0 / 1e6), backoff_max_s=30, report=report)
    return book, worker


def _drain(book: Book, worker: OutboxWorker, clock: FixedClock, turns: int = 50) -> None:
    for _ in range(turns):
        clock.advance(max(worker.run_once(), 0.01))
        if book.conn.execute("SELECT count(*) FROM outbox WHERE state='pending'").fetchone() == (0,):
            return


def _text(message: dict[str, object]) -> str:
    return json.dumps(message.get("blocks")) + str(message.get("text"))


def test_a_leak_is_one_parent_message_with_its_updates_in_the_thread(tmp_path: Path, fake_slack: FakeSlack) -> None:
    clock = FixedClock(T0 / 1e6)
    book, worker = _setup(tmp_path, fake_slack, clock)
    for batch in range(5):  # one export seen as 500 matches over five batches
        book.commit([match(at_us=T0 + batch * 100 + i, rows=20) for i in range(100)], T0 + batch)
    responder = Responder(book.conn, book.book.targets, "alice")
    responder.acknowledge("INC-1", T0 + 10)
    responder.resolve("INC-1", "approved audit sample", T0 + 20)
    _drain(book, worker, clock)

    [parent] = fake_slack.top_level(CHANNEL)
    replies = fake_slack.thread(CHANNEL, parent["ts"])[1:]
    assert 2 <= len(replies) <= 8  # severity/evidence milestones, ack, resolve: never one per match
    body = _text(parent)
    for fact in ("INC-1", "support-personal-quota", "bob", "support", "10,000", "personal",
                 "db:crm.public.customers", "10.1.2.3", "pii-guard incidents show INC-1"):
        assert fact in body, fact
    assert "resolved" in _text(parent).lower()  # the parent was edited on the status change
    assert fake_slack.calls_to("chat.update")
    assert "approved audit sample" in " ".join(_text(r) for r in replies)
    assert book.conn.execute("SELECT count(*) FROM outbox WHERE state != 'done'").fetchone() == (0,)


def test_a_storm_of_500_incidents_stays_within_the_rate_limit_and_loses_nothing(tmp_path: Path,
                                                                              fake_slack: FakeSlack) -> None:
    fake_slack.rate_limit(per_second=5.0, burst=1.0)
    book, worker = _setup(tmp_path, fake_slack, SystemClock(), per_second=5.0, digest_after=10)
    book.commit([match(user=f"user{i:03d}", at_us=T0 + i) for i in range(500)])
    deadline = time.monotonic() + 60
    while book.conn.execute("SELECT count(*) FROM outbox WHERE state='pending'").fetchone() != (0,):
        assert time.monotonic() < deadline, "the storm was not delivered in time"
        time.sleep(min(worker.run_once(), 0.5))  # the fake limits in real time, so the test runs in it
    posts = fake_slack.calls_to("chat.postMessage")
    assert [c for c in posts if c.status == 429] == []
    assert len(posts) <= 25  # digests of up to 25 incidents, not 500 messages
    seen = " ".join(_text(m) for m in fake_slack.channel_messages(CHANNEL))
    assert all(f"INC-{n}`" in seen or f"INC-{n} " in seen or f"INC-{n}*" in seen for n in range(1, 501))
    assert book.conn.execute("SELECT count(*) FROM outbox WHERE state='done'").fetchone() == (500,)
    refs = book.conn.execute("SELECT count(*) FROM incident_refs WHERE ref IS NOT NULL").fetchone()
    assert refs == (500,)  # every incident can be updated in its digest's thread


def test_an_answer_lost_after_slack_posted_is_not_posted_twice(tmp_path: Path, fake_slack: FakeSlack) -> None:
    clock = FixedClock(T0 / 1e6)
    book, worker = _setup(tmp_path, fake_slack, clock)
    fake_slack.fail("chat.postMessage", hang_s=3.0, apply=True)  # stored, but the answer comes too late
    book.commit([match()])
    worker.run_once()
    assert book.conn.execute("SELECT state, attempts FROM outbox").fetchone() == ("pending", 1)
    _drain(book, worker, clock)
    assert len(fake_slack.top_level(CHANNEL)) == 1
    assert book.conn.execute("SELECT state FROM outbox").fetchone() == ("done",)


def test_a_restart_mid_delivery_posts_nothing_twice(tmp_path: Path, fake_slack: FakeSlack) -> None:
    clock = FixedClock(T0 / 1e6)
    book, worker = _setup(tmp_path, fake_slack, clock)
    book.commit([match()])
    Responder(book.conn, book.book.targets, "alice").comment("INC-1", "looking", T0 + 1)
    _drain(book, worker, clock)
    Responder(book.conn, book.book.targets, "alice").comment("INC-1", "still looking", T0 + 2)
    # the process dies after Slack took the reply and before the row was marked done
    fake_slack.fail("chat.postMessage", hang_s=3.0, apply=True)
    worker.run_once()
    book.conn.execute("UPDATE outbox SET state='sending' WHERE state='pending'")
    restarted = _setup(tmp_path, fake_slack, clock)[1]
    assert restarted.recover() == 1
    _drain(book, restarted, clock)
    [parent] = fake_slack.top_level(CHANNEL)
    texts = [_text(m) for m in fake_slack.thread(CHANNEL, parent["ts"])]
    assert sum("still looking" in t for t in texts) == 1
    assert sum("looking" in t for t in texts) == 2


def test_untrusted_names_arrive_escaped(tmp_path: Path, fake_slack: FakeSlack) -> None:
    clock = FixedClock(T0 / 1e6)
    book, worker = _setup(tmp_path, fake_slack, clock)
    book.commit([match(user="<!channel> *x*", obj="file:/srv/<https://evil|click>")])
    _drain(book, worker, clock)
    [parent] = fake_slack.top_level(CHANNEL)
    raw = _text(parent)
    assert "<!channel>" not in raw
    assert "<https://evil|click>" not in raw
    assert "&lt;!channel&gt;" in raw
    assert "&lt;https://evil|click&gt;" in raw


def test_a_slack_outage_delays_and_a_permanent_error_is_kept(tmp_path: Path, fake_slack: FakeSlack) -> None:
    clock = FixedClock(T0 / 1e6)
    outcomes: Counter[str] = Counter()  # what /metrics counts
    book, worker = _setup(tmp_path, fake_slack, clock, report=lambda target, outcome, n: outcomes.update({outcome: n}))
    fake_slack.fail("chat.postMessage", times=3, status=500)
    fake_slack.fail("chat.postMessage", times=1, retry_after=7)
    book.commit([match()])
    _drain(book, worker, clock)
    assert len(fake_slack.top_level(CHANNEL)) == 1
    fake_slack.fail("chat.postMessage", times=1, error="channel_not_found")
    book.commit([match(user="eve")])
    _drain(book, worker, clock)
    [(state, error)] = book.conn.execute("SELECT state, last_error FROM outbox WHERE incident_id=2").fetchall()
    assert state == "failed"
    assert "channel_not_found" in error
    assert outcomes == Counter({"retry": 4, "delivered": 1, "failed": 1})
