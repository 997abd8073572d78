"""`pii-guard rules lint`: what is wrong with Sigma rules before they run, every problem at its file:line.

Errors: a rule pySigma or pii-guard refuses (bad YAML, unknown modifier, a regex RE2 refuses, a placeholder,
an unsupported correlation type ...), and rules that can never match: a logsource pii-guard has no events
for, or a condition no event can satisfy (one single-valued field required to equal two different values,
`x and not x`, an empty numeric range, a field required both present and absent, an action the logsource
excludes). Warnings: field names that are neither event fields nor mapped for the rule's logsource (the rule
would look them up among the event's further fields, where pii-guard's parsers do not put them)."""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sigma.rule import SigmaRule
from sigma.types import CompareOperators

from pii_guard.config.yamlload import PathKey
from pii_guard.errors import ConfigError, Location
from pii_guard.sigma.compile import CompiledRule, Node, RuleCompileError, compile_rule
from pii_guard.sigma.fields import KNOWN_FIELDS, SINGLE_VALUED, FieldMapping
from pii_guard.sigma.load import RuleDoc, collect, documents, parse_document, rule_files
from pii_guard.sigma.ruleset import load_ruleset
from pii_guard.sigma.values import KEYWORD_FIELD, Leaf

MAX_TERMS = 512  # a condition whose disjunctive form is larger is not checked for satisfiability


@dataclass(frozen=True)
class Problem:
    location: Location | None
    severity: Literal["error", "warning"]
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.severity}: {self.message}{hint}"


def lint(paths: Sequence[Path], mapping: FieldMapping | None = None) -> list[Problem]:
    mapping = mapping or FieldMapping()
    problems: list[Problem] = []
    docs: list[RuleDoc] = []
    try:
        files = rule_files(paths)
    except ConfigError as exc:
        return [_error(exc)]
    for path in files:
        try:
            loaded = documents(path)
        except ConfigError as exc:
            problems.append(_error(exc))
            continue
        for number, one in enumerate(loaded, start=1):
            try:
                docs.append(parse_document(one, number))
            except ConfigError as exc:
                problems.append(_error(exc))
    try:
        collect(docs)
    except ConfigError as exc:
        problems.append(_error(exc))
    for order, doc in enumerate(docs):
        if isinstance(doc.parsed, SigmaRule):
            problems.extend(_lint_rule(doc, doc.parsed, mapping, order))
    if not problems:  # what only the whole set shows: duplicate names, correlations
        try:
            load_ruleset(paths, mapping)
        except ConfigError as exc:
            problems.append(_error(exc))
    return problems


def _error(exc: ConfigError) -> Problem:
    return Problem(exc.location, "error", exc.message, exc.hint)


