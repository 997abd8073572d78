"""Fast timestamp conversion for log lines.

Logs write many lines per second, so conversions are memoized on the seconds-resolution text and the
sub-second part is added arithmetically: no strptime per line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Final

MONTHS: Final = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1
    )
}

# Abbreviations that mean one offset wherever they appear. Others (IST, CST ...) need the source's zone.
FIXED_ABBREVIATIONS: Final = {
    "UTC": 0, "GMT": 0, "UCT": 0, "Z": 0, "UT": 0,
    "CET": 3600, "CEST": 7200, "EET": 7200, "EEST": 10800, "WET": 0, "WEST": 3600,
    "BST": 3600, "MSK": 10800,
    "EST": -18000, "EDT": -14400, "PST": -28800, "PDT": -25200,
    "MST": -25200, "MDT": -21600, "JST": 32400, "KST": 32400,
    "AEST": 36000, "AEDT": 39600, "NZST": 43200, "NZDT": 46800,
}


class TimestampError(ValueError):
    """A timestamp that cannot be read or placed in time."""


class EpochCache:
    """Memoizes text -> epoch seconds. Bounded: cleared when it grows past `maxsize`."""

    __slots__ = ("_convert", "_data", "_maxsize")

    def __init__(self, convert: Callable[[str], int], maxsize: int = 4096) -> None:
        self._convert = convert
        self._data: dict[str, int] = {}
        self._maxsize = maxsize

    def __call__(self, key: str) -> int:
        data = self._data
        try:
            return data[key]
        except KeyError:
            value = self._convert(key)
            if len(data) >= self._maxsize:
                data.clear()
            data[key] = value
            return value


def local_epoch(
    year: int, month: int, day: int, hour: int, minute: int, second: int, tz: tzinfo | None
) -> int:
    """Epoch seconds of a wall-clock time in `tz` (UTC when None). An ambiguous DST time takes its first
    occurrence (fold=0); a time inside a DST gap is read with the offset before the gap."""
    try:
        dt = datetime(year, month, day, hour, minute, second, tzinfo=tz or UTC)
    except ValueError as exc:
        raise TimestampError(str(exc)) from exc
    return int(dt.timestamp())


def offset_seconds(text: str) -> int:
    """'+0000', '-05:00', '+01' -> seconds east of UTC."""
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    if not digits.isdecimal() or len(digits) not in (2, 4):
        raise TimestampError(f"bad UTC offset {text!r}")
    hours = int(digits[:2])
    minutes = int(digits[2:4]) if len(digits) == 4 else 0
    return sign * (hours * 3600 + minutes * 60)


def zoned_epoch(naive: datetime, zone_text: str, tz: tzinfo | None) -> int:
    """Epoch seconds of a naive time written with a zone abbreviation or a numeric offset.

    Abbreviations are ambiguous (CST, IST): the source's configured zone decides first, trying both folds so
    that CET/CEST pick the right side of a DST change; then a table of unambiguous ones.
    """
    if zone_text and zone_text[0] in "+-":
        return int(naive.replace(tzinfo=timezone(timedelta(seconds=offset_seconds(zone_text)))).timestamp())
    if tz is not None:
        for fold in (0, 1):
            candidate = naive.replace(tzinfo=tz, fold=fold)
            if candidate.tzname() == zone_text:
                return int(candidate.timestamp())
    fixed = FIXED_ABBREVIATIONS.get(zone_text)
    if fixed is None:
        raise TimestampError(
            f"unknown time zone abbreviation {zone_text!r}: set the source's timezone to the server's log_timezone"
        )
    return int(naive.replace(tzinfo=timezone(timedelta(seconds=fixed))).timestamp())


def fraction_us(text: str) -> int:
    """'.910' or '910' -> 910000 microseconds; '' -> 0."""
    if not text:
        return 0
    if text[0] in ".,":
        text = text[1:]
    if not text.isdecimal():
        raise TimestampError(f"bad fraction of a second {text!r}")
    return int((text + "000000")[:6])


def infer_year(month: int, day: int, reference: float) -> int:
    """Year of a year-less stamp (traditional syslog, xferlog-less formats): the latest year in which the
    date is not more than a day after the reference time (the file's last write)."""
    ref = datetime.fromtimestamp(reference, tz=UTC) if reference else datetime.now(tz=UTC)
    year = ref.year
    if (month, day) > (ref.month, ref.day + 1):
        year -= 1
    return year
