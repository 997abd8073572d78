"""What the Sigma tests share: rules from text, events from ECS-like dicts, the golden-sample runner."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from pii_guard.clock import FixedClock
from pii_guard.config.load import parser_options
from pii_guard.detection.engine import DetectionEngine
from pii_guard.enrich.datamap import DataMap
from pii_guard.enrich.directory import Directory
from pii_guard.enrich.enricher import Enricher
from pii_guard.enrich.zones import Zones
from pii_guard.model import AccessEvent, EnrichedEvent, Match, ObjectInfo, UserInfo
from pii_guard.parsers.registry import parser_class
from pii_guard.pipeline import FileIngest, FileSpec, RunStats
from pii_guard.policy.context import PolicyContext
from pii_guard.policy.models import Defaults
from pii_guard.sigma.detector import sigma_detectors
from pii_guard.sigma.fields import GETTERS, FieldMapping
from pii_guard.sigma.ruleset import RuleSet, load_ruleset
from pii_guard.store.state import StateStore

ROOT = Path(__file__).parents[2]
RULES = ROOT / "rules"
PACK = RULES / "sigma"
CTX = PolicyContext("Europe/Berlin", Defaults())
_ids = itertools.count(1)

# ECS names with a fixed place in AccessEvent
_ATTRS = {"user.name": "user", "source.ip": "source_ip", "source.port": "source_port", "host.name": "host",
          "pii.object": "object", "pii.rows": "rows", "pii.bytes": "bytes", "pii.command": "command",
          "pii.statement": "statement", "error.code": "error_code", "event.action": "action",
          "event.outcome": "outcome", "event.dataset": "dataset", "event.original": "original"}


def ruleset(text: str, tmp: Path, mapping: FieldMapping | None = None, name: str = "rule.yml") -> RuleSet:
    path = tmp / name
    path.write_text(text)
    return load_ruleset([path], mapping)


def event(doc: dict[str, Any], time_us: int | None = None, roles: Sequence[str] = (),
          categories: Sequence[str] = ()) -> EnrichedEvent:
    """An enriched event from ECS names (and any other field names, kept as further fields)."""
    attrs: dict[str, Any] = {"dataset": "test", "action": "read", "outcome": "success"}
    fields: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "pii.record_ids":
            attrs["record_ids"] = tuple(value)
        elif key in _ATTRS:
            attrs[_ATTRS[key]] = value
        elif key not in GETTERS:
            fields[key] = value
    t = time_us if time_us is not None else 1_800_000_000_000_000 + next(_ids) * 1_000_000
    ev = AccessEvent(f"{next(_ids):032x}", t, fields=fields, **attrs)
    user = UserInfo(ev.user, tuple(roles)) if ev.user else None
    return EnrichedEvent(ev, user, ObjectInfo(tuple(categories), bool(categories)), None)


def run(rules: RuleSet, items: Iterable[EnrichedEvent], ctx: PolicyContext = CTX) -> list[Match]:
    engine = DetectionEngine(sigma_detectors(rules, ctx), 0)
    out = [m for item in items for m, _ in engine.process(item, "src")]
    return out + [m for m, _ in engine.drain()]


def golden_enricher() -> Enricher:
    return Enricher(Directory.from_file(PACK / "golden-directory.yaml"), DataMap.from_file(RULES / "data-map.yaml"),
                    Zones.from_file(RULES / "zones.yaml"))


def golden_cases() -> dict[str, dict[str, Any]]:
    return {p.name.removesuffix(".expected.yaml"): yaml.safe_load(p.read_text())
            for p in sorted(PACK.glob("*.expected.yaml"))}


def golden_events(case: dict[str, Any]) -> list[EnrichedEvent]:
    """The case's files parsed as the daemon would, enriched, merged in event-time order (ties: file order)."""
    events: list[AccessEvent] = []
    for spec in case["files"]:
        parser = parser_class(spec["format"])
        file_spec = FileSpec(parser, parser_options(parser, spec.get("options", {})))
        FileIngest(events.append, lambda dead: None, RunStats(), FixedClock(1_800_000_000)).run(
            PACK / spec["file"], file_spec)
    enrich = golden_enricher()
    return [enrich(e) for e in sorted(events, key=lambda e: e.time_us)]


def run_with_restarts(rules_dir: Path, items: Sequence[EnrichedEvent], cuts: Sequence[int],
                      ctx: PolicyContext = CTX) -> list[Match]:
    """Through a real state database, with a fresh engine (a restart) at every cut."""
    out: list[Match] = []
    with tempfile.TemporaryDirectory() as tmp:
        state_path = Path(tmp) / "state.db"
        bounds = [0, *sorted(set(cuts)), len(items)]
        for lo, hi in itertools.pairwise(bounds):
            engine = DetectionEngine(sigma_detectors(load_ruleset([rules_dir]), ctx), 5_000_000)
            store = StateStore(state_path)
            engine.restore(store.load_windows(), store.load_engine(), store.load_buffer())
            found = [m for item in items[lo:hi] for m, _ in engine.process(item, "src")]
            if hi == len(items):
                found += [m for m, _ in engine.drain()]
            store.commit(engine.take_changes(), [(m, "src") for m in found], [], 0)
            store.close()
            out.extend(found)
    return out
