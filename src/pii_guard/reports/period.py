"""Report periods: a day or an ISO week in the reports' time zone, or any range; half-open [start, end).

The file name of a report is derived from its period alone, so the same period always lands in the same file
and `review list` can tell which periods have a report and a sign-off."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

Kind = Literal["daily", "weekly", "custom"]
_US = 1_000_000


def to_us(moment: datetime) -> int:
    return int(moment.timestamp()) * _US + moment.microsecond


def from_us(time_us: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(time_us // _US, tz=UTC).replace(microsecond=time_us % _US).astimezone(tz)


def local_midnight_us(day: date, tz: ZoneInfo) -> int:
    return to_us(datetime.combine(day, time(0), tzinfo=tz))


@dataclass(frozen=True)
class Period:
    kind: Kind
    start_us: int
    end_us: int  # exclusive
    timezone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def first_day(self) -> date:
        return from_us(self.start_us, self.tz).date()

    @property
    def last_day(self) -> date:
        """The last local day the period touches."""
        return from_us(self.end_us - 1, self.tz).date()

    @property
    def name(self) -> str:
        """The file stem: review-daily-2026-03-04, review-weekly-2026-W10, review-2026-03-01--2026-03-31."""
        if self.kind == "daily":
            return f"review-daily-{self.first_day.isoformat()}"
        if self.kind == "weekly":
            year, week, _ = self.first_day.isocalendar()
            return f"review-weekly-{year}-W{week:02d}"
        start = from_us(self.start_us, self.tz)
        end = from_us(self.end_us, self.tz)
        if start.time() == time(0) and end.time() == time(0):
            return f"review-{self.first_day.isoformat()}--{self.last_day.isoformat()}"
        return f"review-{start.strftime('%Y-%m-%dT%H%M')}--{end.strftime('%Y-%m-%dT%H%M')}"

    @property
    def label(self) -> str:
        """For people: "Tuesday 4 March 2026", "week 10 of 2026 (2 to 8 March)", "1 March 2026 to 31 March 2026"."""
        first, last = self.first_day, self.last_day
        if self.kind == "daily":
            return f"{first:%A} {first.day} {first:%B %Y}"
        if self.kind == "weekly":
            year, week, _ = first.isocalendar()
            return f"week {week} of {year} ({first.day} {first:%B} to {last.day} {last:%B %Y})"
        start, end = from_us(self.start_us, self.tz), from_us(self.end_us, self.tz)
        if start.time() == time(0) and end.time() == time(0):
            return f"{first.day} {first:%B %Y} to {last.day} {last:%B %Y}"
        return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"

    def previous(self) -> Period:
        """The period just before, of the same length in local days (or in time, for a custom range)."""
        if self.kind == "daily":
            return day_period(self.first_day - timedelta(days=1), self.timezone)
        if self.kind == "weekly":
            return week_period(self.first_day - timedelta(days=7), self.timezone)
        start, end = from_us(self.start_us, self.tz), from_us(self.end_us, self.tz)
        if start.time() == time(0) and end.time() == time(0):
            days = (end.date() - start.date()).days
            first = start.date() - timedelta(days=days)
            return Period("custom", local_midnight_us(first, self.tz), self.start_us, self.timezone)
        return Period("custom", 2 * self.start_us - self.end_us, self.start_us, self.timezone)

    def days(self) -> list[date]:
        out = []
        day, last = self.first_day, self.last_day
        while day <= last:
            out.append(day)
            day += timedelta(days=1)
        return out


def day_period(day: date, timezone: str) -> Period:
    tz = ZoneInfo(timezone)
    return Period("daily", local_midnight_us(day, tz), local_midnight_us(day + timedelta(days=1), tz), timezone)


def week_period(day: date, timezone: str) -> Period:
    """The ISO week (Monday to Sunday) that contains `day`."""
    tz = ZoneInfo(timezone)
    monday = day - timedelta(days=day.weekday())
    return Period("weekly", local_midnight_us(monday, tz), local_midnight_us(monday + timedelta(days=7), tz),
                  timezone)


def last_complete(kind: Kind, at_us: int, timezone: str) -> Period:
    """The newest daily or weekly period that has ended by `at_us` (what a report run at that time covers)."""
    today = from_us(at_us, ZoneInfo(timezone)).date()
    if kind == "daily":
        return day_period(today - timedelta(days=1), timezone)
    if kind == "weekly":
        return week_period(today - timedelta(days=7), timezone)
    raise ValueError(f"no last complete period of kind {kind!r}")


def custom_period(start_us: int, end_us: int, timezone: str) -> Period:
    if end_us <= start_us:
        raise ValueError("the period is empty (--from must come before --to)")
    return Period("custom", start_us, end_us, timezone)


@dataclass(frozen=True)
class Segment:
    """A stretch of time in which each zone keeps one UTC offset: local = UTC + offsets_us[i] throughout."""

    start_us: int
    end_us: int
    offsets_us: tuple[int, ...]


def segments(start_us: int, end_us: int, timezones: Sequence[str]) -> list[Segment]:
    """Split [start, end) where any of the zones' UTC offsets changes (DST), so SQL can bucket by local hour
    and day with plain arithmetic inside each piece."""
    zones = [ZoneInfo(name) for name in timezones]

    def offsets(at_us: int) -> tuple[int, ...]:
        return tuple(_offset_us(at_us, tz) for tz in zones)

    out: list[Segment] = []
    cursor = start_us
    step = 3_600 * _US
    while cursor < end_us:
        current = offsets(cursor)
        probe = cursor + step
        while probe < end_us and offsets(probe) == current:
            probe += step
        if probe >= end_us:
            out.append(Segment(cursor, end_us, current))
            break
        low, high = probe - step, probe  # the change is in (low, high]: narrow it down to the second
        while high - low > _US:
            mid = (low + high) // 2
            if offsets(mid) == current:
                low = mid
            else:
                high = mid
        high = min(end_us, -(-high // _US) * _US)
        out.append(Segment(cursor, high, current))
        cursor = high
    return out


def _offset_us(at_us: int, tz: ZoneInfo) -> int:
    delta = from_us(at_us, tz).utcoffset()
    return int(delta.total_seconds()) * _US if delta is not None else 0
