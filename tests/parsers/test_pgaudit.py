"""PostgreSQL + pgAudit: one test per quirk of FORMATS.md §1. Lines are taken from the real samples in
tests/samples/pgaudit/ (PostgreSQL 15.18 + pgAudit 1.7.0) unless a test says otherwise."""

from __future__ import annotations

import time
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pii_guard.model import (
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
    format_timestamp,
)
from pii_guard.parsers import pgaudit, pgaudit_prefix, pgrelations_ast
from pii_guard.parsers.base import Outcome, ParseFailure, SourceContext
from pii_guard.parsers.pgaudit import PgAuditParser
from pii_guard.parsers.pgaudit_options import PgAuditOptions
from pii_guard.parsers.pgaudit_prefix import CompiledPrefix, split_remote
from tests.parsers.feeding import run

DEBIAN = "%m [%p] %q%u@%d "
PGBADGER = "%t [%p]: user=%u,db=%d,app=%a,client=%h "
A = "2026-11-27 16:20:40.910 UTC [8719] alice@crm LOG:  "  # Debian prefix of alice's TCP session
RECEIVED = "2026-11-27 16:20:40.899 UTC [8719] [unknown]@[unknown] LOG:  connection received: host=127.0.0.1 port=46244"
CSV_HEAD = '2026-11-27 16:20:41.224 UTC,"alice","crm",8729,"127.0.0.1:46272",6b09add9.2219,4,"BIND",'
CSV_MID = "2026-11-27 16:20:41 UTC,3/20,0,LOG,00000,"
CSV_TAIL = ',,,,,,,,,"etl-job","client backend",,0'


def make_parser(mask: bool = True, tz: str | None = "Europe/Berlin", **options: Any) -> PgAuditParser:
    context = SourceContext(
        fingerprint=b"test-fingerprint", path="postgresql.log", host="db1",
        tz=ZoneInfo(tz) if tz else None, mask_literals=mask,
    )  # fmt: skip
    return PgAuditParser(context, PgAuditOptions(**options))


def parse(lines: list[str], mask: bool = True, tz: str | None = "Europe/Berlin", **options: Any) -> list[Outcome]:
    parser = make_parser(mask, tz, **options)
    out: list[Outcome] = []
    offset = 0
    for line in lines:
        out.extend(parser.feed(offset, line))
        offset += len(line.encode()) + 1
    out.extend(parser.flush())
    return out


def events(lines: list[str], **kw: Any) -> list[AccessEvent]:
    out = parse(lines, **kw)
    failures = [o for o in out if isinstance(o, ParseFailure)]
    assert not failures, failures
    return [o for o in out if isinstance(o, AccessEvent)]


def audit(payload: str, prefix: str = A) -> str:
    return prefix + "AUDIT: " + payload


def csv_audit(payload: str, head: str = CSV_HEAD) -> str:
    """A csvlog record (PG15, 26 columns) whose message is `AUDIT: payload`."""
    return head + CSV_MID + '"AUDIT: ' + payload.replace('"', '""') + '"' + CSV_TAIL


def when(ev: AccessEvent) -> str:
    return format_timestamp(ev.time_us)


# ---- accesses ------------------------------------------------------------------------------------------


def test_plain_select_user_ip_object_rows_and_time() -> None:
    [login, ev] = events([
        RECEIVED,
        "2026-11-27 16:20:40.908 UTC [8719] alice@crm LOG:  connection authorized: user=alice database=crm "
        "application_name=crm-report",
        audit("SESSION,1,1,READ,SELECT,TABLE,public.customers,SELECT * FROM public.customers WHERE id < 5;,<none>,4"),
    ])  # fmt: skip
    assert (login.action, login.outcome, login.user, login.source_ip) == (LOGIN, SUCCESS, "alice", "127.0.0.1")
    assert (ev.action, ev.outcome, ev.user) == (READ, SUCCESS, "alice")
    assert (ev.source_ip, ev.source_port, ev.host) == ("127.0.0.1", 46244, "db1")  # joined by pid
    assert (ev.object, ev.rows, ev.command) == ("db:crm.public.customers", 4, "SELECT")
    assert when(ev) == "2026-11-27T16:20:40.910000Z"
    assert ev.dataset == "postgresql.pgaudit"
    assert ev.statement == "SELECT * FROM public.customers WHERE id < ?;"
    assert ev.fields["process.pid"] == 8719
    assert ev.fields["postgresql.audit.statement_id"] == 1


def test_join_gives_one_event_per_relation() -> None:
    stmt = '"SELECT c.full_name, o.total FROM customers c JOIN orders o ON o.customer_id = c.id;"'
    evs = events([
        audit(f"SESSION,2,1,READ,SELECT,TABLE,public.customers,{stmt},<none>,20"),
        audit(f"SESSION,2,1,READ,SELECT,TABLE,public.orders,{stmt},<none>,20"),
    ])  # fmt: skip
    assert [(e.object, e.rows, e.action) for e in evs] == [
        ("db:crm.public.customers", 20, READ),
        ("db:crm.public.orders", 20, READ),
    ]
    assert evs[0].id != evs[1].id


def test_copy_table_to_is_an_export_of_the_table_named_in_the_statement() -> None:
    copy = '"COPY public.customers TO STDOUT WITH (FORMAT csv, HEADER);"'
    [ev] = events([audit(f"SESSION,3,1,READ,COPY,,,{copy},<none>,0")])
    assert (ev.action, ev.object, ev.command) == (EXPORT, "db:crm.public.customers", "COPY")
    assert ev.rows is None  # pgAudit's 0 means "not counted", not "nothing left"


@pytest.mark.parametrize(
    ("statement", "action", "obj"),
    [
        ("COPY ONLY crm_app.Customers (id, email) TO '/tmp/x.csv'", EXPORT, "db:crm.crm_app.customers"),
        ('COPY "Sales"."Big Table" TO STDOUT', EXPORT, 'db:crm."Sales"."Big Table"'),
        ('COPY "customers" TO PROGRAM \'gzip > /tmp/c.gz\'', EXPORT, "db:crm.public.customers"),
        ("/* nightly */ copy customers to stdout", EXPORT, "db:crm.public.customers"),
        ("COPY public.customers FROM STDIN", WRITE, "db:crm.public.customers"),
    ],
)
def test_copy_statement_shapes(statement: str, action: str, obj: str) -> None:
    klass = "WRITE" if action == WRITE else "READ"
    [ev] = events([audit(f"SESSION,1,1,{klass},COPY,,,{pgaudit._csv_field(statement)},<none>,0")])
    assert (ev.action, ev.object, ev.rows) == (action, obj, None)


def test_copy_to_logged_as_select_of_the_relation_is_an_export() -> None:
    """pgAudit without log_rows logs `COPY t TO` at executor start, as a SELECT of the relation (upstream
    regression output, expected/pgaudit.out line 645)."""
    [ev] = events([audit("SESSION,8,1,READ,SELECT,TABLE,public.account,COPY account TO stdout;,<none>")])
    assert (ev.action, ev.object, ev.rows) == (EXPORT, "db:crm.public.account", None)


def test_psql_copy_query_rows_come_from_the_select_substatement() -> None:
    stmt = '"COPY  ( SELECT email, ssn FROM public.customers WHERE id <= 100 ) TO STDOUT WITH CSV"'
    evs = events([
        audit(f"SESSION,4,1,READ,SELECT,TABLE,public.customers,{stmt},<none>,100"),
        audit(f"SESSION,4,2,READ,COPY,,,{stmt},<none>,0"),  # skipped: no object, no rows
    ])  # fmt: skip
    assert [(e.action, e.object, e.rows, e.command) for e in evs] == [
        (EXPORT, "db:crm.public.customers", 100, "SELECT")
    ]


def test_bind_parameters_are_never_kept() -> None:
    line = (
        CSV_HEAD + CSV_MID + '"AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.customers,""SELECT id, email, ssn FROM '
        'customers WHERE id BETWEEN $1 AND $2"",""10,60"",51"' + CSV_TAIL
    )
    for mask in (True, False):
        [ev] = events([line], mask=mask, destination="csvlog")
        assert ev.rows == 51
        assert "10,60" not in ev.original
        assert '""<masked>"",51' not in ev.original
        assert ",<masked>,51" in ev.original
        assert ev.statement == "SELECT id, email, ssn FROM customers WHERE id BETWEEN $1 AND $2"
        assert ev.original.startswith(CSV_HEAD)
        assert ev.original.endswith(CSV_TAIL)


def test_execute_is_logged_with_the_prepare_text_and_its_value_masked() -> None:
    evs = events([
        audit("SESSION,5,1,READ,PREPARE,,,PREPARE q(int) AS SELECT email FROM customers WHERE id = $1;,<none>,0"),
        audit("SESSION,6,1,READ,SELECT,TABLE,public.customers,PREPARE q(int) AS SELECT email FROM customers "
              "WHERE id = $1;,42,1"),
    ])  # fmt: skip
    prepare, execute = evs
    assert (prepare.action, prepare.object) == (OTHER, None)
    assert (execute.action, execute.object, execute.rows) == (READ, "db:crm.public.customers", 1)
    assert execute.statement == "PREPARE q(int) AS SELECT email FROM customers WHERE id = $1;"
    assert execute.original.endswith("id = $1;,<masked>,1")


def test_object_and_session_lines_of_one_access_give_one_event() -> None:
    stmt = '"SELECT id, ssn FROM public.customers WHERE id < 3;"'
    p2 = "2026-11-27 17:20:49 CET [9129]: user=alice,db=crm,app=crm-report,client=127.0.0.1 LOG:  "
    other_backend = p2.replace("[9129]", "[9130]")
    evs = events([
        audit(f"OBJECT,2,1,READ,SELECT,TABLE,public.customers,{stmt},<none>,2", p2),
        audit(f"SESSION,2,1,READ,SELECT,TABLE,public.customers,{stmt},<none>,2", p2),
        audit(f"SESSION,3,1,READ,SELECT,TABLE,public.customers,{stmt},<none>,2", p2),  # next statement
        audit(f"SESSION,2,1,READ,SELECT,TABLE,public.customers,{stmt},<none>,2", other_backend),
    ], log_line_prefix=PGBADGER)  # fmt: skip
    assert [(e.fields["process.pid"], e.fields["postgresql.audit.statement_id"]) for e in evs] == [
        (9129, 2), (9129, 3), (9130, 2)
    ]  # fmt: skip
    assert evs[0].fields["postgresql.audit.type"] == "OBJECT"
    assert sum(e.rows or 0 for e in evs) == 6


def test_a_reused_pid_is_not_taken_for_a_repeat() -> None:
    """Without log_connections/log_disconnections nothing says a backend ended; a new one with the same pid
    restarts at statement 1, seconds later: its line is a new access, not an OBJECT/SESSION twin."""
    line = "SESSION,1,1,READ,SELECT,TABLE,public.customers,SELECT 1 FROM customers,<none>,1"
    evs = events([
        audit(line, "2026-11-27 16:20:40.910 UTC [8719] alice@crm LOG:  "),
        audit(line, "2026-11-27 16:20:40.911 UTC [8719] alice@crm LOG:  "),  # a repeat: dropped
        audit(line, "2026-11-27 16:25:00.000 UTC [8719] alice@crm LOG:  "),  # a new backend
    ])  # fmt: skip
    assert [when(e) for e in evs] == ["2026-11-27T16:20:40.910000Z", "2026-11-27T16:25:00.000000Z"]


def test_previously_logged_statement_is_recovered_from_the_backend() -> None:
    evs = events([
        audit('SESSION,9,1,READ,SELECT,TABLE,public.a,"SELECT * FROM a JOIN b USING (id) WHERE x = 5",<none>,3'),
        audit("SESSION,9,1,READ,SELECT,TABLE,public.b,<previously logged>,<previously logged>,3"),
    ])  # fmt: skip
    assert evs[1].statement == "SELECT * FROM a JOIN b USING (id) WHERE x = ?"
    assert evs[1].original.endswith("<previously logged>,<previously logged>,3")


