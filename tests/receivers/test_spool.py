"""The spool: unique headers, rotation out of the source glob, deletion once committed, files of an earlier run
put back, backlog limits, a failing disk, and the journal's cursor lines. Checkpoints are written straight into
a state database table of the live loop's shape, so each rule is tested without the loop."""

from __future__ import annotations

import errno
import glob
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from pii_guard.clock import SystemClock
from pii_guard.sources import spool as spool_module
from pii_guard.sources.files import fingerprint_of
from pii_guard.sources.spool import Spool, marker_line, spool_pattern

ROUTES = ("samba", "sftp")


class FakeState:
    """The checkpoints table as the live loop commits it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS checkpoints (fingerprint TEXT PRIMARY KEY, path TEXT, "
                         "offset INTEGER, updated INTEGER, size INTEGER, last_event_us INTEGER, source TEXT)")

    def commit(self, path: Path, offset: int | None = None, updated: float | None = None) -> None:
        fp = fingerprint_of(path.read_bytes()[:1024]).hex()
        size = path.stat().st_size
        with sqlite3.connect(self.path) as conn:
            conn.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, 0, 0, '')",
                         (fp, str(path), size if offset is None else offset, int((updated or time.time()) * 1e6)))


def make(root: Path, max_file: int = 1 << 20, max_backlog: int = 1 << 30) -> tuple[Spool, FakeState]:
    root.mkdir(exist_ok=True)
    state = FakeState(root / "state.db")
    spool = Spool(root / "spool", ROUTES, root / "state.db", SystemClock(), max_file_bytes=max_file,
                  max_backlog_bytes=max_backlog, fsync=False)
    spool.open()
    return spool, state


def glob_files(spool: Spool, route: str) -> list[str]:
    return sorted(glob.glob(spool_pattern(spool.directory, route)))


def wait(check: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_headers_make_every_spool_file_unique_and_parsers_skip_them(tmp_path: Path) -> None:
    a, _ = make(tmp_path / "a")
    b, _ = make(tmp_path / "b")
    try:
        line = b"2026-11-27T16:23:22+00:00 vm smbd_audit: u|1.2.3.4|m|s|connect|ok|s\n"
        a.write({"samba": [line]})
        b.write({"samba": [line]})
        heads = [(s.directory / "samba.log").read_bytes().split(b"\n", 1)[0] for s in (a, b)]
        assert heads[0] != heads[1]
        assert b" pii-guard pii-guard-spool: spool " in heads[0]
    finally:
        a.close()
        b.close()


def test_rotation_moves_the_full_file_out_of_the_glob_and_deletes_it_once_committed(tmp_path: Path) -> None:
    spool, state = make(tmp_path, max_file=300)
    try:
        line = b"2026-11-27T16:23:22+00:00 vm smbd_audit: " + b"x" * 100 + b"\n"
        for _ in range(4):
            spool.write({"samba": [line]})
        done = sorted((spool.directory / "done").iterdir())
        assert len(done) == 1
        assert glob_files(spool, "samba") == [str(spool.directory / "samba.log")]  # the live loop's view
        assert done[0].read_bytes().count(line) == 2  # the header and two lines reached 300 bytes
        state.commit(done[0], offset=100)  # not consumed yet: kept
        time.sleep(0.6)
        assert done[0].exists()
        state.commit(done[0])  # consumed
        wait(lambda: not done[0].exists())
    finally:
        spool.close()


def test_files_left_unfinished_are_put_back_then_moved_out_once_the_loop_opened_them(tmp_path: Path) -> None:
    spool, state = make(tmp_path, max_file=200)
    line = b"2026-11-27T16:23:22+00:00 vm sftp-server[1]: " + b"y" * 100 + b"\n"
    for _ in range(3):
        spool.write({"sftp": [line]})
    spool.close()
    left = sorted((spool.directory / "done").iterdir())
    assert len(left) == 2
    state.commit(left[0])  # the first was consumed before the stop: deleted at start
    state.commit(left[1], offset=150, updated=time.time() - 60)  # the second was not
    spool, _ = make(tmp_path, max_file=200)
    try:
        assert not left[0].exists()
        back = spool.directory / left[1].name
        assert str(back) in glob_files(spool, "sftp")  # under the glob: the live loop opens it
        time.sleep(0.6)
        assert back.exists()  # not opened by this run yet
        state.commit(back, offset=150)  # the live loop opened it (a commit after the start)
        wait(lambda: not back.exists() and (spool.directory / "done" / left[1].name).exists())
        state.commit(spool.directory / "done" / left[1].name)
        wait(lambda: not (spool.directory / "done" / left[1].name).exists())
    finally:
        spool.close()


def test_backlog_refuses_non_blocking_writers_and_holds_blocking_ones_until_committed(tmp_path: Path) -> None:
    spool, state = make(tmp_path, max_backlog=1000)
    line = b"2026-11-27T16:23:22+00:00 vm smbd_audit: " + b"z" * 500 + b"\n"
    try:
        assert spool.write({"samba": [line, line]}, block=False)
        assert spool.full
        assert not spool.write({"samba": [line]}, block=False)
        done = threading.Event()
        blocked = threading.Thread(target=lambda: (spool.write({"samba": [line]}), done.set()))
        blocked.start()
        time.sleep(0.6)
        assert not done.is_set()
        state.commit(spool.directory / "samba.log")
        assert done.wait(5)
        blocked.join()
        # at stop a blocked writer writes anyway: what a peer sent is not thrown away
        stop = threading.Event()
        stop.set()
        assert spool.write({"samba": [line, line, line]}, stop=stop)
        assert (spool.directory / "samba.log").read_bytes().count(line) == 6
    finally:
        spool.close()


def test_a_failing_write_is_completed_later_and_never_leaves_a_torn_line(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    spool, _ = make(tmp_path)
    real_write = os.write
    calls = {"n": 0}

    def disk_full_once(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[:10])  # a partial write, then the disk is full
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(spool_module.os, "write", disk_full_once)
    try:
        lines = [b"2026-11-27T16:23:22+00:00 vm smbd_audit: message %d\n" % i for i in range(3)]
        spool.write({"samba": lines})  # returns once the maintenance retry wrote the rest
        body = (spool.directory / "samba.log").read_bytes().split(b"\n", 1)[1]
        assert body == b"".join(lines)
        assert not spool.full
    finally:
        spool.close()


def test_a_torn_last_line_from_a_crash_is_ended_before_new_lines(tmp_path: Path) -> None:
    spool, _ = make(tmp_path)
    spool.close()
    with (spool.directory / "samba.log").open("ab") as fh:
        fh.write(b"2026-11-27T16:23:22+00:00 vm smbd_audit: cut in the mid")
    spool, _ = make(tmp_path)
    try:
        spool.write({"samba": [b"2026-11-27T16:23:23+00:00 vm smbd_audit: whole\n"]})
        assert (spool.directory / "samba.log").read_bytes().endswith(b"mid\n2026-11-27T16:23:23+00:00 vm "
                                                                      b"smbd_audit: whole\n")
    finally:
        spool.close()


def test_trailers_go_to_every_file_and_survive_rotation(tmp_path: Path) -> None:
    spool, _ = make(tmp_path, max_file=300)
    try:
        line = b"2026-11-27T16:23:22+00:00 vm smbd_audit: " + b"w" * 100 + b"\n"
        for i in range(5):
            spool.write({"samba": [line]}, trailer=marker_line(0, "pii-guard-journal", f"s=a;i={i}"))
        assert spool.last_marker("samba", "pii-guard-journal") == "s=a;i=4"
        assert spool.last_marker("sftp", "pii-guard-journal") == "s=a;i=4"  # no lines, still marked
        spool.write({"samba": [line]}, trailer=marker_line(0, "pii-guard-journal", "s=a;i=5"),
                    trailer_routes=["sftp"])
        assert spool.last_marker("samba", "pii-guard-journal") == "s=a;i=4"
        # a message that merely contains the marker text is not a marker
        spool.write({"sftp": [b"2026-11-27T16:23:22+00:00 vm sshd[1]: x pii-guard pii-guard-journal: s=b\n"]})
        assert spool.last_marker("sftp", "pii-guard-journal") == "s=a;i=5"
    finally:
        spool.close()
