"""The embedded event store: one SQLite file in WAL mode, one writer, a transaction per batch.

Event ids are deterministic, so `INSERT OR IGNORE` makes a replay store nothing twice; the category and
record-id side tables are keyed by the event id for the same reason.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import orjson

from pii_guard.errors import StoreError
from pii_guard.model import EnrichedEvent
from pii_guard.store.base import MAX_DEAD_LETTER_CHARS, DeadLetter, WriteResult
from pii_guard.store.migrations import EVENTS_MIGRATIONS

_INSERT_EVENT = """INSERT OR IGNORE INTO events (id, ts, dataset, action, outcome, user_name, user_roles,
    user_known, department, source_ip, source_port, zone, host, object, categories, honeytoken, rows, bytes,
    command, statement, error_code, record_ids, fields, original, source)
    VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"""
_INSERT_CATEGORY = "INSERT OR IGNORE INTO event_categories (category, ts, event_id) VALUES (?,?,?)"
_INSERT_RECORD = "INSERT OR IGNORE INTO event_records (record_id, ts, event_id) VALUES (?,?,?)"
_INSERT_DEAD = """INSERT OR IGNORE INTO dead_letters (source, fingerprint, offset, format, reason, text, seen)
    VALUES (?,?,?,?,?,?,?)"""


def migrate(conn: sqlite3.Connection, steps: Sequence[str], what: str) -> None:
    """Bring a database to the newest schema, one transaction per step."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > len(steps):
        raise StoreError(
            f"{what} has schema version {current}, newer than this pii-guard knows ({len(steps)})",
            hint="upgrade pii-guard or point it at another state directory",
        )
    for version in range(current, len(steps)):
        try:
            conn.executescript("BEGIN;" + steps[version] + f";PRAGMA user_version={version + 1};COMMIT;")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def connect(path: Path, synchronous: str, what: str) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA foreign_keys=ON")
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open {what} {path}: {exc}", hint="check the path and its permissions") from None
    return conn


def _event_row(item: EnrichedEvent, source: str | None) -> tuple[object, ...]:
    ev = item.event
    user = item.user
    data = item.data
    return (
        ev.id, ev.time_us, ev.dataset, ev.action, ev.outcome, ev.user,
        " ".join(user.roles) if user is not None else None,
        (1 if user.known else 0) if user is not None else None,
        user.department if user is not None else None,
        ev.source_ip, ev.source_port, item.zone, ev.host, ev.object,
        " ".join(data.categories) if data.categories else None,
        1 if data.honeytoken else 0,
        ev.rows, ev.bytes, ev.command, ev.statement, ev.error_code,
        " ".join(ev.record_ids) if ev.record_ids else None,
        orjson.dumps(ev.fields).decode() if ev.fields else None,
        ev.original, source,
    )  # fmt: skip


class SqliteEventStore:
    """Single-writer event store. Readers open their own read-only connections."""

    def __init__(self, path: Path, synchronous: str = "NORMAL", max_size_mb: float | None = None) -> None:
        self.path = path
        self._conn = connect(path, synchronous, "event store")
        if max_size_mb is not None:
            page = self._conn.execute("PRAGMA page_size").fetchone()[0]
            self._conn.execute(f"PRAGMA max_page_count={max(1, int(max_size_mb * 1_048_576 // page))}")
        try:
            migrate(self._conn, EVENTS_MIGRATIONS, f"event store {path}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot prepare event store {path}: {exc}") from None

    def write(
        self, events: Sequence[EnrichedEvent], dead: Sequence[DeadLetter], source: str | None = None
    ) -> WriteResult:
        conn = self._conn
        try:
            conn.execute("BEGIN")
            before = conn.total_changes
            conn.executemany(_INSERT_EVENT, [_event_row(e, source) for e in events])
            stored = conn.total_changes - before
            cats = [(c, e.event.time_us, e.event.id) for e in events for c in e.data.categories]
            if cats:
                conn.executemany(_INSERT_CATEGORY, cats)
            recs = [(r, e.event.time_us, e.event.id) for e in events for r in e.event.record_ids]
            if recs:
                conn.executemany(_INSERT_RECORD, recs)
            before = conn.total_changes
            if dead:
                conn.executemany(
                    _INSERT_DEAD,
                    [(d.source, d.fingerprint, d.offset, d.format, d.reason, d.text[:MAX_DEAD_LETTER_CHARS],
                      d.time_us) for d in dead],
                )
            dead_stored = conn.total_changes - before
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"cannot write to event store {self.path}: {exc}") from None
        return WriteResult(stored, len(events) - stored, dead_stored)

    def count_events(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def count_dead_letters(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


def open_readonly(path: Path) -> sqlite3.Connection:
    """A reader connection that cannot write (Datasette's pattern: one writer, read-only readers)."""
    if not path.exists():
        raise StoreError(f"no event store at {path}", hint="run `pii-guard ingest` or the daemon first")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn
