"""`pii-guard rules test`: run a policy or Sigma rules over a sample log and say which lines matched which rule,
and for the rules that did not match, why not (like fail2ban-regex / wazuh-logtest, for access policies)."""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from pii_guard.clock import Clock
from pii_guard.enrich.enricher import Enricher
from pii_guard.model import AccessEvent, EnrichedEvent, Match
from pii_guard.pipeline import FileIngest, FileSpec, RunStats
from pii_guard.policy.compile import CompiledPolicy
from pii_guard.policy.context import Detector
from pii_guard.store.base import DeadLetter


@runtime_checkable
class ManyRules(Protocol):
    """A detector that holds many rules (the Sigma detectors): one label and one verdict per rule."""

    def labels(self) -> list[str]: ...

    def why_not_each(self, item: EnrichedEvent) -> dict[str, str]: ...


def detector_labels(detector: Detector) -> list[str]:
    if isinstance(detector, ManyRules):
        return detector.labels()
    if detector.kind == "honeytoken":  # one rule per honeytoken: its matches carry the token's id
        return [*sorted(detector.branches()), "honeytoken:data-map"]
    return [detector_label(detector)]


def detector_label(detector: Detector) -> str:
    for attr in ("rule", "quota"):
        rule = getattr(detector, attr, None)
        if rule is not None:
            return str(rule.id)
    return "role-access" if detector.kind == "role_access" else "honeytokens"


@dataclass
class EventResult:
    line: int
    event: EnrichedEvent
    matches: list[Match] = field(default_factory=list)
    misses: dict[str, str] = field(default_factory=dict)  # rule label → why it did not match
    zone: str | None = None  # as the policy judges it (an event without a client IP: defaults.no_ip_zone)


@dataclass
class RuleTestReport:
    stats: RunStats
    results: list[EventResult]
    labels: list[str]
    matched: Counter[str]
    miss_reasons: dict[str, Counter[str]]
    unexercised: list[str]
    failures: list[DeadLetter]
    sigma: bool = False  # the rules tested are Sigma rules

    @property
    def matches(self) -> list[tuple[int, Match]]:
        return [(r.line, m) for r in self.results for m in r.matches]


def run_rule_test(policy: CompiledPolicy, enricher: Enricher, sample: Path, spec: FileSpec,
                  clock: Clock) -> RuleTestReport:
    events: list[AccessEvent] = []
    failures: list[DeadLetter] = []
    stats = RunStats()
    FileIngest(events.append, failures.append, stats, clock).run(sample, spec)
    line_starts = _line_starts(sample)
    ordered = sorted(events, key=lambda e: e.time_us)  # stable: ties keep file order, as the engine does
    labels = [label for d in policy.detectors for label in detector_labels(d)]
    matched: Counter[str] = Counter()
    reasons: dict[str, Counter[str]] = {label: Counter() for label in labels}
    results = []
    for event in ordered:
        item = enricher(event)
        line = bisect.bisect_right(line_starts, event.offset) if event.offset >= 0 else 0
        result = EventResult(line, item, zone=item.zone or policy.policy.defaults.no_ip_zone)
        for detector in policy.detectors:
            found = detector.observe(item)
            result.matches.extend(found)
            matched.update(m.rule_id for m in found)
            for label, why in _misses(detector, item, {m.rule_id for m in found}).items():
                result.misses[label] = why
                reasons[label][why] += 1
        results.append(result)
    wanted = set().union(*(d.branches() for d in policy.detectors)) if policy.detectors else set()
    seen = set().union(*(d.exercised for d in policy.detectors)) if policy.detectors else set()
    sigma = any(isinstance(d, ManyRules) for d in policy.detectors)
    return RuleTestReport(stats, results, labels, matched, reasons, sorted(wanted - seen), failures, sigma)


def _misses(detector: Detector, item: EnrichedEvent, hit: set[str]) -> dict[str, str]:
    if isinstance(detector, ManyRules):
        return {label: why for label, why in detector.why_not_each(item).items() if label not in hit}
    if hit:
        return {}
    why = detector.why_not(item)
    return {} if why is None else {detector_label(detector): why}


def _line_starts(path: Path) -> list[int]:
    starts = [0]
    offset = 0
    with path.open("rb") as fh:
        for raw in fh:
            offset += len(raw)
            starts.append(offset)
    return starts
