"""`--top user.name` over whole days reads the per-day totals: the same answer as counting the events, after
replays and retention pruning too (checked against SQL over the events table)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pii_guard.search.query import parse_query
from pii_guard.search.request import SearchRequest, TopRow
from pii_guard.search.sqlite_search import SqliteSearch
from pii_guard.store.sqlite import SqliteEventStore
from tests.policy.events import at, enrich_all, ev

DAY_US = 86_400_000_000
START = at("2026-11-01 00:00:00")
USERS = ("alice", "bob", "carol", None)

event_specs = st.lists(
    st.tuples(st.integers(0, 6 * DAY_US - 1), st.sampled_from(USERS), st.none() | st.integers(0, 5000),
              st.none() | st.integers(0, 10**6)),
    min_size=1, max_size=60,
)


def expected(db: Path, since: int, until: int, by: str | None, size: int) -> list[TopRow]:
    volume = {None: "0", "pii.rows": "sum(coalesce(rows, 0))", "pii.bytes": "sum(coalesce(bytes, 0))"}[by]
    order = "3 DESC, 2 DESC" if by else "2 DESC, 3 DESC"
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(f"SELECT user_name, count(*), {volume} FROM events WHERE ts >= ? AND ts < ? AND "
                            f"user_name IS NOT NULL GROUP BY 1 ORDER BY {order}, 1 LIMIT ?",
                            (since, until, size)).fetchall()
    finally:
        conn.close()
    return [TopRow(r[0], r[1], r[2]) for r in rows]


@settings(max_examples=40, deadline=None)
@given(specs=event_specs, since=st.integers(0, 6 * DAY_US), length=st.integers(1, 6 * DAY_US),
       by=st.sampled_from([None, "pii.rows", "pii.bytes"]))
def test_day_totals_answer_as_the_events_do(tmp_path_factory: object, specs: list[tuple[int, str | None, int | None,
                                            int | None]], since: int, length: int, by: str | None) -> None:
    tmp = Path(tmp_path_factory.mktemp("top"))  # type: ignore[attr-defined]
    db = tmp / "events.db"
    events = enrich_all([ev(START + t, user, rows=rows, nbytes=nbytes) for t, user, rows, nbytes in specs])
    store = SqliteEventStore(db)
    store.write(events, [])
    store.write(events[: len(events) // 2], [])  # a replay stores nothing, and counts nothing twice
    store.close()
    search = SqliteSearch(db)
    try:
        request = SearchRequest(parse_query("*"), START + since, START + since + length, (), 10)
        assert search.top(request, "user.name", by, 3) == expected(db, START + since, START + since + length, by, 3)
    finally:
        search.close()


def test_retention_pruning_keeps_the_day_totals_true(tmp_path: Path) -> None:
    from pii_guard.reports.queries import prune_events

    db = tmp_path / "events.db"
    events = enrich_all([ev(START + i * DAY_US // 10, USERS[i % 3], rows=i) for i in range(60)])
    store = SqliteEventStore(db)
    store.write(events, [])
    store.close()
    cutoff = START + 3 * DAY_US + DAY_US // 2  # half a day into the fourth day
    conn = sqlite3.connect(db, isolation_level=None)
    assert prune_events(conn, lambda categories: cutoff, cutoff) == 35
    conn.close()
    search = SqliteSearch(db)
    try:
        request = SearchRequest(parse_query("*"), START, START + 6 * DAY_US, (), 10)
        got = search.top(request, "user.name", "pii.rows", 3)
        assert got == expected(db, START, START + 6 * DAY_US, "pii.rows", 3)
        assert sum(row.events for row in got) == 25
    finally:
        search.close()
