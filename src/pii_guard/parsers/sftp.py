"""OpenSSH sftp-server / internal-sftp (`-l INFO` or `VERBOSE`) and sshd logins → access events
(FORMATS.md §5 and §11).

The file lines (`open`, `close`, `remove` ...) carry neither user nor client address: those come from the
process's `session opened for local user U from [IP]` line and are joined by pid, in a bounded map. A file
line whose session is unknown (the log starts mid-session, or the session was evicted) still becomes an event,
with no user: an access is never dropped for want of context.

A transfer is one event, at `close`, where the byte counts are; the open flags decide the direction of an
empty transfer. Errors are separate `sent status <text>` lines without a path, so a request that can fail
(`open`, `remove`, `rename`, `mkdir` ...) is held until the process's next line. `sent status` right after an
`open` means the open failed. After the others it is the request's failure only if the session logs at
VERBOSE (it then logs `stat`/`realpath` too, so no unlogged request sits in between); at INFO an unlogged
`stat` of the client's next command may be what failed, so the event says outcome "unknown" with the status
as its error code. Any other next line means success.

Two layouts: syslog (both rsyslog stamps, via `SyslogFraming`), and `layout: bare` for `sshd -E <file>`,
which writes sshd's own messages without stamp, host or tag (and no sftp lines: internal-sftp still logs to
syslog). Bare lines take the file's last-write time (`reference_time`) as their time, the best there is, and
say so in `pii.time_from: file` (the store then de-duplicates them on their id alone).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Final, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from pii_guard.model import (
    CREATE,
    DELETE,
    FAILURE,
    LOGIN,
    READ,
    RENAME,
    SUCCESS,
    TIME_FROM,
    UNKNOWN,
    WRITE,
    AccessEvent,
)
from pii_guard.parsers.base import NOTHING, Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.syslog import SyslogFraming
from pii_guard.parsers.timeparse import TimestampError

_SFTP_TAGS: Final = frozenset({"sftp-server", "internal-sftp"})

# Paths are double-quoted without escaping: greedy groups run to the last quote before the fixed suffix.
_SESSION_OPENED: Final = re.compile(r"session opened for local user (.*) from \[(.*)\]\Z")
_OPEN: Final = re.compile(r'open "(.*)" flags (\S*) mode \d+\Z')
_CLOSE: Final = re.compile(r'close "(.*)" bytes read (\d+) written (\d+)\Z')
_ONE_PATH: Final = re.compile(r'\S+ name "(.*)"(?: mode \d+)?\Z')
_TWO_PATHS: Final = re.compile(r'\S+ old "(.*)" new "(.*)"\Z')
_STATUS_PREFIX: Final = "sent status "
# First words that sftp-server logs at VERBOSE only: a session showing one logs every path request.
_VERBOSE_WORDS: Final = frozenset({"received", "realpath", "stat", "lstat", "users-groups-by-id"})
_NOT_ERRORS: Final = frozenset({"Success", "End of file"})  # logged too at DEBUG levels

_ACCEPTED: Final = re.compile(r"Accepted (\S+) for (.+?) from (\S+) port (\d+)\b")
_FAILED: Final = re.compile(r"Failed (\S+) for (?:invalid user )?(.*?) from (\S+) port (\d+)\b")
_INVALID: Final = re.compile(r"Invalid user (.*?) from (\S+) port (\d+)\b")
_NOT_ALLOWED: Final = re.compile(r"User (.+?) (?:from (\S+) )?not allowed because (.+)\Z")
_CONNECTION: Final = re.compile(r"Connection from (\S+) port (\d+) on ")


class SftpOptions(BaseModel):
    """Layout and memory bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layout: Literal["syslog", "bare"] = Field(
        default="syslog", description="syslog file, or bare messages as written by `sshd -E <file>`"
    )
    max_sessions: int = Field(default=50_000, ge=1, description="sftp sessions remembered (oldest evicted)")
    max_open_files: int = Field(default=100_000, ge=1, description="open files whose flags are remembered")


class _Session:
    """Who a sftp process works for; `verbose` once it logged a VERBOSE-only line."""

    __slots__ = ("ip", "user", "verbose")

    def __init__(self, user: str, ip: str | None) -> None:
        self.user = user
        self.ip = ip
        self.verbose = False


