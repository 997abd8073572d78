"""Reading incidents for responders: the list, one incident in full, and the outbox's health."""

from __future__ import annotations

import sqlite3
from typing import Any

from pii_guard.errors import IncidentError
from pii_guard.incidents import records
from pii_guard.incidents.facts import SEVERITIES, severity_rank
from pii_guard.incidents.records import STATUSES, IncidentRecord, parse_label
from pii_guard.model import format_timestamp


def list_incidents(conn: sqlite3.Connection, *, statuses: list[str], min_severity: str | None = None,
                   since_us: int | None = None, limit: int | None = None) -> list[IncidentRecord]:
    clauses: list[str] = []
    params: list[object] = []
    unknown = [s for s in statuses if s not in STATUSES and s != "all"]
    if unknown:
        raise IncidentError(f"unknown status {unknown[0]!r}", hint=f"use one of {', '.join(STATUSES)} or all")
    if "all" in statuses:
        statuses = []
    if statuses:
        clauses.append(f"status IN ({','.join('?' * len(statuses))})")
        params.extend(statuses)
    if min_severity is not None:
        allowed = [s for s in SEVERITIES if severity_rank(s) >= severity_rank(min_severity)]
        clauses.append(f"severity IN ({','.join('?' * len(allowed))})")
        params.extend(allowed)
    if since_us is not None:
        clauses.append("opened_us >= ?")
        params.append(since_us)
    return records.select(conn, " AND ".join(clauses), params, limit)


def load_incident(conn: sqlite3.Connection, label: str) -> IncidentRecord:
    number = parse_label(label)
    record = records.load(conn, number) if number is not None else None
    if record is None:
        raise IncidentError(f"no incident {label!r}", hint="see `pii-guard incidents list`")
    return record


def timeline(conn: sqlite3.Connection, number: int) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT at_us, actor, kind, text, previous FROM incident_timeline WHERE incident_id=?"
                        " ORDER BY seq", (number,)).fetchall()
    return [{"at": format_timestamp(at), "actor": actor, "kind": kind, "text": text, "previous": previous}
            for at, actor, kind, text, previous in rows]


def evidence_ids(conn: sqlite3.Connection, number: int, limit: int = 1000) -> list[str]:
    rows = conn.execute("SELECT event_id FROM incident_evidence WHERE incident_id=? ORDER BY ts, event_id LIMIT ?",
                        (number, limit)).fetchall()
    return [str(r[0]) for r in rows]


def evidence_document(event_id: str, ts: int, doc: dict[str, Any] | None) -> dict[str, Any]:
    """An evidence event for `incidents show --json`: its stored document without `event.original` (the raw log
    line is never part of the incident's view), or, when retention has removed it from the event store, its id
    and time with `in_store` false."""
    if doc is None:
        return {"event.id": event_id, "@timestamp": format_timestamp(ts), "in_store": False}
    return {k: v for k, v in doc.items() if k != "event.original"}


def deliveries(conn: sqlite3.Connection, number: int) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT target, route, state, attempts, last_error FROM outbox WHERE incident_id=?"
                        " ORDER BY id", (number,)).fetchall()
    return [{"target": t, "route": r, "state": s, "attempts": a, "error": e} for t, r, s, a, e in rows]


def silences(conn: sqlite3.Connection, now_us: int) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT id, rule_id, key, reason, created_by, created_us, until_us, expired_us"
                        " FROM silences ORDER BY id").fetchall()
    return [{"id": f"S-{i}", "rule": rule, "key": key, "reason": reason, "by": by,
             "created": format_timestamp(created), "until": format_timestamp(until),
             "ended": format_timestamp(expired) if expired is not None else None,
             "active": expired is None and until > now_us,
             "state": "ended" if expired is not None else "active" if until > now_us else "expired"}
            for i, rule, key, reason, by, created, until, expired in rows]


def outbox_summary(conn: sqlite3.Connection) -> dict[str, int]:
    return {str(state): int(n) for state, n in conn.execute("SELECT state, count(*) FROM outbox GROUP BY state")}


def to_json(record: IncidentRecord, now_us: int) -> dict[str, Any]:
    view = record.view()
    exposure = view.exposure
    return {
        "id": view.id, "severity": view.severity, "status": view.status, "rule": view.rule_id,
        "kind": view.rule_kind, "rules": list(view.rules) or [view.rule_id], "title": view.title,
        "user": view.user, "roles": list(view.roles),
        "assignee": view.assignee, "opened": format_timestamp(view.opened_us),
        "first_event": format_timestamp(view.first_us), "last_event": format_timestamp(view.last_us),
        "deadline": format_timestamp(view.deadline_us) if view.deadline_us is not None else None,
        "overdue": view.deadline_us is not None and record.is_open and view.deadline_us < now_us,
        "evidence": view.evidence_count, "categories": list(view.categories),
        "objects": list(record.facts.objects), "source_ips": list(record.facts.ips), "zones": list(view.zones),
        "exposure": {"events": exposure.events, "rows": exposure.rows, "records": exposure.records,
                     "files": exposure.files, "bytes": exposure.bytes, "objects": exposure.objects,
                     "attempts": exposure.attempts, "honeytoken": exposure.honeytoken},
        "silenced_by": f"S-{record.silence_id}" if record.silence_id is not None else None,
        "group_key": record.group_key,
    }


def exposure_text(record: IncidentRecord) -> str:
    e = record.facts.exposure()
    parts = [f"{n:,} {unit}" for n, unit in ((e.rows, "rows"), (e.records, "records"), (e.files, "files")) if n]
    if e.bytes:
        parts.append(_bytes(e.bytes))
    if e.honeytoken:
        parts.append("honeytoken")
    if e.attempts:
        parts.append(f"{e.attempts} refused")
    return ", ".join(parts) or f"{e.events} event(s)"


def volume_text(rows: int | None, size: int | None, records: int) -> str:
    """One event's volume where its log says it: `120 rows, 3 records, 1.5 KiB`, or `-`."""
    parts = [f"{n:,} {unit if n != 1 else unit[:-1]}" for n, unit in ((rows, "rows"), (records, "records"))
             if n is not None and (n or unit == "rows")]
    if size is not None:
        parts.append(_bytes(size))
    return ", ".join(parts) or "-"


def deadline_text(record: IncidentRecord, now_us: int) -> str:
    if record.deadline_us is None:
        return "-"
    left_h = (record.deadline_us - now_us) / 3_600_000_000
    stamp = format_timestamp(record.deadline_us)[:16].replace("T", " ")
    if not record.is_open:
        return stamp
    return f"{stamp} ({'OVERDUE ' + format(-left_h, '.0f') + 'h' if left_h < 0 else format(left_h, '.0f') + 'h left'})"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} B"
