"""How each event field a Sigma rule names is read from an enriched event: the fixed places in the event, the
computed fields (`pii.hour`, `pii.user_status` ...) and, for any other name, the event's further fields.

A module of its own so that it can be compiled (setup.py): a rule's index reads several fields of every event
(sigma/index.py) and its predicates more, through these functions; fields.py, which says which names exist
and how other tools' names map to them, defines pydantic models and stays Python."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from pii_guard.model import EnrichedEvent, format_timestamp
from pii_guard.policy.context import PolicyContext
from pii_guard.policy.models import DAYS

Getter = Callable[[EnrichedEvent, PolicyContext], Any]


def _original(item: EnrichedEvent, ctx: PolicyContext) -> Any:
    return item.event.original or None


def _offset(item: EnrichedEvent, ctx: PolicyContext) -> Any:
    return item.event.offset if item.event.offset >= 0 else None


def _roles(item: EnrichedEvent, ctx: PolicyContext) -> Any:
    return item.user.roles if item.user is not None else None


def _status(item: EnrichedEvent, ctx: PolicyContext) -> Any:
    return item.user.status if item.user is not None else None


def _known(item: EnrichedEvent, ctx: PolicyContext) -> Any:
    return item.user.known if item.user is not None else None


def _department(item: EnrichedEvent, ctx: PolicyContext) -> Any:
    return item.user.department if item.user is not None else None


def _hour(item: EnrichedEvent, ctx: PolicyContext) -> Any:
    return ctx.local(item.event.time_us)[0] // 60


def _weekday(item: EnrichedEvent, ctx: PolicyContext) -> Any:
    return DAYS[ctx.local(item.event.time_us)[1]]


def _extension(item: EnrichedEvent, ctx: PolicyContext) -> Any:
    path = item.event.fields.get("url.path")
    if not isinstance(path, str):
        return None
    ext = posixpath.splitext(path)[1]
    return ext[1:] if ext else None


def _directory(item: EnrichedEvent, ctx: PolicyContext) -> Any:
    path = item.event.fields.get("file.path")
    if not isinstance(path, str):
        obj = item.event.object
        path = obj[5:] if obj and obj.startswith("file:") else None
    return posixpath.dirname(path) if path else None


# Event fields with a fixed place in the event (the rest are in AccessEvent.fields under their ECS name).
GETTERS: dict[str, Getter] = {
    "@timestamp": lambda i, c: format_timestamp(i.event.time_us),
    "event.id": lambda i, c: i.event.id,
    "event.dataset": lambda i, c: i.event.dataset,
    "event.action": lambda i, c: i.event.action,
    "event.outcome": lambda i, c: i.event.outcome,
    "event.original": _original,
    "log.offset": _offset,
    "user.name": lambda i, c: i.event.user,
    "user.roles": _roles,
    "source.ip": lambda i, c: i.event.source_ip,
    "source.port": lambda i, c: i.event.source_port,
    "source.zone": lambda i, c: c.zone(i),
    "host.name": lambda i, c: i.event.host,
    "error.code": lambda i, c: i.event.error_code,
    "pii.object": lambda i, c: i.event.object,
    "pii.rows": lambda i, c: i.event.rows,
    "pii.bytes": lambda i, c: i.event.bytes,
    "pii.command": lambda i, c: i.event.command,
    "pii.statement": lambda i, c: i.event.statement,
    "pii.record_ids": lambda i, c: i.event.record_ids or None,
    "pii.categories": lambda i, c: c.categories(i) or None,
    "pii.classified": lambda i, c: i.data.classified,
    "pii.honeytoken": lambda i, c: i.data.honeytoken,
    "pii.zone": lambda i, c: c.zone(i),
    "pii.department": _department,
    "pii.user_known": _known,
    "pii.user_status": _status,
    "pii.hour": _hour,
    "pii.weekday": _weekday,
    "url.extension": _extension,
    "file.directory": _directory,
}


def getter(name: str) -> Getter:
    """How to read event field `name`: a fixed attribute, or the event's further fields."""
    fixed = GETTERS.get(name)
    if fixed is not None:
        return fixed
    return lambda i, c: i.event.fields.get(name)
