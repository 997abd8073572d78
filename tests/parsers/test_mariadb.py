"""MariaDB server_audit parser: one test per quirk of the format (FORMATS.md §2)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pydantic
import pytest

from pii_guard.model import format_timestamp
from pii_guard.parsers.base import Outcome, ParseFailure, SourceContext
from pii_guard.parsers.mariadb import MariaDbAuditOptions, MariaDbAuditParser
from tests.parsers.feeding import events, run

REFERENCE = datetime(2026, 11, 27, 23, 0, tzinfo=UTC).timestamp()


def make(tz: tzinfo | None = None, mask: bool = True, **options: Any) -> MariaDbAuditParser:
    context = SourceContext(
        fingerprint=b"test", path="server_audit.log", tz=tz, reference_time=REFERENCE, mask_literals=mask
    )
    return MariaDbAuditParser(context, MariaDbAuditOptions.model_validate(options))


def test_denied_column_read_is_a_failure_not_an_access() -> None:
    # The READ row is logged before the statement is refused (1143); only the QUERY row says so.
    got = events(
        run(
            make(),
            [
                "20261127 16:21:56,vm,bob,127.0.0.1,12,30,READ,crm,customers,",
                "20261127 16:21:56,vm,bob,127.0.0.1,12,30,QUERY,crm,'SELECT ssn FROM customers',1143",
            ],
        )
    )
    assert len(got) == 1
    ev = got[0]
    assert (ev.action, ev.outcome, ev.error_code) == ("read", "failure", "1143")
    assert (ev.user, ev.source_ip, ev.object, ev.command) == ("bob", "127.0.0.1", "db:crm.customers", "SELECT")
    assert ev.statement == "SELECT ssn FROM customers"
    assert ev.dataset == "mariadb.audit"
    assert ev.fields["mariadb.audit.query_id"] == 30


def test_escaped_quotes_newlines_and_commas_in_the_query() -> None:
    query = (
        r"'SELECT c.full_name, c.email,\n       o.total\n  FROM customers c\n  JOIN orders o ON o.customer_id = c.id\n"
        r""" WHERE c.note = \'says "hi", twice\' AND c.x = \'a\\\\b\''"""
    )
    lines = [
        "20261127 16:21:56,vm,alice,127.0.0.1,11,23,READ,crm,customers,",
        "20261127 16:21:56,vm,alice,127.0.0.1,11,23,READ,crm,orders,",
        f"20261127 16:21:56,vm,alice,127.0.0.1,11,23,QUERY,crm,{query},0",
    ]
    raw = events(run(make(mask=False), lines))
    assert [e.object for e in raw] == ["db:crm.customers", "db:crm.orders"]
    assert raw[0].statement == (
        "SELECT c.full_name, c.email,\n       o.total\n  FROM customers c\n  JOIN orders o ON o.customer_id = c.id\n"
        " WHERE c.note = 'says \"hi\", twice' AND c.x = 'a\\\\b'"
    )
    masked = events(run(make(), lines))
    assert masked[0].statement is not None
    assert "says" not in masked[0].statement
    assert "twice" not in masked[0].statement
    assert masked[0].statement.startswith("SELECT c.full_name, c.email,\n       o.total\n")
    assert all(e.outcome == "success" for e in masked)


def test_masked_original_keeps_the_plugin_escaping() -> None:
    line = (
        "20261127 16:21:52,vm,root,localhost,4,9,QUERY,mysql,'INSERT INTO crm.customers VALUES "
        r"(1, \'Jane\'\'s\', \'x\\\\y\', \'a\nb\')',1146"
    )
    ev = events(run(make(), [line]))[0]
    assert ev.statement == "INSERT INTO crm.customers VALUES (?, '?', '?', '?')"
    assert ev.original == (
        "20261127 16:21:52,vm,root,localhost,4,9,QUERY,mysql,"
        r"'INSERT INTO crm.customers VALUES (?, \'?\', \'?\', \'?\')',1146"
    )
    assert "Jane" not in ev.original


def test_into_outfile_is_an_export_of_the_read_tables() -> None:
    got = events(
        run(
            make(),
            [
                "20261127 16:21:56,vm,alice,127.0.0.1,11,24,READ,crm,customers,",
                "20261127 16:21:56,vm,alice,127.0.0.1,11,24,QUERY,crm,'SELECT email, ssn FROM customers INTO OUTFILE"
                r" \'/srv/demo/maria/export.csv\' FIELDS TERMINATED BY \',\'',0",
                "20261127 16:21:56,vm,alice,127.0.0.1,11,30,READ,crm,orders,",
                "20261127 16:21:56,vm,alice,127.0.0.1,11,30,QUERY,crm,"
                r"'SELECT * FROM orders INTO DUMPFILE \'/tmp/o\'',0",
            ],
        )
    )
    assert [(e.action, e.object, e.fields["file.path"]) for e in got] == [
        ("export", "db:crm.customers", "/srv/demo/maria/export.csv"),
        ("export", "db:crm.orders", "/tmp/o"),
    ]


def test_failed_connect_is_a_failed_login_and_its_disconnect_no_logout() -> None:
    got = events(
        run(
            make(),
            [
                "20261127 16:21:56,vm,alice,127.0.0.1,13,0,FAILED_CONNECT,,,1045",
                "20261127 16:21:56,vm,alice,127.0.0.1,13,0,DISCONNECT,,,0",
                "20261127 16:21:56,vm,alice,127.0.0.1,14,0,CONNECT,crm,,0",
                "20261127 16:21:56,vm,alice,127.0.0.1,14,0,DISCONNECT,crm,,0",
            ],
        )
    )
    assert [(e.action, e.outcome, e.error_code) for e in got] == [
        ("login", "failure", "1045"),
        ("login", "success", None),
        ("logout", "success", None),
    ]
    assert got[0].user == "alice"
    assert got[0].source_ip == "127.0.0.1"


@pytest.mark.parametrize(
    ("host", "ip", "port", "domain"),
    [
        ("127.0.0.1", "127.0.0.1", None, None),
        ("10.1.2.3:51234", "10.1.2.3", 51234, None),
        ("2001:db8::5:51234", "2001:db8::5", 51234, None),  # 51234 is no IPv6 group: a port
        ("[2001:db8::7]:3306", "2001:db8::7", 3306, None),
        ("::1", "::1", None, None),
        ("app1.example.com", None, None, "app1.example.com"),
        ("app1.example.com:40000", None, 40000, "app1.example.com"),
        ("localhost", None, None, None),
        ("", None, None, None),
    ],
)
def test_host_field_with_and_without_port(host: str, ip: str | None, port: int | None, domain: str | None) -> None:
    ev = events(run(make(), [f"20261127 16:21:56,vm,alice,{host},14,0,CONNECT,crm,,0"]))[0]
    assert (ev.source_ip, ev.source_port, ev.fields.get("source.domain")) == (ip, port, domain)


def test_ambiguous_ipv6_port_is_split_once_the_server_is_known_to_write_ports() -> None:
    # `::1:5432` is a valid IPv6 address and also `::1` + port 5432: before any unambiguous host:port it
    # is taken whole; after one (MariaDB 12 writes a port on every TCP host) it is split.
    lines = [
        "20261127 16:21:56,vm,a,::1:5432,1,0,CONNECT,,,0",
        "20261127 16:21:56,vm,a,10.0.0.1:4000,2,0,CONNECT,,,0",
        "20261127 16:21:56,vm,a,::1:5432,3,0,CONNECT,,,0",
    ]
    got = events(run(make(), lines))
    assert [(e.source_ip, e.source_port) for e in got] == [("::1:5432", None), ("10.0.0.1", 4000), ("::1", 5432)]
    forced = events(run(make(host_port="always"), lines[:1]))
    assert (forced[0].source_ip, forced[0].source_port) == ("::1", 5432)
    never = events(run(make(host_port="never"), lines[1:2]))
    assert (never[0].source_ip, never[0].source_port) == (None, None)  # "10.0.0.1:4000" is then a name
    assert never[0].fields["source.domain"] == "10.0.0.1:4000"


def test_syslog_output_rfc3339_and_traditional() -> None:
    parser = make()
    got = events(
        run(
            parser,
            [
                "2026-11-27T16:22:52.647226+00:00 vm mysql-server_auditing: pii-guard-lab "
                "vm,alice,127.0.0.1,17,40,READ,crm,customers,",
                "2026-11-27T16:22:52.647461+00:00 vm mysql-server_auditing: pii-guard-lab "
                "vm,alice,127.0.0.1,17,40,QUERY,crm,'SELECT email, ssn FROM customers WHERE id IN (1,2,3)',0",
                "Nov 27 16:22:52 vm mysql-server_auditing: pii-guard-lab vm,bob,127.0.0.1,18,0,FAILED_CONNECT,,,1045",
                "Nov 27 16:22:53 vm sshd[17383]: Connection from 127.0.0.1 port 42948 on 127.0.0.1 port 2222",
            ],
        )
    )
    assert [(e.action, e.outcome, e.user, format_timestamp(e.time_us)) for e in got] == [
        ("read", "success", "alice", "2026-11-27T16:22:52.647226Z"),
        ("login", "failure", "bob", "2026-11-27T16:22:52.000000Z"),
    ]
    assert got[0].statement == "SELECT email, ssn FROM customers WHERE id IN (?,?,?)"
    assert got[0].host == "vm"


def test_syslog_info_of_several_words_and_empty_info() -> None:
    line = "2026-11-27T16:22:52+00:00 db1 mysql-server_auditing: audit, eu-west vm,alice,10.0.0.9,17,0,CONNECT,crm,,0"
    ev = events(run(make(syslog_info_words=2), [line]))[0]
    assert (ev.user, ev.source_ip) == ("alice", "10.0.0.9")
    empty = "2026-11-27T16:22:52+00:00 db1 mysql-server_auditing:  vm,alice,10.0.0.9,17,0,CONNECT,crm,,0"
    assert events(run(make(), [empty]))[0].user == "alice"
    # Without the option, the record fits after "audit," too (serverhost "audit", user " eu-west vm,alice"); the
    # syslog host (db1) is neither serverhost: a parse failure, not an event of a made-up user.
    out = run(make(), [line])
    assert len(out) == 1
    assert isinstance(out[0], ParseFailure)
    assert "ambiguous" in out[0].reason
    assert "syslog_info_words" in out[0].reason


def test_output_file_rejects_syslog_lines_and_syslog_rejects_file_lines() -> None:
    syslog_line = "Nov 27 16:22:52 vm mysql-server_auditing: x vm,bob,127.0.0.1,18,0,FAILED_CONNECT,,,1045"
    file_line = "20261127 16:21:56,vm,alice,127.0.0.1,13,0,FAILED_CONNECT,,,1045"
    assert isinstance(run(make(output="file"), [syslog_line])[0], ParseFailure)
    assert isinstance(run(make(output="syslog"), [file_line])[0], ParseFailure)
    assert len(events(run(make(), [syslog_line, file_line]))) == 2


def test_zone_less_time_in_the_configured_zone() -> None:
    ev = events(run(make(ZoneInfo("America/New_York")), ["20261127 11:27:40,vm,alice,127.0.0.1,3,0,CONNECT,crm,,0"]))
    assert format_timestamp(ev[0].time_us) == "2026-11-27T16:27:40.000000Z"
    utc = events(run(make(None), ["20261127 11:27:40,vm,alice,127.0.0.1,3,0,CONNECT,crm,,0"]))
    assert format_timestamp(utc[0].time_us) == "2026-11-27T11:27:40.000000Z"


def test_repeated_dst_hour_reads_the_second_pass_once_the_log_has_gone_through_the_first() -> None:
    # America/New_York leaves DST on 2026-11-01 at 02:00 EDT -> 01:00 EST: 01:00-01:59 happens twice.
    stamps = ["00:59:59", "01:30:00", "01:59:59", "01:00:10", "01:30:00", "02:00:00"]
    lines = [f"20261101 {s},vm,a,127.0.0.1,{i},0,CONNECT,,,0" for i, s in enumerate(stamps, 1)]
    got = events(run(make(ZoneInfo("America/New_York")), lines))
    assert [format_timestamp(e.time_us)[11:19] for e in got] == [
        "04:59:59",  # EDT
        "05:30:00",  # EDT, first pass
        "05:59:59",
        "06:00:10",  # EST: the clock went back
        "06:30:00",  # EST, second pass
        "07:00:00",
    ]
    # A file that starts inside the repeated hour cannot know which pass it is: the first (fold=0).
    first = events(run(make(ZoneInfo("America/New_York")), [lines[4]]))
    assert format_timestamp(first[0].time_us)[11:19] == "05:30:00"


def test_table_rows_wait_for_their_query_and_pending_offset_points_at_the_first() -> None:
    parser = make()
    row = "20261127 16:21:56,vm,alice,127.0.0.1,11,22,READ,crm,customers,"
    assert parser.feed(100, row) == ()
    assert parser.feed(200, "20261127 16:21:56,vm,alice,127.0.0.1,11,22,READ,crm,orders,") == ()
    assert parser.pending_offset() == 100
    out = events(parser.feed(300, "20261127 16:21:56,vm,alice,127.0.0.1,11,22,QUERY,crm,'SELECT 1',0"))
    assert [e.object for e in out] == ["db:crm.customers", "db:crm.orders"]
    assert parser.pending_offset() is None
    assert out[0].id != out[1].id
    again = make()
    again.feed(100, row)
    assert events(again.flush())[0].id == out[0].id  # deterministic: offset + line, not arrival


def test_rows_without_a_query_are_released_as_unknown() -> None:
    lines = [
        "20261127 16:21:35,vm,boot,,1,10,CREATE,mysql,db,",
        "20261127 16:21:35,vm,boot,,1,18,WRITE,mysql,global_priv,",
    ]
    at_flush = events(run(make(), lines))
    assert [(e.action, e.outcome, e.command, e.statement) for e in at_flush] == [
        ("ddl", "unknown", "CREATE", None),
        ("write", "unknown", "WRITE", None),
    ]
    at_disconnect = events(run(make(), [*lines, "20261127 16:21:36,vm,boot,,1,0,DISCONNECT,,,0"], flush=False))
    assert [e.outcome for e in at_disconnect] == ["unknown", "unknown", "success"]


def test_a_query_row_after_its_rows_were_released_adds_nothing() -> None:
    """A long SELECT: its READ rows are written when it starts, the log goes quiet, the daemon releases them
    (idle flush); its QUERY row comes minutes later. Also when the plugin rotated its file in between: the
    next file's parser gets what the old one released (carry_over), as after a restart (snapshot)."""
    rows = ["20261127 16:21:56,vm,alice,10.0.0.7,11,22,READ,crm,customers,",
            "20261127 16:21:56,vm,alice,10.0.0.7,11,22,READ,crm,orders,"]
    query = "20261127 16:31:02,vm,alice,10.0.0.7,11,22,QUERY,crm,'SELECT * FROM customers JOIN orders',0"
    other = "20261127 16:31:03,vm,alice,10.0.0.7,11,23,QUERY,crm,'SELECT * FROM orders',0"
    def accesses(outcomes: list[Outcome]) -> list[tuple[str | None, object]]:
        return [(e.object, e.fields["mariadb.audit.query_id"]) for e in events(outcomes)]

    parser = make()
    assert run(parser, rows, flush=False) == []
    released = events(parser.flush())
    assert [(e.object, e.outcome) for e in released] == [("db:crm.customers", "unknown"), ("db:crm.orders", "unknown")]
    assert accesses(run(parser, [query, other], flush=False)) == [("db:crm.orders", 23)]

    old = make()
    run(old, rows, flush=True)
    for state in (old.carry_over(), old.snapshot()):
        successor = make()
        successor.restore(state)
        assert accesses(run(successor, [query, other])) == [("db:crm.orders", 23)]
    assert accesses(run(make(), [query])) == [("db:crm.customers", 22), ("db:crm.orders", 22)]


