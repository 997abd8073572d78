"""The command line end to end, as a user runs it: exit codes, messages, idempotent ingest, kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PREFIX = "%t [%p]: user=%u,db=%d,app=%a,client=%h "


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pii_guard", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def pg_lines(n: int) -> str:
    out = []
    for i in range(n):
        sec = i // 50
        out.append(f"2026-11-27 {9 + sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d} UTC [{1000 + i % 7}]: "
                   f"user=bob,db=crm,app=psql,client=10.20.0.5 LOG:  AUDIT: SESSION,{i + 1},1,READ,SELECT,TABLE,"
                   f"public.customers,SELECT email FROM public.customers WHERE id = {i};,<none>,1")
    return "\n".join(out) + "\n"


def config(tmp: Path, batch_size: int = 10_000, prefix: str = PREFIX) -> Path:
    path = tmp / "pii-guard.yaml"
    path.write_text(f"""\
state_dir: state
sources:
  - path: "*.log"
    format: pgaudit
    options: {{log_line_prefix: "{prefix}"}}
store:
  batch_size: {batch_size}
policy:
  zones: {ROOT}/rules/zones.yaml
  data_map: {ROOT}/rules/data-map.yaml
  directory: {ROOT}/rules/directory.yaml
""")
    return path


def count(db: Path, table: str = "events") -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def test_ingest_twice_stores_each_event_once(tmp_path: Path) -> None:
    log = tmp_path / "pg.log"
    log.write_text(pg_lines(500))
    cfg = config(tmp_path)
    first = cli("ingest", "--config", str(cfg), "--json", str(log))
    assert first.returncode == 0, first.stderr
    assert '"stored":500' in first.stdout
    second = cli("ingest", "--config", str(cfg), "--json", str(log))
    assert '"stored":0' in second.stdout
    assert '"duplicates":500' in second.stdout
    db = tmp_path / "state" / "events.db"
    assert count(db) == 500
    conn = sqlite3.connect(db)
    row = conn.execute("SELECT statement, categories, zone, user_roles FROM events LIMIT 1").fetchone()
    assert row == ("SELECT email FROM public.customers WHERE id = ?;", "contact personal", "office", "support")


def test_kill_9_during_ingest_leaves_no_partial_batch(tmp_path: Path) -> None:
    log = tmp_path / "pg.log"
    total = 150_000
    log.write_text(pg_lines(total))
    cfg = config(tmp_path, batch_size=1000)
    db = tmp_path / "state" / "events.db"
    proc = subprocess.Popen([sys.executable, "-m", "pii_guard", "ingest", "--config", str(cfg), str(log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    stored = 0
    while time.monotonic() < deadline:
        if db.exists():
            try:
                stored = count(db)
            except sqlite3.OperationalError:
                stored = 0
            if stored >= 5000:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = count(db)
    assert 0 < partial < total
    assert partial % 1000 == 0, "a batch is all or nothing"
    rerun = cli("ingest", "--config", str(cfg), "--json", str(log))
    assert rerun.returncode == 0, rerun.stderr
    assert count(db) == total
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(DISTINCT id) FROM events").fetchone()[0] == total


@pytest.mark.parametrize(
    ("name", "content", "expect_failed"),
    [
        ("empty.log", b"", 0),
        ("binary.log", bytes(range(256)) * 64, 65),  # 64 newlines inside: 65 lines, each kept
        ("invalid-utf8.log", b"2026-11-27 09:00:00 UTC [1]: user=b\xe9b,db=crm,app=x,client=10.20.0.5 LOG:  "
                             b"AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.customers,SELECT 1;,<none>,1\n", 0),
        ("huge-line.log", b"x" * (10 * 1024 * 1024) + b"\n", 1),
        ("truncated.log", pg_lines(3).encode()[:-40], 1),
    ],
)
def test_bad_input_is_counted_never_a_traceback(tmp_path: Path, name: str, content: bytes,
                                                 expect_failed: int) -> None:
    log = tmp_path / name
    log.write_bytes(content)
    result = cli("ingest", "--config", str(config(tmp_path)), "--json", str(log))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f'"failed":{expect_failed}' in result.stdout
    db = tmp_path / "state" / "events.db"
    assert count(db, "dead_letters") == expect_failed


def test_invalid_utf8_user_is_kept_escaped(tmp_path: Path) -> None:
    log = tmp_path / "u.log"
    log.write_bytes(b"2026-11-27 09:00:00 UTC [1]: user=b\xe9b,db=crm,app=x,client=10.20.0.5 LOG:  "
                    b"AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.customers,SELECT 1;,<none>,1\n")
    out = cli("parse", "--format", "pgaudit", "--set", f"log_line_prefix={PREFIX}", str(log))
    assert '"user":{"name":"b\\\\xe9b"}' in out.stdout


def test_config_typo_is_a_clean_error(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cfg.write_text(cfg.read_text().replace("batch_size", "bacth_size"))
    log = tmp_path / "pg.log"
    log.write_text(pg_lines(1))
    result = cli("ingest", "--config", str(cfg), str(log))
    assert result.returncode == 2
    assert result.stderr == (f"pii-guard: error: {cfg}:7: unknown key 'store.bacth_size' "
                             "(did you mean 'batch_size'?)\n")


def test_check_ok_and_missing_file(tmp_path: Path) -> None:
    ok = cli("check", "--config", str(config(tmp_path)))
    assert ok.returncode == 0, ok.stderr
    assert "config" in ok.stdout
    assert "incidents grouped by rule + user; the rules one event breaks share one; notify: off" in ok.stdout
    cfg = config(tmp_path)
    cfg.write_text(cfg.read_text() + "incidents: {join_same_event: false}\n")
    apart = cli("check", "--config", str(cfg), "--json")
    assert apart.returncode == 0, apart.stderr
    assert json.loads(apart.stdout)["incidents"] == {"group_by": ["rule", "user"], "join_same_event": False}
    missing = cli("ingest", "--config", str(config(tmp_path)), str(tmp_path / "nope.log"))
    assert missing.returncode == 2
    assert missing.stderr == f"pii-guard: error: {tmp_path / 'nope.log'}: no such file\n"


def test_parse_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    log = tmp_path / "pg.log"
    log.write_text(pg_lines(1))
    result = cli("parse", "--format", "pgaudit", "--set", "log_line_prefx=%m", str(log))
    assert result.returncode == 2
    assert "unknown key 'log_line_prefx' (did you mean 'log_line_prefix'?)" in result.stderr


def test_replay_twice_and_split_give_the_same_matches(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cfg.write_text(cfg.read_text() + f"  access: {ROOT}/rules/access-policy.yaml\n")
    lines = pg_lines(400).splitlines(keepends=True)
    whole = tmp_path / "whole.log"
    whole.write_text("".join(lines))
    first = cli("replay", "--config", str(cfg), "--json", str(whole))
    assert first.returncode == 1, first.stderr
    again = cli("replay", "--config", str(cfg), "--json", str(whole))
    assert again.stdout == first.stdout
    # the same lines split in two files, replayed in two runs into a fresh state
    other = tmp_path / "other"
    other.mkdir()
    cfg2 = config(other)
    cfg2.write_text(cfg2.read_text() + f"  access: {ROOT}/rules/access-policy.yaml\n")
    (other / "a.log").write_text("".join(lines[:150]))
    (other / "b.log").write_text("".join(lines[150:]))
    part1 = cli("replay", "--config", str(cfg2), "--json", str(other / "a.log"))
    part2 = cli("replay", "--config", str(cfg2), "--json", str(other / "b.log"))
    import orjson

    def rules(text: str) -> list[tuple[str, str]]:
        return [(d["rule"]["id"], d["@timestamp"]) for d in map(orjson.loads, text.splitlines())]

    assert rules(part1.stdout) + rules(part2.stdout) == rules(first.stdout)


def test_dead_letters_keep_no_quoted_values_or_numbers(tmp_path: Path) -> None:
    log = tmp_path / "pg.log"
    log.write_text("not a log line: SELECT * FROM customers WHERE email = 'c1@example.com' AND ssn = 123456789\n")
    result = cli("ingest", "--config", str(config(tmp_path)), "--json", str(log))
    assert '"failed":1' in result.stdout
    conn = sqlite3.connect(tmp_path / "state" / "events.db")
    (text,) = conn.execute("SELECT text FROM dead_letters").fetchone()
    assert text == "not a log line: SELECT * FROM customers WHERE email = '?' AND ssn = ?"


def test_check_validates_the_access_policy(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    policy = tmp_path / "policy.yaml"
    policy.write_text((ROOT / "rules" / "access-policy.yaml").read_text().replace("per: 1h", "per: 1 hour"))
    cfg.write_text(cfg.read_text() + f"  access: {policy}\n")
    result = cli("check", "--config", str(cfg))
    assert result.returncode == 2
    assert "'1 hour' is not a duration (write e.g. 90s, 15m, 1h, 1d, 2w)" in result.stderr
    assert result.stderr.startswith(f"pii-guard: error: {policy}:")
    policy.write_text((ROOT / "rules" / "access-policy.yaml").read_text())
    ok = cli("check", "--config", str(cfg))
    assert ok.returncode == 0, ok.stderr
    assert "rule(s)" in ok.stdout


def test_ingest_reads_compressed_logs_as_their_plain_text(tmp_path: Path) -> None:
    """A rotated log compressed by logrotate (gzip, xz or bzip2) is the same log: ingested plain and then
    compressed, nothing is stored twice; a damaged archive is a clean error that keeps what came before."""
    import bz2
    import gzip
    import lzma

    text = pg_lines(300).encode()
    plain = tmp_path / "pg.log"
    plain.write_bytes(text)
    cfg = config(tmp_path)
    assert '"stored":300' in cli("ingest", "--config", str(cfg), "--json", str(plain)).stdout
    for name, pack in (("pg.log.1.gz", gzip.compress), ("pg.log.2.xz", lzma.compress),
                       ("pg.log.3.bz2", bz2.compress)):
        (tmp_path / name).write_bytes(pack(text))
        again = cli("ingest", "--config", str(cfg), "--json", str(tmp_path / name))
        assert again.returncode == 0, again.stderr
        assert '"stored":0' in again.stdout
        assert '"duplicates":300' in again.stdout
    other = pg_lines(600).encode()[len(text):]
    damaged = tmp_path / "pg.log.4.gz"
    damaged.write_bytes(gzip.compress(other)[:-40])
    result = cli("ingest", "--config", str(cfg), "--json", str(damaged))
    assert result.returncode != 0
    assert "cannot decompress" in result.stderr
    assert "Traceback" not in result.stderr
    assert 300 <= count(tmp_path / "state" / "events.db") < 600


def _pooled_backend_series(logs: Path) -> list[Path]:
    """A pooled PostgreSQL backend (Debian's prefix: no %h, the client only in `connection received`) that
    connects in the oldest rotation and reads in the two newer ones; the oldest is gzipped, as logrotate
    leaves it. Real line shapes of tests/samples/pgaudit/pg15-pgaudit17-relation-off-debian.log."""
    head = "2026-11-27 08:00:{:02d}.000 UTC [4242] "
    read = ("postgres@crm LOG:  AUDIT: SESSION,{0},1,READ,SELECT,TABLE,public.customers,SELECT email FROM "
            "public.customers WHERE id = {0};,<not logged>,1\n")
    texts = [
        head.format(0) + "[unknown]@[unknown] LOG:  connection received: host=203.0.113.9 port=51234\n"
        + head.format(0) + "postgres@crm LOG:  connection authorized: user=postgres database=crm\n"
        + head.format(1) + read.format(1),
        head.format(2) + read.format(2),
        head.format(3) + read.format(3),
    ]
    paths = [logs / "pg.log.2.gz", logs / "pg.log.1", logs / "pg.log"]
    import gzip

    paths[0].write_bytes(gzip.compress(texts[0].encode()))
    paths[1].write_text(texts[1])
    paths[2].write_text(texts[2])
    for age, path in zip((300, 200, 100), paths, strict=True):
        os.utime(path, (time.time() - age, time.time() - age))
    return paths


def _series_config(tmp: Path) -> Path:
    path = tmp / "pii-guard.yaml"
    path.write_text(f"""\
state_dir: state
sources:
  - path: "logs/pg.log"
    format: pgaudit
    options: {{log_line_prefix: "%m [%p] %q%u@%d "}}
policy:
  zones: {ROOT}/rules/zones.yaml
  data_map: {ROOT}/rules/data-map.yaml
  directory: {ROOT}/rules/directory.yaml
  access: {ROOT}/rules/access-policy.yaml
""")
    (tmp / "logs").mkdir()
    return path


def _reads(db: Path) -> list[tuple[str | None, str | None]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT user_name, source_ip FROM events WHERE action = 'read' ORDER BY ts").fetchall()
        return [(u, ip) for u, ip in rows]
    finally:
        conn.close()


@pytest.mark.parametrize("runs", ["one run", "one run per file"])
def test_replay_of_rotations_keeps_a_pooled_backends_client(tmp_path: Path, runs: str) -> None:
    """Given newest first (as a shell glob lists them), read oldest first; the client of a connection made in
    pg.log.2.gz reaches its reads in pg.log.1 and pg.log, in one run or in a run per file, so the dba rule
    (dba only from the datacenter) sees all three reads from 203.0.113.9."""
    cfg = _series_config(tmp_path)
    oldest, middle, newest = _pooled_backend_series(tmp_path / "logs")
    batches = [[newest, middle, oldest]] if runs == "one run" else [[oldest], [middle], [newest]]
    rules = []
    for files in batches:
        done = cli("replay", "--config", str(cfg), "--json", *map(str, files))
        assert done.returncode == 1, done.stderr
        import orjson

        rules += [d["rule"]["id"] for d in map(orjson.loads, done.stdout.splitlines())]
    assert _reads(tmp_path / "state" / "events.db") == [("postgres", "203.0.113.9")] * 3
    # the login and the three reads from the internet by a dba; the three reads of personal data from there
    assert sorted(rules) == ["dba-from-datacenter"] * 4 + ["personal-not-from-internet"] * 3


def test_ingest_of_rotations_keeps_a_pooled_backends_client(tmp_path: Path) -> None:
    cfg = _series_config(tmp_path)
    oldest, middle, newest = _pooled_backend_series(tmp_path / "logs")
    done = cli("ingest", "--config", str(cfg), str(newest), str(middle), str(oldest))
    assert done.returncode == 0, done.stderr
    assert _reads(tmp_path / "state" / "events.db") == [("postgres", "203.0.113.9")] * 3


def _sftp_series(tmp: Path) -> tuple[Path, list[Path]]:
    """carol's download opens in the rotated file and closes in the live one (real line shapes of
    tests/samples/sftp/internal-sftp-chroot-info-rsyslog-rfc3339.log)."""
    cfg = tmp / "pii-guard.yaml"
    cfg.write_text(f"""\
