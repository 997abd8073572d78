"""Rotations of one log, oldest first: `pg.log.2.gz`, `pg.log.1` and `pg.log` are one series, read in that order
by `replay` and `ingest` so that sessions carry from one file to the next (`Parser.carry_over`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Final, TypeVar

from pii_guard.sources.compressed import rotated_from

T = TypeVar("T")

# What tells one day's (or one rotation's) file of a log from the next in its name: numbers of two digits or
# more (dates, times, sequence numbers) and day or month names. `db1` stays itself.
_NAME_CHANGES: Final = re.compile(
    r"\d{2,}|(?<![A-Za-z])(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:rs(?:day)?)?|fri(?:day)?|"
    r"sat(?:urday)?|sun(?:day)?|jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![A-Za-z])",
    re.I,
)
_ROTATION_NUMBER: Final = re.compile(r"[.-](\d+)(?:\.(?:gz|xz|bz2|zst|lz4|zip))?$")


def rotation_series(
    files: Sequence[tuple[Path, T]], kind: Callable[[T], Hashable]
) -> list[list[tuple[int, Path, T]]]:
    """(index, path, spec) of the files grouped by the log they were rotated from (`pg.log.2.gz`, `pg.log.1`
    and `pg.log` are one series) and by `kind` (the format), each group oldest first: by modification time,
    then by rotation number (higher is older). Groups in the order of their first file."""
    series: dict[tuple[str, Hashable], list[tuple[int, Path, T]]] = {}
    for index, (path, spec) in enumerate(files):
        series.setdefault((series_base(path), kind(spec)), []).append((index, path, spec))

    def age(item: tuple[int, Path, T]) -> tuple[float, int, int]:
        path = item[1]
        mtime = mtime_of(path)
        m = _ROTATION_NUMBER.search(path.name)
        number = int(m.group(1)) if m else 0
        # copies without their times: pg.log.2 before pg.log.1 before pg.log; dated names (-20261128) by date
        return mtime, -len(rotated_from(str(path))), -number if number < 10_000 else number

    return [sorted(group, key=age) for group in series.values()]


def series_base(path: Path) -> str:
    """The log a file was rotated from: `/var/log/pg.log` for pg.log, pg.log.1 and pg.log.2.gz."""
    resolved = str(path.resolve())
    return ([resolved, *rotated_from(resolved)])[-1]


def mtime_of(path: Path) -> float:
    """The file's modification time, 0 if it cannot be read (the opening reports that)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def log_family(path: str) -> str:
    """The files one writer produces in turn: the same directory and name but for dates, numbers and day
    names (`postgresql-2026-11-28.log` and `postgresql-2026-11-29.log`, `postgresql-Mon.log` and
    `postgresql-Tue.log`, `pg.log` and `pg.log.1`)."""
    head, _, name = path.rpartition("/")
    return head + "/" + _NAME_CHANGES.sub("#", name)
