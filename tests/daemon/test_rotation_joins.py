"""Sessions outlive log rotation: a PostgreSQL backend (Debian's prefix has no %h: the client comes from its
`connection received` line) or an sftp session that started before logrotate goes on writing into the new
file. The new file's parser inherits what the old file's parser knew, so those events keep their user and IP."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from pii_guard.clock import FixedClock
from tests.daemon.harness import ROOT, Process

PG_PREFIX = "%m [%p] %q%u@%d "
PG_SESSION = (
    "2026-11-27 08:00:00.000 UTC [4242] LOG:  connection received: host=10.20.0.5 port=51234\n"
    "2026-11-27 08:00:00.100 UTC [4242] bob@crm LOG:  connection authorized: user=bob database=crm\n"
)


def _pg_audit(i: int) -> str:
    return (f"2026-11-27 08:00:{i:02d}.000 UTC [4242] bob@crm LOG:  AUDIT: SESSION,{i},1,READ,SELECT,TABLE,"
            f"public.customers,SELECT email FROM public.customers WHERE id = {i};,<none>,1\n")


SFTP = "2026-11-27T08:00:0{}.000000+00:00 vm internal-sftp[777]: {}\n"
SFTP_SESSION = SFTP.format(0, "session opened for local user carol from [10.30.0.7]")
SFTP_OPEN = SFTP.format(1, 'open "/srv/share/hr/payroll.csv" flags READ mode 0666')
SFTP_CLOSE = SFTP.format(9, 'close "/srv/share/hr/payroll.csv" bytes read 5000 written 0')


def _config(tmp: Path, fmt: str, options: str, pattern: str = "logs/current.log") -> Path:
    path = tmp / "pii-guard.yaml"
    path.write_text(f"""\
state_dir: state
sources:
  - path: "{pattern}"
    format: {fmt}
    options: {options}
store: {{batch_size: 50, batch_ms: 20}}
daemon: {{listen: "", rescan_s: 0.2}}
policy:
  zones: {ROOT}/rules/zones.yaml
  data_map: {ROOT}/rules/data-map.yaml
  directory: {ROOT}/rules/directory.yaml
  access: {ROOT}/rules/access-policy.yaml
