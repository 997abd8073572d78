"""Draining the outbox: ordered per incident and notifier, rate-limited per route, retried with backoff.

Delivery is effectively once: a row is marked `sending` (committed) before the attempt and `done` after it.
A crash in between leaves it `sending`; at start-up `recover()` asks the peer whether it landed (Slack: by
the outbox id in the message metadata) and only sends again when the peer cannot tell. A peer outage delays
rows, never drops them; a permanent failure is kept as `failed` with the reason and shown by `status`."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson

from pii_guard.clock import Clock
from pii_guard.incidents import records
from pii_guard.incidents.outbox import change_from_json
from pii_guard.notify.base import Delivered, Notification, Notifier, Outcome, Retry

log = logging.getLogger("pii_guard.notify")

DIGEST_MAX = 25  # incidents per digest message (Slack: 50 blocks)
_SCAN = 1000  # pending rows looked at per turn


@dataclass(frozen=True)
class _Row:
    id: int
    incident_id: int
    target: str
    route: str
    change: bytes
    attempts: int
    next_at_us: int


class OutboxWorker:
    def __init__(self, conn: sqlite3.Connection, notifiers: Mapping[str, Notifier], clock: Clock, *,
                 max_attempts: int = 1000, backoff_max_s: float = 300.0,
                 report: Callable[[str, str, int], None] | None = None) -> None:
        self._conn = conn
        self._notifiers = dict(notifiers)
        self._clock = clock
        self._max_attempts = max_attempts
        self._backoff_max_s = backoff_max_s
        self._next_send: dict[tuple[str, str], float] = defaultdict(float)  # (target, route) -> epoch seconds
        self._wake = threading.Event()
        self._report = report or (lambda target, outcome, n: None)  # (notifier, delivered|retry|failed, rows)
        self.delivered = 0
        self.failed = 0

    # -- life cycle ---------------------------------------------------------------------------------------

    def recover(self) -> int:
        """Settle rows a crash left in `sending`. Returns how many were found already delivered."""
        found = 0
        rows = self._conn.execute(
            "SELECT id, incident_id, target, route, change, attempts, next_at_us FROM outbox WHERE state='sending'"
        ).fetchall()
        for raw in rows:
            row = _Row(*raw)
            notifier = self._notifiers.get(row.target)
            note = self._note(row) if notifier is not None else None
            ref = None
            if notifier is not None and note is not None:
                ref = _ask(notifier, note, None if note.change.kind == "opened" else self._ref(row))
            if ref is not None and note is not None:
                self._done(row, note, Delivered(ref), self._now())
                found += 1
                log.info("outbox row %d was delivered before the restart", row.id, extra={"target": row.target})
            else:
                self._conn.execute("UPDATE outbox SET state='pending' WHERE id=?", (row.id,))
        return found

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event, idle_s: float = 5.0) -> None:
        """The notifier thread's loop; never lets an exception end it (the outbox keeps the work)."""
        self.recover()
        while not stop.is_set():
            try:
                wait = self.run_once()
            except Exception:  # a bug must not stop delivery of everything else: log, back off, go on
                log.exception("outbox worker turn failed")
                wait = idle_s
            self._wake.wait(min(wait, idle_s))
            self._wake.clear()

    # -- one turn -----------------------------------------------------------------------------------------

    def run_once(self) -> float:
        """Deliver what is due now. Returns seconds until something may be due again."""
        now = self._now()
        rows = [_Row(*r) for r in self._conn.execute(
            "SELECT id, incident_id, target, route, change, attempts, next_at_us FROM outbox"
            " WHERE state='pending' ORDER BY id LIMIT ?", (_SCAN,)).fetchall()]
        heads: dict[tuple[int, str], _Row] = {}
        for row in rows:  # only the oldest undelivered change of an incident on a notifier may go
            heads.setdefault((row.incident_id, row.target), row)
        by_route: dict[tuple[str, str], list[_Row]] = defaultdict(list)
        for row in heads.values():
            if row.target in self._notifiers and row.next_at_us <= now * 1_000_000:
                by_route[row.target, row.route].append(row)
        wait = 60.0 if rows else 3600.0
        for row in rows:
            if row.next_at_us > now * 1_000_000:
                wait = min(wait, row.next_at_us / 1_000_000 - now)
        for (target, route), due in by_route.items():
            notifier = self._notifiers[target]
            ready_at = self._next_send[target, route]
            if ready_at > now:
                wait = min(wait, ready_at - now)
                continue
            due.sort(key=lambda r: r.id)
            openings = [r for r in due if _kind(r) == "opened"]
            if notifier.digest_after is not None and len(openings) >= notifier.digest_after:
                self._send_digest(notifier, openings[:DIGEST_MAX])
            else:
                self._send_one(notifier, due[0])
            self._next_send[target, route] = max(self._next_send[target, route],
                                                 self._now() + 1.0 / notifier.per_second)
            wait = min(wait, 1.0 / notifier.per_second if len(due) > 1 else wait)
        return max(0.0, wait)

    def _send_one(self, notifier: Notifier, row: _Row) -> None:
        note = self._note(row)
        if note is None:
            self._conn.execute("UPDATE outbox SET state='failed', last_error=? WHERE id=?",
                               ("the incident no longer exists", row.id))
            return
        ref = None if note.change.kind == "opened" else self._ref(row)
        if row.attempts > 0:
            # the last attempt may have landed although it looked failed (a timeout after the peer acted)
            landed = _ask(notifier, note, ref)
            if landed is not None:
                self._done(row, note, Delivered(landed), self._now())
                return
        self._mark_sending([row])
        outcome = _attempt(notifier, lambda: notifier.send(note, ref))
        self._settle([row], [note], outcome)

    def _send_digest(self, notifier: Notifier, rows: list[_Row]) -> None:
        pairs = [(row, note) for row in rows if (note := self._note(row)) is not None]
        if not pairs:
            return
        self._mark_sending([r for r, _ in pairs])
        notes = [n for _, n in pairs]
        outcome = _attempt(notifier, lambda: notifier.digest(notes))
        self._settle([r for r, _ in pairs], notes, outcome)

    # -- bookkeeping --------------------------------------------------------------------------------------

    def _note(self, row: _Row) -> Notification | None:
        record = records.load(self._conn, row.incident_id)
        if record is None:
            return None
        return Notification(row.id, row.target, row.route, record.view(), change_from_json(orjson.loads(row.change)))

    def _ref(self, row: _Row) -> str | None:
        found = self._conn.execute("SELECT ref FROM incident_refs WHERE incident_id=? AND target=?",
                                   (row.incident_id, row.target)).fetchone()
        return str(found[0]) if found and found[0] is not None else None

    def _mark_sending(self, rows: list[_Row]) -> None:
        self._conn.executemany("UPDATE outbox SET state='sending', attempts=attempts+1 WHERE id=?",
                               [(r.id,) for r in rows])

    def _settle(self, rows: list[_Row], notes: list[Notification], outcome: Outcome) -> None:
        now = self._now()
        if isinstance(outcome, Delivered):
            for row, note in zip(rows, notes, strict=True):
                self._done(row, note, outcome, now)
            self._report(rows[0].target, "delivered", len(rows))
            return
        reason = outcome.reason
        if isinstance(outcome, Retry) and rows[0].attempts + 1 < self._max_attempts:
            backoff = min(self._backoff_max_s, 2.0 ** rows[0].attempts)
            delay = max(backoff, outcome.after_s or 0.0)
            if outcome.after_s:  # the peer said when: nothing goes to that route before then
                key = (rows[0].target, rows[0].route)
                self._next_send[key] = max(self._next_send[key], now + outcome.after_s)
            self._conn.executemany(
                "UPDATE outbox SET state='pending', next_at_us=?, last_error=? WHERE id=?",
                [(int((now + delay) * 1_000_000), reason, r.id) for r in rows],
            )
            self._report(rows[0].target, "retry", len(rows))
            log.warning("notification delayed, will retry", extra={
                "target": rows[0].target, "rows": len(rows), "retry_in_s": round(delay, 1), "reason": reason})
            return
        self.failed += len(rows)
        self._report(rows[0].target, "failed", len(rows))
        self._conn.executemany("UPDATE outbox SET state='failed', last_error=? WHERE id=?",
                               [(reason, r.id) for r in rows])
        log.error("notification failed for good", extra={"target": rows[0].target, "rows": len(rows),
                                                         "reason": reason})

    def _done(self, row: _Row, note: Notification, outcome: Delivered, now: float) -> None:
        self.delivered += 1
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("UPDATE outbox SET state='done', delivered_us=?, last_error=NULL WHERE id=?",
                         (int(now * 1_000_000), row.id))
            if note.change.kind == "opened" and outcome.ref is not None:
                conn.execute("UPDATE incident_refs SET ref=? WHERE incident_id=? AND target=?",
                             (outcome.ref, row.incident_id, row.target))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _now(self) -> float:
        return self._clock.now()


def _kind(row: _Row) -> str:
    return str(orjson.loads(row.change)["kind"])


def _attempt(notifier: Notifier, call: Callable[[], Outcome]) -> Outcome:
    """A notifier must not raise; if one does anyway, that is a retryable bug, not a lost notification."""
    try:
        return call()
    except Exception as exc:
        log.exception("notifier %s raised instead of answering", notifier.name)
        return Retry(f"notifier error: {type(exc).__name__}")


def _ask(notifier: Notifier, note: Notification, ref: str | None) -> str | None:
    try:
        return notifier.find_delivered(note, ref)
    except Exception:
        log.exception("notifier %s raised while checking a delivery", notifier.name)
        return None
