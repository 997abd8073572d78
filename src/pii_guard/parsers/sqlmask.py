"""Masking of literals in SQL text, so statements can be indexed without the personal data inside them."""

from __future__ import annotations

import re
from typing import Final

MASK: Final = "?"

# Quoted strings (with '' or backslash escapes), dollar-quoted bodies, numbers. A prefix letter (E'', N'', X'')
# stays and only the quoted part is masked. Double-quoted text is an identifier in standard SQL and stays;
# MySQL/MariaDB treat it as a string. The leading lookahead lets the regex engine skip every position that
# cannot start a literal (4-5x faster than trying each alternative everywhere).
_STANDARD = re.compile(
    r"""(?=["'$\d-])(?:
        (?P<ident>"(?:[^"]|"")*")
      | (?P<str>'(?:[^'\\]|''|\\.)*(?:'|$))
      | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*|)\$.*?(?:\$(?P=tag)\$|$))
      | (?P<num>(?<![\w$.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b))""",
    re.S | re.X,
)
_MYSQL = re.compile(
    r"""(?=[`'"\d-])(?:
        (?P<ident>`(?:[^`]|``)*`)
      | (?P<str>'(?:[^'\\]|''|\\.)*(?:'|$)|"(?:[^"\\]|""|\\.)*(?:"|$))
      | (?P<num>(?<![\w$.@])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b))""",
    re.S | re.X,
)
_HAS_LITERAL = re.compile(r"['\d$\"]")


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "ident":
        return match.group(0)
    if kind == "num":
        return MASK
    return "'" + MASK + "'"


def _replace_dollar(match: re.Match[str]) -> str:
    if match.group("dollar") is not None:
        return "$$" + MASK + "$$"
    return _replace(match)


class SqlMasker:
    """Masks literals; remembers recent statements, since servers log the same text on several lines."""

    __slots__ = ("_cache", "_pattern", "_repl")

    def __init__(self, dialect: str = "postgresql") -> None:
        if dialect == "mysql":
            self._pattern = _MYSQL
            self._repl = _replace
        else:
            self._pattern = _STANDARD
            self._repl = _replace_dollar
        self._cache: dict[str, str] = {}

    def __call__(self, sql: str) -> str:
        cache = self._cache
        masked = cache.get(sql)
        if masked is None:
            masked = self._pattern.sub(self._repl, sql) if _HAS_LITERAL.search(sql) else sql
            if len(cache) >= 256:
                cache.clear()
            cache[sql] = masked
        return masked
