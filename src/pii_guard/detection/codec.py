"""Enriched events to and from JSON, for the events that wait in the reorder buffer across a restart."""

from __future__ import annotations

from typing import Any

import orjson

from pii_guard.model import AccessEvent, EnrichedEvent, ObjectInfo, UserInfo


def encode(item: EnrichedEvent) -> list[Any]:
    """The event as JSON-ready arrays. Plain tuples where orjson takes them as they are (it refuses named
    tuples): a copy per event, not one per field."""
    ev = item.event
    event: list[Any] = list(ev)
    if type(ev.fields) is not dict:
        event[17] = dict(ev.fields)
    return [event, None if item.user is None else tuple(item.user), tuple(item.data), item.zone]


def decode(raw: list[Any]) -> EnrichedEvent:
    event, user, data, zone = raw
    event[16] = tuple(event[16])
    ev = AccessEvent(*event)
    info = UserInfo(user[0], tuple(user[1]), user[2], user[3], user[4]) if user is not None else None
    return EnrichedEvent(ev, info, ObjectInfo(tuple(data[0]), data[1], data[2]), zone)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(raw: bytes | str) -> Any:
    return orjson.loads(raw)