@pytest.mark.parametrize(
    ("payload", "action", "obj"),
    [  # shapes from pgAudit 1.7.0's regression output (expected/pgaudit.out)
        ("SESSION,10,1,WRITE,INSERT,TABLE,test.account_copy,COPY test.account_copy from stdin;,<none>", WRITE,
         "db:crm.test.account_copy"),
        ("SESSION,54,1,WRITE,COPY,,,COPY test.account_copy from stdin;,<none>,0", WRITE, "db:crm.test.account_copy"),
        ("SESSION,7,1,DDL,CREATE SCHEMA,SCHEMA,test,CREATE SCHEMA test;,<none>", "ddl", "db:crm.test"),
        ("SESSION,12,2,MISC,EXECUTE,,,EXECUTE pgclassstmt (1);,<none>", OTHER, None),
        ("SESSION,3,1,MISC,SET,,,SET pgaudit.log_level = 'notice';,<not logged>", OTHER, None),
        ('SESSION,44,1,DDL,CREATE FUNCTION,FUNCTION,"public.int_add(integer,integer)","CREATE FUNCTION '
         'public.int_add(a int, b int) RETURNS int AS $$ SELECT a + b $$ LANGUAGE sql;",<none>', "ddl",
         "db:crm.public.int_add(integer,integer)"),
        ('SESSION,45,2,FUNCTION,EXECUTE,FUNCTION,public.int_add,"SELECT int_add(1, 1);",<none>', EXECUTE,
         "db:crm.public.int_add"),
        ("SESSION,3,1,ROLE,CREATE ROLE,,,CREATE ROLE alice LOGIN PASSWORD <REDACTED>,<none>,0", PERMISSION, None),
        ("SESSION,5,1,WRITE,DELETE,TABLE,public.customers,DELETE FROM public.customers WHERE id = 1;,<none>,1",
         DELETE, "db:crm.public.customers"),
        ("SESSION,6,1,WRITE,TRUNCATE TABLE,TABLE,public.orders,TRUNCATE public.orders;,<none>,0", DELETE,
         "db:crm.public.orders"),
        ("SESSION,2,1,MISC_SET,SET ROLE,,,SET ROLE admin;,<none>,0", OTHER, None),
    ],
)
def test_upstream_statement_shapes(payload: str, action: str, obj: str | None) -> None:
    [ev] = events([audit(payload)])
    assert (ev.action, ev.object) == (action, obj)


def test_statement_not_logged_gives_no_statement() -> None:
    [ev] = events([audit("SESSION,1,1,READ,SELECT,TABLE,public.customers,<not logged>,<not logged>,4")])
    assert (ev.statement, ev.rows) == (None, 4)


def test_mask_literals_off_keeps_the_statement_but_not_the_parameters() -> None:
    [ev] = events([audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT * FROM t WHERE id = $1 OR id = 7,99,1")],
                  mask=False)  # fmt: skip
    assert ev.statement == "SELECT * FROM t WHERE id = $1 OR id = 7"
    assert ev.original == audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT * FROM t WHERE id = $1 OR id = 7,"
                                "<masked>,1")  # fmt: skip


def test_event_ids_are_deterministic_and_depend_on_offset() -> None:
    line = audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1")
    first = events([line])[0].id
    assert events([line])[0].id == first
    assert events(["2026-11-27 16:20:40.910 UTC [1] LOG:  checkpoint starting: time", line])[0].id != first


# ---- failures, logins ----------------------------------------------------------------------------------


def test_permission_denied_is_a_failed_read_attempt_stderr() -> None:
    b = "2026-11-27 16:20:40.975 UTC [8721] bob@crm "
    [ev, logout] = events([
        "2026-11-27 16:20:40.962 UTC [8721] [unknown]@[unknown] LOG:  connection received: host=127.0.0.1 port=46248",
        b + "ERROR:  permission denied for table customers",
        b + "STATEMENT:  SELECT ssn FROM public.customers WHERE id = 5;",
        b + "LOG:  disconnection: session time: 0:00:00.013 user=bob database=crm host=127.0.0.1 port=46248",
    ])  # fmt: skip
    assert (ev.action, ev.outcome, ev.user, ev.source_ip) == (READ, FAILURE, "bob", "127.0.0.1")
    assert (ev.object, ev.error_code, ev.rows, ev.command) == ("db:crm.customers", "42501", None, "SELECT")
    assert ev.statement == "SELECT ssn FROM public.customers WHERE id = ?;"
    assert ev.original == (b + "ERROR:  permission denied for table customers\n"
                           + b + "STATEMENT:  SELECT ssn FROM public.customers WHERE id = ?;")  # fmt: skip
    assert (logout.action, logout.user, logout.source_port) == (LOGOUT, "bob", 46248)


def test_a_disconnection_without_its_connection_line_takes_the_client_from_its_message() -> None:
    """The session began before the file did (rotation): no `connection received` to join, and the prefix
    has no %h, so the client is the one the disconnection line itself names."""
    [logout] = events([A + "disconnection: session time: 1:02:03.004 user=alice database=crm host=10.1.2.3 "
                           "port=50123"])  # fmt: skip
    assert (logout.action, logout.user, logout.object) == (LOGOUT, "alice", "db:crm")
    assert (logout.source_ip, logout.source_port) == ("10.1.2.3", 50123)


def test_permission_denied_uses_sqlstate_from_the_prefix_and_the_statement_verb() -> None:
    p = "2026-11-27 16:20:40.975 UTC [8721] 42501 bob@crm "
    [ev] = events([
        p + "ERROR:  permission denied for table payroll",
        p + "STATEMENT:  UPDATE payroll",
        "\t   SET salary = 1",
    ], log_line_prefix="%m [%p] %e %q%u@%d ")  # fmt: skip
    assert (ev.action, ev.outcome, ev.object, ev.error_code) == (WRITE, FAILURE, "db:crm.payroll", "42501")
    assert ev.statement == "UPDATE payroll\n   SET salary = ?"


@pytest.mark.parametrize(
    ("message", "statement", "action", "obj"),
    [
        ("permission denied for function salary_of", "SELECT salary_of(7);", EXECUTE, "db:crm.salary_of"),
        ('permission denied for column "ssn" of relation "customers"', "SELECT ssn FROM customers;", READ,
         "db:crm.customers"),
        ("permission denied for table customers", "COPY customers FROM STDIN;", WRITE, "db:crm.customers"),
        ("permission denied for table customers", "COPY customers TO STDOUT;", EXPORT, "db:crm.customers"),
        ("permission denied for table customers", "DELETE FROM customers;", DELETE, "db:crm.customers"),
    ],
)
def test_permission_denied_shapes(message: str, statement: str, action: str, obj: str) -> None:
    b = "2026-11-27 16:20:40.975 UTC [8721] bob@crm "
    [ev] = events([b + "ERROR:  " + message, b + "STATEMENT:  " + statement])
    assert (ev.action, ev.outcome, ev.object) == (action, FAILURE, obj)


def test_permission_denied_csvlog_and_jsonlog() -> None:
    csv_line = (
        '2026-11-27 16:20:40.975 UTC,"bob","crm",8721,"127.0.0.1:46248",6b09add8.2211,5,"SELECT",2026-11-27 '
        '16:20:40 UTC,3/17,0,ERROR,42501,"permission denied for table customers",,,,,,"SELECT ssn FROM '
        'public.customers WHERE note = \'x\';",,,"psql","client backend",,0'
    )
    json_line = (
        '{"timestamp":"2026-11-27 16:20:40.975 UTC","user":"bob","dbname":"crm","pid":8721,"remote_host":'
        '"127.0.0.1","remote_port":46248,"error_severity":"ERROR","state_code":"42501","message":"permission '
        'denied for table customers","statement":"SELECT ssn FROM public.customers WHERE note = \'x\';"}'
    )
    for line in (csv_line, json_line):
        [ev] = events([line])
        assert (ev.action, ev.outcome, ev.user, ev.object) == (READ, FAILURE, "bob", "db:crm.customers")
        assert (ev.source_ip, ev.source_port, ev.error_code) == ("127.0.0.1", 46248, "42501")
        assert "'x'" not in ev.original
        assert "note = '?'" in ev.original


def test_failed_password_login() -> None:
    [ev] = events([
        "2026-11-27 16:20:41.023 UTC [8723] [unknown]@[unknown] LOG:  connection received: host=127.0.0.1 port=46258",
        '2026-11-27 16:20:41.033 UTC [8723] alice@crm FATAL:  password authentication failed for user "alice"',
        '2026-11-27 16:20:41.033 UTC [8723] alice@crm DETAIL:  Connection matched pg_hba.conf line 91: "host    all'
        '             all             127.0.0.1/32            scram-sha-256"',
    ])  # fmt: skip
    assert (ev.action, ev.outcome, ev.user, ev.source_ip, ev.source_port) == (
        LOGIN, FAILURE, "alice", "127.0.0.1", 46258,
    )  # fmt: skip
    assert (ev.error_code, ev.object) == ("28P01", "db:crm")
    assert "DETAIL:  Connection matched" in ev.original  # the DETAIL line belongs to the record


def test_no_pg_hba_entry_takes_ip_user_and_database_from_the_message() -> None:
    [ev] = events([
        '2026-11-27 16:21:00.000 UTC [9000] mallory@crm FATAL:  no pg_hba.conf entry for host "203.0.113.9", '
        'user "mallory", database "crm", no encryption',
    ])  # fmt: skip
    assert (ev.action, ev.outcome, ev.user, ev.source_ip) == (LOGIN, FAILURE, "mallory", "203.0.113.9")
    assert (ev.object, ev.error_code) == ("db:crm", "28000")


def test_peer_authentication_failure_is_28000() -> None:
    [ev] = events(['2026-11-27 16:21:00.000 UTC [9000] carol@crm FATAL:  Peer authentication failed for user "carol"'])
    assert (ev.action, ev.outcome, ev.user, ev.error_code) == (LOGIN, FAILURE, "carol", "28000")


def test_other_fatal_and_error_lines_are_not_accesses() -> None:
    assert events([
        "2026-11-27 16:21:00.000 UTC [9000] alice@crm FATAL:  terminating connection due to administrator command",
        '2026-11-27 16:21:00.000 UTC [9001] alice@crm ERROR:  relation "nope" does not exist at character 15',
        "2026-11-27 16:21:00.000 UTC [9001] alice@crm STATEMENT:  SELECT * FROM nope;",
    ]) == []  # fmt: skip


def test_server_lines_produce_nothing() -> None:
    assert events([
        "2026-11-27 16:20:24.089 UTC [7924] LOG:  starting PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64",
        "2026-11-27 16:20:40.908 UTC [8719] alice@crm LOG:  connection authenticated: identity=\"alice\" "
        "method=scram-sha-256 (/srv/demo/pg/data/pg_hba.conf:91)",
        "2026-11-27 16:20:40.908 UTC [8719] alice@crm LOG:  statement: SELECT 1",
        "2026-11-27 16:20:40.908 UTC [8719] alice@crm LOG:  duration: 0.1 ms",
        "2026-11-27 17:20:59 CET [7926]: user=,db=,app=,client= LOG:  checkpoint starting: shutdown immediate",
    ], extra_prefixes=[PGBADGER]) == []  # fmt: skip


def test_logout_forgets_the_pid() -> None:
    evs = events([
        RECEIVED,
        A + "disconnection: session time: 0:00:00.021 user=alice database=crm host=127.0.0.1 port=46244",
        audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1"),  # a new backend that reused the pid
    ])  # fmt: skip
    assert [(e.action, e.source_ip) for e in evs] == [(LOGOUT, "127.0.0.1"), (READ, None)]


