"""Every SQL statement the reports run against the SQLite event store, in one place.

The event store's shape (events with a space-separated `categories` column, the `event_categories` and
`event_records` side tables) is read here and nowhere else in reports/, so a change of that shape is adapted
here alone. The report never selects statements, record ids or original lines: only who, what object, which
categories, how much, where from and when.

Local time (hour of day, day, weekday) is computed in SQL as `(ts + offset) / unit`, one query per stretch of
constant UTC offset (period.segments), so daylight-saving changes inside a period are exact.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from pii_guard.reports.cache import DayCache
from pii_guard.reports.period import Segment, segments
from pii_guard.store.sqlite import event_key, open_readonly

HOUR_US = 3_600_000_000
DAY_US = 86_400_000_000
MINUTE_US = 60_000_000
EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()


class Usage(NamedTuple):
    """One group of the period's rollup: a user's access to one set of categories with one action on one
    local day. (NamedTuples: a month holds hundreds of thousands of these.)"""

    user: str | None
    roles: str  # space-separated, as stored
    department: str | None
    known: bool | None
    categories: tuple[str, ...]
    action: str
    day: int  # local days since 1970-01-01
    events: int
    failures: int
    rows: int
    bytes: int
    first_us: int
    last_us: int


class Place(NamedTuple):
    """Where from: a user's access to a set of categories through one client IP, over the period."""

    user: str | None
    categories: tuple[str, ...]
    zone: str | None
    ip: str | None
    events: int
    rows: int
    first_us: int


class ObjectUse(NamedTuple):
    user: str | None
    categories: tuple[str, ...]
    object: str
    action: str
    events: int
    rows: int
    bytes: int
    max_rows: int
    max_bytes: int
    max_from_us: int  # the largest single access happened within [max_from_us, max_to_us]
    max_to_us: int
    unknown_volume: int = 0  # accesses that went through with neither rows nor bytes logged
    unknown_first_us: int | None = None  # the first of them
    honeytoken: int = 0  # accesses the data map marked as honeytoken accesses


class Seen(NamedTuple):
    """History before the period: a user with a set of categories from an IP on a local day."""

    user: str
    categories: tuple[str, ...]
    zone: str | None
    ip: str | None
    day: int  # local days since 1970-01-01
    events: int
    rows: int


class OffHours(NamedTuple):
    """Accesses of classified data outside working hours and/or outside the user's role hours, per local day."""

    user: str | None
    roles: str
    categories: tuple[str, ...]
    day: int
    off_work: bool
    off_role: bool
    events: int
    first_us: int
    last_us: int


@dataclass(frozen=True)
class Export:
    time_us: int
    user: str | None
    object: str | None
    action: str
    rows: int | None
    bytes: int | None
    zone: str | None
    ip: str | None


class HoneytokenUse(NamedTuple):
    """Accesses of one user to one honeytoken object in the period, the refused ones apart."""

    user: str | None
    object: str
    refused: bool
    events: int
    rows: int
    first_us: int
    zone: str | None  # where the first of them came from
    ip: str | None
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Totals:
    events: int
    users: int
    objects: int
    rows: int
    bytes: int
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Hours:
    """A daily range in minutes [start, end) that may wrap past midnight, and weekdays 0=mon..6=sun."""

    start_min: int
    end_min: int
    days: frozenset[int]


@lru_cache(maxsize=4096)
def _cats(text: str | None) -> tuple[str, ...]:
    return tuple(text.split()) if text else ()


def _inside(hours: Hours, offset_us: int) -> tuple[str, list[object]]:
    """SQL that is true when an event's local time is inside `hours` (for one UTC offset)."""
    minute = f"(((ts + {int(offset_us)}) / {MINUTE_US}) % 1440)"
    weekday = f"((((ts + {int(offset_us)}) / {DAY_US}) + 3) % 7)"
    if hours.start_min <= hours.end_min:
        cond = f"({minute} >= ? AND {minute} < ?)"
    else:
        cond = f"({minute} >= ? OR {minute} < ?)"
    params: list[object] = [hours.start_min, hours.end_min]
    if len(hours.days) < 7:
        cond += f" AND {weekday} IN ({','.join(str(int(d)) for d in sorted(hours.days))})"
    return f"({cond})", params


@dataclass
class Rollup:
    usage: list[Usage] = field(default_factory=list)
    places: list[Place] = field(default_factory=list)
    objects: list[ObjectUse] = field(default_factory=list)
    hours: dict[tuple[int, int], int] = field(default_factory=dict)  # (local day, hour) -> classified accesses


