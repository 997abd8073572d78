"""What the status page shows, gathered from the state database and (read-only) from the SQLite event store:
each followed file's position and lag, dead letters by source and reason, rule health (matches per rule over
the last 30 days beside the rules the policy defines, so a rule that never fires shows), the scheduled jobs'
last runs, open incidents and the notification outbox."""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from pii_guard.errors import PiiGuardError
from pii_guard.status import file_status, incident_status
from pii_guard.store.sqlite import open_readonly
from pii_guard.web.context import WebContext

DAY_US = 86_400_000_000
RULE_WINDOW_US = 30 * DAY_US


@dataclass
class StoreFacts:
    kind: str
    size: int | None = None
    newest_us: int | None = None
    dead_by_reason: list[dict[str, Any]] = field(default_factory=list)
    dead_recent: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""


def store_facts(ctx: WebContext, with_text: bool) -> StoreFacts:
    if not ctx.backends.is_sqlite:
        return StoreFacts("elasticsearch", problem="dead letters of the Elasticsearch store are kept in "
                                                   f"{ctx.config.store_path.name} under the state directory")
    path = ctx.config.store_path
    facts = StoreFacts("sqlite")
    try:
        conn = open_readonly(path)
    except PiiGuardError as exc:
        facts.problem = str(exc)
        return facts
    try:
        facts.size = sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
        facts.newest_us = conn.execute("SELECT max(ts) FROM events").fetchone()[0]
        facts.dead_by_reason = [
            {"source": s, "reason": r, "count": n, "last_us": last} for s, r, n, last in conn.execute(
                "SELECT source, reason, count(*), max(seen) FROM dead_letters GROUP BY source, reason"
                " ORDER BY 3 DESC LIMIT 50")]
        facts.dead_recent = [
            {"source": s, "offset": o, "format": f, "reason": r, "seen_us": seen, "text": t if with_text else None}
            for s, o, f, r, seen, t in conn.execute(
                "SELECT source, offset, format, reason, seen, substr(text, 1, 2000) FROM dead_letters"
                " ORDER BY seq DESC LIMIT 20")]
    except sqlite3.Error as exc:
        facts.problem = f"cannot read the event store: {exc}"
    finally:
        conn.close()
    return facts


def rule_health(ctx: WebContext, defined: list[str]) -> list[dict[str, Any]]:
    since = ctx.now_us() - RULE_WINDOW_US
    with ctx.state() as state:
        rows = state.connection.execute(
            "SELECT rule_id, count(*), sum(doc LIKE '%\"attempt\":true%'), max(ts) FROM matches WHERE ts >= ?"
            " GROUP BY rule_id", (since,)).fetchall()
    seen = {str(r): {"rule": str(r), "matches": int(n), "attempts": int(a or 0), "last_us": int(last)}
            for r, n, a, last in rows}
    out = list(seen.values())
    out += [{"rule": r, "matches": 0, "attempts": 0, "last_us": None} for r in defined if r not in seen]
    return sorted(out, key=lambda r: (-r["matches"], r["rule"]))


def job_runs(ctx: WebContext) -> list[dict[str, Any]]:
    with ctx.state() as state, contextlib.suppress(sqlite3.Error):
        rows = state.connection.execute(
            "SELECT j.job, j.fire_us, j.status, j.attempts, j.detail FROM job_runs j JOIN (SELECT job, max(fire_us)"
            " AS last FROM job_runs GROUP BY job) l ON l.job = j.job AND l.last = j.fire_us ORDER BY j.job").fetchall()
        return [{"job": j, "fire_us": f, "status": s, "attempts": a, "detail": d} for j, f, s, a, d in rows]
    return []


def gather(ctx: WebContext, with_text: bool) -> dict[str, Any]:
    defined, policy_problem = ctx.policy_rules.get(ctx.config)
    return {"files": file_status(ctx.state_db, ctx.clock), "incidents": incident_status(ctx.state_db),
            "store": store_facts(ctx, with_text), "rules": rule_health(ctx, defined), "policy_problem": policy_problem,
            "jobs": job_runs(ctx)}
