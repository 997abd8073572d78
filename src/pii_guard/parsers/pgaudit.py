"""PostgreSQL + pgAudit, in all four log destinations (stderr, csvlog, jsonlog, syslog).

Every destination is framed into a `ServerRecord` (stderr in `pgaudit_prefix`, csv and json here); one set
of rules then turns records into events. `destination: syslog` (`log_destination = 'syslog'`, rsyslog's
RFC 3339 or traditional file layout) first puts the pieces that `syslog_split_messages` cut each message into
back together, per process, into the lines stderr would have written (`pgaudit_syslog`); those go through
the stderr framing with the same log_line_prefix, which there need not have a time (the syslog stamp is
used then) nor a pid (the syslog pid is used then). Options `syslog_sequence_numbers` and
`syslog_split_messages` mirror the server's settings of those names; `syslog_ident` picks PostgreSQL's lines
out of a shared file. `auto` recognizes syslog lines too, but refuses a prefix without a time, as stderr
does: such a prefix is only right for `destination: syslog`.

- `AUDIT: ` lines (pgAudit's CSV payload) are accesses, one event per line, i.e. one per relation of a join.
  pgAudit writes an OBJECT line *and* a SESSION line for the same relation when both audit modes apply; the
  second one is dropped (same backend, statement id, substatement id and object), so rows are not counted
  twice. Only the current statement of each backend is remembered, so this state stays small. The backend is
  the pid (`%p`, or the pid inside the session id `%c`); a prefix with neither has `_pidless` sessions.
  With `log_relation = off` the SESSION line comes first and names nothing: its relations are read from the
  statement, and its events wait for the OBJECT lines of the same statement, which complete them (`_Held`).
- `COPY table TO` is logged with no object and rows=0 (COPY does not run through the executor), so the table
  is taken from the statement text and the event is an "export" with rows unknown (None, not 0: a zero
  would tell volume rules that nothing left). `COPY ... FROM` is a write, read the same way.
- `COPY (query) TO` (what psql's `\\copy (query) TO` sends) is logged as a SELECT substatement that carries
  the relations and the row count, then a COPY substatement with neither. The SELECT substatement becomes
  the "export"; the COPY substatement is skipped: an object-less zero-row export would add nothing to
  investigate and would make every such export count twice in export-counting rules.
- Failed attempts: `permission denied for table X` (no AUDIT line is written for them) and failed logins
  (`password authentication failed`, `no pg_hba.conf entry` ...) become events with outcome "failure";
  `connection authorized` / `disconnection` become login / logout, so network zones can be checked at login.
- The client address comes from the record itself (`%h`/`%r`, csv `connection_from`, json `remote_host`),
  else from the backend's earlier `connection received` line (joined by pid; bounded, forgotten at
  disconnection). `[local]` (unix socket) means there is no IP.

Privacy: bind parameters are personal data and are always replaced by `<masked>`; statement literals are
masked when the source asks for it, in `statement` and in `original` alike. So are the other parts of a record
that `original` keeps (`_mask_part`): the literals of a DETAIL / csvlog `detail` (a unique violation's key
values, a failing row) and of QUERY / `internal_query` and CONTEXT / `context` (a function's SQL statement).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar, Final, NamedTuple, cast

import orjson
from pydantic import BaseModel

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
    WRITE,
    AccessEvent,
)
from pii_guard.parsers.base import NOTHING, Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.normalize import is_address
from pii_guard.parsers.pgaudit_options import PgAuditOptions
from pii_guard.parsers.pgaudit_prefix import (
    CSVLOG,
    JSONLOG,
    NO_RECORDS,
    STDERR,
    SYSLOG,
    CompiledPrefix,
    CsvFraming,
    CsvReader,
    PgClock,
    ServerRecord,
    StderrFraming,
    destination_of,
    json_record,
)
from pii_guard.parsers.pgaudit_syslog import SyslogAssembler, SyslogMessage
from pii_guard.parsers.pgrelations import Statement, StatementRelations
from pii_guard.parsers.sqlmask import SqlMasker
from pii_guard.parsers.syslog import SyslogFraming

DATASET: Final = "postgresql.pgaudit"
MAX_BACKENDS: Final = 10_000  # pids remembered for the `connection received` join
MASKED: Final = "<masked>"
_RELATION_CLASSES: Final = frozenset({"READ", "WRITE"})  # classes whose lines name a relation (log_relation)
_SAME_STATEMENT_US: Final = 1_000_000  # the OBJECT and SESSION lines of one access are this close at most
# the postmaster's report of a setting taken from postgresql.conf on a reload
_PARAMETER: Final = re.compile(r'parameter "(pgaudit\.\w+)" (?:changed to "(.*)"|removed from configuration file)')
_HOLD_RECORDS: Final = 256  # records after which a held SESSION line is settled, its backend silent or not
_MAX_SETTLED: Final = 1024  # statements released early whose late OBJECT lines are still recognized
_KEEP_PARAMETER: Final = frozenset({"<none>", "<not logged>", "<previously logged>"})
_NO_STATEMENT: Final = frozenset({"<not logged>", "<previously logged>"})
_CLASS_ACTIONS: Final = {
    "READ": READ, "WRITE": WRITE, "DDL": DDL, "ROLE": PERMISSION, "FUNCTION": EXECUTE,
    "MISC": OTHER, "MISC_SET": OTHER,
}  # fmt: skip
_DELETES: Final = frozenset({"DELETE", "TRUNCATE", "TRUNCATE TABLE"})
_UNCOUNTED: Final = frozenset({"TRUNCATE", "TRUNCATE TABLE"})  # pgAudit logs 0 rows: it cannot count them
_LEAD: Final = r"\s*(?:/\*.*?\*/\s*|--[^\n]*\n\s*)*"  # comments before the statement
_IDENT: Final = r'(?:"(?:[^"]|"")+"|[^\s."(),;]+)'
_COPY_TABLE: Final = re.compile(
    _LEAD + rf"copy\s+(?:only\s+)?({_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}})\s*(?:\([^)]*\)\s*)?(to|from)\b", re.I | re.S
)
_COPY_QUERY: Final = re.compile(_LEAD + r"copy\s*\(.*\)\s*to\b", re.I | re.S)
_VERB: Final = re.compile(_LEAD + r"(\w+)", re.S)
_PART: Final = re.compile(_IDENT)
_LOWER_IDENT: Final = re.compile(r"[a-z_][a-z0-9_$]*\Z")
_DENIED: Final = re.compile(
    r'permission denied for (?:column "(?:[^"]|"")*" of relation "(?P<rel>.+)"'
    r"|(?P<kind>table|view|materialized view|sequence|foreign table|relation|schema|function|procedure"
    r'|database) "?(?P<name>.+?)"?)(?: at character \d+)?\Z',  # stderr adds the cursor position
    re.S,
)
# Other refusals for lack of privilege (SQLSTATE 42501): an object the user does not own, or an act only a
# superuser or a role with the attribute may do (`create role`, `set parameter "pgaudit.log"`).
_REFUSED: Final = re.compile(
    r"(?:must be owner of (?P<kind>table|relation|view|materialized view|sequence|foreign table|index|schema"
    r"|database|function|procedure|type|extension) (?P<name>.+?)|permission denied to (?P<act>.+?))"
    r"(?: at character \d+)?\Z",
    re.S,
)
_ERRORS: Final = ("permission denied for ", "permission denied to ", "must be owner of ")
_VERB_ACTIONS: Final = {
    "insert": WRITE, "update": WRITE, "merge": WRITE, "delete": DELETE, "truncate": DELETE, "copy": EXPORT,
}  # fmt: skip
# FATAL messages of a refused connection: (pattern with optional user/host/db groups, SQLSTATE when not logged)
_LOGIN_FAILURES: Final = (
    (re.compile(r'(?P<method>[\w-]+) authentication failed for user "(?P<user>.*)"'), "28P01"),
    (re.compile(r'(?:no pg_hba\.conf entry|pg_hba\.conf rejects connection) for (?:replication connection from )?'
                r'host "(?P<host>[^"]*)", user "(?P<user>[^"]*)"(?:, database "(?P<db>[^"]*)")?'), "28000"),
    (re.compile(r'role "(?P<user>.*)" does not exist'), "28000"),
    (re.compile(r'database "(?P<db>.*)" does not exist'), "3D000"),
    # refused after `connection authorized` (the server checks these later): that login never started
    (re.compile(r'role "(?P<user>.*)" is not permitted to log in'), "28000"),
    (re.compile(r'permission denied for database "(?P<db>.*)"'), "42501"),
    (re.compile(r'too many connections for (?:role "(?P<user>.*)"|database "(?P<db>.*)")'), "53300"),
    (re.compile(r'database "(?P<db>.*)" is not currently accepting connections'), "55000"),
    (re.compile(r"(?:sorry, too many clients already|remaining connection slots are reserved)"), "53300"),
)  # fmt: skip
# A role or database name may hold spaces (`"Data Analyst"`): each runs to the next key the server writes.
# Names without spaces are read by the first pattern (a fifth of the second's cost): it is right when what
# follows is such a key or the end.
_AUTHORIZED: Final = re.compile(r"(?:replication )?connection authorized: user=(\S+)(?: database=(\S+))?")
_AUTHORIZED_NEXT: Final = (" application_name=", " SSL enabled (", " GSS (")
_AUTHORIZED_SPACED: Final = re.compile(
    r"(?:replication )?connection authorized: user=(.+?)(?: database=(.+?))?"
    r"(?= application_name=| SSL enabled \(| GSS \(|\Z)",
    re.S,
)
_DISCONNECTION: Final = re.compile(r"disconnection: session time: \S+ user=(.+?) database=(.*?) host=(\S+)")
_RECEIVED: Final = re.compile(r"connection received: host=(\S+)(?: port=(\d+))?")
_PORT: Final = re.compile(r" port=(\d+)")
# The data in a DETAIL: `Key (email)=(x) already exists.` (also `is not present in table`, `is still referenced
# from`, `conflicts with existing key (c)=(y)`), `Failing row contains (1, x, y).`; the columns stay.
_KEY_VALUES: Final = re.compile(
    r"(\b[Kk]ey \((?:[^()]|\([^()]*\))*\)=\()(.*?)(\)(?=\.?\s*$| already exists| is not present| is still referenced"
    r"| conflicts with| is duplicated))",
    re.S | re.M,
)
_FAILING_ROW: Final = re.compile(r"(\bFailing row contains \()(.*)(\)\.?\s*$)", re.S | re.M)
_SINGLE_QUOTED: Final = re.compile(r"'[^'\\]*(?:(?:''|\\.)[^'\\]*)*(?:'|$)", re.S)
# CONTEXT lines that quote SQL text (`SQL statement "..."`, `SQL expression "..."`) or data (COPY FROM, JSON)
_CONTEXT_SQL: Final = re.compile(r'(SQL (?:statement|expression) ")(.*)("\s*)\Z', re.S)
_CONTEXT_DATA: Final = re.compile(
    r"((?:COPY [^\n]*?, line \d+(?:, column [^\n:]*)?|JSON data, line \d+): )(.+)\Z", re.S
)


# An AccessEvent from a tuple of all its fields, without NamedTuple's Python-level __new__ (one per event).
_new_event: Final[Callable[[tuple[Any, ...]], AccessEvent]] = partial(tuple.__new__, AccessEvent)
_MAX_TAIL: Final = 8192  # longer payload tails are decoded every time instead of remembered
# The statement, parameter and rows of an AUDIT payload as pgAudit's append_valid_csv writes them: each field
# quoted (quotes inside doubled) or plain (no quote, comma or line break); rows are never quoted (csv reads a
# quote after a field's first character as text).
_QUOTED_OR_PLAIN: Final = r'(?:"([^"]*(?:""[^"]*)*)"|([^",\r\n]*))'
_REST: Final = re.compile(rf'{_QUOTED_OR_PLAIN},{_QUOTED_OR_PLAIN}(?:,((?!")[^,\r\n]*))?\Z').match
_NEEDS_QUOTES: Final = re.compile(r'[",\r\n]').search


class _Tail(NamedTuple):
    """The statement, parameter and rows of an AUDIT payload, decoded and masked once: the lines of one join
    or COPY (one per relation) and the OBJECT and SESSION lines of one access repeat them verbatim."""

    statement: str  # as logged
    masked: str  # literals masked (the statement as logged when the source does not mask)
    rows: int | None
    rest: str | None  # the payload's re-encoded rest with statement and parameter masked; None: unchanged
    rest_written: str  # `rest` as stderr writes it (continuation lines led by a TAB)
    before_run: bool  # no rows field (`pgaudit.log_rows = off`): logged before the statement ran (`_Awaiting`)


_NUMBERS: Final = {str(n): n for n in range(1, 1024)}  # small statement ids, looked up instead of int()
_new_tail: Final[Callable[[tuple[Any, ...]], _Tail]] = partial(tuple.__new__, _Tail)


class _Backend:
    """What one server process said earlier: its peer (`connection received`), user and database
    (`connection authorized`), and the statement being audited (dedup, `<previously logged>`)."""

    __slots__ = ("database", "first", "host", "last_us", "multi", "port", "seen", "statement", "stmt_id", "user")

    def __init__(self, host: str | None = None, port: int | None = None) -> None:
        self.host = host
        self.port = port
        self.user: str | None = None
        self.database: str | None = None
        self.stmt_id = ""
        self.statement = ""
        # the lines of the current statement: the first one's key, the set of all only once there are more
        self.first: tuple[str, str, str] = ("", "", "")
        self.seen: set[tuple[str, str, str]] | None = None
        self.last_us = 0
        self.multi: tuple[str, int, int] | None = None  # query text of several statements, statement id, index

    def statement_of(self, text: str, statements: tuple[Statement, ...], stmt_id: str, command: str) -> int | None:
        """Which statement of a query text of several (`psql -c "a; b"`) an AUDIT line is about: pgAudit logs
        the whole text under each statement's id, and ids go up by one per logged statement (a BEGIN that
        `pgaudit.log` leaves out takes none). So each new id is the next statement, at least as far on as the
        ids went, whose command the line names. None: no statement fits (the caller takes them all)."""
        sid = int(stmt_id)
        start = 0
        if self.multi is not None and self.multi[0] == text and sid >= self.multi[1]:
            if sid == self.multi[1]:
                return self.multi[2]
            start = self.multi[2] + sid - self.multi[1]
        index = next((i for i in range(start, len(statements)) if command in statements[i].commands), None)
        if index is None and start:  # the same text run again on this backend: it starts over
            index = next((i for i, st in enumerate(statements) if command in st.commands), None)
        self.multi = None if index is None else (text, sid, index)
        return index

    def note(self, stmt_id: str, sub_id: str, name: str, statement: str, time_us: int,
             audit_type: str = "") -> str | None:
        """The statement text of this AUDIT line, or None if the line repeats one already seen.

        pgAudit writes the lines of one substatement together, so a line more than a second after the
        previous one starts afresh: without log_connections, a new backend that reuses the pid restarts at
        statement 1 and must not be taken for a repeat of the old backend's statement 1.

        `audit_type` is given for a session known without its pid (a prefix without %p): lines of several
        backends may share it, so only the OBJECT and SESSION lines of one access are repeats of each other,
        never two lines of the same type."""
        last, self.last_us = self.last_us, time_us
        key = (sub_id, name, audit_type)
        if stmt_id != self.stmt_id or time_us - last > _SAME_STATEMENT_US:
            self.stmt_id, self.first, self.seen = stmt_id, key, None
        else:
            seen = self.seen
            if seen is None:
                seen = self.seen = {self.first}
            if (key in seen) if not audit_type else \
                    ((sub_id, name, "SESSION" if audit_type == "OBJECT" else "OBJECT") in seen):  # fmt: skip
                return None
            if len(seen) < 4096:
                seen.add(key)
        if statement == "<previously logged>":
            return self.statement or statement
        self.statement = statement if len(statement) <= 8192 else ""
        return statement


class _Awaiting:
    """Events of one backend that its next record may still change (`PgAuditParser._with_awaiting`).

    A login (`connection authorized`, `stmt_id` None): the server may yet refuse that session (NOLOGIN, no
    CONNECT, a connection limit: `_LOGIN_FAILURES`); then the FATAL that follows is its one event. A statement
    logged before it ran (`pgaudit.log_rows = off`, pgAudit's default: no rows field): when the backend's next
    record is an ERROR for that very statement, the statement failed, and its accesses are failures."""

    __slots__ = ("events", "offset", "seq", "statement", "stmt_id")

    def __init__(self, offset: int, seq: int, stmt_id: str | None, statement: str | None,
                 events: list[AccessEvent]) -> None:  # fmt: skip
        self.offset = offset
        self.seq = seq
        self.stmt_id = stmt_id
        self.statement = statement
        self.events = events

    def settled_by(self, rec: ServerRecord) -> list[AccessEvent]:
        """The events as `rec`, the backend's next record, shows them."""
        if self.stmt_id is None:
            return [] if rec.level == "FATAL" and _refusal(rec.message) else self.events
        return _outcome_of(self.events, self.statement, rec)


def _outcome_of(events: list[AccessEvent], statement: str | None, rec: ServerRecord) -> list[AccessEvent]:
    """`events` of a statement pgAudit logged before it ran (`statement`; None: logged after), as `rec`, its
    backend's next record, shows them: failures when `rec` is that very statement's ERROR."""
    if statement is None or rec.level != "ERROR" or rec.statement != statement:
        return events
    return [e._replace(outcome=FAILURE, error_code=rec.sqlstate) for e in events]


class _Held:
    """The events of a SESSION line without OBJECT_NAME (`pgaudit.log_relation = off`), held back until its
    backend writes a record that is not an OBJECT line of the same statement and substatement.

    pgAudit writes that SESSION line first, at the statement's first relation, then one OBJECT line per
    relation the audit role (`pgaudit.role`) covers, named as the server resolved it. Those lines complete
    the held events instead of adding to them: one whose relation the statement left unqualified gets the
    OBJECT line's schema (the session's search_path, which the statement does not tell), and an object-less
    event (a statement `pgrelations` could not read) gives way to the OBJECT lines. Nothing is held for long:
    the backend's next record settles it, so do `_HOLD_RECORDS` records of other backends and `flush` (the
    daemon flushes a quiet file after `idle_flush_s`)."""

    __slots__ = ("events", "guesses", "objectless", "offset", "seq", "statement", "stmt_id", "sub_id")

    def __init__(self, stmt_id: str, sub_id: str, offset: int, seq: int, statement: str | None = None) -> None:
        self.statement = statement  # logged before it ran (no rows field): its ERROR makes the events failures
        self.stmt_id = stmt_id
        self.sub_id = sub_id
        self.offset = offset
        self.seq = seq
        self.events: list[AccessEvent] = []
        # per event: (name given, relation as spelled) when the statement left the schema to search_path
        self.guesses: list[tuple[str, str] | None] = []
        self.objectless = False

    def continued_by(self, message: str) -> bool:
        """Whether a record of the same backend is an OBJECT line of the held statement and substatement."""
        return message.startswith(f"AUDIT: OBJECT,{self.stmt_id},{self.sub_id},")

    def confirm(self, name: str) -> None:
        """An OBJECT line repeated a held event's name exactly: its schema was guessed right, so no OBJECT
        line of a table of the same name in another schema (under a view, say) is that relation."""
        for i, guess in enumerate(self.guesses):
            if guess is not None and guess[0] == name:
                self.guesses[i] = None

    def absorb(self, name: str) -> bool:
        """Whether the OBJECT line naming `name` completes a held event (then it is no event of its own)."""
        if self.objectless:  # the statement named nothing readable: the OBJECT lines are the accesses
            self.events.clear()
            self.guesses.clear()
            self.objectless = False
            return False
        parts = _PART.findall(name)
        relation = parts[-1] if parts else name
        for i, guess in enumerate(self.guesses):
            if guess is not None and guess[1] == relation:
                event, given = self.events[i], guess[0]
                obj = event.object or ""
                self.events[i] = event._replace(object=obj[: len(obj) - len(given)] + name)
                self.guesses[i] = None
                return True
        return False


def _csv_field(value: str) -> str:
    """One field as pgAudit's `append_valid_csv` writes it: quoted only when it must be."""
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def _object_name(text: str) -> str:
    """A relation name from SQL text, spelled as pgAudit spells OBJECT_NAME: unquoted identifiers folded to
    lower case, quotes kept only where they are needed."""
    parts = []
    for part in _PART.findall(text):
        if part[0] == '"':
            inner = part[1:-1].replace('""', '"')
            parts.append(inner if _LOWER_IDENT.match(inner) else part)
        else:
            parts.append(part.lower())
    return ".".join(parts)


def _spelled(identifier: str) -> str:
    """An identifier as pgAudit's OBJECT_NAME spells it (quote_identifier): quoted unless plain lower case."""
    return identifier if _LOWER_IDENT.match(identifier) else '"' + identifier.replace('"', '""') + '"'


def _masked_payload(message: str, fields: list[str], statement: str, parameter: str) -> str:
    """The AUDIT message with its statement and parameter replaced. Only the tail is re-encoded; the fields
    before it stay as written (a re-encode of all ten costs more than the rest of the line)."""
    rows = "," + fields[9] if len(fields) == 10 else ""
    tail = "," + _csv_field(fields[7]) + "," + _csv_field(fields[8]) + rows
    if message.endswith(tail):
        return message[: len(message) - len(tail)] + "," + _csv_field(statement) + "," + parameter + rows
    return "AUDIT: " + ",".join(map(_csv_field, [*fields[:7], statement, parameter, *fields[9:]]))


def _is_copy_to(statement: str) -> bool:
    if _COPY_QUERY.match(statement):
        return True
    m = _COPY_TABLE.match(statement)
    return m is not None and m.group(2).lower() == "to"


def _attempted(statement: str) -> tuple[str, str | None]:
    """(action, command) a refused statement attempted, from its first keyword."""
    verb = _VERB.match(statement)
    if verb is None:
        return READ, None
    action = _VERB_ACTIONS.get(verb.group(1).lower(), READ)
    if action == EXPORT:
        copy = _COPY_TABLE.match(statement)
        if copy is not None and copy.group(2).lower() == "from":
            action = WRITE
    return action, verb.group(1).upper()


def _refusal(message: str) -> bool:
    """Whether a FATAL message refuses a connection (`_LOGIN_FAILURES`)."""
    return any(pattern.match(message) is not None for pattern, _ in _LOGIN_FAILURES)


def _refused_action(statement: str) -> tuple[str, str | None]:
    """(action, command) of a statement refused by `_REFUSED`: pgAudit's classes, from its first keywords."""
    verb = _VERB.match(statement)
    if verb is None:
        return OTHER, None
    word = verb.group(1).lower()
    if word in ("grant", "revoke"):
        return PERMISSION, word.upper()
    if word in ("create", "alter", "drop"):
        what = _VERB.match(statement, verb.end())
        target = what.group(1).lower() if what is not None else ""
        if target in ("role", "user", "group"):
            return PERMISSION, f"{word} {target}".upper()
        if target == "system":  # ALTER SYSTEM: pgAudit's MISC
            return OTHER, "ALTER SYSTEM"
        return DDL, f"{word} {target}".upper() if target else word.upper()
    if word in ("set", "reset"):
        return OTHER, word.upper()
    return _attempted(statement)


def _judge(backend: _Backend | None, rec: ServerRecord, stmt_id: str, sub_id: str, klass: str, command: str,
           name: str, logged: str, audit_type: str) -> tuple[tuple[str, str, bool], str] | None:
    """(what `_classify` says, the statement) of one AUDIT line; None for the second line (OBJECT and SESSION)
    of one access, or a line that adds nothing. The backend's statement text stands in for a `<previously
    logged>` one."""
    statement = logged
    if backend is not None:
        noted = backend.note(stmt_id, sub_id, name, logged, rec.time_us, "" if rec.pid is not None else audit_type)
        if noted is None:
            return None
        statement = noted
    found = _classify(klass, command, statement, name)
    return None if found is None else (found, statement)


def _classify(klass: str, command: str, statement: str, name: str) -> tuple[str, str, bool] | None:
    """(action, object name, name taken from the statement) of an AUDIT line; None when it adds nothing."""
    if command == "COPY":
        m = _COPY_TABLE.match(statement)
        if m is not None:
            return (EXPORT if m.group(2).lower() == "to" else WRITE), _object_name(m.group(1)), True
        if _COPY_QUERY.match(statement):
            return None  # the SELECT substatement of the same statement is the export (module docstring)
        return (EXPORT if klass == "READ" else WRITE), name, False
    if klass == "READ":
        if command == "PREPARE":
            return OTHER, name, False  # nothing is read until EXECUTE, which is logged with its rows
        if statement[:1] in "Cc/- \t\n" and _is_copy_to(statement):
            return EXPORT, name, False  # the relations read by a COPY ... TO, or by the query it copies
        return READ, name, False
    if klass == "WRITE":
        return (DELETE if command in _DELETES else WRITE), name, False
    return _CLASS_ACTIONS.get(klass, OTHER), name, False


class PgAuditParser(Parser):
    """PostgreSQL server logs with pgAudit lines: stderr (any log_line_prefix), csvlog, jsonlog or syslog."""

    name: ClassVar[str] = "pgaudit"
    dataset: ClassVar[str] = DATASET
    description: ClassVar[str] = "PostgreSQL + pgAudit (stderr with log_line_prefix, csvlog, jsonlog, syslog)"
    Options: ClassVar[type[BaseModel]] = PgAuditOptions

    def __init__(self, context: SourceContext, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        opts = self.options
        if not isinstance(opts, PgAuditOptions):
            raise TypeError(f"pgaudit options must be PgAuditOptions, not {type(opts).__name__}")
        self._mode = opts.destination
        self._clock = PgClock(context.tz)
        prefixes = [CompiledPrefix(p, timed=False) for p in (opts.log_line_prefix, *opts.extra_prefixes)]
        self._stderr = StderrFraming(prefixes, self._clock, _wanted)
        self._reader = CsvReader()
        self._csvlog = CsvFraming(self._clock, self._reader)
        self._syslog: SyslogAssembler | None = None
        self._syslog_lines = self._stderr  # the stderr framing of syslog's messages
        if self._mode in (SYSLOG, "auto"):
            self._syslog = SyslogAssembler(
                SyslogFraming(context.tz, context.reference_time), opts.syslog_ident, opts.syslog_sequence_numbers,
                opts.syslog_split_messages,
            )  # fmt: skip
            self._syslog_lines = StderrFraming(prefixes, self._clock, _wanted)  # syslog's own: one record each
        self._backends: dict[int, _Backend] = {}
        self._mask = SqlMasker("postgresql")
        self._mask_literals = context.mask_literals
        self._host = context.host
        self._is_ip: dict[str, bool] = {}
        self._tails: dict[str, _Tail] = {}  # AUDIT payload from the statement on -> decoded
        self._relations = StatementRelations()
        self._default_schema = opts.default_schema
        self._pidless_sessions: dict[tuple[str | None, int | None, str | None, str | None], _Backend] = {}
        self._held: dict[_Backend, _Held] = {}  # in the order they were held, i.e. by offset
        # held statements released before their backend went on (the daemon's flush of a quiet file, the
        # traffic of others): an OBJECT line of theirs still coming completes nothing, and adds no second event
        self._settled: dict[_Backend, _Held] = {}
        self._records = 0  # records handled, the clock of `_HOLD_RECORDS`
        # events a backend's next record may still change (`_Awaiting`), by pid, oldest first
        self._awaiting: dict[int, _Awaiting] = {}
        # the record count at which the oldest of them is due (`_HOLD_RECORDS`): never later than it is, so a
        # record of a backend with nothing awaiting passes by `_with_awaiting` until then
        self._await_due = 0

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        if self._mode == STDERR:  # nothing else is ever buffered
            records = self._stderr.push(offset, line)
            return self._handle_all(records) if records else NOTHING
        if self._csvlog.pending_offset is not None:  # inside a quoted csvlog field
            return self._handle_all(self._csvlog.push(offset, line))
        mode = self._mode if self._mode != "auto" else destination_of(line)
        if mode == STDERR:
            return self._handle_all(self._stderr.push(offset, line))
        if mode == SYSLOG:
            records = self._from_syslog(cast(SyslogAssembler, self._syslog).push(offset, line))
        elif mode == CSVLOG:
            records = self._csvlog.push(offset, line)
        else:
            records = (json_record(offset, line, self._clock),)
        if self._stderr.pending_offset is not None:  # auto: a stderr record ends where another kind begins
            records = (*self._stderr.take(), *records)
        return self._handle_all(records)

    hints_unread: ClassVar[bool] = True

    @classmethod
    def unread_hint(cls, head: Sequence[str]) -> str | None:
        """A PostgreSQL log with statements but no pgAudit line: log_statement / log_min_duration_statement."""
        if any("AUDIT: " in line for line in head) or not any(_STATEMENT_LOG.search(line) for line in head):
            return None
        return ("its first lines hold PostgreSQL's own statement lines (`LOG:  statement: ...`, from log_statement "
                "or log_min_duration_statement) and no pgAudit `AUDIT:` line: pii-guard reads no access from those "
                "(logins only), but pgAudit's, which say what each statement read and wrote. Load pgAudit "
                "(shared_preload_libraries = 'pgaudit', CREATE EXTENSION pgaudit) and set pgaudit.log (e.g. 'read, "
                "write, ddl, role')")

    def _from_syslog(self, messages: Sequence[SyslogMessage | ParseFailure]) -> Sequence[ServerRecord | ParseFailure]:
        """Server records from complete syslog messages: each message's lines through the stderr framing."""
        if not messages:
            return NO_RECORDS
        framing = self._syslog_lines
        out: list[ServerRecord | ParseFailure] = []
        for message in messages:
            if isinstance(message, ParseFailure):
                out.append(message)
                continue
            framing.fallback_us = message.time_us
            lines = message.lines
            if framing.push(message.offset, lines[0]):  # its first line is no record's header: one failure
                text = "\n".join(lines)
                out.append(ParseFailure(message.offset, "syslog message matches no configured log_line_prefix", text))
                continue
            for line in lines[1:]:
                out.extend(framing.push(message.offset, line))
            for rec in framing.take():
                if isinstance(rec, ServerRecord) and rec.pid is None and message.pid is not None:
                    rec = rec._replace(pid=message.pid)  # a prefix without %p: syslog's pid is the backend's
                out.append(rec)
        return out

    def flush(self) -> Sequence[Outcome]:
        syslog = self._from_syslog(self._syslog.take()) if self._syslog is not None else NO_RECORDS
        out = self._handle_all((*self._stderr.take(), *self._csvlog.take(), *syslog))
        if self._awaiting:
            out = [*out, *(event for a in self._awaiting.values() for event in a.events)]
            self._awaiting.clear()
        if not self._held:
            return out
        held = [event for h in self._held.values() for event in h.events]
        for backend, h in self._held.items():
            self._note_settled(backend, h)
        self._held.clear()
        return [*out, *held]

    def _note_settled(self, backend: _Backend, held: _Held) -> None:
        self._settled[backend] = held
        if len(self._settled) > _MAX_SETTLED:
            del self._settled[next(iter(self._settled))]

    def pending_offset(self) -> int | None:
        syslog = self._syslog.pending_offset if self._syslog is not None else None
        pending = [o for o in (self._stderr.pending_offset, self._csvlog.pending_offset, syslog) if o is not None]
        if self._held:
            pending.append(next(iter(self._held.values())).offset)
        if self._awaiting:
            pending.append(next(iter(self._awaiting.values())).offset)
        return min(pending) if pending else None

    def snapshot(self) -> Any:
        """The pid join: peer, user and database of the backends seen connecting, so that a restart that
        resumes mid-file still knows where an open session came from (the Debian prefix has no %h). The
        OBJECT/SESSION dedup is not kept: it spans a few adjacent lines."""
        state = [[pid, b.host, b.port, b.user, b.database] for pid, b in self._backends.items() if b.host or b.user]
        return state or None

    def restore(self, state: Any) -> None:
        if not isinstance(state, list):
            return
        for item in state:
            if isinstance(item, list) and len(item) == 5 and isinstance(item[0], int):
                pid, host, port, user, database = item
                backend = _Backend(_str_or_none(host), port if isinstance(port, int) else None)
                backend.user, backend.database = _str_or_none(user), _str_or_none(database)
                self._remember(pid, backend)

    # ---- records to events ---------------------------------------------------------------------------

    def _handle_all(self, records: Sequence[ServerRecord | ParseFailure]) -> Sequence[Outcome]:
        if not records:
            return NOTHING
        if len(records) == 1:
            rec = records[0]
            if isinstance(rec, ParseFailure):
                return (rec,)
            self._records += 1
            if self._awaiting and (rec.pid in self._awaiting or self._records >= self._await_due):
                return self._with_awaiting(rec)
            if self._held:
                item = self._handle_held(rec)
            elif rec.message.startswith("AUDIT: "):
                item = self._audit(rec)
            else:
                item = self._dispatch(rec)
            if item is None:
                return NOTHING
            # several events come as a plain tuple (`_relation_events`), one as itself
            return (item,) if isinstance(item, (AccessEvent, ParseFailure)) else item
        out: list[Outcome] = []
        for rec in records:
            item = rec if isinstance(rec, ParseFailure) else self._handle(rec)
            if isinstance(item, (AccessEvent, ParseFailure)):
                out.append(item)
            elif item is not None:
                out.extend(item)
        return out

    def _handle(self, rec: ServerRecord) -> Outcome | tuple[Outcome, ...] | None:
        self._records += 1
        if self._awaiting and (rec.pid in self._awaiting or self._records >= self._await_due):
            return self._with_awaiting(rec)
        return self._dispatch(rec) if not self._held else self._handle_held(rec)

    def _with_awaiting(self, rec: ServerRecord) -> tuple[Outcome, ...]:
        """`_handle` while events await their backend's next record (`_Awaiting`): what `rec` settles comes
        first (an AUDIT line of the same statement goes on with it), then any awaiting for `_HOLD_RECORDS`
        records."""
        waiting = self._awaiting
        out: list[Outcome] = []
        pid = rec.pid
        mine = waiting.get(pid) if pid is not None else None
        if mine is not None and not (mine.stmt_id is not None and rec.message.startswith("AUDIT: ")
                                     and rec.message.split(",", 2)[1:2] == [mine.stmt_id]):  # fmt: skip
            del waiting[cast(int, pid)]
            out.extend(mine.settled_by(rec))
        while waiting:
            oldest, first = next(iter(waiting.items()))
            if self._records - first.seq < _HOLD_RECORDS:
                break
            del waiting[oldest]
            out.extend(first.events)
        if waiting:
            self._await_due = next(iter(waiting.values())).seq + _HOLD_RECORDS
        item = self._dispatch(rec) if not self._held else self._handle_held(rec)
        if isinstance(item, (AccessEvent, ParseFailure)):
            out.append(item)
        elif item is not None:
            out.extend(item)
        return tuple(out)

    def _handle_held(self, rec: ServerRecord) -> Outcome | tuple[Outcome, ...] | None:
        """`_handle` while SESSION lines are held: what `rec` settles comes first."""
        settled = self._settle(rec)
        item = self._dispatch(rec)
        if not settled:
            return item
        if item is None:
            return tuple(settled)
        return (*settled, *(cast(tuple[Outcome, ...], item) if type(item) is tuple else (cast(Outcome, item),)))

    def _settle(self, rec: ServerRecord) -> list[AccessEvent]:
        """The held events that `rec` shows complete (`_Held`): its backend's, unless `rec` is an OBJECT line
        of the held statement, and any held for `_HOLD_RECORDS` records."""
        held = self._held
        out: list[AccessEvent] = []
        backend = self._backends.get(rec.pid) if rec.pid is not None else self._pidless_sessions.get(_session_key(rec))
        if self._settled and backend is not None:
            settled = self._settled.get(backend)
            if settled is not None and not settled.continued_by(rec.message):
                del self._settled[backend]
        mine = held.get(backend) if backend is not None else None
        if mine is not None and not mine.continued_by(rec.message):
            del held[cast(_Backend, backend)]
            out.extend(_outcome_of(mine.events, mine.statement, rec))
        while held:
            oldest, first = next(iter(held.items()))
            if self._records - first.seq < _HOLD_RECORDS:
                break
            del held[oldest]
            self._note_settled(oldest, first)
            out.extend(first.events)
        return out

    def _dispatch(self, rec: ServerRecord) -> Outcome | tuple[Outcome, ...] | None:
        message = rec.message
        if message.startswith("AUDIT: "):
            return self._audit(rec)
        level = rec.level
        if level == "LOG":
            if message.startswith("connection received: "):
                self._received(rec)
            elif message.startswith(("connection authorized: ", "replication connection authorized: ")):
                return self._login(rec)
            elif message.startswith("disconnection: "):
                return self._logout(rec)
            elif message.startswith('parameter "pgaudit.'):
                return self._audit_setting(rec)
        elif level == "ERROR":
            if message.startswith("permission denied for "):
                return self._denied(rec)
            if message.startswith(_ERRORS):
                return self._refused(rec)
        elif level == "FATAL":
            return self._login_failed(rec)
        return None

    def _audit(self, rec: ServerRecord) -> Outcome | tuple[Outcome, ...] | None:
        message = rec.message
        # Fast route: the seven head fields need no quoting (split at the first seven commas) and the rest
        # (statement, parameter, rows) is decoded once per distinct text (`_tail`).
        parts = message.split(",", 7)
        if len(parts) != 8:
            return self._audit_fields(rec)
        rest = parts[7]
        tail = self._tails.get(rest) or self._tail(rest)
        at = len(message) - len(rest)  # where the rest starts
        head = message[:at]
        # Head fields without quotes or line breaks read the same split at commas as through csv.
        if tail is None or '"' in head or "\n" in head or "\r" in head or not parts[1].isdecimal() or \
                not parts[2].isdecimal():  # fmt: skip
            return self._audit_fields(rec)
        audit_type, stmt_id, sub_id, klass, command, _, name, _ = parts
        audit_type = audit_type[7:]
        logged, masked, logged_rows, new_rest, written, before_run = tail  # one step: attributes are generic lookups
        pid = rec.pid
        backend = (self._backends.get(pid) or self._backend(pid)) if pid is not None else self._pidless(rec)
        # what `_judge` does, without its call
        statement = backend.note(stmt_id, sub_id, name, logged, rec.time_us, "" if pid is not None else audit_type)
        found = None if statement is None else _classify(klass, command, statement, name)
        if found is None or statement is None:
            if self._held:
                self._absorbed(backend, audit_type, stmt_id, sub_id, name, repeat=True)
            return None
        action, name, from_statement = found
        rows = None if (from_statement or command in _UNCOUNTED) and logged_rows == 0 else logged_rows
        if from_statement and "." not in name:  # `COPY customers TO`: pgAudit would have named public.customers
            name = f"{self._default_schema}.{name}"
        if new_rest is None:
            original = rec.text if rec.others is None or not self._mask_literals else self._rebuild(rec, None, None)
        elif rec.kind == STDERR:  # the head is one line as written: splice the new rest in after it
            text, spans = rec.text, rec.spans
            if spans is None:  # one line: the message ends the text
                original = text[: len(text) - len(rest)] + written
            else:
                ms, me, _, _ = spans
                original = text[: ms + at] + written + text[me:]
                if rec.others is not None and self._mask_literals:
                    original = self._stderr_others(rec, original, ms + at + len(written))
        else:
            original = self._rebuild(rec, message[:at] + new_rest, None)
        if statement is not logged:  # `<previously logged>`, recovered from the backend
            masked = self._mask(statement) if self._mask_literals else statement
        if not name and klass in _RELATION_CLASSES and action != OTHER:  # PREPARE reads nothing yet
            return self._relation_events(rec, backend, rows, audit_type, stmt_id, sub_id, klass, command, masked,
                                         original, statement, before_run)  # fmt: skip
        if (self._held or self._settled) and self._absorbed(backend, audit_type, stmt_id, sub_id, name):
            return None
        event = self._audit_event(rec, backend, action, name, rows, audit_type, stmt_id, sub_id, klass, command,
                                  masked, original)  # fmt: skip
        return event if not before_run or pid is None else self._await(pid, stmt_id, statement, rec, event)

    def _await(self, pid: int, stmt_id: str, statement: str, rec: ServerRecord,
               event: AccessEvent) -> Outcome | tuple[Outcome, ...] | None:  # fmt: skip
        """An access pgAudit logged before the statement ran: it awaits the backend's next record (`_Awaiting`),
        with the others of the same statement."""
        waiting = self._awaiting
        pending = waiting.get(pid)
        if pending is not None and pending.stmt_id == stmt_id:
            pending.events.append(event)
            return None
        if pending is not None:
            del waiting[pid]
        if not waiting:
            self._await_due = self._records + _HOLD_RECORDS
        waiting[pid] = _Awaiting(rec.offset, self._records, stmt_id, statement, [event])
        return tuple(pending.events) if pending is not None else None

    def _tail(self, rest: str) -> _Tail | None:
        """Decode (and remember) the statement, parameter and rows of an AUDIT payload; None when the
        payload is malformed or not encoded as pgAudit encodes it (the general route then decides)."""
        fields = self._split_rest(rest)
        if fields is None:
            return None
        n = len(fields)
        logged, parameter = fields[0], fields[1]
        rows_text = "," + fields[2] if n == 3 else ""
        masked = self._mask(logged) if self._mask_literals else logged
        keep_parameter = parameter in _KEEP_PARAMETER
        new_rest = None
        if not keep_parameter or masked != logged:
            new_rest = _csv_field(masked) + "," + (parameter if keep_parameter else MASKED) + rows_text
        tail = _new_tail((
            logged, masked, int(fields[2]) if n == 3 and fields[2].isdecimal() else None, new_rest,
            new_rest.replace("\n", "\n\t") if new_rest is not None else "", n == 2,
        ))  # fmt: skip
        tails = self._tails
        if len(rest) <= _MAX_TAIL:
            if len(tails) >= 256:
                tails.clear()
            tails[rest] = tail
        return tail

    @staticmethod
    def _split_rest(rest: str) -> list[str] | None:
        """The 2 or 3 fields of an AUDIT payload's rest (statement, parameter, rows) if it is written exactly
        as pgAudit writes it, each field quoted only when it holds a comma, quote or line break; else None."""
        if '"' not in rest:  # nothing quoted
            fields = rest.split(",")
            return fields if len(fields) in (2, 3) and "\n" not in rest and "\r" not in rest else None
        close = rest.find('"', 1)
        if rest[0] == '"' and rest[close + 1 : close + 2] == "," and '"' not in rest[close + 1 :]:
            # the usual quoting: only the statement is quoted, and it holds no quote (so none is doubled)
            # (names of their own: `statement` below may be None, and compiled code checks the types)
            quoted, after = rest[1:close], rest[close + 2 :]
            fields = after.split(",")
            if len(fields) > 2 or "\n" in after or "\r" in after:
                return None
            if "," not in quoted and "\n" not in quoted and "\r" not in quoted:
                return None  # quoted without a need: not as pgAudit writes it
            return [quoted, *fields]
        m = _REST(rest)
        if m is None:
            return None
        quoted_statement, statement, quoted_parameter, parameter, rows = m.groups()
        if quoted_statement is not None:  # quoted: its quotes doubled, and only if it had to be
            statement = quoted_statement.replace('""', '"')
            if _NEEDS_QUOTES(statement) is None:
                return None
        if quoted_parameter is not None:
            parameter = quoted_parameter.replace('""', '"')
            if _NEEDS_QUOTES(parameter) is None:
                return None
        return [statement, parameter] if rows is None else [statement, parameter, rows]

    def _audit_fields(self, rec: ServerRecord) -> Outcome | tuple[Outcome, ...] | None:
        """`_audit` for any payload: split into all its fields, re-encoded field by field when masked."""
        payload = rec.message[7:]
        # pgAudit quotes only fields that need it, so without quotes a split is exactly what csv would read.
        fields = payload.split(",") if '"' not in payload else self._reader.parse(payload)
        n = len(fields)
        if (n != 9 and n != 10) or not fields[1].isdecimal() or not fields[2].isdecimal():
            return ParseFailure(rec.offset, "malformed pgAudit AUDIT payload (expected 9 or 10 CSV fields)", rec.text)
        audit_type, stmt_id, sub_id, klass, command, _kind, name, logged, parameter = fields[:9]
        rows_text = fields[9] if n == 10 else ""
        rows = int(rows_text) if rows_text.isdecimal() else None
        backend = self._backend(rec.pid) if rec.pid is not None else self._pidless(rec)
        judged = _judge(backend, rec, stmt_id, sub_id, klass, command, name, logged, audit_type)
        if judged is None:
            if self._held:
                self._absorbed(backend, audit_type, stmt_id, sub_id, name, repeat=True)
            return None
        (action, name, from_statement), statement = judged
        if (from_statement or command in _UNCOUNTED) and rows == 0:
            rows = None
        if from_statement and "." not in name:
            name = f"{self._default_schema}.{name}"
        masked = self._mask(logged) if self._mask_literals else logged
        keep_parameter = parameter in _KEEP_PARAMETER
        if keep_parameter and masked == logged:
            original = self._original(rec)
        else:
            payload = _masked_payload(rec.message, fields, masked, parameter if keep_parameter else MASKED)
            original = self._rebuild(rec, payload, None)
        if statement is not logged:  # `<previously logged>`, recovered from the backend
            masked = self._mask(statement) if self._mask_literals else statement
        if not name and klass in _RELATION_CLASSES and action != OTHER:  # PREPARE reads nothing yet
            return self._relation_events(rec, backend, rows, audit_type, stmt_id, sub_id, klass, command, masked,
                                         original, statement, n == 9)  # fmt: skip
        if (self._held or self._settled) and self._absorbed(backend, audit_type, stmt_id, sub_id, name):
            return None
        event = self._audit_event(rec, backend, action, name, rows, audit_type, stmt_id, sub_id, klass, command,
                                  masked, original)  # fmt: skip
        if n == 10 or rec.pid is None:
            return event
        return self._await(rec.pid, stmt_id, statement, rec, event)

    def _absorbed(self, backend: _Backend, audit_type: str, stmt_id: str, sub_id: str, name: str,
                  repeat: bool = False) -> bool:  # fmt: skip
        """Whether an OBJECT line completes the held events of its statement's SESSION line (`_Held`). One
        that repeats a held event's name exactly (`repeat`, dropped by `_Backend.note`) confirms it."""
        if audit_type != "OBJECT":
            return False
        held = self._held.get(backend) or self._settled.get(backend)
        if held is None or held.stmt_id != stmt_id or held.sub_id != sub_id:
            return False
        if repeat:
            held.confirm(name)
            return True
        return held.absorb(name)

    def _relation_events(
        self, rec: ServerRecord, backend: _Backend, rows: int | None, audit_type: str, stmt_id: str, sub_id: str,
        klass: str, command: str, masked: str, original: str, statement: str, before_run: bool = False,
    ) -> Outcome | tuple[Outcome, ...] | None:  # fmt: skip
        """A READ/WRITE line without its relation (`pgaudit.log_relation = off`): one event per relation the
        statement names, as `log_relation = on` would have logged them (`pgrelations`). A statement that
        names none (or does not parse) stays one event without an object. The events of a SESSION line are
        held until the OBJECT lines that may follow it are known (`_Held`)."""
        held = _Held(stmt_id, sub_id, rec.offset, self._records, statement if before_run else None)
        statements = self._relations.statements(masked, statement)
        found = statements[0].relations if len(statements) == 1 else self._relations.relations(masked, statement)
        if len(statements) > 1:  # several statements in one query: this line's own, if it can be told
            index = backend.statement_of(masked, statements, stmt_id, command)
            if index is not None:
                found = statements[index].relations
        if not found:
            if len(statements) > 1:  # the text's first verb is another statement's
                action = READ if klass == "READ" else DELETE if command in _DELETES else WRITE
            else:
                action = _attempted(statement)[0] if statement else READ
            held.events.append(self._audit_event(rec, backend, action, "", rows, audit_type, stmt_id, sub_id, klass,
                                                 command, masked, original))  # fmt: skip
            held.guesses.append(None)
            held.objectless = True
        for relation in found:
            qualified = _spelled(relation.schema or self._default_schema) + "." + _spelled(relation.name)
            if backend.note(stmt_id, sub_id, qualified, statement, rec.time_us,
                            "" if rec.pid is not None else audit_type) is None:  # fmt: skip
                continue
            event = self._audit_event(rec, backend, relation.action, qualified, rows, audit_type, stmt_id, sub_id,
                                      klass, command, masked, original)  # fmt: skip
            if held.events:  # the record's id is the first relation's; the others' are told apart by their name
                event = event._replace(id=self.ids.make(rec.offset, rec.text + "\x00" + qualified))
            held.events.append(event)
            held.guesses.append((qualified, _spelled(relation.name)) if relation.schema is None else None)
        if audit_type == "SESSION" and held.events:
            self._held[backend] = held
            return None
        events = held.events
        return events[0] if len(events) == 1 else tuple(events) if events else None

    def _audit_event(
        self, rec: ServerRecord, backend: _Backend | None, action: str, name: str, rows: int | None,
        audit_type: str, stmt_id: str, sub_id: str, klass: str, command: str, masked: str, original: str,
    ) -> AccessEvent:  # fmt: skip
        # the record's first fields in one step: a NamedTuple's attributes are each a generic lookup
        offset, text, time_us, pid, user, database, host, port, application = rec[:9]
        database = database or (backend.database if backend is not None else None)
        obj = None if not name else f"db:{database}.{name}" if database else f"db:{name}"
        statement_id, substatement_id = _NUMBERS.get(stmt_id) or int(stmt_id), _NUMBERS.get(sub_id) or int(sub_id)
        extra: dict[str, Any] = {
            "process.pid": pid, "postgresql.audit.type": audit_type, "postgresql.audit.class": klass,
            "postgresql.audit.statement_id": statement_id, "postgresql.audit.substatement_id": substatement_id,
        } if pid is not None else {
            "postgresql.audit.type": audit_type, "postgresql.audit.class": klass,
            "postgresql.audit.statement_id": statement_id, "postgresql.audit.substatement_id": substatement_id,
        }  # fmt: skip
        if application is not None:
            extra["postgresql.log.application_name"] = application
        # the rest is what `_event` does, without its call (one per AUDIT line)
        if backend is not None:
            if host is None:
                host, port = backend.host, backend.port
            elif port is None and host == backend.host:
                port = backend.port
            if user is None:
                user = backend.user
        ip = None
        if host is not None and host != "[local]":
            known = self._is_ip.get(host)
            if known if known is not None else self._address(host):
                ip = host
            else:
                extra["source.domain"] = host
        else:
            port = None
        return _new_event((
            self.ids.make(offset, text), time_us, DATASET, action, SUCCESS, user, ip, port, self._host, obj, rows,
            None, command, None if masked in _NO_STATEMENT else masked, original, None, (), extra, offset,
        ))  # fmt: skip

    def _denied(self, rec: ServerRecord) -> Outcome | None:
        """A query refused for lack of privilege: pgAudit writes nothing, the server writes an ERROR. The
        table is named without its schema, so the object is `db:<database>.<table>` as the message says."""
        m = _DENIED.match(rec.message)
        if m is None:
            return None
        action, command = _attempted(rec.statement) if rec.statement else (READ, None)
        if m.group("kind") in ("function", "procedure"):
            action = EXECUTE
        return self._attempt(rec, action, command, m.group("rel") or m.group("name"), database_named=False)

    def _refused(self, rec: ServerRecord) -> Outcome | None:
        """Another refusal for lack of privilege (`_REFUSED`): a DDL on a table the user does not own, a role
        created or a setting changed without the right (a try at switching pgAudit off among them)."""
        m = _REFUSED.match(rec.message)
        if m is None:
            return None
        action, command = _refused_action(rec.statement) if rec.statement else (OTHER, None)
        return self._attempt(rec, action, command, m.group("name"), database_named=m.group("kind") == "database")

    def _attempt(self, rec: ServerRecord, action: str, command: str | None, name: str | None,
                 database_named: bool) -> AccessEvent:  # fmt: skip
        """The failed attempt of a refused statement (SQLSTATE 42501 unless the record says): its statement
        masked, its object `db:<database>.<name>` (`db:<name>` when `name` is a database, or none is known)."""
        backend = self._backends.get(rec.pid) if rec.pid is not None else None
        database = rec.database or (backend.database if backend is not None else None)
        statement, original = rec.statement, self._original(rec)
        if statement and self._mask_literals:
            masked = self._mask(statement)
            if masked != statement:
                original = self._rebuild(rec, None, masked)
            statement = masked
        obj = None if not name else f"db:{database}.{name}" if database and not database_named else f"db:{name}"
        return self._event(
            rec, backend, action, FAILURE, rec.user, obj, None, command, statement, original, rec.sqlstate or "42501"
        )

    def _login_failed(self, rec: ServerRecord) -> Outcome | None:
        """A FATAL during connection start-up. The backend exits after a FATAL, so its pid is forgotten."""
        backend = self._backends.pop(rec.pid, None) if rec.pid is not None else None
        for pattern, code in _LOGIN_FAILURES:
            m = pattern.match(rec.message)
            if m is None:
                continue
            found = m.groupdict()
            if found.get("method", "password") != "password":
                code = "28000"  # peer, ident, cert ...: only a wrong password is 28P01
            user = found.get("user") or rec.user
            database = found.get("db") or rec.database
            if found.get("host"):
                port = rec.port or (backend.port if backend is not None else None)
                rec = rec._replace(host=found["host"], port=port)
            obj = f"db:{database}" if database else None
            return self._event(
                rec, backend, LOGIN, FAILURE, user, obj, None, None, None, self._original(rec), rec.sqlstate or code
            )
        return None

    def _received(self, rec: ServerRecord) -> None:
        """`connection received`: a new backend; its peer is joined to its later lines by pid."""
        m = _RECEIVED.match(rec.message)
        if m is None or rec.pid is None:
            return
        port = m.group(2)
        self._backends.pop(rec.pid, None)
        self._remember(rec.pid, _Backend(m.group(1), int(port) if port else None))

    def _login(self, rec: ServerRecord) -> Outcome | tuple[Outcome, ...] | None:
        message = rec.message
        m = _AUTHORIZED.match(message)
        if m is not None and m.end() != len(message) and not message.startswith(_AUTHORIZED_NEXT, m.end()):
            m = _AUTHORIZED_SPACED.match(message)
        if m is None:
            return None
        user, database = m.group(1), m.group(2) or rec.database
        backend = self._backend(rec.pid) if rec.pid is not None else None
        if backend is not None:
            backend.user, backend.database = user, database
        obj = f"db:{database}" if database else None
        event = self._event(rec, backend, LOGIN, SUCCESS, user, obj, None, None, None, self._original(rec))
        if rec.pid is None:
            return event
        earlier = self._awaiting.pop(rec.pid, None)  # (a pid reused before its login was settled)
        if not self._awaiting:
            self._await_due = self._records + _HOLD_RECORDS
        self._awaiting[rec.pid] = _Awaiting(rec.offset, self._records, None, None, [event])
        return tuple(earlier.events) if earlier is not None else None

    def _logout(self, rec: ServerRecord) -> Outcome | None:
        backend = self._backends.pop(rec.pid, None) if rec.pid is not None else None
        m = _DISCONNECTION.match(rec.message)
        user, database = (m.group(1), m.group(2)) if m is not None else (rec.user, rec.database)
        peer = None
        if m is not None and rec.host is None:  # the prefix has no %h: the message's `host=` (and `port=`)
            port = _PORT.match(rec.message, m.end())
            peer = (m.group(3), int(port.group(1)) if port else None)
        obj = f"db:{database}" if database else None
        return self._event(rec, backend, LOGOUT, SUCCESS, user, obj, None, None, None, self._original(rec),
                           peer=peer)  # fmt: skip

    def _audit_setting(self, rec: ServerRecord) -> Outcome | None:
        """`parameter "pgaudit.log" changed to "none"` (or `removed from configuration file, reset to
        default`): the server took a new pgAudit setting from postgresql.conf on a reload, which no SQL
        statement shows. One "other" event whose statement is the setting, its value kept (a setting, not
        personal data), so that the rules on audit settings see it (rules/sigma/audit_logging_reduced.yml)."""
        m = _PARAMETER.match(rec.message)
        if m is None:
            return None
        name, value = m.group(1), m.group(2)
        statement = f"SET {name} = '{value}'" if value is not None else f"RESET {name}"
        return self._event(rec, None, OTHER, SUCCESS, rec.user, None, None, statement.split(" ", 1)[0], statement,
                           self._original(rec), extra={**_fields(rec), "pii.source": "configuration file"})

    # ---- shared --------------------------------------------------------------------------------------

    def _event(
        self, rec: ServerRecord, backend: _Backend | None, action: str, outcome: str, user: str | None,
        obj: str | None, rows: int | None, command: str | None, statement: str | None, original: str,
        error_code: str | None = None, extra: dict[str, Any] | None = None,
        peer: tuple[str | None, int | None] | None = None,
    ) -> AccessEvent:  # fmt: skip
        """`peer`: the client's host and port when the record's prefix did not give them."""
        host, port = (rec.host, rec.port) if peer is None else peer
        if backend is not None:
            if host is None:
                host, port = backend.host, backend.port
            elif port is None and host == backend.host:  # `%h` has no port; `connection received` had it
                port = backend.port
        if user is None and backend is not None:
            user = backend.user
        fields = extra if extra is not None else _fields(rec)
        ip = None
        if host is not None and host != "[local]":
            known = self._is_ip.get(host)
            if known if known is not None else self._address(host):
                ip = host
            else:  # log_hostname=on: a name, not an address
                fields["source.domain"] = host
        else:
            port = None
        return _new_event((
            self.ids.make(rec.offset, rec.text), rec.time_us, DATASET, action, outcome, user, ip, port,
            self._host, obj, rows, None, command, statement, original, error_code, (), fields, rec.offset,
        ))  # fmt: skip

    def _original(self, rec: ServerRecord) -> str:
        """The record's text for `event.original`: as written, or with its other parts masked."""
        if rec.others is None or not self._mask_literals:
            return rec.text
        return self._rebuild(rec, None, None)

    def _rebuild(self, rec: ServerRecord, message: str | None, statement: str | None) -> str:
        """The record's text with its message and/or statement replaced by masked ones, and its other parts
        (DETAIL, QUERY, CONTEXT) masked when the source masks."""
        others = rec.others if self._mask_literals else None
        if rec.kind == JSONLOG and rec.json is not None:
            obj = dict(rec.json)
            if message is not None:
                obj["message"] = message
            if statement is not None:
                obj["statement"] = statement
            for key, value in others or ():
                obj[key] = self._mask_part(key, value)
            return orjson.dumps(obj).decode()
        text = rec.text
        if rec.kind == CSVLOG:
            if others is not None:  # after the message, in column order: detail, internal_query, context
                quoted = '"' + rec.message.replace('"', '""') + '"'
                at = text.find(quoted)
                text = self._csv_others(text, others, at + len(quoted) if at >= 0 else 0)
            return _csv_replace(_csv_replace(text, rec.message, message, False), rec.statement, statement, True)
        spans = rec.spans or (len(text) - len(rec.message), len(text), -1, -1)
        ms, me, ss, se = spans
        if statement is not None and ss >= 0:
            text = text[:ss] + statement.replace("\n", "\n\t") + text[se:]
        if message is not None:
            written = message.replace("\n", "\n\t")
            text = text[:ms] + written + text[me:]
            me = ms + len(written)
        return text if others is None else self._stderr_others(rec, text, me)

    def _mask_part(self, key: str, value: str) -> str:
        """A DETAIL, QUERY or CONTEXT with its literals masked (see the module docstring)."""
        if key == "internal_query":
            return self._mask(value)
        if key == "detail":
            value = _KEY_VALUES.sub(r"\1" + MASKED + r"\3", value)
            value = _FAILING_ROW.sub(r"\1" + MASKED + r"\3", value)
            return _SINGLE_QUOTED.sub("'?'", value) if "'" in value else value
        lines = value.split("\n")  # context: one line per level of nesting, innermost first
        for i, line in enumerate(lines):
            m = _CONTEXT_SQL.match(line)
            if m is not None:
                lines[i] = m.group(1) + self._mask(m.group(2)) + m.group(3)
            elif (m := _CONTEXT_DATA.match(line)) is not None:
                lines[i] = m.group(1) + MASKED
            elif "'" in line:  # `... with parameters: $1 = 'x'`
                lines[i] = _SINGLE_QUOTED.sub("'?'", line)
        return "\n".join(lines)

    def _csv_others(self, text: str, others: tuple[tuple[str, str], ...], start: int) -> str:
        """csvlog: the other parts' quoted columns, found left to right from `start`, masked."""
        for key, value in others:
            masked = self._mask_part(key, value)
            if masked == value:
                continue
            quoted = '"' + value.replace('"', '""') + '"'
            at = text.find(quoted, start)
            if at < 0:  # never the unmasked text
                text = text.replace(value, masked)
                continue
            new = '"' + masked.replace('"', '""') + '"'
            text = text[:at] + new + text[at + len(quoted) :]
            start = at + len(new)
        return text

    def _stderr_others(self, rec: ServerRecord, text: str, start: int) -> str:
        """stderr: the DETAIL, QUERY and CONTEXT lines' text, found left to right from `start`, masked."""
        for key, value in rec.others or ():
            masked = self._mask_part(key, value)
            if masked == value:
                continue
            written = value.replace("\n", "\n\t")
            at = text.find(written, start)
            if at < 0:  # never the unmasked text
                text = text.replace(written, masked.replace("\n", "\n\t"))
                continue
            new = masked.replace("\n", "\n\t")
            text = text[:at] + new + text[at + len(written) :]
            start = at + len(new)
        return text

    def _address(self, host: str) -> bool:
        return is_address(host, self._is_ip)

    def _pidless(self, rec: ServerRecord) -> _Backend:
        """The session of a record written without its pid (a prefix with neither %p nor %c), known by what
        the prefix has of it: client address and port (%r, one TCP connection), else the address (%h) or
        nothing, and user and database. Not "the AUDIT line before": other backends' lines come in between.
        Backends may share a key (unix-socket or %h-only sessions of one user), so only OBJECT/SESSION pairs
        are told apart through it (`_Backend.note`): lines of the same type all count."""
        key = _session_key(rec)
        sessions = self._pidless_sessions
        session = sessions.get(key)
        if session is None:
            if len(sessions) >= MAX_BACKENDS:
                del sessions[next(iter(sessions))]
            session = sessions[key] = _Backend()
        return session

    def _backend(self, pid: int) -> _Backend:
        backend = self._backends.get(pid)
        if backend is None:
            backend = self._remember(pid, _Backend())
        return backend

    def _remember(self, pid: int, backend: _Backend) -> _Backend:
        backends = self._backends
        if len(backends) >= MAX_BACKENDS:
            del backends[next(iter(backends))]  # the oldest connection
        backends[pid] = backend
        return backend


def _fields(rec: ServerRecord) -> dict[str, Any]:
    """The ECS fields every event of this record carries beyond the AccessEvent attributes."""
    if rec.application is None:
        return {} if rec.pid is None else {"process.pid": rec.pid}
    return {"process.pid": rec.pid, "postgresql.log.application_name": rec.application}


def _session_key(rec: ServerRecord) -> tuple[str | None, int | None, str | None, str | None]:
    """What a record written without its pid (a prefix without %p) has of its session (`_pidless`)."""
    return rec.host, rec.port, rec.user, rec.database


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


# PostgreSQL's own statement logging: `LOG:  statement: ...`, `LOG:  execute <name>: ...`, and the same after
# `duration: 1.2 ms  ` (log_min_duration_statement)
_STATEMENT_LOG: Final = re.compile(r"\bLOG:  (?:duration: [\d.]+ ms  )?(?:statement|execute [^:]*): ")


def _wanted(level: str, line: str, start: int) -> bool:
    """Whether a stderr record can produce an event or feed the pid join (see `PgAuditParser._handle`)."""
    if line.startswith("AUDIT: ", start):
        return True
    if level == "LOG":
        return line.startswith(("connection ", "disconnection: ", "replication connection ", 'parameter "pgaudit.'),
                               start)  # fmt: skip
    # every ERROR: besides the refusals (`_ERRORS`), one may end a statement pgAudit logged before it ran
    return level == "FATAL" or level == "ERROR"


def _csv_replace(text: str, old: str | None, new: str | None, last: bool) -> str:
    """Replace one always-quoted csvlog field (message, query) by its masked value."""
    if new is None or old is None:
        return text
    quoted = '"' + old.replace('"', '""') + '"'
    at = text.rfind(quoted) if last else text.find(quoted)
    if at < 0:
        return new  # never the unmasked text
    return text[:at] + '"' + new.replace('"', '""') + '"' + text[at + len(quoted) :]