# zone is a function of the client IP (enrich/zones.py), so it is carried, not grouped on: one key less to sort.
# The last three columns (reports/cache.py VERSION 2): how many accesses went through with a known volume or were
# refused (the others went through with neither rows nor bytes logged: for an export, pgAudit's COPY table TO or
# INTO OUTFILE), the first of the others, and how many were marked as honeytoken accesses. `_KNOWN` is NULL for
# exactly those others: a count of it and a CASE on it added 5% to the rollup of a generated month (600,000
# events), sums of the three-part condition (export, no volume, not refused) 11%.
_KNOWN = "coalesce(rows, bytes, nullif(outcome = 'failure', 0))"
_ROLLUP = f"""SELECT user_name, max(coalesce(user_roles, '')), max(department), max(user_known), categories, action,
    max(zone), source_ip, object, count(*), sum(outcome = 'failure'), sum(coalesce(rows, 0)), sum(coalesce(bytes, 0)),
    max(coalesce(rows, 0)), max(coalesce(bytes, 0)), min(ts), max(ts),
    count({_KNOWN}), min(CASE WHEN {_KNOWN} IS NULL THEN ts END), sum(honeytoken)
FROM events WHERE ts >= ? AND ts < ?
GROUP BY user_name, categories, action, source_ip, object"""
# a honeytoken object's accesses, per user and refused or not; zone and IP are those of the first (min(ts) is
# the query's one min/max aggregate, so SQLite takes the bare columns from its row)
_HONEYTOKEN = """SELECT user_name, outcome = 'failure', count(*), sum(coalesce(rows, 0)), min(ts), zone, source_ip,
    group_concat(DISTINCT action)
FROM events WHERE object = ? AND ts >= ? AND ts < ? AND honeytoken = 1
GROUP BY user_name, outcome = 'failure'"""
# one range per local hour: counted along the time index, no sort
_HOUR = "SELECT count(categories) FROM events WHERE ts >= ? AND ts < ?"