def test_a_slow_export_whose_rows_were_released_is_the_export_when_its_query_row_comes() -> None:
    """A real 10.11's slow SELECT ... INTO OUTFILE (the OUTFILE's directory renamed): its READ row was released
    as a read of unknown outcome (the log was quiet 6 s, or the plugin rotated its file); the QUERY row is
    then the export, whichever parser reads it: the same one, the next file's (carry_over), or one restored
    after a restart (snapshot, also as written before objects were saved in it)."""
    row = "20261130 04:51:39,vm,alice,127.0.0.1,39,193,READ,crm,customers,"
    query = ("20261130 04:51:43,vm,alice,127.0.0.1,39,193,QUERY,crm,'SELECT email, ssn, SLEEP(1) FROM customers "
             "INTO OUTFILE \\'/var/lib/mysql-files/slow-export.csv\\'',0")  # fmt: skip
    parser = make()
    run(parser, [row], flush=False)
    assert [(e.action, e.outcome) for e in events(parser.flush())] == [("read", "unknown")]
    exported = events(run(parser, [query]))
    assert [(e.action, e.outcome, e.object, e.user, e.fields["file.path"]) for e in exported] == [
        ("export", "success", "db:crm.customers", "alice", "/var/lib/mysql-files/slow-export.csv")]
    assert exported[0].statement == "SELECT email, ssn, SLEEP(?) FROM customers INTO OUTFILE '?'"
    old = make()
    run(old, [row], flush=True)
    for state in (old.carry_over(), old.snapshot()):
        successor = make()
        successor.restore(state)
        assert [(e.action, e.object) for e in events(run(successor, [query]))] == [("export", "db:crm.customers")]
    earlier = make()  # a state saved by a version that kept no objects: the QUERY row adds nothing, as then
    earlier.restore({"released": [["vm", "39", "193"]]})
    assert run(earlier, [query]) == []


