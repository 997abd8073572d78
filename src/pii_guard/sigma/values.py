"""Sigma values → matchers on one field of an event, compiled once.

Semantics, as the Sigma specification says and pySigma's SQLite backend does: strings match the whole field,
case-insensitively, with `*` and `?` wildcards (pySigma has already applied the escaping rules and the
contains/startswith/endswith modifiers); `|cased` strings match case-sensitively; regular expressions search
anywhere, case-sensitively unless `|i`, and run on RE2; numbers compare with numbers and with their spelling
in text fields; `null` matches an absent field; `|exists` tests presence; a field holding several values
(`user.roles`, `pii.categories`) matches when one of them does. Keywords (values without a field) search the
raw log line (`event.original`), as the SQLite backend searches its full-text column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import re2
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
    TimestampPart,
)

from pii_guard.model import EnrichedEvent
from pii_guard.policy.context import PolicyContext
from pii_guard.rules.matchers import CidrSet
from pii_guard.sigma.getters import Getter, getter

KEYWORD_FIELD = "event.original"
CONTAINS_RE2_FROM = 16  # more contains-literals than this on one field: one RE2 search instead of a loop

_getters: dict[str, Getter] = {}


def _getter(name: str) -> Getter:
    """How to read field `name`, remembered for every view."""
    get = _getters[name] = getter(name)
    return get


def field_getter(name: str) -> Getter:
    """How to read field `name` (its raw value, as `values_of` and `texts_of` take it)."""
    return _getters.get(name) or _getter(name)


class UnsupportedValue(ValueError):
    """A Sigma value this evaluator cannot run (RE2 refuses the regex, a placeholder ...)."""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


_SEQUENCES = (list, tuple)


def _scalars(raw: Any) -> tuple[Any, ...]:
    if raw is None:
        return ()
    if isinstance(raw, _SEQUENCES):
        return tuple([v for v in raw if v is not None])
    return (raw,)


def _as_texts(raw: Any) -> tuple[str, ...]:
    """A field's raw value as its texts: () when absent, one text, or one per value of a multi-valued field."""
    if raw is None:
        return ()
    if raw.__class__ is str:
        return (raw,)
    return tuple([_text(v) for v in _scalars(raw)])


def values_of(raw: Any) -> tuple[Any, ...]:
    """A field's raw value as EventView.values gives it."""
    if raw is None:
        return ()
    if raw.__class__ is str:
        return (raw,)
    return _scalars(raw)


def texts_of(raw: Any) -> tuple[str, ...]:
    """A field's raw value as EventView.texts gives it."""
    if raw.__class__ is str:
        return (raw.lower(),)
    if raw is None:
        return ()
    if raw.__class__ is tuple:  # roles, categories: strings only, the usual case, in one step
        lowered = []
        for value in raw:
            if value.__class__ is not str:
                break
            lowered.append(value.lower())
        else:
            return tuple(lowered)
    return tuple([t.lower() for t in _as_texts(raw)])


class EventView:
    """One event's fields as rules read them, each fetched and lowered at most once for all rules.

    This is the hot path of every rule: plain loops and the common single-string case first, no generators."""

    __slots__ = ("_cased", "_texts", "_values", "ctx", "item")

    def __init__(self, item: EnrichedEvent, ctx: PolicyContext) -> None:
        self.item = item
        self.ctx = ctx
        self._values: dict[str, tuple[Any, ...]] = {}
        self._texts: dict[str, tuple[str, ...]] = {}
        self._cased: dict[str, tuple[str, ...]] = {}

    def values(self, name: str) -> tuple[Any, ...]:
        """The field's values: () when absent, one value, or each value of a multi-valued field."""
        hit = self._values.get(name)
        if hit is None:
            hit = self._values[name] = values_of((_getters.get(name) or _getter(name))(self.item, self.ctx))
        return hit

    def cased(self, name: str) -> tuple[str, ...]:
        """The values as text. Each of these three views is filled straight from the field (a single string,
        the usual case, in a few steps), not through the others: most fields are read in one view only."""
        hit = self._cased.get(name)
        if hit is None:
            hit = self._cased[name] = _as_texts((_getters.get(name) or _getter(name))(self.item, self.ctx))
        return hit

    def texts(self, name: str) -> tuple[str, ...]:
        """The values as lowered text, for case-insensitive matching."""
        hit = self._texts.get(name)
        if hit is None:
            hit = self._texts[name] = texts_of((_getters.get(name) or _getter(name))(self.item, self.ctx))
        return hit


