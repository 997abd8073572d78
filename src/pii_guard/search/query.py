"""The query language: Lucene syntax (parsed by luqum) turned into a small typed tree that each store compiles
on its own, with parameters, never by pasting user text into SQL or a `query_string`.

    user.name:bob AND pii.categories:sensitive AND NOT source.zone:office
    event.action:(read OR export) AND pii.rows:[1000 TO *] AND pii.object:db\\:crm.public.*
    source.ip:10.20.0.0/16   @timestamp:[2026-11-01 TO 2026-11-08}   pii.statement:"FROM customers"

Terms side by side are ANDed. A bare word on a text field (`pii.statement:select`) is searched as that
phrase, in any case; a bare day on `@timestamp` (`@timestamp:2026-11-27`) means that whole UTC day. `field:*`
means the field is present; `*` alone matches everything (the time
range and the limit still bound the search). Wildcards `*` and `?` are case-sensitive on both stores."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from luqum.exceptions import IllegalCharacterError, ParseError
from luqum.parser import parser as _luqum
from luqum.tree import (
    AndOperation,
    FieldGroup,
    Group,
    Item,
    Not,
    OrOperation,
    Phrase,
    Plus,
    Prohibit,
    Range,
    SearchField,
    UnknownOperation,
    Word,
)

from pii_guard.errors import PiiGuardError
from pii_guard.search.fields import FIELDS, Field, field_named, suggest

MAX_QUERY_CHARS = 20_000
MAX_TERMS = 1_000
MAX_DEPTH = 40
ANY, ONE = object(), object()  # the wildcard tokens in a pattern
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class QueryError(PiiGuardError):
    """A query that cannot be run; `position` is the offending token's offset in the query text."""

    def __init__(self, message: str, query: str, position: int | None, hint: str | None = None) -> None:
        pointer = ""
        if position is not None and len(query) <= 200:
            pointer = f"\n  {query}\n  {' ' * position}^"
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"query error{where}: {message}{pointer}", hint=hint)
        self.position = position


# -- the tree -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    field: Field
    value: str | int | bool  # typed for the field: int for numbers and dates (µs), bool for flags


@dataclass(frozen=True)
class Cidr:
    field: Field
    network: str  # normalized, e.g. "10.20.0.0/16"


@dataclass(frozen=True)
class Wildcard:
    field: Field
    parts: tuple[object, ...]  # literal strings and the ANY / ONE tokens


@dataclass(frozen=True)
class Phrase_:
    field: Field
    text: str


@dataclass(frozen=True)
class Between:
    field: Field
    low: str | int | None
    high: str | int | None
    include_low: bool
    include_high: bool


@dataclass(frozen=True)
class Exists:
    field: Field


@dataclass(frozen=True)
class MatchAll:
    pass


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Negate:
    item: Node


Node = Term | Cidr | Wildcard | Phrase_ | Between | Exists | MatchAll | And | Or | Negate


# -- parsing --------------------------------------------------------------------------------------------------


def parse_query(text: str) -> Node:
    query = text.strip()
    if not query:
        return MatchAll()
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is {len(query):,} characters long; at most {MAX_QUERY_CHARS:,}", query, None)
    try:
        tree = _luqum.parse(query)
    except IllegalCharacterError as exc:
        raise QueryError(_luqum_message(str(exc)), query, _position(str(exc)),
                         hint="close quotes and escape special characters with \\") from None
    except (ParseError, RecursionError) as exc:
        message = str(exc) if not isinstance(exc, RecursionError) else "too deeply nested"
        raise QueryError(_luqum_message(message), query, _position(message, len(query))) from None
    except Exception:  # luqum lets a few odd inputs through as its own errors (`0~.`: decimal.InvalidOperation)
        raise QueryError("cannot parse the query", query, None,
                         hint="check ~ and ^ operators, quotes and brackets") from None
    builder = _Builder(query)
    node = builder.build(tree, None, 0)
    if builder.terms > MAX_TERMS:
        raise QueryError(f"the query has {builder.terms:,} terms; at most {MAX_TERMS:,}", query, None,
                         hint="narrow it with a field range or split it into several searches")
    return node


def _luqum_message(text: str) -> str:
    text = re.sub(r"^Syntax error in input : ", "", text).rstrip("!")
    return re.sub(r"\s+at (position \d+|the end)$", "", text).replace("unexpected  ", "unexpected ")


def _position(text: str, end: int | None = None) -> int | None:
    m = re.search(r"position (\d+)", text)
    if m:
        return int(m.group(1))
    return end if "at the end" in text else None


