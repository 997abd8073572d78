"""What pii-guard puts into Elasticsearch besides the events: index names, the index template and its mappings,
and the ILM policy that enforces `retention`.

Events go to one index per UTC day of their `@timestamp` (`pii-guard-events-2026.11.05`), not to a data stream.
A data stream writes into whichever backing index is current, and `_id` is only unique within one backing
index: after a rollover a replayed event (same deterministic id) would be stored a second time. With the index
chosen by the event's own day, a `create` of the same event always lands in the same index, so a replay is a
409 there and never a duplicate. ILM still deletes old days: `index.lifecycle.parse_origination_date` makes an
index's age count from the day in its name (ILM's `^.*-yyyy.MM.dd(-\\d+)?$` convention), not from when it was
created, so a backfill of last year's logs is deleted on last year's schedule.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

TEMPLATE_VERSION: Final = 2  # 2: user.effective.name
EVENTS_SUFFIX: Final = "events"
_DAY_US: Final = 86_400_000_000

# Index name rules of Elasticsearch, for the part pii-guard lets the config choose.
_PREFIX: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,199}")


def _keyword(ignore_above: int | None = None) -> dict[str, Any]:
    return {"type": "keyword"} if ignore_above is None else {"type": "keyword", "ignore_above": ignore_above}


# Every field pii-guard writes itself, and the ECS fields its parsers add, by dotted name. keyword: exact values
# (names, ids, verbs, categories, paths), filtered, sorted and aggregated; text only where a responder searches
# words inside a long string. Vendor fields of single parsers (aws.*, winlog.*, mysql.audit.* ...) are not
# listed: they stay in _source (see `dynamic` below) until someone needs to search them.
FIELDS: Final[dict[str, dict[str, Any]]] = {
    # date_nanos, not date: pii-guard keeps microseconds, and `date` would truncate them to milliseconds,
    # so range bounds and the order of events within a millisecond would differ from the SQLite store.
    "@timestamp": {"type": "date_nanos"},
    "event.id": _keyword(),
    "event.dataset": _keyword(),
    "event.action": _keyword(),
    "event.outcome": _keyword(),
    "event.code": _keyword(),
    "event.provider": _keyword(),
    "event.duration": {"type": "long"},  # nanoseconds, as in ECS
    # the whole (masked) log line: searchable for words and phrases, without the positions and scoring
    # structures `text` keeps (match_only_text), since it is the largest field of every event
    "event.original": {"type": "match_only_text"},
    "log.offset": {"type": "long"},
    "user.name": _keyword(),
    "user.roles": _keyword(),
    "user.domain": _keyword(),
    "user.target.name": _keyword(),
    "user.effective.name": _keyword(),  # the definer whose rights a routine ran with (MariaDB)
    "user.id": _keyword(),
    "source.ip": {"type": "ip"},
    "source.port": {"type": "long"},
    "source.domain": _keyword(),
    "source.address": _keyword(),
    "source.zone": _keyword(),
    "host.name": _keyword(),
    "error.code": _keyword(),
    "error.message": {"type": "match_only_text"},
    "process.pid": {"type": "long"},
    "process.executable": _keyword(4096),
    "cloud.provider": _keyword(),
    "cloud.region": _keyword(),
    "cloud.account.id": _keyword(),
    "http.request.method": _keyword(),
    "http.request.referrer": _keyword(2048),
    "http.response.status_code": {"type": "long"},
    "http.version": _keyword(),
    "url.path": _keyword(2048),
    "url.original": _keyword(2048),
    "url.domain": _keyword(),
    "user_agent.original": _keyword(1024),
    "file.path": _keyword(4096),
    "file.target_path": _keyword(4096),
    "postgresql.audit.type": _keyword(),
    "postgresql.audit.class": _keyword(),
    "postgresql.audit.statement_id": {"type": "long"},
    "postgresql.audit.substatement_id": {"type": "long"},
    "postgresql.log.application_name": _keyword(),
    "mariadb.audit.connection_id": {"type": "long"},
    "mariadb.audit.query_id": {"type": "long"},
    "mariadb.audit.operation": _keyword(),
    "mariadb.audit.database": _keyword(),
    "mariadb.audit.table": _keyword(),
    "samba.share": _keyword(),
    "samba.access_mask": _keyword(),
    "samba.disposition": _keyword(),
    "samba.service": _keyword(),
    "samba.password_type": _keyword(),
    "pii.object": _keyword(),
    "pii.rows": {"type": "long"},
    "pii.bytes": {"type": "long"},
    "pii.command": _keyword(),
    # statements: words and phrases on the text field, exact values and wildcards on `pii.statement.keyword`
    # (statements longer than 8191 characters are kept and searchable as text, not as a keyword)
    "pii.statement": {"type": "text", "fields": {"keyword": _keyword(8191)}},
    "pii.record_ids": _keyword(),
    "pii.department": _keyword(),
    "pii.user_known": {"type": "boolean"},
    "pii.categories": _keyword(),
    "pii.classified": {"type": "boolean"},
    "pii.honeytoken": {"type": "boolean"},
    "pii.zone": _keyword(),
    "pii.claimed_user": _keyword(),
    "pii.forwarded_for": _keyword(1024),
    "pii.peer_ip": _keyword(),  # as logged: a proxy may write a socket name rather than an address
}


def field_types() -> dict[str, str]:
    """Dotted name -> Elasticsearch type, multi-fields included (`pii.statement.keyword`): what a query
    compiler needs to choose term, match_phrase or range and to know which fields sort and aggregate."""
    types: dict[str, str] = {}
    for name, spec in FIELDS.items():
        types[name] = spec["type"]
        for sub, subspec in spec.get("fields", {}).items():
            types[f"{name}.{sub}"] = subspec["type"]
    return types


def properties() -> dict[str, Any]:
    """FIELDS as nested `properties`, the way Elasticsearch returns a mapping."""
    root: dict[str, Any] = {}
    for name, spec in FIELDS.items():
        parts = name.split(".") if name != "@timestamp" else [name]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[parts[-1]] = dict(spec)
    return root


def mappings() -> dict[str, Any]:
    return {
        # Fields outside FIELDS (an application log's `extra` fields, any name and any JSON type) are kept in
        # _source and returned with every hit, but not indexed. `strict` would reject such events to the dead
        # letters; `true` would let the first value seen each day fix a type and reject later events that
        # differ. The fields pii-guard itself writes are all mapped, so their types are still checked.
        "dynamic": False,
        "date_detection": False,
        "_meta": {"managed_by": "pii-guard", "template_version": TEMPLATE_VERSION},
        "properties": properties(),
    }


def check_prefix(prefix: str) -> str | None:
    """Why `index_prefix` cannot name an index, or None."""
    if not _PREFIX.fullmatch(prefix):
        return ("index_prefix must be lowercase letters, digits, '.', '_' or '-', start with a letter or digit, "
                "and be at most 200 characters")
    return None


def events_base(prefix: str) -> str:
    return f"{prefix}-{EVENTS_SUFFIX}"


def index_pattern(prefix: str) -> str:
    """What to search: every day's index."""
    return f"{events_base(prefix)}-*"