state_dir: state
sources:
  - path: "logs/sftp.log"
    format: sftp
policy:
  zones: {ROOT}/rules/zones.yaml
  data_map: {ROOT}/rules/data-map.yaml
  directory: {ROOT}/rules/directory.yaml
""")
    (tmp / "logs").mkdir()
    line = "2026-11-27T08:00:0{}.000000+00:00 vm internal-sftp[777]: {}\n"
    rotated, live = tmp / "logs" / "sftp.log.1", tmp / "logs" / "sftp.log"
    rotated.write_text(line.format(0, "session opened for local user carol from [10.30.0.7]")
                       + line.format(1, 'open "/srv/share/hr/payroll.csv" flags READ mode 0666'))
    live.write_text(line.format(9, 'close "/srv/share/hr/payroll.csv" bytes read 5000 written 0'))
    return cfg, [live, rotated]  # as a shell glob lists them: newest first


@pytest.mark.parametrize("command", ["ingest", "replay"])
def test_a_transfer_across_rotations_is_one_event_however_often_it_is_read(tmp_path: Path, command: str) -> None:
    """Only the last file's unclosed transfers end with the input; a second run of the same files stores nothing
    new (its parser state is the one after the end of each file)."""
    cfg, files = _sftp_series(tmp_path)
    for _ in range(2):
        done = cli(command, "--config", str(cfg), *map(str, files))
        assert done.returncode in (0, 1), done.stderr  # replay: 1 when the policy matched (hr data)
        conn = sqlite3.connect(tmp_path / "state" / "events.db")
        try:
            rows = conn.execute("SELECT user_name, source_ip, bytes, command FROM events").fetchall()
        finally:
            conn.close()
        assert rows == [("carol", "10.30.0.7", 5000, "close")]


def test_parse_reads_a_logs_rotations_as_one_log(tmp_path: Path) -> None:
    _, files = _sftp_series(tmp_path)
    done = cli("parse", "--format", "sftp", *map(str, files))
    assert done.returncode == 0, done.stderr
    docs = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(d["user"]["name"], d["source"]["ip"], d["pii"]["bytes"]) for d in docs] == [("carol", "10.30.0.7", 5000)]


def test_replay_of_two_logs_with_the_same_first_line(tmp_path: Path) -> None:
    """Files are known by their first line: two servers' logs may share it; replay reads both, no crash."""
    cfg = config(tmp_path)
    first = pg_lines(1)
    for name in ("a.log", "b.log"):
        (tmp_path / name).write_text(first + pg_lines(3).splitlines(keepends=True)[2])
    done = cli("replay", "--config", str(cfg), str(tmp_path / "a.log"), str(tmp_path / "b.log"))
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr


