"""The on-disk queue between a receiver (syslog listener, journal reader) and the live loop.

A receiver appends each message as one syslog line (RFC 3339 stamp, host, tag[pid]: message) to the spool
file of its route, `<state_dir>/spool/<receiver>/<route>.log`. The live loop follows that file like any log
(`<route>.log*` is an ordinary source): checkpoints by byte offset, event ids from the file's fingerprint and
offset, restarts from the last committed checkpoint. So the spool adds no second delivery mechanism: what is
in the spool is as safe as a line in a log file, and the receiver only has to get messages into it.

- Each file starts with a unique header line (a syslog line of tag `pii-guard-spool`, which no parser reads):
  two spool files never share a fingerprint, even when they start with the same message.
- Rotation by size: the full file is renamed into `done/`, out of the source's glob, so the live loop sees
  its path go, reads it to the end and finishes it (flushes the parser, commits a final checkpoint); the
  file is deleted once its committed checkpoint reaches its size. Files of `done/` left unfinished by an
  earlier run are put back under the glob at start, and moved out again once the live loop has opened them
  (their checkpoint was committed after the start).
- Backlog: bytes spooled but not yet committed by the live loop (file sizes minus committed checkpoints,
  read from the state database). Above `max_backlog_bytes`, or while a write fails (disk full), blocking
  writers (TCP) wait, so the receiver stops reading its sockets; non-blocking writers (UDP) are refused.
- Durability: a write batch is written with one `write` per file and, with `fsync`, `fdatasync`ed before the
  write returns. A partial write (disk full) keeps the unwritten rest in memory and retries it before
  anything else goes to that file, so a line is never torn in the middle.
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Final

from pii_guard.clock import Clock
from pii_guard.sources.files import FINGERPRINT_BYTES, fingerprint_of

log = logging.getLogger("pii_guard.spool")

SPOOL_TAG: Final = "pii-guard-spool"
MARKER_HOST: Final = "pii-guard"
UNROUTED: Final = "unrouted"  # the keep-file of messages no route takes (not a source)
DONE_DIR: Final = "done"
MAINTAIN_EVERY_S: Final = 0.25
_CONTROL: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_TAG_UNSAFE: Final = re.compile(rb"[\s:\[\]]")


class ReceiverMetrics:
    """What receivers report; PrometheusMetrics binds it. The no-op default keeps tests light."""

    def received(self, receiver: str, protocol: str, n: int) -> None: ...
    def dropped(self, receiver: str, protocol: str, reason: str, n: int) -> None: ...
    def backlog(self, receiver: str, nbytes: int) -> None: ...


def spool_dir(state_path: Path, receiver: str) -> Path:
    return state_path / "spool" / receiver


def spool_pattern(directory: Path, route: str) -> str:
    """The source glob of a route: its active file and the files put back from `done/` at start."""
    return f"{glob.escape(str(directory))}/{glob.escape(route)}.log*"


def rfc3339(time_us: int, tz: tzinfo | None = None) -> str:
    """`2026-11-27T16:23:51.703961+00:00`, the stamp rsyslog's default file format writes."""
    return datetime.fromtimestamp(time_us / 1_000_000, tz or UTC).isoformat(timespec="microseconds")


def marker_line(time_us: int, tag: str, text: str) -> bytes:
    """A spool line that only pii-guard reads (header, journal cursor): syslog framing with its own tag."""
    return f"{rfc3339(time_us)} {MARKER_HOST} {tag}: {text}\n".encode()


def spool_line(stamp: bytes, host: bytes, tag: bytes, pid: bytes | None, text: bytes) -> bytes:
    """One message as rsyslog's default file format (RSYSLOG_FileFormat) writes it: `stamp host tag[pid]:`,
    one space, the message; control characters as `#ooo` (a newline is `#012`), so it stays one line."""
    if _TAG_UNSAFE.search(tag):
        tag = _TAG_UNSAFE.sub(b"_", tag)
    if _CONTROL.search(text):
        text = _CONTROL.sub(lambda m: b"#%03o" % m.group()[0], text)
    head = b"%s %s %s[%s]:" % (stamp, host, tag or b"-", pid) if pid else b"%s %s %s:" % (stamp, host, tag or b"-")
    return head + (text if text.startswith(b" ") else b" " + text) + b"\n"