def test_pending_rows_are_bounded() -> None:
    parser = make(max_pending_rows=3)
    lines = [
        "20261127 16:21:35,vm,a,10.0.0.1,1,5,READ,crm,t1,",
        "20261127 16:21:35,vm,a,10.0.0.1,1,6,READ,crm,t2,",
        "20261127 16:21:35,vm,b,10.0.0.2,2,7,READ,crm,t3,",
        "20261127 16:21:35,vm,b,10.0.0.2,2,8,READ,crm,t4,",
    ]
    out = events(run(parser, lines, flush=False))
    assert [(e.object, e.outcome) for e in out] == [("db:crm.t1", "unknown"), ("db:crm.t2", "unknown")]
    assert parser.pending_offset() == len(lines[0]) + len(lines[1]) + 2


def test_a_stored_procedure_call_keeps_its_rows_across_the_inner_statements() -> None:
    # Real 10.11 order: CALL's own row (id 7), the inner statements (8, 9) with their QUERY rows, then CALL's.
    # CALL's own READ of mysql.proc is the server looking the routine up: the CALL is an execute of crm.p.
    got = events(
        run(
            make(),
            [
                "20261127 18:05:20,vm,root,localhost,3,7,READ,mysql,proc,",
                "20261127 18:05:20,vm,root,localhost,3,8,READ,crm,customers,",
                "20261127 18:05:20,vm,root,localhost,3,8,QUERY,crm,'SELECT COUNT(*) FROM crm.customers',0",
                "20261127 18:05:20,vm,root,localhost,3,9,WRITE,crm,log,",
                r"20261127 18:05:20,vm,root,localhost,3,9,QUERY,crm,'INSERT INTO crm.log(msg) VALUES (\'x\')',0",
                "20261127 18:05:20,vm,root,localhost,3,7,QUERY,crm,'CALL crm.p()',1644",
            ],
            flush=False,
        )
    )
    assert [(e.action, e.object, e.outcome, e.command) for e in got] == [
        ("read", "db:crm.customers", "success", "SELECT"),
        ("write", "db:crm.log", "success", "INSERT"),
        ("execute", "db:crm.p", "failure", "CALL"),
    ]


def test_engine_statistics_reads_are_ignored_by_default_and_the_list_is_configurable() -> None:
    lines = [
        "20261127 16:21:52,vm,root,localhost,9,11,READ,crm,customers,",
        "20261127 16:21:52,vm,root,localhost,9,11,READ,mysql,table_stats,",
        "20261127 16:21:52,vm,root,localhost,9,11,READ,mysql,column_stats,",
        "20261127 16:21:52,vm,root,localhost,9,11,READ,mysql,index_stats,",
        "20261127 16:21:52,vm,root,localhost,9,11,QUERY,crm,'SELECT COUNT(*) FROM crm.customers',0",
    ]
    assert [e.object for e in events(run(make(), lines))] == ["db:crm.customers"]
    custom = events(run(make(ignore_objects=["crm.*"]), lines))
    assert [e.object for e in custom] == ["db:mysql.table_stats", "db:mysql.column_stats", "db:mysql.index_stats"]


def test_permission_changes_are_one_event_without_the_grant_table_writes() -> None:
    got = events(
        run(
            make(),
            [
                "20261127 16:21:56,vm,root,localhost,10,20,WRITE,mysql,tables_priv,",
                "20261127 16:21:56,vm,root,localhost,10,20,WRITE,mysql,columns_priv,",
                r"20261127 16:21:56,vm,root,localhost,10,20,QUERY,crm,'GRANT SELECT (id, full_name) ON customers TO"
                r" \'bob\'@\'127.0.0.1\'',0",
                r"20261127 16:21:52,vm,root,localhost,4,6,QUERY,mysql,'CREATE USER \'alice\'@\'127.0.0.1\' IDENTIFIED"
                " BY *****',0",
                r"20261127 16:21:52,vm,root,localhost,4,7,QUERY,crm,'REVOKE FILE ON *.* FROM \'eve\'@\'%\'',1133",
            ],
        )
    )
    assert [(e.action, e.outcome, e.object, e.command, e.fields["user.target.name"]) for e in got] == [
        ("permission", "success", "db:crm.customers", "GRANT", "bob"),
        ("permission", "success", None, "CREATE", "alice"),
        ("permission", "failure", "db:*.*", "REVOKE", "eve"),
    ]
    assert got[0].statement == "GRANT SELECT (id, full_name) ON customers TO '?'@'?'"


def test_ddl_events() -> None:
    got = events(
        run(
            make(),
            [
                "20261127 16:21:52,vm,root,localhost,4,5,QUERY,,'CREATE DATABASE crm',0",
                "20261127 16:21:52,vm,root,localhost,4,8,CREATE,crm,customers,",
                "20261127 16:21:52,vm,root,localhost,4,8,QUERY,mysql,'CREATE TABLE crm.customers (id INT)',0",
                "20261127 18:05:20,vm,root,localhost,3,14,ALTER,crm,log2,",
                "20261127 18:05:20,vm,root,localhost,3,14,READ,crm,log2,",
                "20261127 18:05:20,vm,root,localhost,3,14,QUERY,crm,'ALTER TABLE crm.log2 ADD COLUMN z INT',0",
                "20261127 18:05:20,vm,root,localhost,3,13,RENAME,crm,log|crm.log2,",
                "20261127 18:05:20,vm,root,localhost,3,13,QUERY,crm,'RENAME TABLE crm.log TO crm.log2',0",
                "20261127 18:05:37,vm,eve,127.0.0.1,8,31,QUERY,crm,'CREATE TABLE z (a int)',1142",
            ],
        )
    )
    assert [(e.action, e.outcome, e.object) for e in got] == [
        ("ddl", "success", "db:crm"),
        ("ddl", "success", "db:crm.customers"),
        ("ddl", "success", "db:crm.log2"),  # ALTER's internal table copy is not a read
        ("ddl", "success", "db:crm.log"),
        ("ddl", "failure", "db:crm.z"),
    ]
    assert got[3].fields["mariadb.audit.new_table"] == "crm.log2"
    assert got[4].error_code == "1142"


def test_create_table_as_select_reads_its_source() -> None:
    got = events(
        run(
            make(),
            [
                "20261127 18:06:13,vm,root,localhost,11,42,READ,crm,customers,",
                "20261127 18:06:13,vm,root,localhost,11,42,CREATE,crm,copy,",
                "20261127 18:06:13,vm,root,localhost,11,42,WRITE,crm,copy,",
                "20261127 18:06:13,vm,root,localhost,11,42,QUERY,crm,"
                "'CREATE TABLE crm.copy AS SELECT * FROM crm.customers',0",
            ],
        )
    )
    assert [(e.action, e.object) for e in got] == [
        ("read", "db:crm.customers"),
        ("ddl", "db:crm.copy"),
        ("write", "db:crm.copy"),
    ]


def test_table_level_denial_has_no_table_row_and_still_is_a_failed_access() -> None:
    got = events(
        run(
            make(),
            [
                "20261127 18:06:13,vm,eve,127.0.0.1,12,46,QUERY,,'SELECT * FROM crm.secret',1142",
                "20261127 18:06:13,vm,eve,127.0.0.1,15,53,QUERY,crm,'UPDATE customers SET id=3',1142",
                r"20261127 18:06:13,vm,eve,127.0.0.1,15,54,QUERY,crm,'SELECT 1 INTO OUTFILE \'/tmp/x\' FROM t',1045",
                "20261127 18:06:13,vm,eve,127.0.0.1,15,55,QUERY,crm,'SELECT 1',0",
                "20261127 18:06:13,vm,eve,127.0.0.1,15,56,QUERY,crm,'SET autocommit = 0',0",
            ],
        )
    )
    assert [(e.action, e.outcome, e.object, e.error_code) for e in got] == [
        ("read", "failure", "db:crm.secret", "1142"),
        ("write", "failure", "db:crm.customers", "1142"),
        ("export", "failure", "db:crm.t", "1045"),
    ]


