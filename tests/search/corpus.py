"""A small, hand-made set of enriched events that every store must answer the same questions about."""

from __future__ import annotations

from pii_guard.model import EnrichedEvent
from tests.policy.events import at, enrich_all, ev

DAY = "2026-11-20"


def corpus() -> list[EnrichedEvent]:
    t = f"{DAY} 09:00:00"
    return enrich_all([
        ev(t, "alice", "db:crm.public.customers", "read", rows=20, ip="10.10.0.5"),
        ev(f"{DAY} 09:05:00", "alice", "db:crm.public.customers", "export", rows=12000, ip="10.10.0.5",
           statement="COPY (SELECT email, ssn FROM public.customers) TO STDOUT"),
        ev(f"{DAY} 10:00:00", "bob", "db:crm.public.customers", "read", "failure", ip="10.20.0.7"),
        ev(f"{DAY} 11:00:00", "bob", "db:crm.public.orders", "read", rows=5, ip="10.20.0.7"),
        ev(f"{DAY} 12:00:00", "carol", "file:/srv/share/hr/salaries-2026.xlsx", "read", nbytes=40960,
           ip="192.168.1.20"),
        ev(f"{DAY} 12:30:00", "carol", "file:/srv/share/hr/[draft] review*.docx", "write", nbytes=100,
           ip="192.168.1.20"),
        ev(f"{DAY} 13:00:00", None, "url:/exports/customers.csv", "read", "failure", ip="203.0.113.9"),
        ev(f"{DAY} 14:00:00", "dave", "app:crm/customer", "read", ip="2001:db8::5", record_ids=("cust-42", "cust-7")),
        ev(f"{DAY} 15:00:00", "dave", "app:crm/customer", "read", ip="2001:db8::5", record_ids=("cust-42",)),
        ev("2026-11-21 08:00:00", "alice", "db:crm.public.customers", "read", rows=1, ip="10.10.0.5"),
    ])  # fmt: skip


SINCE = at("2026-11-19 00:00:00")
UNTIL = at("2026-11-23 00:00:00")
