"""Samba: vfs_full_audit lines (through syslog, or in smbd's own log) and smbd's auth_audit log.

vfs_full_audit logs VFS calls, not user actions: one smbclient `get` writes a dozen lines (stat-opens of the
share root and parent directories through `openat`, `close`s, one `pread_recv` per chunk). Only the
`create_file` of the file handle says what the user meant to do, through its access mask and disposition, so
that line becomes the read/write event and the rest are dropped. `renameat`, `unlinkat`, `mkdirat`, `connect`
and `disconnect` are actions in their own right, each decided by its own line.

A share whose `full_audit:success` list has `openat` but no `create_file` (the list many guides give:
`connect disconnect opendir mkdirat renameat unlinkat openat pread pwrite read write close`) logs no
create_file at all, and in SMB3 none of pread/pwrite/read/write fires either (smbd uses the *_send/*_recv
ops). Its accesses are read from the openat/close lines of each session (prefix fields): `openat|ok|w|<file>`
is a write (smbd opens for writing only to write); a file open twice at once (`openat|ok|r` of its path, then
the same again before the first is closed: smbd's path reference, then the real open for its data) is a read,
unless the path shows up as a directory (`fdopendir` of it, an entry under it, the share root that the first
openat after `connect` opens), whose handle smbd opens the same way; a listing (`ls`) opens each file once,
which is no read. Such an event is reported when the last handle of the path is closed (or at `disconnect`,
or at the end of the input), with the time and line of the open that made it one; open files are saved with
the state, so a restart or a rotation in between loses none. Without `close` in the list handles cannot be
counted: only the writes are found. A `pread`/`read` (SMB1) of a file open in the session reports its read at
once. Once a share logs a successful create_file, create_file reports its accesses and its openat lines are
plumbing again (which ops are logged is a share's setting); an `openat|ok|w` of such a share whose create_file
has not come when its session disconnects shows that the share's list lost create_file (smbd reloaded its
config): it is reported as the write, and the share's openat lines count again.

Samba's default `full_audit:prefix` is `%u|%I`, and so is the `prefix` option's. While the option is not
set, a record whose operation follows four prefix fields is read as `%u|%I|%m|%S`, vfs_full_audit(8)'s
example (and pii-guard's default before); a set prefix is taken as it is. A record whose prefix has another
number of fields than the option says is a parse failure that says so.

A failed logon writes no full_audit line at all; it is in smbd's debug log with
`log level = 1 auth_audit:3 auth_json_audit:3` (option `log: auth_audit`).

With `full_audit:syslog = false` the records go to smbd's debug log instead (its `log file`, or syslog tagged
`smbd` with `logging = syslog`), at level 1: each one a header `[2026/11/28 17:24:51.460440,  1]
../../source3/modules/vfs_full_audit.c:643(do_log)` and the record, indented, on the next line. The record's
time is the header's, local time without a zone (the source's timezone). With `debug syslog format = yes`
smbd's log file has no such headers: each message starts a syslog-style line, `2026-11-30T04:48:03.042295+01:00
vm smbd[26302]:   alice|...` (or `Nov 30 04:48:03 vm smbd[26302]:` without `debug hires timestamp`), and an
indented message of a process whose last header (if any) was not another message's is read as a record when
it splits as one. The same source reads all these forms and ignores the rest of smbd's debug log (auth_audit
and other messages may share the file). smbd's own messages that come under vfs_full_audit's `smbd_audit`
tag (once vfs_full_audit has opened syslog, a process logs everything there: at level 0, errors such as a
`full_audit:success` list Samba rejects, which makes it refuse every connection to the share) are parse
failures that say what they are.
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
from pii_guard.parsers.normalize import file_object
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

_PREFIX_ROLES: Final = {"%u": "user", "%U": "user", "%I": "ip", "%m": "machine", "%S": "share"}
DEFAULT_PREFIX: Final = "%u|%I"  # Samba's own default full_audit:prefix
_FOUR_FIELD_PREFIX: Final = "%u|%I|%m|%S"  # vfs_full_audit(8)'s example: read while `prefix` is not set
_ENOENT: Final = "No such file or directory"
_OP_NAME: Final = re.compile(r"[a-z][a-z0-9_]*\Z")  # a VFS operation as vfs_full_audit names it


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
    """`prefix` is the share's `full_audit:prefix` verbatim (Samba's default `%u|%I` when the share sets none;
    `%U`, the session user, serves as the user where there is no `%u`); `log` picks which of smbd's logs this
    source is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: str = DEFAULT_PREFIX
    log: Literal["full_audit", "auth_audit"] = "full_audit"

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        parts = value.split("|")
        if "%u" not in parts and "%U" not in parts:
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

        return cls(len(parts), index("%u" if "%u" in parts else "%U"), index("%I"), index("%m"), index("%S"))


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