def test_lines_that_do_not_parse_are_failures() -> None:
    bad = [
        "this is not a server_audit line",
        "20261127 16:21:56 vm,alice,127.0.0.1,11,22,READ,crm,customers,",  # no comma after the stamp
        "20261327 16:21:56,vm,alice,127.0.0.1,11,22,READ,crm,customers,",  # month 13
        "20261127 16:21:56,vm,alice,127.0.0.1,11,22,FROBNICATE,crm,customers,",
        "20261127 16:21:56,vm,alice,127.0.0.1,11,22,READ,crm,customers,0",
        "20261127 16:21:56,vm,alice,127.0.0.1,11,22,QUERY,crm,'SELECT 1",
        r"20261127 16:21:56,vm,alice,127.0.0.1,11,22,QUERY,crm,'SELECT \',0",
        "20261127 16:21:56,vm,alice,127.0.0.1,eleven,22,QUERY,crm,'SELECT 1',0",
    ]
    out = run(make(), bad)
    assert len(out) == len(bad)
    assert all(isinstance(o, ParseFailure) for o in out)


def test_a_comma_in_the_user_name_does_not_shift_the_fields() -> None:
    ev = events(run(make(), ["20261127 16:21:56,vm,a,b,10.0.0.1,13,0,FAILED_CONNECT,,,1045"]))[0]
    assert (ev.user, ev.source_ip, ev.fields["mariadb.audit.connection_id"]) == ("a,b", "10.0.0.1", 13)


def test_options_are_strict() -> None:
    with pytest.raises(pydantic.ValidationError):
        MariaDbAuditOptions.model_validate({"outptu": "file"})
    with pytest.raises(pydantic.ValidationError):
        MariaDbAuditOptions.model_validate({"output": "stderr"})
    # `--set ignore_objects=...` on the command line is one comma-separated string.
    assert MariaDbAuditOptions.model_validate({"ignore_objects": "a.b, c.*"}).ignore_objects == ("a.b", "c.*")


def test_delete_and_truncate_are_deletes_as_in_the_other_sql_parsers() -> None:
    # Lines from MariaDB 10.11 server_audit (CONNECT,QUERY,TABLE): a DELETE refused at table level (1142) logs
    # no TABLE row; TRUNCATE of a MyISAM table logs a CREATE row (the table is recreated). Query 265, a QUERY
    # row with no TABLE row of its own, is read from its text, as a query cache hit or an audit without TABLE
    # must be: whatever made the server log it apart from query 266, it is a delete of its own.
    got = events(
        run(
            make(),
            [
                "20261128 12:01:35,vm,alice,127.0.0.1,24,61,WRITE,shop,customers,",
                "20261128 12:01:35,vm,alice,127.0.0.1,24,61,QUERY,shop,'DELETE FROM customers WHERE id = 10',0",
                "20261128 12:02:45,vm,alice,127.0.0.1,89,265,QUERY,shop,'TRUNCATE TABLE imports',0",
                "20261128 12:02:45,vm,alice,127.0.0.1,89,266,WRITE,shop,imports,",
                "20261128 12:02:45,vm,alice,127.0.0.1,89,266,QUERY,shop,'TRUNCATE TABLE imports',0",
                "20261128 12:02:46,vm,bob,127.0.0.1,90,270,QUERY,shop,'DELETE FROM customers',1142",
                "20261128 12:02:47,vm,alice,127.0.0.1,89,271,WRITE,shop,imports,",
                "20261128 12:02:47,vm,alice,127.0.0.1,89,271,QUERY,shop,'UPDATE imports SET a = 1',0",
                "20261129 01:18:28,vm,alice,127.0.0.1,6,29,CREATE,shop,log,",
                "20261129 01:18:28,vm,alice,127.0.0.1,6,29,QUERY,shop,'TRUNCATE TABLE log',0",
            ],
        )
    )
    assert [(e.action, e.outcome, e.object, e.command) for e in got] == [
        ("delete", "success", "db:shop.customers", "DELETE"),
        ("delete", "success", "db:shop.imports", "TRUNCATE"),  # query 265
        ("delete", "success", "db:shop.imports", "TRUNCATE"),
        ("delete", "failure", "db:shop.customers", "DELETE"),
        ("write", "success", "db:shop.imports", "UPDATE"),
        ("delete", "success", "db:shop.log", "TRUNCATE"),
    ]


# Real lines of MariaDB 10.11.19 (tests/samples/mariadb-audit/server_audit-definer-and-no-table-events.log).


def test_a_definer_routine_read_is_the_callers_with_the_definer_as_effective_user() -> None:
    # The READ row inside a SQL SECURITY DEFINER procedure names the definer (root,localhost) with the caller's
    # connection and query id; the QUERY row after it names the caller.
    lines = [
        "20261129 01:18:28,vm,bob,127.0.0.1,5,21,READ,mysql,proc,",
        "20261129 01:18:28,vm,root,localhost,5,22,READ,shop,customers,",
        "20261129 01:18:28,vm,bob,127.0.0.1,5,22,QUERY,shop,'SELECT email, ssn FROM shop.customers WHERE id =  "
        r"NAME_CONST(\'cid\',1)',0",
        "20261129 01:18:28,vm,bob,127.0.0.1,5,21,QUERY,shop,'CALL shop.get_customer(1)',0",
    ]
    got = events(run(make(), lines))
    assert [(e.action, e.outcome, e.user, e.source_ip, e.object, e.command) for e in got] == [
        ("read", "success", "bob", "127.0.0.1", "db:shop.customers", "SELECT"),
        ("execute", "success", "bob", "127.0.0.1", "db:shop.get_customer", "CALL"),
    ]
    assert got[0].fields["user.effective.name"] == "root"
    assert got[0].original == lines[1]  # the row as logged: the definer and its host stay in the evidence
    assert "user.effective.name" not in got[1].fields
    # A row whose QUERY never comes keeps the user it names.
    alone = events(run(make(), lines[1:2]))
    assert [(e.user, e.outcome) for e in alone] == [("root", "unknown")]
    assert "user.effective.name" not in alone[0].fields


def test_without_table_events_the_query_rows_are_the_accesses() -> None:
    # server_audit_events = 'CONNECT,QUERY': no TABLE rows at all; the statements say what was accessed.
    lines = [
        "20261129 01:18:28,vm,alice,127.0.0.1,8,34,QUERY,shop,'SELECT email, ssn FROM customers WHERE id = 1',0",
        "20261129 01:18:28,vm,alice,127.0.0.1,8,35,QUERY,shop,'SELECT c.email, o.id FROM customers c JOIN orders o "
        "ON o.customer_id = c.id',0",
        "20261129 01:18:28,vm,alice,127.0.0.1,8,36,QUERY,shop,'SELECT * FROM customers, orders WHERE customer_id = "
        "customers.id',0",
        "20261129 01:18:28,vm,alice,127.0.0.1,8,37,QUERY,shop,'INSERT INTO orders VALUES (1, 1)',0",
        "20261129 01:18:28,vm,alice,127.0.0.1,8,39,QUERY,shop,'INSERT INTO shop.log VALUES (NEW.a)',0",  # trigger
        "20261129 01:18:28,vm,alice,127.0.0.1,8,38,QUERY,shop,'INSERT INTO imports SELECT id FROM customers',0",
        r"20261129 01:18:28,vm,alice,127.0.0.1,8,41,QUERY,shop,'UPDATE `shop`.customers SET email = \'z@x.org\' "
        "WHERE id = 2',0",
        "20261129 01:18:28,vm,alice,127.0.0.1,8,42,QUERY,shop,'DELETE FROM orders WHERE id = 1',0",
        r"20261129 01:18:28,vm,alice,127.0.0.1,8,43,QUERY,shop,'SELECT email, ssn FROM customers INTO OUTFILE "
        r"\'/srv/demo/maria/export-connect-query.csv\'',0",
        "20261129 01:18:28,vm,alice,127.0.0.1,8,44,QUERY,shop,'TRUNCATE imports',0",
        "20261129 01:18:28,vm,alice,127.0.0.1,8,45,QUERY,shop,'WITH c AS (SELECT * FROM customers) SELECT * FROM c',0",
        "20261129 01:18:28,vm,alice,127.0.0.1,8,46,QUERY,shop,'SELECT 1',0",
        "20261129 01:18:28,vm,alice,127.0.0.1,8,47,QUERY,shop,'SELECT NOW() FROM DUAL',0",
        "20261129 01:18:28,vm,alice,127.0.0.1,8,48,QUERY,shop,'SET @x = 5',0",
        "20261129 01:18:28,vm,alice,127.0.0.1,8,49,QUERY,shop,'SELECT * FROM nosuch',1146",
    ]
    got = events(run(make(), lines))
    assert [(e.fields["mariadb.audit.query_id"], e.action, e.outcome, e.object, e.command) for e in got] == [
        (34, "read", "success", "db:shop.customers", "SELECT"),
        (35, "read", "success", "db:shop.customers", "SELECT"),
        (35, "read", "success", "db:shop.orders", "SELECT"),
        (36, "read", "success", "db:shop.customers", "SELECT"),
        (36, "read", "success", "db:shop.orders", "SELECT"),
        (37, "write", "success", "db:shop.orders", "INSERT"),
        (39, "write", "success", "db:shop.log", "INSERT"),
        (38, "write", "success", "db:shop.imports", "INSERT"),
        (38, "read", "success", "db:shop.customers", "INSERT"),
        (41, "write", "success", "db:shop.customers", "UPDATE"),
        (42, "delete", "success", "db:shop.orders", "DELETE"),
        (43, "export", "success", "db:shop.customers", "SELECT"),
        (44, "delete", "success", "db:shop.imports", "TRUNCATE"),
        (45, "read", "success", "db:shop.customers", "WITH"),
        (49, "read", "failure", "db:shop.nosuch", "SELECT"),
    ]
    assert all(e.user == "alice" and e.source_ip == "127.0.0.1" for e in got)
    assert got[11].fields["file.path"] == "/srv/demo/maria/export-connect-query.csv"
    assert got[0].statement == "SELECT email, ssn FROM customers WHERE id = ?"
    assert len({e.id for e in got}) == len(got), "two events of one line have different ids"
    assert got[1].id != got[2].id


