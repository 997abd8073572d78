"""vsftpd (and ProFTPD's TransferLog): xferlog and vsftpd.log → access events (FORMATS.md §7).

Three layouts, decided per line (`layout: auto`):
- **xferlog** (wu-ftpd format, `xferlog_std_format=YES`): `Fri Nov 27 16:24:16 2026 1 127.0.0.1 26
  /srv/x.csv b _ o r ftpalice ftp 0 * c`, transfers only. The filename is **lossy**: vsftpd writes spaces as
  `_` (`payroll 2024.xlsx` → `payroll_2024.xlsx`) and unprintable bytes as `?`, so `pii.object` may differ from
  the real path (data-map globs with `*` still match); the name is split from the right, so a server that
  keeps spaces is read right too. Direction o → read, i → write, d (ProFTPD) → delete; completion `i` →
  outcome failure with error "incomplete" (a failed download, or one the client cut short: the bytes sent).
  Anonymous sessions (access mode a) log the e-mail given as a password in the user field: the user is
  `anonymous`, and the e-mail is masked in `event.original`.
- **vsftpd.log** (vsftpd's own format, Debian's default): `... [pid 17816] [ftpalice] OK DOWNLOAD: Client
  "127.0.0.1", "/srv/payroll 2024.xlsx", 150000 bytes, 486659.05Kbyte/sec`. Path names keep their spaces
  (quotes unescaped: the path runs to the line's last quote), but vsftpd 3.0.3 writes every byte outside
  printable ASCII as `?` here too (`café` → `caf??`). Logins (`OK LOGIN` / `FAIL LOGIN`; an anonymous one
  adds `anon password "<e-mail>"`, masked in `event.original`; its user is vsftpd's `ftp_username`, `ftp`,
  and its paths are inside `anon_root`), DOWNLOAD → read, UPLOAD → write, MKDIR → create, RMDIR/DELETE →
  delete, RENAME (`"old new"`, split at ` /` when both are absolute) → rename, CHMOD → permission.
  `CONNECT`, `FTP command`/`FTP response` (log_ftp_protocol) and `DEBUG` lines are not accesses. A transfer
  line without `N bytes` moved nothing (vsftpd omits a zero).
  **Forged entries.** The user in brackets is whatever the client typed at USER, written as it came (spaces,
  quotes, `]`), and a path is any name: `USER x] OK LOGIN: Client "6.6.6.6", "` makes the FAIL LOGIN line
  start like an OK LOGIN from 6.6.6.6. So a line is read at every `] ` that could end the user, keeping the
  readings whose rest fits vsftpd's exact grammar (a plain client address; absolute paths; an anonymous
  password without spaces; a transfer ending in its rate). A real line has one reading; one with several,
  any of them an access, is a ParseFailure ("ambiguous"), never a guess.
- **syslog** (`syslog_enable=YES`): the vsftpd.log message after a syslog header with tag `vsftpd`.

Both file layouts stamp **server local time without a zone** (even with `use_localtime=NO`): the source's
`timezone` says which (UTC when unset); a DST fall-back hour is resolved by the log's forward order. Each
line carries its own user and client, so no session state is kept. Clients of a server listening on IPv6
(Debian's default `listen_ipv6=YES`) appear as `::ffff:a.b.c.d`, read as the IPv4 address.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from pii_guard.model import CREATE, DELETE, FAILURE, LOGIN, PERMISSION, READ, RENAME, SUCCESS, WRITE, AccessEvent
from pii_guard.parsers.base import NOTHING, Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.normalize import WallClock, ctime_fields, file_object, ip_or_none
from pii_guard.parsers.syslog import SyslogFraming
from pii_guard.parsers.timeparse import TimestampError

_STAMP_LEN: Final = 24
_CTIME: Final = re.compile(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} ")
_XFERLOG: Final = re.compile(
    r" (\d{1,19}) (\S+) (\d{1,19}) (.+) ([ab]) (\S) ([oid]) ([rag]) (\S*) (\S+) (\d) (\S+) ([ci])\Z", re.S
)
_PID: Final = re.compile(r"\s*\[pid (\d{1,19})\] ")
# What follows the user: `OK DOWNLOAD: Client "127.0.0.1"` or `CONNECT: Client "::ffff:10.0.0.1"`. The client
# is the socket's peer as vsftpd printed it: no quote and no space, whoever sent what.
_MARKER: Final = re.compile(r'(?:(OK|FAIL) )?([A-Z][A-Za-z ]*?): Client "([^"\s]+)"')
_PATH_ONLY: Final = re.compile(r', "(/.*)"\Z', re.S)
_TRANSFER: Final = re.compile(r', "(/.*)"(?:, (\d{1,19}) bytes)?, [^,"]*Kbyte/sec\Z', re.S)
# What each kind of line carries after the client, exactly (vsftpd 3.0.3 logging.c): logged paths are always
# absolute (vsftpd puts the working directory before a relative name), an anonymous password never holds a
# space (vsftpd writes `_`), a transfer ends with its rate.
_DETAILS: Final = {
    "LOGIN": re.compile(r'(?:, anon password "(\S*)")?\Z'),
    "DOWNLOAD": _TRANSFER, "UPLOAD": _TRANSFER,
    "MKDIR": _PATH_ONLY, "RMDIR": _PATH_ONLY, "DELETE": _PATH_ONLY, "RENAME": _PATH_ONLY, "CHMOD": _PATH_ONLY,
}  # fmt: skip
_NOT_ACCESS: Final = re.compile(r'(?:, "(.*)")?\Z', re.S)  # CONNECT, FTP command/response, DEBUG
_ACTIONS: Final = {
    "DOWNLOAD": READ, "UPLOAD": WRITE, "MKDIR": CREATE, "RMDIR": DELETE, "DELETE": DELETE, "RENAME": RENAME,
    "CHMOD": PERMISSION, "LOGIN": LOGIN,
}  # fmt: skip
_DIRECTIONS: Final = {"o": READ, "i": WRITE, "d": DELETE}
_TRANSFERS: Final = frozenset({"DOWNLOAD", "UPLOAD"})
_MASK: Final = "<masked>"


def _shared_dirs(old: str, new: str) -> int:
    """How many leading directories two absolute paths share."""
    shared = 0
    for a, b in zip(old.split("/")[:-1], new.split("/")[:-1], strict=False):
        if a != b:
            break
        shared += 1
    return shared


class VsftpdOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    layout: Literal["auto", "xferlog", "vsftpd", "syslog"] = Field(
        default="auto", description="xferlog (xferlog_std_format=YES), vsftpd (vsftpd.log), syslog; auto: per line"
    )
    syslog_ident: str = Field(default="vsftpd", description="syslog tag of vsftpd's messages")


class VsftpdParser(Parser):
    """xferlog transfers, vsftpd.log transfers/logins/file operations, vsftpd syslog messages."""

    name = "vsftpd"
    dataset = "vsftpd.log"
    description = "vsftpd xferlog and vsftpd.log (ProFTPD TransferLog too); zone-less local timestamps"
    Options = VsftpdOptions
    needs_timezone = True

    def __init__(self, context: SourceContext, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        opts = self.options
        assert isinstance(opts, VsftpdOptions)
        self._opts = opts
        self._clock = WallClock(context.tz)
        self._framing = SyslogFraming(context.tz, context.reference_time)

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        if not line.strip():
            return NOTHING
        layout = self._opts.layout
        stamped = _CTIME.match(line) is not None
        if layout == "syslog" or (layout == "auto" and not stamped):
            return self._syslog(offset, line)
        if not stamped:
            return (ParseFailure(offset, "no ctime stamp ('Www Mmm dd hh:mm:ss yyyy') at the start", line),)
        try:
            time_us = self._clock.epoch(*ctime_fields(line[:_STAMP_LEN])) * 1_000_000
        except TimestampError as exc:
            return (ParseFailure(offset, str(exc), line),)
        rest = line[_STAMP_LEN:]
        if layout == "vsftpd" or (layout == "auto" and rest.startswith(" [")):
            return self._vsftpd(offset, line, time_us, rest, None)
        return self._xferlog(offset, line, time_us, rest)

    # -- layouts ----------------------------------------------------------------------------------------

    def _syslog(self, offset: int, line: str) -> Sequence[Outcome]:
        try:
            framed = self._framing.split(line)
        except (ValueError, OverflowError) as exc:  # SyslogFraming lets datetime's ValueError through
            return (ParseFailure(offset, f"not an xferlog, vsftpd.log or syslog line: {exc}", line),)
        if framed.tag != self._opts.syslog_ident:
            return NOTHING
        return self._vsftpd(offset, line, framed.time_us, " " + framed.message, framed.host, framed.pid)

    def _xferlog(self, offset: int, line: str, time_us: int, rest: str) -> Sequence[Outcome]:
        m = _XFERLOG.match(rest)
        if m is None:
            return (ParseFailure(offset, "not an xferlog line (fields after the stamp do not fit)", line),)
        (seconds, host, size, path, ttype, _special, direction, mode, username, _service, _auth, _authuser,
         status) = m.groups()  # fmt: skip
        ok = status == "c"
        fields: dict[str, Any] = {
            "file.path": path,
            "vsftpd.transfer_seconds": int(seconds),
            "vsftpd.transfer_type": "ascii" if ttype == "a" else "binary",
            "vsftpd.access_mode": {"r": "real", "a": "anonymous", "g": "guest"}[mode],
            "vsftpd.layout": "xferlog",
        }
        ip = ip_or_none(host)
        if ip is None:
            fields["source.domain"] = host
        original = line
        if mode == "a" and username and self.context.mask_literals:  # the anonymous "password": an e-mail
            start, end = m.span(9)
            base = len(line) - len(rest)
            original = line[: base + start] + _MASK + line[base + end :]
        return (
            self._event(
                offset, original, time_us, _DIRECTIONS[direction], SUCCESS if ok else FAILURE,
                "anonymous" if mode == "a" else (username or None), ip, file_object(path), int(size),
                {"o": "RETR", "i": "STOR", "d": "DELE"}[direction], None if ok else "incomplete", None, fields,
                line,
            ),
        )  # fmt: skip

    def _vsftpd(self, offset: int, line: str, time_us: int, rest: str, host: str | None,
                syslog_pid: int | None = None) -> Sequence[Outcome]:
        pid_match = _PID.match(rest)
        text = rest[pid_match.end() :] if pid_match else rest.lstrip()
        found = self._readings(text)
        if not found:
            return (ParseFailure(offset, "not a vsftpd.log line ('[pid N] [user] OK|FAIL WHAT: Client ...')", line),)
        if all(what not in _ACTIONS for _, _, what, _, _ in found):
            return NOTHING  # CONNECT, FTP command, FTP response, DEBUG
        if len(found) > 1:
            return (ParseFailure(offset, "ambiguous vsftpd.log line: a user or file name holds the log's own "
                                 "'] OK|FAIL WHAT: Client \"...\"' (a forged entry?)", line),)  # fmt: skip
        user, result, what, client, d = found[0]
        action = _ACTIONS[what]
        target = d.group(1)
        ok = result != "FAIL"
        fields: dict[str, Any] = {"vsftpd.layout": "vsftpd" if host is None else "syslog"}
        pid_value = int(pid_match.group(1)) if pid_match else syslog_pid
        if pid_value is not None:
            fields["process.pid"] = pid_value
        ip = ip_or_none(client)
        if ip is None:
            fields["source.domain"] = client
        obj = None
        original = line
        if what == "LOGIN":
            if target is not None:  # an anonymous login: the "password" is, by convention, an e-mail address
                fields["vsftpd.access_mode"] = "anonymous"
                if target and self.context.mask_literals:
                    original = line[: len(line) - len(target) - 1] + _MASK + '"'
        else:
            path = target
            if what == "RENAME":
                path, new = self._split_rename(target)
                if new is not None:
                    fields["file.target_path"] = new
            elif what == "CHMOD":
                path, _, mode = target.rpartition(" ")
                if not path:
                    path, mode = target, ""
                if mode:
                    fields["file.mode"] = mode
            fields["file.path"] = path
            obj = file_object(path)
        size = d.group(2) if what in _TRANSFERS else None
        nbytes = int(size) if size else (0 if what in _TRANSFERS else None)
        return (
            self._event(offset, original, time_us, action, SUCCESS if ok else FAILURE, user or None, ip, obj,
                        nbytes, what, None, host, fields, line),
        )  # fmt: skip

    @staticmethod
    def _readings(text: str) -> list[tuple[str | None, str | None, str, str, re.Match[str]]]:
        """Every way to read `[user] OK|FAIL WHAT: Client "ip"<details>` that fits vsftpd's grammar: (user,
        OK/FAIL, WHAT, client, details match). The user is what the client typed at USER (so a failed login can
        carry any text) and a path is any name: the split between them is tried at each `] `, and a real
        line has exactly one reading."""
        starts: list[tuple[str | None, int]] = []
        if text.startswith("["):
            cut = text.find("] ", 1)
            while cut >= 0:
                starts.append((text[1:cut], cut + 2))
                cut = text.find("] ", cut + 1)
        else:
            starts.append((None, 0))
        found = []
        for user, start in starts:
            m = _MARKER.match(text, start)
            if m is None:
                continue
            result, what, client = m.groups()
            grammar = _DETAILS.get(what) if result is not None else None
            if grammar is None and what in _ACTIONS:
                continue  # OK/FAIL without an access, or an access without OK/FAIL: not vsftpd's
            d = (grammar or _NOT_ACCESS).match(text, m.end())
            if d is not None:
                found.append((user, result, what, client, d))
        return found

    @staticmethod
    def _split_rename(text: str) -> tuple[str, str | None]:
        """`"old new"`: vsftpd joins the two names with a space. Absolute names split at ` /`: the first cut
        whose halves share a directory, else the one whose halves share the most leading directories (the
        last of equals: `/home/trail /x.txt /home/moved.txt` moved `x.txt` out of `trail `); otherwise at the
        first space."""
        cuts = [i for i in range(len(text)) if text.startswith(" /", i)]
        if text.startswith("/") and cuts:
            for cut in cuts:
                old, new = text[:cut], text[cut + 1 :]
                if old.rpartition("/")[0] == new.rpartition("/")[0]:
                    return old, new
            best = max(reversed(cuts), key=lambda cut: _shared_dirs(text[:cut], text[cut + 1 :]))
            return text[:best], text[best + 1 :]
        old, sep, new = text.partition(" ")
        return (old, new) if sep else (text, None)

    def _event(
        self,
        offset: int,
        line: str,
        time_us: int,
        action: str,
        outcome: str,
        user: str | None,
        ip: str | None,
        obj: str | None,
        nbytes: int | None,
        command: str,
        error: str | None,
        host: str | None,
        fields: dict[str, Any],
        raw: str | None = None,
    ) -> AccessEvent:
        """`line` is event.original (masked); `raw`, when it differs, the line as read (the id's input)."""
        return AccessEvent(
            id=self.ids.make(offset, line if raw is None else raw),
            time_us=time_us,
            dataset=self.dataset,
            action=action,
            outcome=outcome,
            user=user,
            source_ip=ip,
            host=host or self.context.host,
            object=obj,
            bytes=nbytes,
            command=command,
            original=line,
            error_code=error,
            fields=fields,
            offset=offset,
        )
