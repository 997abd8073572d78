"""The searchable fields, declared once: their ECS name, their type, and where each store keeps them."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

Kind = Literal["keyword", "text", "number", "ip", "date", "bool", "list"]


@dataclass(frozen=True)
class Field:
    name: str  # ECS name, as written in queries and shown in output
    kind: Kind  # list: several keywords per event (categories, roles, record ids)
    column: str  # SQLite events column (list fields: see `table`)
    table: str | None = None  # SQLite side table for list fields: (value, ts, event_id)
    es: str | None = None  # Elasticsearch field, when it differs from `name`


FIELDS: dict[str, Field] = {f.name: f for f in (
    Field("@timestamp", "date", "ts"),
    Field("event.id", "keyword", "id"),
    Field("event.dataset", "keyword", "dataset"),
    Field("event.action", "keyword", "action"),
    Field("event.outcome", "keyword", "outcome"),
    Field("user.name", "keyword", "user_name"),
    Field("user.roles", "list", "user_roles"),
    Field("pii.department", "keyword", "department"),
    Field("pii.user_known", "bool", "user_known"),
    Field("source.ip", "ip", "source_ip"),
    Field("source.port", "number", "source_port"),
    Field("source.zone", "keyword", "zone"),
    Field("host.name", "keyword", "host"),
    Field("pii.object", "keyword", "object"),
    Field("pii.categories", "list", "categories", table="event_categories"),
    Field("pii.honeytoken", "bool", "honeytoken"),
    Field("pii.rows", "number", "rows"),
    Field("pii.bytes", "number", "bytes"),
    Field("pii.command", "keyword", "command"),
    Field("pii.statement", "text", "statement"),
    Field("error.code", "keyword", "error_code"),
    Field("pii.record_ids", "list", "record_ids", table="event_records"),
    Field("event.original", "text", "original"),
)}  # fmt: skip

SORTABLE: frozenset[str] = frozenset(n for n, f in FIELDS.items() if f.kind in ("keyword", "number", "date", "ip"))


def field_named(name: str) -> Field | None:
    return FIELDS.get(name)


def suggest(name: str) -> str:
    close = difflib.get_close_matches(name, FIELDS, n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else "fields: " + ", ".join(sorted(FIELDS))