def test_rows_of_the_query_id_are_the_accesses_and_its_text_adds_none() -> None:
    # CONNECT,QUERY,TABLE: the TABLE rows are the accesses, the statement's text is not read again. A SELECT the
    # query cache answered (28) logs no READ row: its text is. A trigger's statement (26) logs its QUERY row
    # while the firing INSERT's rows (25, which hold its table) still wait: no event of its own.
    got = events(
        run(
            make(),
            [
                "20261129 01:18:28,vm,alice,127.0.0.1,6,25,WRITE,shop,imports,",
                "20261129 01:18:28,vm,alice,127.0.0.1,6,25,WRITE,shop,log,",
                "20261129 01:18:28,vm,alice,127.0.0.1,6,26,QUERY,shop,'INSERT INTO shop.log VALUES (NEW.a)',0",
                "20261129 01:18:28,vm,alice,127.0.0.1,6,25,QUERY,shop,'INSERT INTO imports VALUES (1)',0",
                "20261129 01:18:28,vm,alice,127.0.0.1,6,27,READ,shop,customers,",
                "20261129 01:18:28,vm,alice,127.0.0.1,6,27,QUERY,shop,'SELECT email FROM customers WHERE id = 1',0",
                "20261129 01:18:28,vm,alice,127.0.0.1,6,28,QUERY,shop,'SELECT email FROM customers WHERE id = 1',0",
                "20261127 16:21:56,vm,alice,127.0.0.1,11,23,READ,crm,customers,",
                "20261127 16:21:56,vm,alice,127.0.0.1,11,23,READ,crm,orders,",
                "20261127 16:21:56,vm,alice,127.0.0.1,11,23,QUERY,crm,'SELECT c.full_name FROM customers c JOIN "
                "orders o ON o.customer_id = c.id',0",
            ],
        )
    )
    assert [
        (e.fields["mariadb.audit.query_id"], e.action, e.object, e.fields.get("mariadb.audit.table")) for e in got
    ] == [
        (25, "write", "db:shop.imports", "imports"),
        (25, "write", "db:shop.log", "log"),
        (27, "read", "db:shop.customers", "customers"),
        (28, "read", "db:shop.customers", None),
        (23, "read", "db:crm.customers", "customers"),
        (23, "read", "db:crm.orders", "orders"),
    ]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("UPDATE `shop`.customers SET a = 1", [("write", "db:shop.customers")]),
        ("SELECT * FROM `shop`.`customers`", [("read", "db:shop.customers")]),
        (
            "SELECT * FROM crm.`customers` AS c, `orders` o WHERE 1",
            [("read", "db:crm.customers"), ("read", "db:shop.orders")],
        ),
        ("LOAD DATA INFILE '/srv/x.csv' INTO TABLE imports", [("write", "db:shop.imports")]),
        ("TRUNCATE imports", [("delete", "db:shop.imports")]),
        ("DELETE QUICK FROM `imports` WHERE a = 1", [("delete", "db:shop.imports")]),
        (
            "INSERT INTO t (a) SELECT a FROM s ON DUPLICATE KEY UPDATE a = 2",
            [("write", "db:shop.t"), ("read", "db:shop.s")],
        ),
        ("SELECT a FROM t WHERE id = 1 FOR UPDATE", [("read", "db:shop.t")]),
        ("SELECT a INTO @v FROM t LIMIT 1, 2", [("read", "db:shop.t")]),
        ("SELECT * FROM t WHERE x IN (SELECT y FROM crm.u)", [("read", "db:shop.t"), ("read", "db:crm.u")]),
        ("WITH RECURSIVE r (n) AS (SELECT 1 UNION SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r", []),
        ("SELECT * FROM mysql.table_stats", []),  # ignored by default
        ("SELECT @@version", []),
        ("HANDLER t READ FIRST", [("read", "db:shop.t")]),
        ("HANDLER t OPEN", []),
        ("HANDLER t CLOSE", []),
        ("SELECT * FROM INFORMATION_SCHEMA.`TABLES`", [("read", "db:information_schema.tables")]),
        ("SELECT * FROM Performance_Schema.threads", [("read", "db:performance_schema.threads")]),
        ("SELECT * FROM MYSQL.user", [("read", "db:mysql.user")]),
        ("SELECT * FROM Shop.Customers", [("read", "db:Shop.Customers")]),  # names of other schemas keep their case
    ],
)
def test_tables_named_by_a_statement_without_table_rows(sql: str, expected: list[tuple[str, str]]) -> None:
    line = f"20261129 01:18:28,vm,alice,127.0.0.1,8,34,QUERY,shop,'{sql.replace(chr(39), chr(92) + chr(39))}',0"
    assert [(e.action, e.object) for e in events(run(make(), [line]))] == expected


def test_create_temporary_table_as_select_reads_its_source() -> None:
    # A temporary table shows no WRITE row; the READ of the source is still the user's read.
    got = events(
        run(
            make(),
            [
                "20261129 01:18:28,vm,alice,127.0.0.1,6,30,READ,shop,customers,",
                "20261129 01:18:28,vm,alice,127.0.0.1,6,30,QUERY,shop,'CREATE TEMPORARY TABLE tmp AS SELECT * FROM "
                "customers',0",
            ],
        )
    )
    assert [(e.action, e.object) for e in got] == [("read", "db:shop.customers"), ("ddl", "db:shop.tmp")]


def test_syslog_info_with_a_comma_is_told_apart_by_the_syslog_host() -> None:
    # server_audit_syslog_info = 'dc1,rack3': the record also fits from "dc1" (user "rack3 vm,alice").
    lines = [
        "2026-11-29T01:18:28.590004+00:00 vm mysql-server_auditing: dc1,rack3 vm,alice,127.0.0.1,19,0,CONNECT,shop,,0",
        "2026-11-29T01:18:28.590106+00:00 vm mysql-server_auditing: dc1,rack3 vm,alice,127.0.0.1,19,89,QUERY,shop,"
        "'SELECT email FROM customers WHERE id = 2',0",
        "2026-11-29T01:18:28.611130+00:00 vm mysql-server_auditing: dc1, rack 3 vm,alice,127.0.0.1,22,95,READ,shop,"
        "customers,",
        "2026-11-29T01:18:28.611290+00:00 vm mysql-server_auditing: dc1, rack 3 vm,alice,127.0.0.1,22,95,QUERY,shop,"
        "'SELECT email FROM customers WHERE id = 1',0",
    ]
    got = events(run(make(), lines))
    assert [(e.action, e.user, e.source_ip, e.host) for e in got] == [
        ("login", "alice", "127.0.0.1", "vm"),
        ("read", "alice", "127.0.0.1", "vm"),
        ("read", "alice", "127.0.0.1", "vm"),
    ]
    # Relayed under another host name, nothing tells the two apart: a parse failure that says what to set.
    relayed = [line.replace(" vm mysql-server_auditing", " 10.0.0.5 mysql-server_auditing") for line in lines[:2]]
    out = run(make(), relayed)
    assert [type(o) for o in out] == [ParseFailure, ParseFailure]
    assert isinstance(out[0], ParseFailure)
    assert "ambiguous" in out[0].reason
    assert [e.user for e in events(run(make(syslog_info_words=1), relayed))] == ["alice", "alice"]


