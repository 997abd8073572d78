"""Database audit logs: PostgreSQL + pgAudit (stderr, csvlog, jsonlog) and MariaDB server_audit.

Layouts follow the real lines in shared/samples (FORMATS.md §1, §2): one pgAudit workload is rendered in the
three PostgreSQL destinations, so the three files describe the same sessions.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

from benchmarks.population import Population, Table
from benchmarks.timeline import Clock, interleave, take

PG_HBA: Final = "/etc/postgresql/15/main/pg_hba.conf"
_APPS: Final = ("psql", "crm-report", "etl-job", "metabase", "DBeaver_23.1.0", "airflow", "psql", "psql")
_DB_WEIGHTS: Final = {"crm": 40, "billing": 15, "hr": 10, "analytics": 25, "inventory": 10}


def csv_field(value: str) -> str:
    """pgAudit's append_valid_csv: quote only when needed, double the quotes."""
    if "," in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


@dataclass(slots=True)
class PgMessage:
    """One server log record before it is laid out for a destination."""

    severity: str  # LOG, ERROR, FATAL
    message: str
    tag: str = ""  # the command tag (csvlog command_tag, jsonlog ps)
    state: str = "00000"
    detail: str | None = None
    statement: str | None = None
    txid: int = 0
    stage: str = "query"  # received (before auth: no user), auth, query, idle


@dataclass(slots=True)
class PgSession:
    pid: int
    user: str
    db: str
    host: str | None  # None: unix socket ([local])
    port: int
    app: str
    start_us: int
    start_text: str  # `2026-11-27 16:20:40 UTC`
    backend_id: int
    line: int = 0
    stmt: int = 0
    local_xid: int = 0
    tables: tuple[Table, ...] = field(default_factory=tuple)

    @property
    def session_id(self) -> str:
        return f"{self.start_us // 1_000_000:x}.{self.pid:x}"


def _audit(sid: int, sub: int, cls: str, cmd: str, table: Table | None, stmt: str, param: str, rows: int,
           audit_type: str = "SESSION") -> str:
    otype, oname = ("TABLE", table.qualified) if table is not None else ("", "")
    return (f"AUDIT: {audit_type},{sid},{sub},{cls},{cmd},{otype},{oname},{csv_field(stmt)},"
            f"{csv_field(param)},{rows}")  # fmt: skip


