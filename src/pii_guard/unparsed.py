"""Masking a record no parser could read, before it is kept as a dead letter.

Such a line may hold anything a statement or a URL carries (bind values, e-mails, card numbers), so its quoted
values and numbers are masked as SQL literals are. Masked whole, though, its time and client address would be
unreadable (`?-?-30T04:?:?`, `?.0.1`), and those are what an operator needs to find the record and its
source. Timestamps and IP addresses outside quoted values are kept: each is set aside for a placeholder the
masker leaves alone, and put back after. Inside a quoted value they are masked with it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Final

_TIMES: Final = (
    r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?",  # ISO 8601 / RFC 3339
    r"\d\d?/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d(?: [+-]\d{4})?",  # web servers' [30/Nov/2026:00:14:18 -0330]
    r"\d{8} \d\d:\d\d:\d\d",  # server_audit
    r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)?",  # smbd's [2026/11/30 03:44:54.050639
    r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?: \d{4})?",  # syslog, ctime
)
# a time, or what may be an IP address (checked by `ipaddress`): dotted digits, or hex groups with colons
_CANDIDATE: Final = re.compile(
    "(?P<time>" + "|".join(_TIMES) + r")|(?<![\w.:])(?P<addr>\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*)"
    r"(?![\w.:])"
)
_OPEN: Final = "\ue000"  # private-use characters: no log line of a server holds them
_CLOSE: Final = "\ue001"
_MAX_KEPT: Final = 256
_PLACEHOLDER: Final = re.compile(f"{_OPEN}([\ue100-\ue1ff]){_CLOSE}")


def mask_unparsed(text: str, mask: Callable[[str], str]) -> str:
    """`text` through `mask` (the SQL literal masker), its timestamps and IP addresses outside quotes kept."""
    if _OPEN in text or _CLOSE in text:
        return mask(text)  # placeholders could be forged: mask it all
    kept: list[str] = []

    def aside(m: re.Match[str]) -> str:
        token = m.group()
        if len(kept) >= _MAX_KEPT or (m.group("time") is None and not _is_ip(token)):
            return token
        kept.append(token)
        return f"{_OPEN}{chr(0xE100 + len(kept) - 1)}{_CLOSE}"

    set_aside = _CANDIDATE.sub(aside, text)
    if not kept:
        return mask(text)
    return _PLACEHOLDER.sub(lambda m: kept[ord(m.group(1)) - 0xE100], mask(set_aside))


def _is_ip(token: str) -> bool:
    try:
        ipaddress.ip_address(token)
    except ValueError:
        return False
    return True