def test_a_user_name_with_a_space_and_a_comma_keeps_to_the_info_seen_before() -> None:
    # A failed login's user name is whatever the client sent: "x pii-guard-lab,vm" must not move the record.
    head = "2026-11-27T16:22:52.6+00:00 relay mysql-server_auditing: pii-guard-lab "
    got = events(
        run(
            make(),
            [
                head + "vm,alice,127.0.0.1,17,0,CONNECT,crm,,0",
                head + "vm,a b,c,10.0.0.7,18,0,FAILED_CONNECT,,,1045",
            ],
        )
    )
    assert [(e.action, e.user, e.source_ip) for e in got] == [
        ("login", "alice", "127.0.0.1"),
        ("login", "a b,c", "10.0.0.7"),
    ]


@pytest.mark.parametrize(
    ("sql", "shown"),
    [
        ("SET GLOBAL server_audit_events = 'CONNECT,QUERY'", "SET GLOBAL server_audit_events = 'CONNECT,QUERY'"),
        ("SET GLOBAL server_audit_excl_users='app', GLOBAL server_audit_query_log_limit=10",
         "SET GLOBAL server_audit_excl_users='app', GLOBAL server_audit_query_log_limit=10"),
        ("SET @@global.server_audit_logging = 0", "SET @@global.server_audit_logging = 0"),
        ("INSTALL SONAME 'server_audit'", "INSTALL SONAME 'server_audit'"),
        # anything else in the statement: all its literals masked as usual
        ("SET GLOBAL server_audit_logging = OFF, @ssn = '000000001'",
         "SET GLOBAL server_audit_logging = OFF, @ssn = '?'"),
        ("SET @note = 'server_audit 123-45-6789'", "SET @note = '?'"),
    ],
)  # fmt: skip
def test_audit_settings_keep_their_values(sql: str, shown: str) -> None:
    # The value is the evidence: server_audit_events without TABLE stops the table rows (rules/sigma).
    escaped = sql.replace("'", r"\'")
    got = events(run(make(), [f"20261129 01:18:28,vm,root,localhost,7,32,QUERY,,'{escaped}',0"]))
    assert [(e.action, e.command, e.statement) for e in got] == [("other", sql.split()[0], shown)]
    assert got[0].original.endswith(",7,32,QUERY,,'" + shown.replace("'", r"\'") + "',0")


# Real lines of MariaDB 10.11.19 (server_audit 1.4.14) from a sweep of its settings: file and syslog output,
# CONNECT,QUERY,TABLE and narrower event sets, the query cache, server_audit_query_log_limit=100, an app that
# sends COM_CHANGE_USER. Paths of the sweep's machine are replaced by /var/lib/mysql.


def test_a_self_join_is_one_access_per_table_however_many_rows_name_it() -> None:
    # A READ row per reference to the table (alias a, b, c); answered by the query cache, the same statement
    # logs none and is one access; bob's denied self-join is one failure.
    lines = [
        "20261130 04:51:14,vm,alice,127.0.0.1,9,38,READ,crm,customers,",
        "20261130 04:51:14,vm,alice,127.0.0.1,9,38,READ,crm,customers,",
        "20261130 04:51:14,vm,alice,127.0.0.1,9,38,QUERY,crm,'SELECT a.email, b.ssn FROM customers a JOIN customers b"
        " ON a.id = b.id',0",
        "20261130 04:51:14,vm,alice,127.0.0.1,9,39,READ,crm,customers,",
        "20261130 04:51:14,vm,alice,127.0.0.1,9,39,READ,crm,customers,",
        "20261130 04:51:14,vm,alice,127.0.0.1,9,39,READ,crm,customers,",
        "20261130 04:51:14,vm,alice,127.0.0.1,9,39,QUERY,crm,'SELECT a.email FROM customers a JOIN customers b ON a.id"
        " = b.id JOIN customers c ON c.id = a.id',0",
        "20261130 04:51:14,vm,bob,127.0.0.1,10,41,READ,crm,customers,",
        "20261130 04:51:14,vm,bob,127.0.0.1,10,41,READ,crm,customers,",
        "20261130 04:51:14,vm,bob,127.0.0.1,10,41,QUERY,crm,'SELECT a.ssn FROM customers a JOIN customers b ON a.id ="
        " b.id',1143",
        "20261130 04:51:14,vm,alice,127.0.0.1,15,55,QUERY,crm,'SELECT a.email FROM customers a JOIN customers b ON a.id"
        " = b.id JOIN customers c ON c.id = a.id',0",
    ]
    got = events(run(make(), lines))
    assert [(e.fields["mariadb.audit.query_id"], e.user, e.object, e.outcome) for e in got] == [
        (38, "alice", "db:crm.customers", "success"),
        (39, "alice", "db:crm.customers", "success"),
        (41, "bob", "db:crm.customers", "failure"),
        (55, "alice", "db:crm.customers", "success"),
    ]
    # Rows released without their QUERY row count once too; rows without a query id are no one statement's
    # (the event scheduler writes such rows, one per run): not merged.
    assert [(e.object, e.outcome) for e in events(run(make(), lines[3:6]))] == [("db:crm.customers", "unknown")]
    unnumbered = ["20261130 04:53:49,vm,event_scheduler,,8,0,WRITE,crm,audit_trail,"] * 2
    assert len(events(run(make(), unnumbered))) == 2


def test_rsyslog_repeated_message_line_is_skipped_not_a_dead_letter() -> None:
    # $RepeatedMsgReduction (Ubuntu's default) folds the self-join's identical READ rows into one line.
    lines = [
        "2026-11-30T04:50:54.989972+01:00 vm mysql-server_auditing: pii-lab vm,alice,127.0.0.1,9,39,READ,crm,"
        "customers,",
        "2026-11-30T04:50:54.990006+01:00 vm mysql-server_auditing: message repeated 2 times: [ pii-lab vm,alice,"
        "127.0.0.1,9,39,READ,crm,customers,]",
        "2026-11-30T04:50:54.990172+01:00 vm mysql-server_auditing: pii-lab vm,alice,127.0.0.1,9,39,QUERY,crm,'SELECT "
        "a.email FROM customers a JOIN customers b ON a.id = b.id JOIN customers c ON c.id = a.id',0",
        "Nov 30 04:50:54 vm mysql-server_auditing: message repeated 2 times: [ pii-lab vm,alice,127.0.0.1,9,39,READ,"
        "crm,customers,]",
    ]
    got = events(run(make(output="syslog"), lines))
    assert [(e.action, e.user, e.object, e.outcome) for e in got] == [("read", "alice", "db:crm.customers", "success")]


def test_create_or_replace_user_is_a_permission_change_of_its_account() -> None:
    lines = [
        "20261130 04:47:47,vm,root,localhost,24,88,WRITE,mysql,db,",
        "20261130 04:47:47,vm,root,localhost,24,88,WRITE,mysql,global_priv,",
        r"20261130 04:47:47,vm,root,localhost,24,88,QUERY,mysql,'CREATE OR REPLACE USER \'gina\'@\'127.0.0.1\' "
        "IDENTIFIED BY *****',0",
        r"20261130 04:47:47,vm,root,localhost,24,89,QUERY,mysql,'CREATE USER IF NOT EXISTS \'hank\'@\'127.0.0.1\' "
        "IDENTIFIED BY *****',0",
        "20261130 04:48:10,vm,carol,localhost,19,72,QUERY,crm,'CREATE TABLE tmp_copy AS SELECT * FROM customers',0",
    ]
    got = events(run(make(), lines))
    assert [(e.action, e.command, e.object, e.fields.get("user.target.name")) for e in got[:2]] == [
        ("permission", "CREATE", None, "gina"),
        ("permission", "CREATE", None, "hank"),
    ]
    assert got[0].statement == "CREATE OR REPLACE USER '?'@'?' IDENTIFIED BY *****"
    assert got[2].action == "ddl"


def test_a_quoted_grantee_with_a_comma_is_whole() -> None:
    lines = [
        r"20261130 04:47:47,vm,root,localhost,24,86,QUERY,mysql,'CREATE USER \'o,neil\'@\'127.0.0.1\' IDENTIFIED BY "
        "*****',0",
        r"20261130 04:47:47,vm,root,localhost,24,87,QUERY,mysql,'GRANT SELECT ON crm.* TO \'o,neil\'@\'127.0.0.1\'',0",
        r"20261130 04:47:47,vm,root,localhost,24,91,QUERY,mysql,'RENAME USER \'gina\'@\'127.0.0.1\' TO \'gina2\'@"
        r"\'127.0.0.1\'',0",
    ]
    got = events(run(make(), lines))
    assert [(e.object, e.fields["user.target.name"]) for e in got] == [
        (None, "o,neil"),
        ("db:crm.*", "o,neil"),
        (None, "gina"),
    ]


