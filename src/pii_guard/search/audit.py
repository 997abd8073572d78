"""Who queried the monitor: every search and who-accessed run is one hash-chained row of the state database,
written before the answer is shown (a query that cannot be recorded is not run)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from pii_guard import chain
from pii_guard.errors import StoreError
from pii_guard.incidents.records import TIMELINE_COLUMNS
from pii_guard.model import format_timestamp
from pii_guard.store.state import StateStore

AUDIT_COLUMNS = ("at_us", "actor", "command", "detail", "results")


def record(state_path: Path, actor: str, command: str, detail: dict[str, Any], results: int | None,
           now_us: int) -> None:
    """Append one audit row. The row is required, by design: a responder's search is accountable, so a user who
    can read the stores but not write the state database gets a StoreError and no answer (nothing is shown)."""
    state = StateStore(state_path)
    conn = state.connection
    try:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                chain.append(conn, "monitor_audit", AUDIT_COLUMNS,
                             (now_us, actor, command, orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode(),
                              results))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot record this {command} in the audit log of {state_path} ({exc}); every search is recorded "
                "before its answer is shown, so nothing is shown",
                hint="run it as a user who may write the state database, e.g. with sudo -u pii-guard, or get write "
                     "access to it and its directory") from None
    finally:
        state.close()


def entries(conn: sqlite3.Connection, since_us: int = 0) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT seq, at_us, actor, command, detail, results FROM monitor_audit WHERE at_us >= ?"
                        " ORDER BY seq", (since_us,)).fetchall()
    return [{"seq": seq, "at": format_timestamp(at), "actor": actor, "command": command,
             "detail": orjson.loads(detail), "results": results} for seq, at, actor, command, detail, results in rows]


def verify_all(conn: sqlite3.Connection) -> list[chain.ChainReport]:
    from pii_guard.reports.signoff import verify as verify_signoffs

    return [chain.verify(conn, "monitor_audit", AUDIT_COLUMNS),
            chain.verify(conn, "incident_timeline", TIMELINE_COLUMNS), verify_signoffs(conn)]