def _lint_rule(doc: RuleDoc, rule: SigmaRule, mapping: FieldMapping, order: int) -> list[Problem]:
    detection = doc.loaded.data.get("detection") if isinstance(doc.loaded.data, dict) else None
    detection = detection if isinstance(detection, dict) else {}
    try:
        compiled = compile_rule(rule, mapping, doc.fallback, order, detection)
    except RuleCompileError as exc:
        return [Problem(doc.location(exc.path), "error", f"Sigma: {exc}")]
    out: list[Problem] = []
    if compiled.logsource is None:
        ls = rule.logsource
        text = ", ".join(f"{k}: {v}" for k, v in (("product", ls.product), ("category", ls.category),
                                                   ("service", ls.service)) if v) or "(none)"
        out.append(Problem(doc.location(("logsource",)), "error",
                           f"can never match: pii-guard has no events for logsource {text}",
                           "map it in the sigma_fields file (logsources:) or use product: pii-guard"))
    for sigma_field, event_field in sorted(compiled.fields.items()):
        if event_field in KNOWN_FIELDS or sigma_field in mapping.fields or \
                (compiled.logsource is not None and sigma_field in compiled.logsource.fields):
            continue
        close = difflib.get_close_matches(sigma_field, sorted(KNOWN_FIELDS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else "map it in the sigma_fields file (fields:)"
        label = compiled.logsource.label if compiled.logsource is not None else "this logsource"
        out.append(Problem(doc.location(_field_path(detection, sigma_field)), "warning",
                           f"unknown field {sigma_field!r} for {label}: no pii-guard event has it", hint))
    why = never_matches(compiled)
    if why is not None:
        out.append(Problem(doc.location(("detection", "condition")), "error", f"can never match: {why}"))
    return out


def _field_path(detection: dict[str, Any], sigma_field: str) -> PathKey:
    for name, body in detection.items():
        entries = [(None, body)] if isinstance(body, dict) else list(enumerate(body)) if isinstance(body, list) else []
        for i, entry in entries:
            if not isinstance(entry, dict):
                continue
            for key in entry:
                if str(key).split("|")[0] == sigma_field:
                    return ("detection", name, key) if i is None else ("detection", name, i, key)
    return ("detection",)


Literal_ = tuple[Leaf, bool]


def _dnf(node: Node, positive: bool = True) -> list[list[Literal_]] | None:
    """The condition as an OR of ANDs of (leaf, holds?); None when that form is too large to check."""
    op = node.op
    if op == "leaf":
        assert node.leaf is not None
        return [[(node.leaf, positive)]]
    if op in ("true", "false"):
        return [[]] if (op == "true") == positive else []
    if op == "not":
        return _dnf(node.args[0], not positive)
    parts = [_dnf(a, positive) for a in node.args]
    if any(p is None for p in parts):
        return None
    terms = [p for p in parts if p is not None]
    if (op == "or") == positive:
        joined = [t for p in terms for t in p]
        return joined if len(joined) <= MAX_TERMS else None
    product: list[list[Literal_]] = [[]]
    for p in terms:
        product = [a + b for a, b in itertools.product(product, p)]
        if len(product) > MAX_TERMS:
            return None
    return product


def never_matches(compiled: CompiledRule) -> str | None:
    """Why no event can satisfy the rule's condition (None: some event can, or the form is too large)."""
    terms = _dnf(compiled.tree)
    if terms is None:
        return None
    if not terms:
        return "the condition is always false"
    extra: list[Literal_] = []
    source = compiled.logsource
    if source is not None and source.actions is not None:
        extra.append((Leaf("event.action", lambda v: True, None, tuple(("eq", a) for a in source.actions)), True))
    if source is not None and source.exclude_actions:
        extra.append((Leaf("event.action", lambda v: True, None,
                           tuple(("eq", a) for a in source.exclude_actions)), False))
    reasons = [_contradiction(term + extra) for term in terms]
    if all(r is not None for r in reasons):
        return str(reasons[0])
    return None


def _contradiction(term: list[Literal_]) -> str | None:
    seen: dict[int, bool] = {}
    for leaf, positive in term:
        if seen.get(id(leaf), positive) != positive:
            return f"a test of {leaf.field} is required both to hold and not to hold"
        seen[id(leaf)] = positive
    fields = {leaf.field for leaf, _ in term}
    for name in sorted(fields):
        why = _field_contradiction(name, [(leaf, pos) for leaf, pos in term if leaf.field == name])
        if why is not None:
            return why
    return None


def _field_contradiction(name: str, tests: list[Literal_]) -> str | None:
    single = name in SINGLE_VALUED and name != KEYWORD_FIELD
    present = absent = False
    allowed: set[str] | None = None
    excluded: set[str] = set()
    low, high = -math.inf, math.inf
    for leaf, positive in tests:
        eqs = {v for k, v in leaf.facts if k == "eq"}
        if eqs:
            present |= positive
            if positive and single:
                allowed = eqs if allowed is None else allowed & eqs
            elif not positive:
                excluded |= eqs
        for kind, value in leaf.facts:
            if kind == "null" or (kind == "exists" and value is False):
                absent |= positive
                present |= not positive
            elif kind == "exists":
                present |= positive
                absent |= not positive
            elif kind == "cmp" and positive:
                op, bound = value
                present = True
                if op in (CompareOperators.GT, CompareOperators.GTE):
                    low = max(low, bound + (1e-9 if op is CompareOperators.GT else 0))
                elif op in (CompareOperators.LT, CompareOperators.LTE):
                    high = min(high, bound - (1e-9 if op is CompareOperators.LT else 0))
        if positive and not leaf.facts:
            present = True
    if present and absent:
        return f"{name} is required both to be present and to be absent"
    if allowed is not None and single and not (allowed - excluded):
        return f"{name} cannot equal all of the values required of it"
    if low > high:
        return f"no number is in the range required of {name}"
    return None
