"""Matches and a state store for incident tests: the real StateStore on a temp SQLite file."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

from pii_guard.config.models import IncidentsConfig
from pii_guard.detection.engine import EngineChanges
from pii_guard.incidents.book import IncidentBook
from pii_guard.incidents.outbox import Target
from pii_guard.model import Match
from pii_guard.store.state import StateStore

T0 = 1_795_000_000_000_000  # 2026-11-19, microseconds
HOUR = 3_600_000_000
_seq = itertools.count(1)


def match(
    *,
    rule: str = "support-personal-quota",
    kind: str = "quota",
    user: str | None = "bob",
    severity: str = "medium",
    at_us: int = T0,
    rows: int | None = 10,
    categories: tuple[str, ...] = ("personal",),
    obj: str | None = "db:crm.public.customers",
    attempt: bool = False,
    ip: str = "10.1.2.3",
    event: str | None = None,
    evidence: tuple[str, ...] = (),
) -> Match:
    """A match; `event`: the id of the event that fired it (default: an event of its own), last in its
    evidence after `evidence` (a window's earlier events)."""
    n = next(_seq)
    event = event or f"e{n}"
    return Match(
        id=f"m{n}", rule_id=rule, kind=kind, severity=severity, time_us=at_us, user=user, roles=("support",),
        object=obj, categories=categories, volume=None, unit=None, limit=None, window_start_us=None,
        window_end_us=None, evidence=(*evidence, event), sentence=f"{user} broke {rule}", attempt=attempt,
        source_ip=ip, zone="office", event_rows=rows, event_bytes=None, event_records=0, event_id=event,
    )


def targets(*pairs: tuple[str, str]) -> list[Target]:
    return [Target(name, minimum, lambda view: "C-" + view.severity) for name, minimum in pairs]


class Book:
    """A state store with incidents on, and short-hands to commit matches and read the outbox."""

    def __init__(self, tmp: Path, config: IncidentsConfig | None = None, notify: list[Target] | None = None) -> None:
        chosen = notify if notify is not None else targets(("slack", "low"))
        self.book = IncidentBook(config or IncidentsConfig(), chosen)
        self.state = StateStore(tmp / "state.db", incidents=self.book)
        self.conn: sqlite3.Connection = self.state.connection

    def commit(self, matches: list[Match], now_us: int = T0) -> int:
        return self.state.commit(EngineChanges(), [(m, "src") for m in matches], [], now_us)

    def incidents(self) -> list[tuple[int, str, str, int]]:
        return self.conn.execute("SELECT id, status, severity, evidence_count FROM incidents ORDER BY id").fetchall()

    def outbox(self) -> list[tuple[int, str, str]]:
        rows = self.conn.execute("SELECT incident_id, target, change FROM outbox ORDER BY id").fetchall()
        import orjson

        return [(i, t, orjson.loads(c)["kind"]) for i, t, c in rows]