class Checkpoints:
    """A read-only view of the checkpoints the live loop committed to the state database."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def get(self, fingerprint: str) -> tuple[int, int] | None:
        """(committed offset, commit time in µs) of a file, or None if the live loop never committed it."""
        conn = self._connect()
        if conn is None:
            return None
        try:
            row = conn.execute("SELECT offset, updated FROM checkpoints WHERE fingerprint=?", (fingerprint,)).fetchone()
        except sqlite3.Error:  # not migrated yet, or busy: ask again on the next round
            return None
        return (int(row[0]), int(row[1])) if row is not None else None

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is None and self._path.exists():
            try:
                self._conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, check_same_thread=False,
                                             timeout=1.0)
            except sqlite3.Error:
                return None
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _File:
    """One spool file of a route: the active one (appended to) or an older one waiting to be consumed."""

    __slots__ = ("fd", "fingerprint", "path", "pending", "size")

    def __init__(self, path: Path, fd: int, size: int, fingerprint: str) -> None:
        self.path = path
        self.fd = fd  # -1 for files that are not written to
        self.size = size
        self.fingerprint = fingerprint
        self.pending = b""  # bytes a failed write left unwritten; written before anything else


def _fingerprint(path: Path) -> str:
    with path.open("rb") as fh:
        return fingerprint_of(fh.read(FINGERPRINT_BYTES)).hex()


class Spool:
    """The spool files of one receiver: one per route, plus `unrouted.log` when unrouted messages are kept."""

    def __init__(
        self,
        directory: Path,
        routes: Sequence[str],
        state_db: Path,
        clock: Clock,
        *,
        max_file_bytes: int,
        max_backlog_bytes: int,
        fsync: bool = True,
        keep_unrouted: bool = False,
        on_write: Callable[[], None] | None = None,
        on_backlog: Callable[[int], None] | None = None,
    ) -> None:
        self.directory = directory
        self.routes = tuple(routes)
        self._checkpoints = Checkpoints(state_db)
        self._clock = clock
        self._max_file = max_file_bytes
        self._max_backlog = max_backlog_bytes
        self._fsync = fsync
        self._keep_unrouted = keep_unrouted
        self._on_write = on_write
        self._on_backlog = on_backlog
        self._lock = threading.Condition()
        self._active: dict[str, _File] = {}
        self._older: list[_File] = []  # rotated into done/, waiting for the live loop to finish them
        self._requeued: list[_File] = []  # from an earlier run, under the glob until the live loop opens them
        self._started_us = 0
        self._backlog = 0  # as of the last maintenance round, plus what was written since
        self._stalled = False  # a write failed; retried by maintenance
        self._carry: dict[str, bytes] = {}  # the last trailer (journal cursor), repeated after each new header
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.bytes_written = 0

    # -- life cycle ----------------------------------------------------------------------------------------

    def open(self) -> None:
        """Create the directory and the active files; put back files an earlier run left unfinished. Call
        before the live loop's first scan."""
        self._started_us = int(self._clock.now() * 1_000_000)
        done = self.directory / DONE_DIR
        done.mkdir(parents=True, exist_ok=True)
        names = [*self.routes, *([UNROUTED] if self._keep_unrouted else [])]
        for route in self.routes:
            for path in sorted(done.glob(f"{glob.escape(route)}.log.*")):
                self._requeue(path)
        for route in names:
            self._active[route] = self._open_active(route)
        self._refresh()
        self._thread = threading.Thread(target=self._maintain_loop, name=f"pii-guard-spool-{self.directory.name}",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self._retry_pending()
            for spool_file in self._active.values():
                if spool_file.pending:
                    log.error("spool %s: %d bytes could not be written and are lost", spool_file.path,
                              len(spool_file.pending))
                os.close(spool_file.fd)
            self._active.clear()
        self._checkpoints.close()

    def _requeue(self, path: Path) -> None:
        size = path.stat().st_size
        fingerprint = _fingerprint(path)
        committed = self._checkpoints.get(fingerprint)
        if committed is not None and committed[0] >= size:
            path.unlink()
            return
        back = self.directory / path.name
        os.rename(path, back)
        self._requeued.append(_File(back, -1, size, fingerprint))
        log.info("spool file %s put back to be read to the end", back)

    def _open_active(self, route: str) -> _File:
        path = self.directory / f"{route}.log"
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        size = os.fstat(fd).st_size
        if size == 0:
            header = marker_line(int(self._clock.now() * 1_000_000), SPOOL_TAG,
                                 f"spool {self.directory.name}/{route} {uuid.uuid4().hex}")
            header += self._carry.get(route, b"")
            os.write(fd, header)
            size = len(header)
        elif os.pread(fd, 1, size - 1) != b"\n":
            os.write(fd, b"\n")  # a write torn by a crash: end the fragment, it becomes a dead letter
            size += 1
        return _File(path, fd, size, _fingerprint(path))

    # -- writing -------------------------------------------------------------------------------------------

    def write(
        self,
        lines: Mapping[str, Sequence[bytes]],
        *,
        trailer: bytes | None = None,
        trailer_routes: Collection[str] | None = None,
        block: bool = True,
        stop: threading.Event | None = None,
    ) -> bool:
        """Append each route's lines (and `trailer` to the files of `trailer_routes`, default all) and
        return once written (and fsynced). Blocking writers wait while the backlog is full or a write
        failed, unless `stop` is set (then they write anyway: what was read from a peer is not thrown
        away). Non-blocking writers get False instead, and nothing is written."""
        with self._lock:
            while self._backlog >= self._max_backlog or self._stalled:
                if not block:
                    return False
                if stop is not None and stop.is_set():
                    break
                self._lock.wait(MAINTAIN_EVERY_S)
            touched: list[_File] = []
            written = 0
            marked = set(self.routes if trailer_routes is None else trailer_routes) if trailer is not None else set()
            for route, chunk in lines.items():
                if not chunk and route not in marked:
                    continue
                data = b"".join(chunk)
                if trailer is not None and route in marked:
                    data += trailer
                if route != UNROUTED:
                    written += len(data)
                touched.append(self._append(self._active[route], data))
            if trailer is not None:
                for route in marked:
                    self._carry[route] = trailer
                    if route not in lines:
                        touched.append(self._append(self._active[route], trailer))
            if self._fsync:
                for spool_file in touched:
                    with suppress(OSError):
                        os.fdatasync(spool_file.fd)
            self._backlog += written
            self.bytes_written += written
            while self._stalled and block and not (stop is not None and stop.is_set()):
                self._lock.wait(MAINTAIN_EVERY_S)
        if self._on_write is not None:
            self._on_write()
        return True

    def _append(self, spool_file: _File, data: bytes) -> _File:
        """Append to the route's file (a fresh one if it is full); return the file written to."""
        if spool_file.size >= self._max_file and not spool_file.pending:
            spool_file = self._rotate(spool_file)
        if spool_file.pending:
            data = spool_file.pending + data
            spool_file.pending = b""
        view = memoryview(data)
        while view:
            try:
                n = os.write(spool_file.fd, view)
            except OSError as exc:
                if not self._stalled:
                    log.error("spool %s: write failed, receiving paused until it works again: %s",
                              spool_file.path, exc.strerror or exc)
                self._stalled = True
                spool_file.pending = bytes(view)
                return spool_file
            spool_file.size += n
            view = view[n:]
        return spool_file

    def _retry_pending(self) -> None:
        """Write what failed before; clear the stall once every file is whole again."""
        if not self._stalled:
            return
        self._stalled = False
        for spool_file in self._active.values():
            if spool_file.pending:
                self._append(spool_file, b"")
        if not self._stalled:
            log.info("spool %s: writing again", self.directory)
            self._lock.notify_all()

    def _rotate(self, spool_file: _File) -> _File:
        """Move the full file out of the glob and start a fresh one; if that fails (disk full), go on
        appending to the full file and try again at the next write."""
        route = spool_file.path.name.removesuffix(".log")
        target = (spool_file.path.with_name(f"{UNROUTED}.log.1") if route == UNROUTED  # one older generation
                  else self._done_name(route))
        try:
            os.replace(spool_file.path, target)
        except OSError as exc:
            log.warning("spool %s: not rotated: %s", spool_file.path, exc)
            return spool_file
        try:
            fresh = self._open_active(route)
        except OSError as exc:
            log.warning("spool %s: not rotated: %s", spool_file.path, exc)
            with suppress(OSError):
                os.unlink(spool_file.path)  # a file the header did not fit in: nothing else is in it
            os.replace(target, spool_file.path)
            return spool_file
        os.close(spool_file.fd)
        if route != UNROUTED:
            self._older.append(_File(target, -1, spool_file.size, spool_file.fingerprint))
        self._active[route] = fresh
        return fresh

    def _done_name(self, route: str) -> Path:
        stamp = int(self._clock.now() * 1_000_000)
        while True:
            target = self.directory / DONE_DIR / f"{route}.log.{stamp:020d}"
            if not target.exists():
                return target
            stamp += 1

    # -- maintenance ---------------------------------------------------------------------------------------

    def _maintain_loop(self) -> None:
        while not self._stop.wait(MAINTAIN_EVERY_S):
            try:
                with self._lock:
                    self._retry_pending()
                    self._refresh()
                    self._lock.notify_all()
                if self._on_backlog is not None:
                    self._on_backlog(self._backlog)
            except Exception:  # a maintenance round must not end the thread: the next one tries again
                log.exception("spool %s: maintenance failed", self.directory)

    def _refresh(self) -> None:
        """Recompute the backlog from the committed checkpoints; delete consumed older files; move files put
        back at start out of the glob once the live loop has opened them."""
        backlog = 0
        for spool_file in [f for r, f in self._active.items() if r != UNROUTED]:
            backlog += self._unconsumed(spool_file)
        for spool_file in list(self._requeued):
            found = self._checkpoints.get(spool_file.fingerprint)
            if found is not None and found[0] >= spool_file.size:
                self._requeued.remove(spool_file)
                self._unlink(spool_file)
            elif found is not None and found[1] >= self._started_us:
                self._requeued.remove(spool_file)
                target = self.directory / DONE_DIR / spool_file.path.name
                os.rename(spool_file.path, target)
                spool_file.path = target
                self._older.append(spool_file)
                backlog += spool_file.size - found[0]
            else:
                backlog += spool_file.size - (found[0] if found is not None else 0)
        for spool_file in list(self._older):
            left = self._unconsumed(spool_file)
            if left == 0:
                self._older.remove(spool_file)
                self._unlink(spool_file)
            backlog += left
        self._backlog = backlog

    def _unconsumed(self, spool_file: _File) -> int:
        found = self._checkpoints.get(spool_file.fingerprint)
        return max(0, spool_file.size - (found[0] if found is not None else 0))

    @staticmethod
    def _unlink(spool_file: _File) -> None:
        try:
            spool_file.path.unlink()
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                log.warning("spool file %s not deleted: %s", spool_file.path, exc)

    # -- what others ask -----------------------------------------------------------------------------------

    @property
    def backlog(self) -> int:
        return self._backlog

    @property
    def full(self) -> bool:
        return self._stalled or self._backlog >= self._max_backlog

    def files(self) -> list[Path]:
        """Every spool file, active and older, for tests and status."""
        with self._lock:
            return [f.path for f in (*self._active.values(), *self._requeued, *self._older)]

    def last_marker(self, route: str, tag: str) -> str | None:
        """The text of the last marker line of `tag` in the route's active file (the journal's cursor)."""
        needle = f" {MARKER_HOST} {tag}: ".encode()
        path = self._active[route].path
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            chunk = 1 << 16
            while True:
                start = max(0, size - chunk)
                fh.seek(start)
                data = fh.read(size - start)
                pos = data.rfind(needle)
                while pos >= 0:
                    line_start = data.rfind(b"\n", 0, pos) + 1
                    # the whole line is in `data`, and the needle follows the line's stamp (not a message)
                    if (line_start > 0 or start == 0) and b" " not in data[line_start:pos]:
                        line_end = data.find(b"\n", pos)
                        if line_end >= 0:
                            return data[pos + len(needle) : line_end].decode("utf-8", "replace")
                    pos = data.rfind(needle, 0, pos)
                if start == 0:
                    return None
                chunk *= 4