def test_snapshot_and_restore_keep_the_pid_join_across_a_restart() -> None:
    first = make_parser()
    first.feed(0, RECEIVED)
    first.feed(200, "2026-11-27 16:20:40.908 UTC [8719] alice@crm LOG:  connection authorized: user=alice "
                    "database=crm application_name=crm-report")  # fmt: skip
    first.flush()
    state = orjson.loads(orjson.dumps(first.snapshot()))  # it is stored as JSON
    assert state == [[8719, "127.0.0.1", 46244, "alice", "crm"]]
    second = make_parser()
    second.restore(state)
    second.restore([["junk"], [1, 2, 3], "x"])  # a damaged state is ignored, not an error
    [ev] = second.feed(400, audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1")) or second.flush()
    assert isinstance(ev, AccessEvent)
    assert (ev.source_ip, ev.source_port, ev.user) == ("127.0.0.1", 46244, "alice")
    assert make_parser().snapshot() is None


def test_pid_join_is_bounded() -> None:
    pids = range(1, pgaudit.MAX_BACKENDS + 3)
    lines = [RECEIVED.replace("[8719]", f"[{pid}]").replace("127.0.0.1", f"10.0.{pid % 250}.1") for pid in pids]
    parser = make_parser()
    for i, line in enumerate(lines):
        parser.feed(i * 200, line)
    parser.flush()
    assert sorted(parser._backends) == list(pids)[2:]  # the oldest connections were forgotten


# ---- framing: prefixes, zones, continuation lines, csv, json -----------------------------------------------


def test_both_prefixes_and_the_utc_to_cet_switch_in_one_file() -> None:
    evs = events([
        "2026-11-27 16:20:48.259 UTC [9003] [unknown]@[unknown] LOG:  connection received: host=[local]",
        "2026-11-27 16:20:48.267 UTC [9003] postgres@postgres LOG:  AUDIT: SESSION,4,1,READ,SELECT,,,"
        "SELECT pg_reload_conf();,<none>,1",
        "2026-11-27 16:20:48 UTC [7924]: user=,db=,app=,client= LOG:  parameter \"log_line_prefix\" changed",
        "2026-11-27 17:20:48 CET [9003]: user=postgres,db=postgres,app=psql,client=[local] LOG:  disconnection: "
        "session time: 0:00:00.015 user=postgres database=postgres host=[local]",
        "2026-11-27 17:20:49 CET [9129]: user=[unknown],db=[unknown],app=[unknown],client=127.0.0.1 LOG:  "
        "connection received: host=127.0.0.1 port=42818",
        "2026-11-27 17:20:49 CET [9129]: user=alice,db=crm,app=crm-report,client=127.0.0.1 LOG:  AUDIT: SESSION,1,"
        "1,READ,SELECT,TABLE,public.customers,\"SELECT id, full_name FROM public.customers WHERE id = 7;\",<none>,1",
    ], log_line_prefix=DEBIAN, extra_prefixes=[PGBADGER])  # fmt: skip
    assert [(when(e), e.action, e.user, e.source_ip, e.source_port) for e in evs] == [
        ("2026-11-27T16:20:48.267000Z", READ, "postgres", None, None),
        ("2026-11-27T16:20:48.000000Z", LOGOUT, "postgres", None, None),
        ("2026-11-27T16:20:49.000000Z", READ, "alice", "127.0.0.1", 42818),
    ]
    assert evs[2].fields["postgresql.log.application_name"] == "crm-report"


def test_cest_and_unknown_abbreviations() -> None:
    [summer] = events([audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1",
                             "2026-07-01 12:00:00.250 CEST [1] a@crm LOG:  ")])  # fmt: skip
    assert when(summer) == "2026-07-01T10:00:00.250000Z"
    [failure] = parse([audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1",
                             "2026-07-01 12:00:00.250 XYZT [1] a@crm LOG:  ")], tz=None)  # fmt: skip
    assert isinstance(failure, ParseFailure)
    assert "XYZT" in failure.reason


def test_continuation_lines_belong_to_the_record_and_pending_offset_points_at_it() -> None:
    lines = [
        audit('SESSION,2,1,READ,SELECT,TABLE,public.customers,"SELECT c.full_name, c.email,'),
        "\t       o.total",
        "\t  FROM customers c",
        "\t WHERE c.note = 'says \"\"hi\"\", twice';\",<none>,20",
        "2026-11-27 16:20:40.916 UTC [8719] alice@crm LOG:  statement: SELECT 2",
    ]
    parser = make_parser()
    offset = 1000
    got: list[Outcome] = []
    for line in lines[:4]:
        got.extend(parser.feed(offset, line))
        offset += len(line) + 1
        assert parser.pending_offset() == 1000
    assert not got
    [ev] = parser.feed(offset, lines[4])
    assert isinstance(ev, AccessEvent)
    assert parser.pending_offset() == offset  # now the `statement:` line is buffered
    assert ev.statement == "SELECT c.full_name, c.email,\n       o.total\n  FROM customers c\n WHERE c.note = '?';"
    tail = ["\t       o.total", "\t  FROM customers c", "\t WHERE c.note = '?';\",<none>,20"]
    assert ev.original.split("\n")[1:] == tail
    assert ev.id == make_parser().ids.make(1000, "\n".join(lines[:4]))
    assert not parser.flush()
    assert parser.pending_offset() is None


def test_stderr_record_longer_than_the_limit_fails() -> None:
    limit = pgaudit_prefix.MAX_RECORD
    lines = [audit('SESSION,1,1,READ,SELECT,TABLE,public.t,"SELECT a,')] + ["\t" + "x" * (limit // 10)] * 11
    lines += ['\t FROM t",<none>,1', audit("SESSION,2,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1")]
    failure, ev = parse(lines)
    assert isinstance(failure, ParseFailure)
    assert failure.reason == f"stderr record longer than {limit} characters"
    assert failure.offset == 0
    assert len(failure.text) <= limit
    assert isinstance(ev, AccessEvent)
    assert ev.fields["postgresql.audit.statement_id"] == 2


def test_csv_quoted_newlines_make_one_record_and_hold_the_checkpoint() -> None:
    statement = "SELECT c.full_name,\n  o.total\n FROM orders o"
    record = csv_audit(f'SESSION,2,1,READ,SELECT,TABLE,public.orders,"{statement}",<none>,20')
    physical = record.split("\n")
    assert len(physical) == 3
    parser = make_parser(destination="csvlog")
    assert not parser.feed(500, physical[0])
    assert parser.pending_offset() == 500
    assert not parser.feed(600, physical[1])
    [ev] = parser.feed(700, physical[2])
    assert isinstance(ev, AccessEvent)
    assert parser.pending_offset() is None
    assert (ev.object, ev.rows, ev.user) == ("db:crm.public.orders", 20, "alice")
    assert (ev.source_ip, ev.source_port) == ("127.0.0.1", 46272)
    assert ev.statement == statement
    assert ev.fields["postgresql.log.application_name"] == "etl-job"


def test_csv_quotes_are_counted_per_line() -> None:
    """Doubled quotes inside a quoted field do not close it; only the parity of all quotes so far matters."""
    statement = 'SELECT "Name"\nFROM t\nWHERE note = \'say ""hi""\''
    record = csv_audit(f'SESSION,1,1,READ,SELECT,TABLE,public.t,"{statement.replace(chr(34), chr(34) * 2)}",<none>,1')
    [ev] = events(record.split("\n"), destination="csvlog")
    assert ev.statement == 'SELECT "Name"\nFROM t\nWHERE note = \'?\''


def test_csv_column_counts_of_pg11_pg13_and_pg15() -> None:
    pg15 = csv_audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1")
    pg13 = pg15.removesuffix(",,0")  # no leader_pid, query_id: 24 columns
    pg11 = pg13.removesuffix(',"client backend"')  # no backend_type: 23 columns
    for line in (pg15, pg13, pg11):
        [ev] = events([line], destination="auto")
        assert (ev.user, ev.object, ev.rows) == ("alice", "db:crm.public.t", 1)
    [failure] = parse([pg11.removesuffix(',"etl-job"')], destination="csvlog")
    assert isinstance(failure, ParseFailure)
    assert "23" in failure.reason


def test_csv_local_connection_has_no_ip() -> None:
    head = '2026-11-27 16:20:41.308 UTC,"postgres","crm",8738,"[local]",6b09add9.2222,3,"SELECT",'
    payload = "SESSION,1,1,READ,SELECT,TABLE,public.customers,SELECT count(*) FROM customers,<none>,1"
    [ev] = events([csv_audit(payload, head)])
    assert (ev.user, ev.source_ip, ev.source_port) == ("postgres", None, None)


def test_csv_record_with_unclosed_quotes_is_given_up() -> None:
    cut = csv_audit('SESSION,1,1,READ,SELECT,TABLE,public.t,"SELECT a,\n b FROM t",<none>,1').split("\n")[0]
    good = csv_audit("SESSION,2,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1")
    out = parse([cut, good], destination="csvlog")
    assert isinstance(out[0], ParseFailure)
    assert "cut short" in out[0].reason
    assert isinstance(out[1], AccessEvent)
    assert out[1].fields["postgresql.audit.statement_id"] == 2
    [unterminated] = parse([cut], destination="csvlog")
    assert isinstance(unterminated, ParseFailure)
    assert unterminated.offset == 0


def test_csv_record_longer_than_the_limit_is_given_up() -> None:
    limit = pgaudit_prefix.MAX_RECORD
    lines = [csv_audit('SESSION,1,1,READ,SELECT,TABLE,public.t,"SELECT a,\n",<none>,1').split("\n")[0]]
    lines += ["x" * (limit // 10)] * 11
    out = parse(lines, destination="csvlog")
    assert isinstance(out[0], ParseFailure)
    assert f"longer than {limit}" in out[0].reason
    assert all(isinstance(o, ParseFailure) for o in out)  # the rest are not records either


def test_jsonlog_omitted_keys() -> None:
    """jsonlog omits empty keys: no remote_port over a unix socket, no user/dbname before authentication."""
    [local, anonymous] = events([
        '{"timestamp":"2026-11-27 16:20:28.484 UTC","user":"postgres","dbname":"postgres","pid":8385,'
        '"remote_host":"[local]","error_severity":"LOG","message":"AUDIT: SESSION,1,1,DDL,CREATE EXTENSION,,,'
        'CREATE EXTENSION pgaudit;,<none>,0"}',
        '{"timestamp":"2026-11-27 16:20:28.500 UTC","pid":8400,"error_severity":"LOG","message":"AUDIT: SESSION,'
        '1,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1"}',
    ], destination="jsonlog")  # fmt: skip
    assert (local.user, local.source_ip, local.source_port, local.action) == ("postgres", None, None, "ddl")
    assert (anonymous.user, anonymous.source_ip, anonymous.object) == (None, None, "db:public.t")


def test_jsonlog_original_is_masked() -> None:
    line = (
        '{"timestamp":"2026-11-27 16:20:41.224 UTC","user":"alice","dbname":"crm","pid":8729,"remote_host":'
        '"127.0.0.1","remote_port":46272,"error_severity":"LOG","message":"AUDIT: SESSION,1,1,READ,SELECT,TABLE,'
        'public.customers,\\"SELECT id FROM customers WHERE email = \'c7@example.com\'\\",\\"10,60\\",1"}'
    )
    [ev] = events([line])
    assert "c7@example.com" not in ev.original
    assert "10,60" not in ev.original
    assert ev.original.startswith('{"timestamp":"2026-11-27 16:20:41.224 UTC","user":"alice"')
    assert (ev.source_ip, ev.source_port) == ("127.0.0.1", 46272)
    assert ev.statement == "SELECT id FROM customers WHERE email = '?'"


def test_remote_host_and_port_from_percent_r_and_local() -> None:
    prefix = "%m [%p] %r %q%u@%d "
    [tcp, local] = events([
        audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1",
              "2026-11-27 16:20:40.910 UTC [1] 192.0.2.7(51234) alice@crm LOG:  "),
        audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1",
              "2026-11-27 16:20:40.910 UTC [2] [local] postgres@crm LOG:  "),
    ], log_line_prefix=prefix)  # fmt: skip
    assert (tcp.source_ip, tcp.source_port, tcp.user) == ("192.0.2.7", 51234, "alice")
    assert (local.source_ip, local.source_port, local.user) == (None, None, "postgres")
    assert split_remote("::1(5432)") == ("::1", 5432)
    assert split_remote("") == (None, None)


def test_host_name_instead_of_address_goes_to_source_domain() -> None:
    [ev] = events([audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1",
                         "2026-11-27 16:20:40 UTC [1]: user=alice,db=crm,app=x,client=app1.example.com LOG:  ")],
                  log_line_prefix=PGBADGER)  # fmt: skip
    assert (ev.source_ip, ev.fields["source.domain"]) == (None, "app1.example.com")


def test_auto_destination_decides_per_record() -> None:
    evs = events([
        audit("SESSION,1,1,READ,SELECT,TABLE,public.a,SELECT 1,<none>,1"),
        csv_audit("SESSION,1,1,READ,SELECT,TABLE,public.b,SELECT 1,<none>,1"),
        '{"timestamp":"2026-11-27 16:20:28.500 UTC","pid":8400,"error_severity":"LOG","message":"AUDIT: SESSION,'
        '1,1,READ,SELECT,TABLE,public.c,SELECT 1,<none>,1"}',
    ], destination="auto")  # fmt: skip
    assert [e.object for e in evs] == ["db:crm.public.a", "db:crm.public.b", "db:public.c"]


def test_epoch_prefix_and_padding() -> None:
    [ev] = events([audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1",
                         "1795796440.125 [77] alice     |crm LOG:  ")],
                  log_line_prefix="%n [%p] %-10u|%d ")  # fmt: skip
    assert (ev.time_us, ev.user, ev.object) == (1795796440_125000, "alice", "db:crm.public.t")


