"""Apache's %{FORMAT}t read back (`pii_guard.parsers.strftime`): formats, zones, fractions, and the formats
refused at config load."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from pii_guard.parsers import strftime
from pii_guard.parsers.timeparse import TimestampError
from pii_guard.parsers.weblog_options import ApacheOptions


def epoch_us(*parts: int, tz: ZoneInfo | None = None) -> int:
    return int(datetime(*parts, tzinfo=tz or UTC).timestamp() * 1_000_000)


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("%d/%b/%Y %T.%f %z", "30/Nov/2026 07:30:11.830 +0000", epoch_us(2026, 11, 30, 7, 30, 11) + 830_000),
        ("%d/%b/%Y:%H:%M:%S %z", "30/Nov/2026:04:00:11 -0330", epoch_us(2026, 11, 30, 7, 30, 11)),
        ("%Y-%m-%d %H:%M:%S", "2026-11-30 08:30:11", epoch_us(2026, 11, 30, 8, 30, 11, tz=ZoneInfo("Europe/Berlin"))),
        ("%F %T.%f", "2026-11-30 07:30:11.000123", epoch_us(2026, 11, 30, 7, 30, 11) + 123),
        ("%a %B %e %I:%M:%S %p %Y", "Mon November  2 07:30:11 PM 2026", epoch_us(2026, 11, 2, 19, 30, 11)),
        ("%s", "1796023811", 1796023811 * 1_000_000),
        ("%D %R", "11/30/26 07:30", epoch_us(2026, 11, 30, 7, 30)),
    ],
)  # fmt: skip
def test_a_time_is_read_back_as_its_format_wrote_it(fmt: str, text: str, expected: int) -> None:
    tz = ZoneInfo("Europe/Berlin") if fmt == "%Y-%m-%d %H:%M:%S" else None
    assert strftime.reader(fmt, tz)(text) == expected


def test_text_that_is_no_such_time_is_a_timestamp_error() -> None:
    read = strftime.reader("%Y-%m-%d %H:%M:%S", None)
    with pytest.raises(TimestampError):
        read("30/Nov/2026 07:30:11")
    with pytest.raises(ValueError, match="day is out of range"):
        read("2026-02-30 07:30:11")


@pytest.mark.parametrize(
    ("fmt", "reason"),
    [("%H:%M:%S", "writes no full date"), ("%Y-%m-%d %Q", "%Q cannot be read back"), ("%Y-%m-%", "lone %")],
)
def test_formats_that_cannot_be_read_back_are_refused_at_config_load(fmt: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        ApacheOptions(log_format=f'%h %{{{fmt}}}t \\"%r\\" %>s %b')
