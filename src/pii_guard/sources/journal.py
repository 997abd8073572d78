"""The systemd journal as a source: `journalctl -o json --follow`, entries routed by SYSLOG_IDENTIFIER to the
same spool files a syslog receiver writes (see `spool.py`), the journal cursor kept in the spool itself.

journalctl is asked only for the routed identifiers (`--identifier`) and the fields a spool line needs. Each
batch of entries is written with a cursor line (`pii-guard-journal: <cursor>`) appended to *every* route's
file in the same write as the entries, so each file says how far into the journal it is complete. At start
the reader resumes from the earliest of those cursors (`--cursor`, inclusive) and skips, per file, what that
file already holds: a crash between the writes of two files neither loses nor duplicates an entry. The
cursor therefore advances only together with the spooled entries; the live loop then stores them from the
spool with its own checkpoints, as for any file.
"""

from __future__ import annotations

import logging
import os
import selectors
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from pii_guard.clock import Clock
from pii_guard.sources.spool import ReceiverMetrics, Spool, marker_line, rfc3339, spool_line

log = logging.getLogger("pii_guard.journal")

JOURNAL_TAG: Final = "pii-guard-journal"
FIELDS: Final = ("MESSAGE", "SYSLOG_IDENTIFIER", "SYSLOG_PID", "_PID", "_HOSTNAME", "_COMM")
READ_BYTES: Final = 1 << 20
RESTART_S: Final = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Cursor:
    """A journal cursor and the parts that order it: `s=` (sequence-number id), `i=` (sequence number, hex)
    and `t=` (realtime µs, hex). Same `s`: ordered by `i`; otherwise by `t`."""

    text: str
    seqnum_id: str
    seqnum: int
    realtime: int

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        parts = dict(p.split("=", 1) for p in text.split(";") if "=" in p)
        try:
            return cls(text, parts.get("s", ""), int(parts.get("i", "0"), 16), int(parts.get("t", "0"), 16))
        except ValueError:
            return None

    def before(self, other: Cursor) -> bool:
        if self.seqnum_id and self.seqnum_id == other.seqnum_id:
            return self.seqnum < other.seqnum
        return self.realtime < other.realtime