class PgWorkload:
    """What clients do to PostgreSQL: sessions of reads, joins, exports, writes and denied queries."""

    def __init__(self, pop: Population, rng: random.Random, clock: Clock) -> None:
        self.pop = pop
        self.rng = rng
        self.clock = clock
        self._pid = 20_000
        self._txid = 90_000
        self._backend = 3
        self._by_db: dict[str, tuple[Table, ...]] = {}
        for t in pop.pg_tables:
            if t is pop.honeytable:  # touched only by the rare stray statement below
                continue
            self._by_db[t.db] = (*self._by_db.get(t.db, ()), t)
        self._dbs = tuple(_DB_WEIGHTS)
        self._db_weights = tuple(_DB_WEIGHTS.values())

    def session(self) -> PgSession:
        rng = self.rng
        self._pid += rng.randrange(1, 40)
        self._backend = self._backend % 120 + 1
        local = rng.random() < 0.03
        user = "postgres" if local else self.pop.login(rng)
        db = rng.choices(self._dbs, self._db_weights)[0]
        host = None if local else self.pop.ip_for(rng, user)
        return PgSession(self._pid, user, db, host, rng.randrange(32768, 61000), rng.choice(_APPS),
                         self.clock.us, self.clock.pg_seconds(), self._backend, tables=self._by_db[db])

    def messages(self, s: PgSession) -> Iterator[PgMessage]:
        rng = self.rng
        where = f"host={s.host} port={s.port}" if s.host else "host=[local]"
        yield PgMessage("LOG", f"connection received: {where}", stage="received")
        if s.host is not None and rng.random() < 0.03:
            yield PgMessage("FATAL", f'password authentication failed for user "{s.user}"', "authentication",
                            "28P01", stage="auth",
                            detail='Connection matched pg_hba.conf line 91: "host    all             all'
                                   '             10.0.0.0/8              scram-sha-256"')  # fmt: skip
            return
        if s.host is not None:
            yield PgMessage("LOG", f'connection authenticated: identity="{s.user}" method=scram-sha-256 '
                                   f"({PG_HBA}:91)", "authentication", stage="auth")  # fmt: skip
        yield PgMessage("LOG", f"connection authorized: user={s.user} database={s.db} application_name={s.app}",
                        "authentication", stage="auth")
        for _ in range(min(int(rng.expovariate(1 / 12)) + 1, 200)):
            yield from self.statement(s)
        ms = (self.clock.us - s.start_us) // 1000
        hours, rest = divmod(ms, 3_600_000)
        tail = f" host={s.host} port={s.port}" if s.host else " host=[local]"
        yield PgMessage("LOG", f"disconnection: session time: {hours}:{rest // 60000:02d}:{rest // 1000 % 60:02d}."
                               f"{rest % 1000:03d} user={s.user} database={s.db}{tail}", "idle", stage="idle")

    def statement(self, s: PgSession) -> Iterator[PgMessage]:
        rng = self.rng
        s.stmt += 1
        sid = s.stmt
        t = s.tables[int(len(s.tables) * rng.random() ** 1.6)]
        if rng.random() < 0.0005:
            t = self.pop.honeytable
        cols = ", ".join(_pick_columns(rng, t.columns))
        rid = rng.randrange(1, 200_000)
        r = rng.random()
        if r < 0.22:
            sql = f"SELECT {cols} FROM {t.qualified} WHERE id = {rid};"
            if "ssn" in cols and rng.random() < 0.3:  # object auditing (pgaudit.role) logs the column grant too
                yield PgMessage("LOG", _audit(sid, 1, "READ", "SELECT", t, sql, "<none>", 1, "OBJECT"), "SELECT")
            yield PgMessage("LOG", _audit(sid, 1, "READ", "SELECT", t, sql, "<none>", 1), "SELECT")
        elif r < 0.30:
            n = rng.randrange(2, 500)
            sql = f"SELECT * FROM {t.qualified} WHERE id < {n};"
            yield PgMessage("LOG", _audit(sid, 1, "READ", "SELECT", t, sql, "<none>", n - 1), "SELECT")
        elif r < 0.39:
            n = rng.choice((10, 20, 50, 100, 1000))
            sql = f"SELECT {cols} FROM {t.qualified} ORDER BY id LIMIT {n};"
            yield PgMessage("LOG", _audit(sid, 1, "READ", "SELECT", t, sql, "<none>", n), "SELECT")
        elif r < 0.46:
            sql = f"SELECT id, {t.columns[1]} FROM {t.qualified} WHERE {t.columns[2]} = 'c{rid}@example.com';"
            yield PgMessage("LOG", _audit(sid, 1, "READ", "SELECT", t, sql, "<none>", rng.randrange(0, 2)), "SELECT")
        elif r < 0.58:
            lo = rng.randrange(1, 100_000)
            hi = lo + rng.randrange(0, 100)
            sql = f"SELECT {cols} FROM {t.name} WHERE id BETWEEN $1 AND $2"
            yield PgMessage("LOG", _audit(sid, 1, "READ", "SELECT", t, sql, f"{lo},{hi}", hi - lo + 1), "BIND")
        elif r < 0.61:
            sql = f"PREPARE q{sid}(int) AS SELECT {cols} FROM {t.name} WHERE id = $1;"
            yield PgMessage("LOG", _audit(sid, 1, "READ", "PREPARE", None, sql, "<none>", 0), "PREPARE")
            s.stmt += 1
            yield PgMessage("LOG", _audit(s.stmt, 1, "READ", "SELECT", t, sql, str(rid), 1), "EXECUTE")
        elif r < 0.69:
            other = rng.choice(s.tables)
            sql = (f"SELECT a.id, a.{t.columns[1]}, b.{other.columns[1]}\n  FROM {t.qualified} a\n"
                   f"  JOIN {other.qualified} b ON b.id = a.id\n WHERE a.{t.columns[1]} = 'says \"hi\", twice'\n"
                   f"   AND a.id > {rid};")  # fmt: skip
            rows = rng.randrange(0, 300)
            for rel in dict.fromkeys((t, other)):
                yield PgMessage("LOG", _audit(sid, 1, "READ", "SELECT", rel, sql, "<none>", rows), "SELECT")
        elif r < 0.74:
            yield PgMessage("LOG", _audit(sid, 1, "READ", "SELECT", t, f"SELECT count(*) FROM {t.name}", "<none>", 1),
                            "SELECT")
        elif r < 0.76:
            sql = f"COPY {t.qualified} TO STDOUT WITH (FORMAT csv, HEADER);"
            yield PgMessage("LOG", _audit(sid, 1, "READ", "COPY", None, sql, "<none>", 0), "COPY")
        elif r < 0.78:
            n = rng.randrange(100, 50_000)
            sql = f"COPY  ( SELECT {cols} FROM {t.qualified} WHERE id <= {n} ) TO STDOUT WITH CSV"
            yield PgMessage("LOG", _audit(sid, 1, "READ", "SELECT", t, sql, "<none>", n), "COPY")
            yield PgMessage("LOG", _audit(sid, 2, "READ", "COPY", None, sql, "<none>", 0), "COPY")
        elif r < 0.85:
            self._txid += 1
            sql = (f"INSERT INTO {t.qualified} ({t.columns[0]}, {t.columns[1]}, {t.columns[2]}) "
                   f"VALUES ({rid}, 'Customer {rid}', 'it''s c{rid}@example.com');")  # fmt: skip
            yield PgMessage("LOG", _audit(sid, 1, "WRITE", "INSERT", t, sql, "<none>", 1), "INSERT", txid=self._txid)
        elif r < 0.91:
            self._txid += 1
            sql = f"UPDATE {t.qualified} SET {t.columns[-1]} = 'updated by ticket #{rid}' WHERE id = {rid};"
            yield PgMessage("LOG", _audit(sid, 1, "WRITE", "UPDATE", t, sql, "<none>", 1), "UPDATE", txid=self._txid)
        elif r < 0.92:
            self._txid += 1
            sql = f"DELETE FROM {t.qualified} WHERE id = {rid};"
            yield PgMessage("LOG", _audit(sid, 1, "WRITE", "DELETE", t, sql, "<none>", rng.randrange(0, 2)),
                            "DELETE", txid=self._txid)
        elif r < 0.96:
            s.stmt -= 1  # a denied statement is never audited, so it takes no statement id
            yield PgMessage("ERROR", f"permission denied for table {t.name}", "SELECT", "42501",
                            statement=f"SELECT {t.columns[-1]} FROM {t.qualified} WHERE id = {rid};")
        elif r < 0.98:
            sql = f"DO $$BEGIN PERFORM count(*) FROM {t.name}; END$$;"
            yield PgMessage("LOG", _audit(sid, 1, "FUNCTION", "DO", None, sql, "<none>", 0), "DO")
            yield PgMessage("LOG", _audit(sid, 2, "READ", "SELECT", t, f"SELECT count(*) FROM {t.name}", "<none>", 1),
                            "DO")
        else:
            sql = f"SELECT c.{t.columns[1]}, count(*)\n  FROM {t.qualified} c\n GROUP BY 1\n ORDER BY 2 DESC;"
            yield PgMessage("LOG", _audit(sid, 1, "READ", "SELECT", t, sql, "<none>", rng.randrange(1, 5000)),
                            "SELECT")


