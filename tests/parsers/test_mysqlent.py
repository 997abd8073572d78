"""MySQL Enterprise Audit (JSON) parser: framing, record classes, held table rows (FORMATS.md §3.1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings

from pii_guard.model import ACTIONS, AccessEvent, format_timestamp
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.mysqlent import MySqlEnterpriseAuditParser, MySqlEnterpriseOptions
from tests.parsers.feeding import events, garbled_lines, run

SAMPLES = Path(__file__).parents[1] / "samples" / "mysql-enterprise-audit"
WHO = {"account": {"user": "alice", "host": "%"}, "login": {"user": "alice", "os": "", "ip": "10.0.0.5", "proxy": ""}}


def make(mask: bool = True, **options: Any) -> MySqlEnterpriseAuditParser:
    context = SourceContext(fingerprint=b"test", path="audit.log", host="db1", mask_literals=mask)
    return MySqlEnterpriseAuditParser(context, MySqlEnterpriseOptions.model_validate(options))


def rec(cls: str, event: str, conn: int = 7, ts: str = "2026-11-27 16:30:07", **extra: Any) -> str:
    doc = {"timestamp": ts, "id": 0, "class": cls, "event": event, "connection_id": conn, **WHO, **extra}
    return json.dumps(doc) + ","


def table(name: str, query: str, event: str = "read", db: str = "crm") -> str:
    return rec("table_access", event, table_access_data={"db": db, "table": name, "query": query,
                                                          "sql_command": "select"})


def status(query: str, code: int = 0, sql_command: str = "select", **extra: Any) -> str:
    return rec("general", "status", general_data={"command": "Query", "sql_command": sql_command, "query": query,
                                                  "status": code}, **extra)


def test_table_rows_wait_for_their_status_and_take_its_outcome_and_statistics() -> None:
    q = "SELECT c.email FROM customers c JOIN orders o ON o.cid = c.id WHERE c.note = 'vip'"
    stats = {"query_time": 0.01, "rows_sent": 42, "rows_examined": 84, "bytes_sent": 4096}
    parser = make()
    assert run(parser, [table("customers", q), table("orders", q)], flush=False) == []
    assert parser.pending_offset() == 0
    first, second = events(run(parser, [status(q, query_statistics=stats)]))
    assert (first.object, first.rows, first.bytes, first.outcome) == ("db:crm.customers", 42, 4096, "success")
    assert (second.object, second.rows, second.bytes) == ("db:crm.orders", None, None)  # volume counted once
    assert first.statement == "SELECT c.email FROM customers c JOIN orders o ON o.cid = c.id WHERE c.note = '?'"
    assert "vip" not in first.original
    assert parser.pending_offset() is None


def test_a_statement_failing_after_its_table_access_is_a_failed_access() -> None:
    q = "SELECT * FROM crm.customers WHERE id = 1 FOR UPDATE"
    (ev,) = events(run(make(), [table("customers", q), status(q, 1205)]))
    assert (ev.action, ev.outcome, ev.error_code) == ("read", "failure", "1205")


def test_rows_without_status_are_released_as_successes() -> None:
    # the filter logs no general class: the next statement's rows, a disconnect or the end release them
    got = events(run(make(), [
        table("customers", "SELECT * FROM customers"),
        table("payroll", "DELETE FROM payroll", event="delete", db="hr"),
        rec("connection", "disconnect", connection_data={"connection_type": "ssl"}),
        table("orders", "SELECT * FROM orders"),
    ]))  # fmt: skip
    assert [(e.action, e.object, e.outcome) for e in got] == [
        ("read", "db:crm.customers", "success"), ("delete", "db:hr.payroll", "success"),
        ("logout", None, "success"), ("read", "db:crm.orders", "success")]


def test_statements_without_table_rows() -> None:
    got = events(run(make(), [
        rec("connection", "connect", connection_data={"connection_type": "tcp/ip", "status": 0, "db": "crm"}),
        status("SELECT @@version_comment LIMIT 1"),
        status("SELECT name FROM customers WHERE id = 4711"),
        status("use hr", sql_command="change_db"),
        status("UPDATE payroll SET salary = 1 WHERE id = 2", sql_command="update"),
        status("SELECT * FROM crm.customers INTO OUTFILE '/tmp/c.csv'"),
        status("CREATE TABLE tmp_export AS SELECT * FROM customers", sql_command="create_table"),
        status("GRANT SELECT ON crm.* TO 'bob'@'%'", sql_command="grant"),
        status("SHOW DATABASES", sql_command="show_databases"),
        status("SELECT ssn FROM customers", 1143),
    ]))  # fmt: skip
    assert [(e.action, e.outcome, e.object) for e in got] == [
        ("login", "success", "db:crm"), ("read", "success", "db:crm.customers"),
        ("write", "success", "db:hr.payroll"), ("export", "success", "db:crm.customers"),
        ("ddl", "success", "db:hr.tmp_export"), ("permission", "success", "db:crm.*"),
        ("read", "failure", "db:hr.customers")]
    assert got[3].fields["file.path"] == "/tmp/c.csv"
    assert got[5].fields["user.target.name"] == "bob"
    assert (got[0].user, got[0].source_ip, got[0].host) == ("alice", "10.0.0.5", "db1")


def test_failed_login_uses_the_login_user() -> None:
    line = json.dumps({"timestamp": "2026-11-27 16:31:30", "id": 0, "class": "connection", "event": "connect",
                       "connection_id": 9, "account": {"user": "", "host": ""},
                       "login": {"user": "mallory", "os": "", "ip": "::ffff:10.66.0.1", "proxy": ""},
                       "connection_data": {"connection_type": "tcp/ip", "status": 1045, "db": ""}})
    (ev,) = events(run(make(), [line]))
    assert (ev.action, ev.outcome, ev.error_code, ev.user, ev.source_ip) == (
        "login", "failure", "1045", "mallory", "10.66.0.1")


def test_array_framing_pretty_printed_records_and_unix_time() -> None:
    pretty = json.dumps({"time": 1795770000, "id": 0, "class": "general", "event": "status", "connection_id": 3,
                         **WHO, "general_data": {"command": "Query", "sql_command": "delete",
                                                 "query": "DELETE FROM crm.customers WHERE id = 1", "status": 0}},
                        indent=2)
    lines = ["[", *pretty.splitlines(), ",", status("DELETE FROM crm.orders", sql_command="delete").rstrip(","), "]"]
    first, second = events(run(make(), lines))
    assert (first.action, first.object, first.offset) == ("delete", "db:crm.customers", 2)
    assert format_timestamp(first.time_us) == "2026-11-27T09:00:00.000000Z"
    assert second.object == "db:crm.orders"


def test_unmasked_statement_keeps_the_line() -> None:
    line = status("SELECT * FROM customers WHERE email = 'a@b.c'")
    (ev,) = events(run(make(mask=False), [rec("connection", "connect", connection_data={"status": 0, "db": "crm"}),
                                          line]))[1:]
    assert ev.statement == "SELECT * FROM customers WHERE email = 'a@b.c'"
    assert ev.original == line.rstrip(",")


def test_malformed_records_are_failures() -> None:
    out = run(make(), [
        '{ "timestamp": "2026-11-27 16:30:00", "class": "general", "event": "status", ',
        '{ "timestamp": "yesterday", "class": "general", "event": "status" },',
        '{ "no": "class" },',
        "[1, 2]",
        "garbage",
    ])  # fmt: skip
    assert [type(o) for o in out] == [ParseFailure] * 6


def test_ids_are_deterministic_and_state_survives_a_restart() -> None:
    lines = (SAMPLES / "audit-array.log").read_text().splitlines()
    first = [e.id for e in events(run(make(), lines))]
    assert first == [e.id for e in events(run(make(), lines))]
    parser = make()
    run(parser, [rec("connection", "connect", connection_data={"status": 0, "db": "crm"})])
    again = make()
    again.restore(json.loads(json.dumps(parser.snapshot())))
    (ev,) = events(run(again, [status("SELECT * FROM customers")]))
    assert ev.object == "db:crm.customers"


_SEEDS = (SAMPLES / "audit-array.log").read_text().splitlines()


GARBLED = garbled_lines(_SEEDS, max_seeds=8)


@settings(max_examples=300, deadline=None)
@given(GARBLED)
def test_garbled_input_never_raises(lines: list[str]) -> None:
    for item in run(make(max_pending_rows=3), lines):
        assert isinstance(item, AccessEvent | ParseFailure)
        if isinstance(item, AccessEvent):
            assert item.action in ACTIONS


def test_a_status_record_after_its_rows_were_released_adds_nothing() -> None:
    """The audit log rotated (audit_log_rotate_on_size) between a statement's table_access rows and its status:
    the old file's flush released the rows; the next file's parser (carry_over) or a restart (snapshot) knows."""
    q = "SELECT * FROM customers WHERE email = 'x@example.com'"
    old = make()
    assert run(old, [table("customers", q)], flush=False) == []
    assert [e.object for e in events(old.flush())] == ["db:crm.customers"]
    assert "x@example.com" not in json.dumps(old.snapshot())  # a digest, not the statement
    for state in (old.carry_over(), old.snapshot()):
        successor = make()
        successor.restore(state)
        assert events(run(successor, [status(q)])) == []
        assert [e.action for e in events(run(successor, [status(q)]))] == ["read"]  # only once
    assert [e.action for e in events(run(make(), [status(q)]))] == ["read"]
