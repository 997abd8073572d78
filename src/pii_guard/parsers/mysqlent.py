"""MySQL Enterprise Audit, `audit_log_format=JSON` (FORMATS.md §3.1) → access events.

The file is one JSON array, written one record per line with a trailing comma (`[` and `]` on their own
lines); records pretty-printed over several lines and plain JSON lines (a shipper's output) are read too
(`jsonframe`). Timestamps are `YYYY-MM-DD hh:mm:ss` in UTC (Oracle's documentation), or the epoch `time`
with `audit_log_format_unix_timestamp=ON`.

What each record becomes:
- `connection` connect / change_user → login (outcome from `connection_data.status`), disconnect → logout.
  The user is `login.user` (what the client logged in as), else `account.user` (the privilege account, kept
  in `mysql.audit.account.*`); the client IP is `login.ip` (empty for a unix socket).
- `table_access` read / insert / update / delete → one event per table (`db:<db>.<table>`): read (export
  with INTO OUTFILE), write, delete. They come *before* their statement's `general` status record, which
  says how the statement ended and carries its `query_statistics`; so they are held per connection until it
  comes and then take its outcome, error code, and rows_sent / bytes_sent (`pii.rows` / `pii.bytes`, on the
  statement's first table only, so a join's volume counts once). Rows whose status never comes (the filter
  logs no `general` class) are released as successes (MySQL logs a table access only for tables it opened)
  when the connection's next statement starts, at disconnect, at the end of input, or past `max_pending_rows`.
- `general` status (and the `query` class's status_end, MySQL 8.0.30+) without table rows → one event when
  the statement is a permission change, DDL, a read/write naming a table (the first one, `mysqlstmt`), or
  failed. SET, SHOW, `SELECT @@version` and the like yield nothing.
- `audit`, `command`, `stored_program`, `authentication` (the GRANT/CREATE USER statement is already the
  event), `global_variable` and `message` classes: nothing.

The session's current database (for unqualified table names) comes from the connect record and from
`USE`/`Init DB`, per connection id; it is saved with the checkpoint.

Statements are masked when the source masks literals (`pii.statement` and the query inside
`event.original`, which is then the record re-serialised as one JSON line).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

import orjson
from pydantic import BaseModel, ConfigDict, Field

from pii_guard.model import (
    DELETE,
    EXPORT,
    FAILURE,
    LOGIN,
    LOGOUT,
    READ,
    SUCCESS,
    WRITE,
    AccessEvent,
)
from pii_guard.parsers.base import NOTHING, Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.jsonframe import Framed, JsonRecordFramer
from pii_guard.parsers.mysqlstmt import meaning
from pii_guard.parsers.normalize import IsoClock, dig, int_of, ip_or_none, text_of
from pii_guard.parsers.sqlmask import SqlMasker
from pii_guard.parsers.timeparse import TimestampError

_TABLE_ACTIONS: Final = {"read": READ, "insert": WRITE, "update": WRITE, "delete": DELETE}
_MAX_RELEASED: Final = 4096  # connections remembered with a statement released before its status record
_USE: Final = re.compile(r"\s*use\s+`?([^`;\s]+)`?", re.I)
_STATUS_EVENTS: Final = frozenset({("general", "status"), ("query", "status_end"), ("query", "nested_status_end")})


class MySqlEnterpriseOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_connections: int = Field(default=50_000, ge=1, description="connections whose database is remembered")
    max_pending_rows: int = Field(default=10_000, ge=1, description="table_access rows held for their statement")


class _Row(NamedTuple):
    """A table_access record waiting for its statement's status record."""

    fr: Framed
    doc: dict[str, Any]
    time_us: int
    action: str
    obj: str
    command: str | None
    query: str
    export_path: str | None