class _Line(NamedTuple):
    """Where a message came from."""

    offset: int
    text: str
    time_us: int
    host: str | None
    pid: int | None


class _Request(NamedTuple):
    """A request waiting for the process's next line, which may be its `sent status`."""

    at: _Line
    action: str
    command: str
    path: str
    target: str | None
    flags: str | None  # set for an open
    user: str | None
    ip: str | None


@lru_cache(maxsize=4096)
def _ip(text: str) -> str | None:
    """The address in canonical form, or None for what is not one (`UNKNOWN`, a host name)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class SftpParser(Parser):
    """sftp-server/internal-sftp file operations joined to their session by pid; sshd logins."""

    name = "sftp"
    dataset = "openssh.sftp"
    description = "OpenSSH sftp-server/internal-sftp (-l INFO) and sshd login lines, syslog-wrapped"
    Options = SftpOptions
    needs_timezone = True  # traditional syslog stamps (older Debian, syslog-ng) have no zone
    idle_flush_s = 0.5  # a held remove/rename waits a moment for the `sent status` that may follow it

    def __init__(self, context: SourceContext, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        opts = self.options
        assert isinstance(opts, SftpOptions)
        self._opts = opts
        self._framing = SyslogFraming(context.tz, context.reference_time)
        self._bare_time_us = int(context.reference_time * 1_000_000)
        self._bare = opts.layout == "bare"
        self._sessions: dict[int | None, _Session] = {}
        self._open: dict[int | None, dict[str, str]] = {}  # pid → path → open flags
        self._open_count = 0
        self._waiting: dict[int | None, _Request] = {}
        self._connections: dict[int, tuple[str | None, int]] = {}  # sshd pid → client ip, port
        self.evicted_sessions = 0  # sessions forgotten to stay within max_sessions
        self.evicted_open_files = 0

    # -- the Parser interface -------------------------------------------------------------------------

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        if self._bare:
            at = _Line(offset, line, self._bare_time_us, self.context.host, None)
            return self._sshd(at, line) or self._sftp(at, line)
        try:
            framed = self._framing.split(line)
        except TimestampError as exc:
            return (ParseFailure(offset, str(exc), line),)
        at = _Line(offset, line, framed.time_us, framed.host or self.context.host, framed.pid)
        if framed.tag in _SFTP_TAGS:
            return self._sftp(at, framed.message)
        if framed.tag == "sshd":
            return self._sshd(at, framed.message)
        return NOTHING

    def flush(self) -> Sequence[Outcome]:
        out: list[Outcome] = []
        for request in self._waiting.values():
            out.extend(self._settle(request, None))
        self._waiting.clear()
        return out

    def snapshot(self) -> Any:
        """Sessions (who a sftp process works for), open files' flags and sshd connections: saved with the
        checkpoint so transfers after a daemon restart still carry their user and client IP."""
        return {
            "sessions": [[pid, s.user, s.ip, s.verbose] for pid, s in self._sessions.items()],
            "open": [[pid, path, flags] for pid, files in self._open.items() for path, flags in files.items()],
            "connections": [[pid, ip, port] for pid, (ip, port) in self._connections.items()],
        }

    def restore(self, state: Any) -> None:
        for pid, user, ip, verbose in state.get("sessions", ()):
            session = _Session(user, ip)
            session.verbose = bool(verbose)
            self._sessions[pid] = session
        for pid, path, flags in state.get("open", ()):
            self._open.setdefault(pid, {})[path] = flags
            self._open_count += 1
        for pid, ip, port in state.get("connections", ()):
            self._connections[int(pid)] = (ip, int(port))

    def pending_offset(self) -> int | None:
        """The earliest held remove/rename/mkdir. A held open is left out: it yields an event only if the
        very next line is its error, and pinning the checkpoint for a whole transfer would replay much more
        than it could save."""
        offsets = [r.at.offset for r in self._waiting.values() if r.flags is None]
        return min(offsets) if offsets else None

    # -- sftp-server ----------------------------------------------------------------------------------

    def _sftp(self, at: _Line, message: str) -> Sequence[Outcome]:
        word = message.partition(" ")[0]
        out: list[Outcome] = []
        request = self._waiting.pop(at.pid, None)
        if request is not None:
            if word == "sent" and message.startswith(_STATUS_PREFIX):
                status = message[len(_STATUS_PREFIX) :]
                return self._settle(request, None if status in _NOT_ERRORS else status)
            out.extend(self._settle(request, None))
        if word == "open":
            out.extend(self._on_open(at, message))
        elif word == "close":
            out.extend(self._on_close(at, message))
        elif word in ("remove", "rmdir", "mkdir", "rename", "posix-rename", "symlink", "hardlink"):
            out.extend(self._on_path_request(at, word, message))
        elif word == "session":
            self._on_session(at, message)
        elif word in _VERBOSE_WORDS:
            session = self._sessions.get(at.pid)
            if session is not None:
                session.verbose = True
        return out

    def _on_session(self, at: _Line, message: str) -> None:
        pid = at.pid
        if message.startswith("session closed"):
            self._sessions.pop(pid, None)
            self._open_count -= len(self._open.pop(pid, {}))
            return
        m = _SESSION_OPENED.match(message)
        if m is None:
            return
        self._sessions.pop(pid, None)  # a reused pid starts over, at the end of the eviction order
        self._sessions[pid] = _Session(m.group(1), _ip(m.group(2)))
        if len(self._sessions) > self._opts.max_sessions:
            oldest = next(iter(self._sessions))
            del self._sessions[oldest]
            self._open_count -= len(self._open.pop(oldest, {}))
            self.evicted_sessions += 1

    def _on_open(self, at: _Line, message: str) -> Sequence[Outcome]:
        m = _OPEN.match(message)
        if m is None:
            return NOTHING
        path, flags = m.group(1), m.group(2)
        files = self._open.setdefault(at.pid, {})
        if path not in files:
            self._open_count += 1
        files[path] = flags
        if self._open_count > self._opts.max_open_files:
            oldest = next(iter(self._open))
            self._open_count -= len(self._open.pop(oldest))
            self.evicted_open_files += 1
        action = WRITE if "WRITE" in flags else READ
        return self._wait(self._request(at, action, "open", path, None, flags))

    def _on_close(self, at: _Line, message: str) -> Sequence[Outcome]:
        m = _CLOSE.match(message)
        if m is None:
            return NOTHING
        path, read, written = m.group(1), int(m.group(2)), int(m.group(3))
        files = self._open.get(at.pid)
        flags = None
        if files is not None:
            flags = files.pop(path, None)
            if flags is not None:
                self._open_count -= 1
            if not files:
                del self._open[at.pid]
        if written > 0:
            action, size = WRITE, written
        elif read > 0:
            action, size = READ, read
        else:
            action, size = (WRITE if flags is not None and "READ" not in flags else READ), 0
        request = self._request(at, action, "close", path, None, flags)
        return (self._event(request, SUCCESS, None, size),)

    def _on_path_request(self, at: _Line, word: str, message: str) -> Sequence[Outcome]:
        if word in ("remove", "rmdir", "mkdir"):
            m = _ONE_PATH.match(message)
            if m is None:
                return NOTHING
            path, target = m.group(1), None
            action = CREATE if word == "mkdir" else DELETE
        else:
            m = _TWO_PATHS.match(message)
            if m is None:
                return NOTHING
            if word in ("symlink", "hardlink"):  # the new name is what appears
                path, target, action = m.group(2), m.group(1), CREATE
            else:
                path, target, action = m.group(1), m.group(2), RENAME
        return self._wait(self._request(at, action, word, path, target, None))

    def _request(
        self, at: _Line, action: str, command: str, path: str, target: str | None, flags: str | None
    ) -> _Request:
        session = self._sessions.get(at.pid)
        if session is None:
            return _Request(at, action, command, path, target, flags, None, None)
        return _Request(at, action, command, path, target, flags, session.user, session.ip)

    def _wait(self, request: _Request) -> Sequence[Outcome]:
        """Hold the request until the process's next line; bounded like the sessions (the oldest held
        request is then settled as it stands)."""
        self._waiting[request.at.pid] = request
        if len(self._waiting) > self._opts.max_sessions:
            return self._settle(self._waiting.pop(next(iter(self._waiting))), None)
        return NOTHING

    def _settle(self, request: _Request, error: str | None) -> Sequence[Outcome]:
        """A held request ends: an open yields an event only when it failed."""
        if error is None:
            if request.flags is not None:
                return NOTHING
            return (self._event(request, SUCCESS, None, None),)
        if request.flags is not None:
            files = self._open.get(request.at.pid)
            if files is not None and files.pop(request.path, None) is not None:
                self._open_count -= 1
            return (self._event(request, FAILURE, error, None),)
        session = self._sessions.get(request.at.pid)
        outcome = FAILURE if session is not None and session.verbose else UNKNOWN
        return (self._event(request, outcome, error, None),)

    def _event(self, request: _Request, outcome: str, error: str | None, size: int | None) -> AccessEvent:
        at = request.at
        fields: dict[str, Any] = {"file.path": request.path}
        if request.target is not None:
            fields["file.target_path"] = request.target
        if at.pid is not None:
            fields["process.pid"] = at.pid
        if self._bare:
            fields[TIME_FROM] = "file"
        return AccessEvent(  # positional: this runs per event
            self.ids.make(at.offset, at.text),
            at.time_us,
            self.dataset,
            request.action,
            outcome,
            request.user,
            request.ip,
            None,
            at.host,
            "file:" + request.path,
            None,
            size,
            request.command,
            None,
            at.text,
            error,
            (),
            fields,
            at.offset,
        )

    # -- sshd -----------------------------------------------------------------------------------------

    def _sshd(self, at: _Line, message: str) -> Sequence[Outcome]:
        """Logins: `Accepted`, `Failed`, `Invalid user`, `User ... not allowed because ...`."""
        first = message[:1]
        if first == "A" and message.startswith("Accepted "):
            m = _ACCEPTED.match(message)
            if m is not None:
                return (self._login(at, SUCCESS, m.group(2), m.group(3), m.group(4), m.group(1), None),)
        elif first == "F" and message.startswith("Failed "):
            m = _FAILED.match(message)
            if m is not None:
                error = "invalid user" if " for invalid user " in message else "bad " + m.group(1)
                return (self._login(at, FAILURE, m.group(2), m.group(3), m.group(4), m.group(1), error),)
        elif first == "I" and message.startswith("Invalid user "):
            m = _INVALID.match(message)
            if m is not None:
                return (self._login(at, FAILURE, m.group(1), m.group(2), m.group(3), None, "invalid user"),)
        elif first == "U" and message.startswith("User "):
            m = _NOT_ALLOWED.match(message)
            if m is not None:
                ip: str | None = m.group(2)
                port: int | None = None
                if ip is None and at.pid is not None:
                    ip, port = self._connections.get(at.pid, (None, None))
                return (self._login(at, FAILURE, m.group(1), ip, port, None, "not allowed: " + m.group(3)),)
        elif first == "C" and message.startswith("Connection from ") and at.pid is not None:
            m = _CONNECTION.match(message)
            if m is not None:
                self._connections[at.pid] = (_ip(m.group(1)), int(m.group(2)))
                if len(self._connections) > self._opts.max_sessions:
                    del self._connections[next(iter(self._connections))]
        return NOTHING

    def _login(
        self,
        at: _Line,
        outcome: str,
        user: str,
        ip: str | None,
        port: str | int | None,
        method: str | None,
        error: str | None,
    ) -> AccessEvent:
        fields: dict[str, Any] = {} if at.pid is None else {"process.pid": at.pid}
        if self._bare:
            fields[TIME_FROM] = "file"
        return AccessEvent(
            id=self.ids.make(at.offset, at.text),
            time_us=at.time_us,
            dataset=self.dataset,
            action=LOGIN,
            outcome=outcome,
            user=user or None,
            source_ip=None if ip is None else _ip(ip),
            source_port=None if port is None else int(port),
            host=at.host,
            command=method or "sshd",
            original=at.text,
            error_code=error,
            fields=fields,
            offset=at.offset,
        )
