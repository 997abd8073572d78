"""The data map: which objects (tables, columns, paths) hold which categories of personal data."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, NamedTuple

from pii_guard.config.validate import validate
from pii_guard.config.yamlload import load_yaml_file
from pii_guard.enrich.files import DataMapFile, MapEntry
from pii_guard.model import ObjectInfo

UNCLASSIFIED = ObjectInfo()


def glob_to_regex(pattern: str) -> str:
    """`**` crosses separators, `*` stays within one (`/` for paths, `.` for db names), `?` is one char."""
    sep = "." if pattern.startswith("db:") else "/"
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append(f"[^{re.escape(sep)}]*")
            i += 1
        elif pattern[i] == "?":
            out.append(".")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


class _Column(NamedTuple):
    regex: re.Pattern[str]
    categories: tuple[str, ...]
    name: str | None  # the column name in lower case when it is ASCII (for a substring test first), else None


class _Rule(NamedTuple):
    regex: re.Pattern[str]
    info: ObjectInfo
    columns: tuple[_Column, ...]


_WILDCARDS = re.compile(r"[*?]")
_SEPARATORS = frozenset("/.:")


def _norm(obj: str) -> str:
    return obj.lower() if obj.startswith("db:") else obj


def literal_prefix(pattern: str) -> str:
    """The part of a glob before its first wildcard, cut back to just after a separator (`/`, `.`, `:`)."""
    wild = _WILDCARDS.search(pattern)
    head = pattern if wild is None else pattern[: wild.start()]
    cut = max(head.rfind(sep) for sep in _SEPARATORS)
    return head[: cut + 1]


class DataMap:
    """Object → categories, without a scan of every glob per object.

    Patterns without wildcards are a dict lookup. Globs are filed under their literal prefix up to a separator
    (`file:/srv/`, `db:crm.`), so an object only meets the globs filed under one of its own prefixes: one dict
    lookup per separator in the object. Answers are memoized per object (objects repeat), and for objects
    with column categories per (object, statement): a statement names the same columns every time, and masked
    statements repeat (one line per relation of a join, the same query with other literals)."""

    def __init__(self, entries: list[MapEntry], categories: list[str]) -> None:
        self.categories = tuple(categories)
        self._exact: dict[str, list[_Rule]] = {}
        self._by_prefix: dict[str, list[_Rule]] = {}
        for entry in entries:
            flags = re.IGNORECASE if entry.match.startswith("db:") else 0
            columns = tuple(
                _Column(
                    re.compile(rf"(?<![\w.])(?:\w+\.)?{re.escape(col)}\b|{_SELECT_STAR}", re.IGNORECASE), tuple(cats),
                    col.lower() if col.isascii() else None,
                )
                for col, cats in entry.columns.items()
            )  # fmt: skip
            info = ObjectInfo(tuple(sorted(set(entry.categories))), True, entry.honeytoken)
            rule = _Rule(re.compile(glob_to_regex(entry.match) + r"\Z", flags), info, columns)
            if _WILDCARDS.search(entry.match) is None:
                self._exact.setdefault(_norm(entry.match), []).append(rule)
            else:
                self._by_prefix.setdefault(_norm(literal_prefix(entry.match)), []).append(rule)
        self._cache: dict[str, tuple[ObjectInfo, tuple[_Column, ...]]] = {}
        # an object's part up to its last separator -> the globs filed under one of its prefixes: objects that
        # differ only after it (`url:/api/v1/customers/2366`, `.../2367`) share it
        self._filed: dict[str, tuple[_Rule, ...]] = {}
        # (object, statement) -> answer, for objects with columns: statements repeat (masked, one per relation)
        self._by_statement: dict[tuple[str, str], ObjectInfo] = {}

    def lookup(self, obj: str | None, statement: str | None = None) -> ObjectInfo:
        if obj is None:
            return UNCLASSIFIED
        hit = self._cache.get(obj)
        if hit is None:
            hit = self._compute(obj)
            if len(self._cache) >= 200_000:
                self._cache.clear()
            self._cache[obj] = hit
        info, columns = hit
        if not columns or not statement:
            return info
        named = _named(columns, statement)
        if not named:
            return info
        key = (obj, statement)
        found = self._by_statement.get(key)
        if found is None:
            found = _with_columns(info, named, statement)
            if len(statement) <= 2048:  # bounded: at most 16,384 statements of up to 2 KiB
                if len(self._by_statement) >= 16_384:
                    self._by_statement.clear()
                self._by_statement[key] = found
        return found

    def _candidates(self, obj: str) -> tuple[_Rule, ...]:
        norm = _norm(obj)
        head = norm[: max(norm.rfind("/"), norm.rfind("."), norm.rfind(":")) + 1]
        filed = self._filed.get(head)
        if filed is None:
            filed = self._filed_under(head)
            if len(self._filed) >= 16_384:
                self._filed.clear()
            self._filed[head] = filed
        exact = self._exact.get(norm)
        return filed if exact is None else (*exact, *filed)

    def _filed_under(self, head: str) -> tuple[_Rule, ...]:
        """The globs filed under a prefix of `head` that ends at a separator (every such prefix of an object
        ends at or before its last separator)."""
        found: list[_Rule] = []
        by_prefix = self._by_prefix
        for i, ch in enumerate(head):
            if ch in _SEPARATORS:
                rules = by_prefix.get(head[: i + 1])
                if rules:
                    found.extend(rules)
        return tuple(found)

    def _compute(self, obj: str) -> tuple[ObjectInfo, tuple[_Column, ...]]:
        matched = [rule for rule in self._candidates(obj) if rule.regex.match(obj)]
        if not matched:
            return UNCLASSIFIED, ()
        if len(matched) == 1:  # its info is already what the general case would build
            return matched[0].info, matched[0].columns
        cats = sorted({c for rule in matched for c in rule.info.categories})
        honey = any(rule.info.honeytoken for rule in matched)
        columns = tuple(col for rule in matched for col in rule.columns)
        return ObjectInfo(tuple(cats), True, honey), columns

    @classmethod
    def from_file(cls, path: Path) -> DataMap:
        parsed = validate(DataMapFile, load_yaml_file(path))
        return cls(parsed.objects, parsed.categories)

    @classmethod
    def empty(cls) -> DataMap:
        return cls([], [])


# `*` or `t.*` as a whole select list item (`SELECT *`, `SELECT t.*, x`, `RETURNING *`): every column. Not
# `count(*)`, nor a multiplication (`price * 2`): they name no column.
_SELECT_STAR: Final = r"(?:(?<=[\s,(])|^)(?:\w+\.)?\*(?=\s*(?:,|\bFROM\b|;|$))"


def _named(columns: tuple[_Column, ...], statement: str) -> tuple[_Column, ...]:
    """The columns `statement` may name: all of them when it holds a `*` or is not ASCII, else those whose name
    it holds in any case (case-insensitive matching of ASCII text against an ASCII name is a lower-case
    substring test). Most statements name none: they need no regex and no memo."""
    if "*" in statement or not statement.isascii():
        return columns
    lowered = statement.lower()
    return tuple(column for column in columns if column.name is None or column.name in lowered)


def _with_columns(info: ObjectInfo, named: tuple[_Column, ...], statement: str) -> ObjectInfo:
    """`info` plus the categories of the columns the statement names (or all of them for a `*`), among the
    columns `_named` left. What each column's regex would find, without trying it at every position of an
    ASCII statement (the regex starts with a lookbehind and an optional qualifier, so the engine cannot skip
    ahead: ~25,000 instructions a search): a `*` select item names every column, else each column's name is
    found as a substring and only its neighbours are looked at."""
    if "*" in statement and _STAR(statement) is not None:
        extra = {c for column in named for c in column.categories}
    elif statement.isascii():
        lowered = statement.lower()
        extra = {
            c for column in named
            if (_names(lowered, column.name) if column.name else column.regex.search(statement))
            for c in column.categories
        }  # fmt: skip
    else:
        extra = {c for column in named if column.regex.search(statement) for c in column.categories}
    if extra - set(info.categories):
        # built directly: a NamedTuple's `_replace` is Python-level code, slow on a per-event path
        return ObjectInfo(tuple(sorted(extra | set(info.categories))), info.classified, info.honeytoken)
    return info


_STAR: Final = re.compile(_SELECT_STAR, re.IGNORECASE).search
_WORD: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")  # \w on ASCII text


def _names(lowered: str, name: str) -> bool:
    r"""Whether ASCII `lowered` holds `name` (lower case, ASCII, not empty) where the column regex
    `(?<![\w.])(?:\w+\.)?NAME\b` would match it: a word boundary after it, and before it neither a word
    character nor a dot, or a dot after one whole word (`t.ssn`, not `a.b.ssn`)."""
    size, length = len(lowered), len(name)
    word_end = name[length - 1] in _WORD
    at = lowered.find(name)
    while at >= 0:
        after = at + length
        if word_end != (after < size and lowered[after] in _WORD) and _starts_name(lowered, at):
            return True
        at = lowered.find(name, at + 1)
    return False


def _starts_name(text: str, at: int) -> bool:
    r"""`(?<![\w.])(?:\w+\.)?` can end at `at`: nothing or neither a word character nor a dot before it, or
    a dot after a whole word that has neither before it."""
    if at == 0:
        return True
    before = text[at - 1]
    if before != ".":
        return before not in _WORD
    start = at - 1
    while start > 0 and text[start - 1] in _WORD:
        start -= 1
    return start < at - 1 and (start == 0 or text[start - 1] != ".")
