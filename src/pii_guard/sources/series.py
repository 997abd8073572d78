"""Rotations of one log, oldest first: `pg.log.2.gz`, `pg.log.1` and `pg.log` are one series, read in that order
by `replay` and `ingest` so that sessions carry from one file to the next (`Parser.carry_over`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Final, TypeVar

T = TypeVar("T")

# What tells one day's (or one rotation's) file of a log from the next in its name: a date (with a time), a
# day or month name, logrotate's number and compression suffix. Other numbers name other logs (db01, mysql-3306).
_NAME_CHANGES: Final = re.compile(
    r"\d{4}[-_.]?\d{2}[-_.]?\d{2}(?:[-_T.]?\d{2}(?:[-_:.]?\d{2}){0,2})?"
    r"|(?<![A-Za-z])(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:rs(?:day)?)?|fri(?:day)?|"
    r"sat(?:urday)?|sun(?:day)?|jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![A-Za-z])",
    re.I,
)
_DATE: Final = re.compile(r"\d{4}[-_.]?\d{2}[-_.]?\d{2}(?:[-_T.]?\d{2}(?:[-_:.]?\d{2}){0,2})?")
_ROTATION_SUFFIX: Final = re.compile(r"(?:[.-]\d{8}(?:\d{2,6})?|\.\d{1,4})?(?:\.(?:gz|xz|bz2|zst|lz4|zip))?$")
_ROTATION_NUMBER: Final = re.compile(r"[.-](\d+)(?:\.(?:gz|xz|bz2|zst|lz4|zip))?$")


def rotation_series(
    files: Sequence[tuple[Path, T]], kind: Callable[[T], Hashable]
) -> list[list[tuple[int, Path, T]]]:
    """(index, path, spec) of the files grouped by log (`log_family`: `pg.log.2.gz`, `pg.log.1` and `pg.log`
    are one series, so are `postgresql-2026-11-28.log` and `postgresql-2026-11-29.log`) and by `kind` (the
    format), each group oldest first. Groups in the order of their first file."""
    series: dict[tuple[str, Hashable], list[tuple[int, Path, T]]] = {}
    for index, (path, spec) in enumerate(files):
        series.setdefault((log_family(str(path.resolve())), kind(spec)), []).append((index, path, spec))

    def age(item: tuple[int, Path, T]) -> tuple[int, int, float]:
        """The name first (pg.log.2 before pg.log.1 before pg.log; dated rotations by date), which copies
        and compression keep; the modification time only between names that do not tell."""
        path = item[1]
        m = _ROTATION_NUMBER.search(path.name)
        if m is None:  # the live log (newest), or a file the server names by date: by that date
            dated = _DATE.search(path.name)
            return 1, int(re.sub(r"\D", "", dated.group(0))) if dated else 0, mtime_of(path)
        number = int(m.group(1))
        return 0, -number if number < 10_000 else number, mtime_of(path)

    return [sorted(group, key=age) for group in series.values()]


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
    return head + "/" + _NAME_CHANGES.sub("#", _ROTATION_SUFFIX.sub("", name, count=1))