def test_compiled_prefix_layout() -> None:
    c = CompiledPrefix("%m [%p] %l %c %x %v %Q %b %i %e %q%u@%d %a %h %% ")
    m = c.regex.match("2026-11-27 16:20:40.910 UTC [8719] 4 6b09add8.220f 0 3/8 0 client backend SELECT "
                      "00000 alice@crm psql 10.1.2.3 % LOG:  AUDIT: x")  # fmt: skip
    assert m is not None
    got = {role: m.groups()[i] for role, i in c.index.items() if i >= 0}
    assert got == {
        "stamp": "2026-11-27 16:20:40", "frac": ".910", "zone": "UTC", "pid": "8719", "sqlstate": "00000",
        "user": "alice", "database": "crm", "application": "psql", "host": "10.1.2.3", "session_pid": "220f",
    }  # fmt: skip
    assert m.groups()[c.level] == "LOG"
    with pytest.raises(ValueError, match="no timestamp"):
        CompiledPrefix("[%p] %u@%d ")


def test_a_repeated_escape_must_print_the_same_text() -> None:
    c = CompiledPrefix("%m [%p] %u %a|%a ")
    assert c.regex.match("2026-11-27 16:20:40.910 UTC [1] alice my app|my app LOG:  x")
    assert not c.regex.match("2026-11-27 16:20:40.910 UTC [1] alice my app|other LOG:  x")


def test_a_garbage_line_fails_fast_whatever_the_prefix() -> None:
    """Lazy name fields side by side could backtrack for minutes on a line that does not match; bounded
    fields, no-whitespace user/database names and backreferences for repeats keep it to milliseconds."""
    for prefix in ("%t [%p]: user=%u,db=%d,app=%a,client=%h ", "%m %i %b %a %u %d %r ", "%m %a %i %b %a %a %a "):
        regex = CompiledPrefix(prefix).regex
        for tail in (",db=,app=" * 1000, "a " * 3000, "a, b@c " * 3000):
            started = time.perf_counter()
            assert regex.match("2026-11-27 17:20:49.000 CET [9129]: user=" + tail) is None
            assert time.perf_counter() - started < 1.0, prefix


def test_options_are_validated() -> None:
    with pytest.raises(ValidationError):
        PgAuditOptions.model_validate({"destination": "stderr", "log_line_prefix": "[%p] "})
    with pytest.raises(ValidationError):
        PgAuditOptions.model_validate({"destination": "stderr", "extra_prefixes": ["%u@%d "]})
    with pytest.raises(ValidationError):
        PgAuditOptions.model_validate({"destination": "eventlog"})
    with pytest.raises(ValidationError):
        PgAuditOptions.model_validate({"log_line_prefx": "%m "})


# ---- parse failures ------------------------------------------------------------------------------------------


def test_garbage_line_is_a_parse_failure_and_ends_the_previous_record() -> None:
    out = parse([audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1"), "this is not postgres"])
    assert isinstance(out[0], AccessEvent)
    assert isinstance(out[1], ParseFailure)
    assert out[1].reason == "line matches no configured log_line_prefix"
    assert out[1].text == "this is not postgres"


def test_truncated_audit_payload_is_a_parse_failure() -> None:
    [failure] = parse([audit("SESSION,1,1,READ,SEL")])
    assert isinstance(failure, ParseFailure)
    assert "AUDIT payload" in failure.reason


def test_continuation_line_without_a_record_is_a_parse_failure() -> None:
    [failure] = parse(["\t  FROM customers"])
    assert isinstance(failure, ParseFailure)
    assert "continuation" in failure.reason


def test_bad_json_and_bad_csv_are_parse_failures() -> None:
    out = parse(['{"timestamp": 1}', "{not json", "2026-11-27 16:20:41.224 UTC,only,a,few"], destination="auto")
    assert [type(o) for o in out] == [ParseFailure] * 3


# ---- the fast route of AUDIT lines ---------------------------------------------------------------------------

_FIELD_TEXT = st.lists(
    st.sampled_from(["a", "SELECT ", "1", "'x'", "''", '"', '""', ",", "\n", "\r", " ", "<none>", "é", "$1"]),
    max_size=8,
).map("".join)


def _csv_read(rest: str) -> list[str] | None:
    """What the general route reads from the rest of a payload: csv, and only pgAudit's own encoding."""
    fields = pgaudit_prefix.CsvReader().parse("x," + rest)[1:]
    if len(fields) not in (2, 3):
        return None
    rows = "," + fields[2] if len(fields) == 3 else ""
    canonical = pgaudit._csv_field(fields[0]) + "," + pgaudit._csv_field(fields[1]) + rows
    return fields if rest == canonical else None


@settings(max_examples=2000, deadline=None)
@given(st.lists(_FIELD_TEXT, min_size=2, max_size=3), st.lists(st.booleans(), min_size=3, max_size=3),
       st.integers(0, 60), _FIELD_TEXT)  # fmt: skip
def test_payload_rest_is_read_as_csv_reads_it(fields: list[str], quote: list[bool], cut: int, junk: str) -> None:
    """The statement, parameter and rows after the head fields: decoded without csv when written the usual
    way, and exactly as csv (with pgAudit's encoding checked) whatever the text."""
    encoded = [
        pgaudit._csv_field(f) if not q else '"' + f.replace('"', '""') + '"'
        for f, q in zip(fields, quote[: len(fields)], strict=True)
    ]
    rest = ",".join(encoded)
    parser = make_parser()
    for text in (rest, rest[:cut] + junk + rest[cut:]):
        assert parser._split_rest(text) == _csv_read(text)


_HEADS = ["SESSION,1,1,READ,SELECT,TABLE,public.t", "OBJECT,2,1,WRITE,INSERT,TABLE,public.t",
          'SESSION,3,2,READ,SELECT,TABLE,"public.""Odd,Name"""', "SESSION,4,1,READ,COPY,,",
          "SESSION,5,1,WRITE,COPY,TABLE,public.t", "SESSION,x,1,READ,SELECT,TABLE,public.t",
          "SESSION,6,1,READ,PREPARE,TABLE,public.t", "SESSION,6,1,FUNCTION,DO,,"]  # fmt: skip
_STATEMENTS = ["SELECT a, 'it''s' FROM t WHERE id = 42", "COPY public.t TO STDOUT", "COPY (SELECT 1) TO STDOUT",
               "<previously logged>", "<not logged>", 'SELECT "c1" FROM t\n WHERE s = \'a,b\'', "SELECT 1",
               "DO $$BEGIN PERFORM 2; END$$"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_HEADS), st.sampled_from(_STATEMENTS),
                          st.sampled_from(["<none>", "<not logged>", "7,9", "x"]),
                          st.sampled_from(["", ",0", ",12", ",x"]), st.sampled_from([8719, 8720])),
                min_size=1, max_size=6),
       st.booleans())  # fmt: skip
def test_fast_route_gives_the_events_of_the_general_route(
    records: list[tuple[str, str, str, str, int]], mask: bool
) -> None:
    lines = [RECEIVED]
    for head, statement, parameter, rows, pid in records:
        payload = f"{head},{pgaudit._csv_field(statement)},{pgaudit._csv_field(parameter)}{rows}"
        lines.extend(audit(payload, A.replace("8719", str(pid))).split("\n"))
    lines = [line if i == 0 or line.startswith("2026") else "\t" + line for i, line in enumerate(lines)]
    fast, general = make_parser(mask), make_parser(mask)
    general._audit = general._audit_fields  # type: ignore[method-assign]
    out: list[list[Outcome]] = [[], []]
    for parser, got in zip((fast, general), out, strict=True):
        offset = 0
        for line in lines:
            got.extend(parser.feed(offset, line))
            offset += len(line.encode()) + 1
        got.extend(parser.flush())
    assert out[0] == out[1]


_LINE_TEXT = st.text(st.sampled_from(["a", " ", "\t", "'", '"', ",", "é", "\r"]), max_size=12)


@settings(max_examples=500, deadline=None)
@given(_LINE_TEXT, st.integers(0, 12), st.lists(_LINE_TEXT.map(lambda t: "\t" + t), min_size=1, max_size=5))
def test_continuation_lines_are_joined_as_the_general_way_joins_them(first: str, start: int, lines: list[str]) -> None:
    """A record of TAB-led continuation lines only (no DETAIL, STATEMENT ...) takes a short cut; it gives
    what the line-by-line join gives."""
    start = min(start, len(first))
    assert pgaudit_prefix._assemble(first, start, lines, None) == pgaudit_prefix._assemble(first, start, lines, [])


def test_numbers_past_the_lookup_table_or_with_leading_zeros_read_as_int_reads_them() -> None:
    lines = [RECEIVED] + [audit(f"SESSION,{n},{n},READ,SELECT,TABLE,public.t,SELECT 1,<none>,{n}",
                                A.replace("8719", pid)) for n, pid in (("1023", "8719"), ("1024", "08719"),
                                                                       ("007", "8719"), ("0", "0"))]  # fmt: skip
    got = [e for e in parse(lines) if isinstance(e, AccessEvent) and e.action == READ]
    assert [(e.fields["postgresql.audit.statement_id"], e.fields["postgresql.audit.substatement_id"], e.rows,
             e.fields["process.pid"]) for e in got] == [(1023, 1023, 1023, 8719), (1024, 1024, 1024, 8719),
                                                        (7, 7, 7, 8719), (0, 0, 0, 0)]  # fmt: skip


def test_relation_lines_of_one_statement_are_decoded_once() -> None:
    statement = "SELECT a.id FROM public.a JOIN public.b ON b.id = a.id WHERE a.n = 'x, y'"
    parser = make_parser()
    got: list[Outcome] = []
    for i, table in enumerate(["public.a", "public.b"]):
        got += parser.feed(i * 300, audit(f'SESSION,1,1,READ,SELECT,TABLE,{table},"{statement}",<none>,3'))
    got += parser.flush()
    assert [e.object for e in got if isinstance(e, AccessEvent)] == ["db:crm.public.a", "db:crm.public.b"]
    assert len(parser._tails) == 1


def test_records_and_events_are_built_with_every_field() -> None:
    """They are built from plain tuples (no NamedTuple defaults): a field added to the model must be added here."""
    parser = make_parser()
    [event] = [*parser.feed(0, audit("SESSION,1,1,READ,SELECT,TABLE,public.t,SELECT 1,<none>,1")), *parser.flush()]
    assert isinstance(event, AccessEvent)
    assert len(event) == len(AccessEvent._fields)
    framing = pgaudit_prefix.StderrFraming([CompiledPrefix(DEBIAN)], pgaudit_prefix.PgClock(None))
    framing.push(0, A + "statement: SELECT 1")
    [record] = framing.take()
    assert len(record) == len(pgaudit_prefix.ServerRecord._fields)


# Lines of PostgreSQL 15 + pgAudit 1.7 with `log_line_prefix = '< %m %r %u %d >'` (no %p), as in
# tests/samples/pgaudit/pg15-pgaudit17-no-pid-relation-on.log.
NO_PID = "< %m %r %u %d >"
NO_PID_HEAD = "< 2026-11-29 01:10:08.334 UTC 127.0.0.1(54898) alice crm >LOG:  "
NO_PID_READ = "1,1,READ,SELECT,TABLE,public.customers,SELECT * FROM customers WHERE id < 5;,<not logged>,4"


def test_without_the_pid_object_and_session_lines_of_one_access_are_one_event() -> None:
    evs = events([audit("OBJECT," + NO_PID_READ, NO_PID_HEAD), audit("SESSION," + NO_PID_READ, NO_PID_HEAD)],
                 log_line_prefix=NO_PID)  # fmt: skip
    assert [(e.object, e.rows, e.source_port) for e in evs] == [("db:crm.public.customers", 4, 54898)]


def test_without_the_pid_two_session_lines_are_two_accesses() -> None:
    """Two backends of one user, whose client ports are not logged, may run statement 1 on the same table in
    the same second: only an OBJECT/SESSION pair is one access, two SESSION lines never are."""
    head = NO_PID_HEAD.replace("127.0.0.1(54898) ", "127.0.0.1 ")
    evs = events([audit("SESSION," + NO_PID_READ, head)] * 2, log_line_prefix="< %m %h %u %d >")
    assert [(e.object, e.rows) for e in evs] == [("db:crm.public.customers", 4)] * 2


def test_log_relation_off_reads_the_relations_from_the_statement() -> None:
    """pgAudit's default log_relation = off: a SESSION line without OBJECT_NAME (real line of
    pg15-pgaudit17-relation-off-debian.log), one event per relation, the write target a write."""
    head = "2026-11-29 01:10:06.265 UTC [22793] alice@crm LOG:  "
    evs = events([
        audit("SESSION,5,1,WRITE,UPDATE,,,UPDATE customers SET email = 'x@example.com' FROM orders WHERE "
              "orders.cid = customers.id AND orders.id = 7;,<not logged>,1", head),
        audit("OBJECT,5,1,WRITE,UPDATE,TABLE,public.customers,UPDATE customers SET email = 'x@example.com' FROM "
              "orders WHERE orders.cid = customers.id AND orders.id = 7;,<not logged>,1", head),
    ], log_line_prefix=DEBIAN, default_schema="public")  # fmt: skip
    assert [(e.action, e.object) for e in evs] == [(WRITE, "db:crm.public.customers"), (READ, "db:crm.public.orders")]
    assert len({e.id for e in evs}) == 2
    assert all("x@example.com" not in (e.statement or "") + e.original for e in evs)