class MySqlEnterpriseAuditParser(Parser):
    """MySQL Enterprise Audit JSON records → logins, table accesses, statements."""

    name = "mysql-enterprise-audit"
    dataset = "mysql.enterprise_audit"
    description = "MySQL Enterprise Audit log, audit_log_format=JSON (array file or JSON lines)"
    Options = MySqlEnterpriseOptions
    # a record spread over lines is complete when its braces close, and table rows wait for their statement's
    # status record: never take either as complete because the log went quiet
    idle_flush_s = None

    def __init__(self, context: SourceContext, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        opts = self.options
        assert isinstance(opts, MySqlEnterpriseOptions)
        self._opts = opts
        self._framer = JsonRecordFramer()
        self._clock = IsoClock()  # zone-less stamps are UTC
        self._masker = SqlMasker("mysql") if context.mask_literals else None
        self._db: dict[str, str] = {}  # connection id → current database
        self._pending: dict[str, list[_Row]] = {}  # connection id → table rows of its running statement
        self._pending_rows = 0
        # connection id → the digest of the statement whose rows were released before its status record (at a
        # rotation's flush, past max_pending_rows): that record, read later or in the next file, is no event of its
        # own. A digest, not the text: the state database keeps no SQL literal
        self._released: dict[str, str] = {}

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        framed = self._framer.feed(offset, line)
        if not framed:
            return NOTHING
        out: list[Outcome] = []
        for item in framed:
            out.extend(self._record(item) if isinstance(item, Framed) else (item,))
        return out

    def flush(self) -> Sequence[Outcome]:
        out: list[Outcome] = []
        for conn in list(self._pending):
            out.extend(self._release(conn, early=True))
        out.extend(self._framer.flush())
        return out

    def pending_offset(self) -> int | None:
        offsets = [rows[0].fr.offset for rows in self._pending.values()]
        framing = self._framer.pending_offset()
        if framing is not None:
            offsets.append(framing)
        return min(offsets) if offsets else None

    def snapshot(self) -> Any:
        return {"db": self._db, "released": self._released} if self._released else {"db": self._db}

    def restore(self, state: Any) -> None:
        if not isinstance(state, dict):
            return
        db, released = state.get("db"), state.get("released")
        if isinstance(db, dict):
            self._db.update({str(k): str(v) for k, v in db.items()})
        if isinstance(released, dict):
            for conn, digest in released.items():
                self._note_released(str(conn), str(digest))

    # -- records ----------------------------------------------------------------------------------------

    def _record(self, fr: Framed) -> Sequence[Outcome]:
        doc = fr.value
        if not isinstance(doc, dict) or "class" not in doc:
            return (ParseFailure(fr.offset, "not a MySQL Enterprise Audit record (no 'class')", fr.text),)
        try:
            time_us = self._time(doc)
        except TimestampError as exc:
            return (ParseFailure(fr.offset, str(exc), fr.text),)
        cls, event = text_of(doc.get("class")), text_of(doc.get("event"))
        conn = text_of(doc.get("connection_id")) or ""
        if cls == "connection":
            return self._connection(fr, doc, time_us, event, conn)
        if cls == "table_access":
            return self._table_access(fr, doc, time_us, event, conn)
        if (cls, event) in _STATUS_EVENTS:
            section = doc.get("general_data" if cls == "general" else "query_data")
            return self._statement(fr, doc, time_us, conn, section)
        return NOTHING

    def _time(self, doc: dict[str, Any]) -> int:
        stamp = doc.get("timestamp")
        if isinstance(stamp, str):
            return self._clock(stamp)
        epoch = doc.get("time")
        if isinstance(epoch, int | float) and not isinstance(epoch, bool) and 0 <= epoch < 1e11:
            return int(epoch * 1_000_000)
        raise TimestampError("no 'timestamp' or 'time'")

    def _remember_db(self, conn: str, db: str | None) -> None:
        if not conn:
            return
        self._db.pop(conn, None)
        if db:
            self._db[conn] = db
            if len(self._db) > self._opts.max_connections:
                del self._db[next(iter(self._db))]

    def _connection(self, fr: Framed, doc: dict[str, Any], time_us: int, event: str | None,
                    conn: str) -> Sequence[Outcome]:
        data = doc.get("connection_data")
        if event not in ("connect", "change_user", "disconnect"):
            return NOTHING
        out = self._release(conn)
        if event == "disconnect":
            self._db.pop(conn, None)
            out.append(self._event(fr, doc, time_us, LOGOUT, SUCCESS, command="disconnect"))
            return out
        status = int_of(dig(data, "status"))
        ok = not status
        db = text_of(dig(data, "db"))
        if ok:
            self._remember_db(conn, db)
        out.append(
            self._event(
                fr, doc, time_us, LOGIN, SUCCESS if ok else FAILURE, command=event,
                error=None if ok else str(status), obj=f"db:{db}" if db else None,
            )
        )  # fmt: skip
        return out

    def _table_access(self, fr: Framed, doc: dict[str, Any], time_us: int, event: str | None,
                      conn: str) -> Sequence[Outcome]:
        data = doc.get("table_access_data")
        action = _TABLE_ACTIONS.get(event or "")
        db, table = text_of(dig(data, "db")), text_of(dig(data, "table"))
        if action is None or not table:
            return NOTHING
        query = text_of(dig(data, "query")) or ""
        sql_command = text_of(dig(data, "sql_command"))
        m = meaning(sql_command, query, db)
        if action == READ and m.action == EXPORT:
            action = EXPORT
        row = _Row(fr, doc, time_us, action, f"db:{db}.{table}" if db else f"db:{table}",
                   m.verb or (sql_command or "").upper() or None, query, m.export_path)
        out: list[Outcome] = []
        rows = self._pending.get(conn)
        if rows and rows[-1].query != query:  # the previous statement ended without a status record
            out.extend(self._release(conn))
            rows = None
        if rows is None:
            self._pending[conn] = [row]
        else:
            rows.append(row)
        self._pending_rows += 1
        if self._pending_rows > self._opts.max_pending_rows:
            out.extend(self._release(next(iter(self._pending)), early=True))
        return out

    def _release(self, conn: str, outcome: str = SUCCESS, error: str | None = None,
                 stats: Any = None, early: bool = False) -> list[Outcome]:
        """The held rows of `conn` as events, with their statement's outcome when it is known. `early`: its
        status record may still come, and must then add nothing (`_released`)."""
        rows = self._pending.pop(conn, None)
        if not rows:
            return []
        self._pending_rows -= len(rows)
        if early:
            self._note_released(conn, _digest(rows[-1].query))
        out: list[Outcome] = []
        for i, row in enumerate(rows):
            extra = {"file.path": row.export_path} if row.action == EXPORT and row.export_path else None
            out.append(
                self._event(
                    row.fr, row.doc, row.time_us, row.action, outcome, command=row.command, error=error,
                    obj=row.obj, query=row.query, query_key="table_access_data", extra=extra,
                    stats=stats if i == 0 else None,
                )
            )  # fmt: skip
        return out

    def _statement(self, fr: Framed, doc: dict[str, Any], time_us: int, conn: str, data: Any) -> Sequence[Outcome]:
        command = text_of(dig(data, "command"))
        query = text_of(dig(data, "query")) or ""
        status = int_of(dig(data, "status")) or 0
        ok = status == 0
        sql_command = text_of(dig(data, "sql_command"))
        if conn in self._pending:
            return self._release(conn, SUCCESS if ok else FAILURE, None if ok else str(status),
                                 doc.get("query_statistics"))
        if self._released and self._released.get(conn) == _digest(query):
            del self._released[conn]
            return NOTHING  # its rows were already the events
        if command == "Init DB" or (sql_command or "").lower() == "change_db":
            if ok:
                use = _USE.match(query)
                self._remember_db(conn, use.group(1) if use else query.strip() or None)
            return NOTHING
        m = meaning(sql_command, query, self._db.get(conn))
        if m.action is None:
            return NOTHING
        if ok and m.action in (READ, EXPORT, WRITE, DELETE) and m.table is None:
            return NOTHING  # no table (SELECT @@version, SELECT 1 ...)
        extra: dict[str, Any] = {}
        if m.object is None and m.table is not None:  # unqualified, and the session's database is not known
            extra["mysql.audit.table"] = m.table
        if m.target_user:
            extra["user.target.name"] = m.target_user
        if m.export_path:
            extra["file.path"] = m.export_path
        return (
            self._event(
                fr, doc, time_us, m.action, SUCCESS if ok else FAILURE, command=m.verb or None,
                error=None if ok else str(status), obj=m.object, query=query,
                query_key="general_data" if "general_data" in doc else "query_data", extra=extra,
                stats=doc.get("query_statistics"),
            ),
        )  # fmt: skip

    def _note_released(self, conn: str, digest: str) -> None:
        self._released[conn] = digest
        if len(self._released) > _MAX_RELEASED:
            del self._released[next(iter(self._released))]

    # -- events -----------------------------------------------------------------------------------------

    def _event(
        self,
        fr: Framed,
        doc: dict[str, Any],
        time_us: int,
        action: str,
        outcome: str,
        *,
        command: str | None,
        error: str | None = None,
        obj: str | None = None,
        query: str | None = None,
        query_key: str | None = None,
        extra: dict[str, Any] | None = None,
        stats: Any = None,
    ) -> AccessEvent:
        login, account = doc.get("login"), doc.get("account")
        user = text_of(dig(login, "user")) or text_of(dig(account, "user"))
        ip = ip_or_none(text_of(dig(login, "ip")) or "")
        conn = doc.get("connection_id")
        fields: dict[str, Any] = {
            "mysql.audit.class": doc.get("class"),
            "mysql.audit.event": doc.get("event"),
        }
        if isinstance(conn, int) and not isinstance(conn, bool):
            fields["mysql.audit.connection_id"] = conn
        for key in ("user", "host"):
            value = text_of(dig(account, key))
            if value is not None:
                fields[f"mysql.audit.account.{key}"] = value
        ctype = text_of(dig(doc, "connection_data", "connection_type"))
        if ctype is not None:
            fields["mysql.audit.connection_type"] = ctype
        rows = nbytes = None
        if isinstance(stats, dict) and action in (READ, EXPORT):
            rows, nbytes = int_of(stats.get("rows_sent")), int_of(stats.get("bytes_sent"))
        if extra:
            fields.update(extra)
        shown = original = None
        if query is not None:
            shown = query if self._masker is None else self._masker(query)
            if shown != query and query_key is not None:
                masked_doc = dict(doc)
                section = masked_doc.get(query_key)
                if isinstance(section, dict):
                    masked_doc[query_key] = {**section, "query": shown}
                original = orjson.dumps(masked_doc).decode()
        return AccessEvent(
            id=self.ids.make(fr.offset, fr.text),
            time_us=time_us,
            dataset=self.dataset,
            action=action,
            outcome=outcome,
            user=user,
            source_ip=ip,
            host=self.context.host,
            object=obj,
            rows=rows,
            bytes=nbytes,
            command=command,
            statement=shown or None,
            original=original if original is not None else fr.text,
            error_code=error,
            fields=fields,
            offset=fr.offset,
        )


def _digest(query: str) -> str:
    return hashlib.blake2b(query.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