""")
    (tmp / "logs").mkdir()
    return path


def _append(path: Path, text: str) -> None:
    with path.open("a") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _rotate(log: Path, how: str) -> None:
    if how == "rename":
        log.rename(log.with_name("current.log.1"))
    else:  # copytruncate
        shutil.copyfile(log, log.with_name("current.log.1"))
        with log.open("r+") as fh:
            fh.truncate(0)


def _settle(proc: Process) -> None:
    proc.run(60)
    proc.clock.advance(10)  # rotated files pass their grace period and are finished
    proc.run(20)


def _events(tmp: Path) -> list[tuple[str, str | None, str | None, int | None]]:
    conn = sqlite3.connect(tmp / "state" / "events.db")
    try:
        rows = conn.execute("SELECT action, user_name, source_ip, bytes FROM events ORDER BY ts, seq").fetchall()
        return [(a, u, ip, b) for a, u, ip, b in rows]
    finally:
        conn.close()


@pytest.mark.parametrize("how", ["rename", "copytruncate"])
@pytest.mark.parametrize("restart", [False, True], ids=["running", "restarted-after-rotation"])
@pytest.mark.parametrize("pattern", ["logs/current.log", "logs/current.log*"], ids=["path", "glob-with-rotations"])
def test_a_postgresql_backend_keeps_its_client_across_rotation(tmp_path: Path, how: str, restart: bool,
                                                               pattern: str) -> None:
    config = _config(tmp_path, "pgaudit", f'{{log_line_prefix: "{PG_PREFIX}"}}', pattern)
    log = tmp_path / "logs" / "current.log"
    _append(log, PG_SESSION + _pg_audit(1))
    proc = Process(config, FixedClock(1_800_000_000))
    _settle(proc)
    _rotate(log, how)
    _append(log, _pg_audit(2))
    _settle(proc)
    if restart:  # the inherited sessions are saved with the new file's checkpoint
        proc.stop()
        proc = Process(config, FixedClock(1_800_000_100))
    _append(log, _pg_audit(3))
    _settle(proc)
    proc.stop()
    assert _events(tmp_path) == [("login", "bob", "10.20.0.5", None)] + [("read", "bob", "10.20.0.5", None)] * 3


@pytest.mark.parametrize("how", ["rename", "copytruncate"])
def test_an_sftp_transfer_spanning_rotation_keeps_its_user_and_is_reported_once(tmp_path: Path, how: str) -> None:
    config = _config(tmp_path, "sftp", "{}")
    log = tmp_path / "logs" / "current.log"
    _append(log, SFTP_SESSION + SFTP_OPEN)
    proc = Process(config, FixedClock(1_800_000_000))
    _settle(proc)
    _rotate(log, how)
    _append(log, SFTP_CLOSE)
    _settle(proc)
    proc.stop()
    assert _events(tmp_path) == [("read", "carol", "10.30.0.7", 5000)]


@pytest.mark.parametrize("restart", [False, True], ids=["running", "restarted-before-the-new-file"])
def test_a_backend_keeps_its_client_when_postgresql_starts_the_next_dated_file(tmp_path: Path, restart: bool) -> None:
    """The logging collector with `log_filename = 'postgresql-%Y-%m-%d.log'` (or RHEL's `-%a.log`) starts a new
    file each day; a pooled backend goes on writing into it. The new file of the same name family inherits."""
    config = _config(tmp_path, "pgaudit", f'{{log_line_prefix: "{PG_PREFIX}"}}', "logs/postgresql-*.log")
    day1, day2 = tmp_path / "logs" / "postgresql-2026-11-27.log", tmp_path / "logs" / "postgresql-2026-11-28.log"
    _append(day1, PG_SESSION + _pg_audit(1))
    os.utime(day1, (time.time() - 3600, time.time() - 3600))  # yesterday's file is the older one
    proc = Process(config, FixedClock(1_800_000_000))
    _settle(proc)
    if restart:
        proc.stop()
    _append(day2, _pg_audit(2))
    if restart:
        proc = Process(config, FixedClock(1_800_000_100))
    _settle(proc)
    proc.stop()
    assert _events(tmp_path) == [("login", "bob", "10.20.0.5", None)] + [("read", "bob", "10.20.0.5", None)] * 2


def test_files_of_another_log_in_the_same_source_do_not_inherit(tmp_path: Path) -> None:
    """One glob over two servers' logs: db02's file never takes db01's sessions (a pid means nothing across)."""
    config = _config(tmp_path, "pgaudit", f'{{log_line_prefix: "{PG_PREFIX}"}}', "logs/*.log")
    db1, db2 = tmp_path / "logs" / "db01.log", tmp_path / "logs" / "db02.log"
    _append(db1, PG_SESSION + _pg_audit(1))
    proc = Process(config, FixedClock(1_800_000_000))
    _settle(proc)
    _append(db2, _pg_audit(2).replace("bob@crm", "carol@crm"))
    _settle(proc)
    proc.stop()
    assert ("read", "carol", None, None) in _events(tmp_path)


MARIA_ROWS = ("20261127 08:00:00,vm,alice,10.0.0.7,11,22,READ,crm,customers,\n"
              "20261127 08:00:00,vm,alice,10.0.0.7,11,22,READ,crm,orders,\n")
MARIA_QUERY = "20261127 08:09:00,vm,alice,10.0.0.7,11,22,QUERY,crm,'SELECT * FROM customers JOIN orders',0\n"


# A real MariaDB 10.11's slow export (the READ row at its start, the QUERY row 6 s later; the OUTFILE's
# directory renamed): its read is released before the statement ends, and the QUERY row then shows an export.
MARIA_EXPORT_ROWS = "20261130 04:52:28,vm,alice,127.0.0.1,12,48,READ,crm,customers,\n"
MARIA_EXPORT_QUERY = ("20261130 04:52:34,vm,alice,127.0.0.1,12,48,QUERY,crm,'SELECT email, ssn, SLEEP(2) FROM "
                      "customers INTO OUTFILE \\'/var/lib/mysql-files/slow-export2.csv\\'',0\n")  # fmt: skip


@pytest.mark.parametrize("how", ["none", "rename", "copytruncate"])
@pytest.mark.parametrize("statement", ["select", "export"])
def test_a_long_mariadb_statement_is_seen_while_it_runs_and_counted_once(tmp_path: Path, how: str,
                                                                        statement: str) -> None:  # fmt: skip
    """server_audit writes a statement's TABLE rows when it starts and its QUERY row when it ends: a long
    statement's reads are released once the log is quiet, and the QUERY row (maybe in the file the plugin
    rotated to meanwhile) adds nothing, unless it shows the statement was an export: then it is the export."""
    rows, query = (MARIA_ROWS, MARIA_QUERY) if statement == "select" else (MARIA_EXPORT_ROWS, MARIA_EXPORT_QUERY)
    reads = ([("read", "alice", "10.0.0.7", None)] * 2 if statement == "select"
             else [("read", "alice", "127.0.0.1", None)])  # fmt: skip
    config = _config(tmp_path, "mariadb-audit", "{}")
    log = tmp_path / "logs" / "current.log"
    _append(log, rows)
    proc = Process(config, FixedClock(1_800_000_000))
    _settle(proc)
    assert _events(tmp_path) == reads  # before the statement ends
    if how != "none":
        _rotate(log, how)
    _append(log, query)
    _settle(proc)
    proc.stop()
    assert _events(tmp_path) == reads + ([] if statement == "select" else [("export", "alice", "127.0.0.1", None)])


@pytest.mark.parametrize("fmt", ["pgaudit", "sftp"])
def test_sessions_handed_over_survive_a_restart_before_the_new_file_appears(tmp_path: Path, fmt: str) -> None:
    """logrotate renamed the log, the daemon finished the old file and restarted before the server wrote its
    first line to the new one: the sessions of the old file are saved with the state, not lost with the process."""
    options = f'{{log_line_prefix: "{PG_PREFIX}"}}' if fmt == "pgaudit" else "{}"
    config = _config(tmp_path, fmt, options)
    log = tmp_path / "logs" / "current.log"
    _append(log, PG_SESSION + _pg_audit(1) if fmt == "pgaudit" else SFTP_SESSION + SFTP_OPEN)
    proc = Process(config, FixedClock(1_800_000_000))
    _settle(proc)
    _rotate(log, "rename")
    _settle(proc)
    proc.stop()
    proc = Process(config, FixedClock(1_800_000_100))
    _append(log, _pg_audit(2) if fmt == "pgaudit" else SFTP_CLOSE)
    _settle(proc)
    proc.stop()
    if fmt == "pgaudit":
        assert _events(tmp_path) == [("login", "bob", "10.20.0.5", None)] + [("read", "bob", "10.20.0.5", None)] * 2
    else:
        assert _events(tmp_path) == [("read", "carol", "10.30.0.7", 5000)]
    conn = sqlite3.connect(tmp_path / "state" / "state.db")
    try:  # taken by the new file: no longer waiting
        assert conn.execute("SELECT count(*) FROM parser_state WHERE fingerprint LIKE 'inherited%'").fetchone() == (0,)
    finally:
        conn.close()