class _Builder:
    def __init__(self, query: str) -> None:
        self.query = query
        self.terms = 0

    def error(self, message: str, item: Item, hint: str | None = None) -> QueryError:
        return QueryError(message, self.query, getattr(item, "pos", None), hint)

    def build(self, item: Item, field: Field | None, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} levels deep", item)
        if isinstance(item, AndOperation | UnknownOperation):
            return And(tuple(self.build(c, field, depth + 1) for c in item.children))
        if isinstance(item, OrOperation):
            return Or(tuple(self.build(c, field, depth + 1) for c in item.children))
        if isinstance(item, Not | Prohibit):
            return Negate(self.build(item.children[0], field, depth + 1))
        if isinstance(item, Plus):
            return self.build(item.children[0], field, depth + 1)
        if isinstance(item, Group | FieldGroup):
            return self.build(item.children[0], field, depth + 1)
        if isinstance(item, SearchField):
            if field is not None:
                raise self.error(f"field {item.name!r} inside the group of field {field.name!r}", item)
            found = field_named(item.name)
            if found is None:
                raise self.error(f"unknown field {item.name!r}", item, hint=suggest(item.name))
            return self.build(item.children[0], found, depth + 1)
        self.terms += 1
        if not isinstance(item, Word | Phrase | Range):
            raise self.error(f"{type(item).__name__.lower()} queries are not supported", item,
                             hint="use terms, \"phrases\", wildcards (* ?), ranges [a TO b] and AND / OR / NOT")
        if field is None:
            if isinstance(item, Word) and item.value == "*":
                return MatchAll()
            raise self.error(f"{str(item)!r} has no field", item,
                             hint=f"write field:value, e.g. user.name:{str(item)[:20]}")
        if isinstance(item, Word):
            return self.word(item, field)
        if isinstance(item, Phrase):
            return self.phrase(item, field)
        return self.range(item, field)

    def word(self, item: Word, field: Field) -> Node:
        raw = item.value
        if raw == "*":
            return Exists(field)
        parts = _pattern(raw)
        wild = any(p is ANY or p is ONE for p in parts)
        literal = "".join(p for p in parts if isinstance(p, str))
        if field.kind == "ip" and not wild:
            return self.ip(literal, field, item)
        if wild:
            if field.kind not in ("keyword", "list"):
                hint = (f"search a word or a \"phrase\" in it without wildcards, e.g. {field.name}:select"
                        if field.kind == "text" else None)
                raise self.error(f"wildcards work on keyword fields, not on {field.kind} field {field.name!r}", item,
                                 hint=hint)
            return Wildcard(field, parts)
        if field.kind == "text":  # a bare word on a full-text field is that word as a phrase (any case)
            return Phrase_(field, literal)
        return self.value(literal, field, item)

    def phrase(self, item: Phrase, field: Field) -> Node:
        text = _unescape(item.value[1:-1])
        if field.kind in ("text",):
            return Phrase_(field, text)
        if field.kind == "ip":
            return self.ip(text, field, item)
        return self.value(text, field, item)

    def value(self, text: str, field: Field, item: Item) -> Node:
        """One typed value; a bare day on a date field means that whole UTC day, not its first microsecond."""
        if field.kind == "date" and _DAY.fullmatch(text):
            start = self.date(text, item, False)
            return Between(field, start, self.date(text, item, True), True, True)
        return Term(field, self.typed(text, field, item))

    def range(self, item: Range, field: Field) -> Node:
        if field.kind in ("text", "bool"):
            raise self.error(f"ranges work on numbers, dates, IPs and keywords, not on {field.name!r}", item)
        low, high = (None if str(w) == "*" else _unescape(str(w)) for w in (item.low, item.high))
        if field.kind == "ip":
            for bound in (low, high):
                if bound is not None:
                    self.ip(bound, field, item)
            return Between(field, low, high, item.include_low, item.include_high)
        typed_low = self.typed(low, field, item) if low is not None else None
        typed_high = self.typed(high, field, item, upper=item.include_high) if high is not None else None
        assert not isinstance(typed_low, bool)
        assert not isinstance(typed_high, bool)
        return Between(field, typed_low, typed_high, item.include_low, item.include_high)

    def ip(self, text: str, field: Field, item: Item) -> Node:
        try:
            if "/" in text:
                return Cidr(field, str(ipaddress.ip_network(text, strict=False)))
            return Term(field, str(ipaddress.ip_address(text)))
        except ValueError:
            raise self.error(f"{text!r} is not an IP address or network", item) from None

    def typed(self, text: str, field: Field, item: Item, upper: bool = False) -> str | int | bool:
        if field.kind == "number":
            if not re.fullmatch(r"-?\d{1,18}", text):
                raise self.error(f"{field.name} is a number, not {text!r}", item)
            return int(text)
        if field.kind == "bool":
            if text.lower() not in ("true", "false"):
                raise self.error(f"{field.name} is true or false, not {text!r}", item)
            return text.lower() == "true"
        if field.kind == "date":
            return self.date(text, item, upper)
        return text

    def date(self, text: str, item: Item, upper: bool) -> int:
        try:
            return parse_instant(text, upper)
        except ValueError:
            raise self.error(f"{text!r} is not a date (write 2026-11-27 or 2026-11-27T10:15:00Z)", item) from None


def parse_instant(text: str, upper: bool = False) -> int:
    """2026-11-27, 2026-11-27T10:15, 2026-11-27T10:15:00Z, or with an offset, in µs; UTC when no zone is given.
    A bare day as an upper bound means the end of that day. ValueError for anything else."""
    if _DAY.fullmatch(text):
        day = datetime.fromisoformat(text).replace(tzinfo=UTC)
        return int(day.timestamp() * 1_000_000) + (86_400_000_000 - 1 if upper else 0)
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1_000_000)


def _pattern(raw: str) -> tuple[object, ...]:
    """Split a Lucene word into literal text and wildcard tokens; a backslash escapes the next character."""
    parts: list[object] = []
    buf: list[str] = []
    chars = iter(raw)
    for ch in chars:
        if ch == "\\":
            buf.append(next(chars, "\\"))
        elif ch in "*?":
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(ANY if ch == "*" else ONE)
        else:
            buf.append(ch)
    if buf:
        parts.append("".join(buf))
    return tuple(parts)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def glob_node(field: str, text: str) -> Node:
    """A pattern where `*` and `?` are wildcards and everything else is literal (who-accessed's --object
    and --path, the console's who-accessed form)."""
    if "*" not in text and "?" not in text:
        return Term(FIELDS[field], text)
    parts: list[object] = []
    for ch in text:
        if ch in "*?":
            parts.append(ANY if ch == "*" else ONE)
        elif parts and isinstance(parts[-1], str):
            parts[-1] = parts[-1] + ch
        else:
            parts.append(ch)
    return Wildcard(FIELDS[field], tuple(parts))
