"""How long the live loop lets the daemon sleep (`next_wait`) while a batch is on its way to the store.

The daemon turns the loop only when lines arrive, a wake-up comes, or `next_wait` runs out; a wait of 0 with
nothing to do is a busy loop that takes a core and the interpreter lock from the store's writer thread."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from pii_guard.clock import FixedClock
from pii_guard.config.load import load_config
from pii_guard.config.models import SqliteStoreConfig
from pii_guard.detection.build import engine_for, policy_for
from pii_guard.enrich.enricher import Enricher
from pii_guard.live import LiveLoop
from pii_guard.model import EnrichedEvent
from pii_guard.store.base import DeadLetter, WriteResult
from pii_guard.store.sqlite import SqliteEventStore
from pii_guard.store.state import StateStore
from tests.daemon.harness import LogWriter, Process, stored_events, write_config


class HeldStore:
    """The SQLite store, with each submitted batch held back until the test lets it through: the writer
    thread of a store that is slower than the reader, without the timing."""

    def __init__(self, store: SqliteEventStore) -> None:
        self.store = store
        self.holding = False  # off at first: the first scan commits the file's starting position at once
        self.held: list[tuple[Sequence[EnrichedEvent], Sequence[DeadLetter], Future[WriteResult]]] = []

    def write(self, events: Sequence[EnrichedEvent], dead: Sequence[DeadLetter]) -> WriteResult:
        return self.store.write(events, dead)

    def submit(self, events: Sequence[EnrichedEvent], dead: Sequence[DeadLetter]) -> Future[WriteResult]:
        future: Future[WriteResult] = Future()
        if self.holding:
            self.held.append((list(events), list(dead), future))
        else:
            future.set_result(self.store.write(events, dead))
        return future

    def release(self) -> None:
        for events, dead, future in self.held:
            future.set_result(self.store.write(events, dead))
        self.held.clear()

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


class Unpipelined:
    """A store without a writer thread (as the Elasticsearch store is): `write` only."""

    def __init__(self, store: SqliteEventStore) -> None:
        self.store = store

    def write(self, events: Sequence[EnrichedEvent], dead: Sequence[DeadLetter]) -> WriteResult:
        return self.store.write(events, dead)

    def __getattr__(self, name: str) -> object:
        if name == "submit":
            raise AttributeError(name)
        return getattr(self.store, name)


def _loop(tmp: Path, store: Callable[[SqliteEventStore], Any], clock: FixedClock,
          woken: list[int]) -> tuple[LiveLoop, SqliteEventStore]:
    loaded = load_config(write_config(tmp, batch_size=1_000))
    c = loaded.config
    enricher = Enricher.from_config(c)
    assert isinstance(c.store, SqliteStoreConfig)
    events = SqliteEventStore(c.store_path, c.store.synchronous, c.store.max_size_mb)
    loop = LiveLoop(loaded.sources, enricher, engine_for(policy_for(c, enricher)), store(events),
                    StateStore(c.state_path / "state.db"), clock, resolve=lambda p: str(c.resolve(p)),
                    batch_size=c.store.batch_size, batch_ms=c.store.batch_ms, rescan_s=c.daemon.rescan_s,
                    wake=lambda: woken.append(1))  # fmt: skip
    return loop, events


def test_a_due_batch_behind_one_in_flight_waits_for_the_wake_up_not_a_spin(tmp_path: Path) -> None:
    clock = FixedClock(1_800_000_000)
    woken: list[int] = []
    held: list[HeldStore] = []

    def make(events: SqliteEventStore) -> HeldStore:
        held.append(HeldStore(events))
        return held[0]

    loop, events = _loop(tmp_path, make, clock, woken)
    writer = LogWriter(tmp_path)
    writer.write(10)
    loop.step()  # scan (the file's position committed), read the 10 lines into a batch
    held[0].holding = True
    clock.advance(0.05)
    loop.step()  # the batch is due: sealed, handed to the store, held there
    assert len(held[0].held) == 1
    writer.write(10)
    loop.step()  # the next 10 lines, into a new batch
    clock.advance(0.05)
    assert loop.step() == 0  # due too, but it cannot be sealed while the first is in flight
    assert len(held[0].held) == 1
    wait = loop.next_wait(1.0)
    assert wait == 0.05  # the wake-up of the store's thread ends it; until then, nothing to do
    held[0].release()  # the writer thread's done callback is what wakes the daemon
    assert woken
    loop.step()  # the first batch's state saved, the second sealed
    assert len(held[0].held) == 1
    held[0].holding = False
    held[0].release()
    loop.settle()
    assert stored_events(tmp_path) == (20, 20)
    loop.shutdown()
    events.close()


def test_a_sealed_batch_for_a_store_without_a_writer_thread_is_written_at_once(tmp_path: Path) -> None:
    clock = FixedClock(1_800_000_000)
    loop, events = _loop(tmp_path, Unpipelined, clock, [])
    writer = LogWriter(tmp_path)
    writer.write(10)
    loop.step()
    clock.advance(0.05)
    loop.step()  # sealed: the next step writes it, so the daemon must not sleep before that step
    assert loop.next_wait(1.0) == 0.0
    loop.step()
    assert stored_events(tmp_path) == (10, 10)
    assert loop.next_wait(1.0) > 0.0  # written: a sleep again (bounded while the engine holds late events)
    loop.shutdown()
    events.close()


def test_events_held_for_lateness_let_the_daemon_sleep_until_they_are_due(tmp_path: Path) -> None:
    """The shipped policy holds events 5 s (`lateness`) for lines that arrive out of order; a quiet log's
    held events are released as its quiet time passes. The daemon sleeps until the oldest is due, instead of
    looking every 50 ms for 5 s after every line."""
    clock = FixedClock(1_800_000_000)
    loop, events = _loop(tmp_path, lambda store: store, clock, [])
    assert loop.engine.lateness_us == 5_000_000
    LogWriter(tmp_path).write(10)  # the same second of event time
    loop.step()
    clock.advance(0.05)
    loop.step()  # the batch committed; its events held by the engine
    loop.settle()
    assert loop.engine.pending
    assert loop.next_wait(10.0) == pytest.approx(5.001 - 0.05)
    clock.advance(4.0)
    assert loop.next_wait(10.0) == pytest.approx(1.001 - 0.05)
    clock.advance(1.0)
    loop.step()  # 5 s quiet: released to the detectors
    assert not loop.engine.pending
    loop.shutdown()
    events.close()


def test_a_step_that_read_all_there_was_lets_the_daemon_sleep_at_once(tmp_path: Path) -> None:
    """The daemon sleeps after a step that read fewer lines than its budget (`drained`): a step right after it
    would find nothing new, and a write during the step has already woken it. A step cut by the budget is
    followed by another at once."""
    config = write_config(tmp_path, batch_size=4)
    proc = Process(config, FixedClock(1_800_000_000))
    writer = LogWriter(tmp_path)
    writer.write(10)
    read = []
    for _ in range(3):
        read.append((proc.loop.step(), proc.loop.drained))
        proc.loop.settle()
    assert read == [(4, False), (4, False), (2, True)]  # cut by the budget (there may be more), then the rest
    writer.write(3)
    assert proc.loop.step() == 3
    assert proc.loop.drained
    proc.stop()


def test_the_daemon_warns_of_rotations_beside_a_source_that_follows_one_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As `check` does (tests/test_cli.py): operators who never run `check` see it in the daemon's log."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "pg.log").write_text("")
    (tmp_path / "logs" / "pg.log.1").write_text("")

    def start(pattern: str) -> list[str]:
        caplog.clear()
        loaded = load_config(write_config(tmp_path, pattern=pattern))
        c = loaded.config
        enricher = Enricher.from_config(c)
        with caplog.at_level(logging.WARNING, logger="pii_guard.live"):
            loop = LiveLoop(loaded.sources, enricher, engine_for(policy_for(c, enricher)),
                            SqliteEventStore(c.state_path / "events.db"), StateStore(c.state_path / "state.db"),
                            FixedClock(1_800_000_000), resolve=lambda p: str(c.resolve(p)))  # fmt: skip
        loop.shutdown()
        return [r.getMessage() for r in caplog.records if "rotation" in r.getMessage()]

    [warning] = start("logs/pg.log")
    assert "1 rotation(s) of it lie beside it" in warning
    assert "path: 'logs/pg.log*'" in warning
    assert start("logs/pg.log*") == []
