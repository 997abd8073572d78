"""An incident's evidence: the event ids and times kept with it in the state database, each event fetched from
the store by id within its own microsecond (the store's time index finds it at once), and the search query
that finds them again, to run on the search page or in `pii-guard search`."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from pii_guard.search.fields import FIELDS
from pii_guard.search.query import Term
from pii_guard.search.request import SearchBackend, SearchRequest

_PLAIN = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class EvidenceRef:
    event_id: str
    ts: int


def quote(value: str) -> str:
    """A value as a query term: bare when it is plain, else a quoted phrase with `"` and `\\` escaped."""
    if _PLAIN.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def evidence_refs(conn: sqlite3.Connection, number: int, limit: int, offset: int) -> list[EvidenceRef]:
    rows = conn.execute("SELECT event_id, ts FROM incident_evidence WHERE incident_id=? ORDER BY ts, event_id"
                        " LIMIT ? OFFSET ?", (number, limit, offset)).fetchall()
    return [EvidenceRef(str(e), int(t)) for e, t in rows]


def fetch_event(backend: SearchBackend, event_id: str, ts: int) -> dict[str, Any] | None:
    found = backend.search(SearchRequest(Term(FIELDS["event.id"], event_id), ts, ts + 1, limit=1))
    return found[0] if found else None


def fetch_events(backend: SearchBackend, refs: list[EvidenceRef]) -> list[tuple[EvidenceRef, dict[str, Any] | None]]:
    """Each piece of evidence with its event (None when retention has removed it from the store)."""
    return [(ref, fetch_event(backend, ref.event_id, ref.ts)) for ref in refs]


@dataclass(frozen=True)
class EvidenceQuery:
    text: str
    since_us: int
    until_us: int
    what: str  # what it finds, for the button's label


def evidence_queries(refs: list[EvidenceRef], user: str | None, first_us: int, last_us: int) -> list[EvidenceQuery]:
    """The shown evidence events by id, and everything the incident's user did in its time span."""
    out: list[EvidenceQuery] = []
    if refs:
        ids = " OR ".join(quote(r.event_id) for r in refs)
        out.append(EvidenceQuery(f"event.id:({ids})", min(r.ts for r in refs), max(r.ts for r in refs) + 1,
                                 f"these {len(refs)} evidence event(s)"))
    if user:
        out.append(EvidenceQuery(f"user.name:{quote(user)}", first_us, last_us + 1,
                                 "all events of this user in the incident's time span"))
    return out
