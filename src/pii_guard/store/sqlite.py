"""The embedded event store: one SQLite file in WAL mode, one writer, a transaction per batch.

De-duplication. Event ids are deterministic (a digest of the source, offset and record bytes), so a replay
after a crash carries the ids it had, and the times it had. `events.id_key` holds 64 bits of the id
(`event_key`), and a UNIQUE index on (ts, id_key) de-duplicates: small integers rather than the 32-character
text, and ordered by time first, so a batch writes into the index pages of its own times. (A UNIQUE index on
the key alone, a hash, took one page from anywhere in it per event once it outgrew the cache, and the store
slowed by more than half between one and four million events.) A batch is copied in with plain INSERTs; if
one of its (time, key) pairs is taken, the batch is sorted out event by event (`_drop_stored`): the same id
is a replay and is left out, a different id is a 64-bit collision and is stored with a NULL key (found by
time and id among those next time). The id is kept for display, unindexed: look an event up by `ts` and
`id_key = event_key(id)`. A record read again with a different time (its source's `timezone` changed in
between) is stored again, under its new time. Events whose record carries no time (`model.TIME_FROM`: the
file's last-write time stands in, and differs on the next read) are also de-duplicated on their key alone, in
`untimed_keys`. The category and record-id side tables get rows for the stored events only.

Writing. The sqlite3 module needs the GIL to bind values and releases it while SQLite runs a statement, so a
batch is stored in two halves. `submit` stages it in the caller's thread: one value per column and event into a
private in-memory database, user and object details once per distinct user and object, then serialized. The
store's writer thread copies it in with one INSERT … SELECT per table, which maintains the indexes and commits
without the GIL, while the caller parses the next batch. A checkpoint thread with its own connection copies
the WAL into the database file, so commits do not wait for those writes and their fsyncs either. `write`
returns once its batch is committed, as durable as `synchronous` makes it.

Binding: a column NULL throughout a batch is left out, and a partly-NULL one carries a sentinel that `nullif`
turns back into NULL, because the sqlite3 module adapts each None through its adapter registry (~0.7 µs a
value, against ~0.1-0.2 µs for a string or an integer).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import Future, wait
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

import orjson

from pii_guard.errors import StoreError
from pii_guard.model import TIME_FROM, AccessEvent, EnrichedEvent, ObjectInfo, UserInfo
from pii_guard.store.base import MAX_DEAD_LETTER_CHARS, DeadLetter, WriteResult
from pii_guard.store.migrations import EVENTS_MIGRATIONS

log = logging.getLogger("pii_guard.store")

# The checkpoint thread runs after every commit; once the WAL file is larger than this many pages (64 MiB at
# 4 KiB pages), a write first waits for it to finish, so the WAL is wholly copied and the next transaction
# starts it over.
WAL_LIMIT_PAGES: Final = 16_384

_KEY_OFFSET: Final = 1 << 63


def event_key(event_id: str) -> int:
    """The de-duplication key of an event id: its first 16 hex digits as a signed 64-bit integer (ids are hex
    digests). An id that does not start with 16 hex digits (hand-made events, tests) is hashed first."""
    try:
        value = int(event_id[:16], 16)
    except ValueError:
        value = -1
    if len(event_id) >= 16 and value >= 0:
        return value - _KEY_OFFSET
    digest = hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _keys(ids: Sequence[str]) -> list[int]:
    """`event_key` of each id, the common case (hex ids) at list-comprehension speed."""
    try:
        keys = [int(i[:16], 16) - _KEY_OFFSET for i in ids]
    except ValueError:
        return [event_key(i) for i in ids]
    if min(keys) < -_KEY_OFFSET or min(map(len, ids)) < 16:
        return [event_key(i) for i in ids]
    return keys


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


def create_private(path: Path) -> None:
    """Create the database's directory (0700) and file (0600) when they do not exist yet: they hold what was
    read from the logs. Existing ones keep their modes (a deployment may have chosen others); SQLite gives its
    -wal and -shm files the database file's mode."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def connect(path: Path, synchronous: str, what: str) -> sqlite3.Connection:
    try:
        create_private(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA cache_size=-16384")
        conn.execute("PRAGMA foreign_keys=ON")
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open {what} {path}: {exc}", hint="check the path and its permissions") from None
    return conn


# -- staging: the caller's half ----------------------------------------------------------------------------

_NO_TEXT: Final = "\0"  # stands for NULL in a partly-NULL text column
_NO_INT: Final = -(1 << 63)  # the same in an integer column
_PLAIN, _TEXT, _INT = 0, 1, 2  # how a staged column holds NULL: as NULL, or as one of the two sentinels
_NULLIF: Final = ("{}", "nullif({}, char(0))", f"nullif({{}}, {_NO_INT})")

# staging.batch's columns in the order of `_columns`, each with the sentinel for NULL (None: never NULL);
# `uref` and `oref` point at staging.users and staging.objects
_BATCH: Final[tuple[tuple[str, int | None], ...]] = (
    ("id", None), ("id_key", _INT), ("ts", None), ("dataset", None), ("action", None), ("outcome", None),
    ("user_name", _TEXT), ("uref", _INT), ("source_ip", _TEXT), ("source_port", _INT), ("zone", _TEXT),
    ("host", _TEXT), ("object", _TEXT), ("oref", None), ("rows", _INT), ("bytes", _INT), ("command", _TEXT),
    ("statement", _TEXT), ("error_code", _TEXT), ("record_ids", _TEXT), ("fields", _TEXT), ("original", None),
    ("source", _TEXT), ("untimed", _INT),
)  # fmt: skip
_STAGING: Final = f"""
    CREATE TABLE batch ({", ".join(name for name, _ in _BATCH)});
    CREATE TABLE users (ref INTEGER PRIMARY KEY, user_roles, user_known, department);
    CREATE TABLE objects (ref INTEGER PRIMARY KEY, categories, honeytoken);
    CREATE TABLE object_categories (ref, category, PRIMARY KEY (ref, category)) WITHOUT ROWID;
    CREATE TABLE records (record_id, ts, event_id);
    CREATE TABLE dead (source, fingerprint, offset, format, reason, text, seen);
"""
_STAGING_TABLES: Final = ("batch", "users", "objects", "object_categories", "records", "dead")

_ITEM: Final = {name: itemgetter(i) for i, name in enumerate(EnrichedEvent._fields)}
Plan = tuple[tuple[str, int], ...]  # the staged columns of a batch and how each holds NULL


def _columns(
    events: Sequence[EnrichedEvent], urefs: list[int | None], orefs: list[int], source: str | None
) -> list[Sequence[object]]:
    """The batch as one sequence per column of `_BATCH`, NULLs as None."""
    evs: list[AccessEvent] = list(map(_ITEM["event"], events))
    # one zip(*rows) for all fields: far cheaper than a pass per field (its per-row iterators cost a few
    # young-generation collections)
    ev: dict[str, tuple[Any, ...]] = dict(zip(AccessEvent._fields, zip(*evs, strict=True), strict=True))
    dumps = orjson.dumps
    return [
        ev["id"], _keys(ev["id"]), ev["time_us"], ev["dataset"], ev["action"], ev["outcome"], ev["user"], urefs,
        ev["source_ip"], ev["source_port"], list(map(_ITEM["zone"], events)), ev["host"], ev["object"], orefs,
        ev["rows"], ev["bytes"], ev["command"], ev["statement"], ev["error_code"],
        [" ".join(r) if r else None for r in ev["record_ids"]],
        [dumps(f).decode() if f else None for f in ev["fields"]],
        ev["original"], [source] * len(events), [1 if TIME_FROM in f else None for f in ev["fields"]],
    ]  # fmt: skip


def _bind_plan(columns: list[Sequence[object]]) -> tuple[Plan, list[Sequence[object]]]:
    """Which columns to stage and how: NULL throughout → left out; partly NULL → a sentinel for NULL (unless a
    value equals the sentinel: then NULL is bound as such)."""
    n = len(columns[0])
    plan: list[tuple[str, int]] = []
    bound: list[Sequence[object]] = []
    for (name, nullable), values in zip(_BATCH, columns, strict=True):
        how = _PLAIN
        if nullable is not None:
            if not any(values) and values.count(None) == n:
                continue
            sentinel = _NO_TEXT if nullable == _TEXT else _NO_INT
            if None in values and sentinel not in values:
                values = [sentinel if v is None else v for v in values]
                how = nullable
        plan.append((name, how))
        bound.append(values)
    return tuple(plan), bound


def _stage(
    conn: sqlite3.Connection,
    schema: str,
    events: Sequence[EnrichedEvent],
    dead: Sequence[DeadLetter],
    source: str | None,
) -> Plan:
    """Write the batch into the staging tables: the part of storing that needs the GIL (binding values)."""
    conn.execute("BEGIN")
    for table in _STAGING_TABLES:
        conn.execute(f"DELETE FROM {schema}.{table}")
    plan: Plan = ()
    if events:
        users: dict[UserInfo, int] = {}
        objects: dict[ObjectInfo, int] = {}
        urefs = [None if u is None else users.setdefault(u, len(users)) for u in map(_ITEM["user"], events)]
        orefs = [objects.setdefault(d, len(objects)) for d in map(_ITEM["data"], events)]
        plan, columns = _bind_plan(_columns(events, urefs, orefs, source))
        marks = ", ".join("?" * len(plan))
        conn.executemany(
            f"INSERT INTO {schema}.batch ({', '.join(name for name, _ in plan)}) VALUES ({marks})",
            zip(*columns, strict=True),
        )
        conn.executemany(
            f"INSERT INTO {schema}.users VALUES (?,?,?,?)",
            [(ref, " ".join(u.roles), 1 if u.known else 0, u.department) for u, ref in users.items()],
        )
        conn.executemany(
            f"INSERT INTO {schema}.objects VALUES (?,?,?)",
            [(ref, " ".join(d.categories) if d.categories else None, 1 if d.honeytoken else 0)
             for d, ref in objects.items()],
        )  # fmt: skip
        conn.executemany(
            f"INSERT OR IGNORE INTO {schema}.object_categories VALUES (?,?)",
            [(ref, c) for d, ref in objects.items() for c in d.categories],
        )
        # a generator: each row is freed once bound, so no garbage collection is set off
        conn.executemany(
            f"INSERT INTO {schema}.records VALUES (?,?,?)",
            ((r, e.event.time_us, e.event.id) for e in events for r in e.event.record_ids),
        )
    if dead:
        conn.executemany(
            f"INSERT INTO {schema}.dead VALUES (?,?,?,?,?,?,?)",
            [(d.source, d.fingerprint, d.offset, d.format, d.reason, d.text[:MAX_DEAD_LETTER_CHARS], d.time_us)
             for d in dead],
        )  # fmt: skip
    conn.execute("COMMIT")
    return plan


# -- the writer's half ---------------------------------------------------------------------------------------

_FROM_USER: Final = {"user_roles": "u.user_roles", "user_known": "u.user_known", "department": "u.department"}
_FROM_OBJECT: Final = {"categories": "o.categories", "honeytoken": "o.honeytoken"}
_EVENT_COLUMNS: Final = (
    "id", "id_key", "ts", "dataset", "action", "outcome", "user_name", "user_roles", "user_known", "department",
    "source_ip", "source_port", "zone", "host", "object", "categories", "honeytoken", "rows", "bytes", "command",
    "statement", "error_code", "record_ids", "fields", "original", "source",
)  # fmt: skip
_COPY_CATEGORIES: Final = """INSERT OR IGNORE INTO main.event_categories (category, ts, event_id)
    SELECT c.category, b.ts, b.id FROM staging.batch b JOIN staging.object_categories c ON c.ref = b.oref"""
_COPY_RECORDS: Final = """INSERT OR IGNORE INTO main.event_records (record_id, ts, event_id)
    SELECT record_id, ts, event_id FROM staging.records"""
_ADD_USER_DAYS: Final = """INSERT INTO main.user_days (day, user_name, events, rows, bytes)
    SELECT ts / 86400000000, user_name, count(*), sum(coalesce(rows, 0)), sum(coalesce(bytes, 0))
    FROM main.events WHERE seq > ? AND user_name IS NOT NULL AND ts >= 0 GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (day, user_name) DO UPDATE SET events = events + excluded.events, rows = rows + excluded.rows,
    bytes = bytes + excluded.bytes"""
# events without a time of their own: those whose key and id are known already are replays; the rest are noted
_DROP_UNTIMED_SEEN: Final = """DELETE FROM staging.batch WHERE untimed = 1
    AND id IN (SELECT u.id FROM main.untimed_keys u WHERE u.id_key = staging.batch.id_key)"""
_NOTE_UNTIMED: Final = """INSERT OR IGNORE INTO main.untimed_keys (id_key, id, ts)
    SELECT id_key, id, ts FROM staging.batch WHERE untimed = 1"""
_DROP_ORPHAN_RECORDS: Final = "DELETE FROM staging.records WHERE event_id NOT IN (SELECT id FROM staging.batch)"
_COPY_DEAD: Final = """INSERT OR IGNORE INTO main.dead_letters (source, fingerprint, offset, format, reason, text, seen)
    SELECT * FROM staging.dead"""


@lru_cache(maxsize=256)
def _copy_events(plan: Plan) -> str:
    """INSERT … SELECT of the staged batch into events: sentinels back to NULL, users and objects joined in."""
    how = dict(plan)
    exprs = []
    for column in _EVENT_COLUMNS:
        if column in _FROM_USER:
            exprs.append(_FROM_USER[column])
        elif column in _FROM_OBJECT:
            exprs.append(_FROM_OBJECT[column])
        elif column in how:
            exprs.append(_NULLIF[how[column]].format(f"b.{column}"))
        else:
            exprs.append("NULL")
    return (
        f"INSERT INTO main.events ({', '.join(_EVENT_COLUMNS)}) SELECT {', '.join(exprs)} FROM staging.batch b"
        " LEFT JOIN staging.users u ON u.ref = b.uref JOIN staging.objects o ON o.ref = b.oref ORDER BY b.rowid"
    )


class _Checkpointer:
    """Copies the WAL into the database file on its own connection and thread (PASSIVE checkpoints, which
    never block the writer), so the writer's commits do not wait for those writes and their fsyncs. SQLite
    starts the WAL over only when a transaction begins with the whole WAL copied, which a checkpoint running
    beside a busy writer never sees: once the WAL file outgrows `limit_bytes` (it is cut back to that size when
    it starts over), the writer waits for the checkpoint in progress before its next transaction (`throttle`)."""

    def __init__(self, path: Path, synchronous: str, limit_bytes: int) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA synchronous={synchronous}")
        self._wal = f"{path}-wal"
        self._limit = limit_bytes
        self._cond = threading.Condition()
        self._requested = False
        self._running = False
        self._closed = False
        self._checkpointer = threading.Thread(target=self._run, name="pii-guard-checkpoint", daemon=True)
        self._checkpointer.start()

    def request(self) -> None:
        with self._cond:
            self._requested = True
            self._cond.notify_all()

    def throttle(self) -> None:
        """If the WAL has outgrown its limit, wait until it is wholly copied (unless a reader holds on to part
        of it): the next transaction then starts it over."""
        try:
            if os.stat(self._wal).st_size <= self._limit:
                return
        except OSError:
            return
        with self._cond:
            while (self._requested or self._running) and not self._closed:
                self._cond.wait()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._requested and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                self._requested = False
                self._running = True
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:
                log.warning("checkpoint of the event store failed, retried after the next commit: %s", exc)
            with self._cond:
                self._running = False
                self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._checkpointer.join()
        self._conn.close()


_CAN_SERIALIZE: Final = hasattr(sqlite3.Connection, "serialize") and hasattr(sqlite3.Connection, "deserialize")


class _Job:
    """A staged batch on its way to the writer thread. `image`, the serialized staging database (several MB),
    is let go as soon as the writer has copied it in, not kept until the next batch arrives."""

    __slots__ = ("future", "image", "n", "plan")

    def __init__(self, image: bytes | None, plan: Plan, n: int, future: Future[WriteResult]) -> None:
        self.image = image
        self.plan = plan
        self.n = n
        self.future = future


class SqliteEventStore:
    """Single-writer event store. Readers open their own read-only connections.

    `submit` stages a batch in the calling thread and queues it for the store's writer thread; the future it
    returns is resolved once the batch is committed. `write` is `submit(...).result()`. Batches are committed
    in the order submitted; one thread at a time may submit."""

    def __init__(
        self,
        path: Path,
        synchronous: str = "NORMAL",
        max_size_mb: float | None = None,
        *,
        wal_limit_pages: int = WAL_LIMIT_PAGES,
        pipelined: bool = _CAN_SERIALIZE,
    ) -> None:
        self.path = path
        self._conn = connect(path, synchronous, "event store")
        self._stage_conn: sqlite3.Connection | None = None
        self._empty_image = b""
        try:
            self._conn.create_function("pii_event_key", 1, event_key, deterministic=True)  # migration 2
            if max_size_mb is not None:
                page = self._conn.execute("PRAGMA page_size").fetchone()[0]
                self._conn.execute(f"PRAGMA max_page_count={max(1, int(max_size_mb * 1_048_576 // page))}")
            migrate(self._conn, EVENTS_MIGRATIONS, f"event store {path}")
            self._conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpoint thread does it
            wal_limit = wal_limit_pages * self._conn.execute("PRAGMA page_size").fetchone()[0]
            self._conn.execute(f"PRAGMA journal_size_limit={wal_limit}")
            self._conn.execute("ATTACH ':memory:' AS staging")
            self._conn.executescript(_STAGING.replace("CREATE TABLE ", "CREATE TABLE staging."))
            if pipelined:  # the caller stages into a database of its own, which the writer copies in
                self._stage_conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
                self._stage_conn.execute("PRAGMA journal_mode=OFF")
                self._stage_conn.executescript(_STAGING)
                self._empty_image = self._stage_conn.serialize()  # what the writer's copy goes back to
            self._checkpointer = _Checkpointer(path, synchronous, wal_limit)
        except sqlite3.Error as exc:
            self._close_connections()
            raise StoreError(f"cannot prepare event store {path}: {exc}") from None
        except StoreError:
            self._close_connections()
            raise
        self._jobs: queue.Queue[_Job | None] = queue.Queue(1)
        self._last: Future[WriteResult] | None = None
        self._writer = threading.Thread(target=self._write_jobs, name="pii-guard-event-writer", daemon=True)
        self._writer.start()

    def write(
        self, events: Sequence[EnrichedEvent], dead: Sequence[DeadLetter], source: str | None = None
    ) -> WriteResult:
        """Store one batch atomically; return once it is committed."""
        return self.submit(events, dead, source).result()

    def submit(
        self, events: Sequence[EnrichedEvent], dead: Sequence[DeadLetter], source: str | None = None
    ) -> Future[WriteResult]:
        """Stage one batch and queue it for the writer thread (waiting while the batch before it is queued and
        not yet taken). The future holds its WriteResult once committed, or the StoreError that stopped it."""
        future: Future[WriteResult] = Future()
        try:
            if self._stage_conn is not None:
                plan = _stage(self._stage_conn, "main", events, dead, source)
                data: bytes | None = self._stage_conn.serialize()
            else:
                self._drain()  # the writer's connection is staged into here
                plan = _stage(self._conn, "staging", events, dead, source)
                data = None
        except BaseException as exc:
            for conn in (self._stage_conn, self._conn):
                if conn is not None and conn.in_transaction:
                    conn.execute("ROLLBACK")
            if not isinstance(exc, sqlite3.Error):
                raise
            future.set_exception(StoreError(f"cannot write to event store {self.path}: {exc}"))
            return future
        self._jobs.put(_Job(data, plan, len(events), future))
        self._last = future
        return future

    def _drain(self) -> None:
        """Wait until every submitted batch is committed (or has failed)."""
        if self._last is not None:
            wait([self._last])

    def _write_jobs(self) -> None:
        while (job := self._jobs.get()) is not None:
            future = job.future
            try:
                result = self._commit(job)
            except BaseException as exc:  # the caller raises it
                future.set_exception(exc)
            else:
                future.set_result(result)

    def _empty_staging(self) -> None:
        """Swap the writer's copy of a committed batch (MBs) for the empty staging database, rather than keep
        it until the next batch replaces it. Before the batch's future is resolved: once it is, the caller may
        use the connection (`count_events`, or staging into it when not pipelined) and the writer must be idle.
        If the swap fails, the copy stays: it is only memory."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.deserialize(self._empty_image, name="staging")

    def _commit(self, job: _Job) -> WriteResult:
        """In the writer thread: copy the staged batch into the store in one transaction. SQLite runs each
        statement with the GIL released, so the caller's thread goes on meanwhile."""
        conn = self._conn
        self._checkpointer.throttle()
        copied = job.image is not None
        try:
            if job.image is not None:
                conn.deserialize(job.image, name="staging")
                job.image = None
            conn.execute("BEGIN IMMEDIATE")
            stored = 0
            n, plan = job.n, job.plan
            if n:
                last_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM main.events").fetchone()[0]
                if any(name == "untimed" for name, _ in plan):
                    if conn.execute(_DROP_UNTIMED_SEEN).rowcount:
                        conn.execute(_DROP_ORPHAN_RECORDS)
                    conn.execute(_NOTE_UNTIMED)
                try:
                    stored = conn.execute(_copy_events(plan)).rowcount
                except sqlite3.IntegrityError:
                    # a key is taken: a replay, or (once in a blue moon) a different event with the same 64 bits
                    self._drop_stored()
                    stored = conn.execute(_copy_events(plan)).rowcount
                conn.execute(_COPY_CATEGORIES)
                conn.execute(_COPY_RECORDS)
                if stored:
                    conn.execute(_ADD_USER_DAYS, (last_seq,))
            dead_stored = conn.execute(_COPY_DEAD).rowcount
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot write to event store {self.path}: {exc}") from None
            raise
        finally:
            if copied:
                self._empty_staging()
        self._checkpointer.request()
        return WriteResult(stored, n - stored, dead_stored)

    def _drop_stored(self) -> None:
        """Take the events stored already out of the staged batch, and clear the key of an event whose time and
        key another event holds: it is stored without a key, and found by time and id among those on a replay."""
        conn = self._conn
        # (time, key) → id of the event holding it, stored or earlier in this batch
        holders: dict[tuple[int, int], str] = {}
        keyless: set[tuple[int, str]] = set()  # (time, id) of events of this batch to store without a key
        drop: list[tuple[int]] = []
        unkey: list[tuple[int]] = []
        rows = conn.execute("SELECT rowid, id, id_key, ts FROM staging.batch").fetchall()
        for rowid, event_id, key, ts in rows:
            holder = holders.get((ts, key))
            if holder is None:
                row = conn.execute("SELECT id FROM main.events WHERE ts = ? AND id_key = ?", (ts, key)).fetchone()
                if row is None:
                    holders[ts, key] = event_id
                    continue
                holder = holders[ts, key] = str(row[0])
            if holder == event_id or (ts, event_id) in keyless:
                drop.append((rowid,))  # stored already (a replay), or twice in this batch
            elif conn.execute(
                "SELECT 1 FROM main.events WHERE ts = ? AND id_key IS NULL AND id = ?", (ts, event_id)
            ).fetchone():
                drop.append((rowid,))
            else:
                log.warning("event %s shares its 64-bit key with event %s: stored without a key", event_id, holder)
                keyless.add((ts, event_id))
                unkey.append((rowid,))
        conn.executemany("DELETE FROM staging.batch WHERE rowid = ?", drop)
        conn.executemany("UPDATE staging.batch SET id_key = NULL WHERE rowid = ?", unkey)
        conn.execute(_DROP_ORPHAN_RECORDS)

    def count_events(self) -> int:
        self._drain()
        return int(self._conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def count_dead_letters(self) -> int:
        self._drain()
        return int(self._conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def close(self) -> None:
        self._jobs.put(None)
        self._writer.join()
        self._checkpointer.close()
        self._close_connections()  # the last connection: SQLite copies what is left of the WAL and removes it

    def _close_connections(self) -> None:
        if self._stage_conn is not None:
            self._stage_conn.close()
        self._conn.close()


def open_readonly(path: Path) -> sqlite3.Connection:
    """A reader connection that cannot write (Datasette's pattern: one writer, read-only readers)."""
    if not path.exists():
        raise StoreError(f"no event store at {path}", hint="run `pii-guard ingest` or the daemon first")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn
