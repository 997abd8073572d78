"""The daemon reports an sftp transfer whose close never comes (sshd killed, connection dropped, reboot) once
`open_transfer_timeout` of event time has passed since its open: in the file of its open, in the file a
rotation hands it to, or, when no later file ever takes it, by the daemon's clock. Once: not again after a
restart, a crash, or a close that comes after all."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pii_guard.clock import FixedClock
from tests.daemon.harness import Process
from tests.daemon.test_rotation_joins import _append, _config, _rotate, _settle

HR_FILE = "/srv/share/hr/payroll.csv"
START = 1_800_000_000


def sftp(hms: str, message: str, pid: int = 777) -> str:
    return f"2026-11-27T{hms}.000000+00:00 vm internal-sftp[{pid}]: {message}\n"


def cron(hms: str) -> str:
    """Another program's line in the same log (auth.log): event time moves on with it too."""
    return f"2026-11-27T{hms}.000000+00:00 vm CRON[31337]: pam_unix(cron:session): session closed for user root\n"


SESSION = sftp("08:00:00", "session opened for local user carol from [10.30.0.7]")
OPEN = sftp("08:00:01", f'open "{HR_FILE}" flags READ mode 0666')
LATE_CLOSE = sftp("15:00:00", f'close "{HR_FILE}" bytes read 5000 written 0')
UNCLOSED = ("read", "unknown", "carol", "10.30.0.7", None, f"file:{HR_FILE}")


def _transfers(tmp: Path) -> list[tuple[str, str, str | None, str | None, int | None, str | None]]:
    conn = sqlite3.connect(tmp / "state" / "events.db")
    try:
        rows = conn.execute(
            "SELECT action, outcome, user_name, source_ip, bytes, object FROM events ORDER BY ts, seq"
        ).fetchall()
        return [tuple(row) for row in rows]
    finally:
        conn.close()


def _waiting_states(tmp: Path) -> int:
    conn = sqlite3.connect(tmp / "state" / "state.db")
    try:
        return int(conn.execute("SELECT count(*) FROM parser_state WHERE fingerprint LIKE 'inherited%'").fetchone()[0])
    finally:
        conn.close()


def _late_close_adds_nothing(config: Path, log: Path, tmp: Path, clock_s: float, before: str) -> None:
    """After a restart, the reported transfer's close comes at last (after a line at `before`): no second event."""
    proc = Process(config, FixedClock(clock_s))
    _append(log, cron(before) + LATE_CLOSE)
    _settle(proc)
    proc.stop()
    assert _transfers(tmp) == [UNCLOSED]


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_a_transfer_whose_session_goes_silent_is_reported_once_when_the_log_passes_the_limit(
    tmp_path: Path, how: str
) -> None:
    """One file, the default limit (6h): the session logs nothing after its open, the log goes on."""
    config = _config(tmp_path, "sftp", "{}")
    log = tmp_path / "logs" / "current.log"
    _append(log, SESSION + OPEN + cron("09:00:00"))
    proc = Process(config, FixedClock(START))
    _settle(proc)
    _append(log, cron("14:00:00"))  # 5h59m59s after the open: it may still be running
    _settle(proc)
    assert _transfers(tmp_path) == []
    proc.stop()  # the open transfer is saved with the parser's state
    proc = Process(config, FixedClock(START + 100))
    _append(log, cron("14:00:01"))
    if how == "killed":  # read, maybe not committed: the restart reads it again
        proc.run(3, settle=False)
        proc.kill()
        proc = Process(config, FixedClock(START + 200))
    _settle(proc)
    assert _transfers(tmp_path) == [UNCLOSED]
    proc.stop()
    _late_close_adds_nothing(config, log, tmp_path, START + 300, "20:00:00")


@pytest.mark.parametrize("how", ["rename", "copytruncate"])
def test_a_transfer_opened_before_rotation_is_reported_once_from_the_new_file(tmp_path: Path, how: str) -> None:
    config = _config(tmp_path, "sftp", "{open_transfer_timeout: 1h}")
    log = tmp_path / "logs" / "current.log"
    _append(log, SESSION + OPEN)
    proc = Process(config, FixedClock(START))
    _settle(proc)
    _rotate(log, how)
    _append(log, cron("08:30:00"))
    _settle(proc)
    assert _transfers(tmp_path) == []
    _append(log, cron("09:00:01"))  # the new file's time passes the limit of the inherited transfer
    _settle(proc)
    assert _transfers(tmp_path) == [UNCLOSED]
    proc.stop()
    _late_close_adds_nothing(config, log, tmp_path, START + 100, "10:00:00")


@pytest.mark.parametrize("restart", [False, True], ids=["running", "restarted-while-waiting"])
def test_a_transfer_no_later_file_takes_is_reported_once_by_the_daemons_clock(tmp_path: Path, restart: bool) -> None:
    """logrotate renamed the log after the open, and sshd never wrote again: no file takes the transfer, no line
    tells the time. The daemon's clock moves the waiting state on (progress saved across a restart)."""
    config = _config(tmp_path, "sftp", "{}")
    log = tmp_path / "logs" / "current.log"
    _append(log, SESSION + OPEN)
    proc = Process(config, FixedClock(START))
    _settle(proc)
    _rotate(log, "rename")
    _settle(proc)  # the old file is finished: its state waits for a successor
    proc.clock.advance(4 * 3600)
    proc.run(20)
    assert _transfers(tmp_path) == []
    if restart:
        proc.stop()
        proc = Process(config, FixedClock(START + 5 * 3600))
        proc.run(20)
    proc.clock.advance(2 * 3600)
    proc.run(20)
    assert _transfers(tmp_path) == [UNCLOSED]
    proc.stop()
    proc = Process(config, FixedClock(START + 30 * 3600))
    proc.clock.advance(24 * 3600)
    proc.run(20)
    assert _transfers(tmp_path) == [UNCLOSED]
    assert _waiting_states(tmp_path) == 1  # still handed to a successor, should one come
    _append(log, LATE_CLOSE)  # it does, with the close after all: reported already
    _settle(proc)
    proc.stop()
    assert _transfers(tmp_path) == [UNCLOSED]
    assert _waiting_states(tmp_path) == 0


def test_a_close_within_the_limit_is_one_event_with_its_bytes(tmp_path: Path) -> None:
    """Two downloads left open past a rotation: the one whose close comes within the limit is one event with
    its bytes; the other is reported without."""
    config = _config(tmp_path, "sftp", "{open_transfer_timeout: 6h}")
    log = tmp_path / "logs" / "current.log"
    other = sftp("08:00:02", 'open "/srv/share/hr/other.csv" flags READ mode 0666', pid=778)
    _append(log, SESSION + OPEN + other)
    proc = Process(config, FixedClock(START))
    _settle(proc)
    _rotate(log, "rename")
    _append(log, sftp("13:59:00", f'close "{HR_FILE}" bytes read 5000 written 0'))
    _settle(proc)
    proc.stop()
    proc = Process(config, FixedClock(START + 100))
    _append(log, cron("14:30:00"))
    _settle(proc)
    proc.stop()
    assert _transfers(tmp_path) == [
        ("read", "unknown", None, None, None, "file:/srv/share/hr/other.csv"),  # pid 778: no session line seen
        ("read", "success", "carol", "10.30.0.7", 5000, f"file:{HR_FILE}"),
    ]