def _is_status(field: str) -> bool:
    return field == "ok" or field.startswith("fail")


def record_width(message: str) -> tuple[int, str] | None:
    """(how many prefix fields, operation) of a message that reads as a full_audit record under some prefix:
    the first `<op>|ok` or `<op>|fail (...)` after at least one field. None if there is none."""
    parts = message.split("|", 12)
    for i in range(1, len(parts) - 1):
        status = parts[i + 1]
        if (status == "ok" or status.startswith("fail (")) and _OP_NAME.match(parts[i]) is not None:
            return i, parts[i]
    return None


def _debug_message_reason(message: str) -> str | None:
    """Why a line tagged smbd_audit that is smbd's own debug output is not a record, or None if it is not."""
    if message.startswith("[") and _DEBUG_HEADER.match(message) is not None:
        return (
            "an smbd debug-log header under the smbd_audit tag, not a full_audit record: once vfs_full_audit has "
            "opened syslog, smbd logs its own messages there (at level 0, errors such as a full_audit:success or "
            "failure list that Samba rejects, after which the share refuses every connection)"
        )
    if message.startswith(_INDENT) and record_width(message) is None:
        return (
            "an smbd debug message under the smbd_audit tag, not a full_audit record (smbd logs its own messages "
            "there once vfs_full_audit has opened syslog; see the header line before it)"
        )
    return None


# Samba before 4.12 (4.14 for open) named these operations without `at`; their arguments are the same
_OLD_OPS: Final = {"open": "openat", "unlink": "unlinkat", "rmdir": "unlinkat", "rename": "renameat",
                   "mkdir": "mkdirat", "opendir": "fdopendir"}  # fmt: skip


def _record(p: _Prefix, parts: list[str], offset: int, line: str, time_us: int, host: str | None) -> _Record:
    """A record from a message split under prefix `p` (its status field is `ok` or `fail ...`); an operation
    of an older Samba under its current name (`unlink` → `unlinkat`)."""
    status = parts[p.width + 1]
    op = parts[p.width]
    error = None if status == "ok" else status[4:].strip().removeprefix("(").removesuffix(")")
    return _Record(
        offset,
        line,
        time_us,
        host,
        parts[p.user] or None,
        _clean_ip(parts[p.ip]) if p.ip >= 0 else None,
        (parts[p.machine] or None) if p.machine >= 0 else None,
        (parts[p.share] or None) if p.share >= 0 else None,
        _OLD_OPS.get(op, op),
        error,
        parts[p.width + 2] if len(parts) > p.width + 2 else "",
    )


_READ_OPS: Final = frozenset({"pread", "read", "pread_recv", "sendfile"})
_WRITE_OPS: Final = frozenset({"pwrite", "write", "pwrite_recv", "recvfile"})
_MAX_SESSIONS: Final = 4096  # sessions whose openat handles are followed (the oldest is forgotten)
_MAX_HANDLES: Final = 4096  # open paths followed per session
_Key = tuple[str | None, str | None, str | None, str | None]  # user, ip, machine, share


