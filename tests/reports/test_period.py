"""Report periods: predictable names, the previous period, local days across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pii_guard.reports.period import custom_period, day_period, from_us, last_complete, segments, week_period

BERLIN = "Europe/Berlin"


def us(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1_000_000)  # type: ignore[misc]


def test_names_and_labels() -> None:
    day = day_period(date(2026, 3, 4), BERLIN)
    assert (day.name, day.label) == ("review-daily-2026-03-04", "Wednesday 4 March 2026")
    week = week_period(date(2026, 3, 4), BERLIN)
    assert (week.name, week.label) == ("review-weekly-2026-W10", "week 10 of 2026 (2 March to 8 March 2026)")
    month = custom_period(day_period(date(2026, 3, 1), BERLIN).start_us, day_period(date(2026, 4, 1), BERLIN).start_us,
                          BERLIN)
    assert month.name == "review-2026-03-01--2026-03-31"
    assert month.previous().name == "review-2026-01-29--2026-02-28"  # as many days, just before
    assert week.previous().name == "review-weekly-2026-W09"


def test_the_last_complete_period_at_a_time() -> None:
    at = us(2026, 3, 4, 5, 0)  # 06:00 in Berlin, Wednesday
    assert last_complete("daily", at, BERLIN).name == "review-daily-2026-03-03"
    assert last_complete("weekly", at, BERLIN).name == "review-weekly-2026-W09"
    assert last_complete("daily", us(2026, 3, 3, 23, 30), BERLIN).name == "review-daily-2026-03-03"  # 00:30 local


def test_dst_days_are_local_days() -> None:
    spring = day_period(date(2026, 3, 29), BERLIN)
    assert spring.end_us - spring.start_us == 23 * 3_600_000_000
    pieces = segments(spring.start_us, spring.end_us, [BERLIN])
    assert [p.offsets_us[0] // 3_600_000_000 for p in pieces] == [1, 2]
    assert from_us(pieces[1].start_us, spring.tz).hour == 3  # 02:00 became 03:00
    assert pieces[0].end_us == pieces[1].start_us