# ---- object audit (pgaudit.role) beside session audit: one access, one event ------------------------------
# Real lines of pg15-pgaudit17-object-audit-*.log and pg15-pgaudit17-session-id.log (PostgreSQL 15.20).

OA_HEAD = "2026-11-29 01:35:05.562 UTC [10689] alice@crm LOG:  "
OA_PATIENTS = "{},2,1,READ,SELECT,{},SELECT * FROM patients WHERE id < 3;,<not logged>,2"


def feed_all(parser: PgAuditParser, lines: list[str]) -> list[Outcome]:
    return run(parser, lines, flush=False)


@pytest.mark.parametrize(("prefix", "head", "tz"), [
    # the brief's lines (log_timezone Asia/Kolkata): no %p, OBJECT then SESSION of the same access
    (NO_PID, "< 2026-11-28 22:40:06.052 IST 127.0.0.1(42500) alice crm >LOG:  ", "Asia/Kolkata"),
    ("%m %c %u@%d ", "2026-11-29 01:35:06.944 UTC 6b0b814a.29d3 alice@crm LOG:  ", "UTC"),
])  # fmt: skip
def test_without_pid_object_then_session_line_is_one_read(prefix: str, head: str, tz: str) -> None:
    read = "1,1,READ,SELECT,TABLE,public.customers,SELECT * FROM public.customers WHERE id < 5;,<none>,4"
    evs = events([audit("OBJECT," + read, head), audit("SESSION," + read, head)], log_line_prefix=prefix, tz=tz)
    assert [(e.action, e.object, e.rows) for e in evs] == [(READ, "db:crm.public.customers", 4)]


def test_session_id_gives_the_pid_and_joins_the_connection_line() -> None:
    """%c is `<start time>.<pid>` in hex: a prefix without %p still has the pid, so the client address of
    `connection received` (this prefix has no %h/%r) reaches the events of the session."""
    head = "2026-11-29 01:35:06.944 UTC 6b0b814a.29d3 alice@crm LOG:  "
    evs = events([
        "2026-11-29 01:35:06.933 UTC 6b0b814a.29d3 [unknown]@[unknown] LOG:  connection received: "
        "host=127.0.0.1 port=58644",
        audit("OBJECT,1,1,READ,SELECT,TABLE,public.customers,SELECT 1 FROM public.customers;,<not logged>,4", head),
        "2026-11-29 01:35:06.363 UTC 6b0b8147.29a9 @ LOG:  parameter \"pgaudit.log_relation\" changed to \"on\"",
    ], log_line_prefix="%m %c %u@%d ", tz="UTC")  # fmt: skip
    ev, setting = evs
    assert (setting.action, setting.command, setting.statement) == ("other", "SET", "SET pgaudit.log_relation = 'on'")
    assert setting.fields["pii.source"] == "configuration file"
    assert (ev.fields["process.pid"], ev.source_ip, ev.source_port) == (0x29D3, "127.0.0.1", 58644)


@pytest.mark.parametrize("destination", ["stderr", "csvlog"])
def test_object_line_gives_an_unqualified_relation_its_schema(destination: str) -> None:
    """log_relation = off and object audit: `FROM patients` resolved through alice's search_path to
    crm_app.patients, which only the OBJECT line says. One read, of crm_app.patients: not a guess of
    public.patients (default_schema) beside it."""
    lines = [OA_PATIENTS.format("SESSION", ","), OA_PATIENTS.format("OBJECT", "TABLE,crm_app.patients")]
    lines = [audit(x, OA_HEAD) if destination == "stderr" else csv_audit(x) for x in lines]
    evs = events(lines, destination=destination)
    assert [(e.object, e.rows, e.fields["postgresql.audit.type"]) for e in evs] == [
        ("db:crm.crm_app.patients", 2, "SESSION")
    ]


def test_object_lines_replace_a_session_line_whose_statement_names_no_relation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A statement pglast does not read (here: longer than its limit, as a 70 kB one was on the real server)
    leaves the SESSION line without object; the OBJECT line of the same statement is that access."""
    monkeypatch.setattr(pgrelations_ast, "_MAX_STATEMENT", 10)
    read = "{},1,1,READ,SELECT,{},SELECT id FROM public.customers WHERE id < 3 /* long */;,<not logged>,2"
    evs = events([audit(read.format("SESSION", ","), OA_HEAD), audit(read.format("OBJECT", "TABLE,public.customers"),
                                                                      OA_HEAD)])  # fmt: skip
    assert [(e.object, e.rows, e.fields["postgresql.audit.type"]) for e in evs] == [
        ("db:crm.public.customers", 2, "OBJECT")
    ]


def test_a_session_line_without_object_lines_is_held_only_until_its_backend_goes_on() -> None:
    """The SESSION line is held for the OBJECT lines that may follow; the backend's next record (here its
    disconnection) releases it, ahead of that record's own event, and the checkpoint waits for it."""
    session = audit("SESSION,5,1,READ,SELECT,,,SELECT * FROM orders;,<not logged>,20", OA_HEAD)
    logout = OA_HEAD + "disconnection: session time: 0:00:00.016 user=alice database=crm host=127.0.0.1 port=58590"
    other = OA_HEAD.replace("[10689]", "[10690]") + "connection received: host=127.0.0.1 port=58600"
    parser = make_parser(tz="UTC")
    assert feed_all(parser, [session, other]) == []  # `other` completes the SESSION record: held
    assert parser.pending_offset() == 0
    assert not parser.feed(10_000, logout)  # completes `other`: another backend, nothing released
    got = parser.feed(20_000, "2026-11-29 01:35:05.600 UTC [1] LOG:  checkpoint starting: time")
    assert [(e.action, e.object) for e in got if isinstance(e, AccessEvent)] == [
        (READ, "db:crm.public.orders"), (LOGOUT, "db:crm")
    ]  # fmt: skip
    assert parser.pending_offset() == 20_000


def test_a_held_session_line_is_released_by_flush_and_by_the_traffic_of_other_backends() -> None:
    """A backend that goes quiet after its SESSION line holds nothing back for long: the daemon flushes a
    quiet file, and on a busy one `_HOLD_RECORDS` records of other backends release it."""
    session = audit("SESSION,5,1,READ,SELECT,,,SELECT * FROM orders;,<not logged>,20", OA_HEAD)
    other = audit("SESSION,1,1,READ,SELECT,,,SELECT 1;,<not logged>,1", OA_HEAD.replace("[10689]", "[10690]"))
    parser = make_parser(tz="UTC")
    assert feed_all(parser, [session]) == []
    assert [e.object for e in parser.flush() if isinstance(e, AccessEvent)] == ["db:crm.public.orders"]
    assert parser.pending_offset() is None

    parser = make_parser(tz="UTC")
    others = [other.replace("SESSION,1,", f"SESSION,{n},") for n in range(1, pgaudit._HOLD_RECORDS + 2)]
    assert "db:crm.public.orders" not in [e.object for e in feed_all(parser, [session, *others[:-2]])
                                          if isinstance(e, AccessEvent)]
    got = feed_all(parser, others[-2:])
    assert "db:crm.public.orders" in [e.object for e in got if isinstance(e, AccessEvent)]


def test_an_object_line_after_its_held_session_line_was_released_is_no_second_read() -> None:
    """The daemon flushed the quiet file between the SESSION line and its OBJECT line (a busy logging
    collector): the read was reported with the guessed schema; the late OBJECT line adds no second read.
    The backend's next statement is judged afresh."""
    parser = make_parser(tz="UTC")
    assert feed_all(parser, [audit(OA_PATIENTS.format("SESSION", ","), OA_HEAD)]) == []
    assert [e.object for e in parser.flush() if isinstance(e, AccessEvent)] == ["db:crm.public.patients"]
    late = audit(OA_PATIENTS.format("OBJECT", "TABLE,crm_app.patients"), OA_HEAD)
    assert [e for e in feed_all(parser, [late]) if isinstance(e, AccessEvent)] == []
    following = [audit(OA_PATIENTS.replace("2,1,", "3,1,").format(kind, table), OA_HEAD)
                 for kind, table in (("SESSION", ","), ("OBJECT", "TABLE,crm_app.patients"))]  # fmt: skip
    got = [e.object for e in run(parser, following) if isinstance(e, AccessEvent)]
    assert got == ["db:crm.crm_app.patients"]


def test_with_session_id_a_statement_line_belongs_to_its_own_backend_only() -> None:
    b = "2026-11-27 16:20:40.975 UTC 6b0b814a.2231 bob@crm "
    other = b.replace(".2231", ".2232")
    [ev] = events([
        b + "ERROR:  permission denied for table customers",
        other + "STATEMENT:  SELECT 1;",  # another backend's: not this error's statement
    ], log_line_prefix="%m %c %u@%d ", tz="UTC")  # fmt: skip
    assert (ev.outcome, ev.statement, ev.fields["process.pid"]) == (FAILURE, None, 0x2231)
    [ev] = events([b + "ERROR:  permission denied for table customers", b + "STATEMENT:  SELECT ssn FROM customers;"],
                  log_line_prefix="%m %c %u@%d ", tz="UTC")  # fmt: skip
    assert ev.statement == "SELECT ssn FROM customers;"


def test_an_object_line_that_confirms_a_guess_leaves_a_same_named_table_of_another_schema_alone() -> None:
    """bob reads the view v_app (over crm_app.customers) joined to `customers`, which his search_path finds in
    public; both tables are under object audit. The first OBJECT line confirms public.customers, so the
    second, crm_app.customers (under the view), is an access of its own, not a correction of the first."""
    head = "2026-11-29 01:39:39.387 UTC [13397] user=bob,db=crm,app=pii-guard-e2e,client=127.0.0.1 LOG:  "
    read = "{},1,1,READ,SELECT,{},SELECT * FROM v_app JOIN customers USING (id);,<not logged>,5"
    lines = [read.format("SESSION", ","), read.format("OBJECT", "TABLE,public.customers"),
             read.format("OBJECT", "TABLE,crm_app.customers")]  # fmt: skip
    evs = events([audit(x, head) for x in lines], log_line_prefix="%m [%p] user=%u,db=%d,app=%a,client=%h ", tz="UTC")
    assert sorted(e.object or "" for e in evs) == [
        "db:crm.crm_app.customers", "db:crm.public.customers", "db:crm.public.v_app"
    ]  # fmt: skip


def test_a_query_of_several_statements_run_twice_on_one_backend() -> None:
    """psql's `\\g` twice, or a pooled connection re-running a batch: ids go on (3, 4), the statements start over."""
    head = "2026-11-29 01:44:52.565 UTC [21764] alice@crm LOG:  "
    text = "SELECT * FROM customers WHERE id = 1; SELECT * FROM orders WHERE id = 2;"
    lines = [audit(f"SESSION,{sid},1,READ,SELECT,,,{text},<not logged>,1", head) for sid in (1, 2, 3, 4)]
    got = [(e.object, e.fields["postgresql.audit.statement_id"]) for e in events(lines, log_line_prefix=DEBIAN)]
    assert got == [("db:crm.public.customers", 1), ("db:crm.public.orders", 2),
                   ("db:crm.public.customers", 3), ("db:crm.public.orders", 4)]


# ---- log_destination = 'syslog' (rsyslog files; FORMATS.md §11) ----------------------------------------------

# PostgreSQL 15.20 + pgAudit 1.7.0 through rsyslog 8.2302 (Debian 12 defaults), from the real run of
# tests/samples/pgaudit/pg15-pgaudit17-syslog.log: every message comes in `[N-M]` pieces, cut at each newline
# (the TAB after it escaped `#011`) and for length at a space before 900 bytes.
SYS_PREFIX = "[%p] user=%u,db=%d,app=%a,client=%h "
SYS_A = "2026-11-29T05:03:39.959231+00:00 vm postgres[30985]: "
SYS_B = "2026-11-29T05:03:39.959240+00:00 vm postgres[30987]: "
SYS_A_HEAD = "[30985] user=alice,db=crm,app=pii-guard-test,client=127.0.0.1 "
SYS_B_HEAD = "[30987] user=bob,db=crm,app=pii-guard-test,client=127.0.0.1 "
MULTI_LINE_PIECES = [
    SYS_A + "[10-1] " + SYS_A_HEAD + 'LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.customers,"SELECT c.full_name,',
    SYS_A + "[10-2] #011#011c.email",
    SYS_A + "[10-3] #011  FROM public.customers c",
    SYS_A + '[10-4] #011 WHERE c.id <= 3;",<not logged>,3',
]
LONG_SQL = "SELECT id FROM public.customers WHERE " + " OR ".join(f"email = 'c{i}@example.com'" for i in range(1, 81))


