"""Percona audit_log parser: JSON, CSV, NEW/OLD XML, syslog; multi-line records (FORMATS.md §3.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings

from pii_guard.model import ACTIONS, AccessEvent, format_timestamp
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.percona import PerconaAuditParser, PerconaOptions
from tests.parsers.feeding import events, garbled_lines, run

SAMPLES = Path(__file__).parents[1] / "samples" / "percona-audit"
USER = "alice[alice] @ app1.example.net [10.0.0.5]"


def make(mask: bool = True, **options: Any) -> PerconaAuditParser:
    context = SourceContext(fingerprint=b"test", path="audit.log", host="db1", mask_literals=mask)
    return PerconaAuditParser(context, PerconaOptions.model_validate(options))


def new_xml(sql: str, status: str = "0", cls: str = "select", db: str = "crm") -> list[str]:
    return ["<AUDIT_RECORD>", "  <NAME>Query</NAME>", "  <RECORD>9_2026-11-27T16:00:00</RECORD>",
            "  <TIMESTAMP>2026-11-27T16:08:06 UTC</TIMESTAMP>", f"  <COMMAND_CLASS>{cls}</COMMAND_CLASS>",
            "  <CONNECTION_ID>2</CONNECTION_ID>", f"  <STATUS>{status}</STATUS>", f"  <SQLTEXT>{sql}</SQLTEXT>",
            f"  <USER>{USER}</USER>", "  <HOST>app1.example.net</HOST>", "  <OS_USER></OS_USER>",
            "  <IP>10.0.0.5</IP>", f"  <DB>{db}</DB>", "</AUDIT_RECORD>"]  # fmt: skip


def test_new_xml_record_with_escapes_and_the_compound_user() -> None:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<AUDIT>",
             *new_xml("SELECT * FROM customers&#10;WHERE note = &quot;a &lt; b&quot; AND id = 7"), "</AUDIT>"]
    (ev,) = events(run(make(mask=False), lines))
    assert (ev.action, ev.object, ev.user, ev.source_ip, ev.host) == (
        "read", "db:crm.customers", "alice", "10.0.0.5", "db1")
    assert ev.statement == 'SELECT * FROM customers\nWHERE note = "a < b" AND id = 7'
    assert ev.offset == len(lines[0]) + 1 + len(lines[1]) + 1
    assert format_timestamp(ev.time_us) == "2026-11-27T16:08:06.000000Z"
    masked = events(run(make(), lines))[0]
    assert masked.statement == "SELECT * FROM customers\nWHERE note = '?' AND id = ?"
    assert "&quot;a &lt; b&quot;" not in masked.original
    assert "<SQLTEXT>SELECT * FROM customers&#10;WHERE note = '?' AND id = ?</SQLTEXT>" in masked.original


def test_new_xml_record_cut_short_by_the_next_one_is_read_from_its_fields() -> None:
    record = new_xml("UPDATE customers SET x = 1", cls="update")
    got = events(run(make(), [*record[:-1], *new_xml("DELETE FROM orders", cls="delete")]))
    assert [e.action for e in got] == ["write", "delete"]


def test_old_xml_with_attributes_over_lines() -> None:
    lines = ["<AUDIT_RECORD", '  NAME="Query"', '  RECORD="3_2026-11-27T16:40:00"',
             '  TIMESTAMP="2026-11-27T16:40:04 UTC"',
             '  COMMAND_CLASS="insert"', '  CONNECTION_ID="11"', '  STATUS="1146"',
             '  SQLTEXT="INSERT INTO nosuch VALUES (1)"', f'  USER="{USER}"', '  HOST="app1"', '  OS_USER=""',
             '  IP="10.0.0.5"', '  DB="crm"', "/>"]  # fmt: skip
    (ev,) = events(run(make(), lines))
    assert (ev.action, ev.outcome, ev.error_code, ev.object) == ("write", "failure", "1146", "db:crm.nosuch")
    one_line = '<AUDIT_RECORD NAME="Quit" RECORD="4_x" TIMESTAMP="2026-11-27T16:40:09 UTC" CONNECTION_ID="11" ' \
               'STATUS="0" USER="alice" PRIV_USER="alice" OS_LOGIN="" PROXY_USER="" HOST="" IP="10.0.0.5" DB="crm"/>'
    (quit_,) = events(run(make(), [one_line]))
    assert (quit_.action, quit_.user, quit_.source_ip) == ("logout", "alice", "10.0.0.5")


def test_csv_record_over_several_lines_and_old_field_count() -> None:
    lines = ['"Query","3_2026-11-27T16:50:00","2026-11-27T16:50:03 UTC","select","12",0,"SELECT a,',
             '  b FROM `t` x', ' WHERE note = ""Query"",""1_2026-11-27T00:00:00""",'
             '"bob[bob] @  [10.30.0.9]","","","10.30.0.9","hr"',
             '"Query","4_2026-11-27T16:50:00","2026-11-27T16:50:04 UTC","select","12",0,"select 1 from hr.payroll",'
             '"bob[bob] @  [10.30.0.9]","","","10.30.0.9"']  # 5.x records: no db field
    first, second = events(run(make(mask=False), lines))
    assert (first.offset, first.object, first.user, first.source_ip) == (0, "db:hr.t", "bob", "10.30.0.9")
    assert first.statement == 'SELECT a,\n  b FROM `t` x\n WHERE note = "Query","1_2026-11-27T00:00:00"'
    assert second.object == "db:hr.payroll"


