"""Samba: vfs_full_audit lines (through syslog, or in smbd's own log) and smbd's auth_audit log.

vfs_full_audit logs VFS calls, not user actions: one smbclient `get` writes a dozen lines (stat-opens of the
share root and parent directories through `openat`, `close`s, one `pread_recv` per chunk). Only the
`create_file` of the file handle says what the user meant to do, through its access mask and disposition, so
that line becomes the read/write event and the rest are dropped. `renameat`, `unlinkat`, `mkdirat`, `connect`
and `disconnect` are actions in their own right. Every event is decided by its own line: the parser keeps no
state across lines for full_audit, so nothing is buffered and a checkpoint never waits.

So `create_file` must be in the share's `full_audit:success` and `full_audit:failure` lists: with only the
openat-level ops (the first session of the golden sample) downloads and uploads leave no event; renames,
deletes, mkdirs and connects still do. Read-chunk counts are not kept: pread_recv says nothing about bytes.

A failed logon writes no full_audit line at all; it is in smbd's debug log with
`log level = 1 auth_audit:3 auth_json_audit:3` (option `log: auth_audit`).

With `full_audit:syslog = false` the records go to smbd's debug log instead (its `log file`, or syslog tagged
`smbd` with `logging = syslog`), at level 1: each one a header `[2026/11/28 17:24:51.460440,  1]
../../source3/modules/vfs_full_audit.c:643(do_log)` and the record, indented, on the next line. The record's
time is the header's, local time without a zone (the source's timezone). The same source reads both forms
and ignores the rest of smbd's debug log (auth_audit and other messages may share the file).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal, NamedTuple

import orjson
from pydantic import BaseModel, ConfigDict, field_validator

from pii_guard.model import CREATE, DELETE, FAILURE, LOGIN, LOGOUT, PERMISSION, READ, RENAME, SUCCESS, WRITE
from pii_guard.model import AccessEvent as Event
from pii_guard.parsers.base import NOTHING, Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.syslog import SyslogFraming
from pii_guard.parsers.timeparse import MONTHS, EpochCache, TimestampError, fraction_us, local_epoch, zoned_epoch

TAG: Final = "smbd_audit"  # vfs_full_audit's fixed syslog ident (openlog("smbd_audit", ...)), no pid
SMBD_TAG: Final = "smbd"  # smbd's debug log through syslog (`logging = syslog`)

# Access-mask bits (MS-SMB2 2.2.13.1.1). The mask is logged as the client sent it, before generic mapping.
FILE_READ_DATA: Final = 0x1
FILE_WRITE_DATA: Final = 0x2
FILE_APPEND_DATA: Final = 0x4
FILE_WRITE_EA: Final = 0x10
FILE_EXECUTE: Final = 0x20
FILE_WRITE_ATTRIBUTES: Final = 0x100
DELETE_ACCESS: Final = 0x10000
WRITE_DAC: Final = 0x40000
WRITE_OWNER: Final = 0x80000
MAXIMUM_ALLOWED: Final = 0x2000000
GENERIC_ALL: Final = 0x10000000
GENERIC_EXECUTE: Final = 0x20000000
GENERIC_WRITE: Final = 0x40000000
GENERIC_READ: Final = 0x80000000

# MAXIMUM_ALLOWED grants whatever the ACL allows: the log cannot say more than "it could read".
_READ_BITS: Final = FILE_READ_DATA | FILE_EXECUTE | GENERIC_READ | GENERIC_EXECUTE | GENERIC_ALL | MAXIMUM_ALLOWED
_WRITE_BITS: Final = FILE_WRITE_DATA | FILE_APPEND_DATA | GENERIC_WRITE | GENERIC_ALL
_PERMISSION_BITS: Final = WRITE_DAC | WRITE_OWNER
# Dispositions that create or truncate: data is written whatever the mask says.
_WRITING_DISPOSITIONS: Final = frozenset({"create", "overwrite", "overwrite_if", "supersede"})

_PREFIX_ROLES: Final = {"%u": "user", "%I": "ip", "%m": "machine", "%S": "share"}
_ENOENT: Final = "No such file or directory"


def access_action(mask: int, is_dir: bool, disposition: str, ok: bool) -> str | None:
    """The user's intent behind a create_file, or None when the open is not an access to data.

    - directory opens are listings/stat-opens; a directory *create* is reported by `mkdirat` when it works,
      so only a failed one becomes an event here;
    - a DELETE-only open precedes both `unlinkat` and `renameat` (SMB renames need DELETE access), so a
      successful one says nothing until the next line does; a failed one is a refused delete;
    - attribute-only opens (0x80, 0x100 ...) read or touch metadata, not data.
    """
    if is_dir:
        if ok:
            return None
        return CREATE if disposition in _WRITING_DISPOSITIONS or disposition == "open_if" else READ
    if mask & _WRITE_BITS or disposition in _WRITING_DISPOSITIONS:
        return WRITE
    if mask & _READ_BITS:
        return READ
    if mask & _PERMISSION_BITS:
        return PERMISSION
    if mask & DELETE_ACCESS:
        return None if ok else DELETE
    return None


def split_rename(args: str) -> tuple[str, str]:
    """`old|new` where either path may hold a `|`. Samba 4.17 logs absolute paths, so a separator is a `|`
    followed by `/`; among several candidates the one whose halves share a parent directory wins (renames
    are nearly always within one directory), else the first."""
    candidates = [m.start() for m in re.finditer(r"\|(?=/)", args)]
    if not candidates:
        old, _, new = args.partition("|")
        return old, new
    if len(candidates) > 1:
        for pos in candidates:
            old, new = args[:pos], args[pos + 1 :]
            if old.rpartition("/")[0] == new.rpartition("/")[0]:
                return old, new
    pos = candidates[0]
    return args[:pos], args[pos + 1 :]


class SambaOptions(BaseModel):
    """`prefix` is the share's `full_audit:prefix` verbatim; `log` picks which of smbd's logs this source is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: str = "%u|%I|%m|%S"
    log: Literal["full_audit", "auth_audit"] = "full_audit"

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        parts = value.split("|")
        if "%u" not in parts:
            raise ValueError("full_audit prefix must contain %u as a field of its own (e.g. '%u|%I')")
        for role in _PREFIX_ROLES:
            if parts.count(role) > 1:
                raise ValueError(f"{role} appears twice in the full_audit prefix")
        return value


