"""Every line written is stored exactly once and checked exactly once, across rotations, truncations,
clean restarts and crashes: a Hypothesis state machine over the live loop, and fixed scenarios."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pii_guard.clock import FixedClock
from tests.daemon.harness import LogWriter, Process, stored_events, stored_matches, write_config


def settle(proc: Process, steps: int = 200) -> None:
    """Run until quiet: rotated files pass their grace period, batches commit."""
    proc.run(steps)
    proc.clock.advance(10)
    proc.run(20)


def clean_run(lines: int) -> list[tuple[str, str | None, int]]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = write_config(tmp)
        writer = LogWriter(tmp)
        writer.write(lines)
        proc = Process(config, FixedClock(1_800_000_000))
        settle(proc)
        proc.stop()
        return stored_matches(tmp)


class LiveFaults(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = Path(self._tmp.name)
        self.config = write_config(self.tmp, batch_size=7)
        self.writer = LogWriter(self.tmp)
        self.clock = FixedClock(1_800_000_000)
        self.proc: Process | None = Process(self.config, self.clock)

    @rule(n=st.integers(1, 40))
    def write(self, n: int) -> None:
        self.writer.write(n)

    @rule(steps=st.integers(1, 10), settle=st.booleans())
    def run(self, steps: int, settle: bool) -> None:
        """Unsettled, a batch may be in flight: its events committed or not, its state not saved yet."""
        if self.proc is not None:
            self.proc.run(steps, settle=settle)

    @rule()
    def rotate_rename(self) -> None:
        self.writer.rotate_rename()

    @rule()
    def copytruncate(self) -> None:
        self.writer.copytruncate()

    @precondition(lambda self: self.proc is not None)
    @rule()
    def restart(self) -> None:
        assert self.proc is not None
        self.proc.stop()
        self.proc = Process(self.config, self.clock)

    @precondition(lambda self: self.proc is not None)
    @rule()
    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc = Process(self.config, self.clock)

    @invariant()
    def never_more_than_written(self) -> None:
        if (self.tmp / "state" / "events.db").exists():
            total, distinct = stored_events(self.tmp)
            assert total == distinct <= self.writer.written

    def teardown(self) -> None:
        try:
            if self.proc is not None:
                settle(self.proc)
                self.proc.stop()
            total, distinct = stored_events(self.tmp)
            assert total == distinct == self.writer.written
            assert stored_matches_by_rule(self.tmp) == clean_matches_by_rule(self.writer.written)
        finally:
            self._tmp.cleanup()


def stored_matches_by_rule(tmp: Path) -> list[tuple[str, str | None, int]]:
    return stored_matches(tmp)


def clean_matches_by_rule(lines: int) -> list[tuple[str, str | None, int]]:
    return clean_run(lines)


TestLiveFaults = LiveFaults.TestCase
TestLiveFaults.settings = settings(max_examples=25, stateful_step_count=30, deadline=None)


def test_rename_rotation_finishes_the_old_file(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    writer = LogWriter(tmp_path)
    proc = Process(config, FixedClock(1_800_000_000))
    writer.write(30)
    proc.run(3)
    writer.rotate_rename()
    writer.write(20)
    settle(proc)
    proc.stop()
    assert stored_events(tmp_path) == (50, 50)


def test_a_file_rotated_away_is_closed_after_its_grace_period(tmp_path: Path) -> None:
    """The clock's wall time and monotonic time differ (as in production): the grace period runs on one."""
    config = write_config(tmp_path, pattern="logs/pg.log")
    writer = LogWriter(tmp_path)
    proc = Process(config, FixedClock(1_800_000_000))
    writer.write(30)
    proc.run(3)
    writer.rotate_rename()
    writer.write(20)
    settle(proc)
    (source,) = proc.loop.sources
    assert [t.path for t in source.tailer.files.values()] == [str(writer.path)]  # the rotated one closed
    proc.stop()
    assert stored_events(tmp_path) == (50, 50)


