"""MariaDB server_audit plugin → access events (file and syslog output; FORMATS.md §2 and §11).

A record is `serverhost,user,host,connid,queryid,operation,db,object,retcode`, preceded by a zone-less
`YYYYMMDD HH:MM:SS,` in the plugin's own file, or by syslog framing plus `server_audit_syslog_info` and a
space (the info may hold commas and spaces: the record starts where its fields fit, and a line where they fit
twice is decided by the info seen before or the syslog host, else it is a parse failure). Four things shape
this parser:

- The QUERY object is single-quoted SQL with backslash escapes that may hold commas, so a CSV reader fails:
  the head is split by a regex, and the quoted field is taken up to the record's final `',retcode`.
- TABLE rows (READ, WRITE, CREATE, ALTER, RENAME, DROP) come *before* their QUERY row, share its connection
  and query id, and carry no outcome: a READ is logged even when the statement is then denied (1143). They
  are held per connection until the QUERY row says how the statement ended, so that a denied read becomes a
  failure, not an access. Rows whose QUERY never comes (TABLE-only auditing, the install bootstrap) are
  released with outcome "unknown" at DISCONNECT, at `flush()`, or when `max_pending_rows` is reached (a QUERY
  row coming after all is no event then, but for an export: the export of what the released READ rows read). A table
  named twice in a statement (a self-join) has a row per reference: the repeats are dropped, one access per
  table per statement, as when the query cache answers (no rows) or rsyslog's "message repeated N times"
  replaced them (that line is skipped).
- TABLE rows name the user whose rights were used: in a SQL SECURITY DEFINER routine or view, the definer.
  The QUERY row names the client; the access is credited to it, with the definer as `user.effective.name`.
- A read or write statement without TABLE rows of its own is the event, with its tables taken from its text:
  `server_audit_events` without TABLE (CONNECT,QUERY; QUERY_DML) logs no TABLE rows, nor does a SELECT the
  query cache answers, and a table-level denial (1142) logs the QUERY row alone. A trigger's statements are
  the exception: their tables are among the rows of the statement that fired them. Permission changes
  (GRANT/REVOKE/… USER) and DDL are events too, and a CALL is an "execute" of its routine. Other statements
  (SET, SHOW, SELECT without tables, DML whose tables all are ignored) yield nothing when they succeed: failed,
  any statement is an event (an "other" one when it names nothing, as a syntax error), and so is a change of
  the audit plugin itself (`SET GLOBAL server_audit_logging=OFF`, `UNINSTALL PLUGIN server_audit`), which the
  plugin logs as it switches off and which is one "other" event with `pii.command` SET/UNINSTALL. A statement
  that only sets server_audit_* variables keeps its values unmasked: they say what is no longer audited.

What each QUERY becomes, checked against a real 10.11 server (tests/realservers/test_mariadb.py):
- READ → read (export if the statement has INTO OUTFILE/DUMPFILE, with `file.path`), WRITE → write
  (delete for DELETE and TRUNCATE, whose MyISAM rows are a CREATE), CREATE/ALTER/RENAME/DROP → ddl; outcome
  and error code from the QUERY row; `pii.command` its first word.
- Without TABLE rows: a read names every table after FROM/JOIN (comma joins too, not WITH's own names) or
  HANDLER's table (through its OPEN ... AS alias); a write its target first, then the tables it reads
  (INSERT ... SELECT) as reads. Names in information_schema and performance_schema are not case-sensitive:
  their objects are in lower case (`db:information_schema.tables`), as is the mysql schema's name.
- GRANT/REVOKE/CREATE [OR REPLACE]|DROP|ALTER|RENAME USER|ROLE/SET PASSWORD → one "permission" event (object:
  the ON target, `user.target.name`: the grantee, a quoted one whole); their WRITEs to the grant tables are
  dropped.
- CALL → one "execute" event of the routine (`db:<db>.<procedure>`); its READ of mysql.proc (the routine's
  lookup) is dropped, and the statements inside are events of their own.
- DDL → its CREATE/ALTER/... rows, or one "ddl" event naming the object from the statement (and, for CREATE
  TABLE … SELECT without rows, reads of the tables the SELECT names). Its READ rows count only when data
  lands in a table (CREATE TABLE … SELECT); ALTER's table copy and a view or trigger definition read for the
  server, and mysql.* WRITEs (mysql.proc) are bookkeeping.
- A login that failed (FAILED_CONNECT) is followed by a DISCONNECT that is not a logout: it is dropped.
- CHANGEUSER (COM_CHANGE_USER) is a login. MariaDB 10.11's plugin writes it with no user or host and garbage
  as the database: it becomes the login of the user the connection's next QUERY or connection row names, or a
  parse failure if none does.
- NUL bytes (the plugin pads a statement cut after a hidden password with them) become U+FFFD, in the
  statement and in `event.original` alike.
- A statement longer than server_audit_query_log_limit (option `query_log_limit`, the server's default 1024)
  is logged cut: an INTO OUTFILE whose file name was cut is still an export (`file.path` what is left, then
  "…"), an export whose FROM was cut an export of no object, and a name the cut text ends with no object.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from fnmatch import translate
from typing import Any, Final, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from pii_guard.model import (
    DDL,
    DELETE,
    EXECUTE,
    EXPORT,
    FAILURE,
    LOGIN,
    LOGOUT,
    OTHER,
    PERMISSION,
    READ,
    SUCCESS,
    UNKNOWN,
    WRITE,
    AccessEvent,
)
from pii_guard.parsers.base import NOTHING, Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.mysqlstmt import (
    DDL_OBJECT,
    FIRST_WORDS,
    GRANT_ON,
    NAME,
    OUTFILE,
    OUTFILE_CUT,
    TABLE_REF,
    grantee,
)  # fmt: skip
from pii_guard.parsers.optiontypes import CommaSeparated
from pii_guard.parsers.sqlmask import SqlMasker
from pii_guard.parsers.syslog import SyslogFraming
from pii_guard.parsers.timeparse import TimestampError, local_epoch

# serverhost, user (lazy: a user name may hold commas), host, connid, queryid, operation, db; the object and
# retcode follow the match. Anchoring on the numeric ids and the upper-case operation keeps a comma in the
# user name from shifting the fields.
_HEAD_TAIL: Final = r"(.*?),([^,]*),(\d+),(\d+),([A-Z_]+),([^,]*),"
_HEAD: Final = re.compile(r"([^,]*)," + _HEAD_TAIL)
# In a syslog message the record follows `server_audit_syslog_info` and a space; the serverhost (a host name)
# has no space, which tells where a record may start.
_SYSLOG_HEAD: Final = re.compile(r"([^, ]*)," + _HEAD_TAIL)
# rsyslog's `$RepeatedMsgReduction on` (Debian and Ubuntu's default) replaces identical messages by this.
_SYSLOG_REPEAT: Final = re.compile(r"message repeated \d+ times: \[.*\]", re.S)
_MAX_START_TRIES: Final = 64  # positions tried as a syslog record's start (the info's words, plus one)
_FILE_STAMP_LEN: Final = 17  # "20261127 16:21:56"
# The plugin cuts a statement's escaped text at server_audit_query_log_limit bytes, without splitting an escape
# or a character: the text of a cut statement is up to this much shorter.
_CUT_SLACK: Final = 3
_MAX_RELEASED: Final = 4096  # statements remembered as released before their QUERY row

_TABLE_ACTIONS: Final = {"READ": READ, "WRITE": WRITE, "CREATE": DDL, "ALTER": DDL, "DROP": DDL, "RENAME": DDL}
_DELETES: Final = frozenset({"DELETE", "TRUNCATE"})  # their WRITE rows remove data, as pgAudit's DELETE does
_CONNECTION_OPS: Final = frozenset({"CONNECT", "CHANGEUSER", "FAILED_CONNECT", "DISCONNECT"})

_UNESCAPE: Final = re.compile(r"\\(.)", re.S)
_UNESCAPED: Final = {"n": "\n", "r": "\r", "t": "\t"}

# Statement kinds, by the first keyword (and the second, for CREATE USER and friends).
_KIND_READ: Final = "read"
_KIND_WRITE: Final = "write"
_KIND_DDL: Final = "ddl"
_KIND_PERMISSION: Final = "permission"
_KIND_EXECUTE: Final = "execute"  # CALL of a stored procedure
_KIND_OTHER: Final = "other"
_KIND_AUDIT: Final = "audit"  # the audit plugin's own settings changed, or the plugin (un)installed
_VERB_KINDS: Final = {
    "SELECT": _KIND_READ, "WITH": _KIND_READ, "TABLE": _KIND_READ, "HANDLER": _KIND_READ,
    "INSERT": _KIND_WRITE, "UPDATE": _KIND_WRITE, "DELETE": _KIND_WRITE, "REPLACE": _KIND_WRITE,
    "LOAD": _KIND_WRITE, "TRUNCATE": _KIND_WRITE,
    "CREATE": _KIND_DDL, "ALTER": _KIND_DDL, "DROP": _KIND_DDL, "RENAME": _KIND_DDL,
    "GRANT": _KIND_PERMISSION, "REVOKE": _KIND_PERMISSION, "CALL": _KIND_EXECUTE,
}  # fmt: skip
_OWN_EVENT_KINDS: Final = frozenset({_KIND_PERMISSION, _KIND_AUDIT, _KIND_EXECUTE})  # one event each, rows aside
_ACCOUNT_OBJECTS: Final = frozenset({"USER", "ROLE"})
_OR_REPLACE_ACCOUNT: Final = re.compile(r"\s+REPLACE\s+(?:USER|ROLE)\b", re.I)  # after `CREATE OR`
_CLAUSE_WORDS: Final = (
    r"(?:WHERE|JOIN|INNER|LEFT|RIGHT|CROSS|NATURAL|STRAIGHT_JOIN|FULL|OUTER|ON|USING|GROUP|ORDER|LIMIT|HAVING|"
    r"UNION|EXCEPT|INTERSECT|FOR|LOCK|INTO|WINDOW|PARTITION|USE|FORCE|IGNORE|SET|RETURNING|PROCEDURE)\b"
)
# The further tables of a comma join, after `FROM a [[AS] x]`.
_NEXT_TABLE: Final = re.compile(r"(?:\s+(?:AS\s+)?(?!" + _CLAUSE_WORDS + r")[\w$]+)?\s*,\s*" + NAME, re.I)
# The names a WITH clause defines: not tables.
_CTE_NAME: Final = re.compile(r"(?:\bWITH(?:\s+RECURSIVE)?|,)\s*`?([\w$]+)`?\s*(?:\([^()]*\)\s*)?AS\s*\(", re.I)
_NOT_TABLES: Final = frozenset({"dual"})
# `HANDLER t READ ...` reads t (OPEN and CLOSE read nothing); `CALL [db.]p(...)` runs p.
_HANDLER_READ: Final = re.compile(r"\s*HANDLER\s+" + NAME + r"\s+READ\b", re.I)
_HANDLER_OPEN_AS: Final = re.compile(r"\s*HANDLER\s+" + NAME + r"\s+OPEN\s+(?:AS\s+)?`?([\w$]+)`?", re.I)
_CALLED: Final = re.compile(r"\bCALL\s+" + NAME, re.I)
# CREATE TABLE ... [AS] SELECT / WITH ...: group 1 starts the query whose tables are read.
_CREATE_TABLE_SELECT: Final = re.compile(
    r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+)?TABLE\b.*?[\s()]((?:SELECT|WITH)\b.*)", re.I | re.S
)
# information_schema and performance_schema names are not case-sensitive (`INFORMATION_SCHEMA.TABLES` is
# information_schema.tables); the schema of these and of mysql is written in lower case, so one table is one object.
_CASELESS_SCHEMAS: Final = frozenset({"information_schema", "performance_schema"})
_SYSTEM_LENGTHS: Final = (5, 18)  # len("mysql"), len("information_schema") and len("performance_schema")
_TEMPORARY_TABLE_SELECT: Final = re.compile(
    r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?TEMPORARY\s+TABLE\b.*\bSELECT\b", re.I | re.S
)
# A statement that only sets server_audit_* variables, or (un)installs the plugin: its values are the evidence
# (which events are no longer audited) and hold no personal data, so they are not masked.
_AUDIT_VALUE: Final = r"""(?:'(?:[^'\\]|''|\\.)*'|"(?:[^"\\]|""|\\.)*"|[\w.+-]+)"""
_AUDIT_ASSIGNMENT: Final = r"(?:GLOBAL\s+|@@GLOBAL\.|@@)?server_audit_\w+\s*:?=\s*" + _AUDIT_VALUE
_AUDIT_SETTINGS: Final = re.compile(
    r"\s*(?:SET\s+" + _AUDIT_ASSIGNMENT + r"(?:\s*,\s*" + _AUDIT_ASSIGNMENT + r")*"
    r"|(?:UN)?INSTALL\s+(?:PLUGIN\s+server_audit(?:\s+SONAME\s+'server_audit(?:\.so)?')?"
    r"|SONAME\s+'server_audit(?:\.so)?'))\s*;?\s*",
    re.I,
)
DEFAULT_IGNORED: Final = ("mysql.table_stats", "mysql.column_stats", "mysql.index_stats")