def test_nul_bytes_of_the_plugin_become_replacement_characters() -> None:
    # server_audit_query_log_limit=100 cut a GRANT whose password the plugin hid: it wrote NUL bytes after it.
    line = (
        r"20261130 04:48:59,vm,root,localhost,24,90,QUERY,mysql,'GRANT SELECT ON crm.orders TO \'hank\'@\'127.0.0.1\' "
        "IDENTIFIED BY PASSWORD *****" + "\x00" * 13 + "GRANT ',0"
    )
    for mask in (True, False):
        ev = events(run(make(mask=mask), [line]))[0]
        assert (ev.action, ev.outcome, ev.fields["user.target.name"]) == ("permission", "success", "hank")
        assert ev.statement is not None
        assert "\x00" not in ev.statement
        assert "\x00" not in ev.original
        assert ev.statement.endswith("IDENTIFIED BY PASSWORD *****" + "\ufffd" * 13 + "GRANT ")
        assert ev.original.endswith("IDENTIFIED BY PASSWORD *****" + "\ufffd" * 13 + "GRANT ',0")
    assert ev.original == line.replace("\x00", "\ufffd")  # unmasked: the line as written, but for the NULs


_CHANGE_USER = "20261130 04:53:49,vm,,,6,0,CHANGEUSER," + "O" * 392 + ",,0"


def test_change_user_with_no_user_is_the_login_of_the_user_the_connection_names_next() -> None:
    # mysql-connector-python's cmd_change_user from alice to bob: the 10.11.19 plugin writes no user or host and
    # 392 'O's as the database.
    lines = [
        "20261130 04:53:49,vm,alice,127.0.0.1,6,0,CONNECT,crm,,0",
        "20261130 04:53:49,vm,alice,127.0.0.1,6,42,QUERY,crm,'INSERT INTO customers (id, email) VALUES (?, ?)',1142",
        _CHANGE_USER,
        r"20261130 04:53:49,vm,bob,127.0.0.1,6,45,QUERY,crm,'SET NAMES \'utf8mb4\' COLLATE \'utf8mb4_general_ci\'',0",
        "20261130 04:53:49,vm,bob,127.0.0.1,6,47,READ,crm,customers,",
        "20261130 04:53:49,vm,bob,127.0.0.1,6,47,QUERY,crm,'SELECT id, email FROM customers',0",
        "20261130 04:53:49,vm,bob,127.0.0.1,6,0,DISCONNECT,crm,,0",
    ]
    parser = make()
    got = events(run(parser, lines))
    assert [(e.action, e.outcome, e.user, e.source_ip, e.command) for e in got] == [
        ("login", "success", "alice", "127.0.0.1", "CONNECT"),
        ("write", "failure", "alice", "127.0.0.1", "INSERT"),
        ("login", "success", "bob", "127.0.0.1", "CHANGEUSER"),
        ("read", "success", "bob", "127.0.0.1", "SELECT"),
        ("logout", "success", "bob", "127.0.0.1", "DISCONNECT"),
    ]
    change = got[2]
    assert change.fields["mariadb.audit.database"] == "crm"  # the session's, not the plugin's garbage
    assert change.original == _CHANGE_USER
    assert change.offset == sum(len(line) + 1 for line in lines[:2])
    # The DISCONNECT names the user too; a restart, or no row at all, names no one: a parse failure that says so.
    assert [(e.action, e.user) for e in events(run(make(), [_CHANGE_USER, lines[-1]]))] == [
        ("login", "bob"),
        ("logout", "bob"),
    ]
    for tail in ([], ["20261130 04:53:52,vm,bob,127.0.0.1,6,0,CONNECT,crm,,0"]):
        out = run(make(), [_CHANGE_USER, *tail])
        failures = [o for o in out if isinstance(o, ParseFailure)]
        assert len(failures) == 1
        assert failures[0].reason.startswith("CHANGEUSER names no user")
        assert not [e for e in out if not isinstance(e, ParseFailure) and e.command == "CHANGEUSER"]
    # The same row with a retcode (the line as a refused change would be written): no login of nobody.
    refused = run(make(), [_CHANGE_USER[:-1] + "1045", lines[-1]])
    assert isinstance(refused[0], ParseFailure)
    assert refused[0].reason.startswith("failed CHANGEUSER (error 1045) names no user")
    assert [(e.action, e.user) for e in events(refused[1:])] == [("logout", "bob")]


def test_a_change_of_user_waits_across_a_restart_and_a_rotation_without_holding_the_checkpoint() -> None:
    parser = make()
    assert not parser.feed(0, _CHANGE_USER)
    assert parser.pending_offset() is None  # an idle session must not hold the checkpoint (nor wake the daemon)
    assert parser.flush() == []  # nor does the idle flush end it
    for state in (parser.snapshot(), parser.carry_over()):
        successor = make()
        successor.restore(state)
        got = events(run(successor, ["20261130 04:53:49,vm,bob,127.0.0.1,6,47,QUERY,crm,'SELECT 1',0"]))
        assert [(e.action, e.user, e.original) for e in got] == [("login", "bob", _CHANGE_USER)]
    # Read again after a restart (the checkpoint was before it): the same row, no parse failure.
    again = make()
    again.restore(parser.snapshot())
    assert not again.feed(0, _CHANGE_USER)


def test_a_failed_statement_of_unknown_kind_is_a_failed_attempt() -> None:
    lines = [
        "20261130 04:47:47,vm,carol,localhost,20,0,CONNECT,crm,,0",
        "20261130 04:47:47,vm,carol,localhost,20,77,QUERY,crm,'SELEC * FROM customers',1064",
        "20261130 04:47:47,vm,carol,localhost,20,0,DISCONNECT,crm,,0",
    ]
    got = events(run(make(), lines))
    assert [(e.action, e.outcome, e.error_code, e.command, e.object) for e in got] == [
        ("login", "success", None, "CONNECT", None),
        ("other", "failure", "1064", "SELEC", None),
        ("logout", "success", None, "DISCONNECT", None),
    ]
    assert got[1].statement == "SELEC * FROM customers"


def test_tool_reads_of_information_schema_are_one_object_per_table_whatever_the_case() -> None:
    # mariadb-dump, with CONNECT,QUERY,TABLE: information_schema reads log no TABLE rows.
    lines = [
        r"20261130 04:47:47,vm,alice,127.0.0.1,35,158,QUERY,crm,'SELECT table_name FROM INFORMATION_SCHEMA.TABLES "
        r"WHERE table_schema = DATABASE() AND table_name = \'customers\'',0",
        r"20261130 04:47:47,vm,alice,127.0.0.1,35,167,QUERY,crm,'select column_name, extra, generation_expression, "
        r"data_type from information_schema.columns where table_schema=database() and table_name=\'customers\' order "
        "by ordinal_position',0",
        r"20261130 04:47:47,vm,alice,127.0.0.1,35,172,QUERY,crm,'SELECT TRIGGER_NAME FROM INFORMATION_SCHEMA.TRIGGERS "
        r"WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = \'customers\'',0",
    ]
    got = events(run(make(), lines))
    assert [(e.action, e.object) for e in got] == [
        ("read", "db:information_schema.tables"),
        ("read", "db:information_schema.columns"),
        ("read", "db:information_schema.triggers"),
    ]
    assert [e.object for e in events(run(make(ignore_objects=["information_schema.*"]), lines))] == []


def test_call_is_an_execute_of_the_routine_not_a_read_of_mysql_proc() -> None:
    # CONNECT,QUERY,TABLE: carol's own call, then bob's of carol's SQL SECURITY DEFINER procedure.
    lines = [
        "20261130 04:47:47,vm,carol,localhost,19,68,READ,mysql,proc,",
        "20261130 04:47:47,vm,carol,localhost,19,69,READ,crm,customers,",
        r"20261130 04:47:47,vm,carol,localhost,19,69,QUERY,crm,'SELECT full_name, ssn FROM customers WHERE id =  "
        r"NAME_CONST(\'cid\',1)',0",
        "20261130 04:47:47,vm,carol,localhost,19,68,QUERY,crm,'CALL get_customer(1)',0",
        "20261130 04:47:47,vm,bob,127.0.0.1,32,137,READ,mysql,proc,",
        "20261130 04:47:47,vm,carol,localhost,32,138,READ,crm,customers,",
        r"20261130 04:47:47,vm,bob,127.0.0.1,32,138,QUERY,crm,'SELECT full_name, ssn FROM customers WHERE id =  "
        r"NAME_CONST(\'cid\',2)',0",
        "20261130 04:47:47,vm,bob,127.0.0.1,32,137,QUERY,crm,'CALL get_customer(2)',0",
    ]
    got = events(run(make(), lines))
    assert [(e.action, e.user, e.object, e.command) for e in got] == [
        ("read", "carol", "db:crm.customers", "SELECT"),
        ("execute", "carol", "db:crm.get_customer", "CALL"),
        ("read", "bob", "db:crm.customers", "SELECT"),
        ("execute", "bob", "db:crm.get_customer", "CALL"),
    ]
    assert got[2].fields["user.effective.name"] == "carol"
    # QUERY_DML_NO_SELECT logs the CALL alone; a CALL refused (1370, through rsyslog) is a failed execute.
    alone = events(run(make(), ["20261130 04:48:03,vm,carol,localhost,19,68,QUERY,crm,'CALL get_customer(1)',0"]))
    assert [(e.action, e.outcome, e.object) for e in alone] == [("execute", "success", "db:crm.get_customer")]
    refused = "2026-11-30T04:54:29.674934+01:00 vm mysql-server_auditing: dc1,rack3 eu-west vm,bob,127.0.0.1,23,102,"
    denied = events(run(make(syslog_info_words=2), [refused + "QUERY,crm,'CALL get_customer(2)',1370"]))
    assert [(e.action, e.outcome, e.error_code, e.user) for e in denied] == [("execute", "failure", "1370", "bob")]


