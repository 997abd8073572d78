"""Text from logs (user names, paths, statements, sentences built from them) made safe to print.

A log line is written by whoever talks to the monitored server: a user name may hold a newline that forges a
row of an `incidents list` table, an escape sequence that retitles the terminal or writes to its clipboard
(`ESC ] ... BEL`), or a right-to-left override that makes `moc.elif` read as `file.com`. Every such character
(C0 and C1 controls, DEL, bidi embeddings, overrides and isolates, line and paragraph separators) is shown
as its escape (`\\n`, `\\x1b`, `\\u202e`), so what is printed is one line and shows what the log held. A
backslash stays as it is (`DOMAIN\\user`): `--json` output is the exact record."""

from __future__ import annotations

import re
from typing import Final

_UNSAFE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    c = m.group(0)
    named = _NAMED.get(c)
    if named is not None:
        return named
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def printable(text: str) -> str:
    """`text` on one line with every control or direction character escaped (unchanged when it has none)."""
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text