class MariaDbAuditOptions(BaseModel):
    """How the plugin was configured, where the log does not say."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    output: Literal["auto", "file", "syslog"] = Field(
        default="auto", description="server_audit_output_type; auto decides per line"
    )
    syslog_ident: str = Field(default="mysql-server_auditing", description="server_audit_syslog_ident")
    syslog_info_words: int | None = Field(
        default=None,
        ge=0,
        description="words in server_audit_syslog_info; unset: the record starts where a record fits, and a line "
        "where it fits at two places (a comma in the info) is a parse failure unless one matches the info seen "
        "before or names the syslog host as serverhost",
    )
    host_port: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="whether the host field is host:port (MariaDB 12+); auto learns it from an unambiguous line",
    )
    ignore_objects: CommaSeparated = Field(
        default=DEFAULT_IGNORED, description="db.table globs never reported (engine-internal reads)"
    )
    max_pending_rows: int = Field(default=10_000, ge=1, description="TABLE rows held while waiting for their QUERY row")
    query_log_limit: int = Field(
        default=1024, ge=1, description="server_audit_query_log_limit: a statement logged this long (in bytes, "
        "as escaped) may be cut, so a table name it ends with is no object (it may be cut too)",
    )  # fmt: skip


class _Who(NamedTuple):
    """The header fields that repeat on every row of a connection; cached by their text."""

    server: str | None
    user: str | None
    ip: str | None
    port: int | None
    domain: str | None


class _Rec(NamedTuple):
    """One parsed record; the object and retcode stay unsplit at `line[tail:]`."""

    offset: int
    line: str
    time_us: int
    who: _Who
    conn: str
    query_id: str
    op: str
    db: str
    tail: int


class _Decoded(NamedTuple):
    """What a QUERY row's quoted text means; memoized on the text, since applications repeat statements."""

    sql: str
    shown: str  # the statement as indexed: masked unless masking is off
    shown_escaped: str | None  # `shown` escaped back as the plugin writes it; None when equal to the raw text
    kind: str
    verb: str
    export_path: str | None  # INTO OUTFILE/DUMPFILE target (ending in "…" when the statement cut it)
    cut: bool  # as long as server_audit_query_log_limit: the text may end anywhere