def _text(value: Any) -> bytes | None:
    """A journal field in `-o json`: a string, an array of bytes (not UTF-8, or control characters), null
    (too large without --all), or an array of those when the field is repeated (the first is taken)."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list) and value:
        if all(isinstance(b, int) for b in value):
            return bytes(b & 0xFF for b in value)
        return _text(value[0])
    return None


class JournalSource:
    """Runs journalctl in a thread and spools the entries of the routed identifiers."""

    def __init__(
        self,
        name: str,
        spool: Spool,
        routes: Mapping[str, str],
        clock: Clock,
        *,
        journalctl: str = "journalctl",
        args: Sequence[str] = (),
        start_at: str = "end",
        metrics: ReceiverMetrics | None = None,
    ) -> None:
        self.name = name
        self.spool = spool
        self._routes = dict(routes)
        self._clock = clock
        self._journalctl = journalctl
        self._args = list(args)
        self._start_at = start_at
        self.metrics = metrics or ReceiverMetrics()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._proc_lock = threading.Lock()
        self._skip: dict[str, Cursor] = {}  # per route: entries up to this cursor are in its spool already
        self._position: Cursor | None = None  # where journalctl (re)starts, inclusive
        self.entries = 0

    # -- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self.spool.open()
        for route in self.spool.routes:
            text = self.spool.last_marker(route, JOURNAL_TAG)
            cursor = Cursor.parse(text) if text else None
            if cursor is not None:
                self._skip[route] = cursor
                if self._position is None or cursor.before(self._position):
                    self._position = cursor
        self._thread = threading.Thread(target=self._run, name=f"pii-guard-journal-{self.name}", daemon=True)
        self._thread.start()
        log.info("journal source started", extra={"receiver": self.name,
                                                  "cursor": self._position.text if self._position else "none"})

    def stop(self) -> None:
        self._stop.set()
        with self._proc_lock:
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.spool.close()

    def command(self) -> list[str]:
        cmd = [self._journalctl, "--output=json", "--follow", "--no-pager", "--all", "--quiet",
               "--output-fields=" + ",".join(FIELDS)]
        # --follow alone shows only the last 10 entries, even after a cursor: --no-tail shows all of them
        if self._position is not None:
            cmd += ["--no-tail", "--cursor=" + self._position.text]
        else:
            cmd.append("--no-tail" if self._start_at == "beginning" else "--lines=0")
        cmd += [f"--identifier={tag}" for tag in sorted(self._routes)]
        return cmd + self._args

    # -- reading -------------------------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            cmd = self.command()
            try:
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
            except OSError as exc:
                log.error("journal source %s: cannot run %s: %s", self.name, self._journalctl, exc)
                failures += 1
                self._stop.wait(RESTART_S[min(failures, len(RESTART_S)) - 1])
                continue
            with self._proc_lock:
                self._proc = proc
            if self._stop.is_set():
                proc.terminate()
            got = self._follow(proc)
            code = proc.wait()
            if self._stop.is_set():
                break
            failures = 0 if got else failures + 1
            log.error("journal source %s: journalctl ended (exit code %s), restarting", self.name, code)
            self._stop.wait(RESTART_S[min(max(failures, 1), len(RESTART_S)) - 1])

    def _follow(self, proc: subprocess.Popen[bytes]) -> int:
        """Read journalctl's output until it ends (or is terminated); return how many entries it gave."""
        assert proc.stdout is not None
        assert proc.stderr is not None
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        os.set_blocking(out_fd, False)
        os.set_blocking(err_fd, False)
        selector = selectors.DefaultSelector()
        selector.register(out_fd, selectors.EVENT_READ)
        selector.register(err_fd, selectors.EVENT_READ)
        pending = b""
        errors = b""
        got = 0
        open_fds = 2
        try:
            while open_fds:
                for key, _ in selector.select(timeout=1.0):
                    try:
                        data = os.read(key.fd, READ_BYTES)
                    except BlockingIOError:
                        continue
                    if not data:
                        selector.unregister(key.fd)
                        open_fds -= 1
                        continue
                    if key.fd == err_fd:
                        errors = self._log_errors(errors + data)
                        continue
                    data = pending + data
                    cut = data.rfind(b"\n") + 1
                    pending = data[cut:]
                    if cut:
                        got += self._take(data[:cut].splitlines())
        finally:
            selector.close()
            proc.stdout.close()
            proc.stderr.close()
        if errors.strip():
            log.error("journalctl: %s", errors.decode("utf-8", "replace").strip())
        return got

    def _log_errors(self, data: bytes) -> bytes:
        *lines, rest = data.split(b"\n")
        for line in lines:
            if line.strip():
                log.error("journalctl: %s", line.decode("utf-8", "replace"))
        return rest

    def _take(self, raw_lines: list[bytes]) -> int:
        """Spool the entries of complete output lines, with the batch's last cursor."""
        lines: dict[str, list[bytes]] = {}
        last: Cursor | None = None
        taken = 0
        for raw in raw_lines:
            try:
                entry = orjson.loads(raw)
            except orjson.JSONDecodeError:
                log.warning("journal source %s: not a JSON entry: %.200r", self.name, raw)
                continue
            cursor = Cursor.parse(str(entry.get("__CURSOR", "")))
            if cursor is None:
                continue
            last = cursor
            if self._position is not None and cursor.text == self._position.text:
                continue  # --cursor is inclusive: this one was spooled before
            made = self._entry_line(entry)
            if made is None:
                continue
            route, line = made
            skip = self._skip.get(route)
            if skip is not None:
                if not skip.before(cursor):
                    continue  # in the spool already (a batch that reached some files before a crash)
                del self._skip[route]
            lines.setdefault(route, []).append(line)
            taken += 1
        if last is None:
            return 0
        # a file still ahead of `last` (it got further before a crash) keeps its own, later cursor
        self._skip = {route: c for route, c in self._skip.items() if last.before(c)}
        trailer = marker_line(int(self._clock.now() * 1_000_000), JOURNAL_TAG, last.text)
        self.spool.write(lines, trailer=trailer, trailer_routes=[r for r in self.spool.routes if r not in self._skip],
                         block=True, stop=self._stop)
        self._position = last
        self.entries += taken
        if taken:
            self.metrics.received(self.name, "journal", taken)
        self.metrics.backlog(self.name, self.spool.backlog)
        return taken

    def _entry_line(self, entry: dict[str, Any]) -> tuple[str, bytes] | None:
        ident = _text(entry.get("SYSLOG_IDENTIFIER")) or _text(entry.get("_COMM"))
        route = self._routes.get(ident.decode("utf-8", "replace")) if ident else None
        if route is None or ident is None:
            self.metrics.dropped(self.name, "journal", "unrouted", 1)
            return None
        message = _text(entry.get("MESSAGE"))
        if message is None:
            self.metrics.dropped(self.name, "journal", "no_message", 1)
            return None
        try:
            stamp = rfc3339(int(entry.get("__REALTIME_TIMESTAMP", "0"))).encode()
        except (TypeError, ValueError):
            stamp = rfc3339(int(self._clock.now() * 1_000_000)).encode()
        host = (_text(entry.get("_HOSTNAME")) or b"localhost").replace(b" ", b"_")
        pid = _text(entry.get("SYSLOG_PID")) or _text(entry.get("_PID"))
        return route, spool_line(stamp, host, ident.replace(b" ", b"_"), pid if pid and pid.isdigit() else None,
                            message)
