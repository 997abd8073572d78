"""The store's two halves: staging in the caller's thread, committing in the writer thread, and the WAL kept
in bounds by the checkpoint thread."""

from __future__ import annotations

import hashlib
import tracemalloc
from pathlib import Path

import pytest

from pii_guard.errors import StoreError
from pii_guard.model import AccessEvent, EnrichedEvent, ObjectInfo, UserInfo
from pii_guard.pipeline import Batcher, RunStats
from pii_guard.store.base import DeadLetter, PipelinedEventStore
from pii_guard.store.sqlite import SqliteEventStore, open_readonly


def event(i: int) -> EnrichedEvent:
    event_id = hashlib.blake2b(str(i).encode(), digest_size=16).hexdigest()
    ev = AccessEvent(event_id, 1_700_000_000_000_000 + i, "t", "read", "success", user=f"u{i % 7}",
                     source_ip=f"10.0.{i % 5}.1", object=f"db:crm.public.t{i % 11}", original="x" * 200,
                     fields={"process.pid": i})  # fmt: skip
    return EnrichedEvent(ev, UserInfo(f"u{i % 7}", ("support",)), ObjectInfo(("personal",), True), "office")


def stored(path: Path) -> int:
    conn = open_readonly(path)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


@pytest.mark.parametrize("pipelined", [True, False])
def test_batcher_commits_every_batch_in_order_and_flush_waits(tmp_path: Path, pipelined: bool) -> None:
    store = SqliteEventStore(tmp_path / "e.db", pipelined=pipelined)
    assert isinstance(store, PipelinedEventStore)
    stats = RunStats()
    batcher = Batcher(store, stats, batch_size=100)
    for i in range(1_050):
        batcher.add(event(i))
    batcher.add_dead(DeadLetter("/x.log", "ab", 1, "t", "no match", "junk", 1))
    batcher.flush()
    assert (stats.stored, stats.duplicates, stats.dead_letters) == (1_050, 0, 1)
    assert stored(store.path) == 1_050  # committed, visible to readers
    for i in range(1_050):  # a replay
        batcher.add(event(i))
    batcher.flush()
    assert (stats.stored, stats.duplicates) == (1_050, 1_050)
    conn = open_readonly(store.path)
    pids = [r[0] for r in conn.execute("SELECT json_extract(fields, '$.\"process.pid\"') FROM events ORDER BY seq")]
    conn.close()
    assert pids == list(range(1_050))  # arrival order
    store.close()


def test_submitted_batches_resolve_in_order_and_close_commits_what_is_queued(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "e.db")
    futures = [store.submit([event(b * 50 + i) for i in range(50)], []) for b in range(6)]
    store.close()
    assert [f.result().stored for f in futures] == [50] * 6
    assert not (tmp_path / "e.db-wal").exists()  # the last connection closed copied the WAL in
    assert stored(tmp_path / "e.db") == 300


def test_a_full_store_refuses_a_batch_whole_and_accepts_again_once_there_is_room(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "e.db", max_size_mb=0.5)
    batch = [event(i) for i in range(2_000)]
    with pytest.raises(StoreError, match="cannot write to event store"):
        store.write(batch, [])
    assert store.count_events() == 0  # all or nothing
    future = store.submit(batch[:10], [])
    assert future.result().stored == 10
    batcher = Batcher(store, RunStats(), batch_size=1_000)

    def ingest() -> None:
        for e in batch:
            batcher.add(e)
        batcher.flush()

    with pytest.raises(StoreError):
        ingest()
    store.close()


def test_the_wal_is_started_over_while_batches_keep_coming(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "e.db", wal_limit_pages=64)
    wal = tmp_path / "e.db-wal"
    sizes = []
    for b in range(40):
        store.write([event(b * 100 + i) for i in range(100)], [])
        sizes.append(wal.stat().st_size)
    store.close()
    # one batch of 100 events is ~40 pages of WAL; without checkpoints it would reach 40 × that
    assert max(sizes) < 8 * 64 * 4096, sizes
    assert stored(tmp_path / "e.db") == 4_000


def test_a_batch_that_cannot_be_staged_leaves_the_store_usable(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "e.db")
    bad = event(1)
    bad = bad._replace(event=bad.event._replace(fields={"x": {1, 2}}))  # a set: not JSON
    with pytest.raises(TypeError):
        store.write([event(0), bad], [])
    assert store.write([event(0), event(2)], []).stored == 2
    store.close()


def test_the_writer_lets_go_of_a_batchs_staged_image_once_it_is_copied_in(tmp_path: Path) -> None:
    """The serialized staging database is MBs a batch: once committed, no copy of it may stay alive in Python
    (the writer used to hold it until the next batch came, one more batch of memory for nothing)."""
    store = SqliteEventStore(tmp_path / "e.db")
    batch = [event(i) for i in range(5_000)]
    tracemalloc.start()
    try:
        store.write(batch, [])  # committed when it returns
        blocks = [trace.size for trace in tracemalloc.take_snapshot().traces if trace.size >= 256 * 1024]
    finally:
        tracemalloc.stop()
        store.close()
    assert stored(store.path) == 5_000
    assert blocks == []


def test_the_writer_empties_its_copy_of_a_committed_batch(tmp_path: Path) -> None:
    """Its copy of the staging database (MBs a batch) is swapped for an empty one once the batch is committed,
    not kept until the next batch replaces it; before the write returns, so the writer is idle by then."""
    store = SqliteEventStore(tmp_path / "e.db")
    try:
        store.write([event(i) for i in range(2_000)], [])
        assert store._conn.execute("SELECT count(*) FROM staging.batch").fetchone()[0] == 0
        store.write([event(i) for i in range(2_000, 2_100)], [])  # the next batch still goes in
    finally:
        store.close()
    assert stored(store.path) == 2_100
