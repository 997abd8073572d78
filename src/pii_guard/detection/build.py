"""Builds the detection engine from a loaded config (policy file cross-checked against zones and data map)."""

from __future__ import annotations

from pathlib import Path

from pii_guard.config.models import Config
from pii_guard.detection.engine import DetectionEngine
from pii_guard.enrich.enricher import Enricher
from pii_guard.policy.compile import CompiledPolicy, compile_policy, load_policy
from pii_guard.policy.models import Policy


def policy_for(config: Config, enricher: Enricher, override: Path | None = None) -> CompiledPolicy:
    path = override if override is not None else (
        config.resolve(config.policy.access) if config.policy.access else None)
    if path is None:
        return compile_policy(Policy(), "<empty policy>")
    zones = enricher.zones.names if config.policy.zones else None
    return load_policy(path, zones, enricher.data_map.categories)


def engine_for(policy: CompiledPolicy) -> DetectionEngine:
    return DetectionEngine(policy.detectors, policy.policy.lateness)
