"""Writing notifications: one outbox row per change and notifier, in the caller's transaction, so an
incident change and the promise to announce it commit together or not at all."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from pii_guard.incidents.facts import severity_rank
from pii_guard.incidents.records import IncidentRecord
from pii_guard.notify.base import Change, IncidentView


@dataclass(frozen=True)
class Target:
    """A configured notifier as the outbox writer sees it: who gets what, and on which route."""

    name: str
    min_severity: str
    route: Callable[[IncidentView], str]


def change_to_json(change: Change) -> dict[str, Any]:
    return {"kind": change.kind, "at_us": change.at_us, "actor": change.actor, "text": change.text,
            "previous": change.previous}


def change_from_json(doc: dict[str, Any]) -> Change:
    return Change(kind=doc["kind"], at_us=int(doc["at_us"]), actor=str(doc["actor"]), text=str(doc.get("text", "")),
                  previous=doc.get("previous"))


def enqueue(conn: sqlite3.Connection, record: IncidentRecord, change: Change, targets: Sequence[Target],
            now_us: int) -> int:
    """Queue `change` for every target the incident's severity reaches. A target that has not announced the
    incident yet (it was below its bar until now) gets the "opened" message instead, which shows the
    current state, so nothing is lost and nothing is said twice. Returns the number of rows written."""
    written = 0
    for target in targets:
        if severity_rank(record.severity) < severity_rank(target.min_severity):
            continue
        row = conn.execute("SELECT route FROM incident_refs WHERE incident_id=? AND target=?",
                           (record.id, target.name)).fetchone()
        if row is None:
            route = target.route(record.view())
            conn.execute("INSERT INTO incident_refs (incident_id, target, route, ref) VALUES (?,?,?,NULL)",
                         (record.id, target.name, route))
            if change.kind != "opened":
                change = Change("opened", change.at_us, "pii-guard")
        else:
            route = str(row[0])
        conn.execute(
            "INSERT INTO outbox (incident_id, target, route, change, created_us) VALUES (?,?,?,?,?)",
            (record.id, target.name, route, orjson.dumps(change_to_json(change)), now_us),
        )
        written += 1
    return written