Matcher = Callable[[EventView], bool]
# What an index may rely on: the field must equal ("eq") or contain ("sub") this lowered literal, be present
# ("exists"), or hold a number beyond a bound ("gt", "gte", "lt", "lte": the bound as text).
Anchor = tuple[str, str, str]


@dataclass
class Leaf:
    """A compiled test of one field: the matcher, the anchors it guarantees, and what lint needs to know."""

    field: str
    match: Matcher
    anchors: frozenset[Anchor] | None  # None: nothing an index can use
    facts: tuple[tuple[str, Any], ...] = ()  # ("eq", text) ("null", None) ("exists", bool) ("cmp", (op, n))
    others: tuple[str, ...] = ()  # the fields the matcher reads besides `field`


@dataclass
class _Pattern:
    eqs: set[str]
    prefixes: list[str]
    suffixes: list[str]
    contains: list[str]
    generic: list[str]  # RE2 bodies, fullmatched

    def __init__(self) -> None:
        self.eqs, self.prefixes, self.suffixes, self.contains, self.generic = set(), [], [], [], []


def _parts(value: SigmaString) -> list[str | SpecialChars]:
    parts: list[str | SpecialChars] = []
    for part in value.s:
        if isinstance(part, Placeholder):
            raise UnsupportedValue(f"placeholder %{part.name}% (|expand) is not supported: write the values out")
        parts.append(part)
    return parts


def _literal_runs(parts: Sequence[str | SpecialChars]) -> list[str]:
    return [p for p in parts if isinstance(p, str)]


def _add_pattern(pattern: _Pattern, parts: list[str | SpecialChars], lower: bool) -> tuple[str, str] | None:
    """File one string under the cheapest test that decides it; return its anchor (kind, lowered literal)."""

    def fold(text: str) -> str:
        return text.lower() if lower else text

    many, one = SpecialChars.WILDCARD_MULTI, SpecialChars.WILDCARD_SINGLE
    runs = _literal_runs(parts)
    if one not in parts:
        inner = [p for p in parts if isinstance(p, str)]
        if len(inner) <= 1 and len(inner) + sum(1 for p in parts if p == many) == len(parts):
            lit = fold(inner[0]) if inner else ""
            starts, ends = parts[:1] == [many], parts[-1:] == [many]
            if not starts and not ends:
                pattern.eqs.add(lit)
                return ("eq", lit.lower())
            if starts and ends:
                pattern.contains.append(lit)
            elif ends:
                pattern.prefixes.append(lit)
            else:
                pattern.suffixes.append(lit)
            return ("sub", lit.lower()) if lit else None
    body = "".join(re2.escape(fold(p)) if isinstance(p, str) else ".*" if p == many else "." for p in parts)
    pattern.generic.append(body)
    longest = max(runs, key=len, default="")
    return ("sub", longest.lower()) if longest else None


def _eq_folded(field: str, eqs: frozenset[str]) -> Matcher:
    def match(view: EventView) -> bool:
        texts = view._texts.get(field)  # as view.texts(field), without its call when already read
        return not eqs.isdisjoint(view.texts(field) if texts is None else texts)

    return match


def _eq_cased(field: str, eqs: frozenset[str]) -> Matcher:
    return lambda view: not eqs.isdisjoint(view.cased(field))


def _string_matcher(field: str, pattern: _Pattern, cased: bool) -> Matcher:
    eqs = frozenset(pattern.eqs)
    prefixes, suffixes = tuple(pattern.prefixes), tuple(pattern.suffixes)
    contains = tuple(pattern.contains)
    options = re2.Options()
    options.dot_nl = True
    generic = re2.compile("(?:" + "|".join(pattern.generic) + ")", options) if pattern.generic else None
    contains_re = None
    if len(contains) > CONTAINS_RE2_FROM:
        contains_re = re2.compile("|".join(re2.escape(c) for c in contains), options)
        contains = ()
    if eqs and not (prefixes or suffixes or contains or generic or contains_re):
        return _eq_cased(field, eqs) if cased else _eq_folded(field, eqs)

    def match(view: EventView) -> bool:
        for t in view.cased(field) if cased else view.texts(field):
            if t in eqs:
                return True
            if prefixes and t.startswith(prefixes):
                return True
            if suffixes and t.endswith(suffixes):
                return True
            for c in contains:
                if c in t:
                    return True
            if contains_re is not None and contains_re.search(t) is not None:
                return True
            if generic is not None and generic.fullmatch(t) is not None:
                return True
        return False

    return match


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


_OPS: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda a, b: a < b,
    CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b,
    CompareOperators.GTE: lambda a, b: a >= b,
    CompareOperators.NEQ: lambda a, b: a != b,
}


