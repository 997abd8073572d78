r"""OpenSSH sftp-server / internal-sftp (`-l INFO` or `VERBOSE`) and sshd logins → access events
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
as its error code. One case is told apart: `put` stats its target before it opens it, and a new file's stat
says `No such file`, so that status followed by an `open` that creates another file is the upload's, and the
request before it worked (a remove, mkdir, rename or symlink followed by an upload is a common batch). Any other
next line means success.

`set "<path>" mode 0600` (chmod) and `set "<path>" owner N group N` (chown, chgrp) are permission changes;
`size` and `modtime` are not. One setstat logs a line per attribute, then one status for them all.

sshd: `Accepted`/`Failed ...` lines are logins; an `Invalid user X from IP port P` line is a failed logon, and
the `Failed ... for invalid user X from IP port P` that follows on the same connection is the same attempt
(a further one is another).

A transfer whose close is never logged is still reported, once: a client that drops the connection
mid-transfer makes sftp-server log `forced close "..." bytes read N written M` (an event with the bytes moved
so far, command `forced close`); a process killed outright (server crash, `kill -9`) logs nothing more, so
its still-open files become events without a volume (command `open`, outcome success: the open worked) when
its `session closed` line comes, when its pid starts a new session, when the file is evicted to stay within
`max_open_files` (its close, should it come later, is then dropped), and at the end of the input (`finish`:
parse, ingest, replay). An idle `flush` in the daemon never does this: the transfer may still be under way.

Nor may it wait forever: sshd killed with its session, a dropped connection or a reboot can leave a transfer
whose process never logs again, and a retired file's open transfers may never be closed in a later file. A
file open for `open_transfer_timeout` (default 6h) with no close is reported anyway, once: direction and path
from its open (READ a read, WRITE a write), no volume (`pii.bytes` and `pii.bytes_at_least` unset: nothing was
counted), command `open`, outcome "unknown" (not seen to finish, unlike a process seen to end, above), at the
open's time. The limit runs in the log's event time, the newest stamp of any line of the file (other programs'
too) and of the files before it whose open state it inherited, so a replay of old logs reports what live
reading did. A close that comes later is dropped, as after an eviction: the default leaves hours for a big
download over a slow link (21 GB at 1 MB/s) and still reports a lost close the same working day. The newest
time and the opens already reported are saved with the state (`snapshot`), so a restart reports nothing
twice. A carried-over state that no later file takes has no line to tell the time by: the daemon moves its
event time on by its own clock instead (`elapse`).

OpenSSH logs every message through `strnvis(VIS_CSTYLE|VIS_NL|VIS_TAB|VIS_OCTAL)` (`sshd -E`:
`VIS_SAFE|VIS_OCTAL`): bytes outside printable ASCII become `\ooo` octal (`naïve` -> `na\303\257ve`),
control characters `\t`, `\n` ..., and a backslash `\\`; a double quote is left as it is. Paths and user
names are decoded back (`unvis`) before they become `pii.object` or `user.name`.

Where the file lines go, and how often they are escaped, checked on Debian 12's OpenSSH 9.2p1 (real-server
tests in tests/realservers/test_sftp.py): the sftp code always logs by itself through syslog(3), escaped
once, under its own name. `internal-sftp -l INFO` in a ChrootDirectory logs as `internal-sftp[pid]` to the
chroot's /dev/log (nothing goes through the monitor's mm_log_handler: sftp_server_main's log_init resets
the log handler; without a /dev/log in the chroot the lines are lost), whether sshd
logs to syslog or to `sshd -E <file>` at INFO or VERBOSE; `/usr/lib/openssh/sftp-server -l INFO` without a
chroot logs as `sftp-server[pid]`. No `sshd -E` file holds a sftp line, and the file lines are never tagged
`sshd`. Only sshd's preauth messages are escaped twice (the `[preauth]` lines, none of them an event). So a
path is decoded exactly once: `\\303\\251` is a real backslash followed by digits, never a doubled `é`.
A quote in a name is not escaped: the greedy patterns take the fixed suffix at the end of the line, so
`x" flags READ mode 0666.txt` is one name; a rename whose names hold `" new "` is split at the last `" new "`
after which an absolute path starts (OpenSSH's client sends absolute paths), else at the last one.

syslog(3) gets at most 500 characters of a message (`"%.500s"`, after escaping). A cut open, close or other
line that no longer matches is a parse failure (`_not_understood`). A cut close can still match when the cut
falls inside the written count (`written 5000` logged as `written 50`, exactly 500 characters: the real
server does this for an upload to a path of 468 characters, whose open is cut too): a close of exactly 500
characters with a nonzero written count is a write of unknown volume, with `pii.bytes_at_least` the count
left. `written 0` and a read count (followed by ` written`) cannot lose digits unseen.

Two layouts: syslog (both rsyslog stamps, via `SyslogFraming`), and `layout: bare` for `sshd -E <file>`,
which writes sshd's own messages without stamp, host or tag (and no sftp lines, see above). Bare lines take
the file's last-write time (`reference_time`) as their time, the best there is, and say so in
`pii.time_from: file` (the store then de-duplicates them on their id alone).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Final, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from pii_guard.duration import DurationUs
from pii_guard.model import (
    CREATE,
    DELETE,
    FAILURE,
    LOGIN,
    PERMISSION,
    READ,
    RENAME,
    SUCCESS,
    TIME_FROM,
    UNKNOWN,
    WRITE,
    AccessEvent,
)
from pii_guard.parsers.base import NOTHING, Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.normalize import file_object
from pii_guard.parsers.syslog import SyslogFraming
from pii_guard.parsers.timeparse import TimestampError

_SFTP_TAGS: Final = frozenset({"sftp-server", "internal-sftp"})
# OpenSSH 9.8 split sshd: a connection's messages are tagged `sshd-session` (10.0 adds `sshd-auth` for the
# pre-authentication process); their text is the same
_SSHD_TAGS: Final = frozenset({"sshd", "sshd-session", "sshd-auth"})

# Paths are double-quoted and a quote inside is not escaped: greedy groups run to the last quote before the
# fixed suffix.
_SESSION_OPENED: Final = re.compile(r"session opened for local user (.*) from \[(.*)\]\Z")
_OPEN: Final = re.compile(r'open "(.*)" flags (\S*) mode \d+\Z')
_CLOSE: Final = re.compile(r'close "(.*)" bytes read (\d+) written (\d+)\Z')
_ONE_PATH: Final = re.compile(r'\S+ name "(.*)"(?: mode \d+)?\Z')
_TWO_PATHS: Final = re.compile(r'\S+ old "(.*" new ".*)"\Z')
_NEW_NAME: Final = '" new "'
# setstat/fsetstat log one line per attribute, in this order, then one status for them all
_SET: Final = re.compile(r'set "(.*)" (?:size \d+|mode (\d+)|modtime \S+|owner (\d+) group (\d+))\Z')
# OpenSSH hands syslog(3) at most 500 characters of a message (`syslog(pri, "%.500s", msg)` in log.c), after
# strnvis: a message of exactly that length may have been cut.
_SYSLOG_CUT: Final = 500
_STATUS_PREFIX: Final = "sent status "
# First words that sftp-server logs at VERBOSE only: a session showing one logs every path request.
_VERBOSE_WORDS: Final = frozenset({"received", "realpath", "stat", "lstat", "users-groups-by-id"})
_NOT_ERRORS: Final = frozenset({"Success", "End of file"})  # logged too at DEBUG levels
_NO_SUCH_FILE: Final = "No such file"  # also the status of the stat `put` makes of a new file before its open
_HOUR_US: Final = 3_600_000_000
_NEVER: Final = 1 << 62  # a check time no log reaches
_RECHECK_US: Final = 60_000_000  # open files are looked over for expiry at most once a minute of event time

_ACCEPTED: Final = re.compile(r"Accepted (\S+) for (.+?) from (\S+) port (\d+)\b")
_FAILED: Final = re.compile(r"Failed (\S+) for (?:invalid user )?(.*?) from (\S+) port (\d+)\b")
_INVALID: Final = re.compile(r"Invalid user (.*?) from (\S+) port (\d+)\b")
_NOT_ALLOWED: Final = re.compile(r"User (.+?) (?:from (\S+) )?not allowed because (.+)\Z")
_CONNECTION: Final = re.compile(r"Connection from (\S+) port (\d+) on ")

# vis(3) escapes OpenSSH's strnvis can write (octal first digit 0-3: one byte). `\s` and `\0` are in the
# C-style set but never written here (a space is printable, a C string has no NUL); the `\M-x` / `\^x` forms
# are not written with VIS_OCTAL. vis doubles every literal backslash, so decoding is unambiguous; anything
# else after a backslash is left as written.
_VIS_ESCAPE: Final = re.compile(rb"\\([0-3][0-7]{2}|[\\abfnrstv])")
_VIS_CSTYLE: Final = {
    b"\\": b"\\", b"a": b"\a", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"s": b" ", b"t": b"\t",
    b"v": b"\v",
}  # fmt: skip


def _unvis_one(m: re.Match[bytes]) -> bytes:
    code = m.group(1)
    return bytes((int(code, 8),)) if len(code) == 3 else _VIS_CSTYLE[code]


def unvis(text: str) -> str:
    """A name as OpenSSH logged it -> the name: vis escapes to bytes, the bytes read as UTF-8. Bytes that are
    not UTF-8 (a Latin-1 file name) come out as `\\xNN`, as pii-guard reads undecodable bytes of any log line:
    lone surrogates (surrogateescape) would be lossless but cannot be written to JSON or the store."""
    if "\\" not in text:
        return text
    raw = _VIS_ESCAPE.sub(_unvis_one, text.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "backslashreplace")


def split_old_new(both: str) -> tuple[str, str]:
    """`<old>" new "<new>` of a rename, symlink or hardlink line -> (old, new), as logged (escaped). A quote in
    a name is not escaped, so a name may hold `" new "` itself: the split is at the last `" new "` after which
    an absolute path starts (OpenSSH's client sends absolute paths), else at the last one."""
    cut = both.rfind(_NEW_NAME)
    if both[cut + 7 : cut + 8] != "/":
        start = cut
        while (start := both.rfind(_NEW_NAME, 0, start)) >= 0:
            if both[start + 7 : start + 8] == "/":
                cut = start
                break
    return both[:cut], both[cut + 7 :]


class SftpOptions(BaseModel):
    """Layout and memory bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layout: Literal["syslog", "bare"] = Field(
        default="syslog", description="syslog file, or bare messages as written by `sshd -E <file>`"
    )
    max_sessions: int = Field(default=50_000, ge=1, description="sftp sessions remembered (oldest evicted)")
    max_open_files: int = Field(
        default=100_000, ge=1, description="open files remembered until their close (the oldest is reported early)"
    )
    open_transfer_timeout: DurationUs = Field(
        default=6 * _HOUR_US,
        gt=0,
        description="a file open this long in the log's event time without its close is reported anyway "
        "(outcome unknown, no volume; a close after that is dropped): 90s, 15m, 6h, 1d",
    )


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


def _open_action(flags: str) -> str:
    return WRITE if "WRITE" in flags else READ


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
    fields: dict[str, Any] | None = None  # more fields of its event (a permission's mode, owner and group)
    status: str | None = None  # `No such file` held to see whether the next line is an upload whose stat it was


def _saved_open(pid: int | None, r: _Request) -> list[Any]:
    """An open file as `snapshot` saves it: what reporting it without its close needs."""
    return [pid, r.path, r.flags, r.at.offset, r.at.text, r.at.time_us, r.at.host, r.user, r.ip]


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
        self._open: dict[int | None, dict[str, _Request]] = {}  # pid → path → its open, until the close
        self._open_count = 0
        # pid → paths whose open was reported at eviction: their close, if it comes, is not reported again
        self._reported: dict[int | None, set[str]] = {}
        self._reported_count = 0
        self._waiting: dict[int | None, _Request] = {}
        self._connections: dict[int, tuple[str | None, int]] = {}  # sshd pid → client ip, port
        # `Invalid user` reported, its connection (ip, port) → user: the first `Failed ... for invalid user` of
        # the same connection is the same attempt
        self._invalid: dict[tuple[str, str], str] = {}
        self._newest_us = 0  # event time: the newest line's stamp (or moved on by `elapse`)
        self._check_at_us = _NEVER  # no open file can be overdue before this event time
        self.evicted_sessions = 0  # sessions forgotten to stay within max_sessions
        self.evicted_open_files = 0  # open files reported before their close to stay within max_open_files

    # -- the Parser interface -------------------------------------------------------------------------

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        if self._bare:
            at = _Line(offset, line, self._bare_time_us, self.context.host, None)
            return self._sshd(at, line) or self._sftp(at, line)
        try:
            framed = self._framing.split(line)
        except TimestampError as exc:
            return (ParseFailure(offset, str(exc), line),)
        time_us = framed.time_us
        at = _Line(offset, line, time_us, framed.host or self.context.host, framed.pid)
        if framed.tag in _SFTP_TAGS:
            out = self._sftp(at, framed.message)
        elif framed.tag in _SSHD_TAGS:
            out = self._sshd(at, framed.message)
        else:
            out = NOTHING
        if time_us > self._newest_us:
            self._newest_us = time_us
            if time_us >= self._check_at_us:  # after the line: a close that is itself late still counts
                return [*out, *self._expire()]
        return out

    def flush(self) -> Sequence[Outcome]:
        out: list[Outcome] = []
        for request in self._waiting.values():
            out.extend(self._settle(request, request.status))
        self._waiting.clear()
        return out

    def finish(self) -> Sequence[Outcome]:
        """End of input: what `flush` settles, then every file still open, whose close will not be read."""
        out = list(self.flush())
        for pid in list(self._open):
            out.extend(self._report_open_files(pid))
        return out

    def elapse(self, silent_us: int) -> Sequence[Outcome]:
        """No line came for `silent_us` more (the daemon's clock, for a carried-over state that no later file
        has taken): event time moves on by that much, and the files open too long by then are reported."""
        if silent_us <= 0 or self._newest_us == 0:
            return NOTHING
        self._newest_us += silent_us
        return self._expire() if self._newest_us >= self._check_at_us else NOTHING

    def snapshot(self) -> Any:
        """Sessions (who a sftp process works for), open files (their open line, flags, user and IP), opens
        already reported (at eviction or past the time limit), sshd connections, `Invalid user` attempts
        reported (whose `Failed` line is still to come), and the event time reached:
        saved with the checkpoint so transfers after a daemon restart still carry their user and client IP, and
        an unclosed file is still reported once."""
        return {
            "sessions": [[pid, s.user, s.ip, s.verbose] for pid, s in self._sessions.items()],
            "open": [_saved_open(pid, r) for pid, files in self._open.items() for r in files.values()],
            "reported": [[pid, path] for pid, paths in self._reported.items() for path in paths],
            "connections": [[pid, ip, port] for pid, (ip, port) in self._connections.items()],
            "invalid": [[ip, port, user] for (ip, port), user in self._invalid.items()],
            "newest": self._newest_us,
        }

    def restore(self, state: Any) -> None:
        for pid, user, ip, verbose in state.get("sessions", ()):
            session = _Session(user, ip)
            session.verbose = bool(verbose)
            self._sessions[pid] = session
        for entry in state.get("open", ()):
            if len(entry) != 9:  # [pid, path, flags] of an older version: no line to report it from
                continue
            pid, path, flags, offset, text, time_us, host, user, ip = entry
            at = _Line(int(offset), text, int(time_us), host, pid)
            opened = _Request(at, _open_action(flags), "open", path, None, flags, user, ip)
            self._open.setdefault(pid, {})[path] = opened
            self._open_count += 1
            self._opened_at(at.time_us)
            self._newest_us = max(self._newest_us, at.time_us)  # a state saved before `newest` was
        for pid, path in state.get("reported", ()):
            self._remember_reported(pid, path)
        for pid, ip, port in state.get("connections", ()):
            self._connections[int(pid)] = (ip, int(port))
        for ip, port, user in state.get("invalid", ()):
            self._invalid[(ip, port)] = user
        self._newest_us = max(self._newest_us, int(state.get("newest", 0)))

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
        if word == "set":
            return self._on_set(at, message)
        request = self._waiting.pop(at.pid, None)
        if request is not None:
            if request.status is not None:  # a `No such file` that may be the next request's
                error = None if self._upload_follows(request, word, message) else request.status
                out.extend(self._settle(request, error))
            elif word == "sent" and message.startswith(_STATUS_PREFIX):
                return self._on_status(request, message[len(_STATUS_PREFIX) :])
            else:
                out.extend(self._settle(request, None))
        if word == "open":
            out.extend(self._on_open(at, message))
        elif word == "close":
            out.extend(self._on_close(at, message, "close", self._may_be_cut(message)))
        elif word == "forced" and message.startswith("forced close "):  # the client went away mid-transfer
            out.extend(self._on_close(at, message[7:], "forced close", self._may_be_cut(message)))
        elif word in ("remove", "rmdir", "mkdir", "rename", "posix-rename", "symlink", "hardlink"):
            out.extend(self._on_path_request(at, word, message))
        elif word == "session":
            out.extend(self._on_session(at, message))
        elif word in _VERBOSE_WORDS:
            session = self._sessions.get(at.pid)
            if session is not None:
                session.verbose = True
        return out

    def _on_status(self, request: _Request, status: str) -> Sequence[Outcome]:
        """The `sent status` right after a held request. At INFO, `No such file` after a request other than an
        open may be the reply to the client's next, unlogged request instead: `put` stats its target first,
        and a new file's stat says `No such file`. It waits for the next line: an open that creates another
        file means it was that stat's (the request worked)."""
        if status in _NOT_ERRORS:
            return self._settle(request, None)
        if status == _NO_SUCH_FILE and request.flags is None:
            session = self._sessions.get(request.at.pid)
            if session is None or not session.verbose:
                self._waiting[request.at.pid] = request._replace(status=status)
                return NOTHING
        return self._settle(request, status)

    @staticmethod
    def _upload_follows(request: _Request, word: str, message: str) -> bool:
        """The line after a held request's `No such file` opens another file to create it (`put`)."""
        if word != "open":
            return False
        m = _OPEN.match(message)
        return m is not None and "CREATE" in m.group(2) and unvis(m.group(1)) != request.path

    def _on_set(self, at: _Line, message: str) -> Sequence[Outcome]:
        """`set "<path>" mode 0600` (chmod), `... owner 1000 group 1000` (chown/chgrp): a permission change;
        `size` and `modtime` lines are not. One request logs a line per attribute and then its one status, so
        a line of the same path as the held permission change belongs to it."""
        m = _SET.match(message)
        held = self._waiting.pop(at.pid, None)
        if (
            held is not None and m is not None and held.command == "set" and held.status is None
            and held.path == unvis(m.group(1))
        ):  # fmt: skip
            self._waiting[at.pid] = held  # another attribute of the same request: its status comes last
            return NOTHING
        out: list[Outcome] = []
        if held is not None:
            out.extend(self._settle(held, held.status))
        if m is None:
            out.extend(self._not_understood(at, "set"))
            return out
        mode, uid, gid = m.group(2), m.group(3), m.group(4)
        if mode is None and uid is None:
            return out  # size, modtime: no permission change
        fields: dict[str, Any] = {"file.mode": mode} if mode is not None else {"file.uid": uid, "file.gid": gid}
        request = self._request(at, PERMISSION, "set", unvis(m.group(1)), None, None)
        out.extend(self._wait(request._replace(fields=fields)))
        return out

    def _on_session(self, at: _Line, message: str) -> Sequence[Outcome]:
        """`session opened` / `session closed`: either way the process's earlier files will not be closed any
        more (a reused pid is a new process), so those still open are reported now."""
        pid = at.pid
        if message.startswith("session closed"):
            self._sessions.pop(pid, None)
            return self._end_of_process(pid)
        m = _SESSION_OPENED.match(message)
        if m is None:
            return NOTHING
        out = self._end_of_process(pid)
        self._sessions.pop(pid, None)  # a reused pid starts over, at the end of the eviction order
        self._sessions[pid] = _Session(unvis(m.group(1)), _ip(m.group(2)))
        if len(self._sessions) > self._opts.max_sessions:
            del self._sessions[next(iter(self._sessions))]  # its open files stay: they carry user and IP
            self.evicted_sessions += 1
        return out

    def _end_of_process(self, pid: int | None) -> Sequence[Outcome]:
        reported = self._reported.pop(pid, None)
        if reported is not None:
            self._reported_count -= len(reported)
        return self._report_open_files(pid)

    def _on_open(self, at: _Line, message: str) -> Sequence[Outcome]:
        m = _OPEN.match(message)
        if m is None:
            return self._not_understood(at, "open")
        path, flags = unvis(m.group(1)), m.group(2)
        request = self._request(at, _open_action(flags), "open", path, None, flags)
        files = self._open.setdefault(at.pid, {})
        if path not in files:
            self._open_count += 1
        files[path] = request
        self._opened_at(at.time_us)
        reported = self._reported.get(at.pid)
        if reported is not None and path in reported:  # a new handle: its close is to be reported
            self._forget_reported(at.pid, path)
        out = list(self._wait(request))
        if self._open_count > self._opts.max_open_files:
            out.extend(self._evict_open_file())
        return out

    def _may_be_cut(self, message: str) -> bool:
        """A syslog message of exactly 500 characters: OpenSSH may have cut it there (`sshd -E` files hold
        no sftp-server lines)."""
        return not self._bare and len(message) == _SYSLOG_CUT

    def _on_close(self, at: _Line, message: str, command: str, cut: bool) -> Sequence[Outcome]:
        m = _CLOSE.match(message)
        if m is None:
            return self._not_understood(at, command)
        path, read, written = unvis(m.group(1)), int(m.group(2)), int(m.group(3))
        # A message cut at 500 characters that still matches ends inside the written count (a count has no
        # leading zero, so `written 0` is whole, and so is the read count before it): `written 5000` may be
        # logged as `written 50`. The upload's volume is then unknown, and at least the digits left.
        at_least = written if cut and written > 0 else None
        reported = self._reported.get(at.pid)
        if reported is not None and path in reported:  # reported at its open's eviction
            self._forget_reported(at.pid, path)
            return NOTHING
        opened = self._pop_open(at.pid, path)
        flags = opened.flags if opened is not None else None
        if written > 0:
            action, size = WRITE, written
        elif read > 0:
            action, size = READ, read
        else:
            action, size = (WRITE if flags is not None and "READ" not in flags else READ), 0
        request = self._request(at, action, command, path, None, flags)
        if at_least is not None:
            return (self._event(request, SUCCESS, None, None, at_least),)
        return (self._event(request, SUCCESS, None, size),)

    # -- open files without a close -------------------------------------------------------------------

    def _pop_open(self, pid: int | None, path: str) -> _Request | None:
        files = self._open.get(pid)
        if files is None:
            return None
        opened = files.pop(path, None)
        if opened is not None:
            self._open_count -= 1
        if not files:
            del self._open[pid]
        return opened

    def _report_open_files(self, pid: int | None) -> Sequence[Outcome]:
        """The files a process still has open when it is gone: each an access of unknown volume."""
        files = self._open.pop(pid, None)
        if not files:
            return NOTHING
        self._open_count -= len(files)
        return [self._event(opened, SUCCESS, None, None) for opened in files.values()]

    def _evict_open_file(self) -> Sequence[Outcome]:
        """Forget the oldest open file (of the process that opened files first) to stay within
        max_open_files: it is reported now, and its close, should it still come, is dropped. A file opened
        by the line just read is not: its next line still decides whether the open failed."""
        pid = next(iter(self._open))
        path, opened = next(iter(self._open[pid].items()))
        self._pop_open(pid, path)
        self.evicted_open_files += 1
        if self._waiting.get(pid) is opened:
            return NOTHING
        self._remember_reported(pid, path)
        return (self._event(opened, SUCCESS, None, None),)

    def _opened_at(self, time_us: int) -> None:
        """A file open since `time_us` is overdue once event time passes it by the limit."""
        due = time_us + self._opts.open_transfer_timeout
        if due < self._check_at_us:
            self._check_at_us = due

    def _expire(self) -> Sequence[Outcome]:
        """Report the files open for the time limit or longer by the newest event time, each once: like an
        evicted file, remembered as reported so that a close coming after all is dropped. Then the next time
        one can be overdue (at most once a minute of event time: a scan costs all open files)."""
        limit = self._opts.open_transfer_timeout
        due = [(pid, path) for pid, files in self._open.items() for path, opened in files.items()
               if self._newest_us - opened.at.time_us >= limit]  # fmt: skip
        out: list[Outcome] = []
        for pid, path in due:
            opened = self._pop_open(pid, path)
            assert opened is not None
            if self._waiting.get(pid) is opened:  # its status, should it come now, is not to be reported
                del self._waiting[pid]
            self._remember_reported(pid, path)
            out.append(self._event(opened, UNKNOWN, None, None))
        oldest = min((r.at.time_us for files in self._open.values() for r in files.values()), default=None)
        self._check_at_us = _NEVER if oldest is None else max(oldest + limit, self._newest_us + _RECHECK_US)
        return out

    def _remember_reported(self, pid: int | None, path: str) -> None:
        paths = self._reported.setdefault(pid, set())
        if path not in paths:
            paths.add(path)
            self._reported_count += 1
        while self._reported_count > self._opts.max_open_files:
            self._reported_count -= len(self._reported.pop(next(iter(self._reported))))

    def _forget_reported(self, pid: int | None, path: str) -> None:
        paths = self._reported[pid]
        paths.discard(path)
        self._reported_count -= 1
        if not paths:
            del self._reported[pid]

    def _on_path_request(self, at: _Line, word: str, message: str) -> Sequence[Outcome]:
        if word in ("remove", "rmdir", "mkdir"):
            m = _ONE_PATH.match(message)
            if m is None:
                return self._not_understood(at, word)
            path, target = unvis(m.group(1)), None
            action = CREATE if word == "mkdir" else DELETE
        else:
            m = _TWO_PATHS.match(message)
            if m is None:
                return self._not_understood(at, word)
            old, new = split_old_new(m.group(1))
            old, new = unvis(old), unvis(new)
            if word in ("symlink", "hardlink"):  # the new name is what appears
                path, target, action = new, old, CREATE
            else:
                path, target, action = old, new, RENAME
        return self._wait(self._request(at, action, word, path, target, None))

    @staticmethod
    def _not_understood(at: _Line, word: str) -> Sequence[Outcome]:
        """A file request whose message lacks its closing quote or its numbers: OpenSSH cuts a log message
        at about 500 characters, and every escaped byte of a name takes four (120 `é` are enough). Kept as a
        failure, since the access happened but its name and volume are lost."""
        reason = (
            f"sftp-server {word!r} message cut short or not understood (OpenSSH truncates messages of about "
            "500 characters: a long or heavily escaped file name)"
        )
        return (ParseFailure(at.offset, reason, at.text),)

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
            if files is not None and files.get(request.path) is request:
                self._pop_open(request.at.pid, request.path)
            return (self._event(request, FAILURE, error, None),)
        session = self._sessions.get(request.at.pid)
        outcome = FAILURE if session is not None and session.verbose else UNKNOWN
        return (self._event(request, outcome, error, None),)

    def _event(
        self, request: _Request, outcome: str, error: str | None, size: int | None, at_least: int | None = None
    ) -> AccessEvent:
        at = request.at
        fields: dict[str, Any] = {"file.path": request.path}
        if request.target is not None:
            fields["file.target_path"] = request.target
        if request.fields is not None:
            fields.update(request.fields)
        if at_least is not None:
            fields["pii.bytes_at_least"] = at_least
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
            file_object(request.path),
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
        """Logins: `Accepted`, `Failed` (not the first `Failed ... for invalid user` after its connection's
        `Invalid user`: the same attempt), `Invalid user`, `User ... not allowed because ...`."""
        first = message[:1]
        if first == "A" and message.startswith("Accepted "):
            m = _ACCEPTED.match(message)
            if m is not None:
                return (self._login(at, SUCCESS, m.group(2), m.group(3), m.group(4), m.group(1), None),)
        elif first == "F" and message.startswith("Failed "):
            m = _FAILED.match(message)
            if m is not None:
                invalid = " for invalid user " in message
                if invalid and self._invalid.get((m.group(3), m.group(4))) == m.group(2):
                    del self._invalid[(m.group(3), m.group(4))]
                    return NOTHING  # the attempt its `Invalid user` line reported
                error = "invalid user" if invalid else "bad " + m.group(1)
                return (self._login(at, FAILURE, m.group(2), m.group(3), m.group(4), m.group(1), error),)
        elif first == "I" and message.startswith("Invalid user "):
            m = _INVALID.match(message)
            if m is not None:
                self._invalid[(m.group(2), m.group(3))] = m.group(1)
                if len(self._invalid) > self._opts.max_sessions:
                    del self._invalid[next(iter(self._invalid))]
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
            user=unvis(user) or None,
            source_ip=None if ip is None else _ip(ip),
            source_port=None if port is None else int(port),
            host=at.host,
            command=method or "sshd",
            original=at.text,
            error_code=error,
            fields=fields,
            offset=at.offset,
        )