def test_parse_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`pii-guard parse ... | head -1`: the reader going away is no error of the log file."""
    log = tmp_path / "access.log"
    log.write_text((ROOT / "tests" / "samples" / "nginx" / "nginx-access.log").read_text() * 5000)  # > a pipe's buffer
    proc = subprocess.Popen([sys.executable, "-m", "pii_guard", "parse", "--format", "nginx", str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    code = proc.wait(timeout=60)
    err = proc.stderr.read().decode()
    assert code == 0, err
    assert "cannot read" not in err


def test_check_refuses_a_state_dir_run_could_not_create_and_warns_of_no_sources(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    bad = tmp_path / "bad.yaml"
    bad.write_text("state_dir: a-file/state\n")
    done = cli("check", "--config", str(bad))
    assert done.returncode == 2
    assert "where it would be created, is not a writable directory for this user" in done.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text("state_dir: state\n")
    done = cli("check", "--config", str(empty))
    assert done.returncode == 0, done.stderr
    assert "  warning: no sources: `run` would read nothing" in done.stdout


def test_replay_prints_a_forged_user_name_on_one_line_without_its_escape_sequences(tmp_path: Path) -> None:
    record = {"@timestamp": "2026-11-27T16:00:00Z", "source": {"ip": "8.8.8.8"},
              "user": {"name": "evil\nINC-1  high  resolved  fake\x1b]0;pwned\x07\u202e"},
              "event": {"action": "read", "outcome": "success"}, "pii": {"object": "url:/exports/customers.csv"}}
    (tmp_path / "app.log").write_text(json.dumps(record) + "\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""\
state_dir: state
sources:
  - {{path: app.log, format: jsonl, options: {{object_prefix: ""}}}}
policy: {{zones: {ROOT}/rules/zones.yaml, data_map: {ROOT}/rules/data-map.yaml,
          directory: {ROOT}/rules/directory.yaml, access: {ROOT}/rules/access-policy.yaml}}
""")
    done = cli("replay", "--config", str(cfg), str(tmp_path / "app.log"))
    assert done.returncode == 1, done.stderr
    matches = done.stdout.splitlines()
    assert matches
    assert all(line.startswith("2026-11-27T16:00:00.000000Z ") for line in matches)
    assert all("evil\\nINC-1  high  resolved  fake\\x1b]0;pwned\\x07\\u202e (not in the directory)" in line
               for line in matches)
    assert not any(c in done.stdout for c in "\x1b\x07\u202e")
    shown = "evil\\nINC-1  high  resolved  fake\\x1b]0;pwned\\x07\\u202e"
    for args in (["incidents", "list"], ["incidents", "show", "INC-1"],
                 ["search", "user.name:*", "--from", "2026-11-27"]):  # fmt: skip
        out = cli(*args, "--config", str(cfg))
        assert out.returncode == 0, out.stderr
        assert shown in out.stdout, args
        assert not any(c in out.stdout for c in "\x1b\x07\u202e"), args
        assert not any(line.startswith("INC-1  high  resolved") for line in out.stdout.splitlines()), args