def test_partial_last_line_is_completed_exactly_once_across_a_restart(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    writer = LogWriter(tmp_path)
    writer.write(5)
    line = "2026-11-27 09:00:00 UTC [1]: user=bob,db=crm,app=psql,client=10.20.0.5 LOG:  AUDIT: SESSION,1,1,READ," \
           "SELECT,TABLE,public.customers,SELECT email FROM public.customers WHERE id = 999;,<none>,1\n"
    with writer.path.open("a") as fh:
        fh.write(line[:40])
    proc = Process(config, FixedClock(1_800_000_000))
    settle(proc)
    assert stored_events(tmp_path) == (5, 5)
    proc.stop()
    with writer.path.open("a") as fh:
        fh.write(line[40:])
    proc = Process(config, FixedClock(1_800_000_100))
    settle(proc)
    proc.stop()
    assert stored_events(tmp_path) == (6, 6)


def test_copytruncate_to_the_same_size_is_detected(tmp_path: Path) -> None:
    config = write_config(tmp_path, pattern="logs/pg.log")
    writer = LogWriter(tmp_path)
    writer.written = 10  # numbers 10-19, then 20-29: lines of the same length
    writer.write(10)
    proc = Process(config, FixedClock(1_800_000_000))
    settle(proc)
    size = writer.path.stat().st_size
    with writer.path.open("r+") as fh:  # rewritten in place with other lines of the same length
        fh.truncate(0)
    with writer.path.open("a") as fh:
        from tests.daemon.harness import pg_line

        for i in range(20, 30):
            fh.write(pg_line(i))
    assert writer.path.stat().st_size == size
    settle(proc)
    proc.stop()
    assert stored_events(tmp_path) == (20, 20)


def test_deleted_while_open_is_read_to_the_end(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    writer = LogWriter(tmp_path)
    writer.write(10)
    proc = Process(config, FixedClock(1_800_000_000))
    proc.run(2)
    with writer.path.open("a") as fh:
        from tests.daemon.harness import pg_line

        fh.write(pg_line(10))
        writer.path.unlink()
        fh.write(pg_line(11))  # the writer still holds the deleted file
    settle(proc)
    proc.stop()
    assert stored_events(tmp_path) == (12, 12)


def test_start_at_end_skips_existing_content_only_at_first_start(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("    format: pgaudit\n", "    format: pgaudit\n    start_at: end\n"))
    writer = LogWriter(tmp_path)
    writer.write(10)
    proc = Process(config, FixedClock(1_800_000_000))
    settle(proc)
    writer.write(5)
    settle(proc)
    proc.stop()
    assert stored_events(tmp_path) == (5, 5)


def test_compressed_rotations_are_ignored(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    writer = LogWriter(tmp_path)
    writer.write(3)
    (tmp_path / "logs" / "pg.log.2.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 50 + b"\n")
    proc = Process(config, FixedClock(1_800_000_000))
    settle(proc)
    proc.stop()
    assert stored_events(tmp_path) == (3, 3)


def test_full_store_pauses_ingestion_and_resumes_losing_nothing(tmp_path: Path, caplog: object) -> None:
    """The store is capped (SQLite max_page_count): at the cap reading pauses with a clear log line; each time
    an operator frees space (here: moves the stored events away) it resumes. Every line arrives exactly once."""
    import logging
    import sqlite3

    config = write_config(tmp_path, batch_size=100)
    config.write_text(config.read_text().replace("  batch_ms: 20\n", "  batch_ms: 20\n  max_size_mb: 1\n"))
    writer = LogWriter(tmp_path)
    writer.write(4000)
    proc = Process(config, FixedClock(1_800_000_000))
    db = tmp_path / "state" / "events.db"
    moved_away: list[int] = []
    pauses = 0
    with caplog.at_level(logging.ERROR, logger="pii_guard.live"):  # type: ignore[attr-defined]
        for _ in range(200):
            proc.run(5)
            if proc.loop.paused_since is None:
                continue
            pauses += 1
            conn = sqlite3.connect(db)
            pids = [r[0] for r in conn.execute("SELECT json_extract(fields, '$.\"process.pid\"') FROM events")]
            assert pids, "paused with an empty store"
            moved_away += pids
            conn.execute("DELETE FROM events")
            conn.execute("DELETE FROM event_categories")
            conn.commit()
            conn.close()
        settle(proc)
    assert pauses >= 2
    assert "store refused a write, ingestion paused until it accepts again" in caplog.text  # type: ignore[attr-defined]
    assert proc.loop.paused_since is None
    proc.stop()
    conn = sqlite3.connect(db)
    moved_away += [r[0] for r in conn.execute("SELECT json_extract(fields, '$.\"process.pid\"') FROM events")]
    conn.close()
    assert sorted(moved_away) == list(range(10_000, 14_000))


def test_start_at_end_position_survives_a_crash_before_the_first_commit(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("    format: pgaudit\n", "    format: pgaudit\n    start_at: end\n"))
    writer = LogWriter(tmp_path)
    writer.write(5)
    proc = Process(config, FixedClock(1_800_000_000))
    proc.run(3)  # quiet log: nothing to store, only the starting position
    proc.kill()
    writer.write(7)
    proc = Process(config, FixedClock(1_800_000_100))
    settle(proc)
    proc.stop()
    assert stored_events(tmp_path) == (7, 7)


def test_compressed_rotations_are_read_once_under_the_identity_of_their_text(tmp_path: Path) -> None:
    """With include_compressed: a rotation read while plain and compressed afterwards (logrotate's delaycompress)
    is not read again, and an archive never seen plain is read whole, once."""
    import gzip

    from tests.daemon.harness import pg_line

    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("    format: pgaudit\n",
                                                 "    format: pgaudit\n    include_compressed: true\n"))
    writer = LogWriter(tmp_path)
    writer.written = 100
    writer.write(30)
    proc = Process(config, FixedClock(1_800_000_000))
    settle(proc)
    writer.rotate_rename()  # pg.log -> pg.log.1
    writer.write(20)
    settle(proc)
    rotated = tmp_path / "logs" / "pg.log.1"
    (tmp_path / "logs" / "pg.log.1.gz").write_bytes(gzip.compress(rotated.read_bytes()))
    rotated.unlink()
    older = "".join(pg_line(i) for i in range(10))  # an archive from before pii-guard was installed
    (tmp_path / "logs" / "pg.log.2.gz").write_bytes(gzip.compress(older.encode()))
    settle(proc)
    proc.stop()
    proc = Process(config, FixedClock(1_800_000_100))  # and a restart reads none of them again
    settle(proc)
    proc.stop()
    assert stored_events(tmp_path) == (60, 60)
