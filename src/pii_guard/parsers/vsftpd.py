"""vsftpd (and ProFTPD's TransferLog): xferlog and vsftpd.log → access events (FORMATS.md §7).

Three layouts, decided per line (`layout: auto`):
- **xferlog** (wu-ftpd format, `xferlog_std_format=YES`): `Fri Nov 27 16:24:16 2026 1 127.0.0.1 26
  /srv/x.csv b _ o r ftpalice ftp 0 * c`, transfers only. The filename is **lossy**: vsftpd writes spaces as
  `_` (`payroll 2024.xlsx` → `payroll_2024.xlsx`) and unprintable bytes as `?`, so `pii.object` may differ from
  the real path (data-map globs with `*` still match); the name is split from the right, so a server that
  keeps spaces is read right too. Direction o → read, i → write, d (ProFTPD) → delete; completion `i` →
  outcome failure with error "incomplete". Anonymous sessions (access mode a) log the e-mail given as a
  password in the user field: the user is `anonymous`.
- **vsftpd.log** (vsftpd's own format, Debian's default): `... [pid 17816] [ftpalice] OK DOWNLOAD: Client
  "127.0.0.1", "/srv/payroll 2024.xlsx", 150000 bytes, 486659.05Kbyte/sec`. Real path names (quotes
  unescaped: the path runs to the line's last quote), logins (`OK LOGIN` / `FAIL LOGIN`), DOWNLOAD → read,
  UPLOAD → write, MKDIR → create, RMDIR/DELETE → delete, RENAME (`"old new"`, split at ` /` when both are
  absolute) → rename, CHMOD → permission. `CONNECT`, `FTP command`/`FTP response` (log_ftp_protocol) and
  `DEBUG` lines are not accesses. A transfer line without `N bytes` moved nothing (vsftpd omits a zero).
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
from pii_guard.parsers.normalize import WallClock, ctime_fields, ip_or_none
from pii_guard.parsers.syslog import SyslogFraming
from pii_guard.parsers.timeparse import TimestampError

_STAMP_LEN: Final = 24
_CTIME: Final = re.compile(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} ")
_XFERLOG: Final = re.compile(
    r" (\d{1,19}) (\S+) (\d{1,19}) (.+) ([ab]) (\S) ([oid]) ([rag]) (\S*) (\S+) (\d) (\S+) ([ci])\Z", re.S
)
_VSFTPD: Final = re.compile(
    r"\s*(?:\[pid (\d{1,19})\] )?(?:\[(.*?)\] )?(?:(OK|FAIL) )?([A-Z][A-Za-z ]*?): Client \"([^\"]*)\"(.*)\Z", re.S
)
_DETAILS: Final = re.compile(
    r'(?:, anon password "(.*?)")?(?:, "(.*)")?(?:, (\d{1,19}) bytes)?(?:, [^,]*Kbyte/sec)?\Z', re.S
)
_ACTIONS: Final = {
    "DOWNLOAD": READ, "UPLOAD": WRITE, "MKDIR": CREATE, "RMDIR": DELETE, "DELETE": DELETE, "RENAME": RENAME,
    "CHMOD": PERMISSION, "LOGIN": LOGIN,
}  # fmt: skip
_DIRECTIONS: Final = {"o": READ, "i": WRITE, "d": DELETE}
_TRANSFERS: Final = frozenset({"DOWNLOAD", "UPLOAD"})


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
        return (
            self._event(
                offset, line, time_us, _DIRECTIONS[direction], SUCCESS if ok else FAILURE,
                "anonymous" if mode == "a" else (username or None), ip, "file:" + path, int(size),
                {"o": "RETR", "i": "STOR", "d": "DELE"}[direction], None if ok else "incomplete", None, fields,
            ),
        )  # fmt: skip

    def _vsftpd(self, offset: int, line: str, time_us: int, rest: str, host: str | None,
                syslog_pid: int | None = None) -> Sequence[Outcome]:
        m = _VSFTPD.match(rest)
        if m is None:
            return (ParseFailure(offset, "not a vsftpd.log line ('[pid N] [user] OK|FAIL WHAT: Client ...')", line),)
        pid, user, result, what, client, details = m.groups()
        action = _ACTIONS.get(what)
        if action is None:
            return NOTHING  # CONNECT, FTP command, FTP response, DEBUG
        d = _DETAILS.match(details)
        if d is None:
            return (ParseFailure(offset, f"unexpected {what} details", line),)
        _anon, target, size = d.groups()
        ok = result != "FAIL"
        fields: dict[str, Any] = {"vsftpd.layout": "vsftpd" if host is None else "syslog"}
        pid_value = int(pid) if pid else syslog_pid
        if pid_value is not None:
            fields["process.pid"] = pid_value
        ip = ip_or_none(client)
        if ip is None and client:
            fields["source.domain"] = client
        obj = None
        if target is not None:
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
            obj = "file:" + path
        nbytes = int(size) if size else (0 if what in _TRANSFERS else None)
        return (
            self._event(offset, line, time_us, action, SUCCESS if ok else FAILURE, user or None, ip, obj, nbytes,
                        what, None, host, fields),
        )

    @staticmethod
    def _split_rename(text: str) -> tuple[str, str | None]:
        """`"old new"`: vsftpd joins the two names with a space. Absolute names split at ` /` (the last one
        whose halves share a directory, else the first); otherwise at the first space."""
        cuts = [i for i in range(len(text)) if text.startswith(" /", i)]
        if text.startswith("/") and cuts:
            for cut in cuts:
                old, new = text[:cut], text[cut + 1 :]
                if old.rpartition("/")[0] == new.rpartition("/")[0]:
                    return old, new
            return text[: cuts[0]], text[cuts[0] + 1 :]
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
    ) -> AccessEvent:
        return AccessEvent(
            id=self.ids.make(offset, line),
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