def _timestamp(view: EventView, field: str) -> datetime | None:
    if field == "@timestamp":
        return datetime.fromtimestamp(view.item.event.time_us / 1_000_000, tz=UTC)
    for value in view.values(field):
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                return None
    return None


_PARTS: dict[TimestampPart, Callable[[datetime], int]] = {
    TimestampPart.MINUTE: lambda d: d.minute,
    TimestampPart.HOUR: lambda d: d.hour,
    TimestampPart.DAY: lambda d: d.day,
    TimestampPart.WEEK: lambda d: d.isocalendar()[1],
    TimestampPart.MONTH: lambda d: d.month,
    TimestampPart.YEAR: lambda d: d.year,
}


def _timestamp_part(field: str, part: TimestampPart, test: Callable[[float], bool]) -> Matcher:
    extract = _PARTS[part]

    def match(view: EventView) -> bool:
        when = _timestamp(view, field)
        return when is not None and test(extract(when))

    return match


_RANGE_ANCHOR = {CompareOperators.GT: "gt", CompareOperators.GTE: "gte", CompareOperators.LT: "lt",
                 CompareOperators.LTE: "lte"}


def _compare(field: str, value: SigmaCompareExpression) -> Leaf:
    op, bound = _OPS[value.op], value.number.number
    if isinstance(value.number, SigmaTimestampPart):
        return Leaf(field, _timestamp_part(field, value.number.timestamp_part, lambda x: op(x, bound)), None)

    def match(view: EventView) -> bool:
        for v in view.values(field):
            n = _number(v)
            if n is not None and op(n, bound):
                return True
        return False

    anchor = _RANGE_ANCHOR.get(value.op)
    anchors = frozenset({(field, anchor, repr(float(bound)))}) if anchor else None
    return Leaf(field, match, anchors, (("cmp", (value.op, bound)),))


_QUANTIFIERS = frozenset("*?{+")
_CLASS_ESCAPES = frozenset("dDsSwWbBpPAzCQE")


def regex_literal(pattern: str) -> str:
    """The longest text every match of `pattern` must contain, lowered ("" if none is certain): runs of plain
    characters outside groups and classes, in a pattern without alternation at its top level."""
    runs: list[str] = []
    run: list[str] = []
    depth, i = 0, 0

    def close(drop_last: bool = False) -> None:
        if drop_last and run:
            run.pop()
        if run:
            runs.append("".join(run))
        run.clear()

    while i < len(pattern):
        c = pattern[i]
        nxt = pattern[i + 1] if i + 1 < len(pattern) else ""
        if c == "\\":
            if nxt in _CLASS_ESCAPES or nxt.isalnum() or not nxt:
                close()
            elif depth == 0:
                run.append(nxt)
            i += 2
            continue
        if c == "[":
            close()
            j = i + 1
            while j < len(pattern) and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            close()
            depth += 1
        elif c == ")":
            close()
            depth = max(0, depth - 1)
        elif c == "|" and depth == 0:
            return ""
        elif c in _QUANTIFIERS:
            close(drop_last=True)
            if c == "{":
                end = pattern.find("}", i)
                i = len(pattern) if end < 0 else end + 1
                continue
        elif c in ".^$":
            close()
        elif depth == 0:
            run.append(c)
        i += 1
    close()
    longest = max(runs, key=len, default="")
    return longest.lower() if len(longest) >= 3 else ""


def _regex(field: str, value: SigmaRegularExpression) -> Leaf:
    options = re2.Options()
    options.case_sensitive = SigmaRegularExpressionFlag.IGNORECASE not in value.flags
    options.dot_nl = SigmaRegularExpressionFlag.DOTALL in value.flags
    options.never_nl = False
    options.log_errors = False
    pattern = str(value.regexp)
    if SigmaRegularExpressionFlag.MULTILINE in value.flags:
        pattern = "(?m)" + pattern
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        raise UnsupportedValue(f"RE2 refuses the regular expression {str(value.regexp)!r}: {exc}") from None
    literal = regex_literal(pattern) if SigmaRegularExpressionFlag.MULTILINE not in value.flags else ""
    anchors = frozenset({(field, "sub", literal)}) if literal else None
    return Leaf(field, lambda view: any(compiled.search(t) is not None for t in view.cased(field)), anchors)


def _cidr(field: str, values: Iterable[SigmaCIDRExpression]) -> Leaf:
    nets = CidrSet(str(v.network) for v in values)
    return Leaf(field, lambda view: any(nets(t) for t in view.cased(field)), None)


