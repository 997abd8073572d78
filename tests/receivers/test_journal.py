"""The journal source. There is no systemd-journald in this container (no systemd as PID 1), so the journal
is exercised two ways: the real `journalctl` reading a journal file that `systemd-journal-remote` writes from
export-format entries (a real-server test), and a fake `journalctl` (a script printing records in the shape
`journalctl -o json` prints them) for the cursor rules that need a crash at a chosen point."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from pii_guard.clock import SystemClock
from pii_guard.model import AccessEvent
from pii_guard.parsers.base import SourceContext
from pii_guard.parsers.mariadb import MariaDbAuditParser
from pii_guard.parsers.samba import SambaFullAuditParser
from pii_guard.parsers.sftp import SftpParser
from pii_guard.sources.journal import Cursor, JournalSource
from pii_guard.sources.spool import Spool, rfc3339
from tests.conftest import require_binaries
from tests.receivers.harness import Pipeline, write_config

SAMPLE = Path(__file__).parent / "samples" / "syslog-all-rsyslog-rfc3339.log"
_SAMPLE_LINE = re.compile(r"\S+ \S+ ([^\s:\[]+)(?:\[(\d+)\])?: (.*)\Z")
ROUTES = {"smbd_audit": "samba-full-audit", "sftp-server": "sftp", "internal-sftp": "sftp", "sshd": "sftp",
          "mysql-server_auditing": "mariadb-audit"}
JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
T0 = 1_795_790_400_000_000


def sample_entries(first_seq: int, round_no: int = 0) -> list[tuple[str, str | None, str]]:
    out = []
    for line in SAMPLE.read_text().splitlines():
        tag, pid, message = _SAMPLE_LINE.match(line).groups()  # type: ignore[union-attr]
        out.append((tag, str(int(pid) + 100_000 * round_no) if pid else None, message))
    return out


# -- a fake journalctl -------------------------------------------------------------------------------------

FAKE = r'''
import json, sys, time
args = sys.argv[1:]
entries_path = next(a.split("=", 1)[1] for a in args if a.startswith("--entries="))
with open(entries_path + ".argv", "a") as log:
    log.write(json.dumps(args) + "\n")
idents = {a.split("=", 1)[1] for a in args if a.startswith("--identifier=")}
cursor = next((a.split("=", 1)[1] for a in args if a.startswith("--cursor=")), None)
lines = next((a.split("=", 1)[1] for a in args if a.startswith("--lines=")), None)
assert cursor is None or "--no-tail" in args  # journalctl --follow shows 10 entries after a cursor, not all

def load():
    with open(entries_path) as fh:
        return [json.loads(l) for l in fh if l.strip()]

entries = load()
if cursor is not None:
    start = next(i for i, e in enumerate(entries) if e["__CURSOR"] == cursor)
elif lines == "0":
    start = len(entries)
else:
    start = 0
shown = start
while True:
    for e in entries[shown:]:
        if e["SYSLOG_IDENTIFIER"] in idents:
            sys.stdout.write(json.dumps(e) + "\n")
    sys.stdout.flush()
    shown = len(entries)
    time.sleep(0.05)
    entries = load()
'''


class FakeJournal:
    def __init__(self, tmp: Path) -> None:
        self.script = tmp / "journalctl"
        self.script.write_text(f"#!{sys.executable}\n{FAKE}")
        self.script.chmod(0o755)
        self.entries = tmp / "entries.jsonl"
        self.entries.write_text("")
        self.seq = 0

    def add(self, entries: list[tuple[str, str | None, str]]) -> None:
        with self.entries.open("a") as fh:
            for tag, pid, message in entries:
                self.seq += 1
                t = T0 + self.seq
                record = {"__CURSOR": f"s=5eed;i={self.seq:x};b=b00t;m={self.seq:x};t={t:x};x=ff",
                          "__REALTIME_TIMESTAMP": str(t), "__MONOTONIC_TIMESTAMP": str(self.seq),
                          "_BOOT_ID": "b00t", "SYSLOG_IDENTIFIER": tag, "_HOSTNAME": "vm",
                          "MESSAGE": message if "\x00" not in message else list(message.encode())}
                if pid:
                    record["SYSLOG_PID"] = pid
                fh.write(json.dumps(record) + "\n")

    def argv(self) -> list[list[str]]:
        path = Path(str(self.entries) + ".argv")
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def journal_source(tmp: Path, fake: FakeJournal, start_at: str = "end") -> JournalSource:
    spool = Spool(tmp / "spool", sorted(set(ROUTES.values())), tmp / "state.db", SystemClock(),
                  max_file_bytes=1 << 20, max_backlog_bytes=1 << 30, fsync=False)
    return JournalSource("j", spool, ROUTES, SystemClock(), journalctl=str(fake.script),
                         args=[f"--entries={fake.entries}"], start_at=start_at)


def spooled(tmp: Path) -> Counter[str]:
    """Message lines (not headers or cursors) of every spool file."""
    found: Counter[str] = Counter()
    for path in (tmp / "spool").glob("*.log"):
        for line in path.read_text().splitlines():
            if " pii-guard pii-guard-" not in line:
                found[line] += 1
    return found


def wait_until(check: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_cursor_resume_and_start_positions(tmp_path: Path) -> None:
    fake = FakeJournal(tmp_path)
    old = sample_entries(0)[:40]
    fake.add(old)
    source = journal_source(tmp_path, fake, start_at="end")
    source.start()
    try:
        time.sleep(0.5)
        assert not spooled(tmp_path)  # start_at end: the journal's past is not read
        fake.add(sample_entries(0, 1))
        routed = sum(1 for tag, _, _ in sample_entries(0, 1) if tag in ROUTES)
        wait_until(lambda: sum(spooled(tmp_path).values()) == routed)
    finally:
        source.stop()
    fake.add(sample_entries(0, 2))
    source = journal_source(tmp_path, fake)
    source.start()
    try:
        wait_until(lambda: sum(spooled(tmp_path).values()) == 2 * routed)
        time.sleep(0.3)
    finally:
        source.stop()
    assert max(spooled(tmp_path).values()) == 1  # nothing twice
    first, second = fake.argv()
    assert "--lines=0" in first
    assert any(a.startswith("--cursor=s=5eed;i=") for a in second)
    assert sorted(a for a in first if a.startswith("--identifier=")) == sorted(f"--identifier={t}" for t in ROUTES)


def test_a_crash_between_two_files_neither_loses_nor_doubles(tmp_path: Path) -> None:
    fake = FakeJournal(tmp_path)
    source = journal_source(tmp_path, fake, start_at="beginning")
    fake.add(sample_entries(0, 1))
    source.start()
    routed = sum(1 for tag, _, _ in sample_entries(0, 1) if tag in ROUTES)
    try:
        wait_until(lambda: sum(spooled(tmp_path).values()) == routed)
    finally:
        source.stop()
    sftp_file = tmp_path / "spool" / "sftp.log"
    before = sftp_file.stat().st_size
    fake.add(sample_entries(0, 2))
    source = journal_source(tmp_path, fake)
    source.start()
    try:
        wait_until(lambda: sum(spooled(tmp_path).values()) == 2 * routed)
        time.sleep(0.3)
    finally:
        source.stop()
    # as if the process died after writing the other files' part of the batch, before sftp.log's
    with sftp_file.open("r+b") as fh:
        fh.truncate(before)
    lost = 2 * routed - sum(spooled(tmp_path).values())
    assert lost > 0
    source = journal_source(tmp_path, fake)
    source.start()
    try:
        wait_until(lambda: sum(spooled(tmp_path).values()) == 2 * routed)
        time.sleep(0.5)
    finally:
        source.stop()
    assert sum(spooled(tmp_path).values()) == 2 * routed
    assert max(spooled(tmp_path).values()) == 1


def test_cursor_order() -> None:
    a = Cursor.parse("s=1;i=a;b=x;m=1;t=100;x=0")
    b = Cursor.parse("s=1;i=b;b=x;m=1;t=50;x=0")
    c = Cursor.parse("s=2;i=1;b=x;m=1;t=200;x=0")
    assert a is not None
    assert b is not None
    assert c is not None
    assert a.before(b)  # same sequence-number id: by sequence number, whatever the clock said
    assert b.before(c)  # another id: by realtime
    assert Cursor.parse("s=1;i=zz") is None


# -- the real journalctl ------------------------------------------------------------------------------------


def export_entries(entries: list[tuple[str, str | None, str]], first_us: int) -> bytes:
    """The journal export format (what systemd-journal-remote reads), one entry per sample message."""
    out = []
    for n, (tag, pid, message) in enumerate(entries):
        fields = [f"__REALTIME_TIMESTAMP={first_us + n}", f"__MONOTONIC_TIMESTAMP={first_us + n}",
                  "_BOOT_ID=0123456789abcdef0123456789abcdef", f"SYSLOG_IDENTIFIER={tag}", "_HOSTNAME=vm",
                  "PRIORITY=6", f"MESSAGE={message}"] + ([f"SYSLOG_PID={pid}", f"_PID={pid}"] if pid else [])
        out.append("\n".join(fields) + "\n\n")
    return "".join(out).encode()


def syslog_events(entries: list[tuple[str, str | None, str]], first_us: int) -> Counter[tuple[object, ...]]:
    """What the parsers make of the same messages as lines of an rsyslog file."""
    lines = [f"{rfc3339(first_us + n)} vm {tag}{f'[{pid}]' if pid else ''}: {message}"
             for n, (tag, pid, message) in enumerate(entries)]
    found: Counter[tuple[object, ...]] = Counter()
    for parser_class in (SambaFullAuditParser, SftpParser, MariaDbAuditParser):
        parser = parser_class(SourceContext(b"f" * 16, "x", None, None, time.time(), True))
        out = [e for i, line in enumerate(lines) for e in parser.feed(i, line)] + list(parser.flush())
        for e in out:
            assert isinstance(e, AccessEvent), e
            found[(e.time_us, e.dataset, e.action, e.outcome, e.user, e.source_ip, e.object, e.original)] += 1
    return found


def stored_events(pipe: Pipeline) -> Counter[tuple[object, ...]]:
    import sqlite3

    conn = sqlite3.connect(pipe.db)
    try:
        return Counter(tuple(r) for r in conn.execute(
            "SELECT ts, dataset, action, outcome, user_name, source_ip, object, original FROM events"))
    finally:
        conn.close()


@pytest.mark.realserver
def test_real_journalctl_on_a_journal_file_stores_the_same_events_as_the_syslog_file_across_a_restart(
        tmp_path: Path) -> None:
    found = require_binaries("journalctl", JOURNAL_REMOTE)
    journal = tmp_path / "remote.journal"
    first_us = int(time.time() * 1_000_000)
    batches = [sample_entries(0, 1), sample_entries(0, 2), sample_entries(0, 3)]
    starts = [first_us, first_us + 1_000_000, first_us + 2_000_000]

    def append(i: int) -> None:
        export = tmp_path / f"batch{i}.export"
        export.write_bytes(export_entries(batches[i], starts[i]))
        done = subprocess.run([found[JOURNAL_REMOTE], f"--output={journal}", str(export)], capture_output=True,
                              text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr

    append(0)
    config = write_config(tmp_path, f"  journal:\n    - {{name: j, start_at: beginning, journalctl: "
                                    f"{found['journalctl']}, args: ['--file={journal}']}}\n")
    expected = sum((syslog_events(b, s) for b, s in zip(batches, starts, strict=True)), Counter())
    assert sum(expected.values()) >= 90
    pipe = Pipeline(config).start()
    try:
        one = syslog_events(batches[0], starts[0])
        pipe.pump(lambda: sum(stored_events(pipe).values()) >= sum(one.values()), timeout=60)
        append(1)  # while journalctl follows the file
        time.sleep(0.5)
    finally:
        pipe.stop()
    append(2)  # while pii-guard is down
    pipe = Pipeline(config).start()
    try:
        pipe.pump(lambda: sum(stored_events(pipe).values()) >= sum(expected.values()), timeout=60)
        time.sleep(0.7)
        pipe.loop.step()
        got = stored_events(pipe)
    finally:
        pipe.stop()
    assert got == expected
    assert os.path.exists(journal)