def pg_pieces(head: str, seq: int | None, message: str) -> list[str]:
    """`message` cut as PostgreSQL's write_syslog cuts it (newlines, then 900 bytes at a whitespace)."""
    pieces: list[str] = []
    for line in message.split("\n"):
        while len(line.encode()) > 900:
            cut = line.rindex(" ", 1, 900)
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
    return [head + (f"[{seq}-{m}] " if seq is not None else f"[{m}] ") + p for m, p in enumerate(pieces, 1)]


def sys_events(lines: list[str], **options: Any) -> list[AccessEvent]:
    return events(lines, tz="UTC", destination="syslog", log_line_prefix=SYS_PREFIX, **options)


def test_syslog_pieces_are_one_record_as_stderr_would_have_written_it() -> None:
    long = pg_pieces(SYS_A, 11, SYS_A_HEAD + "LOG:  AUDIT: SESSION,2,1,READ,SELECT,TABLE,public.customers," + LONG_SQL
                     + ";,<not logged>,50")  # fmt: skip
    assert len(long) == 3
    assert long[1].startswith(SYS_A + "[11-2]  'c")  # cut before a space, which starts the next piece
    got = sys_events([*MULTI_LINE_PIECES, *long], mask=False)
    assert [(e.user, e.source_ip, e.object, e.action, e.outcome, e.rows) for e in got] == [
        ("alice", "127.0.0.1", "db:crm.public.customers", READ, SUCCESS, 3),
        ("alice", "127.0.0.1", "db:crm.public.customers", READ, SUCCESS, 50),
    ]  # fmt: skip
    assert got[0].statement == "SELECT c.full_name,\n\tc.email\n  FROM public.customers c\n WHERE c.id <= 3;"
    assert got[0].original.startswith(SYS_A_HEAD + "LOG:  AUDIT: SESSION,1,1,")
    written = '"SELECT c.full_name,\n\t\tc.email\n\t  FROM public.customers c\n\t WHERE c.id <= 3;",<not logged>,3'
    assert got[0].original.endswith(written)
    assert got[1].statement == LONG_SQL + ";"
    assert got[0].time_us == 1795928619959231  # the syslog stamp: the prefix has no time
    assert got[0].fields["process.pid"] == 30985


def test_syslog_pieces_of_two_backends_may_interleave() -> None:
    a = pg_pieces(SYS_A, 12, SYS_A_HEAD + "LOG:  AUDIT: SESSION,3,1,READ,SELECT,TABLE,public.customers," + LONG_SQL
                  + ";,<not logged>,50")  # fmt: skip
    b = pg_pieces(SYS_B, 10, SYS_B_HEAD + 'ERROR:  permission denied for table customers\n' + SYS_B_HEAD
                  + "STATEMENT:  SELECT ssn\n\t  FROM public.customers;")  # fmt: skip
    c = [x.replace("[10-", "[13-") for x in MULTI_LINE_PIECES]  # alice's next message, same backend
    assert (len(a), len(b)) == (3, 3)
    got = sys_events([a[0], b[0], a[1], b[1], a[2], b[2], *c], mask=False)
    assert sorted((e.user, e.object, e.action, e.outcome, e.rows, e.statement) for e in got) == [
        ("alice", "db:crm.public.customers", READ, SUCCESS, 3,
         "SELECT c.full_name,\n\tc.email\n  FROM public.customers c\n WHERE c.id <= 3;"),
        ("alice", "db:crm.public.customers", READ, SUCCESS, 50, LONG_SQL + ";"),
        ("bob", "db:crm.customers", READ, FAILURE, None, "SELECT ssn\n  FROM public.customers;"),
    ]  # fmt: skip


def test_syslog_without_sequence_numbers_pieces_count_from_one() -> None:
    """`syslog_sequence_numbers = off`: PostgreSQL still numbers the pieces of a message, `[M]`."""
    lines = [x.replace("[10-", "[") for x in MULTI_LINE_PIECES]
    assert lines[1] == SYS_A + "[2] #011#011c.email"
    payload = "SESSION,2,1,READ,SELECT,TABLE,public.orders,SELECT * FROM orders;,<not logged>,20"
    lines += [SYS_A + "[1] " + SYS_A_HEAD + "LOG:  AUDIT: " + payload]
    got = sys_events(lines, syslog_sequence_numbers=False)
    assert [(e.object, e.rows) for e in got] == [("db:crm.public.customers", 3), ("db:crm.public.orders", 20)]
    assert got[0].statement is not None
    assert got[0].statement.endswith("\n WHERE c.id <= ?;")
    # the same lines read as if they had sequence numbers: `[2]` is then a message of its own, not a piece
    failures = [o for o in parse(lines, tz="UTC", destination="syslog", log_line_prefix=SYS_PREFIX)
                if isinstance(o, ParseFailure)]  # fmt: skip
    assert len(failures) == 4  # the first piece as a whole message (its payload cut short), the others


DENIED_PIECE = SYS_B + "[10-1] " + SYS_B_HEAD + "ERROR:  permission denied for table customers"


def test_syslog_message_whose_next_piece_never_comes_is_emitted_at_flush() -> None:
    parser = make_parser(tz="UTC", destination="syslog", log_line_prefix=SYS_PREFIX)
    assert parser.feed(0, DENIED_PIECE) == ()  # its STATEMENT line never comes
    assert parser.pending_offset() == 0
    [event] = parser.flush()
    assert isinstance(event, AccessEvent)
    assert (event.user, event.object, event.outcome, event.statement, event.offset) == (
        "bob", "db:crm.customers", FAILURE, None, 0)  # fmt: skip
    assert parser.pending_offset() is None
    # an AUDIT line cut short is a failure when it is taken, not an exception
    assert parser.feed(100, MULTI_LINE_PIECES[0]) == ()
    assert parser.feed(200, MULTI_LINE_PIECES[1]) == ()
    [failure] = parser.flush()
    assert isinstance(failure, ParseFailure)
    assert failure.offset == 100
    assert failure.reason.startswith("malformed pgAudit AUDIT payload")
    # a piece without its first one, a line that is no syslog line, a message of another prefix: failures
    out = list(parser.feed(300, MULTI_LINE_PIECES[2]))
    out += parser.feed(400, "#011 WHERE c.id <= 3;")
    out += parser.feed(500, SYS_A + "[14-1] 2026-11-29 05:03:39.959 UTC [30985] alice@crm LOG:  AUDIT: x")
    out += parser.feed(600, SYS_A + "[15-1] " + SYS_A_HEAD + "LOG:  AUDIT: SESSION,x")
    out += parser.flush()
    assert [(type(o).__name__, o.offset) for o in out] == [
        ("ParseFailure", 300), ("ParseFailure", 400), ("ParseFailure", 500), ("ParseFailure", 600),
    ]  # fmt: skip


def test_syslog_message_is_complete_when_its_backend_is_quiet() -> None:
    parser = make_parser(tz="UTC", destination="syslog", log_line_prefix=SYS_PREFIX)
    assert parser.feed(0, DENIED_PIECE) == ()
    later = ("2026-11-29T05:03:44.000000+00:00 vm postgres[30985]: [7-1] " + SYS_A_HEAD
             + "LOG:  connection received: host=127.0.0.1 port=44704")  # fmt: skip
    assert parser.feed(1, later) == ()  # within 5 s: bob's STATEMENT line may still come
    assert parser.feed(2, later.replace("05:03:44.", "05:03:44.9").replace("[7-1]", "[8-1]")) == ()
    [event] = parser.feed(3, later.replace("05:03:44.", "05:03:45.").replace("[7-1]", "[9-1]"))
    assert isinstance(event, AccessEvent)
    assert (event.user, event.outcome) == ("bob", FAILURE)
    assert parser.pending_offset() == 3


def test_syslog_traditional_layout_split_off_other_programs_and_auto() -> None:
    """`syslog_split_messages = off`: one line per message, newlines escaped `#012`; other idents skipped;
    a prefix with a time gives the time; `auto` recognizes the lines (given a prefix with a time)."""
    line = ("Nov 29 05:03:39 vm postgres[30985]: [10] 2026-11-29 05:03:39.959 UTC [30985] alice@crm LOG:  AUDIT: "
            'SESSION,1,1,READ,SELECT,TABLE,public.customers,"SELECT c.full_name,#012#011#011c.email#012#011  FROM '
            'public.customers c#012#011 WHERE c.id <= 3;",<not logged>,3')  # fmt: skip
    other = "Nov 29 05:03:39 vm CRON[42]: (root) CMD (true)"
    for destination in ("syslog", "auto"):
        got = events([other, line], tz="UTC", destination=destination, log_line_prefix=DEBIAN, mask=False,
                     syslog_split_messages=False)  # fmt: skip
        assert [(e.user, e.object, e.rows, e.time_us) for e in got] == [
            ("alice", "db:crm.public.customers", 3, 1795928619959000)
        ], destination
        assert got[0].statement == "SELECT c.full_name,\n\tc.email\n  FROM public.customers c\n WHERE c.id <= 3;"
    # a prefix without a time is only right for syslog: auto (which may meet stderr lines) refuses it at load
    with pytest.raises(ValidationError, match="set destination: syslog"):
        PgAuditOptions(destination="auto", log_line_prefix=SYS_PREFIX)


# ---- the other parts of a record (DETAIL, QUERY, CONTEXT) -------------------------------------------------
# PostgreSQL 15.18 + pgAudit 1.7.0, log_destination = 'stderr,csvlog,jsonlog', Debian prefix: alice calls a
# SECURITY INVOKER function whose EXECUTE reads a table she may not read; an internal query naming a missing
# table (QUERY / internal_query); a unique violation and a failing CHECK (DETAIL / detail).
PG_S = "2026-11-29 05:18:04.538 UTC [11859] alice@crm "
PG_DENIED_STDERR = [
    PG_S + "ERROR:  permission denied for table secret",
    PG_S + "CONTEXT:  SQL statement \"SELECT id FROM public.secret WHERE email = 'peek@example.com'\"",
    "\tPL/pgSQL function peek(text) line 2 at EXECUTE",
    PG_S + "STATEMENT:  SELECT public.peek($$peek@example.com$$);",
]
PG_CSV = '2026-11-29 05:18:04.538 UTC,"alice","crm",11859,"127.0.0.1:45978",6b0bb58c.2e53,'
PG_DENIED_CSV = [
    PG_CSV + '7,"SELECT",2026-11-29 05:18:04 UTC,3/7,0,ERROR,42501,"permission denied for table secret",,,,,'
    "\"SQL statement \"\"SELECT id FROM public.secret WHERE email = 'peek@example.com'\"\"",
    'PL/pgSQL function peek(text) line 2 at EXECUTE","SELECT public.peek($$peek@example.com$$);",,,"pii-guard-test",'
    '"client backend",,0',
]
PG_JSON = ('{"timestamp":"2026-11-29 05:18:04.538 UTC","user":"alice","dbname":"crm","pid":11859,'
           '"remote_host":"127.0.0.1","remote_port":45978,"session_id":"6b0bb58c.2e53",')  # fmt: skip
