"""`search`, `who-accessed`, `audit` and `verify` as a responder runs them, on the SQLite store."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

from pii_guard.store.sqlite import SqliteEventStore
from tests.search.corpus import corpus
from tests.test_cli import ROOT, cli


def _setup(tmp: Path) -> str:
    (tmp / "state").mkdir()
    store = SqliteEventStore(tmp / "state" / "events.db")
    store.write(corpus(), [])
    store.close()
    path = tmp / "pii-guard.yaml"
    path.write_text(f"state_dir: state\npolicy:\n  directory: {ROOT}/rules/directory.yaml\n")
    return str(path)


WINDOW = ("--from", "2026-11-19", "--to", "2026-11-23")


def test_search_prints_a_table_json_csv_counts_and_tops(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    table = cli("search", "--config", config, *WINDOW, "user.name:bob")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:3] == ["TIMESTAMP", "NAME", "ROLES"]
    assert len(table.stdout.splitlines()) == 3
    docs = [json.loads(x) for x in cli("search", "--config", config, *WINDOW, "--json", "--sort", "pii.rows",
                                       "pii.rows:*").stdout.splitlines()]
    assert [d["pii.rows"] for d in docs] == [1, 5, 20, 12000]
    count = cli("search", "--config", config, *WINDOW, "--count", "event.outcome:failure")
    assert count.stdout.strip() == "2"
    top = cli("search", "--config", config, *WINDOW, "--top", "user.name", "--by", "pii.rows", "--json")
    assert json.loads(top.stdout.splitlines()[0]) == {"user.name": "alice", "events": 3, "pii.rows": 12021}
    rows = list(csv.reader(io.StringIO(cli("search", "--config", config, *WINDOW, "--csv",
                                           "host.name:*").stdout)))
    assert rows[0][:2] == ["@timestamp", "user.name"]


def test_csv_cells_cannot_become_spreadsheet_formulas(tmp_path: Path) -> None:
    from tests.policy.events import enrich_all, ev

    config = _setup(tmp_path)
    store = SqliteEventStore(tmp_path / "state" / "events.db")
    store.write(enrich_all([ev("2026-11-20 16:00:00", "=HYPERLINK(\"http://evil\")", "db:x")]), [])
    store.close()
    out = cli("search", "--config", config, *WINDOW, "--csv", "pii.object:db\\:x").stdout
    assert list(csv.reader(io.StringIO(out)))[1][1] == "'=HYPERLINK(\"http://evil\")"


def test_query_errors_are_clean_and_exit_2(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    bad = cli("search", "--config", config, "user.name:(bob")
    assert bad.returncode == 2
    assert bad.stderr.startswith("pii-guard: error: query error at position 14: unexpected end of expression")
    assert "Traceback" not in bad.stderr


def test_who_accessed_pseudonymizes_staff_unless_revealed_and_records_every_run(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    hidden = [json.loads(x) for x in cli("who-accessed", "--config", config, *WINDOW, "--record", "cust-42",
                                         "--json").stdout.splitlines()]
    assert len(hidden) == 2
    assert {d["user.name"] for d in hidden} == {hidden[0]["user.name"]}
    assert hidden[0]["user.name"].startswith("staff-")
    assert [d["event.action"] for d in hidden] == ["read", "read"]
    shown = [json.loads(x) for x in cli("who-accessed", "--config", config, *WINDOW, "--record", "cust-42",
                                        "--reveal", "--reason", "DSAR 2026-17", "--json").stdout.splitlines()]
    assert {d["user.name"] for d in shown} == {"dave"}
    files = cli("who-accessed", "--config", config, *WINDOW, "--path", "/srv/share/hr/*", "--json").stdout
    assert len(files.splitlines()) == 2
    log = [json.loads(x) for x in cli("audit", "--config", config, "--json").stdout.splitlines()]
    assert [(e["command"], e["detail"].get("reveal"), e["results"]) for e in log] == [
        ("who-accessed", False, 2), ("who-accessed", True, 2), ("who-accessed", False, 2)]
    assert log[1]["detail"]["reason"] == "DSAR 2026-17"


def test_verify_finds_an_edited_or_deleted_audit_row(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    for query in ("user.name:alice", "user.name:bob", "user.name:carol"):
        cli("search", "--config", config, *WINDOW, query)
    ok = cli("verify", "--config", config)
    assert ok.returncode == 0
    assert "monitor_audit: 3 row(s), chain intact" in ok.stdout
    conn = sqlite3.connect(tmp_path / "state" / "state.db")
    conn.execute("UPDATE monitor_audit SET detail = replace(detail, 'bob', 'eve') WHERE seq = 2")
    conn.commit()
    edited = cli("verify", "--config", config)
    assert edited.returncode == 1
    assert "monitor_audit: BROKEN at row 2: this row was changed" in edited.stdout
    conn.execute("DELETE FROM monitor_audit WHERE seq = 2")
    conn.commit()
    conn.close()
    deleted = cli("verify", "--config", config)
    assert "monitor_audit: BROKEN at row 3: a row before it was deleted or changed" in deleted.stdout