def _rollup_piece(conn: sqlite3.Connection, day: int, seg: Segment) -> list[Any]:
    """One piece of a day: its rollup rows, and its classified accesses per local hour."""
    rows = conn.execute(_ROLLUP, (seg.start_us, seg.end_us)).fetchall()
    off = int(seg.offsets_us[0])
    hours = []
    start = seg.start_us
    while start < seg.end_us:
        stop = min(seg.end_us, ((start + off) // HOUR_US + 1) * HOUR_US - off)
        n = conn.execute(_HOUR, (start, stop)).fetchone()[0]
        if n:
            hours.append([((start + off) // HOUR_US) % 24, int(n)])
        start = stop
    return [rows, hours]


_SIGNATURE = "SELECT count(*), max(seq), sum(seq) FROM events WHERE ts >= ? AND ts < ?"
def _key(work: Hours, role_hours: dict[str, list[Hours]], actions: Sequence[str]) -> str:
    """What an off-hours answer depends on besides the events (the hours and the policy's role hours)."""
    parts = [work, sorted(role_hours.items()), list(actions)]
    return hashlib.blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def _reader(path: Path, check_same_thread: bool = True) -> sqlite3.Connection:
    """A read-only connection tuned for scans: sorts in memory (and on two threads), a larger page cache."""
    if check_same_thread:
        conn = open_readonly(path)
    else:
        if not path.exists():
            return open_readonly(path)  # raises the store's error
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    conn.row_factory = None
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-131072")
    conn.execute("PRAGMA threads=2")
    return conn


def _day_pieces(start_us: int, end_us: int, timezones: Sequence[str]) -> Iterator[tuple[int, Segment]]:
    """(local day number in the first zone, a piece of that day in which every zone keeps one UTC offset), in
    time order."""
    for seg in segments(start_us, end_us, timezones):
        off = seg.offsets_us[0]
        cursor = seg.start_us
        while cursor < seg.end_us:
            day = (cursor + off) // DAY_US
            stop = min(seg.end_us, (day + 1) * DAY_US - off)
            yield day, Segment(cursor, stop, seg.offsets_us)
            cursor = stop


class EventFacts:
    """Aggregates of the SQLite event store for one report, on read-only connections. The per-day queries run
    on `workers` connections at once: the sqlite3 module lets go of the GIL while SQLite sorts and groups."""

    def __init__(self, path: Path, workers: int | None = None, cache: DayCache | None = None) -> None:
        self._path = path
        self._cache = cache
        self._conn = _reader(path)
        self._workers = max(1, workers if workers is not None else min(2, os.cpu_count() or 1))
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._signatures: dict[tuple[int, int], tuple[int, int, int]] = {}

    def _signature(self, start_us: int, end_us: int) -> tuple[int, int, int]:
        """What a cached piece must still match: count, largest and sum of the seq of its events."""
        hit = self._signatures.get((start_us, end_us))
        if hit is None:
            n, top, total = self._conn.execute(_SIGNATURE, (start_us, end_us)).fetchone()
            hit = self._signatures[(start_us, end_us)] = (int(n), int(top or 0), int(total or 0))
        return hit

    def close(self) -> None:
        self._conn.close()
        for conn in self._readers:
            conn.close()

    def _thread_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _reader(self._path, check_same_thread=False)
            with self._lock:
                self._readers.append(conn)
        return conn

    def _per_day(self, start_us: int, end_us: int, timezones: str | Sequence[str],
                 query: Callable[[sqlite3.Connection, int, Segment], Any], kind: str) -> Iterator[tuple[int, Any]]:
        """(local day, query's answer) for every piece of every day, in time order. Answers are taken from the
        day cache while the piece's events are unchanged; the rest run on the worker connections."""
        zones = [timezones] if isinstance(timezones, str) else list(timezones)
        pieces = list(_day_pieces(start_us, end_us, zones))
        cache = self._cache
        answers: list[Any] = [None] * len(pieces)
        signatures: list[tuple[int, int, int]] = []
        variant = ""
        todo = list(range(len(pieces)))
        if cache is not None:
            variant = f"{kind}:{','.join(zones)}"
            todo = []
            for i, (_, seg) in enumerate(pieces):
                signatures.append(self._signature(seg.start_us, seg.end_us))
                answers[i] = cache.get(kind, variant, seg.start_us, seg.end_us, signatures[i])
                if answers[i] is None:
                    todo.append(i)
        if self._workers == 1 or len(todo) < 2:
            fresh = [query(self._conn, *pieces[i]) for i in todo]
        else:
            with ThreadPoolExecutor(self._workers, thread_name_prefix="pii-guard-report") as pool:
                fresh = list(pool.map(lambda i: query(self._thread_conn(), *pieces[i]), todo))
        for i, answer in zip(todo, fresh, strict=True):
            answers[i] = answer
            if cache is not None:
                cache.put(kind, variant, pieces[i][1].start_us, pieces[i][1].end_us, signatures[i], answer)
        for (day, _), answer in zip(pieces, answers, strict=True):
            yield day, answer

    def rollup(self, start_us: int, end_us: int, timezone: str) -> Rollup:
        """The period's accesses by user, categories, action, client IP and object, one query per local day (a
        day's sort fits in memory; a month's would not), merged into per-day usage, per-object use and the
        classified accesses per local hour."""
        out = Rollup()
        usage: dict[tuple[Any, ...], list[Any]] = {}
        places: dict[tuple[Any, ...], list[Any]] = {}
        objects: dict[tuple[Any, ...], list[Any]] = {}

        for day, (rows, hours) in self._per_day(start_us, end_us, timezone, _rollup_piece, "rollup"):
            for (user, roles, dept, known, cats, action, zone, ip, obj, n, fails, volume, size, max_rows, max_bytes,
                 first, last, known_volume, unknown_first, honey) in rows:
                key = (user, cats, action, day)
                u = usage.get(key)
                if u is None:
                    usage[key] = [roles, dept, known, n, fails, volume, size, first, last]
                else:
                    u[3] += n
                    u[4] += fails
                    u[5] += volume
                    u[6] += size
                    if first < u[7]:
                        u[7] = first
                    if last > u[8]:
                        u[8] = last
                pkey = (user, cats, ip)
                pl = places.get(pkey)
                if pl is None:
                    places[pkey] = [zone, n, volume, first]
                else:
                    pl[1] += n
                    pl[2] += volume
                    if first < pl[3]:
                        pl[3] = first
                if obj is not None:
                    unknown = n - known_volume
                    okey = (user, cats, obj, action)
                    o = objects.get(okey)
                    if o is None:
                        objects[okey] = [n, volume, size, max_rows, max_bytes, first, last, unknown, unknown_first,
                                         honey]
                    else:
                        o[0] += n
                        o[1] += volume
                        o[2] += size
                        if (max_rows, max_bytes) > (o[3], o[4]):
                            o[3], o[4], o[5], o[6] = max_rows, max_bytes, first, last
                        o[7] += unknown
                        if unknown_first is not None and (o[8] is None or unknown_first < o[8]):
                            o[8] = unknown_first
                        o[9] += honey
            for hour, n in hours:
                out.hours[(day, int(hour))] = out.hours.get((day, int(hour)), 0) + int(n)
        out.usage = [Usage(user, roles, dept, None if known is None else bool(known), _cats(cats), action, day, n,
                           fails, rows, size, first, last)
                     for (user, cats, action, day), (roles, dept, known, n, fails, rows, size, first, last)
                     in usage.items()]
        out.places = [Place(user, _cats(cats), zone, ip, n, rows, first)
                      for (user, cats, ip), (zone, n, rows, first) in places.items()]
        out.objects = [ObjectUse(user, _cats(cats), obj, action, *vals)
                       for (user, cats, obj, action), vals in objects.items()]
        return out

    def history(self, start_us: int, end_us: int, timezone: str) -> list[Seen]:
        """Who used which categories from where, per local day, before the period (the baseline). Made from the
        same per-day rollup as the reports, so the days the daily reports grouped are not grouped again."""
        out: list[Seen] = []
        for day, (rows, _) in self._per_day(start_us, end_us, timezone, _rollup_piece, "rollup"):
            seen: dict[tuple[Any, ...], list[int]] = {}
            for user, _r, _d, _k, cats, _a, zone, ip, _o, n, _f, volume, *_ in rows:
                if user is None:
                    continue
                key = (user, cats, zone, ip)
                hit = seen.get(key)
                if hit is None:
                    seen[key] = [n, volume]
                else:
                    hit[0] += n
                    hit[1] += volume
            out.extend(Seen(u, _cats(c), z, ip, day, n, volume) for (u, c, z, ip), (n, volume) in seen.items())
        return out

    def off_hours(self, start_us: int, end_us: int, timezone: str, work: Hours, policy_timezone: str,
                  role_hours: dict[str, list[Hours]], view_actions: Sequence[str]) -> list[OffHours]:
        """Accesses of classified data outside `work` hours, or by a role set outside all its roles' hours
        (`role_hours`: stored user_roles value -> the hours of its timed roles; only view actions count)."""
        actions = list(view_actions)

        def query(conn: sqlite3.Connection, day: int, seg: Segment) -> list[Any]:
            work_off, policy_off = int(seg.offsets_us[0]), int(seg.offsets_us[1])
            inside, params = _inside(work, work_off)
            role_cases: list[str] = []
            role_params: list[object] = []
            for roles, ranges in role_hours.items():
                role_params.append(roles)
                parts = []
                for hours in ranges:
                    sql, p = _inside(hours, policy_off)
                    parts.append(sql)
                    role_params.extend(p)
                role_cases.append(f"WHEN ? THEN NOT ({' OR '.join(parts)})")
            role_sql = "0"
            if role_cases and actions:
                marks = ",".join("?" * len(actions))
                role_sql = (f"(user_known = 1 AND action IN ({marks}) AND "
                            f"CASE user_roles {' '.join(role_cases)} ELSE 0 END)")
                role_params = [*actions, *role_params]
            sql = f"""SELECT user_name, coalesce(user_roles, ''), categories, off_work, off_role, count(*), min(ts),
                    max(ts)
                FROM (SELECT user_name, user_roles, categories, ts, NOT {inside} AS off_work, {role_sql} AS off_role
                      FROM events WHERE ts >= ? AND ts < ? AND categories IS NOT NULL)
                WHERE off_work OR off_role
                GROUP BY user_name, user_roles, categories, off_work, off_role"""
            return conn.execute(sql, [*params, *role_params, seg.start_us, seg.end_us]).fetchall()

        return [OffHours(u, r, _cats(c), day, bool(ow), bool(orl), n, f, la)
                for day, rows in self._per_day(start_us, end_us, [timezone, policy_timezone], query,
                                               "off:" + _key(work, role_hours, view_actions))
                for u, r, c, ow, orl, n, f, la in rows]

    def export_detail(self, use: ObjectUse) -> Export | None:
        """The event behind a largest-export figure (the earliest such), found within the time range of the
        rollup group that held it."""
        row = self._conn.execute(
            """SELECT ts, user_name, object, action, rows, bytes, zone, source_ip FROM events
            WHERE ts >= ? AND ts <= ? AND object = ? AND user_name IS ? AND action = ?
              AND coalesce(rows, 0) = ? AND coalesce(bytes, 0) = ?
            ORDER BY ts LIMIT 1""",
            (use.max_from_us, use.max_to_us, use.object, use.user, use.action, use.max_rows, use.max_bytes),
        ).fetchone()
        return Export(*row) if row else None

    def honeytoken_access(self, objects: Iterable[str], start_us: int, end_us: int) -> list[HoneytokenUse]:
        """The accesses marked as honeytoken accesses of these objects (those the rollup found some for), found
        along the object index."""
        out = []
        for obj in sorted(set(objects)):
            for user, refused, n, rows, first, zone, ip, actions in self._conn.execute(
                    _HONEYTOKEN, (obj, start_us, end_us)):
                out.append(HoneytokenUse(user, obj, bool(refused), int(n), int(rows), int(first), zone, ip,
                                         tuple(sorted({a for a in (actions or "").split(",") if a}))))
        return out

    def last_seen_before(self, users: Iterable[str], before_us: int) -> dict[str, int]:
        """The time of each user's last event before `before_us` (users never seen are left out)."""
        out: dict[str, int] = {}
        for user in users:
            row = self._conn.execute("SELECT max(ts) FROM events WHERE user_name = ? AND ts < ?",
                                     (user, before_us)).fetchone()
            if row and row[0] is not None:
                out[user] = int(row[0])
        return out

    def totals(self, start_us: int, end_us: int) -> Totals:
        events, users, objects, rows, size = self._conn.execute(
            """SELECT count(*), count(DISTINCT user_name), count(DISTINCT object), sum(coalesce(rows, 0)),
                sum(coalesce(bytes, 0)) FROM events WHERE ts >= ? AND ts < ?""",
            (start_us, end_us),
        ).fetchone()
        cats = self._conn.execute(
            "SELECT DISTINCT categories FROM events WHERE ts >= ? AND ts < ? AND categories IS NOT NULL",
            (start_us, end_us),
        ).fetchall()
        found = sorted({c for (text,) in cats for c in _cats(text)})
        return Totals(int(events), int(users), int(objects), int(rows or 0), int(size or 0), tuple(found))


# -- retention ---------------------------------------------------------------------------------------------


def prune_events(conn: sqlite3.Connection, cutoff_of: Callable[[tuple[str, ...]], int | None], oldest_cutoff_us: int,
                 batch: int = 5_000) -> int:
    """Delete events whose every category's retention has run out (`cutoff_of(categories)`: delete when the
    event is older than this; None: keep), with their side-table rows; in short transactions so the
    daemon's writer is never held up for long. Returns how many events were deleted."""
    deleted = 0
    after = (-(1 << 62), -1)
    while True:
        rows = conn.execute(
            "SELECT ts, seq, id, categories, record_ids, user_name, coalesce(rows, 0), coalesce(bytes, 0)"
            " FROM events WHERE ts < ? AND (ts, seq) > (?, ?) ORDER BY ts, seq LIMIT ?",
            (oldest_cutoff_us, *after, batch),
        ).fetchall()
        if not rows:
            return deleted
        after = (int(rows[-1][0]), int(rows[-1][1]))
        doomed = []
        days: dict[tuple[int, str], list[int]] = {}  # what the deleted events counted in user_days
        for ts, seq, event_id, cats, records, user, n_rows, n_bytes in rows:
            cutoff = cutoff_of(_cats(cats))
            if cutoff is not None and ts < cutoff:
                doomed.append((event_id, ts, _cats(cats), _cats(records), seq))
                if user is not None and ts >= 0:
                    total = days.setdefault((ts // DAY_US, user), [0, 0, 0])
                    total[0] += 1
                    total[1] += n_rows
                    total[2] += n_bytes
        if not doomed:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("DELETE FROM events WHERE seq = ?", [(d[4],) for d in doomed])
            conn.executemany("UPDATE user_days SET events = events - ?, rows = rows - ?, bytes = bytes - ?"
                             " WHERE day = ? AND user_name = ?", [(*t, *k) for k, t in days.items()])
            conn.executemany("DELETE FROM user_days WHERE day = ? AND user_name = ? AND events <= 0", list(days))
            conn.executemany("DELETE FROM event_categories WHERE category = ? AND ts = ? AND event_id = ?",
                             [(c, ts, eid) for eid, ts, cats, _, _ in doomed for c in cats])
            conn.executemany("DELETE FROM event_records WHERE record_id = ? AND ts = ? AND event_id = ?",
                             [(r, ts, eid) for eid, ts, _, recs, _ in doomed for r in recs])
            conn.executemany("DELETE FROM untimed_keys WHERE id_key = ? AND id = ?",
                             [(event_key(eid), eid) for eid, *_ in doomed])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        deleted += len(doomed)
