"""A line longer than `max_line_bytes` becomes the same dead letter whichever command read it: `ingest`,
`replay` and the daemon's loop (a replay's dead letters used to give a shorter reason than the other two)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from pii_guard.cli import main
from pii_guard.clock import FixedClock
from tests.daemon.harness import Process, pg_line, write_config

LIMIT = 4096


def _config(tmp: Path) -> Path:
    path = write_config(tmp, "logs/pg.log", source_extra=f"    max_line_bytes: {LIMIT}\n")
    long = pg_line(1).replace("WHERE id = 1;", "WHERE id IN (" + ", ".join(str(i) for i in range(2_000)) + ");")
    assert len(long) > LIMIT
    (tmp / "logs" / "pg.log").write_text(pg_line(0) + long + pg_line(2))
    return path


def _dead(tmp: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(tmp / "state" / "events.db")
    try:
        return [(int(o), str(r)) for o, r in conn.execute("SELECT offset, reason FROM dead_letters ORDER BY offset")]
    finally:
        conn.close()


def test_an_overlong_line_is_the_same_dead_letter_from_ingest_replay_and_the_daemon(tmp_path: Path) -> None:
    reasons = {}
    for command in ("ingest", "replay"):
        tmp = tmp_path / command
        tmp.mkdir()
        config = _config(tmp)
        result = CliRunner().invoke(main, [command, "--config", str(config), str(tmp / "logs" / "pg.log")])
        assert result.exit_code in (0, 1), result.output  # replay exits 1 when the policy matched
        reasons[command] = _dead(tmp)
    tmp = tmp_path / "run"
    tmp.mkdir()
    proc = Process(_config(tmp), FixedClock(1_800_000_000))
    proc.run(5)
    proc.stop()
    reasons["run"] = _dead(tmp)
    expected = [(len(pg_line(0)), f"line longer than {LIMIT} bytes (max_line_bytes)")]
    assert reasons == {"ingest": expected, "replay": expected, "run": expected}
