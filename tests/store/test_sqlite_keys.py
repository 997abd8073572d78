"""De-duplication on the time and 64-bit id key, the migration that introduced it, and how NULLs are staged."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pii_guard.model import TIME_FROM, AccessEvent, EnrichedEvent, ObjectInfo, UserInfo
from pii_guard.store.migrations import EVENTS_MIGRATIONS
from pii_guard.store.sqlite import SqliteEventStore, event_key, open_readonly

T0 = 1_700_000_000_000_000


def hex_id(i: int, prefix: str | None = None) -> str:
    digest = hashlib.blake2b(str(i).encode(), digest_size=16).hexdigest()
    return digest if prefix is None else prefix + digest[16:]


def event(
    event_id: str,
    i: int = 0,
    *,
    ts: int | None = None,
    cats: tuple[str, ...] = ("personal",),
    records: tuple[str, ...] = (),
    user: UserInfo | None = None,
    **fields: Any,
) -> EnrichedEvent:
    ev = AccessEvent(
        event_id,
        T0 + i if ts is None else ts,
        "t",
        "read",
        "success",
        user=user and user.name,
        source_ip="10.0.0.1",
        object=f"db:crm.public.t{i % 3}",
        record_ids=records,
        **fields,
    )
    return EnrichedEvent(ev, user, ObjectInfo(cats, bool(cats)), "office")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    s = SqliteEventStore(tmp_path / "e.db")
    yield s
    s.close()


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = open_readonly(path)
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def test_event_key_is_the_ids_first_64_bits_or_a_hash() -> None:
    assert event_key("0" * 32) == -(1 << 63)
    assert event_key("f" * 32) == (1 << 63) - 1
    assert event_key("8000000000000000" + "0" * 16) == 0
    for odd in ("id5", "abc", "-123456789abcdef0123", "zz" * 16):
        key = event_key(odd)
        assert -(1 << 63) <= key < 1 << 63
        assert key == event_key(odd)


def test_a_replay_stores_nothing_twice_and_no_side_rows(store: SqliteEventStore) -> None:
    batch = [event(hex_id(i), i, records=("cust-1",)) for i in range(50)]
    assert store.write(batch, []).stored == 50
    result = store.write([*batch[1:], event(hex_id(50), 50)], [])
    assert (result.stored, result.duplicates) == (1, 49)
    assert store.count_events() == 51
    assert rows(store.path, "SELECT count(*) FROM event_categories") == [(51,)]
    assert rows(store.path, "SELECT count(*) FROM event_records") == [(50,)]
    assert rows(store.path, "SELECT count(*) FROM events WHERE id_key IS NULL") == [(0,)]


def test_events_without_a_time_of_their_own_are_replays_whatever_time_they_get(store: SqliteEventStore) -> None:
    """sshd -E's bare lines take the file's last-write time, which differs when the file is read again: such
    events (marked with TIME_FROM) are de-duplicated on their id alone. A record with a time of its own that is
    read into another time (its source's timezone changed) is stored again under the new time."""
    untimed = [event(hex_id(i), i, records=("cust-1",), fields={TIME_FROM: "file"}) for i in range(5)]
    timed = [event(hex_id(i), i) for i in range(5, 10)]
    assert store.write([*untimed, *timed], []).stored == 10
    later = [event(e.event.id, 0, ts=T0 + 999, records=("cust-1",), fields={TIME_FROM: "file"}) for e in untimed]
    result = store.write([*later, event(hex_id(10), 10, fields={TIME_FROM: "file"})], [])
    assert (result.stored, result.duplicates) == (1, 5)
    assert rows(store.path, "SELECT count(*) FROM event_records") == [(5,)]  # none for the replays
    assert rows(store.path, "SELECT count(*) FROM untimed_keys") == [(6,)]
    # the same untimed events at their first time are replays as well
    assert store.write(untimed, []).stored == 0
    moved = event(timed[0].event.id, 5, ts=T0 + 5_000)
    assert store.write([moved, *timed[1:]], []).stored == 1
    assert store.count_events() == 12


def test_twice_in_one_batch_is_stored_once(store: SqliteEventStore) -> None:
    e = event(hex_id(1), 1)
    result = store.write([e, event(hex_id(2), 2), e], [])
    assert (result.stored, result.duplicates) == (2, 1)


def test_a_64_bit_collision_keeps_both_events_and_replays_of_both_store_nothing(
    store: SqliteEventStore, caplog: pytest.LogCaptureFixture
) -> None:
    # the same time and the same first 64 bits: only then do keys collide
    first = event(hex_id(1, prefix="0123456789abcdef"), 1, ts=T0)
    second = event(hex_id(2, prefix="0123456789abcdef"), 2, ts=T0, cats=("health",))
    third = event(hex_id(3, prefix="0123456789abcdef"), 3, ts=T0)
    other_time = event(hex_id(4, prefix="0123456789abcdef"), 4, ts=T0 + 1)
    assert event_key(first.event.id) == event_key(second.event.id) == event_key(third.event.id)
    assert store.write([first], []).stored == 1
    assert store.write([second, third], []).stored == 2
    assert "shares its 64-bit key" in caplog.text
    assert store.write([other_time], []).stored == 1
    for batch in ([first], [second], [third], [third, second, first], [other_time]):
        assert store.write(batch, []).stored == 0
    stored = rows(store.path, "SELECT id, id_key FROM events ORDER BY seq")
    assert stored == [(first.event.id, event_key(first.event.id)), (second.event.id, None), (third.event.id, None),
                      (other_time.event.id, event_key(other_time.event.id))]  # fmt: skip
    assert rows(store.path, "SELECT category, event_id FROM event_categories WHERE category = 'health'") == [
        ("health", second.event.id)
    ]


def test_ids_that_are_not_hex_digests_are_keyed_too(store: SqliteEventStore) -> None:
    batch = [event(f"id{i}", i) for i in range(20)]
    assert store.write(batch, []).stored == 20
    assert store.write(batch, []).stored == 0
    assert rows(store.path, "SELECT count(DISTINCT id_key) FROM events") == [(20,)]


def test_nulls_survive_staging_and_values_that_look_like_the_sentinels_are_kept(store: SqliteEventStore) -> None:
    known = UserInfo("bob", (), "sales")  # roles: "" (empty), not NULL
    batch = [
        event(hex_id(0), 0, user=known, rows=-(1 << 63), command="\0", error_code="E1", host="h"),
        event(hex_id(1), 1, user=None, rows=None, command=None, error_code=None, host="h", cats=()),
        event(hex_id(2), 2, user=UserInfo("ann", ("hr", "it"), None, known=False), rows=3, command="SELECT",
              fields={"a": [1, "x"]}),
    ]  # fmt: skip
    assert store.write(batch, []).stored == 3
    got = rows(
        store.path,
        "SELECT user_name, user_roles, user_known, department, rows, command, error_code, host, "
        "categories, honeytoken, fields, source_port, statement, source FROM events ORDER BY seq",
    )
    assert got == [
        ("bob", "", 1, "sales", -(1 << 63), "\0", "E1", "h", "personal", 0, None, None, None, None),
        (None, None, None, None, None, None, None, "h", None, 0, None, None, None, None),
        ("ann", "hr it", 0, None, 3, "SELECT", None, None, "personal", 0, '{"a":[1,"x"]}', None, None, None),
    ]


def test_version_1_store_is_migrated_keeping_every_event(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    conn = sqlite3.connect(path)
    conn.executescript(EVENTS_MIGRATIONS[0] + ";PRAGMA user_version=1;")
    # four ids sharing their first 64 bits (a collision), two of them at one time, and one id that is not hex
    ids = [hex_id(i, "00000000000000aa") for i in range(1, 5)] + ["id-5"]
    times = [T0 + 1, T0 + 2, T0 + 3, T0 + 3, T0 + 5]
    for seq, (event_id, ts) in enumerate(zip(ids, times, strict=True), 1):
        conn.execute(
            "INSERT INTO events (seq, id, ts, dataset, action, outcome, user_name, object, original) "
            "VALUES (?, ?, ?, 't', 'read', 'success', 'bob', 'db:x', 'line')",
            (seq, event_id, ts),
        )
        conn.execute("INSERT INTO event_categories VALUES ('personal', ?, ?)", (ts, event_id))
    conn.commit()
    conn.close()

    store = SqliteEventStore(path)
    try:
        assert rows(path, "PRAGMA user_version") == [(len(EVENTS_MIGRATIONS),)]
        # step 2 left the collisions without a key; step 4 gives it back where the time is free of it
        assert rows(path, "SELECT seq, id, id_key FROM events ORDER BY seq") == [
            (1, ids[0], event_key(ids[0])), (2, ids[1], event_key(ids[1])), (3, ids[2], event_key(ids[2])),
            (4, ids[3], None), (5, ids[4], event_key(ids[4]))
        ]  # fmt: skip
        indexes = {name for (name,) in rows(path, "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"events_ts_key", "events_user_ts", "events_object_ts", "events_ip_ts"} <= indexes
        assert not {"events_key", "events_ts"} & indexes  # replaced by events_ts_key (migration 4)
        # a replay of the migrated events stores nothing
        replay = [event(i, ts=ts) for i, ts in zip(ids, times, strict=True)]
        assert store.write(replay, []).stored == 0
        assert store.write([event(hex_id(6), 6)], []).stored == 1
        assert rows(path, "SELECT count(*) FROM event_categories") == [(6,)]
    finally:
        store.close()


def test_queries_by_user_object_ip_and_time_use_the_indexes(store: SqliteEventStore) -> None:
    store.write([event(hex_id(i), i, user=UserInfo("bob")) for i in range(10)], [])
    conn = open_readonly(store.path)
    try:
        for where, index in (("user_name = 'bob' AND ts > 0", "events_user_ts"),
                             ("object = 'db:crm.public.t1' AND ts > 0", "events_object_ts"),
                             ("source_ip = '10.0.0.1' AND ts > 0", "events_ip_ts"),
                             ("ts >= 0 AND ts < 10", "events_ts_key"),
                             (f"ts = 3 AND id_key = {event_key(hex_id(3))}", "events_ts_key")):  # fmt: skip
            plan = " ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN SELECT * FROM events WHERE {where}"))
            assert index in plan, (where, plan)
    finally:
        conn.close()


def test_retention_pruning_forgets_the_keys_of_pruned_untimed_events(store: SqliteEventStore) -> None:
    from pii_guard.reports.queries import prune_events

    untimed = [event(hex_id(i), i, fields={TIME_FROM: "file"}) for i in range(10)]
    assert store.write(untimed, []).stored == 10
    conn = sqlite3.connect(store.path, isolation_level=None)
    try:
        assert prune_events(conn, lambda categories: T0 + 4, T0 + 4) == 4
    finally:
        conn.close()
    assert rows(store.path, "SELECT id FROM untimed_keys ORDER BY ts") == [(e.event.id,) for e in untimed[4:]]
    # what was pruned is stored anew when read again, what was kept is still a replay
    assert store.write(untimed, []).stored == 4
