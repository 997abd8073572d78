"""Log time that only moves forward, many lines per second, and the timestamp layouts of each format.

Formatting is memoized per second (logs repeat the same second thousands of times), which keeps the
generators fast enough to write a million lines in seconds.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Final

START_US: Final = 1_795_737_600_000_000  # 2026-11-27 00:00:00 UTC, the day the real samples were written


class Clock:
    """Event time in microseconds since the epoch. `tick` advances by an exponential gap (mean
    `mean_gap_us`), so lines arrive in bursts like a busy server's."""

    def __init__(self, rng: random.Random, mean_gap_us: float = 200.0, start_us: int = START_US) -> None:
        self._rng = rng
        self._rate = 1.0 / mean_gap_us
        self.us = start_us
        self._sec = -1
        self._parts: tuple[str, str, str, str, str] = ("", "", "", "", "")

    def tick(self) -> int:
        self.us += int(self._rng.expovariate(self._rate)) + 1
        return self.us

    def _second(self) -> tuple[str, str, str, str, str]:
        sec = self.us // 1_000_000
        if sec != self._sec:
            self._sec = sec
            dt = datetime.fromtimestamp(sec, tz=UTC)
            self._parts = (
                dt.strftime("%Y-%m-%d %H:%M:%S"),  # PostgreSQL %m / %t
                dt.strftime("%Y-%m-%dT%H:%M:%S"),  # RFC 3339 (rsyslog), ISO 8601
                dt.strftime("%Y%m%d %H:%M:%S"),  # MariaDB server_audit
                dt.strftime("%d/%b/%Y:%H:%M:%S +0000"),  # nginx/Apache $time_local
                dt.strftime("%Y-%m-%d %H:%M:%S UTC"),  # PostgreSQL session start
            )
        return self._parts

    def pg(self) -> str:
        """`2026-11-27 16:20:40.910 UTC` (log_line_prefix %m, csvlog, jsonlog)."""
        return f"{self._second()[0]}.{self.us // 1000 % 1000:03d} UTC"

    def rfc3339(self) -> str:
        """`2026-11-27T16:23:22.435863+00:00` (rsyslog's RSYSLOG_FileFormat)."""
        return f"{self._second()[1]}.{self.us % 1_000_000:06d}+00:00"

    def iso_z(self) -> str:
        """`2026-11-27T16:23:22.435Z` (application JSON logs)."""
        return f"{self._second()[1]}.{self.us // 1000 % 1000:03d}Z"

    def mariadb(self) -> str:
        """`20261127 16:21:56` (server_audit: seconds, no zone)."""
        return self._second()[2]

    def clf(self) -> str:
        """`27/Nov/2026:16:24:33 +0000` (combined log format)."""
        return self._second()[3]

    def pg_seconds(self) -> str:
        """`2026-11-27 16:20:40 UTC` (csvlog/jsonlog session start)."""
        return self._second()[4]


def take(records: Iterator[list[str]], lines: int, filler: Iterator[str]) -> Iterator[str]:
    """Exactly `lines` physical lines: whole records while they fit, then one-line filler records, so a
    multi-line record is never cut in half."""
    remaining = lines
    for record in records:
        if len(record) > remaining:
            break
        yield from record
        remaining -= len(record)
        if remaining == 0:
            return
    for _ in range(remaining):
        yield next(filler)


def interleave(
    rng: random.Random, start: Callable[[], Iterator[list[str]]], concurrency: int
) -> Iterator[list[str]]:
    """Records of `concurrency` sessions running at once, in random order; a finished session is replaced by
    a new one. Sessions are generators, so each record is stamped when it is emitted and time stays
    monotonic across sessions."""
    active = [start() for _ in range(concurrency)]
    while True:
        i = rng.randrange(concurrency)
        record = next(active[i], None)
        if record is None:
            active[i] = start()
            continue
        yield record
