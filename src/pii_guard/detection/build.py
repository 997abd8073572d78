"""Builds the detection engine from a loaded config: the access policy (cross-checked against zones and the data
map) and the Sigma rules beside it, as one list of detectors. pySigma is imported only when Sigma rules are
configured (it is a tenth of an idle daemon's memory)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pii_guard.config.models import Config
from pii_guard.detection.engine import DetectionEngine
from pii_guard.enrich.enricher import Enricher
from pii_guard.policy.compile import CompiledPolicy, compile_policy, load_policy
from pii_guard.policy.context import PolicyContext
from pii_guard.policy.models import Policy
from pii_guard.sigma.fields import FieldMapping

if TYPE_CHECKING:
    from pii_guard.sigma.ruleset import RuleSet


def field_mapping_for(config: Config) -> FieldMapping:
    path = config.policy.sigma_fields
    return FieldMapping.from_file(config.resolve(path)) if path else FieldMapping()


def sigma_for(config: Config, paths: list[Path] | None = None) -> RuleSet:
    """The configured Sigma rules (or those under `paths`), loaded and compiled."""
    from pii_guard.sigma.ruleset import RuleSet, load_ruleset

    rule_paths = paths if paths is not None else [config.resolve(p) for p in config.policy.sigma]
    if not rule_paths:
        return RuleSet(mapping=field_mapping_for(config))
    return load_ruleset(rule_paths, field_mapping_for(config))


def with_sigma(policy: CompiledPolicy, rules: RuleSet) -> CompiledPolicy:
    """The policy's detectors followed by the Sigma detectors, which share its time zone and defaults."""
    from pii_guard.sigma.detector import sigma_detectors

    ctx = PolicyContext(policy.policy.timezone, policy.policy.defaults)
    return replace(policy, detectors=(*policy.detectors, *sigma_detectors(rules, ctx)))


def _policy(config: Config, enricher: Enricher, override: Path | None = None) -> CompiledPolicy:
    path = override if override is not None else (
        config.resolve(config.policy.access) if config.policy.access else None)
    if path is None:
        return compile_policy(Policy(), "<empty policy>")
    zones = enricher.zones.names if config.policy.zones else None
    return load_policy(path, zones, enricher.data_map.categories)


def policy_for(config: Config, enricher: Enricher, override: Path | None = None) -> CompiledPolicy:
    """The configured policy and Sigma rules; with `override`, that policy file alone (`rules test`)."""
    if override is not None:
        return _policy(config, enricher, override)
    policy = _policy(config, enricher)
    return with_sigma(policy, sigma_for(config)) if config.policy.sigma else policy


def sigma_test_for(config: Config, enricher: Enricher, paths: list[Path]) -> CompiledPolicy:
    """The Sigma rules under `paths` alone, in the configured policy's time zone and defaults (`rules test`)."""
    base = _policy(config, enricher)
    tested = with_sigma(replace(base, detectors=()), sigma_for(config, paths))
    return replace(tested, file=", ".join(str(p) for p in paths))


def engine_for(policy: CompiledPolicy) -> DetectionEngine:
    return DetectionEngine(policy.detectors, policy.policy.lateness)
