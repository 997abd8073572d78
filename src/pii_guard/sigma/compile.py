"""A Sigma rule's condition → one Python predicate, generated once (no walk over pySigma's tree per event).

pySigma resolves the condition (`1 of selection_*`, `all of them`, `not`, brackets) into a tree of and/or/not
over field tests. Here that tree becomes the source text of a single lambda whose leaves are compiled
matchers (`_m0(v) and (_m1(v) or not _m2(v))`); Python's own short-circuit evaluation does the rest. Values
are never written into the generated text, only matcher names, so a rule cannot inject code. Tests of one
field linked by OR are merged into one matcher (one set lookup for a list of values, one RE2 search for many
substrings). Each rule also says which literals any match must contain, for the index (index.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionIdentifier,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.modifiers import reverse_modifier_mapping
from sigma.rule import SigmaDetectionItem, SigmaRule
from sigma.types import SigmaType

from pii_guard.config.yamlload import PathKey
from pii_guard.sigma.fields import FieldMapping, Logsource
from pii_guard.sigma.values import Anchor, EventView, Leaf, UnsupportedValue, compile_values

Predicate = Callable[[EventView], bool]
# Fields whose values are few and common: an index anchored on them lets most events through.
_BROAD = frozenset({"event.action", "event.outcome", "event.dataset", "pii.categories", "pii.classified",
                    "user.roles", "pii.zone", "source.zone", "pii.user_known", "pii.hour", "pii.weekday"})
LEVELS = {"informational": "low", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}


@dataclass
class Node:
    op: Literal["and", "or", "not", "leaf", "true", "false"]
    args: list[Node] = field(default_factory=list)
    leaf: Leaf | None = None


class RuleCompileError(ValueError):
    """A rule pySigma accepts but this evaluator cannot run; `path` points into the rule's YAML."""

    def __init__(self, message: str, path: PathKey) -> None:
        super().__init__(message)
        self.path = path


@dataclass
class CompiledRule:
    """A detection rule, ready to run: who it is, which events it sees, and its predicate."""

    label: str  # "sigma:<name or id>": the Match's rule id
    title: str
    rule: SigmaRule
    logsource: Logsource | None  # None: pii-guard has no events of this logsource
    predicate: Predicate
    tree: Node
    anchors: frozenset[Anchor] | None
    severity: str
    informational: bool
    tags: tuple[str, ...]
    fields: dict[str, str]  # Sigma field name → event field, as used
    order: int = 0


def rule_label(rule: SigmaRule | Any, fallback: str) -> str:
    return "sigma:" + str(rule.name or rule.id or fallback)


def detection_path(cond: Any, detection: dict[str, Any]) -> PathKey:
    """Where in the rule's YAML a leaf of the condition tree was written: detection / identifier / key."""
    item: SigmaDetectionItem | None = None
    identifier: str | None = None
    for parent in [cond, *cond.parent_chain()]:
        if item is None and isinstance(parent, SigmaDetectionItem):
            item = parent
        if isinstance(parent, ConditionIdentifier):
            identifier = parent.identifier
            break
    if identifier is None:
        return ("detection",)
    if item is None:
        return ("detection", identifier)
    key = (item.field or "") + "".join("|" + reverse_modifier_mapping[m.__name__] for m in item.modifiers)
    body = detection.get(identifier)
    if isinstance(body, dict) and key in body:
        return ("detection", identifier, key)
    if isinstance(body, list):
        for i, entry in enumerate(body):
            if isinstance(entry, dict) and key in entry:
                return ("detection", identifier, i, key)
    return ("detection", identifier)


class _Builder:
    def __init__(self, mapping: FieldMapping, source: Logsource | None, detection: dict[str, Any]) -> None:
        self.mapping = mapping
        self.source = source
        self.detection = detection
        self.fields: dict[str, str] = {}

    def resolve(self, sigma_field: str) -> str:
        name = FieldMapping.event_field(self.source, sigma_field) if self.source is not None else \
            self.mapping.fields.get(sigma_field, sigma_field)
        self.fields[sigma_field] = name
        return name

    def leaves(self, conds: Sequence[Any], sigma_field: str | None, values: list[SigmaType]) -> list[Node]:
        try:
            name = self.resolve(sigma_field) if sigma_field is not None else None
            return [Node("leaf", leaf=leaf) for leaf in compile_values(name, values, self.resolve)]
        except (UnsupportedValue, ValueError) as exc:
            raise RuleCompileError(str(exc), detection_path(conds[0], self.detection)) from None

    def node(self, cond: Any) -> Node:
        if cond is None:
            return Node("false")
        if isinstance(cond, ConditionFieldEqualsValueExpression):
            return _any(self.leaves([cond], cond.field, [cond.value]))
        if isinstance(cond, ConditionValueExpression):
            return _any(self.leaves([cond], None, [cond.value]))
        if isinstance(cond, ConditionNOT):
            return Node("not", [self.node(cond.args[0])])
        if isinstance(cond, ConditionAND):
            return Node("and", [self.node(a) for a in cond.args])
        if isinstance(cond, ConditionOR):
            return self.disjunction(cond.args)
        if isinstance(cond, ConditionItem):  # pragma: no cover - pySigma resolves every other item
            raise RuleCompileError(f"unsupported condition element {type(cond).__name__}", ("detection",))
        raise RuleCompileError(f"unsupported condition element {type(cond).__name__}", ("detection",))

    def disjunction(self, args: Sequence[Any]) -> Node:
        """OR-linked tests of one field become one matcher; anything else stays a branch."""
        groups: dict[str | None, list[Any]] = {}
        others: list[Node] = []
        for a in args:
            if isinstance(a, ConditionFieldEqualsValueExpression):
                groups.setdefault(a.field, []).append(a)
            elif isinstance(a, ConditionValueExpression):
                groups.setdefault(None, []).append(a)
            else:
                others.append(self.node(a))
        nodes: list[Node] = []
        for name, conds in groups.items():
            nodes.extend(self.leaves(conds, name, [c.value for c in conds]))
        return _any(nodes + others)


