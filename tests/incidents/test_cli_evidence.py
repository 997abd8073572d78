"""`pii-guard incidents show`: each evidence event as a line from the event store (real subprocesses, a real
SQLite event store written by `replay`)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.test_cli import ROOT, cli
from tests.test_cli import config as cli_config

EVENTS = 25  # more than the 20 shown by default
DECOY = "public.customers_archive_2019"


def _line(i: int, user: str = "bob") -> str:
    """bob reads the decoy table once a second, i + 1 rows each time: one honeytoken incident, 25 events."""
    return (f"2026-11-27 09:00:{i:02d} UTC [{1000 + i}]: user={user},db=crm,app=psql,client=10.20.0.5 LOG:  AUDIT: "
            f"SESSION,{i + 1},1,READ,SELECT,TABLE,{DECOY},SELECT email FROM {DECOY} WHERE id = {i};,<none>,{i + 1}")


def _replay(tmp: Path, lines: list[str]) -> Path:
    (tmp / "app.log").write_text("\n".join(lines) + "\n")
    config = cli_config(tmp)  # the CLI tests' pgAudit source, plus the shipped access policy
    config.write_text(config.read_text() + f"  access: {ROOT}/rules/access-policy.yaml\n")
    replay = cli("replay", "--config", str(config), str(tmp / "app.log"))
    assert replay.returncode == 1, replay.stderr  # matches found
    return config


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _replay(tmp_path_factory.mktemp("evidence"), [_line(i) for i in range(EVENTS)])


@pytest.fixture
def config(replayed: Path, tmp_path: Path) -> Path:
    """A copy of the replayed state and event store, for a test to change."""
    shutil.copytree(replayed.parent, tmp_path, dirs_exist_ok=True)
    return tmp_path / "pii-guard.yaml"


def _show(config: Path, *args: str) -> str:
    shown = cli("incidents", "show", "--config", str(config), "INC-1", *args)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def _evidence_lines(text: str) -> list[str]:
    """The evidence section's event lines (without its heading, column header and trailing hint)."""
    section = text.split("\nevidence: ", 1)[1].split("\nnotifications:", 1)[0].splitlines()[1:]
    return [line for line in section if line.startswith("  2026-")]


def _ids(config: Path) -> list[str]:
    ids = json.loads(_show(config, "--json"))["evidence_ids"]
    assert isinstance(ids, list)
    return [str(i) for i in ids]


def test_each_evidence_event_is_a_line_with_time_user_action_object_volume_and_where(replayed: Path) -> None:
    text = _show(replayed)
    ids = _ids(replayed)
    assert f"evidence: {EVENTS} event(s); the first 20, oldest first" in text
    lines = _evidence_lines(text)
    assert len(lines) == 20
    assert lines[0].split() == ["2026-11-27T09:00:00Z", "bob", "read", "success", f"db:crm.{DECOY}", "1", "row",
                                "10.20.0.5", "office", ids[0][:12]]
    assert lines[19].split() == ["2026-11-27T09:00:19Z", "bob", "read", "success", f"db:crm.{DECOY}", "20", "rows",
                                 "10.20.0.5", "office", ids[19][:12]]
    assert "AUDIT: SESSION" not in text  # never the raw log line (event.original)


def test_twenty_by_default_and_evidence_n_asks_for_more_or_fewer(replayed: Path) -> None:
    default = _show(replayed)
    assert f"  ... 5 not listed: `pii-guard incidents show INC-1 --evidence {EVENTS}`" in default
    everything = _show(replayed, "--evidence", str(EVENTS))
    assert [line.split()[0] for line in _evidence_lines(everything)] == [
        f"2026-11-27T09:00:{i:02d}Z" for i in range(EVENTS)]
    assert "not listed" not in everything
    assert f"evidence: {EVENTS} event(s), oldest first" in everything
    assert len(_evidence_lines(_show(replayed, "--evidence", "3"))) == 3
    none = _show(replayed, "--evidence", "0")
    assert _evidence_lines(none) == []
    assert f"  ... {EVENTS} not listed" in none
    refused = cli("incidents", "show", "--config", str(replayed), "INC-1", "--evidence", "1001")
    assert refused.returncode == 2


def test_an_event_retention_removed_is_its_id_and_says_so(config: Path) -> None:
    ids = _ids(config)
    gone = ids[2]
    conn = sqlite3.connect(config.parent / "state" / "events.db")
    with conn:
        assert conn.execute("DELETE FROM events WHERE id = ?", (gone,)).rowcount == 1
    conn.close()
    lines = _evidence_lines(_show(config))
    assert len(lines) == 20
    assert lines[2].split() == ["2026-11-27T09:00:02Z", gone, "(no", "longer", "in", "the", "event", "store)"]
    assert lines[3].split()[1:3] == ["bob", "read"]
    events = json.loads(_show(config, "--json"))["evidence_events"]
    assert events[2] == {"event.id": gone, "@timestamp": "2026-11-27T09:00:02.000000Z", "in_store": False}
    assert events[3]["event.id"] == ids[3]


def test_json_carries_the_listed_events_and_keeps_the_ids_and_the_count(replayed: Path) -> None:
    doc = json.loads(_show(replayed, "--json"))
    assert doc["evidence"] == EVENTS  # the count, as `incidents list --json` has it
    assert len(doc["evidence_ids"]) == EVENTS
    events = doc["evidence_events"]
    assert [e["event.id"] for e in events] == doc["evidence_ids"][:20]
    assert {(e["user.name"], e["event.action"], e["pii.object"], e["source.zone"]) for e in events} == {
        ("bob", "read", f"db:crm.{DECOY}", "office")}
    assert [e["pii.rows"] for e in events] == list(range(1, 21))
    assert events[0]["@timestamp"] == "2026-11-27T09:00:00.000000Z"
    assert not any("event.original" in e for e in events)
    more = json.loads(_show(replayed, "--json", "--evidence", str(EVENTS)))
    assert [e["event.id"] for e in more["evidence_events"]] == more["evidence_ids"]


def test_an_event_store_that_cannot_be_read_still_shows_the_incident_and_the_ids(config: Path) -> None:
    (config.parent / "state" / "events.db").rename(config.parent / "elsewhere.db")
    text = _show(config)
    ids = _ids(config)
    assert "  the event store cannot be read: no event store at " in text
    assert [line.split() for line in _evidence_lines(text)][:2] == [
        ["2026-11-27T09:00:00Z", ids[0]], ["2026-11-27T09:00:01Z", ids[1]]]
    doc = json.loads(_show(config, "--json"))
    assert doc["evidence_events"] is None
    assert doc["evidence_error"].startswith("no event store at ")


def test_a_user_name_with_control_characters_is_printed_escaped(tmp_path: Path) -> None:
    config = _replay(tmp_path, [_line(i, user="bob\x1b]0;owned\x07") for i in range(2)])
    text = _show(config)
    lines = _evidence_lines(text)
    assert len(lines) == 2
    assert lines[0].split()[1] == "bob\\x1b]0;owned\\x07"
    assert "\x1b" not in text
    assert "\x07" not in text


def test_looking_at_evidence_events_is_recorded_in_the_audit_log(config: Path) -> None:
    before = cli("audit", "--config", str(config), "--json")
    assert before.returncode == 0, before.stderr
    _show(config, "--evidence", "3")
    _show(config, "--evidence", "0")  # no event looked at: nothing to record
    after = cli("audit", "--config", str(config), "--json")
    new = [json.loads(line) for line in after.stdout.splitlines()][len(before.stdout.splitlines()):]
    assert [(row["command"], row["results"]) for row in new] == [("incidents-show", 3)]