class _Statement(NamedTuple):
    """A QUERY row: its decoded text and its outcome."""

    dec: _Decoded
    original: str  # the line, with the query replaced by `dec.shown`
    outcome: str
    error: str | None


class _ZoneClock:
    """`YYYYMMDD HH:MM:SS` in the server's zone → epoch seconds, memoized per distinct second.

    A wall-clock time repeated at the end of DST is ambiguous. The log only moves forward, so the second
    occurrence is taken once the log has already passed the first (the time would otherwise jump back)."""

    __slots__ = ("_cache", "_last", "_tz")

    def __init__(self, tz: tzinfo | None) -> None:
        self._tz = tz
        self._cache: dict[str, tuple[int, int]] = {}
        self._last = -1

    def __call__(self, text: str) -> int:
        pair = self._cache.get(text)
        if pair is None:
            pair = self._convert(text)
            if len(self._cache) >= 4096:
                self._cache.clear()
            self._cache[text] = pair
        first, second = pair
        chosen = second if second > first and first < self._last - 60 else first
        self._last = chosen
        return chosen

    def _convert(self, text: str) -> tuple[int, int]:
        if text[8] != " " or text[11] != ":" or text[14] != ":":
            raise TimestampError(f"bad timestamp {text!r}")
        try:
            parts = (int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[9:11]), int(text[12:14]))
            second = int(text[15:17])
        except ValueError:
            raise TimestampError(f"bad timestamp {text!r}") from None
        first = local_epoch(*parts, second, self._tz)
        if self._tz is None:
            return first, first
        return first, int(datetime(*parts, second, tzinfo=self._tz, fold=1).timestamp())


def _is_file_line(line: str) -> bool:
    """A line of the plugin's own file (`YYYYMMDD HH:MM:SS,...`), not a syslog line."""
    return line[8:9] == " " and line[:8].isdecimal()


def _unescape(text: str) -> str:
    """Undo the plugin's escaping (\\' \\\\ \\n \\r \\t). Chained replaces are ~5x faster than a regex; escaped
    backslashes go first, through a placeholder, so that `\\\\n` stays a backslash and an n."""
    if "\\" not in text:
        return text
    if "\x00" in text:  # the placeholder itself occurs: take the slow road
        return _UNESCAPE.sub(lambda m: _UNESCAPED.get(m.group(1), m.group(1)), text)
    return (
        text.replace("\\\\", "\x00")
        .replace("\\'", "'")
        .replace("\\n", "\n")
        .replace("\\r", "\r")
        .replace("\\t", "\t")
        .replace("\x00", "\\")
    )


def _escape(text: str) -> str:
    """The plugin's escaping, for the masked `event.original` (chained replaces: ~15x faster than translate)."""
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _bare(name: str) -> str:
    return name.replace("`", "")


def _qualify(name: str, db: str) -> str | None:
    """`db:<db>.<table>` for a name as written in SQL, with the session's database when unqualified (the system
    schemas in lower case, and the tables of information_schema and performance_schema too)."""
    name = _bare(name)
    if "." in name:
        dot = name.index(".")
        return _system_object(name[:dot], name[dot + 1 :]) if dot in _SYSTEM_LENGTHS else "db:" + name
    if not db:
        return None
    return _system_object(db, name) if len(db) in _SYSTEM_LENGTHS else f"db:{db}.{name}"


def _system_object(schema: str, table: str) -> str:
    """`db:<schema>.<table>` for a schema whose name is as long as a system schema's."""
    low = schema.lower()
    if low in _CASELESS_SCHEMAS:
        return f"db:{low}.{table.lower()}"
    return f"db:{low if low == 'mysql' else schema}.{table}"


def _access_action(dec: _Decoded) -> str:
    """What a read or write statement does to the tables it names (its target, for a write)."""
    if dec.export_path is not None:
        return EXPORT
    if dec.kind == _KIND_READ:
        return READ
    return DELETE if dec.verb in _DELETES else WRITE


def _distinct(rows: list[_Rec]) -> list[_Rec]:
    """The rows without repeats: a self-join (`FROM t a JOIN t b`) logs a row per reference to the table, and
    one statement is one access per table. Rows without a query id (0: the event scheduler's own, one per run)
    are not one statement: they are kept."""
    seen: set[str] = set()
    for r in rows:
        table = r.line[r.tail :]
        if table in seen:
            break
        seen.add(table)
    else:
        return rows  # no table twice: the usual case, and the only one for one-table statements
    kept: dict[tuple[str, str, str, str, _Who], None] = {}
    out = []
    for r in rows:
        same = (r.query_id, r.op, r.db, r.line[r.tail :], r.who)
        if same not in kept or r.query_id == "0":
            kept[same] = None
            out.append(r)
    return out


def _unnamed_user_change(rec: _Rec) -> ParseFailure:
    return ParseFailure(
        rec.offset,
        f"CHANGEUSER names no user (the server_audit plugin of MariaDB 10.11 writes none for COM_CHANGE_USER, and "
        f"garbage as the database), and no later row of connection {rec.conn} named the new one",
        rec.line,
    )


def _same_host(server: str, syslog_host: str) -> bool:
    """The record's serverhost and the syslog host name the same machine (one may be fully qualified)."""
    a, b = server.lower(), syslog_host.lower()
    return a == b or a.partition(".")[0] == b.partition(".")[0]


def _statement_kind(sql: str) -> tuple[str, str]:
    m = FIRST_WORDS.match(sql)
    if m is None:
        return _KIND_OTHER, ""
    verb = m.group(1).upper()
    second = (m.group(2) or "").upper()
    if verb in ("CREATE", "DROP", "ALTER", "RENAME") and second in _ACCOUNT_OBJECTS:
        return _KIND_PERMISSION, verb
    if verb == "CREATE" and second == "OR" and _OR_REPLACE_ACCOUNT.match(sql, m.end()) is not None:
        return _KIND_PERMISSION, verb
    if verb == "SET" and second == "PASSWORD":
        return _KIND_PERMISSION, verb
    if verb in ("SET", "INSTALL", "UNINSTALL") and "server_audit" in sql.lower():
        return _KIND_AUDIT, verb
    return _VERB_KINDS.get(verb, _KIND_OTHER), verb