def _number_eq(field: str, numbers: Sequence[int | float]) -> Leaf:
    # int | float, not float: an int must stay one, its spelling ("5", not "5.0") is what the index files
    wanted = frozenset(numbers)
    spelled = frozenset(str(n) for n in numbers)

    def match(view: EventView) -> bool:
        for v in view.values(field):
            if isinstance(v, bool):
                continue
            if isinstance(v, int | float):
                if v in wanted:
                    return True
            elif _text(v).strip() in spelled:
                return True
        return False

    return Leaf(field, match, frozenset((field, "eq", s) for s in spelled), tuple(("eq", s) for s in spelled))


def _bool_eq(field: str, value: bool) -> Leaf:
    text = "true" if value else "false"
    return Leaf(field, lambda view: any(t == text for t in view.texts(field)), frozenset({(field, "eq", text)}),
                (("eq", text),))


def _field_ref(field: str, other: str, ref: SigmaFieldReference) -> Leaf:
    def match(view: EventView) -> bool:
        theirs = view.texts(other)
        for t in view.texts(field):
            for o in theirs:
                if (ref.starts_with and t.startswith(o)) or (ref.ends_with and t.endswith(o)) or t == o:
                    return True
        return False

    return Leaf(field, match, None, others=(other,))


def _exists(field: str, want: bool) -> Leaf:
    anchors = frozenset({(field, "exists", "")}) if want else None
    return Leaf(field, lambda view: bool(view.values(field)) is want, anchors, (("exists", want),))


def _equals(bound: float) -> Callable[[float], bool]:
    return lambda x: x == bound


def compile_values(field: str | None, values: Sequence[SigmaType], resolve: Callable[[str], str]) -> list[Leaf]:
    """One Leaf for OR-linked `values` of one field (strings and numbers share one matcher each)."""
    keyword = field is None
    name = KEYWORD_FIELD if field is None else field
    flat: list[SigmaType] = []
    for v in values:
        flat.extend(v.values if isinstance(v, SigmaExpansion) else [v])
    strings: dict[bool, tuple[_Pattern, set[tuple[str, str] | None]]] = {}
    numbers: list[int | float] = []
    leaves: list[Leaf] = []
    cidrs: list[SigmaCIDRExpression] = []
    for v in flat:
        if isinstance(v, SigmaString):
            parts = _parts(v)
            if keyword:
                parts = [SpecialChars.WILDCARD_MULTI, *parts, SpecialChars.WILDCARD_MULTI]
            cased = isinstance(v, SigmaCasedString)
            pattern, anchors = strings.setdefault(cased, (_Pattern(), set()))
            anchors.add(_add_pattern(pattern, parts, lower=not cased))
        elif isinstance(v, SigmaTimestampPart):
            leaves.append(Leaf(name, _timestamp_part(name, v.timestamp_part, _equals(v.number)), None))
        elif isinstance(v, SigmaNumber):
            if keyword:
                pattern, anchors = strings.setdefault(False, (_Pattern(), set()))
                anchors.add(_add_pattern(pattern, [SpecialChars.WILDCARD_MULTI, str(v.number),
                                                   SpecialChars.WILDCARD_MULTI], lower=True))
            else:
                numbers.append(v.number)
        elif isinstance(v, SigmaBool):
            leaves.append(_bool_eq(name, bool(v)))
        elif isinstance(v, SigmaNull):
            leaves.append(Leaf(name, lambda view: not view.values(name), None, (("null", None),)))
        elif isinstance(v, SigmaExists):
            leaves.append(_exists(name, bool(v)))
        elif isinstance(v, SigmaRegularExpression):
            leaves.append(_regex(name, v))
        elif isinstance(v, SigmaCIDRExpression):
            cidrs.append(v)
        elif isinstance(v, SigmaCompareExpression):
            leaves.append(_compare(name, v))
        elif isinstance(v, SigmaFieldReference):
            leaves.append(_field_ref(name, resolve(v.field), v))
        else:
            raise UnsupportedValue(f"value type {type(v).__name__} is not supported")
    for cased, (pattern, anchors) in strings.items():
        found = None if None in anchors else frozenset((name, a[0], a[1]) for a in anchors if a is not None)
        simple = not (pattern.prefixes or pattern.suffixes or pattern.contains or pattern.generic or cased)
        facts = tuple(("eq", e) for e in sorted(pattern.eqs)) if simple else ()
        leaves.append(Leaf(name, _string_matcher(name, pattern, cased), found, facts))
    if numbers:
        leaves.append(_number_eq(name, numbers))
    if cidrs:
        leaves.append(_cidr(name, cidrs))
    return leaves