def _pick_columns(rng: random.Random, columns: tuple[str, ...]) -> list[str]:
    n = rng.randrange(2, min(5, len(columns)) + 1)
    return [columns[0], *rng.sample(columns[1:], n - 1)]


# -- the three PostgreSQL destinations ---------------------------------------------------------------------

Render = Callable[[Clock, PgSession, PgMessage], list[str]]


def render_stderr(clock: Clock, s: PgSession, m: PgMessage) -> list[str]:
    """log_line_prefix '%m [%p] %q%u@%d ', continuation lines start with a TAB."""
    who = "[unknown]@[unknown]" if m.stage == "received" else f"{s.user}@{s.db}"
    prefix = f"{clock.pg()} [{s.pid}] {who} "
    text = f"{prefix}{m.severity}:  {_tabbed(m.message)}"
    if m.detail is not None:
        text += f"\n{prefix}DETAIL:  {_tabbed(m.detail)}"
    if m.statement is not None:
        text += f"\n{prefix}STATEMENT:  {_tabbed(m.statement)}"
    return text.split("\n")


def _tabbed(text: str) -> str:
    return text.replace("\n", "\n\t")


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def render_csvlog(clock: Clock, s: PgSession, m: PgMessage) -> list[str]:
    """PostgreSQL 15 csvlog, 26 columns; quoted newlines split a record over several physical lines."""
    s.line += 1
    received = m.stage == "received"
    user = "" if received else _quoted(s.user)
    db = "" if received else _quoted(s.db)
    conn = _quoted(f"{s.host}:{s.port}" if s.host else "[local]")
    vxid = ""
    if m.stage in ("auth", "query"):
        s.local_xid += m.stage == "query"
        vxid = f"{s.backend_id}/{s.local_xid}"
    app = "" if m.stage in ("received", "auth") else s.app
    backend = "not initialized" if received else "client backend"
    record = (
        f"{clock.pg()},{user},{db},{s.pid},{conn},{s.session_id},{s.line},{_quoted(m.tag)},"
        f"{s.start_text},{vxid},{m.txid},{m.severity},{m.state},{_quoted(m.message)},"
        f"{_quoted(m.detail) if m.detail is not None else ''},,,,,"
        f"{_quoted(m.statement) if m.statement is not None else ''},,,{_quoted(app)},{_quoted(backend)},,0"
    )
    return record.split("\n")