PG_DENIED_JSON = [
    PG_JSON + '"line_num":7,"ps":"SELECT","session_start":"2026-11-29 05:18:04 UTC","vxid":"3/7","txid":0,'
    '"error_severity":"ERROR","state_code":"42501","message":"permission denied for table secret","context":'
    '"SQL statement \\"SELECT id FROM public.secret WHERE email = \'peek@example.com\'\\"\\nPL/pgSQL function '
    'peek(text) line 2 at EXECUTE","statement":"SELECT public.peek($$peek@example.com$$);","application_name":'
    '"pii-guard-test","backend_type":"client backend","query_id":0}'
]
PG_OTHERS_STDERR = [
    [PG_S + 'ERROR:  relation "public.nosuch" does not exist at character 16',
     PG_S + "QUERY:  SELECT id FROM public.nosuch WHERE email = 'q@example.com'",
     PG_S + "CONTEXT:  PL/pgSQL function find_q(text) line 2 at EXECUTE",
     PG_S + "STATEMENT:  SELECT public.find_q($$q@example.com$$);"],
    [PG_S + 'ERROR:  duplicate key value violates unique constraint "customers_email_key"',
     PG_S + "DETAIL:  Key (email)=(jdetail@example.com) already exists.",
     PG_S + "STATEMENT:  INSERT INTO public.customers VALUES (2, 'jdetail@example.com', '987654321');"],
    [PG_S + 'ERROR:  new row for relation "customers" violates check constraint "customers_ssn_check"',
     PG_S + "DETAIL:  Failing row contains (3, check@example.com, 123-45-6789).",
     PG_S + "STATEMENT:  INSERT INTO public.customers VALUES (3, 'check@example.com', '123-45-6789');"],
]  # fmt: skip
PG_OTHERS_CSV = [
    PG_CSV + '5,"SELECT",2026-11-29 05:18:04 UTC,3/6,0,ERROR,42P01,"relation ""public.nosuch"" does not exist",,,'
    "\"SELECT id FROM public.nosuch WHERE email = 'q@example.com'\",16,\"PL/pgSQL function find_q(text) line 2 at "
    'EXECUTE","SELECT public.find_q($$q@example.com$$);",,,"pii-guard-test","client backend",,0',
    PG_CSV + '14,"INSERT",2026-11-29 05:18:04 UTC,3/11,738,ERROR,23505,"duplicate key value violates unique '
    'constraint ""customers_email_key""","Key (email)=(jdetail@example.com) already exists.",,,,,"INSERT INTO '
    "public.customers VALUES (2, 'jdetail@example.com', '987654321');\",,,\"pii-guard-test\",\"client backend\",,0",
    PG_CSV + '15,"INSERT",2026-11-29 05:18:04 UTC,3/12,0,ERROR,23514,"new row for relation ""customers"" violates '
    'check constraint ""customers_ssn_check""","Failing row contains (3, check@example.com, 123-45-6789).",,,,,'
    "\"INSERT INTO public.customers VALUES (3, 'check@example.com', '123-45-6789');\",,,\"pii-guard-test\","
    '"client backend",,0',
]
PG_OTHERS_JSON = [
    PG_JSON + '"line_num":5,"ps":"SELECT","session_start":"2026-11-29 05:18:04 UTC","vxid":"3/6","txid":0,'
    '"error_severity":"ERROR","state_code":"42P01","message":"relation \\"public.nosuch\\" does not exist",'
    '"internal_query":"SELECT id FROM public.nosuch WHERE email = \'q@example.com\'","internal_position":16,'
    '"context":"PL/pgSQL function find_q(text) line 2 at EXECUTE","statement":"SELECT public.find_q($$q@example.com'
    '$$);","application_name":"pii-guard-test","backend_type":"client backend","query_id":0}',
    PG_JSON + '"line_num":14,"ps":"INSERT","session_start":"2026-11-29 05:18:04 UTC","vxid":"3/11","txid":738,'
    '"error_severity":"ERROR","state_code":"23505","message":"duplicate key value violates unique constraint '
    '\\"customers_email_key\\"","detail":"Key (email)=(jdetail@example.com) already exists.","statement":"INSERT '
    "INTO public.customers VALUES (2, 'jdetail@example.com', '987654321');\",\"application_name\":\"pii-guard-test\""
    ',"backend_type":"client backend","query_id":0}',
    PG_JSON + '"line_num":15,"ps":"INSERT","session_start":"2026-11-29 05:18:04 UTC","vxid":"3/12","txid":0,'
    '"error_severity":"ERROR","state_code":"23514","message":"new row for relation \\"customers\\" violates check '
    'constraint \\"customers_ssn_check\\"","detail":"Failing row contains (3, check@example.com, 123-45-6789).",'
    "\"statement\":\"INSERT INTO public.customers VALUES (3, 'check@example.com', '123-45-6789');\","
    '"application_name":"pii-guard-test","backend_type":"client backend","query_id":0}',
]
_PERSONAL = ("example.com", "123-45-6789", "987654321")


@pytest.mark.parametrize(("destination", "lines"), [
    ("stderr", PG_DENIED_STDERR), ("csvlog", ["\n".join(PG_DENIED_CSV)]), ("jsonlog", PG_DENIED_JSON),
])  # fmt: skip
def test_a_denied_statement_in_a_function_has_its_context_masked(destination: str, lines: list[str]) -> None:
    """The CONTEXT of a permission error inside a function quotes the function's SQL statement with its
    literals: masked in `event.original` like the statement, the record's shape kept."""
    if destination == "csvlog":
        lines = lines[0].split("\n")
    [ev] = events(lines, destination=destination, log_line_prefix=DEBIAN, tz="UTC")
    assert (ev.action, ev.outcome, ev.object) == (READ, FAILURE, "db:crm.secret")
    assert ev.statement == "SELECT public.peek($$?$$);"
    assert not any(word in ev.original for word in _PERSONAL), ev.original
    written = ev.original.replace('""', '"') if destination != "jsonlog" else orjson.loads(ev.original)["context"]
    assert "SQL statement \"SELECT id FROM public.secret WHERE email = '?'\"" in written
    assert "PL/pgSQL function peek(text) line 2 at EXECUTE" in ev.original
    if destination == "jsonlog":
        assert orjson.loads(ev.original).keys() == orjson.loads(lines[0]).keys()
    elif destination == "stderr":
        assert ev.original.split("\n")[2] == "\tPL/pgSQL function peek(text) line 2 at EXECUTE"
    else:
        [row] = list(__import__("csv").reader([ev.original]))
        assert len(row) == 26
        assert row[18].startswith('SQL statement "SELECT id')
    [raw] = events(lines, destination=destination, log_line_prefix=DEBIAN, tz="UTC", mask=False)
    assert raw.original == "\n".join(lines)


def _records(destination: str, lines: list[str]) -> list[pgaudit_prefix.ServerRecord]:
    clock = pgaudit_prefix.PgClock(None)
    out: list[Any] = []
    if destination == "stderr":
        framing = pgaudit_prefix.StderrFraming([CompiledPrefix(DEBIAN)], clock)
        for line in lines:
            out.extend(framing.push(0, line))
        out.extend(framing.take())
    elif destination == "csvlog":
        csv_framing = pgaudit_prefix.CsvFraming(clock, pgaudit_prefix.CsvReader())
        for line in lines:
            out.extend(csv_framing.push(0, line))
    else:
        out = [pgaudit_prefix.json_record(0, line, clock) for line in lines]
    assert all(isinstance(r, pgaudit_prefix.ServerRecord) for r in out), out
    return out


@pytest.mark.parametrize(("destination", "lines"), [
    ("stderr", [line for record in PG_OTHERS_STDERR for line in record]),
    ("csvlog", PG_OTHERS_CSV), ("jsonlog", PG_OTHERS_JSON),
])  # fmt: skip
def test_detail_query_and_context_are_masked_in_the_original(destination: str, lines: list[str]) -> None:
    """Whatever record becomes an event's original keeps its shape with every part masked: a unique
    violation's `Key (email)=(...)`, a failing row's values, an internal query's literals."""
    parser = make_parser()
    records = _records(destination, lines)
    assert [r.others is not None for r in records] == [True, True, True]
    query, unique, check = (parser._rebuild(r, None, parser._mask(r.statement or "")) for r in records)
    for text in (query, unique, check):
        assert not any(word in text for word in _PERSONAL), text
    assert "SELECT id FROM public.nosuch WHERE email = '?'" in query
    assert "PL/pgSQL function find_q(text) line 2 at EXECUTE" in query
    assert "Key (email)=(<masked>) already exists." in unique
    assert "Failing row contains (<masked>)." in check
    if destination == "jsonlog":
        assert [orjson.loads(t).keys() for t in (query, unique, check)] == [orjson.loads(x).keys() for x in lines]
    elif destination == "csvlog":
        rows = [next(__import__("csv").reader([t])) for t in (query, unique, check)]
        assert [len(row) for row in rows] == [26, 26, 26]
        assert rows[1][14] == "Key (email)=(<masked>) already exists."
        assert rows[0][16].endswith("email = '?'")
    else:
        assert [t.count("\n") for t in (query, unique, check)] == [3, 2, 2]
    # masking off: the record as written
    raw = make_parser(mask=False)
    assert [raw._original(r) for r in records] == [r.text for r in records]


def test_a_detail_keeps_its_columns_and_words() -> None:
    parser = make_parser()
    mask = parser._mask_part
    assert mask("detail", "Key (customer_id)=(5) is not present in table \"customers\".") == (
        'Key (customer_id)=(<masked>) is not present in table "customers".')
    assert mask("detail", "Key (lower(email))=(a@b.c) conflicts with existing key (lower(email))=(d@e.f).") == (
        "Key (lower(email))=(<masked>) conflicts with existing key (lower(email))=(<masked>).")
    assert mask("detail", "parameters: $1 = 'x@y.z', $2 = '42'") == "parameters: $1 = '?', $2 = '?'"
    pg_hba = 'Connection matched pg_hba.conf line 91: "host all all 127.0.0.1/32 scram-sha-256"'
    assert mask("detail", pg_hba) == pg_hba
    assert mask("context", 'COPY customers, line 2: "2,x@y.z,123456789"') == "COPY customers, line 2: <masked>"
    assert mask("context", "unnamed portal with parameters: $1 = 'x@y.z'") == (
        "unnamed portal with parameters: $1 = '?'")


def _destination_by_regex(line: str) -> str:
    """`destination_of` as the regexes alone decide it: the pre-checks before them must never change this."""
    if line[:1] == "{":
        return "jsonlog"
    if line[:1] == "\t":
        return "stderr"
    if pgaudit_prefix.CSV_HEAD.match(line):
        return "csvlog"
    return "syslog" if pgaudit_prefix.SYSLOG_HEAD.match(line) else "stderr"


_HEADS = st.sampled_from([
    "2026-11-27 09:00:00", "2026-11-27 09:00:00.123", "2026-11-27T09:00:00.123456+01:00", "Nov 27 09:00:00",
    "Nov  7 09:00:00", "2026-11-27", "١٢٣٤-١١-٢٧ 09:00:00", "nov 27 09:00:00", "", "{", "\t", "[", "< ",
])  # fmt: skip
_PIECES = st.lists(st.sampled_from([" ", ",", "UTC", "CET", "+01", "Europe/Berlin", "db1", "postgres[12]:", ":",
                                    "[12]", "LOG:  ", "x", "\"", "-"]), max_size=8)  # fmt: skip


@given(_HEADS, _PIECES)
def test_auto_destination_pre_checks_agree_with_the_regexes(head: str, pieces: list[str]) -> None:
    line = head + "".join(pieces)
    assert pgaudit_prefix.destination_of(line) == _destination_by_regex(line)


@pytest.mark.parametrize(("line", "destination"), [
    ("2026-11-27 09:00:00.123 UTC [42] alice@crm LOG:  AUDIT: x,y", "stderr"),
    ('2026-11-27 09:00:00.123 UTC,"alice","crm",42,', "csvlog"),
    ("2026-11-27 09:00:00.123 America/Argentina/Buenos_Aires,,,", "csvlog"),
    ("2026-11-27T09:00:00.1+01:00 db1 postgres[42]: [3-1] LOG:  x", "syslog"),
    ("Nov 27 09:00:00 db1 postgres[42]: [3-1] LOG:  x", "syslog"),
    ('{"timestamp":"2026-11-27 09:00:00.123 UTC"}', "jsonlog"),
])  # fmt: skip
def test_auto_destination_of_each_kind_of_first_line(line: str, destination: str) -> None:
    assert pgaudit_prefix.destination_of(line) == destination


# ---- lines of real servers in other configurations (PostgreSQL 15.18 + pgAudit 1.7.0, 2026-11-30) ---------

D = "2026-11-30 03:53:04.701 UTC "  # a stamp for the Debian-prefix lines below


def _summary(items: list[Outcome]) -> list[tuple[Any, ...]]:
    return [(e.time_us, e.action, e.outcome, e.user, e.object, e.rows, e.error_code, e.source_ip)
            for e in items if isinstance(e, AccessEvent)]  # fmt: skip


def test_verbose_error_verbosity_gives_the_events_of_the_same_runs_csvlog() -> None:
    """`log_error_verbosity = verbose` writes the SQLSTATE after the level (`LOG:  00000: AUDIT: ...`): every
    record used to be taken for a non-audit line and dropped without a word (357 lines, 0 events)."""
    from tests.goldens import all_cases, parse_case

    cases = {c.log.name: c for c in all_cases()}
    stderr = parse_case(cases["pg15-pgaudit17-verbose.log"])
    csvlog = parse_case(cases["pg15-pgaudit17-verbose.csv"])
    assert not [o for o in stderr if isinstance(o, ParseFailure)]
    assert len(_summary(stderr)) == 113
    assert _summary(stderr) == _summary(csvlog)


