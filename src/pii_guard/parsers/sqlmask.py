"""Masking of literals in SQL text, so statements can be indexed without the personal data inside them."""

from __future__ import annotations

import re
from typing import Final

MASK: Final = "?"
_QUOTED_MASK: Final = "'" + MASK + "'"

# Quoted strings (with '' or backslash escapes), dollar-quoted bodies, numbers. A prefix letter (E'', N'', X'',
# B'') stays and only the quoted part is masked. Numbers include MySQL/MariaDB's hexadecimal and bit literals
# (`0x3132` is the string '12', `0b0101`) and PostgreSQL 16's `0x`/`0o`/`0b` integers, masked whole.
# Double-quoted text is an identifier in standard SQL and stays; MySQL/MariaDB treat it as a string. The leading
# lookahead lets the regex engine skip every position that cannot start a literal (4-5x faster than trying each
# alternative everywhere).
_STANDARD = re.compile(
    r"""(?=["'$\d-])(?:
        (?P<ident>"(?:[^"]|"")*")
      | (?P<str>'(?:[^'\\]|''|\\.)*(?:'|$))
      | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*|)\$.*?(?:\$(?P=tag)\$|$))
      | (?P<num>(?<![\w$.])-?(?:0(?:x[0-9A-Fa-f]+|b[01]+|o[0-7]+)\b|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b)))""",
    re.S | re.X,
)
_MYSQL = re.compile(
    r"""(?=[`'"\d-])(?:
        (?P<ident>`(?:[^`]|``)*`)
      | (?P<str>'(?:[^'\\]|''|\\.)*(?:'|$)|"(?:[^"\\]|""|\\.)*(?:"|$))
      | (?P<num>(?<![\w$.@])-?(?:0(?:x[0-9A-Fa-f]+|b[01]+|o[0-7]+)\b|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b)))""",
    re.S | re.X,
)
_HAS_LITERAL = re.compile(r"['\d$\"]")
# Personal data outside literals (a comment, a line that is no SQL at all, as a dead letter's): e-mail addresses,
# and the password of a URL's `user:password@`. Text with no `@` is not looked at.
_USERINFO = re.compile(r"(//[^\s/?#@:\[\]]*:)[^\s/?#@]+@")
_EMAIL = re.compile(r"[\w.%+-]*\w@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")

# The fast path: the same `str` and `num` alternatives as above, each on its own, with a fixed replacement.
# `num` is spelled to start with a character class, which the regex engine scans for in C: the lookbehind
# then looks at the character before that first one, and `-` must be followed by a digit (as `-?\d+`).
# `str` is unrolled (runs of ordinary characters between escapes): the same matches, since each position can
# start only one kind of unit, but the engine takes a run in one step. A `0x`/`0b`/`0o` literal is tried first at
# its `0` (or the `0` after a `-`), as the one-pass `num` does.
_STANDARD_STR = re.compile(r"'[^'\\]*(?:(?:''|\\.)[^'\\]*)*(?:'|$)", re.S)
_BASED: Final = r"(?:x[0-9A-Fa-f]+|b[01]+|o[0-7]+)\b"
_STANDARD_NUM = re.compile(
    rf"[-\d](?<![\w$.][-\d])(?:(?<=0){_BASED}|(?<=-)0{_BASED}|(?:(?<=-)\d+|(?<=\d)\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?\b)"
)
_MYSQL_STR = re.compile(r"""'[^'\\]*(?:(?:''|\\.)[^'\\]*)*(?:'|$)|"[^"\\]*(?:(?:""|\\.)[^"\\]*)*(?:"|$)""", re.S)
_MYSQL_NUM = re.compile(
    rf"[-\d](?<![\w$.@][-\d])(?:(?<=0){_BASED}|(?<=-)0{_BASED}|(?:(?<=-)\d+|(?<=\d)\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?\b)"
)
_DOLLAR_OPEN = re.compile(r"\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$")
# On ASCII text \d, \w and \b mean the same with re.ASCII, whose classes the engine tests faster.
_STANDARD_NUM_ASCII = re.compile(_STANDARD_NUM.pattern, re.ASCII)
_MYSQL_NUM_ASCII = re.compile(_MYSQL_NUM.pattern, re.ASCII)


def mask_addresses(text: str) -> str:
    """`mail john.smith@example.com` -> `mail ?`, `https://bob:secret@host/` -> `https://bob:?@host/`."""
    if "@" not in text:
        return text
    if "//" in text:
        text = _USERINFO.sub(r"\1" + MASK + "@", text)
    return _EMAIL.sub(MASK, text)


# Quoted identifiers, for `mask_addresses` to pass over: `"svc@corp.example"` names a role, not a mail box.
_STANDARD_IDENT = re.compile(r'"(?:[^"]|"")*"')
_MYSQL_IDENT = re.compile(r"`(?:[^`]|``)*`")


def _addresses_outside(text: str, idents: re.Pattern[str]) -> str:
    """`mask_addresses` on the text between the quoted identifiers, which stay as written."""
    out: list[str] = []
    pos = 0
    for m in idents.finditer(text):
        out.append(mask_addresses(text[pos : m.start()]))
        out.append(m.group())
        pos = m.end()
    out.append(mask_addresses(text[pos:]))
    return "".join(out)


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
    """Masks literals; remembers recent statements, since servers log the same text on several lines.

    Most statements hold no quoted identifier and no dollar quoting outside their strings; they are masked by
    two substitutions with fixed replacements (strings, then numbers), which run entirely in C, instead of one
    pass that calls back into Python for every literal. The result is the same: a number never contains a
    quote, and a masked string keeps its quotes, so the numbers left around it are matched as before.
    E-mail addresses and URL passwords left outside the literals (`mask_addresses`) are masked last."""

    __slots__ = ("_cache", "_ident", "_idents", "_num", "_num_ascii", "_pattern", "_repl", "_standard", "_str")

    def __init__(self, dialect: str = "postgresql") -> None:
        if dialect == "mysql":
            self._pattern, self._repl = _MYSQL, _replace
            self._str, self._num, self._num_ascii = _MYSQL_STR, _MYSQL_NUM, _MYSQL_NUM_ASCII
            self._ident, self._standard, self._idents = "`", False, _MYSQL_IDENT
        else:
            self._pattern, self._repl = _STANDARD, _replace_dollar
            self._str, self._num, self._num_ascii = _STANDARD_STR, _STANDARD_NUM, _STANDARD_NUM_ASCII
            self._ident, self._standard, self._idents = '"', True, _STANDARD_IDENT
        self._cache: dict[str, str] = {}

    def __call__(self, sql: str) -> str:
        cache = self._cache
        masked = cache.get(sql)
        if masked is not None:
            return masked
        quoted = "'" in sql or (not self._standard and '"' in sql)
        masked = self._str.sub(_QUOTED_MASK, sql) if quoted else sql
        # An identifier or dollar quote outside the masked strings: one pass, left to right, decides.
        if self._ident in masked or (self._standard and "$" in masked and _DOLLAR_OPEN.search(masked)):
            masked = self._pattern.sub(self._repl, sql) if _HAS_LITERAL.search(sql) else sql
        else:
            masked = (self._num_ascii if masked.isascii() else self._num).sub(MASK, masked)
        if "@" in masked:
            masked = mask_addresses(masked) if self._ident not in masked else _addresses_outside(masked, self._idents)
        if len(cache) >= 256:
            cache.clear()
        cache[sql] = masked
        return masked
