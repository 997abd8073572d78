"""Which files are rotations of one log, and their order."""

from __future__ import annotations

from pathlib import Path

from pii_guard.sources.series import log_family, rotation_series


def test_rotations_in_the_order_their_names_tell_even_when_copied_without_their_times(tmp_path: Path) -> None:
    names = ["pg.log", "pg.log.1", "pg.log.2.gz", "postgresql-2026-11-29.log", "postgresql-2026-11-28.log"]
    for name in names:
        (tmp_path / name).write_text("x\n")  # copied now: the same modification time, near enough
    series = rotation_series([(tmp_path / n, "pgaudit") for n in names], lambda kind: kind)
    assert [[p.name for _, p, _ in group] for group in series] == [
        ["pg.log.2.gz", "pg.log.1", "pg.log"],
        ["postgresql-2026-11-28.log", "postgresql-2026-11-29.log"],
    ]


def test_other_logs_are_other_families() -> None:
    assert log_family("/l/pg.log.1") == log_family("/l/pg.log") == log_family("/l/pg.log-20261128.gz")
    assert log_family("/l/postgresql-Mon.log") == log_family("/l/postgresql-Tuesday.log")
    assert len({log_family(p) for p in ("/l/db01.log", "/l/db02.log", "/l/mysql-3306.log", "/l/monitor.log")}) == 4
