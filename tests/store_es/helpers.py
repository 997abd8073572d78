"""Events and configs for the Elasticsearch store tests."""

from __future__ import annotations

from typing import Any

from pii_guard.config.models import ElasticsearchStoreConfig
from pii_guard.model import AccessEvent, EnrichedEvent, ObjectInfo, UserInfo

BASE_US = 1_795_000_000_000_000  # 2026-11-18T11:06:40Z
DAY_US = 86_400_000_000


def event(i: int, *, user: str = "bob", ip: str | None = "10.0.4.17", rows: int | None = None,
          day: int = 0, statement: str | None = "SELECT name, email FROM customers WHERE id = ?",
          categories: tuple[str, ...] = ("contact",), obj: str = "db:crm.public.customers",
          fields: dict[str, Any] | None = None, event_id: str | None = None) -> EnrichedEvent:
    """A realistic enriched pgAudit-like event; `i` makes its id and time unique."""
    ev = AccessEvent(
        id=event_id or f"ev-{day}-{i:06d}",
        time_us=BASE_US + day * DAY_US + i * 1_000 + 7,  # microseconds that `date` would lose
        dataset="postgresql.pgaudit",
        action="read",
        outcome="success",
        user=user,
        source_ip=ip,
        source_port=50_000 + i,
        host="db1",
        object=obj,
        rows=rows if rows is not None else i,
        command="SELECT",
        statement=statement,
        original=f"2026-11-17 10:00:00 UTC [{1000 + i}] AUDIT: SESSION,1,1,READ,SELECT,,,{statement},<none>",
        record_ids=(f"cust-{i}",),
        fields=fields if fields is not None else {"process.pid": 1000 + i},
        offset=i * 100,
    )
    return EnrichedEvent(ev, UserInfo(user, ("support",), "Customer Care"), ObjectInfo(categories, True), "office")


def es_config(url: str | list[str], **overrides: Any) -> ElasticsearchStoreConfig:
    hosts = [url] if isinstance(url, str) else url
    values: dict[str, Any] = {"type": "elasticsearch", "hosts": hosts, "request_timeout_s": 2.0, "max_retries": 8}
    values.update(overrides)
    return ElasticsearchStoreConfig.model_validate(values)
