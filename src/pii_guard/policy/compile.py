"""Policy file → detectors, one kind each, after cross-checking names against zones and the data map."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pii_guard.config.validate import validate
from pii_guard.config.yamlload import LoadedYaml, PathKey, load_yaml_file
from pii_guard.errors import ConfigError
from pii_guard.policy.access import (
    HoneytokenDetector,
    RoleAccessDetector,
    RoleZoneDetector,
    ZoneRestrictionDetector,
)
from pii_guard.policy.context import Detector, PolicyContext
from pii_guard.policy.models import Exception_, Policy
from pii_guard.policy.volume import BulkExportDetector, QuotaDetector


@dataclass(frozen=True)
class CompiledPolicy:
    policy: Policy
    detectors: tuple[Detector, ...]
    file: str


def load_policy(path: Path, zones: frozenset[str] | None = None, categories: tuple[str, ...] = ()) -> CompiledPolicy:
    loaded = load_yaml_file(path)
    policy = validate(Policy, loaded)
    _cross_check(policy, loaded, zones, categories)
    return compile_policy(policy, str(path))


def compile_policy(policy: Policy, file: str = "<policy>") -> CompiledPolicy:
    ctx = PolicyContext(policy.timezone, policy.defaults)
    detectors: list[Detector] = []
    detectors += [ZoneRestrictionDetector(rule, ctx) for rule in policy.zone_restrictions]
    detectors += [RoleZoneDetector(rule, ctx) for rule in policy.role_zones]
    if policy.roles or policy.defaults.unknown_user == "alert":
        detectors.append(RoleAccessDetector(policy.roles, ctx))
    detectors += [QuotaDetector(name, q, ctx) for name, role in policy.roles.items() for q in role.quotas]
    detectors += [BulkExportDetector(rule, policy.bulk_export, ctx) for rule in policy.bulk_export.rules]
    detectors.append(HoneytokenDetector(policy.honeytokens, ctx))
    return CompiledPolicy(policy, tuple(detectors), file)


def _cross_check(
    policy: Policy, loaded: LoadedYaml, zones: frozenset[str] | None, categories: tuple[str, ...]
) -> None:
    """Names that point elsewhere must exist there: a typo in a zone would silently allow nothing."""
    checks: list[tuple[PathKey, str, str]] = []
    for i, zr in enumerate(policy.zone_restrictions):
        checks += [(("zone_restrictions", i, "allow_zones", j), "zone", z) for j, z in enumerate(zr.allow_zones)]
        checks += [(("zone_restrictions", i, "categories", j), "category", c) for j, c in enumerate(zr.categories)]
        checks += _exception_zones(("zone_restrictions", i), zr.exceptions)
    for i, rz in enumerate(policy.role_zones):
        checks += [(("role_zones", i, "allow_zones", j), "zone", z) for j, z in enumerate(rz.allow_zones)]
        checks += _exception_zones(("role_zones", i), rz.exceptions)
    for name, role in policy.roles.items():
        checks += [(("roles", name, "may_view", j), "category", c) for j, c in enumerate(role.may_view) if c != "*"]
        for k, quota in enumerate(role.quotas):
            checks += [(("roles", name, "quotas", k, "categories", j), "category", c)
                       for j, c in enumerate(quota.categories)]
    for i, rule in enumerate(policy.bulk_export.rules):
        checks += [(("bulk_export", "rules", i, "categories", j), "category", c) for j, c in enumerate(rule.categories)]
        checks += _exception_zones(("bulk_export", "rules", i), rule.exceptions)
    known_zones = (zones or frozenset()) | {policy.defaults.no_ip_zone}
    for path, kind, name in checks:
        if kind == "zone" and zones is not None and name not in known_zones:
            _fail(loaded, path, f"unknown zone {name!r}", sorted(known_zones))
        if kind == "category" and categories and name not in categories:
            _fail(loaded, path, f"unknown category {name!r}", sorted(categories))


def _exception_zones(path: PathKey, exceptions: list[Exception_]) -> list[tuple[PathKey, str, str]]:
    """The zones an exception names: a typo there would silently never apply."""
    return [((*path, "exceptions", k, "zones", j), "zone", z)
            for k, exc in enumerate(exceptions) for j, z in enumerate(exc.zones)]


def _fail(loaded: LoadedYaml, path: PathKey, message: str, known: list[str]) -> None:
    import difflib

    close = difflib.get_close_matches(message.split("'")[1], known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
    raise ConfigError(message, location=loaded.location(path), hint=hint)