_COMMAND_IMPORTS = """
import sys
from click.testing import CliRunner
from pii_guard.cli import main
loaded = lambda: sorted(m for m in ("pii_guard.cli_search", "pii_guard.cli_reports", "pii_guard.cli_web",
                                    "pii_guard.cli_incidents", "luqum") if m in sys.modules)
print(loaded())
result = CliRunner().invoke(main, ["who-accessed", "--help"])
print(result.exit_code, "--record" in result.output, loaded())
"""


def test_the_daemons_command_line_leaves_the_other_commands_modules_unloaded() -> None:
    """`pii-guard run` imports the command line: the search language, reports and the web console are imported
    only when one of their commands runs, and then they work as before."""
    out = subprocess.run([sys.executable, "-c", _COMMAND_IMPORTS], capture_output=True, text=True, check=True,
                         timeout=120).stdout.splitlines()  # fmt: skip
    assert out[0] == "[]"
    assert out[1] == "0 True ['luqum', 'pii_guard.cli_search']"


def test_help_lists_every_command_and_an_unknown_one_is_refused() -> None:
    listed = cli("--help")
    assert listed.returncode == 0
    commands = {line.split()[0] for line in listed.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert commands == {"audit", "check", "incidents", "ingest", "parse", "replay", "report", "review", "rules", "run",
                        "search", "status", "verify", "web", "who-accessed"}  # fmt: skip
    unknown = cli("serach")
    assert unknown.returncode == 2
    assert "No such command 'serach'" in unknown.stderr


def test_a_file_whose_lines_all_pass_unread_is_reported_not_passed_over(tmp_path: Path) -> None:
    """A log written in a layout the source's options do not describe (`log_error_verbosity = verbose` before
    the parser read it, a syslog ident or full_audit prefix other than the configured one) gave `N lines → 0
    events` and nothing else. Stood in for here by lines pgaudit skips (`statement:`): `parse`, `ingest` and
    `replay` now say so."""
    log = tmp_path / "pg.log"
    log.write_text(pg_lines(3).replace(" LOG:  AUDIT:", " LOG:  statement:"))  # lines pgaudit skips
    parsed = cli("parse", "--format", "pgaudit", "--set", f"log_line_prefix={PREFIX}", str(log))
    assert parsed.returncode == 0
    assert parsed.stdout == ""
    assert "none of the 3 lines gave an event, and none failed" in parsed.stderr
    ingested = cli("ingest", "--config", str(config(tmp_path)), "--json", str(log))
    assert "none of the 3 lines gave an event" in json.loads(ingested.stdout)["warning"]
    replayed = cli("replay", "--config", str(config(tmp_path)), "--fresh", str(log))
    assert "none of the 3 lines gave an event" in replayed.stderr
    log.write_text(pg_lines(3))  # lines that give events: no warning
    assert "warning" not in json.loads(cli("ingest", "--config", str(config(tmp_path)), "--json", str(log)).stdout)


def test_a_postgresql_log_without_pgaudit_says_what_to_turn_on(tmp_path: Path) -> None:
    """A real PostgreSQL 15 log with log_statement = 'all' and log_min_duration_statement = 0 but pgAudit off
    (tests/samples/pgaudit/): its logins are read, its statements are no accesses; `parse`, `ingest` and
    `check` say why and what to turn on, though the file gave events (the logins)."""
    sample = ROOT / "tests" / "samples" / "pgaudit" / "pg15-log-statement-without-pgaudit.log"
    prefix = "%m [%p] user=%u,db=%d,app=%a,client=%h "
    parsed = cli("parse", "--format", "pgaudit", "--set", f"log_line_prefix={prefix}", str(sample))
    assert [json.loads(line)["event"]["action"] for line in parsed.stdout.splitlines()] == ["login", "logout"]
    hint = "its first lines hold PostgreSQL's own statement lines (`LOG:  statement: ...`, from log_statement"
    assert f"pii-guard: warning: {sample}: {hint}" in parsed.stderr
    assert "shared_preload_libraries = 'pgaudit'" in parsed.stderr
    shutil.copy(sample, tmp_path / "pg.log")
    cfg = config(tmp_path, prefix=prefix)
    ingested = json.loads(cli("ingest", "--config", str(cfg), "--json", str(tmp_path / "pg.log")).stdout)
    assert (ingested["events"], hint in ingested["warning"]) == (2, True)
    checked = cli("check", "--config", str(cfg))
    assert f"warning: {tmp_path / 'pg.log'}: {hint}" in checked.stdout
    audited = tmp_path / "pg.log"
    audited.write_text(pg_lines(3))
    assert "warning" not in cli("parse", "--format", "pgaudit", "--set", f"log_line_prefix={PREFIX}",
                                str(audited)).stderr  # fmt: skip


def test_check_warns_of_rotations_beside_a_source_that_follows_one_name(tmp_path: Path) -> None:
    """server_audit renames its file at every `server_audit_file_rotate_size`: a generation renamed again
    before the daemon opened it was lost (a sweep of a real MariaDB lost 42 events so); a glob reads it."""
    (tmp_path / "server_audit.log").write_text(pg_lines(1))
    cfg = config(tmp_path)
    cfg.write_text(cfg.read_text().replace('path: "*.log"', "path: server_audit.log"))
    quiet = json.loads(cli("check", "--config", str(cfg), "--json").stdout)
    assert "warnings" not in quiet["sources"][0]
    (tmp_path / "server_audit.log.1").write_text(pg_lines(1))
    warned = json.loads(cli("check", "--config", str(cfg), "--json").stdout)["sources"][0]["warnings"]
    assert any("1 rotation(s) of this file lie beside it (server_audit.log.1 ...)" in w
               and "path: 'server_audit.log*'" in w for w in warned), warned  # fmt: skip
    cfg.write_text(cfg.read_text().replace("path: server_audit.log", "path: server_audit.log*"))
    globbed = json.loads(cli("check", "--config", str(cfg), "--json").stdout)
    assert not any("rotation" in w for w in globbed["sources"][0].get("warnings", []))
