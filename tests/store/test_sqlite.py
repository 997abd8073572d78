from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pii_guard.errors import StoreError
from pii_guard.model import AccessEvent, EnrichedEvent, ObjectInfo, UserInfo
from pii_guard.store.base import DeadLetter
from pii_guard.store.migrations import EVENTS_MIGRATIONS
from pii_guard.store.sqlite import SqliteEventStore, open_readonly


def event(i: int, cats: tuple[str, ...] = ("personal",), records: tuple[str, ...] = ()) -> EnrichedEvent:
    ev = AccessEvent(f"id{i}", 1_700_000_000_000_000 + i, "t", "read", "success", user="bob",
                     source_ip="10.0.0.1", object="db:crm.public.customers", rows=i, record_ids=records,
                     fields={"http.response.status_code": 200})
    return EnrichedEvent(ev, UserInfo("bob", ("support",)), ObjectInfo(cats, True), "office")


def test_replay_stores_nothing_twice(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "e.db")
    batch = [event(i, records=("cust-1",)) for i in range(100)]
    assert store.write(batch, []).stored == 100
    again = store.write(batch, [])
    assert (again.stored, again.duplicates) == (0, 100)
    assert store.count_events() == 100
    conn = open_readonly(tmp_path / "e.db")
    assert conn.execute("SELECT count(*) FROM event_categories").fetchone()[0] == 100
    assert conn.execute("SELECT count(*) FROM event_records WHERE record_id='cust-1'").fetchone()[0] == 100
    row = conn.execute("SELECT user_roles, zone, categories, fields FROM events WHERE id='id5'").fetchone()
    assert tuple(row) == ("support", "office", "personal", '{"http.response.status_code":200}')


def test_wal_and_synchronous_are_set_explicitly(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "e.db", "NORMAL")
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(EVENTS_MIGRATIONS)


def test_dead_letters_are_kept_once(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "e.db")
    dead = DeadLetter("/var/log/x.log", "ab", 42, "nginx", "no match", "garbage", 1)
    assert store.write([], [dead]).dead_letters == 1
    assert store.write([], [dead]).dead_letters == 0
    assert store.count_dead_letters() == 1


@pytest.mark.parametrize("mask", [True, False])
def test_dead_letters_keep_no_personal_data_when_masking(tmp_path: Path, mask: bool) -> None:
    """A line that did not parse is stored for review with its quoted values, numbers, e-mail addresses and
    URL passwords masked (`privacy.mask_literals`); `--no-mask` keeps it as read."""
    from pii_guard.parsers.base import ParseFailure, SourceContext
    from pii_guard.parsers.weblog import NginxParser
    from pii_guard.pipeline import dead_letter

    line = "garbage john.smith@example.com ssn=123-45-6789 ref=https://bob:secret@intranet.example/ 'Ann'"
    parser = NginxParser(SourceContext(fingerprint=b"fp", path="/var/log/x.log", mask_literals=mask))
    [failure] = parser.feed(7, line)
    assert isinstance(failure, ParseFailure)
    store = SqliteEventStore(tmp_path / "e.db")
    store.write([], [dead_letter(parser, failure, 1)])
    [(text,)] = open_readonly(tmp_path / "e.db").execute("SELECT text FROM dead_letters").fetchall()
    if mask:
        assert text == "garbage ? ssn=?-?-? ref=https://bob:?@intranet.example/ '?'"
    else:
        assert text == line


def test_new_store_files_are_private_and_existing_ones_keep_their_mode(tmp_path: Path) -> None:
    """events.db / state.db hold what the logs said: a directory pii-guard creates is 0700, a database file it
    creates 0600 (its -wal and -shm follow), whatever the umask; files that exist keep their mode."""
    import os
    import stat

    from pii_guard.store.state import StateStore

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    old_umask = os.umask(0o022)
    try:
        state_dir = tmp_path / "var" / "pii-guard"
        events = SqliteEventStore(state_dir / "events.db")
        events.write([event(1)], [])
        state = StateStore(state_dir / "state.db")
        assert mode(state_dir) == 0o700
        for name in ("events.db", "events.db-wal", "events.db-shm", "state.db"):
            assert mode(state_dir / name) == 0o600, name
        events.close()
        state.close()
        shared = tmp_path / "shared"
        shared.mkdir(mode=0o755)
        (shared / "events.db").touch(mode=0o644)
        os.chmod(shared / "events.db", 0o644)
        SqliteEventStore(shared / "events.db").close()
        assert (mode(shared), mode(shared / "events.db")) == (0o755, 0o644)
    finally:
        os.umask(old_umask)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    SqliteEventStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(EVENTS_MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this pii-guard knows"):
        SqliteEventStore(path)


def test_readonly_connection_cannot_write(tmp_path: Path) -> None:
    SqliteEventStore(tmp_path / "e.db").write([event(1)], [])
    conn = open_readonly(tmp_path / "e.db")
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("DELETE FROM events")