def render_jsonlog(clock: Clock, s: PgSession, m: PgMessage) -> list[str]:
    """PostgreSQL 15 jsonlog: one object per line, empty keys omitted."""
    s.line += 1
    doc: dict[str, object] = {"timestamp": clock.pg()}
    if m.stage != "received":
        doc["user"] = s.user
        doc["dbname"] = s.db
    doc["pid"] = s.pid
    doc["remote_host"] = s.host or "[local]"
    if s.host:
        doc["remote_port"] = s.port
    doc["session_id"] = s.session_id
    doc["line_num"] = s.line
    doc["ps"] = m.tag
    doc["session_start"] = s.start_text
    if m.stage in ("auth", "query"):
        s.local_xid += m.stage == "query"
        doc["vxid"] = f"{s.backend_id}/{s.local_xid}"
    doc["txid"] = m.txid
    doc["error_severity"] = m.severity
    if m.severity in ("ERROR", "FATAL"):
        doc["state_code"] = m.state
    doc["message"] = m.message
    if m.detail is not None:
        doc["detail"] = m.detail
    if m.statement is not None:
        doc["statement"] = m.statement
    if m.stage not in ("received", "auth"):
        doc["application_name"] = s.app
    doc["backend_type"] = "not initialized" if m.stage == "received" else "client backend"
    doc["query_id"] = 0
    return [json.dumps(doc, separators=(",", ":"))]


def _checkpoints(clock: Clock, layout: str, rng: random.Random) -> Iterator[str]:
    """Background lines (the checkpointer): valid log lines that are not accesses."""
    line = 0
    while True:
        clock.tick()
        line += 1
        msg = rng.choice(("checkpoint starting: time", "checkpoint complete: wrote 964 buffers (5.9%); 0 WAL "
                          "file(s) added, 0 removed, 0 recycled; write=0.015 s, sync=0.015 s, total=0.031 s"))
        if layout == "stderr":
            yield f"{clock.pg()} [7926] LOG:  {msg}"
        elif layout == "csvlog":
            yield (f'{clock.pg()},,,7926,,6b09adc8.1ef6,{line},,2026-11-27 00:00:00 UTC,,0,LOG,00000,'
                   f'{_quoted(msg)},,,,,,,,,"","checkpointer",,0')  # fmt: skip
        else:
            yield json.dumps({"timestamp": clock.pg(), "pid": 7926, "session_id": "6b09adc8.1ef6",
                              "line_num": line, "session_start": "2026-11-27 00:00:00 UTC", "txid": 0,
                              "error_severity": "LOG", "message": msg, "backend_type": "checkpointer",
                              "query_id": 0}, separators=(",", ":"))  # fmt: skip


_RENDER: Final[dict[str, Render]] = {"stderr": render_stderr, "csvlog": render_csvlog, "jsonlog": render_jsonlog}


def pgaudit(pop: Population, seed: int, lines: int, layout: str) -> Iterator[str]:
    """`lines` physical lines of PostgreSQL + pgAudit output in `layout` (stderr, csvlog or jsonlog)."""
    rng = random.Random(f"pgaudit:{seed}")
    clock = Clock(rng, mean_gap_us=150)
    work = PgWorkload(pop, rng, clock)
    render = _RENDER[layout]
    background = _checkpoints(clock, layout, rng)

    def session() -> Iterator[list[str]]:
        s = work.session()
        for message in work.messages(s):
            clock.tick()
            yield render(clock, s, message)

    def records() -> Iterator[list[str]]:
        for record in interleave(rng, session, 24):
            if rng.random() < 0.002:
                yield [next(background)]
            yield record

    return take(records(), lines, background)


# -- MariaDB server_audit (file output) ---------------------------------------------------------------------

MARIADB_HOST: Final = "db2"


def maria_escape(sql: str) -> str:
    """server_audit's quoting of the query text: single quotes with backslash escapes."""
    return "'" + sql.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r").replace(
        "\t", "\\t") + "'"  # fmt: skip


