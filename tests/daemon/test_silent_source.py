"""A followed source that goes quiet for longer than `expect_every` raises one silent-source match (auditing
switched off looks like silence), and the daemon's restarts neither forget nor repeat it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pii_guard.clock import FixedClock
from tests.daemon.harness import LogWriter, Process, write_config


def _silences(tmp: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(tmp / "state" / "state.db")
    try:
        return conn.execute("SELECT rule_id, object FROM matches WHERE kind = 'silent_source'").fetchall()
    finally:
        conn.close()


def test_a_quiet_source_raises_one_match_across_restarts(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("    format: pgaudit\n", "    format: pgaudit\n"
                                                 "    name: pg\n    expect_every: 60s\n"))
    clock = FixedClock(1_795_000_000.0)
    writer = LogWriter(tmp_path)
    writer.write(5)
    process = Process(config, clock)
    process.run(10)
    clock.advance(30)
    process.run(5)
    assert _silences(tmp_path) == []  # quiet for 30 s of an allowed 60 s
    clock.advance(60)
    process.run(5)
    assert _silences(tmp_path) == [("silent-source", "pg")]
    process.stop()
    restarted = Process(config, clock)
    clock.advance(10)
    restarted.run(5)
    assert _silences(tmp_path) == [("silent-source", "pg")]  # the same silence is not reported again
    writer.write(1)
    restarted.run(5)
    clock.advance(61)
    restarted.run(5)
    assert _silences(tmp_path) == [("silent-source", "pg")] * 2  # a new silence after the source spoke again
    restarted.stop()
    conn = sqlite3.connect(tmp_path / "state" / "state.db")
    try:
        rows = conn.execute("SELECT severity, ts FROM matches WHERE kind = 'silent_source' ORDER BY ts").fetchall()
    finally:
        conn.close()
    assert [severity for severity, _ in rows] == ["high", "high"]
