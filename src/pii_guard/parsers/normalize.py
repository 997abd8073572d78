"""Normalising values that several formats share: client addresses, JSON scalars, ISO 8601 and ctime stamps,
zone-less wall-clock times, and file paths as `pii.object` names.

Nothing here raises on odd input except the clocks, which raise `TimestampError` (a ValueError) for the
caller to turn into a `ParseFailure`.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any, Final

from pii_guard.parsers.timeparse import MONTHS, EpochCache, TimestampError, fraction_us, offset_seconds

_EPOCH: Final = datetime(1970, 1, 1)
_ISO: Final = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)([.,]\d+)?\s*(Z|z|UTC|GMT|[+-]\d\d(?::?\d\d)?)?\Z"
)
_SLASHES: Final = re.compile(r"/{2,}")


@lru_cache(maxsize=8192)
def ip_or_none(text: str) -> str | None:
    """A client address in canonical form; an IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a server
    listening on `::` logs for IPv4 clients) as the IPv4 address; None for what is not an address (empty,
    `-`, `localhost`, a host name, an AWS service name)."""
    if not text or len(text) > 64:
        return None
    try:
        addr = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def is_address(text: str, memo: dict[str, bool], size: int = 4096) -> bool:
    """Whether `text` is an IP address as written, remembered in the caller's `memo` (bounded at `size`: a log
    has few distinct clients, and the common path is then one lookup by the caller)."""
    try:
        ipaddress.ip_address(text)
        known = True
    except ValueError:
        known = False
    if len(memo) >= size:
        memo.clear()
    memo[text] = known
    return known


def text_of(value: Any) -> str | None:
    """A JSON scalar as text (ids are sometimes numbers); None for null, empty text, objects and lists."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    return None


def int_of(value: Any) -> int | None:
    """A count from a JSON number or a digit string; None for anything else (`-`, null, negative text)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and value.isdecimal() and len(value) < 20:
        return int(value)
    return None


def dig(doc: Any, *keys: str) -> Any:
    """`doc[k1][k2]...`, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


class IsoClock:
    """ISO 8601 text → microseconds since the epoch, memoized on the whole-second part.

    Accepts `2024-10-08T12:24:16Z`, `2015-09-18T22:13:54.770429700Z`, `2020-10-19 19:27:50` (zone-less:
    `default_tz`), `2021-06-30T15:07:58 UTC` (Percona's literal zone) and numeric offsets."""

    __slots__ = ("_cache", "_tz")

    def __init__(self, default_tz: tzinfo | None = None) -> None:
        self._tz = default_tz or UTC
        self._cache = EpochCache(self._seconds)

    def __call__(self, text: str) -> int:
        m = _ISO.match(text)
        if m is None:
            raise TimestampError(f"not an ISO 8601 time: {text[:40]!r}")
        zone = m.group(8) or ""
        return self._cache(text[:19] + zone) * 1_000_000 + fraction_us(m.group(7) or "")

    def _seconds(self, key: str) -> int:
        try:
            naive = datetime(
                int(key[0:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]), int(key[14:16]), int(key[17:19])
            )
        except ValueError as exc:
            raise TimestampError(str(exc)) from None
        zone = key[19:]
        if not zone:
            try:
                return int(naive.replace(tzinfo=self._tz).timestamp())
            except (OverflowError, ValueError) as exc:
                raise TimestampError(str(exc)) from None
        offset = 0 if zone in ("Z", "z", "UTC", "GMT") else offset_seconds(zone)
        return int((naive - _EPOCH).total_seconds()) - offset


class WallClock:
    """Zone-less local stamps → epoch seconds in the source's zone (UTC when unset), memoized per text.

    A wall-clock time repeated at the end of DST is ambiguous. The log only moves forward, so the second
    occurrence is taken once the log has already passed the first (the time would otherwise jump back)."""

    __slots__ = ("_cache", "_last", "_tz")

    def __init__(self, tz: tzinfo | None) -> None:
        self._tz = tz
        self._cache: dict[tuple[int, int, int, int, int, int], tuple[int, int]] = {}
        self._last = -1

    def epoch(self, year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
        key = (year, month, day, hour, minute, second)
        pair = self._cache.get(key)
        if pair is None:
            pair = self._convert(key)
            if len(self._cache) >= 4096:
                self._cache.clear()
            self._cache[key] = pair
        first, later = pair
        chosen = later if later > first and first < self._last - 60 else first
        self._last = chosen
        return chosen

    def _convert(self, key: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
        try:
            if self._tz is None:
                when = datetime(*key)
                seconds = int((when - _EPOCH).total_seconds())
                return seconds, seconds
            return (
                int(datetime(*key, tzinfo=self._tz).timestamp()),
                int(datetime(*key, tzinfo=self._tz, fold=1).timestamp()),
            )
        except (ValueError, OverflowError) as exc:
            raise TimestampError(str(exc)) from None


def ctime_fields(text: str) -> tuple[int, int, int, int, int, int]:
    """`Fri Nov 27 16:24:16 2026` / `Fri Nov  7 06:04:16 2026` (24 characters, C's ctime/asctime) → the
    six fields of a `datetime`. The weekday is not checked."""
    if len(text) != 24 or text[3] != " " or text[7] != " " or text[10] != " " or text[19] != " ":
        raise TimestampError(f"not a ctime stamp: {text!r}")
    month = MONTHS.get(text[4:7])
    if month is None:
        raise TimestampError(f"unknown month in {text!r}")
    try:
        day = int(text[8:10])
        hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
        year = int(text[20:24])
    except ValueError:
        raise TimestampError(f"not a ctime stamp: {text!r}") from None
    if text[13] != ":" or text[16] != ":":
        raise TimestampError(f"not a ctime stamp: {text!r}")
    return year, month, day, hour, minute, second


def windows_path_object(path: str) -> str:
    """`C:\\Shares\\HR\\pay.xlsx` → `file:C:/Shares/HR/pay.xlsx`: forward slashes, so that data-map globs
    (`*` stops at `/`) work as for Unix paths; runs of separators collapse (a doubled backslash is the same
    directory), except the `//` that starts a UNC path. Case is kept."""
    norm = path.replace("\\", "/")
    head = "//" if norm.startswith("//") else ""
    return "file:" + head + _SLASHES.sub("/", norm[len(head) :])


def dot_normalized(path: str) -> str:
    """A path with its `.` and `..` segments and runs of slashes resolved as text (never through the file
    system), a trailing slash kept: how a data-map glob reads a path, so `/srv/hr/../hr/./pay.csv` and
    `/srv//hr/pay.csv` are `/srv/hr/pay.csv`, whatever a client sent."""
    if "//" not in path and "/." not in path and not path.startswith("."):
        return path
    trailing = path.endswith("/")
    path = posixpath.normpath(path)
    if path.startswith("//"):  # normpath keeps POSIX's implementation-defined `//` head
        path = "/" + path.lstrip("/")
    if trailing and path != "/":
        path += "/"
    return path


def file_object(path: str) -> str:
    """`pii.object` of a Unix file path: `file:` and the path `dot_normalized` (`file.path` keeps it as logged)."""
    return "file:" + dot_normalized(path)