def _audit_settings_only(kind: str, sql: str) -> bool:
    return kind == _KIND_AUDIT and _AUDIT_SETTINGS.fullmatch(sql) is not None


def _statement_tables(sql: str, kind: str) -> tuple[str, ...]:
    """The tables a read or write statement names, without backquotes, each once, in order: for a read, those
    after FROM, JOIN and TABLE (and the rest of a comma join); for a write, its target (after INSERT/REPLACE
    INTO, UPDATE, DELETE FROM, TRUNCATE, LOAD ... INTO TABLE) first, then the tables it reads."""
    if kind not in (_KIND_READ, _KIND_WRITE):
        return ()
    handler = _HANDLER_READ.match(sql) if kind == _KIND_READ else None
    if handler is not None:  # the table, or the alias its HANDLER ... OPEN AS gave (resolved per connection)
        return (_bare(handler.group(1)),)
    names: list[str] = []
    for m in TABLE_REF.finditer(sql):
        keyword = m.group(1).upper()
        # INTO, UPDATE and TRUNCATE name a table only as a write's target: not in SELECT ... INTO @v, FOR
        # UPDATE or ON DUPLICATE KEY UPDATE col = ...
        if keyword in ("INTO", "UPDATE", "TRUNCATE") and (names or kind != _KIND_WRITE):
            continue
        names.append(m.group(2))
        if keyword == "FROM":
            names.extend(_comma_joined(sql, m.end()))
    ctes = {c.lower() for c in _CTE_NAME.findall(sql)} if "with" in sql.lower() else set()
    found: dict[str, None] = {}
    for name in names:
        bare = _bare(name)
        if "*" in bare or bare.lower() in _NOT_TABLES or bare.lower() in ctes:
            continue
        found[bare] = None
    return tuple(found)


def _comma_joined(sql: str, pos: int) -> list[str]:
    """The further tables of `FROM a [[AS] x], b [[AS] y] ...`, from the end of `a`."""
    names = []
    while (m := _NEXT_TABLE.match(sql, pos)) is not None:
        names.append(m.group(1))
        pos = m.end()
    return names


