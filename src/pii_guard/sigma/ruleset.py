"""Rule files → one compiled rule set: detection rules and correlations, checked and ready to run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sigma.correlations import SigmaCorrelationRule, SigmaExtendedCorrelationCondition
from sigma.rule import SigmaRule

from pii_guard.errors import ConfigError
from pii_guard.sigma.compile import CompiledRule, RuleCompileError, compile_rule, rule_label
from pii_guard.sigma.correlate import SUPPORTED, CompiledCorrelation, compile_correlation
from pii_guard.sigma.fields import FieldMapping
from pii_guard.sigma.load import RuleDoc, collect, load_documents


@dataclass
class RuleSet:
    rules: list[CompiledRule] = field(default_factory=list)
    correlations: list[CompiledCorrelation] = field(default_factory=list)  # referenced ones first
    docs: dict[str, RuleDoc] = field(default_factory=dict)  # label → where it was written
    mapping: FieldMapping = field(default_factory=FieldMapping)

    @property
    def referenced(self) -> set[str]:
        """Labels of the rules and correlations some correlation refers to."""
        return {m for c in self.correlations for m in c.members}

    def emitting(self) -> set[str]:
        """Labels whose matches become pii-guard matches: those no correlation refers to, and those referred to
        by a correlation that says `generate: true`."""
        quiet = {m for c in self.correlations if not c.rule.generate for m in c.members}
        loud = {m for c in self.correlations if c.rule.generate for m in c.members}
        every = {r.label for r in self.rules} | {c.label for c in self.correlations}
        return (every - quiet) | loud

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.rules] + [c.label for c in self.correlations]


def _doc_of(rule: SigmaRule | SigmaCorrelationRule, by_id: dict[int, RuleDoc], docs: Sequence[RuleDoc]) -> RuleDoc:
    found = by_id.get(id(rule))
    if found is not None:
        return found
    for doc in docs:  # a filter replaced the rule object with a filtered copy
        if getattr(doc.parsed, "id", None) == rule.id and getattr(doc.parsed, "title", None) == rule.title:
            return doc
    return docs[0]


def load_ruleset(paths: Sequence[Path], mapping: FieldMapping | None = None) -> RuleSet:
    """Load, validate and compile every rule under `paths`; the first problem is a ConfigError at its line."""
    mapping = mapping or FieldMapping()
    docs = load_documents(paths)
    out = RuleSet(mapping=mapping)
    if not docs:
        return out
    collection = collect(docs)
    by_id = {id(d.parsed): d for d in docs}
    labels: dict[int, str] = {}
    for order, rule in enumerate(collection.rules):
        doc = _doc_of(rule, by_id, docs)
        label = rule_label(rule, doc.fallback)
        if label in out.docs:
            first = out.docs[label].location()
            raise ConfigError(f"Sigma rule {label.removeprefix('sigma:')!r} is defined twice (first at {first})",
                              location=doc.location(("name",) if rule.name else ("id",)),
                              hint="give every rule its own name and id")
        out.docs[label] = doc
        labels[id(rule)] = label
        if isinstance(rule, SigmaRule):
            detection = doc.loaded.data.get("detection") if isinstance(doc.loaded.data, dict) else None
            try:
                out.rules.append(compile_rule(rule, mapping, doc.fallback, order,
                                              detection if isinstance(detection, dict) else None))
            except RuleCompileError as exc:
                raise ConfigError(f"Sigma: {exc}", location=doc.location(exc.path)) from None
        else:
            out.correlations.append(_correlation(rule, doc, labels, out, mapping, order))
    return out


def _correlation(rule: SigmaCorrelationRule, doc: RuleDoc, labels: dict[int, str], out: RuleSet,
                 mapping: FieldMapping, order: int) -> CompiledCorrelation:
    if rule.type not in SUPPORTED:
        raise ConfigError(f"Sigma: correlation type {rule.type.name.lower()} is not evaluated in stream",
                          location=doc.location(("correlation", "type")),
                          hint="use event_count, value_count, temporal or temporal_ordered")
    if isinstance(rule.condition, SigmaExtendedCorrelationCondition):
        raise ConfigError("Sigma: extended (boolean) correlation conditions are not supported",
                          location=doc.location(("correlation", "condition")),
                          hint="list the rules and use a count condition")
    by_label = {r.label: r for r in out.rules}

    def member_field(label: str, sigma_field: str) -> str:
        member = by_label.get(label)
        if member is not None and member.logsource is not None:
            return FieldMapping.event_field(member.logsource, sigma_field)
        return mapping.fields.get(sigma_field, sigma_field)

    for i, ref in enumerate(rule.rules or []):
        if id(ref.rule) not in labels:  # pragma: no cover - the collection orders referenced rules first
            raise ConfigError(f"Sigma: correlation refers to {ref.reference!r} before it is defined",
                              location=doc.location(("correlation", "rules", i)))
    if rule.group_by is None:
        raise ConfigError("Sigma: a correlation needs group-by", location=doc.location(("correlation",)))
    compiled = compile_correlation(rule, doc.fallback, labels, member_field, order)
    if compiled.threshold > 100_000 and compiled.kind in SUPPORTED:
        raise ConfigError("Sigma: correlation condition counts above 100,000 are not kept in memory",
                          location=doc.location(("correlation", "condition")))
    return compiled
