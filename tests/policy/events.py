"""Building enriched events for detector tests through the real enricher and the shipped rules/ files."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

from pii_guard.detection.engine import DetectionEngine
from pii_guard.enrich.datamap import DataMap
from pii_guard.enrich.directory import Directory
from pii_guard.enrich.enricher import Enricher
from pii_guard.enrich.zones import Zones
from pii_guard.model import AccessEvent, EnrichedEvent, Match
from pii_guard.policy.compile import CompiledPolicy, load_policy

RULES = Path(__file__).parents[2] / "rules"
_ids = itertools.count(1)


def enricher() -> Enricher:
    return Enricher(
        Directory.from_file(RULES / "directory.yaml"),
        DataMap.from_file(RULES / "data-map.yaml"),
        Zones.from_file(RULES / "zones.yaml"),
    )


def shipped_policy(path: Path | None = None) -> CompiledPolicy:
    e = enricher()
    return load_policy(path or RULES / "access-policy.yaml", e.zones.names, e.data_map.categories)


def at(text: str) -> int:
    """'2026-11-27 10:00:00' in UTC → microseconds."""
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1_000_000)


def ev(
    when: str | int,
    user: str | None = "alice",
    obj: str | None = "db:crm.public.customers",
    action: str = "read",
    outcome: str = "success",
    ip: str | None = "10.10.0.5",
    rows: int | None = None,
    nbytes: int | None = None,
    statement: str | None = None,
    record_ids: tuple[str, ...] = (),
) -> AccessEvent:
    t = at(when) if isinstance(when, str) else when
    return AccessEvent(f"{next(_ids):032x}", t, "test", action, outcome, user=user, source_ip=ip, object=obj,
                       rows=rows, bytes=nbytes, statement=statement, record_ids=record_ids)


def run(events: list[AccessEvent], policy: CompiledPolicy | None = None) -> list[Match]:
    policy = policy or shipped_policy()
    engine = DetectionEngine(policy.detectors, policy.policy.lateness)
    enrich = enricher()
    out: list[Match] = []
    for e in events:
        out.extend(m for m, _ in engine.process(enrich(e), "src"))
    out.extend(m for m, _ in engine.drain())
    return out


def rules_of(matches: list[Match]) -> list[str]:
    return [m.rule_id for m in matches]


def enrich_all(events: list[AccessEvent]) -> list[EnrichedEvent]:
    e = enricher()
    return [e(x) for x in events]