class MariaDbAuditParser(Parser):
    """server_audit lines → login/logout, table accesses joined to their statement's outcome, DDL,
    permission changes and failed statements."""

    name = "mariadb-audit"
    dataset = "mariadb.audit"
    description = "MariaDB server_audit plugin log (file or syslog output)"
    Options = MariaDbAuditOptions
    needs_timezone = True
    # TABLE rows wait for their QUERY row, which comes when the statement ends. A denied statement's comes
    # at once; after this long in a quiet log the rows are released as accesses of unknown outcome (a long
    # export is seen while it runs, and TABLE-only auditing is not held back), and their QUERY row, when it
    # comes, adds nothing (`_released`) unless it shows the statement was an export: then it is the export.
    idle_flush_s = 5.0

    def __init__(self, context: SourceContext, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        opts = self.options
        assert isinstance(opts, MariaDbAuditOptions)
        self._opts = opts
        self._clock = _ZoneClock(context.tz)
        self._framing = SyslogFraming(context.tz, context.reference_time)
        self._masker = SqlMasker("mysql") if context.mask_literals else None
        self._ignored = re.compile("|".join(translate(g) for g in opts.ignore_objects)) if opts.ignore_objects else None
        self._ignored_cache: dict[str, bool] = {}
        self._who_cache: dict[tuple[str, str, str], _Who] = {}
        self._decoded: dict[str, _Decoded] = {}
        self._tables: dict[tuple[str, bool], tuple[str, ...]] = {}  # (statement, cut) → its tables
        self._ports_seen = opts.host_port == "always"
        # TABLE rows waiting for their QUERY row, per (serverhost, connection). Insertion order is the order
        # of each connection's first waiting row, so the first entry holds the earliest offset.
        self._pending: dict[tuple[str, str], list[_Rec]] = {}
        self._pending_rows = 0
        # Statements whose rows were released before their QUERY row (idle, flush at a rotation, the bound):
        # (serverhost, connection, query id) → the objects their READ rows read. Their QUERY row is no event
        # of its own, unless it exports what those rows read. Bounded, oldest dropped.
        self._released: dict[tuple[str, str, str], tuple[str, ...]] = {}
        # CHANGEUSER rows that named no user, per (serverhost, connection), until a row of it names the new one.
        self._user_changes: dict[tuple[str, str], _Rec] = {}
        # HANDLER aliases per (serverhost, connection): alias (lower case) → table as written. Bounded.
        self._handlers: dict[tuple[str, str], dict[str, str]] = {}
        # Connections whose login failed: their DISCONNECT is not a logout. Bounded, oldest dropped.
        self._failed_logins: dict[tuple[str, str], None] = {}
        # The server_audit_syslog_info before each syslog host's last record (None: none, not even a space).
        self._infos: dict[str, str | None] = {}

    # -- the Parser interface -------------------------------------------------------------------------

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        rec = self._record(offset, line)
        if rec is None or isinstance(rec, ParseFailure):
            return NOTHING if rec is None else (rec,)
        if self._user_changes and rec.op not in _TABLE_ACTIONS:
            return self._after_user_change(rec)
        op = rec.op
        if op in _TABLE_ACTIONS:
            return self._on_table_row(rec)
        if op == "QUERY":
            return self._on_query(rec)
        if op in _CONNECTION_OPS:
            return self._on_connection(rec)
        return (ParseFailure(offset, f"unknown server_audit operation {op!r}", line),)

    def _dispatch(self, rec: _Rec) -> Sequence[Outcome]:
        """`feed`'s dispatch, for the rare record that first completes a change of user."""
        if rec.op in _TABLE_ACTIONS:
            return self._on_table_row(rec)
        if rec.op == "QUERY":
            return self._on_query(rec)
        if rec.op in _CONNECTION_OPS:
            return self._on_connection(rec)
        return (ParseFailure(rec.offset, f"unknown server_audit operation {rec.op!r}", rec.line),)

    def flush(self) -> Sequence[Outcome]:
        out: list[Outcome] = []
        for key in list(self._pending):
            out.extend(self._release(key))
        return out

    def finish(self) -> Sequence[Outcome]:
        out = list(self.flush())
        out.extend(_unnamed_user_change(rec) for rec in self._user_changes.values())
        self._user_changes.clear()
        return out

    def pending_offset(self) -> int | None:
        for rows in self._pending.values():
            return rows[0].offset
        return None

    def snapshot(self) -> Any:
        """The statements released before their QUERY row, so that the row, read after a restart or in the
        next file of a rotation (a statement running while the plugin rotated its file), is not an event; and
        the CHANGEUSER rows still waiting for a row that names their user (they hold no checkpoint back: a
        session may stay quiet for hours)."""
        state: dict[str, Any] = {}
        if self._released:
            state["released"] = [[*k, list(read)] if read else list(k) for k, read in self._released.items()]
        if self._user_changes:
            state["user_changes"] = [
                [key[0], key[1], rec.offset, rec.time_us, rec.line, rec.tail] for key, rec in self._user_changes.items()
            ]
        return state or None

    def restore(self, state: Any) -> None:
        if not isinstance(state, dict):
            return
        for item in state.get("released", ()):  # [server, conn, query id] and, if any, [objects read]
            if isinstance(item, list) and len(item) in (3, 4) and all(isinstance(x, str) for x in item[:3]):
                read = item[3] if len(item) == 4 and isinstance(item[3], list) else []
                self._note_released((item[0], item[1], item[2]), tuple(x for x in read if isinstance(x, str)))
        for item in state.get("user_changes", ()):
            if (
                isinstance(item, list) and len(item) == 6 and isinstance(item[0], str) and isinstance(item[1], str)
                and isinstance(item[2], int) and isinstance(item[3], int) and isinstance(item[4], str)
                and isinstance(item[5], int)
            ):  # fmt: skip
                who = _Who(item[0] or None, None, None, None, None)
                rec = _Rec(item[2], item[4], item[3], who, item[1], "0", "CHANGEUSER", "", item[5])
                self._user_changes[(item[0], item[1])] = rec

    # -- framing --------------------------------------------------------------------------------------

    def _record(self, offset: int, line: str) -> _Rec | ParseFailure | None:
        """Split the framing (file stamp or syslog) and the header fields."""
        output = self._opts.output
        if line[8:9] == " " and line[:8].isdecimal() and output != "syslog":  # `_is_file_line`, inline: per line
            try:
                time_us = self._clock(line[:_FILE_STAMP_LEN]) * 1_000_000
            except TimestampError as exc:
                return ParseFailure(offset, str(exc), line)
            if line[_FILE_STAMP_LEN : _FILE_STAMP_LEN + 1] != ",":
                return ParseFailure(offset, "no comma after the timestamp", line)
            m = _HEAD.match(line, _FILE_STAMP_LEN + 1)
            if m is None:
                return ParseFailure(offset, "not a server_audit record (fields 2-8 do not fit)", line)
            return self._header(offset, line, m, time_us, None)
        if output == "file":
            return ParseFailure(offset, "not a server_audit file line (expected 'YYYYMMDD HH:MM:SS,')", line)
        try:
            framed = self._framing.split(line)
        except TimestampError as exc:
            return ParseFailure(offset, str(exc), line)
        if framed.tag != self._opts.syslog_ident:
            return None  # another program in a shared syslog file
        if framed.message.startswith("message repeated ") and _SYSLOG_REPEAT.fullmatch(framed.message):
            # rsyslog's $RepeatedMsgReduction: the record before, again. Every record names its connection and
            # query id, so only a self-join's TABLE rows repeat, and a repeated row is no further access.
            return None
        base = len(line) - len(framed.message)
        if self._opts.syslog_info_words is not None:
            m = self._after_info_words(line, base, self._opts.syslog_info_words)
            if m is None:
                return ParseFailure(offset, "no server_audit record after the syslog info", line)
        else:
            found = self._record_start(offset, line, base, framed.host)
            if isinstance(found, ParseFailure):
                return found
            m = found
        return self._header(offset, line, m, framed.time_us, framed.host)

    @staticmethod
    def _after_info_words(line: str, base: int, words: int) -> re.Match[str] | None:
        """The record after the configured number of words of `server_audit_syslog_info`."""
        pos = base
        for _ in range(words):
            pos = line.find(" ", pos)
            if pos < 0:
                return None
            pos += 1
        return _HEAD.match(line, pos)

    def _record_start(self, offset: int, line: str, base: int, host: str) -> re.Match[str] | ParseFailure:
        """The record in a syslog message that starts at `base`: `<server_audit_syslog_info> <record>`.

        The record starts where its fields fit, after a space (or at `base`). An info with a comma
        ('dc1,rack3') fits as the serverhost and user of a record too; so may a user name with a space and a
        comma. Of several starts, the one after the info this host's earlier lines had wins, else the one
        whose serverhost is the syslog host; if neither decides, the line is a parse failure rather than an
        event of the wrong user."""
        starts = self._record_starts(line, base)
        if not starts:
            return ParseFailure(offset, "no server_audit record after the syslog info", line)
        chosen = starts[0] if len(starts) == 1 else self._choose_start(line, base, starts, host)
        if chosen is None:
            return ParseFailure(
                offset,
                "ambiguous syslog record: server_audit_syslog_info (or the user name) holds a comma, so the "
                f"record fits at {len(starts)} places; set the option syslog_info_words",
                line,
            )
        info = line[base : chosen.start() - 1] if chosen.start() > base else None
        if host not in self._infos or self._infos[host] != info:
            if len(self._infos) >= 1024:
                self._infos.clear()
            self._infos[host] = info
        return chosen

    @staticmethod
    def _record_starts(line: str, base: int) -> list[re.Match[str]]:
        """Every place after a space where a record fits. A later start lies before the end of the first
        match's header: the first match took the info's words as its serverhost and user."""
        found: list[re.Match[str]] = []
        pos, end = base, len(line)
        for _ in range(_MAX_START_TRIES):
            m = _SYSLOG_HEAD.match(line, pos)
            if m is not None:
                if not found:
                    end = m.end()
                found.append(m)
            space = line.find(" ", pos, end)
            if space < 0:
                break
            pos = space + 1
        return found

    def _choose_start(self, line: str, base: int, starts: list[re.Match[str]], host: str) -> re.Match[str] | None:
        if host in self._infos:
            info = self._infos[host]
            same_info = [m for m in starts if (line[base : m.start() - 1] if m.start() > base else None) == info]
            if len(same_info) == 1:
                return same_info[0]
        named = [m for m in starts if _same_host(m.group(1), host)]
        return named[0] if len(named) == 1 else None

    def _header(self, offset: int, line: str, m: re.Match[str], time_us: int, syslog_host: str | None) -> _Rec:
        server, user, host, conn, query_id, op, db = m.groups()
        who = self._who_cache.get((server, user, host))
        if who is None:
            who = self._who(server or syslog_host or self.context.host, user, host)
            if len(self._who_cache) >= 4096:
                self._who_cache.clear()
            self._who_cache[(server, user, host)] = who
        return _Rec(offset, line, time_us, who, conn, query_id, op, db, m.end())

    def _who(self, server: str | None, user: str, host: str) -> _Who:
        """The client: `localhost` (unix socket) and empty give no address; MariaDB 12 appends `:port`
        (split on the last colon; an address that is a valid IPv6 as a whole keeps its colons until a
        line with an unambiguous port has been seen, or `host_port: always`)."""
        port: int | None = None
        if self._opts.host_port != "never" and ":" in host:
            head, _, tail = host.rpartition(":")
            if head and tail.isdecimal():
                whole = _ip(host)
                if whole is None or self._ports_seen:
                    if whole is None and not self._ports_seen:
                        self._ports_seen = True
                        self._who_cache.clear()
                    host, port = head.removeprefix("[").removesuffix("]"), int(tail)
        if not host or host == "localhost":
            return _Who(server, user or None, None, port, None)
        ip = _ip(host)
        return _Who(server, user or None, ip, port, None if ip is not None else host)

    # -- operations -----------------------------------------------------------------------------------

    def _on_table_row(self, rec: _Rec) -> Sequence[Outcome]:
        tail = rec.line[rec.tail :]
        if not tail.endswith(","):
            return (ParseFailure(rec.offset, f"{rec.op} row with a retcode (expected an empty one)", rec.line),)
        table = tail[:-1].partition("|")[0]  # RENAME: old|newdb.new
        if self._is_ignored(f"{rec.db}.{table}"):
            return NOTHING
        if rec.query_id == "0" and rec.db == "mysql" and rec.who.user == "event_scheduler":
            return NOTHING  # the scheduler looking up and marking its events (mysql.event), no statement's rows
        key = (rec.who.server or "", rec.conn)
        rows = self._pending.get(key)
        if rows is None:
            self._pending[key] = [rec]
        else:
            rows.append(rec)
        self._pending_rows += 1
        if self._pending_rows > self._opts.max_pending_rows:
            return self._release(next(iter(self._pending)))
        return NOTHING

    def _on_connection(self, rec: _Rec) -> Sequence[Outcome]:
        tail = rec.line[rec.tail :]
        code = tail.rpartition(",")[2]
        if not code.lstrip("-").isdecimal():
            return (ParseFailure(rec.offset, f"{rec.op} without a numeric retcode", rec.line),)
        key = (rec.who.server or "", rec.conn)
        out: list[Outcome] = []
        if key in self._pending:  # the server restarted and reused the id, or a DISCONNECT
            out.extend(self._release(key))
        if rec.op == "CHANGEUSER" and rec.who.user is None:
            return out + self._hold_user_change(key, rec, code)
        if rec.op == "DISCONNECT":
            if self._handlers:
                self._handlers.pop(key, None)
            if key in self._failed_logins:
                del self._failed_logins[key]
                return out
            out.append(self._event(rec, LOGOUT, SUCCESS))
            return out
        if rec.op == "FAILED_CONNECT" or code != "0":
            self._failed_logins[key] = None
            if len(self._failed_logins) > 1024:
                del self._failed_logins[next(iter(self._failed_logins))]
            out.append(self._event(rec, LOGIN, FAILURE, error=code))
        else:
            out.append(self._event(rec, LOGIN, SUCCESS))
        return out

    def _hold_user_change(self, key: tuple[str, str], rec: _Rec, code: str) -> list[Outcome]:
        """A CHANGEUSER row without a user: MariaDB 10.11's plugin (1.4.14) writes COM_CHANGE_USER with an empty
        user and host and garbage in the database field. The new user is the one the connection's next QUERY,
        connection or DISCONNECT row names: the row waits for it (`_after_user_change`), in `snapshot` and
        `carry_over` too; at the end of the input it is a parse failure."""
        if code != "0":
            return [ParseFailure(rec.offset, f"failed CHANGEUSER (error {code}) names no user: the server_audit "
                                 "plugin of MariaDB 10.11 writes none for COM_CHANGE_USER", rec.line)]  # fmt: skip
        out: list[Outcome] = []
        earlier = self._user_changes.pop(key, None)
        if earlier is not None and (earlier.offset, earlier.line) != (rec.offset, rec.line):  # not re-read (restart)
            out.append(_unnamed_user_change(earlier))
        if len(self._user_changes) >= 1024:  # bounded: connections that never logged another row
            out.append(_unnamed_user_change(self._user_changes.pop(next(iter(self._user_changes)))))
        self._user_changes[key] = rec
        return out

    def _after_user_change(self, rec: _Rec) -> Sequence[Outcome]:
        """A row of a connection whose CHANGEUSER row named no user: the login of the user it names, at the
        CHANGEUSER row (its database is the session's, from this row), then the row's own outcomes. A new
        connection with the same id (the server restarted) names no one: the CHANGEUSER row is then a parse
        failure."""
        key = (rec.who.server or "", rec.conn)
        held = self._user_changes.get(key)
        if held is None or (rec.op == "CHANGEUSER" and rec.who.user is None):
            return self._dispatch(rec)
        del self._user_changes[key]
        if rec.op in ("CONNECT", "FAILED_CONNECT") or rec.who.user is None:
            first: Outcome = _unnamed_user_change(held)
        else:
            first = self._event(held._replace(db=rec.db), LOGIN, SUCCESS, who=rec.who)
        return (first, *self._dispatch(rec))

    def _on_query(self, rec: _Rec) -> Sequence[Outcome]:
        stmt = self._statement(rec)
        if isinstance(stmt, ParseFailure):
            return (stmt,)
        rows = self._take_rows(rec)
        if not rows and self._released and (rec.who.server or "", rec.conn, rec.query_id) in self._released:
            read = self._released.pop((rec.who.server or "", rec.conn, rec.query_id))
            if stmt.dec.kind == _KIND_READ and stmt.dec.export_path is not None:
                # a long SELECT ... INTO OUTFILE: its rows were reads of unknown outcome; this is the export
                return [self._statement_event(rec, stmt, EXPORT, obj, index=i) for i, obj in enumerate(read)]
            if stmt.dec.kind in (_KIND_READ, _KIND_WRITE, _KIND_DDL):
                return NOTHING  # its rows were the events, with outcome unknown
        if stmt.dec.kind in _OWN_EVENT_KINDS:
            return self._own_event(rec, stmt, rows)
        if len(rows) > 1:
            rows = _distinct(rows)
        out: list[Outcome] = []
        export_path = stmt.dec.export_path
        # In DDL, a READ is a user's read only when the data lands in a table (CREATE TABLE ... SELECT shows
        # a WRITE); a view or trigger definition and ALTER's table copy read for the server's own sake, and
        # WRITEs to the mysql schema are its bookkeeping (mysql.proc for routines).
        ddl = stmt.dec.kind == _KIND_DDL
        keep_reads = (
            not ddl
            or any(r.op == "WRITE" and r.db != "mysql" for r in rows)
            or _TEMPORARY_TABLE_SELECT.match(stmt.dec.sql) is not None  # no WRITE row for a temporary table
        )
        ddl_done = False
        for row in rows:
            action = _TABLE_ACTIONS[row.op]
            if ddl and ((action == WRITE and row.db == "mysql") or (action == READ and not keep_reads)):
                continue
            if action == READ and export_path is not None:
                action = EXPORT
            elif action != READ and stmt.dec.verb in _DELETES:  # TRUNCATE of a MyISAM table: a CREATE row
                action = DELETE
            ddl_done = ddl_done or action == DDL
            out.append(self._row_event(row, action, stmt, export_path, rec.who))
        if ddl and not ddl_done:
            out.append(self._statement_event(rec, stmt, DDL, self._ddl_object(stmt.dec.sql, rec.db)))
            if not rows and stmt.outcome == SUCCESS:
                out.extend(self._created_from(rec, stmt))
        elif not rows and stmt.dec.kind in (_KIND_READ, _KIND_WRITE):
            out.extend(self._statement_accesses(rec, stmt))
        elif not rows and stmt.outcome == FAILURE and stmt.dec.kind == _KIND_OTHER:
            out.append(self._statement_event(rec, stmt, OTHER, None))  # an attempt: a syntax error, a denial
        return out

    def _own_event(self, rec: _Rec, stmt: _Statement, rows: list[_Rec]) -> Sequence[Outcome]:
        """A permission change, a change of the audit plugin or a CALL: one event of the statement's own."""
        kind = stmt.dec.kind
        if kind == _KIND_PERMISSION:  # its rows are grant-table bookkeeping
            return (self._permission_event(rec, stmt),)
        if kind == _KIND_AUDIT:  # turning auditing down is how a reader would hide
            return (
                *(self._row_event(r, _TABLE_ACTIONS[r.op], stmt, None, rec.who) for r in rows),
                self._statement_event(rec, stmt, OTHER, None),
            )
        # CALL: an execute of the routine; its mysql rows (the READ of mysql.proc) look the routine up
        called = _CALLED.search(stmt.dec.sql)
        routine = None if called is None else self._object(called.group(1), rec.db)
        return (
            *(self._row_event(r, _TABLE_ACTIONS[r.op], stmt, None, rec.who) for r in rows if r.db != "mysql"),
            self._statement_event(rec, stmt, EXECUTE, routine),
        )

    def _created_from(self, rec: _Rec, stmt: _Statement) -> list[AccessEvent]:
        """CREATE [TEMPORARY] TABLE ... SELECT without TABLE rows: reads of the tables its query names (the data
        is copied), after the DDL event."""
        m = _CREATE_TABLE_SELECT.match(stmt.dec.sql)
        if m is None:
            return []
        out: list[AccessEvent] = []
        seen: set[str] = set()
        for name in _statement_tables(m.group(1), _KIND_READ):
            obj = self._object(name, rec.db)
            if obj is not None and obj not in seen:
                seen.add(obj)
                out.append(self._statement_event(rec, stmt, READ, obj, index=len(out) + 1))
        return out

    def _handler_tables(self, rec: _Rec, sql: str, tables: tuple[str, ...]) -> tuple[str, ...]:
        """`HANDLER t OPEN AS h` names h for t in its connection; `HANDLER h READ` reads t."""
        key = (rec.who.server or "", rec.conn)
        m = _HANDLER_OPEN_AS.match(sql)
        if m is not None:
            if key not in self._handlers and len(self._handlers) >= 1024:
                del self._handlers[next(iter(self._handlers))]
            self._handlers.setdefault(key, {})[m.group(2).lower()] = m.group(1)
        aliases = self._handlers.get(key) if tables else None
        return tables if aliases is None else tuple(aliases.get(t.lower(), t) for t in tables)

    def _statement_accesses(self, rec: _Rec, stmt: _Statement) -> list[AccessEvent]:
        """A read or write statement that logged no TABLE row: the tables come from its text.

        Failed, it is one event (a table-level denial, 1142, or a missing table logs no TABLE row). Succeeded,
        it is one event per table it names: the plugin logs no TABLE rows when `server_audit_events` lacks
        TABLE (CONNECT,QUERY or QUERY_DML), nor for a SELECT the query cache answered. Not so for a trigger's
        statement: its tables are among the TABLE rows of the statement that fired it, still waiting."""
        dec = stmt.dec
        action = _access_action(dec)
        tables = self._statement_tables(dec)
        if dec.verb == "HANDLER":  # OPEN and CLOSE log no TABLE row (nor does READ without TABLE events)
            tables = self._handler_tables(rec, dec.sql, tables)
        if stmt.outcome == FAILURE:
            return [self._statement_event(rec, stmt, action, self._object(tables[0], rec.db) if tables else None)]
        if (rec.who.server or "", rec.conn) in self._pending:
            return []
        if not tables and action == EXPORT:  # its FROM cut off by the length limit, or a SELECT of no table
            return [self._statement_event(rec, stmt, EXPORT, None)]
        out: list[AccessEvent] = []
        seen: set[str] = set()
        for i, name in enumerate(tables):
            obj = self._object(name, rec.db)
            if obj is not None and obj not in seen:
                seen.add(obj)
                # a write's target first; the tables it reads from (INSERT ... SELECT) are reads
                verb_action = action if i == 0 or dec.kind == _KIND_READ else READ
                out.append(self._statement_event(rec, stmt, verb_action, obj, index=len(out)))
        return out

    # -- helpers --------------------------------------------------------------------------------------

    def _statement(self, rec: _Rec) -> _Statement | ParseFailure:
        """Decode `'<escaped sql>',retcode`: the quoted field ends at the record's last `',`."""
        line = rec.line
        end = line.rfind("',")
        code = line[end + 2 :]
        if end <= rec.tail or not code.lstrip("-").isdecimal():
            if line[rec.tail : rec.tail + 1] == "'" and not _is_file_line(line):
                return self._cut_statement(rec)  # syslog's message size cut it (the plugin's file writes all)
            return ParseFailure(rec.offset, "QUERY object is not a quoted string followed by a retcode", line)
        if line[rec.tail : rec.tail + 1] != "'":
            return ParseFailure(rec.offset, "QUERY object is not a quoted string followed by a retcode", line)
        raw = line[rec.tail + 1 : end]
        dec = self._decoded.get(raw)
        if dec is None:
            if (len(raw) - len(raw.rstrip("\\"))) % 2:
                return ParseFailure(rec.offset, "QUERY object ends inside an escape", line)
            dec = self._decode(raw)
        escaped = dec.shown_escaped
        original = line if escaped is None else f"{line[: rec.tail]}'{escaped}',{code}"
        ok = code == "0"
        outcome, error = (SUCCESS, None) if ok else (FAILURE, code)
        return _Statement(dec, original, outcome, error)

    def _cut_statement(self, rec: _Rec) -> _Statement:
        """A QUERY row whose line ends inside the statement: syslog cut it at its message size (rsyslog's
        default 8 KiB), taking the closing quote and the retcode. The statement as far as it goes, of
        unknown outcome: its rows are its accesses, not a parse failure and rows released later."""
        line = rec.line
        raw = line[rec.tail + 1 :]
        if (len(raw) - len(raw.rstrip("\\"))) % 2:
            raw = raw[:-1]  # cut inside an escape
        dec = self._decode(raw)._replace(cut=True)
        escaped = dec.shown_escaped
        return _Statement(dec, line if escaped is None else f"{line[: rec.tail]}'{escaped}", UNKNOWN, None)

    def _decode(self, raw: str) -> _Decoded:
        # The plugin pads a statement it cut at server_audit_query_log_limit after hiding a password with NUL
        # bytes: U+FFFD in the statement, and in `event.original` too (a NUL cuts a C string short).
        nul = "\x00" in raw
        sql = _unescape(raw.replace("\x00", "\ufffd") if nul else raw)
        kind, verb = _statement_kind(sql)
        # An audit setting's value is the evidence (server_audit_events='CONNECT,QUERY' drops TABLE): kept.
        shown = sql if self._masker is None or _audit_settings_only(kind, sql) else self._masker(sql)
        export_path = None
        if kind == _KIND_READ and "file" in sql.lower():
            export = OUTFILE.search(sql)
            if export is not None:
                export_path = export.group(1).replace("''", "'")
            elif (cut := OUTFILE_CUT.search(sql)) is not None:  # the file name cut off: what is left, and "…"
                export_path = cut.group(1).replace("''", "'") + "…"
        dec = _Decoded(
            sql,
            shown,
            None if shown == sql and not nul else _escape(shown),
            kind,
            verb,
            export_path,
            self._cut(raw),
        )
        if len(self._decoded) >= 1024:
            self._decoded.clear()
        self._decoded[raw] = dec
        return dec

    def _cut(self, raw: str) -> bool:
        """Whether a statement's logged text is as long as server_audit_query_log_limit: maybe cut. Its byte
        length is only encoded for when a character is not ASCII."""
        limit = self._opts.query_log_limit - _CUT_SLACK
        return len(raw) >= limit or (not raw.isascii() and len(raw.encode("utf-8", "surrogatepass")) >= limit)

    def _statement_tables(self, dec: _Decoded) -> tuple[str, ...]:
        """`_statement_tables` of the text, memoized: only statements without TABLE rows need it."""
        tables = self._tables.get((dec.sql, dec.cut))
        if tables is None:
            tables = _statement_tables(dec.sql, dec.kind)
            if dec.cut and tables and dec.sql.endswith(tables[-1]):  # `... JOIN b` of `JOIN big` cut: no object
                tables = tables[:-1]
            if len(self._tables) >= 1024:
                self._tables.clear()
            self._tables[(dec.sql, dec.cut)] = tables
        return tables

    def _take_rows(self, rec: _Rec) -> list[_Rec]:
        """The waiting rows of this statement; rows of other query ids (a stored routine's outer CALL,
        whose QUERY row comes after its inner statements') keep waiting."""
        key = (rec.who.server or "", rec.conn)
        rows = self._pending.get(key)
        if rows is None:
            return []
        qid = rec.query_id
        mine = [r for r in rows if r.query_id == qid]
        if len(mine) == len(rows):
            del self._pending[key]
        elif mine:
            rows[:] = [r for r in rows if r.query_id != qid]
        self._pending_rows -= len(mine)
        return mine

    def _release(self, key: tuple[str, str]) -> list[Outcome]:
        """Rows whose QUERY row will not come: accesses with outcome unknown."""
        rows = self._pending.pop(key, [])
        self._pending_rows -= len(rows)
        out: list[Outcome] = []
        read: dict[str, list[str]] = {r.query_id: [] for r in rows}  # per statement, the objects its READ rows read
        for r in _distinct(rows):
            event = self._row_event(r, _TABLE_ACTIONS[r.op], None, None)
            if event.action == READ and event.object is not None:
                read[r.query_id].append(event.object)
            out.append(event)
        for qid, objects in read.items():
            self._note_released((key[0], key[1], qid), tuple(objects))
        return out

    def _note_released(self, key: tuple[str, str, str], read: tuple[str, ...] = ()) -> None:
        self._released[key] = read
        if len(self._released) > _MAX_RELEASED:
            del self._released[next(iter(self._released))]

    def _is_ignored(self, name: str) -> bool:
        if self._ignored is None:
            return False
        hit = self._ignored_cache.get(name)
        if hit is None:
            hit = self._ignored.match(name) is not None
            if len(self._ignored_cache) >= 4096:
                self._ignored_cache.clear()
            self._ignored_cache[name] = hit
        return hit

    def _object(self, name: str, db: str) -> str | None:
        return self._unless_ignored(_qualify(name, db))

    def _ddl_object(self, sql: str, db: str) -> str | None:
        m = DDL_OBJECT.search(sql)
        if m is None:
            return None
        if m.group(1).upper() in ("DATABASE", "SCHEMA"):
            return "db:" + _bare(m.group(2))
        return self._unless_ignored(_qualify(m.group(2), db))

    def _unless_ignored(self, obj: str | None) -> str | None:
        return None if obj is None or self._is_ignored(obj[3:]) else obj

    # -- events ---------------------------------------------------------------------------------------

    def _fields(self, rec: _Rec, who: _Who, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "mariadb.audit.connection_id": int(rec.conn),
            "mariadb.audit.query_id": int(rec.query_id),
            "mariadb.audit.operation": rec.op,
        }
        if rec.db:
            fields["mariadb.audit.database"] = rec.db
        if who.domain is not None:
            fields["source.domain"] = who.domain
        if extra:
            fields.update(extra)
        return fields

    def _event(
        self,
        rec: _Rec,
        action: str,
        outcome: str,
        *,
        obj: str | None = None,
        command: str | None = None,
        stmt: _Statement | None = None,
        error: str | None = None,
        extra: Mapping[str, Any] | None = None,
        who: _Who | None = None,
        index: int = 0,
    ) -> AccessEvent:
        """`who`: the client, when not the record's own; `index`: the event's number among those of one
        record (the first keeps the plain id)."""
        who = rec.who if who is None else who
        return AccessEvent(  # positional: this runs per event
            self.ids.make(rec.offset, f"{index}:{rec.line}" if index else rec.line),
            rec.time_us,
            self.dataset,
            action,
            outcome,
            who.user,
            who.ip,
            who.port,
            who.server,
            obj,
            None,
            None,
            command or rec.op,
            None if stmt is None else stmt.dec.shown,
            rec.line if stmt is None or rec.op != "QUERY" else stmt.original,
            error,
            (),
            self._fields(rec, who, extra),
            rec.offset,
        )

    def _row_event(
        self, row: _Rec, action: str, stmt: _Statement | None, export_path: str | None, caller: _Who | None = None
    ) -> AccessEvent:
        """A TABLE row as an access of the QUERY row's client (`caller`). In a SQL SECURITY DEFINER routine or
        view the row names the definer, whose rights were used: the caller made the access, and the definer
        is `user.effective.name` (the row itself stays in `event.original`)."""
        table = row.line[row.tail : -1]
        old, _, new = table.partition("|")
        extra: dict[str, Any] = {"mariadb.audit.table": old}
        if new:
            extra["mariadb.audit.new_table"] = new
        if export_path is not None and action == EXPORT:
            extra["file.path"] = export_path
        if caller is not None and caller != row.who and row.who.user is not None:
            extra["user.effective.name"] = row.who.user
        if stmt is None:
            return self._event(row, action, UNKNOWN, obj=f"db:{row.db}.{old}", extra=extra)
        return self._event(
            row, action, stmt.outcome, obj=f"db:{row.db}.{old}", command=stmt.dec.verb or row.op,
            stmt=stmt, error=stmt.error, extra=extra, who=caller,
        )  # fmt: skip

    def _statement_event(
        self, rec: _Rec, stmt: _Statement, action: str, obj: str | None, index: int = 0
    ) -> AccessEvent:
        extra = {"file.path": stmt.dec.export_path} if action == EXPORT and stmt.dec.export_path else None
        return self._event(
            rec, action, stmt.outcome, obj=obj, command=stmt.dec.verb or None, stmt=stmt, error=stmt.error,
            extra=extra, index=index,
        )  # fmt: skip

    def _permission_event(self, rec: _Rec, stmt: _Statement) -> AccessEvent:
        on = GRANT_ON.search(stmt.dec.sql) if stmt.dec.verb in ("GRANT", "REVOKE") else None
        obj = None
        if on is not None:
            name = _bare(on.group(1))
            obj = "db:" + (name if "." in name or not rec.db else f"{rec.db}.{name}")
        target = grantee(stmt.dec.sql)
        extra = {"user.target.name": target} if target is not None else None
        return self._event(
            rec, PERMISSION, stmt.outcome, obj=obj, command=stmt.dec.verb, stmt=stmt, error=stmt.error, extra=extra
        )
