"""Field matchers shared by policy detectors and rules: equals, in, glob, CIDR, numeric, regex (RE2).

Each matcher is compiled once and called per event; none walks a tree at match time."""

from __future__ import annotations

import ipaddress
import operator
import re
from collections.abc import Callable, Iterable
from typing import Any

import re2

from pii_guard.enrich.datamap import glob_to_regex

Predicate = Callable[[Any], bool]


class GlobSet:
    """Any of several object globs (same syntax as the data map), as one compiled alternation."""

    __slots__ = ("_regex", "patterns")

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        if not self.patterns:
            self._regex = None
            return
        parts = []
        for pattern in self.patterns:
            body = glob_to_regex(pattern)
            parts.append(f"(?i:{body})" if pattern.startswith("db:") else body)
        self._regex = re.compile("(?:" + "|".join(parts) + r")\Z")

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __call__(self, value: str | None) -> bool:
        return value is not None and self._regex is not None and self._regex.match(value) is not None


class CidrSet:
    __slots__ = ("_cache", "_nets")

    def __init__(self, cidrs: Iterable[str]) -> None:
        self._nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
        self._cache: dict[str, bool] = {}

    def __call__(self, value: str | None) -> bool:
        if value is None:
            return False
        hit = self._cache.get(value)
        if hit is None:
            try:
                addr = ipaddress.ip_address(value)
                hit = any(addr.version == n.version and addr in n for n in self._nets)
            except ValueError:
                hit = False
            if len(self._cache) > 65_536:
                self._cache.clear()
            self._cache[value] = hit
        return hit


_NUMERIC = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def numeric(op: str, bound: float) -> Predicate:
    compare = _NUMERIC[op]

    def check(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and compare(value, bound)

    return check


def equals(expected: Any) -> Predicate:
    return lambda value: value == expected


def one_of(values: Iterable[Any]) -> Predicate:
    allowed = frozenset(values)
    return lambda value: value in allowed


def regex(pattern: str, ignore_case: bool = False) -> Predicate:
    """User-supplied regexes run on RE2: linear time, no catastrophic backtracking."""
    options = re2.Options()
    options.case_sensitive = not ignore_case
    compiled = re2.compile(pattern, options)
    return lambda value: isinstance(value, str) and compiled.search(value) is not None