def test_handler_read_without_table_rows_reads_its_table() -> None:
    # CONNECT,QUERY: OPEN and CLOSE read nothing; READ reads the table, or the table its alias stands for.
    lines = [
        "20261130 04:48:10,vm,carol,localhost,27,117,QUERY,crm,'HANDLER customers OPEN',0",
        "20261130 04:48:10,vm,carol,localhost,27,118,QUERY,crm,'HANDLER customers READ FIRST',0",
        "20261130 04:48:10,vm,carol,localhost,27,119,QUERY,crm,'HANDLER customers CLOSE',0",
    ]
    got = events(run(make(), lines))
    assert [(e.action, e.object, e.command) for e in got] == [("read", "db:crm.customers", "HANDLER")]
    aliased = [line.replace("OPEN", "OPEN AS h").replace("customers READ", "h READ") for line in lines]
    assert [e.object for e in events(run(make(), aliased))] == ["db:crm.customers"]


def test_create_table_as_select_without_table_rows_reads_its_source() -> None:
    # CONNECT,QUERY (and QUERY_DDL): the copy of personal data shows only in the statement.
    lines = [
        "20261130 04:48:10,vm,carol,localhost,19,72,QUERY,crm,'CREATE TABLE tmp_copy AS SELECT * FROM customers',0",
        "20261130 04:48:10,vm,carol,localhost,27,120,QUERY,crm,'CREATE TEMPORARY TABLE tmp_emails AS SELECT email FROM "
        "customers',0",
        "20261130 04:48:10,vm,root,localhost,4,7,QUERY,crm,'CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, "
        "total DECIMAL(10,2))',0",
    ]
    got = events(run(make(), lines))
    assert [(e.fields["mariadb.audit.query_id"], e.action, e.object, e.command) for e in got] == [
        (72, "ddl", "db:crm.tmp_copy", "CREATE"),
        (72, "read", "db:crm.customers", "CREATE"),
        (120, "ddl", "db:crm.tmp_emails", "CREATE"),
        (120, "read", "db:crm.customers", "CREATE"),
        (7, "ddl", "db:crm.orders", "CREATE"),
    ]
    assert len({e.id for e in got}) == len(got)


# A real 10.11 with server_audit_query_log_limit=100 (the OUTFILE directory renamed to one of the same length,
# so the cuts fall where the server's did): statements cut inside the file name, before FROM, inside a name.
CUT_AT_100 = [
    "20261130 04:48:59,vm,alice,127.0.0.1,5,27,READ,crm,customers,",
    "20261130 04:48:59,vm,alice,127.0.0.1,5,27,QUERY,crm,'SELECT email, ssn FROM customers INTO OUTFILE "
    "\\'/var/lib/mysql-files/c2a-limit100-cqt/outfiles/alice',0",
    "20261130 04:49:07,vm,carol,localhost,28,128,QUERY,crm,'SELECT full_name, ssn INTO OUTFILE "
    "\\'/var/lib/mysql-files/c2b-limit100-cq/outfiles/carol-export.csv',0",
    "20261130 04:48:59,vm,carol,localhost,29,130,QUERY,crm,'SELECT full_name, ssn FROM customers INTO OUTFILE "
    "\\'/var/lib/mysql-files/c2a-limit100-cqt/outfiles/c',1086",
    "20261130 04:49:07,vm,carol,localhost,27,109,QUERY,crm,'WITH big AS (SELECT customer_id FROM orders WHERE "
    "total > 50) SELECT c.email FROM customers c JOIN b',0",
]  # fmt: skip


def test_statements_cut_at_the_query_log_limit() -> None:
    assert [len(line[line.index("'") + 1 : line.rindex("',")]) for line in CUT_AT_100[1:]] == [100, 99, 100, 100]
    out = events(run(make(query_log_limit=100), CUT_AT_100))
    assert [(e.action, e.outcome, e.object, e.user, e.fields.get("file.path")) for e in out] == [
        ("export", "success", "db:crm.customers", "alice", "/var/lib/mysql-files/c2a-limit100-cqt/outfiles/alice…"),
        ("export", "success", None, "carol", "/var/lib/mysql-files/c2b-limit100-cq/outfiles/carol-export.csv…"),
        ("export", "failure", "db:crm.customers", "carol", "/var/lib/mysql-files/c2a-limit100-cqt/outfiles/c…"),
        ("read", "success", "db:crm.orders", "carol", None),  # not `b`: the name `big` was cut
        ("read", "success", "db:crm.customers", "carol", None),
    ]  # fmt: skip
    # at the default limit (1024) a statement this short is whole: its last name is a table's
    assert [e.object for e in events(run(make(), CUT_AT_100[-1:]))] == ["db:crm.orders", "db:crm.customers", "db:crm.b"]


def test_a_query_line_syslog_cut_is_its_statement_as_far_as_it_goes() -> None:
    """rsyslog's default 8 KiB message size cut two real 12 KiB statements (tests/samples/mariadb-audit/
    server_audit-syslog-cut-at-8k.log): no closing quote, no retcode. Each is its READ row's statement, masked
    as far as it goes, outcome unknown; not a parse failure, nor a row released at DISCONNECT without it."""
    sample = Path(__file__).parents[1] / "samples" / "mariadb-audit" / "server_audit-syslog-cut-at-8k.log"
    lines = sample.read_text().splitlines()
    assert sum(len(line.encode()) == 8111 for line in lines) == 2
    out = run(make(tz=ZoneInfo("Europe/Berlin"), output="syslog", syslog_ident="maria-audit"), lines)
    assert not [o for o in out if isinstance(o, ParseFailure)]
    cut = [e for e in events(out) if e.outcome == "unknown"]
    assert [(e.user, e.action, e.object, e.command) for e in cut] == [
        ("alice", "read", "db:crm.customers", "SELECT"), ("bob", "read", "db:crm.customers", "SELECT")]
    statements = [e.statement or "" for e in cut]
    assert statements[0].startswith("SELECT full_name, ssn FROM customers WHERE id IN (?")
    assert statements[1].startswith("SELECT ssn FROM customers WHERE id IN (?")
    assert not [e for e in cut if "100000" in e.original + (e.statement or "")]


def test_the_event_schedulers_own_rows_are_no_accesses() -> None:
    """A real 10.11 running a scheduled `DELETE FROM crm.orders` each second: the scheduler marks and looks up its
    events in mysql.event with rows of query id 0 that no QUERY row ever follows. Only the statements are
    events; the bookkeeping is none (it was an access of unknown outcome at the end of the input)."""
    lines = [
        "20261130 04:53:49,vm,root,localhost,7,50,QUERY,,'SET GLOBAL event_scheduler = ON',0",
        "20261130 04:53:49,vm,event_scheduler,,8,0,WRITE,mysql,event,",
        "20261130 04:53:49,vm,event_scheduler,,9,0,READ,mysql,event,",
        "20261130 04:53:49,vm,event_scheduler,,9,53,QUERY,mysql,'DELETE FROM crm.orders WHERE id = 999',0",
        "20261130 04:53:49,vm,event_scheduler,,8,0,WRITE,mysql,event,",
        "20261130 04:53:49,vm,event_scheduler,,10,0,READ,mysql,event,",
        "20261130 04:53:50,vm,event_scheduler,,10,54,QUERY,mysql,'DELETE FROM crm.orders WHERE id = 999',0",
    ]
    assert [(e.user, e.action, e.outcome, e.object) for e in events(run(make(), lines))] == [
        ("event_scheduler", "delete", "success", "db:crm.orders")] * 2
    # a user's own read of mysql.event is still one
    own = "20261130 04:54:00,vm,root,localhost,7,60,READ,mysql,event,"
    assert [e.object for e in events(run(make(), [own]))] == ["db:mysql.event"]
