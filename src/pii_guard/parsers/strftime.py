"""Apache's `%{FORMAT}t`: a time written with a strftime(3) format, read back without `strptime` per line.

Apache writes the time of a request in any strftime format (`%{%Y-%m-%d %H:%M:%S}t`), and its documentation
adds milliseconds with a token of their own beside it (`%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t`). A format is
compiled once into a regex (`pattern`, for the log format's regex) and a reader (`reader`) that turns the text
into epoch microseconds: the date and time to the second through a small cache (they repeat for every line
of a second), the fraction and the zone added to it. A time without `%z` is the server's local time, in the
source's `timezone`.
"""

from __future__ import annotations

import re
from calendar import timegm
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Final

from pii_guard.parsers.timeparse import MONTHS, TimestampError

FRACTION: Final = "%f"  # not Apache's: `%{msec_frac}t` / `%{usec_frac}t` merged into the format before it
_COMPOSITES: Final = {"T": "%H:%M:%S", "F": "%Y-%m-%d", "D": "%m/%d/%y", "R": "%H:%M", "r": "%I:%M:%S %p"}
_FIELDS: Final = {
    "Y": r"\d{4}", "y": r"\d\d", "m": r"\d\d", "d": r"\d\d", "e": r" ?\d{1,2}", "H": r"\d\d", "I": r"\d\d",
    "M": r"\d\d", "S": r"\d\d", "b": r"[A-Za-z]{3}", "h": r"[A-Za-z]{3}", "B": r"[A-Za-z]+", "p": r"AM|PM|am|pm",
    "z": r"[+-]\d{4}", "s": r"\d+", "f": r"\d{1,9}",
}  # fmt: skip
_IGNORED: Final = {"a": r"[A-Za-z]{3}", "A": r"[A-Za-z]+", "Z": r"[A-Za-z]+|[+-]\d\d", "j": r"\d{3}", "u": r"\d",
                   "w": r"\d", "n": r"\s", "t": r"\s", "%": "%"}  # fmt: skip
_MONTH_NAMES: Final = {name.lower(): n for name, n in MONTHS.items()} | {
    full.lower(): n for n, full in enumerate(
        ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
         "November", "December"), start=1)
}  # fmt: skip
_MEMO_SIZE: Final = 4096


class StrftimeError(ValueError):
    """A strftime format pii-guard cannot read back (reported as a config error)."""


def _tokens(fmt: str) -> list[tuple[str, str]]:
    """(kind, text): ("lit", text) or ("dir", letter), composites (`%T`) expanded."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(("lit", c))
            i += 1
            continue
        if i + 1 >= len(fmt):
            raise StrftimeError(f"strftime format {fmt!r} ends with a lone %")
        letter = fmt[i + 1]
        i += 2
        if letter in _COMPOSITES:
            out.extend(_tokens(_COMPOSITES[letter]))
        elif letter in _FIELDS or letter in _IGNORED:
            out.append(("dir", letter))
        else:
            raise StrftimeError(f"strftime format {fmt!r}: %{letter} cannot be read back (supported: "
                                f"{' '.join('%' + d for d in sorted({*_FIELDS, *_IGNORED, *_COMPOSITES}))})")
    return out


def pattern(fmt: str) -> str:
    """A regex (no capturing group) for what the format writes."""
    parts = []
    for kind, text in _tokens(fmt):
        if kind == "lit":
            parts.append(re.escape(text))
        else:
            parts.append(f"(?:{_FIELDS.get(text) or _IGNORED[text]})")
    return "".join(parts)


def _reader_regex(fmt: str) -> re.Pattern[str]:
    parts = []
    named: set[str] = set()
    for kind, text in _tokens(fmt):
        if kind == "lit":
            parts.append(re.escape(text))
        elif text in _FIELDS and (name := "b" if text in ("h", "B") else "d" if text == "e" else text) not in named:
            named.add(name)
            parts.append(f"(?P<{name}>{_FIELDS[text]})")
        else:
            parts.append(f"(?:{_FIELDS.get(text) or _IGNORED[text]})")
    if "s" not in named and not ({"Y", "y"} & named and {"m", "b"} & named and "d" in named):
        raise StrftimeError(f"strftime format {fmt!r} writes no full date (a year, a month and a day, or %s)")
    return re.compile("".join(parts))


def reader(fmt: str, tz: tzinfo | None) -> Callable[[str], int]:
    """Text written with `fmt` -> epoch microseconds; `tz` for a time without `%z` (UTC if None)."""
    regex = _reader_regex(fmt)
    zone = tz or UTC
    seconds: dict[tuple[int, int, int, int, int, int], int] = {}

    def local(key: tuple[int, int, int, int, int, int]) -> int:
        found = seconds.get(key)
        if found is None:
            if len(seconds) >= _MEMO_SIZE:
                seconds.clear()
            found = seconds[key] = int(datetime(*key, tzinfo=zone).timestamp())
        return found

    def read(text: str) -> int:
        m = regex.fullmatch(text)
        if m is None:
            raise TimestampError(f"not a time written as {fmt!r}: {text[:40]!r}")
        g = m.groupdict()
        fraction = g.get("f")
        micros = int((fraction + "000000")[:6]) if fraction else 0
        if g.get("s") is not None:
            return int(g["s"]) * 1_000_000 + micros
        year = int(g["Y"]) if g.get("Y") is not None else 2000 + int(g["y"])
        month = int(g["m"]) if g.get("m") is not None else _MONTH_NAMES.get(g["b"].lower(), 0)
        if not 1 <= month <= 12:
            raise TimestampError(f"no month in {text[:40]!r}")
        hour = int(g.get("H") or g.get("I") or 0)
        if g.get("I") is not None and g.get("p") is not None:
            hour = hour % 12 + (12 if g["p"].lower() == "pm" else 0)
        key = (year, month, int(g["d"]), hour, int(g.get("M") or 0), int(g.get("S") or 0))
        zone_text = g.get("z")
        if zone_text is None:
            return local(key) * 1_000_000 + micros
        offset = (int(zone_text[1:3]) * 3600 + int(zone_text[3:5]) * 60) * (-1 if zone_text[0] == "-" else 1)
        return (timegm((*key, 0, 0, 0)) - offset) * 1_000_000 + micros

    return read