class _OpenFiles:
    """The openat handles of one session not closed yet, in a share that logs no create_file, the accesses
    found among them (path → (action, the openat record to report it from; None once reported)), and the
    paths seen to be directories."""

    __slots__ = ("dirs", "handles", "held", "root", "root_next")

    def __init__(self) -> None:
        self.handles: dict[str, int] = {}
        self.held: dict[str, tuple[str, _Record | None]] = {}
        self.dirs: set[str] = set()
        self.root: str | None = None
        self.root_next = False

    def directory(self, path: str) -> None:
        """`path` is a directory: a second open of it is no read."""
        self.held.pop(path, None)
        dirs = self.dirs
        if len(dirs) >= _MAX_HANDLES:
            dirs.clear()
        dirs.add(path)


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
        # while `prefix` is not set, a record of four prefix fields is read as vfs_full_audit(8)'s example
        self._four_fields = None if "prefix" in opts.model_fields_set else _Prefix.compile(_FOUR_FIELD_PREFIX)
        self._current = self._prefix  # the layout the last record had: tried first
        self._debug_log = _SmbdDebugLog(context)
        self._audit_log = _FullAuditInDebugLog(self._debug_log)
        self._auth = _AuthAuditReader(self) if opts.log == "auth_audit" else None
        self._open: dict[_Key, _OpenFiles] = {}  # per session (its prefix fields): its openat handles
        # shares seen to log successful create_files: their openat lines are plumbing, but for an `openat|ok|w`
        # not followed by its create_file (the share's op list changed), which is kept here until it shows
        self._create_file_shares: set[str | None] = set()
        self._unproven: dict[tuple[_Key, str], _Record] = {}  # (session, path) → its openat|ok|w
        # shares seen to log `close`: without it (not in the success list) handles cannot be counted, so no read
        # is found
        self._close_shares: set[str | None] = set()

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
            text = _DebugText(framed.message, framed.host, framed.pid, framed.time_us)
            return self._from_debug_log(offset, line, text)
        return NOTHING

    def flush(self) -> Sequence[Outcome]:
        return self._auth.flush() if self._auth is not None else NOTHING

    def finish(self) -> Sequence[Outcome]:
        """End of input: also the accesses of files still open (their close will not be read)."""
        if self._auth is not None:
            return self._auth.flush()
        out: list[Outcome] = []
        for files in self._open.values():
            out.extend(self._report_held(files))
        return out

    def pending_offset(self) -> int | None:
        return self._auth.pending_offset() if self._auth is not None else None

    def snapshot(self) -> Any:
        """A debug-log header whose record is on a line not read yet: a restart between the two keeps its time;
        and the files open in sessions that log no create_file, whose access is reported at their close."""
        if self._auth is not None:
            return None
        return {"full_audit_headers": self._audit_log.held(), "open_files": self._saved_open_files(),
                **self._learned()}  # fmt: skip

    def carry_over(self) -> Any:
        """The open files: their close may be in the next file. Not a held header: its record is in the old
        file, which is still read to its end."""
        if self._auth is not None:
            return None
        saved = self._saved_open_files()
        learned = self._learned()
        return {"open_files": saved, **learned} if saved or learned else None

    def _learned(self) -> dict[str, list[str | None]]:
        """What the shares were seen to log (create_file, close; None: a prefix without %S): a restart or the
        next file that did not see it would take a create_file share's openat lines for accesses again."""
        learned = {"create_file_shares": sorted(self._create_file_shares, key=lambda s: s or ""),
                   "close_shares": sorted(self._close_shares, key=lambda s: s or "")}  # fmt: skip
        return {key: value for key, value in learned.items() if value}

    def restore(self, state: Any) -> None:
        if self._auth is None:
            self._audit_log.hold(state.get("full_audit_headers", ()))
            for key, shares in (("create_file_shares", self._create_file_shares), ("close_shares", self._close_shares)):
                shares.update(s for s in state.get(key, ()) if s is None or isinstance(s, str))
            for user, ip, machine, share, root, handles, held in state.get("open_files", ()):
                files = _OpenFiles()
                self._close_shares.add(share)
                files.root = root
                files.handles = {path: int(count) for path, count in handles}
                files.held = {path: (action, _Record(*record)) for path, action, record in held}
                self._open[(user, ip, machine, share)] = files

    def _saved_open_files(self) -> list[list[Any]]:
        return [
            [*key, files.root, [[path, count] for path, count in files.handles.items()],
             [[path, action, list(record)] for path, (action, record) in files.held.items() if record is not None]]
            for key, files in self._open.items()
            if files.handles or files.held
        ]  # fmt: skip

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
        `debug prefix timestamp` or `debug syslog format`, which name no code location) it is simply not a
        record, unless it reads as a record under a prefix of another width (then the prefix is wrong)."""
        record = self._split(offset, line, time_us, host, message)
        if isinstance(record, str):
            if certain or record_width(message) is not None:
                return (ParseFailure(offset, record, line),)
            return NOTHING
        try:
            return self._dispatch(record)
        except ValueError as exc:
            return (ParseFailure(offset, f"{record.op}: {exc}", line),) if certain else NOTHING

    def _split(self, offset: int, line: str, time_us: int, host: str | None, message: str) -> _Record | str:
        """Prefix fields from the left, then op and status; the rest stays whole (paths may hold `|`)."""
        p = self._current
        parts = message.split("|", p.width + 2)
        if len(parts) < p.width + 2:
            return self._split_other(offset, line, time_us, host, message)
        status = parts[p.width + 1]
        if status != "ok" and not status.startswith("fail"):
            return self._split_other(offset, line, time_us, host, message)
        if not parts[p.width]:
            return "smbd_audit line without an operation"
        return _record(p, parts, offset, line, time_us, host)

    def _split_other(self, offset: int, line: str, time_us: int, host: str | None, message: str) -> _Record | str:
        """A message that does not split under the layout of the last record: while `prefix` is not set, the
        other one of Samba's default and the four-field prefix; else why it is no record."""
        if self._four_fields is not None:
            other = self._four_fields if self._current is self._prefix else self._prefix
            parts = message.split("|", other.width + 2)
            if len(parts) >= other.width + 2 and _is_status(parts[other.width + 1]) and parts[other.width]:
                self._current = other
                return _record(other, parts, offset, line, time_us, host)
        return self._not_split(message, message.split("|", self._prefix.width + 2))

    def _not_split(self, message: str, parts: list[str]) -> str:
        """Why a message is not a record under the prefix: smbd's own debug output under the smbd_audit tag,
        a record whose prefix has another number of fields (the `prefix` option does not match the share's),
        or a line that is neither."""
        debug = _debug_message_reason(message)
        if debug is not None:
            return debug
        p = self._prefix
        found = record_width(message)
        if found is not None and found[0] != p.width:
            width, op = found
            default = (
                " (Samba's default, as the option is not set; four fields are read as '%u|%I|%m|%S')"
                if self._four_fields is not None
                else ""
            )
            return (
                f"prefix mismatch: the record's operation {op!r} follows {width} '|' fields, but the prefix "
                f"{self._prefix_text!r}{default} has {p.width}: set the source's `prefix` option to the share's "
                "full_audit:prefix"
            )
        if len(parts) < p.width + 2:
            return (
                f"smbd_audit line has {len(parts)} '|' fields; the prefix {self._prefix_text!r} needs "
                f"{p.width} plus op and status"
            )
        return f"smbd_audit status {parts[p.width + 1][:40]!r} is neither 'ok' nor 'fail (...)'"

    def _dispatch(self, r: _Record) -> Sequence[Outcome]:
        op = r.op
        if op == "create_file":
            return self._create_file(r)
        if op == "renameat":
            old, new = split_rename(r.args)
            if r.error is None and self._open:
                self._renamed(r, old, new)
            return (self._event(r, RENAME, old, {"file.target_path": new}),)
        if op == "unlinkat":
            return (self._event(r, DELETE, r.args),)
        if op == "mkdirat":
            return (self._event(r, CREATE, r.args),)
        if op == "connect":
            if r.error is None and r.share not in self._create_file_shares:
                self._files((r.user, r.ip, r.machine, r.share)).root_next = True
            return (self._session(r, LOGIN),)
        if op == "disconnect":
            if self._open or self._unproven:
                return (self._session(r, LOGOUT), *self._disconnected(r))
            return (self._session(r, LOGOUT),)
        if r.error is not None:
            return self._failed_openat(r) if op == "openat" else NOTHING
        if r.share in self._create_file_shares:
            # close, pread_recv, pwrite_recv, sendfile, successful openat ...: plumbing of an action that its
            # create_file already reported (see the module docstring); but an openat for writing must be
            # followed by its create_file before the session ends, else the share no longer logs them
            if op == "openat" and r.args.startswith("w|"):
                self._unproven[((r.user, r.ip, r.machine, r.share), r.args[2:])] = r
                if len(self._unproven) > _MAX_SESSIONS:
                    del self._unproven[next(iter(self._unproven))]
            return NOTHING
        return self._without_create_file(r, self._files((r.user, r.ip, r.machine, r.share)))

    def _without_create_file(self, r: _Record, files: _OpenFiles) -> Sequence[Outcome]:
        """A successful op of a session not seen to log create_file: openat, close, a data op or a directory
        listing tell its accesses."""
        op = r.op
        if op == "openat":
            return self._opened(r, files)
        if op == "close":
            return self._closed(r, files)
        if op in _READ_OPS:
            return self._data_op(r, files, READ)
        if op in _WRITE_OPS:
            return self._data_op(r, files, WRITE)
        if op == "fdopendir":
            files.directory(r.args)
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
        key = (r.user, r.ip, r.machine, r.share)
        if self._unproven:
            self._unproven.pop((key, parts[3]), None)
        if r.share not in self._create_file_shares:
            self._create_file_seen(r, key, parts[3])
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

    # -- sessions that log openat but no create_file (see the module docstring) ----------------------------

    def _files(self, key: _Key) -> _OpenFiles:
        """The open files of a session not seen to log create_file."""
        files = self._open.get(key)
        if files is None:
            files = _OpenFiles()
            self._open[key] = files
            if len(self._open) > _MAX_SESSIONS:
                del self._open[next(iter(self._open))]
        return files

    def _create_file_seen(self, r: _Record, key: _Key, path: str) -> None:
        """A successful create_file: the session logs them, so they report its accesses from now on. A failed
        one refuses the open that its openat began."""
        if r.error is None:
            self._create_file_shares.add(r.share)
            for other in [other for other in self._open if other[3] == r.share]:
                del self._open[other]
        else:
            files = self._open.get(key)
            if files is not None:
                files.held.pop(path, None)

    def _opened(self, r: _Record, files: _OpenFiles) -> Sequence[Outcome]:
        """`openat|ok|r|<path>` / `w|<path>`: a handle more; `w` is a write, a second `r` of a path still open
        a read, each reported at the path's last close."""
        mode, sep, path = r.args.partition("|")
        if not sep or mode not in ("r", "w"):
            raise ValueError("expected 'r|<path>' or 'w|<path>'")
        held = files.held
        if files.root_next:  # the first openat after connect opens the share's root
            files.root_next = False
            files.root = path.rstrip("/")
            files.directory(files.root)
        if path.endswith(("/", "/.", "/..")):  # `<dir>/`, a listing's `.` and `..`
            files.directory(path.rstrip("/") if path.endswith("/") else path.rpartition("/")[0])
            return NOTHING
        parent = path.rpartition("/")[0]
        if parent not in files.dirs:  # an entry under a path: that is a directory
            files.directory(parent)
        count = files.handles.get(path, 0) + 1
        files.handles[path] = count
        if len(files.handles) > _MAX_HANDLES:
            oldest = next(iter(files.handles))
            del files.handles[oldest]
            held.pop(oldest, None)
        if mode == "w":
            current = held.get(path)
            if current is None or current[0] != WRITE:
                held[path] = (WRITE, r)
        elif count > 1 and path not in held and path not in files.dirs and r.share in self._close_shares:
            held[path] = (READ, r)
        return NOTHING

    def _closed(self, r: _Record, files: _OpenFiles) -> Sequence[Outcome]:
        self._close_shares.add(r.share)
        path = r.args
        held = files.held
        if held:
            held.pop(path.rpartition("/")[0], None)  # an entry under a path: that is a directory
        count = files.handles.get(path)
        if count is not None and count > 1:
            files.handles[path] = count - 1
            return NOTHING
        files.handles.pop(path, None)
        access = held.pop(path, None) if held else None
        if access is None or access[1] is None:
            return NOTHING
        return (self._opened_event(access[0], access[1]),)

    def _data_op(self, r: _Record, files: _OpenFiles, action: str) -> Sequence[Outcome]:
        """pread/read/pwrite/write (SMB1) or pread_recv/pwrite_recv of a file the session opened, in a share that
        logs no create_file: its data is accessed; reported once per open, from the open that began it."""
        path = r.args
        if not files.handles.get(path):
            return NOTHING
        access = files.held.get(path)
        if access is not None and (access[1] is None or access[0] == WRITE):
            return NOTHING  # reported already, or a write's open (reported at its close)
        opened = r if access is None else access[1]
        assert opened is not None
        files.held[path] = (action, None)
        return (self._opened_event(action, opened),)

    def _renamed(self, r: _Record, old: str, new: str) -> None:
        files = self._open.get((r.user, r.ip, r.machine, r.share))
        if files is None:
            return
        count = files.handles.pop(old, None)
        if count is not None:
            files.handles[new] = files.handles.get(new, 0) + count
        access = files.held.pop(old, None)
        if access is not None:
            files.held[new] = access

    def _disconnected(self, r: _Record) -> Sequence[Outcome]:
        """The session ends: its files are closed (a close not logged, an smbd killed ...)."""
        key = (r.user, r.ip, r.machine, r.share)
        files = self._open.pop(key, None)
        out = self._report_held(files) if files is not None else []
        if self._unproven:
            for unproven in [unproven for unproven in self._unproven if unproven[0] == key]:
                out.extend(self._no_create_file(self._unproven.pop(unproven)))
        return out

    def _no_create_file(self, opened: _Record) -> Sequence[Outcome]:
        """An `openat|ok|w` whose create_file never came: the share's op list no longer has create_file (smbd
        reloaded its config), so the open is the write, and the share's openat lines are followed again."""
        self._create_file_shares.discard(opened.share)
        return (self._opened_event(WRITE, opened),)

    def _report_held(self, files: _OpenFiles) -> list[Outcome]:
        out: list[Outcome] = [
            self._opened_event(action, opened)
            for path, (action, opened) in files.held.items()
            if opened is not None and path not in files.dirs
        ]
        files.held.clear()
        return out

    def _opened_event(self, action: str, opened: _Record) -> Event:
        """The access a session's open (or read/write op) began, at its time and under the name it had."""
        return self._event(opened, action, opened.args.partition("|")[2] if opened.op == "openat" else opened.args)

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
        return self._make(r, action, file_object(path), fields)

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
_IN_MESSAGE: Final = -(1 << 62)  # a process's last header began a message that is not a full_audit record