class _Prefix(NamedTuple):
    width: int  # how many leading fields the prefix takes
    user: int
    ip: int
    machine: int
    share: int

    @classmethod
    def compile(cls, prefix: str) -> _Prefix:
        parts = prefix.split("|")

        def index(role: str) -> int:
            return parts.index(role) if role in parts else -1

        return cls(len(parts), index("%u"), index("%I"), index("%m"), index("%S"))


class _Record(NamedTuple):
    """One full_audit line, split. `error` is the strerror text of a `fail (...)`, None for `ok`."""

    offset: int
    line: str
    time_us: int
    host: str | None
    user: str | None
    ip: str | None
    machine: str | None
    share: str | None
    op: str
    error: str | None
    args: str


def _clean_ip(ip: str) -> str | None:
    if not ip:
        return None
    return ip[7:] if ip.startswith("::ffff:") and "." in ip else ip


class SambaFullAuditParser(Parser):
    """vfs_full_audit lines in a syslog file (rsyslog RFC 3339 or traditional stamps) or in smbd's log."""

    name = "samba-full-audit"
    dataset = "samba.full_audit"
    description = (
        "Samba vfs_full_audit through syslog (tag smbd_audit) or in smbd's log file (full_audit:syslog = false), "
        "or smbd's auth_audit debug log"
    )
    Options = SambaOptions
    needs_timezone = True  # traditional syslog stamps and smbd's log-file headers have no zone

    def __init__(self, context: SourceContext, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        opts = self.options
        assert isinstance(opts, SambaOptions)
        self._prefix_text = opts.prefix
        self._prefix = _Prefix.compile(opts.prefix)
        self._debug_log = _SmbdDebugLog(context)
        self._audit_log = _FullAuditInDebugLog(self._debug_log)
        self._auth = _AuthAuditReader(self) if opts.log == "auth_audit" else None

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        if self._auth is not None:
            return self._auth.feed(offset, line)
        if not line.strip():
            return NOTHING
        if line[0] in _DEBUG_LOG_STARTS:  # smbd's own log file
            return self._from_debug_log(offset, line, _DebugText(line, self.context.host, None))
        try:
            framed = self._debug_log.syslog.split(line)
        except TimestampError as exc:
            return (ParseFailure(offset, str(exc), line),)
        if framed.tag == TAG:
            return self._parse(offset, line, framed.time_us, framed.host, framed.message, True)
        if framed.tag == SMBD_TAG:
            return self._from_debug_log(offset, line, _DebugText(framed.message, framed.host, framed.pid))
        return NOTHING

    def flush(self) -> Sequence[Outcome]:
        return self._auth.flush() if self._auth is not None else NOTHING

    def pending_offset(self) -> int | None:
        return self._auth.pending_offset() if self._auth is not None else None

    def snapshot(self) -> Any:
        """A debug-log header whose record is on a line not read yet: a restart between the two keeps its time."""
        return None if self._auth is not None else {"full_audit_headers": self._audit_log.held()}

    def carry_over(self) -> Any:
        """Nothing: a held header's record is in the old file, which is still read to its end."""
        return None

    def restore(self, state: Any) -> None:
        if self._auth is None:
            self._audit_log.hold(state.get("full_audit_headers", ()))

    def _from_debug_log(self, offset: int, line: str, text: _DebugText) -> Sequence[Outcome]:
        try:
            found = self._audit_log.record(text)
        except TimestampError as exc:
            return (ParseFailure(offset, str(exc), line),)
        if found is None:
            return NOTHING
        time_us, message, certain = found
        return self._parse(offset, line, time_us, text.host, message, certain)

    def _parse(
        self, offset: int, line: str, time_us: int, host: str | None, message: str, certain: bool
    ) -> Sequence[Outcome]:
        """One full_audit record. `certain`: it is one (a syslog line tagged smbd_audit, a debug-log message
        after a vfs_full_audit header), so one that does not split is a failure; otherwise (a message of
        `debug prefix timestamp`, whose header names no code location) it is simply not a record."""
        record = self._split(offset, line, time_us, host, message)
        if isinstance(record, str):
            return (ParseFailure(offset, record, line),) if certain else NOTHING
        try:
            return self._dispatch(record)
        except ValueError as exc:
            return (ParseFailure(offset, f"{record.op}: {exc}", line),) if certain else NOTHING

    def _split(self, offset: int, line: str, time_us: int, host: str | None, message: str) -> _Record | str:
        """Prefix fields from the left, then op and status; the rest stays whole (paths may hold `|`)."""
        p = self._prefix
        parts = message.split("|", p.width + 2)
        if len(parts) < p.width + 2:
            return (
                f"smbd_audit line has {len(parts)} '|' fields; the prefix {self._prefix_text!r} needs "
                f"{p.width} plus op and status"
            )
        status = parts[p.width + 1]
        if status == "ok":
            error = None
        elif status.startswith("fail"):
            error = status[4:].strip().removeprefix("(").removesuffix(")")
        else:
            return f"smbd_audit status {status[:40]!r} is neither 'ok' nor 'fail (...)'"
        op = parts[p.width]
        if not op:
            return "smbd_audit line without an operation"
        return _Record(
            offset,
            line,
            time_us,
            host,
            parts[p.user] or None,
            _clean_ip(parts[p.ip]) if p.ip >= 0 else None,
            (parts[p.machine] or None) if p.machine >= 0 else None,
            (parts[p.share] or None) if p.share >= 0 else None,
            op,
            error,
            parts[p.width + 2] if len(parts) > p.width + 2 else "",
        )

    def _dispatch(self, r: _Record) -> Sequence[Outcome]:
        op = r.op
        if op == "create_file":
            return self._create_file(r)
        if op == "renameat":
            old, new = split_rename(r.args)
            return (self._event(r, RENAME, old, {"file.target_path": new}),)
        if op == "unlinkat":
            return (self._event(r, DELETE, r.args),)
        if op == "mkdirat":
            return (self._event(r, CREATE, r.args),)
        if op == "connect":
            return (self._session(r, LOGIN),)
        if op == "disconnect":
            return (self._session(r, LOGOUT),)
        if op == "openat" and r.error is not None:
            return self._failed_openat(r)
        # close, pread_recv, pwrite_recv, sendfile, successful openat ...: plumbing of an action that its
        # create_file already reported (see the module docstring)
        return NOTHING

    def _create_file(self, r: _Record) -> Sequence[Outcome]:
        """`<mask>|file|dir|<disposition>|<path>`. A `fail` is a refusal whatever errno says: create_file
        returns an NTSTATUS and full_audit prints a stale errno ("No such file or directory", "Success")."""
        parts = r.args.split("|", 3)
        if len(parts) != 4 or parts[1] not in ("file", "dir"):
            raise ValueError("expected '<access mask>|file|dir|<disposition>|<path>'")
        try:
            mask = int(parts[0], 16)
        except ValueError:
            raise ValueError(f"access mask {parts[0][:20]!r} is not hexadecimal") from None
        action = access_action(mask, parts[1] == "dir", parts[2], r.error is None)
        if action is None:
            return NOTHING
        return (self._event(r, action, parts[3], {"samba.access_mask": parts[0], "samba.disposition": parts[2]}),)

    def _failed_openat(self, r: _Record) -> Sequence[Outcome]:
        """openat's errno is the real syscall's. ENOENT is the existence probe smbd makes before every
        upload, rename and mkdir (see the samples), not an access; anything else (EACCES ...) is a refusal."""
        if r.error == _ENOENT:
            return NOTHING
        mode, sep, path = r.args.partition("|")
        if not sep or mode not in ("r", "w"):
            raise ValueError("expected 'r|<path>' or 'w|<path>'")
        return (self._event(r, WRITE if mode == "w" else READ, path),)

    def _event(self, r: _Record, action: str, path: str, extra: dict[str, Any] | None = None) -> Event:
        if not path:
            raise ValueError("no path")
        fields: dict[str, Any] = {"file.path": path}
        if r.machine is not None:
            fields["source.domain"] = r.machine
        if r.share is not None:
            fields["samba.share"] = r.share
        if extra:
            fields.update(extra)
        return self._make(r, action, "file:" + path, fields)

    def _session(self, r: _Record, action: str) -> Event:
        share = r.args or r.share
        fields: dict[str, Any] = {}
        if share:
            fields["samba.share"] = share
        if r.machine is not None:
            fields["source.domain"] = r.machine
        return self._make(r, action, None, fields)

    def _make(self, r: _Record, action: str, obj: str | None, fields: dict[str, Any]) -> Event:
        return Event(
            id=self.ids.make(r.offset, r.line),
            time_us=r.time_us,
            dataset=self.dataset,
            action=action,
            outcome=SUCCESS if r.error is None else FAILURE,
            user=r.user,
            source_ip=r.ip,
            host=r.host,
            object=obj,
            command=r.op,
            original=r.line,
            error_code=r.error,
            fields=fields,
            offset=r.offset,
        )


# ---------------------------------------------------------------------------------------------------------
# smbd's debug log: its log file, or the same lines through syslog

_DEBUG_LOG_STARTS: Final = frozenset(" \t[{")  # a header, an indented message line, a bare JSON line
# `[2026/11/28 17:24:51.460440,  1] ../../source3/modules/vfs_full_audit.c:643(do_log)`; `debug pid`, `debug
# uid` and `debug class` add `, pid=N, effective(0, 0), real(0, 0), class=full_audit` before the `]`; without
# `debug hires timestamp` the seconds are whole; with `debug prefix timestamp` the message follows the `] `
# on the same line instead of the code location.
_DEBUG_HEADER: Final = re.compile(r"\[(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)(\.\d{1,6})?, *\d+[^\]]*\] (.*)\Z")
_LOCATION: Final = re.compile(r"\S+:\d+\(\w+\)\Z")
_FULL_AUDIT_LOCATION: Final = re.compile(r"\S*vfs_full_audit\.c:\d+\(do_log\)\Z")
_INDENT: Final = "  "  # smbd indents every message line in its log
_MAX_HELD_HEADERS: Final = 1024


class _DebugText(NamedTuple):
    """A line of smbd's debug log, unwrapped from syslog where it came that way (then with host and pid)."""

    text: str
    host: str | None
    pid: int | None


class _SmbdDebugLog:
    """The framing of smbd's debug log: syslog unwrapping and the `[date time, level ...]` headers, whose times
    are local without a zone (the source's timezone)."""

    def __init__(self, context: SourceContext) -> None:
        self.syslog = SyslogFraming(context.tz, context.reference_time)
        self._tz = context.tz
        self._seconds = EpochCache(self._local_seconds)

    def unwrap(self, line: str) -> _DebugText | None:
        """The debug-log text of a line, or None for a syslog line of another program. A line that is neither
        syslog nor starts like the debug log is returned as it is (its reader decides)."""
        if not line or line[0] in _DEBUG_LOG_STARTS:
            return _DebugText(line, None, None)
        try:
            framed = self.syslog.split(line)
        except TimestampError:
            return _DebugText(line, None, None)
        return _DebugText(framed.message, framed.host, framed.pid) if framed.tag == SMBD_TAG else None

    def header(self, text: str) -> tuple[int, str] | None:
        """(time, rest) of a header line: the rest is the code location `file:line(function)`, or the
        message itself (`debug prefix timestamp`). None if `text` is not a header."""
        m = _DEBUG_HEADER.match(text)
        if m is None:
            return None
        return self._seconds(m.group(1)) * 1_000_000 + fraction_us(m.group(2) or ""), m.group(3)

    def _local_seconds(self, stamp: str) -> int:
        """'2026/11/28 17:24:51' in the source's zone -> epoch seconds."""
        date, clock = stamp.split(" ")
        year, month, day = date.split("/")
        hour, minute, second = clock.split(":")
        return local_epoch(int(year), int(month), int(day), int(hour), int(minute), int(second), self._tz)


class _FullAuditInDebugLog:
    """vfs_full_audit records in smbd's debug log (`full_audit:syslog = false`): a header from
    vfs_full_audit.c's do_log, then the record on the next line. The header's time is held until the record
    comes, per process when the lines come through syslog (other processes' lines may come in between); a
    record's continuation lines (a file name with a newline) are not records."""

    def __init__(self, log: _SmbdDebugLog) -> None:
        self._log = log
        self._headers: dict[int | None, int] = {}  # pid → time of a do_log header awaiting its record

    def record(self, text: _DebugText) -> tuple[int, str, bool] | None:
        """(time, record, certain) for a line holding a full_audit record, None for any other line. Not
        `certain` with `debug prefix timestamp`: the header names no code location, so any message may be
        the record. Raises TimestampError for a header with an impossible time."""
        body = text.text
        if body.startswith("["):
            header = self._log.header(body)
            if header is None:
                return None
            self._headers.pop(text.pid, None)
            time_us, rest = header
            if _LOCATION.match(rest) is None:
                return time_us, rest.removeprefix(_INDENT), False
            if _FULL_AUDIT_LOCATION.match(rest) is not None:
                self._headers[text.pid] = time_us
                if len(self._headers) > _MAX_HELD_HEADERS:
                    del self._headers[next(iter(self._headers))]
            return None
        held = self._headers.pop(text.pid, None)
        if held is None or not body.startswith(_INDENT):
            return None
        return held, body[len(_INDENT) :], True

    def held(self) -> list[list[int | None]]:
        return [[pid, time_us] for pid, time_us in self._headers.items()]

    def hold(self, saved: Any) -> None:
        for pid, time_us in saved:
            self._headers[pid] = int(time_us)


# ---------------------------------------------------------------------------------------------------------
# smbd's auth_audit debug log

_HUMAN: Final = re.compile(
    r"\s*Auth: \[([^\]]*)\] user \[([^\]]*)\]\\\[([^\]]*)\] at \[[A-Z][a-z]{2}, (\d\d? [A-Z][a-z]{2} \d{4} "
    r"\d\d:\d\d:\d\d)(\.\d+)? ([A-Za-z][A-Za-z0-9+:-]*)\] with \[([^\]]*)\] status \[([^\]]*)\] "
    r"workstation \[([^\]]*)\] remote host \[([^\]]*)\]"
)
_STATUS_OK: Final = "NT_STATUS_OK"


class _Login(NamedTuple):
    """A logon attempt, from either the human-readable or the JSON line."""

    time_us: int
    status: str
    account: str
    domain: str
    workstation: str
    remote: str  # tsocket form: ipv4:127.0.0.1:53618, ipv6:::1:53618
    service: str
    password_type: str


def parse_remote(remote: str) -> tuple[str | None, int | None]:
    """`ipv4:127.0.0.1:53618` / `ipv6:::1:445` -> (ip, port)."""
    kind, _, rest = remote.partition(":")
    if kind not in ("ipv4", "ipv6") or not rest:
        return None, None
    host, _, port = rest.rpartition(":")
    if not host or not port.isdecimal():
        return _clean_ip(rest), None
    return _clean_ip(host.strip("[]")), int(port)


class _AuthAuditReader:
    """Reads `log level = 1 auth_audit:3 auth_json_audit:3` output: per logon a `[date, level] file(func)`
    header, an indented `Auth: ...` line and (with auth_json_audit) an indented JSON line. The JSON line
    carries everything, so it wins; an `Auth:` line is held until the next line shows whether its JSON twin
    follows, and stands alone when it does not (auth_json_audit off). Lines may also come through syslog
    (`logging = syslog`), tagged `smbd`."""

    def __init__(self, owner: SambaFullAuditParser) -> None:
        self._owner = owner
        self._log = _SmbdDebugLog(owner.context)
        self._pending: tuple[int, str, _Login] | None = None
        self._human_time = EpochCache(self._human_seconds)

    def pending_offset(self) -> int | None:
        return self._pending[0] if self._pending is not None else None

    def flush(self) -> Sequence[Outcome]:
        pending, self._pending = self._pending, None
        return (self._event(*pending),) if pending is not None else NOTHING

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        text = self._log.unwrap(line)
        if text is None:
            return NOTHING
        body = text.text.lstrip()
        out: list[Outcome] = []
        if body.startswith("{"):
            login = self._from_json(offset, line, body)
            if isinstance(login, _Login):
                self._pending = None  # the JSON twin of the held Auth: line replaces it
                return (self._event(offset, line, login),)
            out.extend(self.flush())
            if login is not None:
                out.append(login)
            return out if out else NOTHING
        out.extend(self.flush())
        if body.startswith("Auth:"):
            login_h = self._from_human(body)
            if login_h is None:
                out.append(ParseFailure(offset, "auth_audit 'Auth:' line in an unknown layout", line))
            else:
                self._pending = (offset, line, login_h)
        return out if out else NOTHING

    def _from_json(self, offset: int, line: str, body: str) -> _Login | ParseFailure | None:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return ParseFailure(offset, f"auth_json_audit line is not valid JSON: {exc}", line)
        if not isinstance(doc, dict) or doc.get("type") != "Authentication":
            return None  # Authorization and other audit types are not logons
        auth = doc.get("Authentication")
        stamp = doc.get("timestamp")
        if not isinstance(auth, dict) or not isinstance(stamp, str):
            return ParseFailure(offset, "auth_json_audit Authentication line without timestamp or body", line)
        try:
            when = datetime.fromisoformat(stamp)
        except ValueError:
            return ParseFailure(offset, f"auth_json_audit timestamp {stamp[:40]!r} is not ISO 8601", line)
        if when.tzinfo is None:
            when = when.replace(tzinfo=self._owner.context.tz or UTC)

        def text(key: str) -> str:
            value = auth.get(key)
            return value if isinstance(value, str) else ""

        return _Login(
            int(when.timestamp()) * 1_000_000 + when.microsecond,
            text("status"),
            text("clientAccount"),
            text("clientDomain"),
            text("workstation"),
            text("remoteAddress"),
            text("serviceDescription"),
            text("passwordType"),
        )

    def _from_human(self, body: str) -> _Login | None:
        m = _HUMAN.match(body)
        if m is None:
            return None
        try:
            secs = self._human_time(m.group(4) + " " + m.group(6))
        except (TimestampError, ValueError, KeyError):
            return None
        return _Login(
            secs * 1_000_000 + fraction_us(m.group(5) or ""),
            m.group(8),
            m.group(3),
            m.group(2),
            m.group(9),
            m.group(10),
            m.group(1).partition(",")[0],
            m.group(7),
        )

    def _human_seconds(self, key: str) -> int:
        """'27 Nov 2026 16:23:32 UTC' -> epoch seconds (the zone is an abbreviation or an offset)."""
        day, month, year, clock, zone = key.split(" ")
        hour, minute, second = clock.split(":")
        naive = datetime(int(year), MONTHS[month], int(day), int(hour), int(minute), int(second))
        return zoned_epoch(naive, zone, self._owner.context.tz)

    def _event(self, offset: int, line: str, login: _Login) -> Event:
        ok = login.status == _STATUS_OK
        ip, port = parse_remote(login.remote)
        fields: dict[str, Any] = {"event.code": "4624" if ok else "4625"}
        for key, value in (
            ("user.domain", login.domain),
            ("source.domain", login.workstation),
            ("samba.service", login.service),
            ("samba.password_type", login.password_type),
        ):
            if value:
                fields[key] = value
        return Event(
            id=self._owner.ids.make(offset, line),
            time_us=login.time_us,
            dataset="samba.auth_audit",
            action=LOGIN,
            outcome=SUCCESS if ok else FAILURE,
            user=login.account or None,
            source_ip=ip,
            source_port=port,
            host=self._owner.context.host,
            command="Authentication",
            original=line,
            error_code=None if ok else login.status,
            fields=fields,
            offset=offset,
        )