def test_csv_record_cut_short_does_not_swallow_the_next() -> None:
    lines = ['"Query","3_2026-11-27T16:50:00","2026-11-27T16:50:03 UTC","select","12",0,'
             '"SELECT a FROM t WHERE x = ""cut',
             '"Quit","4_2026-11-27T16:50:00","2026-11-27T16:50:09 UTC","12",0,"bob","bob","","","","10.30.0.9","hr"']
    out = run(make(), lines)
    assert isinstance(out[0], ParseFailure)
    assert isinstance(out[1], AccessEvent)
    assert out[1].action == "logout"


def test_json_connect_failure_init_db_and_unqualified_tables() -> None:
    lines = [
        '{"audit_record":{"name":"Connect","record":"1_x","timestamp":"2026-11-27T17:00:01 UTC","connection_id":"5",'
        '"status":1045,"user":"mallory","priv_user":"","os_login":"","proxy_user":"","host":"scan.example.net",'
        '"ip":"10.66.0.1","db":""}}',
        '{"audit_record":{"name":"Connect","record":"2_x","timestamp":"2026-11-27T17:00:02 UTC","connection_id":"6",'
        '"status":0,"user":"carol","priv_user":"carol","os_login":"","proxy_user":"","host":"","ip":"10.0.0.9",'
        '"db":""}}',
        '{"audit_record":{"name":"Query","record":"3_x","timestamp":"2026-11-27T17:00:03 UTC","command_class":"select",'
        '"connection_id":"6","status":0,"sqltext":"select * from customers","user":"carol[carol] @  [10.0.0.9]",'
        '"host":"","os_user":"","ip":"10.0.0.9"}}',
        '{"audit_record":{"name":"Init DB","record":"4_x","timestamp":"2026-11-27T17:00:04 UTC",'
        '"command_class":"error",'
        '"connection_id":"6","status":0,"sqltext":"crm","user":"carol[carol] @  [10.0.0.9]","host":"","os_user":"",'
        '"ip":"10.0.0.9"}}',
        '{"audit_record":{"name":"Query","record":"5_x","timestamp":"2026-11-27T17:00:05 UTC","command_class":"select",'
        '"connection_id":"6","status":0,"sqltext":"select * from customers","user":"carol[carol] @  [10.0.0.9]",'
        '"host":"","os_user":"","ip":"10.0.0.9"}}',
    ]
    failed, login, unknown_db, known_db = events(run(make(), lines))
    assert (failed.outcome, failed.error_code, failed.user, failed.fields["source.domain"]) == (
        "failure", "1045", "mallory", "scan.example.net")
    assert login.outcome == "success"
    assert (unknown_db.object, unknown_db.fields["percona.audit.table"]) == (None, "customers")
    assert known_db.object == "db:crm.customers"


def test_syslog_handler_lines() -> None:
    lines = [
        '2026-11-27T17:00:03.000001+00:00 db1 percona-audit: {"audit_record":{"name":"Query","record":"3_x",'
        '"timestamp":"2026-11-27T17:00:03 UTC","command_class":"delete","connection_id":"6","status":0,'
        '"sqltext":"DELETE FROM crm.orders","user":"carol[carol] @  [10.0.0.9]","host":"","os_user":"",'
        '"ip":"10.0.0.9","db":"crm"}}',
        "Nov 27 17:00:04 db1 percona-audit: "
        '"Quit","7_x","2026-11-27T17:00:09 UTC","6",0,"carol","carol","","","","10.0.0.9","crm"',
        "Nov 27 17:00:04 db1 systemd[1]: Started something.",
    ]
    delete, logout = events(run(make(), lines))
    assert (delete.action, delete.object, delete.host) == ("delete", "db:crm.orders", "db1")
    assert logout.action == "logout"


def test_format_option_and_malformed_records() -> None:
    json_line = ('{"audit_record":{"name":"Quit","record":"7_x","timestamp":"2026-11-27T17:00:09 UTC",'
                 '"connection_id":"6","status":0,"user":"c","priv_user":"c","os_login":"","proxy_user":"",'
                 '"host":"","ip":"","db":""}}')
    assert events(run(make(format="json"), [json_line]))
    assert isinstance(run(make(format="csv"), [json_line])[0], ParseFailure)
    out = run(make(), [
        '{"audit_record":{"name":"Query","timestamp":"later"}}',
        '{"audit_record": 3}',
        '"Query","only","three"',
        "<AUDIT_RECORD>",
        "  <RECORD>1_x</RECORD>",
        "</AUDIT_RECORD>",
        "<SOMETHING/>",
        "plain text",
    ])  # fmt: skip
    assert len(out) == 6
    assert all(isinstance(o, ParseFailure) for o in out)


def test_ids_are_deterministic() -> None:
    for sample in sorted(SAMPLES.glob("*.log")):
        lines = sample.read_text().splitlines()
        first = [e.id for e in run(make(), lines) if isinstance(e, AccessEvent)]
        assert first == [e.id for e in run(make(), lines) if isinstance(e, AccessEvent)]
        assert len(set(first)) == len(first)


_SEEDS = [line for f in sorted(SAMPLES.glob("*.log")) for line in f.read_text().splitlines()]


GARBLED = garbled_lines(_SEEDS, max_seeds=10)


@settings(max_examples=300, deadline=None)
@given(GARBLED)
def test_garbled_input_never_raises(lines: list[str]) -> None:
    for item in run(make(), lines):
        assert isinstance(item, AccessEvent | ParseFailure)
        if isinstance(item, AccessEvent):
            assert item.action in ACTIONS