class _DebugText(NamedTuple):
    """A line of smbd's debug log, unwrapped from syslog where it came that way (then with host, pid and the
    syslog stamp: through syslog, or smbd's log file with `debug syslog format = yes`)."""

    text: str
    host: str | None
    pid: int | None
    time_us: int | None = None


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
        return _DebugText(framed.message, framed.host, framed.pid, framed.time_us) if framed.tag == SMBD_TAG else None

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
    record's continuation lines (a file name with a newline) are not records. With `debug syslog format = yes`
    there are no headers: each message is a syslog-style line of its own, and an indented one is a record if
    it splits as one (its process's last header, if any, was not another message's)."""

    def __init__(self, log: _SmbdDebugLog) -> None:
        self._log = log
        # pid → time of a do_log header awaiting its record, or _IN_MESSAGE: within another message
        self._headers: dict[int | None, int] = {}

    def record(self, text: _DebugText) -> tuple[int, str, bool] | None:
        """(time, record, certain) for a line holding a full_audit record, None for any other line. Not
        `certain` with `debug prefix timestamp` (the header names no code location, so any message may be the
        record) or without a header (`debug syslog format`). Raises TimestampError for a header with an
        impossible time."""
        body = text.text
        if body.startswith("["):
            header = self._log.header(body)
            if header is None:
                return None
            time_us, rest = header
            if _LOCATION.match(rest) is None:
                self._headers.pop(text.pid, None)
                return time_us, rest.removeprefix(_INDENT), False
            self._hold(text.pid, time_us if _FULL_AUDIT_LOCATION.match(rest) is not None else _IN_MESSAGE)
            return None
        held = self._headers.get(text.pid)
        if held is None:  # no header of this process: a syslog-style line of `debug syslog format`
            if text.time_us is None or not body.startswith(_INDENT):
                return None
            return text.time_us, body[len(_INDENT) :], False
        if held == _IN_MESSAGE:
            return None
        self._headers[text.pid] = _IN_MESSAGE  # the lines after the record continue it
        if not body.startswith(_INDENT):
            return None
        return held, body[len(_INDENT) :], True

    def _hold(self, pid: int | None, time_us: int) -> None:
        self._headers.pop(pid, None)  # the newest last: the oldest is forgotten first
        self._headers[pid] = time_us
        if len(self._headers) > _MAX_HELD_HEADERS:
            del self._headers[next(iter(self._headers))]

    def held(self) -> list[list[int | None]]:
        return [[pid, time_us] for pid, time_us in self._headers.items() if time_us != _IN_MESSAGE]

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


_MAX_HELD_LOGONS: Final = 64  # Auth: lines awaiting their JSON twin (the oldest then stands alone)
_MAX_REPORTED_LOGONS: Final = 1024  # Auth: lines reported alone whose JSON twin may still come
_LogonKey = tuple[str, str, str]  # account, remote address, status


class _AuthAuditReader:
    """Reads `log level = 1 auth_audit:3 auth_json_audit:3` output: per logon a `[date, level] file(func)`
    header, an indented `Auth: ...` line and (with auth_json_audit) an indented JSON line. The JSON line
    carries everything, so it wins. Other smbd processes' lines may come between the two (the JSON line has no
    header of its own in the log file, and through syslog it may come a hundred lines later), so an `Auth:`
    line is held until its twin comes, paired by account, remote address and port, and status; it stands alone
    when the log goes quiet (`flush`) or more than _MAX_HELD_LOGONS wait (auth_json_audit off), and a twin that
    comes after that is dropped. Lines may also come through syslog (`logging = syslog`), tagged `smbd`."""

    def __init__(self, owner: SambaFullAuditParser) -> None:
        self._owner = owner
        self._log = _SmbdDebugLog(owner.context)
        self._pending: dict[_LogonKey, tuple[int, str, _Login]] = {}
        self._reported: dict[_LogonKey, None] = {}
        self._human_time = EpochCache(self._human_seconds)

    def pending_offset(self) -> int | None:
        return min(held[0] for held in self._pending.values()) if self._pending else None

    def flush(self) -> Sequence[Outcome]:
        if not self._pending:
            return NOTHING
        return [self._alone(key) for key in list(self._pending)]

    def _alone(self, key: _LogonKey) -> Event:
        """An Auth: line whose JSON twin has not come (yet): it is the logon's event."""
        offset, line, login = self._pending.pop(key)
        self._reported[key] = None
        if len(self._reported) > _MAX_REPORTED_LOGONS:
            del self._reported[next(iter(self._reported))]
        return self._event(offset, line, login)

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        text = self._log.unwrap(line)
        if text is None:
            return NOTHING
        body = text.text.lstrip()
        if body.startswith("{"):
            login = self._from_json(offset, line, body)
            if isinstance(login, _Login):
                key = (login.account, login.remote, login.status)
                if self._pending.pop(key, None) is None and key in self._reported:
                    del self._reported[key]  # the twin of an Auth: line that stood alone: reported already
                    return NOTHING
                return (self._event(offset, line, login),)  # replaces its held Auth: line
            return (login,) if login is not None else NOTHING
        if not body.startswith("Auth:"):
            return NOTHING
        login_h = self._from_human(body)
        if login_h is None:
            return (ParseFailure(offset, "auth_audit 'Auth:' line in an unknown layout", line),)
        out: list[Outcome] = []
        key = (login_h.account, login_h.remote, login_h.status)
        if key in self._pending:  # the same again (a retry on one connection): the first had no twin
            out.append(self._alone(key))
        self._pending[key] = (offset, line, login_h)
        if len(self._pending) > _MAX_HELD_LOGONS:
            out.append(self._alone(next(iter(self._pending))))
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
