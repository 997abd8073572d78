"""`search`, `who-accessed`, `audit` and `verify` as a responder runs them, on the SQLite store."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from pii_guard.store.sqlite import SqliteEventStore
from pii_guard.store.state import StateStore
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


def test_a_query_may_start_with_a_dash_as_the_readme_writes_it(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    everyone = int(cli("search", "--config", config, *WINDOW, "--count", "*").stdout)
    not_alice = cli("search", "-user.name:alice", "--config", config, *WINDOW, "--count")
    assert not_alice.returncode == 0, not_alice.stderr
    assert int(not_alice.stdout) == everyone - 3
    # after the options, with an option value that starts with a dash, and with `--`
    sorted_ = cli("search", "--config", config, *WINDOW, "--sort", "-pii.rows", "--json", "-user.name:alice")
    docs = [json.loads(x) for x in sorted_.stdout.splitlines()]
    assert (len(docs), docs[0]["user.name"], docs[0]["pii.rows"]) == (everyone - 3, "bob", 5)
    assert cli("search", "--config", config, *WINDOW, "--count", "--", "-user.name:alice").stdout == \
        not_alice.stdout
    assert cli("search", "--config", config, *WINDOW, "--count", "NOT user.name:alice").stdout == not_alice.stdout
    misspelt = cli("search", "--config", config, "--limt", "3")
    assert misspelt.returncode == 2
    assert "No such option '--limt'" in misspelt.stderr


def test_plain_words_on_text_fields_and_bare_days_are_not_silently_empty(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    word = cli("search", "--config", config, *WINDOW, "--count", "pii.statement:select")
    assert (word.returncode, word.stdout.strip()) == (0, "1")
    day = cli("search", "--config", config, *WINDOW, "--count", "@timestamp:2026-11-20")
    assert day.stdout.strip() == "9"


def test_the_top_table_shows_the_volume_it_ranks_by(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    for by, header in (("pii.bytes", "BYTES"), ("pii.rows", "ROWS")):
        table = cli("search", "--config", config, *WINDOW, "--top", "user.name", "--by", by).stdout.splitlines()
        assert table[0].split() == ["NAME", "EVENTS", header]
    first = cli("search", "--config", config, *WINDOW, "--top", "user.name", "--by", "pii.bytes").stdout
    assert first.splitlines()[1].split() == ["carol", "2", "41060"]


def test_reveal_needs_a_reason_which_is_kept_in_the_audit_log(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    bare = cli("who-accessed", "--config", config, *WINDOW, "--record", "cust-42", "--reveal")
    assert bare.returncode == 2
    assert bare.stderr.startswith("pii-guard: error: --reveal needs --reason")
    assert "Traceback" not in bare.stderr
    assert bare.stdout == ""
    blank = cli("who-accessed", "--config", config, *WINDOW, "--record", "cust-42", "--reveal", "--reason", " ")
    assert blank.returncode == 2
    assert cli("audit", "--config", config, "--json").stdout == ""  # refused runs show nothing, record nothing
    shown = cli("who-accessed", "--config", config, *WINDOW, "--record", "cust-42", "--reveal", "--reason",
                "DSAR 2026-17")
    assert shown.returncode == 0, shown.stderr
    [entry] = [json.loads(x) for x in cli("audit", "--config", config, "--json").stdout.splitlines()]
    assert (entry["detail"]["reveal"], entry["detail"]["reason"]) == (True, "DSAR 2026-17")


class _ReadOnlyState(StateStore):
    """The state database as a user who may read but not write it sees it (root ignores file modes, so the
    test opens it read-only rather than chmod-ing it)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._conn.close()
        self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)


def test_a_search_by_a_user_who_cannot_write_the_state_database_is_a_clean_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from pii_guard.cli import GuardedGroup
    from pii_guard.cli_search import audit_cmd, search, who_accessed
    from pii_guard.search import audit

    config = _setup(tmp_path)
    StateStore(tmp_path / "state" / "state.db").close()
    monkeypatch.setattr(audit, "StateStore", _ReadOnlyState)
    group = GuardedGroup(commands={"search": search, "who-accessed": who_accessed, "audit": audit_cmd})
    for args in (["search", "--config", config, *WINDOW, "user.name:bob"],
                 ["search", "--config", config, *WINDOW, "--count", "*"],
                 ["who-accessed", "--config", config, *WINDOW, "--record", "cust-42"]):
        result = CliRunner().invoke(group, args)
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert result.output.startswith("pii-guard: error: cannot record this ")
        assert "in the audit log" in result.output
        assert "bob" not in result.output  # nothing of the answer is shown unrecorded
        assert "sudo -u pii-guard" in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_an_unreadable_event_store_is_a_clean_error(tmp_path: Path) -> None:
    config = _setup(tmp_path)
    (tmp_path / "state" / "events.db").write_bytes(b"this is not a database" * 100)
    bad = cli("search", "--config", config, *WINDOW, "user.name:bob")
    assert bad.returncode == 2
    assert bad.stderr.startswith("pii-guard: error: cannot read the event store ")
    assert "Traceback" not in bad.stderr
