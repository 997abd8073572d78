"""Percona Server audit_log plugin (PS 5.7/8.0; FORMATS.md §3.2) in all four `audit_log_format`s → access
events. Percona 8.4's audit_log_filter component writes MySQL Enterprise's JSON: use `mysql-enterprise-audit`.

Layouts, decided per record by its first character (`format: auto`), as the plugin's source writes them:
- JSON: `{"audit_record":{...}}`, one per line (control characters and `/` escaped).
- CSV: one record per line, every text field quoted with `"` doubled; nothing else is escaped, so a statement
  with a newline continues on the next physical line: a record ends where its quotes balance.
- NEW (XML): `<AUDIT_RECORD>` + one `<FIELD>value</FIELD>` line per field + `</AUDIT_RECORD>`, inside
  `<?xml ...?><AUDIT>` ... `</AUDIT>`; values XML-escaped (newlines as `&#10;`).
- OLD (XML, the plugin's default): `<AUDIT_RECORD` + one `FIELD="value"` line per field + `/>`.
- syslog (`audit_log_handler=SYSLOG`): the JSON or CSV record after a syslog header with tag `percona-audit`.
Records spanning lines are held until their end (`</AUDIT_RECORD>`, `/>`, balanced quotes); at the end of
input an XML record whose end tag never came is read from the fields it has.

Record kinds (`NAME`): `Connect`/`Change user` → login (outcome from STATUS: 0 or a MySQL error number),
`Quit` → logout, `Query`/`Execute` → the statement (`mysqlstmt`: one event for reads, writes, deletes that
name a table, DDL, permission changes, and any failed statement), `Init DB` changes the session database;
`Audit`/`NoAudit` (plugin start/stop), `Prepare`, `Ping` ... yield nothing. Query records name the user as
`user[priv_user] @ host [ip]`: the login user, the privilege account and the client are taken apart.
Timestamps are UTC (`2021-06-30T15:07:58 UTC`). There are no row or byte counts in this log.

Statements are masked when the source masks literals, in `pii.statement` and inside `event.original`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any, Final, Literal, NamedTuple

import orjson
from pydantic import BaseModel, ConfigDict, Field

from pii_guard.model import DELETE, EXPORT, FAILURE, LOGIN, LOGOUT, READ, SUCCESS, WRITE, AccessEvent
from pii_guard.parsers.base import NOTHING, Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.mysqlstmt import meaning
from pii_guard.parsers.normalize import IsoClock, int_of, ip_or_none, text_of
from pii_guard.parsers.sqlmask import SqlMasker
from pii_guard.parsers.syslog import SyslogFraming
from pii_guard.parsers.timeparse import TimestampError

_CSV_GENERAL: Final = ("name", "record", "timestamp", "command_class", "connection_id", "status", "sqltext",
                       "user", "host", "os_user", "ip", "db")
_CSV_CONNECTION: Final = ("name", "record", "timestamp", "connection_id", "status", "user", "priv_user",
                          "os_login", "proxy_user", "host", "ip", "db")
_CONNECTION_NAMES: Final = frozenset({"Connect", "Quit", "Change user"})
_AUDIT_NAMES: Final = frozenset({"Audit", "NoAudit"})
_STATEMENT_NAMES: Final = frozenset({"Query", "Execute"})
_XML_ELEMENT: Final = re.compile(r"<(?!AUDIT_RECORD>)([A-Z_]+)>(.*?)</\1>", re.S)
_XML_ATTRIBUTE: Final = re.compile(r'"?([A-Z_]+)"?="([^"]*)"')
_COMPOUND_USER: Final = re.compile(r"(.*?)\[(.*?)\] @ (\S*) \[(.*?)\]\Z", re.S)
_CSV_FIELD: Final = re.compile(r'"((?:[^"]|"")*)"|([^,"]*)', re.S)
_CSV_START: Final = re.compile(r'"[A-Z][A-Za-z ]+","\d+_\d{4}-\d\d-\d\dT')
_USE: Final = re.compile(r"\s*use\s+`?([^`;\s]+)`?", re.I)


class PerconaOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["auto", "json", "csv", "new", "old"] = Field(
        default="auto", description="audit_log_format; auto decides per record"
    )
    syslog_ident: str = Field(default="percona-audit", description="audit_log_syslog_ident (SYSLOG handler)")
    max_record_lines: int = Field(default=10_000, ge=1, description="longest record held while waiting for its end")


class _Record(NamedTuple):
    offset: int
    text: str  # the record as written (its lines joined)
    fields: dict[str, str]  # lower-case field names
    kind: str  # json, csv, xml
    host: str | None  # from a syslog header


def _xml_fields(text: str) -> dict[str, str]:
    found = _XML_ELEMENT.findall(text) or _XML_ATTRIBUTE.findall(text)
    return {name.lower(): html.unescape(value) for name, value in found}


def _csv_row(text: str) -> list[str] | None:
    """The plugin's CSV: `"text"` fields with `""` for a quote (newlines kept raw) or bare numbers, split
    by commas; None when the text is not that. (Python's csv module caps fields at 128 KiB; statements are
    not capped.)"""
    row: list[str] = []
    pos, end = 0, len(text)
    while True:
        m = _CSV_FIELD.match(text, pos)
        if m is None:
            return None
        quoted = m.group(1)
        row.append(quoted.replace('""', '"') if quoted is not None else m.group(2))
        pos = m.end()
        if pos >= end:
            return row
        if text[pos] != ",":
            return None
        pos += 1


def _csv_fields(text: str) -> dict[str, str] | None:
    row = _csv_row(text)
    if not row:
        return None
    name = row[0]
    if name in _AUDIT_NAMES:
        return {"name": name, "record": row[1] if len(row) > 1 else "", "timestamp": row[2] if len(row) > 2 else ""}
    layout = _CSV_CONNECTION if name in _CONNECTION_NAMES else _CSV_GENERAL
    if len(row) < len(layout) - 1 or len(row) > len(layout):  # 5.x query records have no db
        return None
    return dict(zip(layout, row, strict=False))


def _xml_escape(text: str) -> str:
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    if any(ord(c) < 32 for c in out):
        out = "".join(f"&#{ord(c)};" if ord(c) < 32 else c for c in out)
    return out


class PerconaAuditParser(Parser):
    """Percona audit_log plugin records (JSON, CSV, NEW/OLD XML, syslog) → logins and statements."""

    name = "percona-audit"
    dataset = "percona.audit_log"
    description = "Percona Server audit_log plugin (JSON, CSV, NEW or OLD XML; file or syslog)"
    Options = PerconaOptions
    # the records are UTC; only a traditional syslog stamp (SYSLOG handler) is zone-less, and `timezone` then applies
    needs_timezone = False
    idle_flush_s = None  # records end with an explicit end (tag, quote): never taken as complete on idle

    def __init__(self, context: SourceContext, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        opts = self.options
        assert isinstance(opts, PerconaOptions)
        self._opts = opts
        self._clock = IsoClock()
        self._framing = SyslogFraming(context.tz, context.reference_time)
        self._masker = SqlMasker("mysql") if context.mask_literals else None
        self._buf: list[str] = []
        self._buf_kind = ""
        self._buf_offset = 0
        self._quotes = 0  # quotes in the buffered CSV lines: odd while a quoted field goes on
        self._db: dict[str, str] = {}  # connection id → database of Init DB / Connect

    # -- the Parser interface ---------------------------------------------------------------------------

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        if self._buf:
            return self._continue(offset, line)
        s = line.strip()
        if not s:
            return NOTHING
        first = s[0]
        fmt = self._opts.format
        if first == "<":
            if s.startswith(("<?xml", "<AUDIT>", "</AUDIT>")):
                return NOTHING
            if s.startswith("<AUDIT_RECORD") and fmt in ("auto", "new", "old"):
                return self._start(offset, line, "xml")
            return (ParseFailure(offset, "not an audit_log XML record", line),)
        if first == "{" and fmt in ("auto", "json"):
            return self._json(offset, s, None)
        if first == '"' and fmt in ("auto", "csv"):
            return self._start(offset, line, "csv")
        return self._syslog(offset, line)

    def flush(self) -> Sequence[Outcome]:
        if not self._buf:
            return NOTHING
        text, kind, offset = "\n".join(self._buf), self._buf_kind, self._buf_offset
        self._buf = []
        if kind == "xml":
            fields = _xml_fields(text)
            if "name" in fields and "timestamp" in fields:
                return self._dispatch(_Record(offset, text, fields, "xml", None))
        return (ParseFailure(offset, f"{kind.upper()} record not complete at the end of the file", text[:4096]),)

    def pending_offset(self) -> int | None:
        return self._buf_offset if self._buf else None

    def snapshot(self) -> Any:
        return {"db": self._db}

    def restore(self, state: Any) -> None:
        db = state.get("db") if isinstance(state, dict) else None
        if isinstance(db, dict):
            self._db.update({str(k): str(v) for k, v in db.items()})

    # -- framing ----------------------------------------------------------------------------------------

    def _start(self, offset: int, line: str, kind: str) -> Sequence[Outcome]:
        self._buf, self._buf_kind, self._buf_offset = [line], kind, offset
        self._quotes = line.count('"')
        return self._maybe_done()

    def _continue(self, offset: int, line: str) -> Sequence[Outcome]:
        s = line.strip()
        out: list[Outcome] = []
        if self._buf_kind == "xml" and s.startswith(("<AUDIT_RECORD", "</AUDIT>")):
            out.extend(self.flush())  # the previous record's end is missing: read what it had
            out.extend(self.feed(offset, line))
            return out
        if self._buf_kind == "csv" and _CSV_START.match(line):
            text, start = "\n".join(self._buf), self._buf_offset  # a record cut short (unbalanced quote)
            self._buf = []
            out.append(ParseFailure(start, "CSV record cut short (a quote is never closed)", text[:4096]))
            out.extend(self.feed(offset, line))
            return out
        self._buf.append(line)
        self._quotes += line.count('"')
        if len(self._buf) > self._opts.max_record_lines:
            text, start = "\n".join(self._buf[:20]), self._buf_offset
            self._buf = []
            return (ParseFailure(start, f"record longer than {self._opts.max_record_lines} lines", text),)
        return self._maybe_done()

    def _maybe_done(self) -> Sequence[Outcome]:
        last = self._buf[-1].rstrip()
        if self._buf_kind == "xml":
            # NEW: <AUDIT_RECORD> ... </AUDIT_RECORD>; OLD: <AUDIT_RECORD attributes... />
            new = self._buf[0].strip().startswith("<AUDIT_RECORD>")
            if not last.endswith("</AUDIT_RECORD>" if new else "/>"):
                return NOTHING
        elif self._quotes % 2:
            return NOTHING  # inside a quoted field that goes on over the next line
        text, kind, offset = "\n".join(self._buf), self._buf_kind, self._buf_offset
        self._buf = []
        if kind == "xml":
            fields = _xml_fields(text)
            if "name" not in fields:
                return (ParseFailure(offset, "XML record without NAME", text),)
            return self._dispatch(_Record(offset, text, fields, "xml", None))
        return self._csv(offset, text, None)

    def _json(self, offset: int, text: str, host: str | None) -> Sequence[Outcome]:
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return (ParseFailure(offset, f"invalid JSON: {exc}", text),)
        rec = doc.get("audit_record") if isinstance(doc, dict) else None
        if not isinstance(rec, dict):
            return (ParseFailure(offset, "JSON without an 'audit_record' object", text),)
        fields = {str(k): v if isinstance(v, str) else ("" if v is None else str(v)) for k, v in rec.items()}
        return self._dispatch(_Record(offset, text, fields, "json", host))

    def _csv(self, offset: int, text: str, host: str | None) -> Sequence[Outcome]:
        fields = _csv_fields(text)
        if fields is None:
            return (ParseFailure(offset, "not an audit_log CSV record (field count or quoting)", text),)
        return self._dispatch(_Record(offset, text, fields, "csv", host))

    def _syslog(self, offset: int, line: str) -> Sequence[Outcome]:
        try:
            framed = self._framing.split(line)
        except (ValueError, OverflowError):  # TimestampError, or datetime's own for an impossible stamp
            return (ParseFailure(offset, "not an audit_log record (JSON, CSV, XML or syslog)", line),)
        if framed.tag != self._opts.syslog_ident:
            return NOTHING
        message = framed.message.strip()
        if message.startswith("{"):
            return self._json(offset, message, framed.host)
        if message.startswith('"'):
            return self._csv(offset, message, framed.host)
        return (ParseFailure(offset, "syslog message is not a JSON or CSV audit record", line),)

    # -- records ----------------------------------------------------------------------------------------

    def _dispatch(self, rec: _Record) -> Sequence[Outcome]:
        f = rec.fields
        name = f.get("name", "")
        if name in _AUDIT_NAMES:
            return NOTHING
        try:
            time_us = self._clock(f.get("timestamp", ""))
        except TimestampError as exc:
            return (ParseFailure(rec.offset, str(exc), rec.text),)
        status = int_of(f.get("status", "0").strip() or "0")
        if status is None:
            return (ParseFailure(rec.offset, f"STATUS is not a number: {f.get('status')!r}", rec.text),)
        conn = f.get("connection_id", "")
        if name in _CONNECTION_NAMES:
            return self._connection(rec, time_us, name, status, conn)
        if name == "Init DB":
            if status == 0 and f.get("sqltext"):
                self._remember_db(conn, f["sqltext"].strip())
            return NOTHING
        if name not in _STATEMENT_NAMES:
            return NOTHING
        sql = f.get("sqltext", "")
        db = f.get("db") or self._db.get(conn)
        if (f.get("command_class") or "").lower() == "change_db":
            use = _USE.match(sql)
            if status == 0 and use is not None:
                self._remember_db(conn, use.group(1))
            return NOTHING
        m = meaning(f.get("command_class"), sql, db)
        if m.action is None:
            return NOTHING
        ok = status == 0
        if ok and m.action in (READ, EXPORT, WRITE, DELETE) and m.table is None:
            return NOTHING  # no table (SELECT @@version, SELECT 1 ...)
        user, priv, host, ip = self._who(f)
        extra: dict[str, Any] = {}
        if m.object is None and m.table is not None:  # unqualified, and the session's database is not known
            extra["percona.audit.table"] = m.table
        if priv and priv != user:
            extra["percona.audit.priv_user"] = priv
        if m.target_user:
            extra["user.target.name"] = m.target_user
        if m.export_path:
            extra["file.path"] = m.export_path
        if host and host != "localhost" and ip_or_none(host) is None:
            extra["source.domain"] = host
        shown = sql if self._masker is None else self._masker(sql)
        return (
            self._event(rec, time_us, m.action, SUCCESS if ok else FAILURE, user, ip, m.object, m.verb or None,
                        None if ok else str(status), shown, self._masked_text(rec, sql, shown), extra),
        )

    def _connection(self, rec: _Record, time_us: int, name: str, status: int, conn: str) -> Sequence[Outcome]:
        f = rec.fields
        user, priv, host, ip = self._who(f)
        db = f.get("db") or None
        extra: dict[str, Any] = {}
        if priv and priv != user:
            extra["percona.audit.priv_user"] = priv
        if host and host != "localhost" and ip_or_none(host) is None:
            extra["source.domain"] = host
        if name == "Quit":
            self._db.pop(conn, None)
            return (self._event(rec, time_us, LOGOUT, SUCCESS, user, ip, None, name, None, None, rec.text, extra),)
        ok = status == 0
        if ok:
            self._remember_db(conn, db)
        return (
            self._event(rec, time_us, LOGIN, SUCCESS if ok else FAILURE, user, ip, f"db:{db}" if db else None,
                        name, None if ok else str(status), None, rec.text, extra),
        )

    def _who(self, f: dict[str, str]) -> tuple[str | None, str | None, str | None, str | None]:
        """(user, privilege user, host, ip): from the compound `user[priv] @ host [ip]` of query records, or
        the separate fields of connection records."""
        raw = f.get("user", "")
        m = _COMPOUND_USER.match(raw)
        if m is not None:
            user, priv, host, ip = m.group(1), m.group(2), m.group(3), m.group(4)
        else:
            user, priv, host, ip = raw, f.get("priv_user", ""), f.get("host", ""), ""
        ip = f.get("ip") or ip
        return user or None, priv or None, host or f.get("host") or None, ip_or_none(ip)

    def _remember_db(self, conn: str, db: str | None) -> None:
        if not conn:
            return
        self._db.pop(conn, None)
        if db:
            self._db[conn] = db
            if len(self._db) > 50_000:
                del self._db[next(iter(self._db))]

    def _masked_text(self, rec: _Record, sql: str, shown: str) -> str:
        """The record with its statement replaced by the masked one, escaped as the format escapes it."""
        if shown == sql:
            return rec.text
        if rec.kind == "json":
            doc = orjson.loads(rec.text)
            inner = doc.get("audit_record") if isinstance(doc, dict) else None
            if isinstance(inner, dict):
                inner["sqltext"] = shown
                return orjson.dumps(doc).decode()
            return rec.text
        if rec.kind == "csv":
            raw = '"' + sql.replace('"', '""') + '"'
            if raw in rec.text:
                return rec.text.replace(raw, '"' + shown.replace('"', '""') + '"', 1)
            return '"' + '","'.join(v.replace('"', '""') for v in {**rec.fields, "sqltext": shown}.values()) + '"'
        escaped = _xml_escape(shown)
        text, count = re.subn(r"(<SQLTEXT>).*?(</SQLTEXT>)", lambda m: m.group(1) + escaped + m.group(2),
                              rec.text, count=1, flags=re.S)
        if count:
            return text
        return re.sub(r'(SQLTEXT"?=").*?(")', lambda m: m.group(1) + escaped + m.group(2), rec.text, count=1,
                      flags=re.S)

    def _event(
        self,
        rec: _Record,
        time_us: int,
        action: str,
        outcome: str,
        user: str | None,
        ip: str | None,
        obj: str | None,
        command: str | None,
        error: str | None,
        statement: str | None,
        original: str,
        extra: dict[str, Any],
    ) -> AccessEvent:
        f = rec.fields
        fields: dict[str, Any] = {"percona.audit.name": f.get("name"), "percona.audit.format": rec.kind}
        conn = int_of(f.get("connection_id"))
        if conn is not None:
            fields["percona.audit.connection_id"] = conn
        for key in ("record", "command_class", "db"):
            value = text_of(f.get(key))
            if value is not None:
                fields[f"percona.audit.{key}"] = value
        fields.update(extra)
        return AccessEvent(
            id=self.ids.make(rec.offset, rec.text),
            time_us=time_us,
            dataset=self.dataset,
            action=action,
            outcome=outcome,
            user=user,
            source_ip=ip,
            host=rec.host or self.context.host,
            object=obj,
            command=command,
            statement=statement,
            original=original,
            error_code=error,
            fields=fields,
            offset=rec.offset,
        )