def day_index(prefix: str, time_us: int) -> str:
    """The index of an event: its UTC day, in the yyyy.MM.dd form ILM parses the origination date from."""
    day = datetime.fromtimestamp((time_us // _DAY_US) * 86_400, tz=UTC)
    return f"{events_base(prefix)}-{day:%Y.%m.%d}"


def policy_name(prefix: str) -> str:
    return events_base(prefix)


def template_name(prefix: str) -> str:
    return events_base(prefix)


def ilm_age(retention_us: int) -> str:
    """An ILM `min_age` that deletes a day's index only once its *last* event is `retention` old: the index's
    age counts from the start of its day, so one day is added."""
    total = retention_us + _DAY_US
    for unit, size in (("d", _DAY_US), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1_000)):
        if total % size == 0:
            return f"{total // size}{unit}"
    return f"{total}micros"


def ilm_policy(retention_us: int) -> dict[str, Any]:
    return {
        "phases": {
            "hot": {"min_age": "0ms", "actions": {}},
            "delete": {"min_age": ilm_age(retention_us), "actions": {"delete": {}}},
        },
        "_meta": {"managed_by": "pii-guard", "retention_us": retention_us},
    }


def template_body(prefix: str, retention_us: int | None) -> dict[str, Any]:
    """Keyword arguments of `indices.put_index_template` (the request body of PUT _index_template/<name>)."""
    settings: dict[str, Any] = {
        # one shard per day: a day of access events is far below the ~50 GB a shard holds comfortably, and
        # every extra shard costs heap on every node for as long as retention keeps the index
        "number_of_shards": 1,
        # access events are written once and read rarely, during investigations
        "codec": "best_compression",
    }
    if retention_us is not None:
        settings["lifecycle"] = {"name": policy_name(prefix), "parse_origination_date": True}
    return {
        "index_patterns": [index_pattern(prefix)],
        # above the built-in templates (priority 100 for logs-*-*, metrics-*-*), so no catch-all wins over it
        "priority": 200,
        "version": TEMPLATE_VERSION,
        "meta": {"managed_by": "pii-guard", "description": "pii-guard access events, one index per UTC day"},
        "template": {"settings": {"index": settings}, "mappings": mappings()},
    }