class MariaWorkload:
    def __init__(self, pop: Population, rng: random.Random, clock: Clock) -> None:
        self.pop = pop
        self.rng = rng
        self.clock = clock
        self.conn = 100
        self.query = 5000

    def session(self) -> Iterator[list[str]]:
        rng, pop, clock = self.rng, self.pop, self.clock
        self.conn += 1
        conn = self.conn
        local = rng.random() < 0.03
        user = "root" if local else pop.login(rng)
        host = "localhost" if local else pop.ip_for(rng, user)
        db = rng.choice(("shop", "shop", "helpdesk", "wiki"))
        head = f"{MARIADB_HOST},{user},{host},{conn}"
        clock.tick()
        if rng.random() < 0.03:
            yield [f"{clock.mariadb()},{head},0,FAILED_CONNECT,,,1045"]
            clock.tick()
            yield [f"{clock.mariadb()},{head},0,DISCONNECT,,,0"]
            return
        yield [f"{clock.mariadb()},{head},0,CONNECT,{db},,0"]
        tables = [t for t in pop.maria_tables if t.db == db]
        for _ in range(min(int(rng.expovariate(1 / 10)) + 1, 200)):
            clock.tick()
            self.query += 1
            yield self._query(head, db, tables, self.query)
        clock.tick()
        yield [f"{clock.mariadb()},{head},0,DISCONNECT,{db},,0"]

    def _query(self, head: str, db: str, tables: list[Table], qid: int) -> list[str]:
        rng = self.rng
        ts = self.clock.mariadb()
        t = tables[int(len(tables) * rng.random() ** 1.6)]
        rid = rng.randrange(1, 100_000)
        cols = ", ".join(_pick_columns(rng, t.columns))
        r = rng.random()
        reads: tuple[Table, ...] = (t,)
        op = "READ"
        code = 0
        if r < 0.35:
            sql = f"SELECT {cols} FROM {t.name} WHERE id = {rid}"
        elif r < 0.45:
            sql = f"SELECT {cols} FROM {t.name} WHERE email = 'c{rid}@example.com' LIMIT 1"
        elif r < 0.55:
            other = rng.choice(tables)
            reads = tuple(dict.fromkeys((t, other)))
            sql = (f"SELECT a.{t.columns[1]}, b.{other.columns[1]}\n  FROM {t.name} a\n  JOIN {other.name} b"
                   f" ON b.id = a.id\n WHERE a.{t.columns[-1]} = 'says \"hi\", it''s {rid}'")  # fmt: skip
        elif r < 0.58:
            sql = (f"SELECT {cols} FROM {t.name} INTO OUTFILE '/var/lib/mysql-files/{t.name}-{rid}.csv' "
                   "FIELDS TERMINATED BY ','")
        elif r < 0.66:
            sql = f"INSERT INTO {t.name} ({t.columns[0]}, {t.columns[1]}) VALUES ({rid}, 'O\\'Brien {rid}')"
            op = "WRITE"
        elif r < 0.74:
            sql = f"UPDATE {t.name} SET {t.columns[-1]} = 'C:\\\\temp\\\\{rid}' WHERE id = {rid}"
            op = "WRITE"
        elif r < 0.78:
            sql = f"SELECT {t.columns[-1]} FROM {t.name}"
            code = rng.choice((1142, 1143))
        elif r < 0.86:
            sql = rng.choice(("SET NAMES utf8mb4", "SET autocommit=1", "SHOW WARNINGS", "COMMIT",
                              "SELECT @@version_comment LIMIT 1"))  # fmt: skip
            reads = ()
        else:
            sql = f"SELECT COUNT(*) FROM {db}.{t.name}"
        rows = [f"{ts},{head},{qid},{op},{db},{table.name}," for table in reads]
        rows.append(f"{ts},{head},{qid},QUERY,{db},{maria_escape(sql)},{code}")
        return rows


def mariadb(pop: Population, seed: int, lines: int) -> Iterator[str]:
    """`lines` lines of server_audit file output (TABLE rows before their QUERY row)."""
    rng = random.Random(f"mariadb:{seed}")
    clock = Clock(rng, mean_gap_us=150)
    work = MariaWorkload(pop, rng, clock)

    def filler() -> Iterator[str]:
        while True:
            clock.tick()
            work.conn += 1
            yield f"{clock.mariadb()},{MARIADB_HOST},etl,10.10.0.5,{work.conn},0,CONNECT,shop,,0"

    return take(interleave(rng, work.session, 16), lines, filler())