def _any(nodes: list[Node]) -> Node:
    return nodes[0] if len(nodes) == 1 else Node("or", nodes)


def _rank(node: Node) -> int:
    """AND-children order: cheap, selective tests first (Python stops at the first false)."""
    if node.op == "leaf" and node.leaf is not None:
        return 0 if node.leaf.facts and node.leaf.facts[0][0] == "eq" else 1
    return 2


def _emit(node: Node, matchers: list[Callable[[EventView], bool]]) -> str:
    if node.op == "leaf":
        assert node.leaf is not None
        matchers.append(node.leaf.match)
        return f"_m{len(matchers) - 1}(v)"
    if node.op in ("true", "false"):
        return "True" if node.op == "true" else "False"
    if node.op == "not":
        return f"(not {_emit(node.args[0], matchers)})"
    args = sorted(node.args, key=_rank) if node.op == "and" else node.args
    return "(" + f" {node.op} ".join(_emit(a, matchers) for a in args) + ")"


def generate(tree: Node, label: str) -> Predicate:
    matchers: list[Callable[[EventView], bool]] = []
    body = _emit(tree, matchers)
    namespace: dict[str, Any] = {"__builtins__": {}}
    namespace.update({f"_m{i}": m for i, m in enumerate(matchers)})
    code = compile(f"lambda v: {body}", f"<sigma rule {label}>", "eval")
    predicate: Predicate = eval(code, namespace)  # the text holds matcher names only, never rule values
    return predicate


def _score(anchors: frozenset[Anchor]) -> tuple[int, int, int, int]:
    """Lower is better: equal values of a selective field, then literals (the longer the better), then ranges
    and presence, then anything on a field whose few values most events share."""
    broad = any(f in _BROAD for f, _, _ in anchors)
    weak = sum(k in ("gt", "gte", "lt", "lte", "exists") for _, k, _ in anchors)
    sub = any(k == "sub" for _, k, _ in anchors)
    shortest = min((len(lit) for _, k, lit in anchors if k == "sub"), default=99)
    return (int(broad), weak + int(sub), -shortest, len(anchors))


def anchors_of(node: Node) -> frozenset[Anchor] | None:
    """Literals one of which every matching event must have (or None: the index cannot help)."""
    if node.op == "leaf":
        assert node.leaf is not None
        return node.leaf.anchors
    if node.op == "false":
        return frozenset()
    if node.op == "or":
        found: set[Anchor] = set()
        for a in node.args:
            sub = anchors_of(a)
            if sub is None:
                return None
            found |= sub
        return frozenset(found)
    if node.op == "and":
        options = [s for s in (anchors_of(a) for a in node.args) if s is not None]
        return min(options, key=_score) if options else None
    return None


def compile_rule(rule: SigmaRule, mapping: FieldMapping, fallback: str, order: int = 0,
                 detection: dict[str, Any] | None = None) -> CompiledRule:
    """`detection` is the rule's detection section as written, to point errors at their key."""
    source = mapping.logsource(rule.logsource.category, rule.logsource.product, rule.logsource.service)
    label = rule_label(rule, fallback)
    builder = _Builder(mapping, source, detection or {})
    try:
        parsed = [c.parse() for c in rule.detection.parsed_condition]
    except (SigmaError, ValueError, TypeError, AttributeError, KeyError) as exc:
        message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
        raise RuleCompileError(message, ("detection", "condition")) from None
    conditions = [builder.node(c) for c in parsed]
    tree = _any(conditions)
    level = rule.level.name.lower() if rule.level is not None else "medium"
    return CompiledRule(
        label=label, title=rule.title or label, rule=rule, logsource=source, predicate=generate(tree, label),
        tree=tree, anchors=anchors_of(tree), severity=LEVELS.get(level, "medium"),
        informational=level == "informational", tags=tuple(str(t) for t in rule.tags), fields=builder.fields,
        order=order,
    )



def compile_parts(compiled: CompiledRule, mapping: FieldMapping) -> dict[str, Predicate]:
    """Each named detection of a rule alone (selection, filter ...), to say which held (for `rules test`)."""
    detections = compiled.rule.detection
    builder = _Builder(mapping, compiled.logsource, {})
    parts: dict[str, Predicate] = {}
    for name in detections.detections:
        try:
            cond = ConditionIdentifier([name]).postprocess(detections)
            parts[name] = generate(builder.node(cond), f"{compiled.label}:{name}")
        except (RuleCompileError, ValueError):
            continue
    return parts
