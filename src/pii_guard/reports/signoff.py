"""The review record in the state database: every report made (its file's SHA-256), the reviewers' sign-offs
(hash-chained like the audit log, so an edited or deleted sign-off shows), and which periods are overdue."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from pii_guard import chain
from pii_guard.errors import PiiGuardError
from pii_guard.reports.period import Period

SIGNOFF_COLUMNS = ("report", "sha256", "reviewer", "signed_us", "note")
MAX_NOTE = 4000


class ReportError(PiiGuardError):
    """A report cannot be made, delivered or signed off."""


@dataclass(frozen=True)
class Registered:
    name: str
    kind: str
    start_us: int
    end_us: int
    timezone: str
    created_us: int
    sha256: str
    path: str
    headline: str


@dataclass(frozen=True)
class SignOff:
    report: str
    sha256: str
    reviewer: str
    signed_us: int
    note: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def register(conn: sqlite3.Connection, period: Period, created_us: int, sha256: str, path: Path,
             headline: str) -> None:
    """Record a report made (a remade report of the same period replaces the earlier file's record; sign-offs of
    the earlier file keep its hash, so they no longer count for the new file)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "INSERT OR REPLACE INTO review_reports (name, kind, start_us, end_us, timezone, created_us, sha256, path,"
            " headline) VALUES (?,?,?,?,?,?,?,?,?)",
            (period.name, period.kind, period.start_us, period.end_us, period.timezone, created_us, sha256,
             str(path), headline),
        )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def registered(conn: sqlite3.Connection, name: str | None = None, since_us: int | None = None) -> list[Registered]:
    sql = "SELECT name, kind, start_us, end_us, timezone, created_us, sha256, path, headline FROM review_reports"
    clauses: list[str] = []
    params: list[object] = []
    if name is not None:
        clauses.append("name = ?")
        params.append(name)
    if since_us is not None:
        clauses.append("end_us > ?")
        params.append(since_us)
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return [Registered(*row) for row in conn.execute(sql + " ORDER BY start_us DESC, name", params)]


def sign(conn: sqlite3.Connection, report: Path, reviewer: str, note: str, now_us: int) -> tuple[SignOff, str]:
    """Sign off the report file: its name must be a registered report and its bytes the ones registered."""
    if not reviewer.strip():
        raise ReportError("say who reviewed it: --by NAME")
    if not note.strip():
        raise ReportError("a sign-off needs a note: --note TEXT (what was checked, what follows)")
    if not report.is_file():
        raise ReportError(f"{report}: no such report file")
    name = report.name.removesuffix(".html")
    found = registered(conn, name)
    if not found:
        raise ReportError(f"{report.name} is not a report pii-guard made (no record of {name!r})",
                          hint="sign the .html file written by the daemon or `pii-guard report`")
    digest = file_sha256(report)
    if digest != found[0].sha256:
        raise ReportError(f"{report.name} is not the file pii-guard made: its SHA-256 differs from the one "
                          "recorded when it was written", hint="make the report again and review that file")
    entry = SignOff(name, digest, reviewer.strip()[:200], now_us, note.strip()[:MAX_NOTE])
    conn.execute("BEGIN IMMEDIATE")
    try:
        head = chain.append(conn, "review_signoffs", SIGNOFF_COLUMNS,
                            (entry.report, entry.sha256, entry.reviewer, entry.signed_us, entry.note))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return entry, head


def signoffs(conn: sqlite3.Connection, name: str | None = None) -> list[SignOff]:
    sql = "SELECT report, sha256, reviewer, signed_us, note FROM review_signoffs"
    rows = conn.execute(sql + (" WHERE report = ? ORDER BY seq" if name else " ORDER BY seq"),
                        (name,) if name else ()).fetchall()
    return [SignOff(*row) for row in rows]


def verify(conn: sqlite3.Connection) -> chain.ChainReport:
    return chain.verify(conn, "review_signoffs", SIGNOFF_COLUMNS)


@dataclass(frozen=True)
class ReviewState:
    report: Registered
    signed: list[SignOff]  # sign-offs of this very file (same SHA-256)
    overdue: bool

    @property
    def status(self) -> str:
        if self.signed:
            return "reviewed"
        return "overdue" if self.overdue else "awaiting review"


def review_states(conn: sqlite3.Connection, now_us: int, due_us: int, since_us: int | None = None) -> list[ReviewState]:
    """Each registered report with its sign-offs; unsigned ones made more than `due_us` ago are overdue."""
    by_report: dict[str, list[SignOff]] = {}
    for s in signoffs(conn):
        by_report.setdefault(s.report, []).append(s)
    out = []
    for r in registered(conn, since_us=since_us):
        signed = [s for s in by_report.get(r.name, []) if s.sha256 == r.sha256]
        out.append(ReviewState(r, signed, not signed and now_us - r.created_us > due_us))
    return out


def monitoring_since(state: sqlite3.Connection, events: Path | None) -> int | None:
    """When pii-guard started watching: the earliest of the first stored event (the SQLite event store, when
    there is one), the first scheduled job run and the first report made; None on a fresh install with none of
    them. `review list` expects no reports for periods before it."""
    found: list[int] = []
    if events is not None and events.is_file():
        from pii_guard.store.sqlite import open_readonly

        try:
            conn = open_readonly(events)
            try:
                row = conn.execute("SELECT min(ts) FROM events").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise ReportError(f"cannot read the event store {events}: {exc}",
                              hint="check that it is an event store pii-guard wrote and that you may read it") from None
        if row is not None and row[0] is not None:
            found.append(int(row[0]))
    for sql in ("SELECT min(fire_us) FROM job_runs", "SELECT min(start_us) FROM review_reports"):
        value = state.execute(sql).fetchone()[0]
        if value is not None:
            found.append(int(value))
    return min(found) if found else None