def test_verbose_sqlstate_is_the_error_code() -> None:
    [ev] = events([
        "2026-11-30 03:49:03.582 UTC [28783] alice@crm ERROR:  42501: permission denied for table employees",
        "2026-11-30 03:49:03.582 UTC [28783] alice@crm LOCATION:  aclcheck_error, aclchk.c:3655",
        "2026-11-30 03:49:03.582 UTC [28783] alice@crm STATEMENT:  SELECT * FROM hr.employees;",
    ], log_line_prefix=DEBIAN)  # fmt: skip
    assert (ev.action, ev.outcome, ev.object, ev.error_code) == (READ, FAILURE, "db:crm.employees", "42501")
    assert pgaudit_prefix._VERBOSE_STATE.match("AUDIT: SESSION,1") is None  # `AUDIT:` is no SQLSTATE
    assert pgaudit_prefix._VERBOSE_STATE.match("XX000: internal error") is not None


@pytest.mark.parametrize(("lines", "code"), [
    (["LOG:  connection authorized: user=nologin_user database=crm application_name=psql",
      'FATAL:  role "nologin_user" is not permitted to log in'], "28000"),
    (["LOG:  connection authorized: user=dave database=hrdb application_name=psql",
      'FATAL:  permission denied for database "hrdb"', "DETAIL:  User does not have CONNECT privilege."], "42501"),
    (["LOG:  connection authorized: user=limited database=crm application_name=psql",
      'FATAL:  too many connections for role "limited"'], "53300"),
    (["LOG:  connection authorized: user=alice database=nosuchdb application_name=psql",
      'FATAL:  database "nosuchdb" does not exist'], "3D000"),
])  # fmt: skip
def test_a_connection_refused_after_connection_authorized_is_one_failed_login(lines: list[str], code: str) -> None:
    """The server writes `connection authorized` before it checks NOLOGIN, CONNECT, connection limits and the
    database: such a session never starts, and was a successful login (the first three: and no failure)."""
    received = D + "[6523] [unknown]@[unknown] LOG:  connection received: host=127.0.0.1 port=40100"
    user, database = lines[0].split("user=")[1].split(" ")[0], lines[0].split("database=")[1].split(" ")[0]
    [ev] = events([received, *(f"{D}[6523] {user}@{database} {line}" for line in lines)], log_line_prefix=DEBIAN)
    assert (ev.action, ev.outcome, ev.user, ev.object, ev.error_code, ev.source_ip) == (
        LOGIN, FAILURE, user, f"db:{database}", code, "127.0.0.1")


def test_a_login_followed_by_its_sessions_work_stays_a_successful_login() -> None:
    evs = events([
        D + "[6600] alice@crm LOG:  connection authorized: user=alice database=crm application_name=psql",
        D + "[6601] bob@crm LOG:  connection authorized: user=bob database=crm application_name=psql",
        D + "[6600] alice@crm LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.customers,SELECT 1,<none>,1",
        D + "[6600] alice@crm FATAL:  terminating connection due to administrator command",
    ], log_line_prefix=DEBIAN)  # fmt: skip
    # bob's login is released at the end (no later record of his): held, never lost
    assert [(e.action, e.outcome, e.user) for e in evs] == [
        (LOGIN, SUCCESS, "alice"), (READ, SUCCESS, "alice"), (LOGIN, SUCCESS, "bob")]


@pytest.mark.parametrize(("message", "statement", "action", "command", "obj"), [
    ("must be owner of table customers", "DROP TABLE public.customers;", "ddl", "DROP TABLE", "db:crm.customers"),
    ("permission denied to create role", "CREATE ROLE eve LOGIN;", PERMISSION, "CREATE ROLE", None),
    ('permission denied to set parameter "pgaudit.log"', "ALTER SYSTEM SET pgaudit.log = 'none';", OTHER,
     "ALTER SYSTEM", None),
    ('permission denied to set parameter "pgaudit.log"', "SET pgaudit.log = 'none';", OTHER, "SET", None),
])  # fmt: skip
def test_other_refusals_for_lack_of_privilege_are_failed_attempts(
    message: str, statement: str, action: str, command: str, obj: str | None
) -> None:
    """SQLSTATE 42501 besides `permission denied for`: a non-superuser trying to switch pgAudit off among
    them (rules/sigma/audit_logging_reduced.yml)."""
    [ev] = events([
        f"{D}[8209] alice@crm ERROR:  {message}", f"{D}[8209] alice@crm STATEMENT:  {statement}",
    ], log_line_prefix=DEBIAN)  # fmt: skip
    assert (ev.action, ev.outcome, ev.command, ev.object, ev.error_code) == (action, FAILURE, command, obj, "42501")
    assert "'none'" not in (ev.statement or "")  # masked as any literal


def test_permission_denied_with_a_cursor_position_names_the_object_alone() -> None:
    [ev] = events([
        f"{D}[18339] bob@crm ERROR:  permission denied for schema hr at character 15",
        f"{D}[18339] bob@crm STATEMENT:  SELECT * FROM hr.employees;",
    ], log_line_prefix=DEBIAN)  # fmt: skip
    assert (ev.object, ev.outcome) == ("db:crm.hr", FAILURE)


def test_truncate_rows_are_unknown_not_zero() -> None:
    """pgAudit logs 0 rows for TRUNCATE, which it cannot count; 0 would tell volume rules nothing was removed."""
    line = D + "[18452] postgres@crm LOG:  AUDIT: SESSION,2,1,WRITE,TRUNCATE TABLE,,,TRUNCATE scratch,<none>,0"
    [ev] = events([line], log_line_prefix=DEBIAN)
    assert (ev.action, ev.object, ev.rows) == (DELETE, "db:crm.public.scratch", None)
    deleted = "SESSION,3,1,WRITE,DELETE,TABLE,public.customers,DELETE FROM customers WHERE id = 0,<none>,0"
    [kept] = events([audit(deleted)])
    assert kept.rows == 0  # a DELETE counts its rows: 0 is 0


def test_a_role_with_an_at_sign_under_the_user_at_database_prefix() -> None:
    """`svc@corp.example@crm`: the user runs to the last `@` (Azure AD, Cloud SQL IAM and LDAP-mapped roles)."""
    [ev] = events([
        "2026-11-30 03:45:42.680 UTC [18469] svc@corp.example@crm LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,"
        "public.customers,SELECT email FROM public.customers WHERE id < 4,<none>,3",
    ], log_line_prefix=DEBIAN)  # fmt: skip
    assert (ev.user, ev.object) == ("svc@corp.example", "db:crm.public.customers")
    [rds] = events([
        "2026-11-30 03:45:17 UTC:127.0.0.1(51380):svc@corp.example@crm:[17586]:LOG:  AUDIT: SESSION,1,1,READ,"
        "SELECT,TABLE,public.customers,SELECT email FROM public.customers WHERE id < 4,<none>,3",
    ], log_line_prefix="%t:%r:%u@%d:[%p]:")  # fmt: skip
    assert (rds.user, rds.object, rds.source_ip) == ("svc@corp.example", "db:crm.public.customers", "127.0.0.1")


def test_a_role_name_with_a_space_is_read_whole_from_the_messages() -> None:
    evs = events([
        "2026-11-30 03:49:24.681 UTC [29586] LOG:  connection authorized: user=Data Analyst database=crm "
        "application_name=bi",
        "2026-11-30 03:49:24.682 UTC [29586] LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.customers,"
        "SELECT ssn FROM public.customers WHERE id < 6,<none>,5",
        "2026-11-30 03:49:24.683 UTC [29586] LOG:  disconnection: session time: 0:00:00.010 user=Data Analyst "
        "database=crm host=127.0.0.1 port=52796",
    ], log_line_prefix="%m [%p] ")  # fmt: skip
    assert [(e.action, e.user, e.object) for e in evs] == [
        (LOGIN, "Data Analyst", "db:crm"), (READ, "Data Analyst", "db:crm.public.customers"),
        (LOGOUT, "Data Analyst", "db:crm")]  # fmt: skip
    [ssl] = events(["2026-11-30 03:49:24.681 UTC [29587] LOG:  connection authorized: user=bob database=crm "
                    "application_name=psql SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)",
                    "2026-11-30 03:49:24.683 UTC [29587] LOG:  disconnection: session time: 0:00:00.010 user=bob "
                    "database=crm host=127.0.0.1 port=52797"], log_line_prefix="%m [%p] ")[:1]  # fmt: skip
    assert (ssl.user, ssl.object) == ("bob", "db:crm")


@pytest.mark.parametrize("statement", [
    "CREATE TABLE scratch AS SELECT * FROM customers",
    "SELECT * INTO TEMP tmp_c FROM customers WHERE id < 5;",
    "CREATE TEMP TABLE t2 AS SELECT email FROM customers;",
])  # fmt: skip
def test_the_table_a_create_table_as_makes_is_not_read(statement: str) -> None:
    """`pgaudit.log_relation = off`: the new table was read as well, with the source's rows (and a temporary
    one put in `public`). pgAudit itself, with `log_relation = on`, names only what the query reads."""
    [ev] = events([D + f"[21322] postgres@crm LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,{statement},<none>,100"],
                  log_line_prefix=DEBIAN)  # fmt: skip
    assert (ev.action, ev.object, ev.rows) == (READ, "db:crm.public.customers", 100)


def test_a_held_login_holds_the_checkpoint_and_is_settled_by_other_traffic_too() -> None:
    """A login whose session stays quiet is not held for ever: `_HOLD_RECORDS` records of other backends
    settle it, as the daemon's flush of a quiet file does; until then the checkpoint stays before it."""
    parser = make_parser(log_line_prefix=DEBIAN)
    login = D + "[7000] carol@crm LOG:  connection authorized: user=carol database=crm application_name=psql"
    assert parser.feed(0, login) == ()
    assert parser.pending_offset() == 0
    out: list[Outcome] = []
    other = D + "[7001] dave@crm LOG:  AUDIT: SESSION,{n},1,READ,SELECT,TABLE,public.orders,SELECT 1,<none>,1"
    for n in range(1, pgaudit._HOLD_RECORDS + 2):
        out.extend(parser.feed(n * 1000, other.format(n=n)))
    logins = [o for o in out if isinstance(o, AccessEvent) and o.action == LOGIN]
    assert [(e.user, e.outcome) for e in logins] == [("carol", SUCCESS)]
    assert parser.pending_offset() == (pgaudit._HOLD_RECORDS + 1) * 1000  # the last record, still buffered


_DUPLICATE = "INSERT INTO customers (id, full_name) VALUES (1, 'duplicate');"


@pytest.mark.parametrize("relation", [",", "TABLE,public.customers"], ids=["log_relation off", "log_relation on"])
def test_a_statement_logged_before_it_ran_and_then_failed_is_a_failure(relation: str) -> None:
    """`pgaudit.log_rows = off` (pgAudit's default): the AUDIT line is written before the statement runs, so
    a statement that then fails (a duplicate key, a timeout) was a successful write. The backend's next record
    is the ERROR of that very statement (its STATEMENT line): the access is a failure."""
    head = "2026-11-30 03:50:30.395 UTC [982] alice@crm "
    evs = events([
        head + f"LOG:  AUDIT: SESSION,5,1,WRITE,INSERT,{relation},\"{_DUPLICATE}\",<not logged>",
        head + 'ERROR:  duplicate key value violates unique constraint "customers_pkey"',
        head + "DETAIL:  Key (id)=(1) already exists.",
        head + f"STATEMENT:  {_DUPLICATE}",
        head + "LOG:  AUDIT: SESSION,6,1,WRITE,DELETE,,,DELETE FROM customers WHERE id = 1001;,<not logged>",
        head + "ERROR:  canceling statement due to user request",
        head + "STATEMENT:  SELECT pg_sleep(10);",  # another statement's error: the DELETE ran
    ], log_line_prefix=DEBIAN)  # fmt: skip
    assert [(e.action, e.outcome, e.object) for e in evs] == [
        (WRITE, FAILURE, "db:crm.public.customers"), (DELETE, SUCCESS, "db:crm.public.customers")]
    [counted] = events([
        head + f"LOG:  AUDIT: SESSION,5,1,WRITE,INSERT,{relation},\"{_DUPLICATE}\",<not logged>,1",
        head + 'ERROR:  duplicate key value violates unique constraint "customers_pkey"',
        head + f"STATEMENT:  {_DUPLICATE}",
    ], log_line_prefix=DEBIAN)  # fmt: skip
    assert counted.outcome == SUCCESS  # with log_rows on the line is written after the statement ran
