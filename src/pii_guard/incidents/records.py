"""An incident row of the state database, read and written as one typed record."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import orjson

from pii_guard import chain
from pii_guard.incidents.facts import Facts
from pii_guard.notify.base import IncidentView

OPEN_STATUSES: tuple[str, ...] = ("open", "acknowledged")
STATUSES: tuple[str, ...] = ("open", "acknowledged", "resolved", "false_positive")

_COLUMNS = (
    "id, group_key, silence_key, rule_id, kind, severity, status, assignee, title, user_name, opened_us, updated_us, "
    "acknowledged_us, closed_us, first_us, last_us, deadline_us, evidence_count, silence_id, facts"
)


def incident_label(number: int) -> str:
    return f"INC-{number}"


def parse_label(text: str) -> int | None:
    """`INC-42`, `inc-42` or `42` -> 42."""
    raw = text.strip()
    if raw.upper().startswith("INC-"):
        raw = raw[4:]
    return int(raw) if raw.isdecimal() else None


@dataclass
class IncidentRecord:
    id: int
    group_key: str
    silence_key: str  # the key without the rule, what `incidents silence RULE KEY` matches
    rule_id: str
    kind: str
    severity: str
    status: str
    assignee: str | None
    title: str
    user: str | None
    opened_us: int
    updated_us: int
    acknowledged_us: int | None
    closed_us: int | None
    first_us: int
    last_us: int
    deadline_us: int | None
    evidence_count: int
    silence_id: int | None
    facts: Facts = field(default_factory=Facts)

    @property
    def label(self) -> str:
        return incident_label(self.id)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def view(self) -> IncidentView:
        facts = self.facts
        return IncidentView(
            id=self.label,
            title=self.title,
            rule_id=self.rule_id,
            rule_kind=self.kind,
            severity=self.severity,
            status=self.status,
            assignee=self.assignee,
            user=self.user,
            roles=tuple(facts.roles),
            department=facts.department,
            source_ips=tuple(facts.ips[:5]),
            zones=tuple(facts.zones),
            objects=tuple(facts.objects[:10]),
            categories=tuple(facts.categories),
            exposure=facts.exposure(),
            first_us=self.first_us,
            last_us=self.last_us,
            opened_us=self.opened_us,
            deadline_us=self.deadline_us,
            evidence_count=self.evidence_count,
            inspect=f"pii-guard incidents show {self.label}",
            rules=tuple(facts.rules),
        )


def _from_row(row: tuple[object, ...]) -> IncidentRecord:
    *head, facts = row
    record = IncidentRecord(*head)  # type: ignore[arg-type]
    record.facts = Facts.from_json(orjson.loads(facts))  # type: ignore[arg-type]
    return record


def load(conn: sqlite3.Connection, number: int) -> IncidentRecord | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM incidents WHERE id=?", (number,)).fetchone()
    return _from_row(row) if row else None


def latest_for_key(conn: sqlite3.Connection, group_key: str) -> IncidentRecord | None:
    """The newest incident of this key: opened under it, or joined under it by a match of the same event as
    another rule's (`incident_keys`)."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM incidents WHERE group_key=?1 OR id IN "
        "(SELECT incident_id FROM incident_keys WHERE group_key=?1) ORDER BY last_us DESC, id DESC LIMIT 1",
        (group_key,),
    ).fetchone()
    return _from_row(row) if row else None


def add_key(conn: sqlite3.Connection, group_key: str, incident_id: int, rule_id: str) -> None:
    """Let the matches of `group_key` find this incident too (it holds an event that fired them)."""
    conn.execute("INSERT OR IGNORE INTO incident_keys (group_key, incident_id, rule_id) VALUES (?,?,?)",
                 (group_key, incident_id, rule_id))


def open_holding(conn: sqlite3.Connection, event_id: str) -> IncidentRecord | None:
    """The newest open incident that already holds this event as evidence."""
    placeholders = ",".join("?" * len(OPEN_STATUSES))
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM incidents WHERE status IN ({placeholders}) AND id IN "
        "(SELECT incident_id FROM incident_evidence WHERE event_id=?) ORDER BY last_us DESC, id DESC LIMIT 1",
        (*OPEN_STATUSES, event_id),
    ).fetchone()
    return _from_row(row) if row else None


def select(
    conn: sqlite3.Connection, where: str, params: list[object], limit: int | None = None
) -> list[IncidentRecord]:
    sql = f"SELECT {_COLUMNS} FROM incidents"
    if where:
        sql += f" WHERE {where}"
    # the most urgent first: a running notification clock, then severity, then the newest
    sql += (" ORDER BY deadline_us IS NULL, deadline_us, CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1"
            " WHEN 'medium' THEN 2 ELSE 3 END, opened_us DESC")
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [_from_row(r) for r in conn.execute(sql, params).fetchall()]


def insert(conn: sqlite3.Connection, record: IncidentRecord) -> int:
    cur = conn.execute(
        "INSERT INTO incidents (group_key, silence_key, rule_id, kind, severity, status, assignee, title,"
        " user_name, opened_us, updated_us, acknowledged_us, closed_us, first_us, last_us, deadline_us,"
        " evidence_count, silence_id, facts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (record.group_key, record.silence_key, record.rule_id, record.kind, record.severity, record.status,
         record.assignee, record.title, record.user, record.opened_us, record.updated_us, record.acknowledged_us,
         record.closed_us, record.first_us, record.last_us, record.deadline_us, record.evidence_count,
         record.silence_id, orjson.dumps(record.facts.to_json())),
    )
    record.id = int(cur.lastrowid or 0)
    return record.id


def save(conn: sqlite3.Connection, record: IncidentRecord) -> None:
    conn.execute(
        "UPDATE incidents SET severity=?, status=?, assignee=?, updated_us=?, acknowledged_us=?, closed_us=?,"
        " first_us=?, last_us=?, deadline_us=?, evidence_count=?, silence_id=?, facts=? WHERE id=?",
        (record.severity, record.status, record.assignee, record.updated_us, record.acknowledged_us,
         record.closed_us, record.first_us, record.last_us, record.deadline_us, record.evidence_count,
         record.silence_id, orjson.dumps(record.facts.to_json()), record.id),
    )


TIMELINE_COLUMNS = ("incident_id", "at_us", "actor", "kind", "text", "previous")


def add_timeline(conn: sqlite3.Connection, number: int, at_us: int, actor: str, kind: str, text: str = "",
                 previous: str | None = None) -> None:
    """Append to the (hash-chained) timeline; the caller holds the write transaction."""
    chain.append(conn, "incident_timeline", TIMELINE_COLUMNS, (number, at_us, actor, kind, text, previous))
