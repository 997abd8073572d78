"""In-process driving of the live loop for fault tests: a log writer that rotates like logrotate, and a
'process' that can be stopped cleanly, or killed (its uncommitted work thrown away, as kill -9 would)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from pii_guard.clock import FixedClock
from pii_guard.config.load import load_config
from pii_guard.config.models import SqliteStoreConfig
from pii_guard.detection.build import engine_for, policy_for
from pii_guard.enrich.enricher import Enricher
from pii_guard.live import LiveLoop
from pii_guard.store.sqlite import SqliteEventStore
from pii_guard.store.state import StateStore

ROOT = Path(__file__).parents[2]
PREFIX = "%t [%p]: user=%u,db=%d,app=%a,client=%h "


def write_config(tmp: Path, pattern: str = "logs/pg.log*", batch_size: int = 50, extra: str = "",
                 source_extra: str = "") -> Path:
    path = tmp / "pii-guard.yaml"
    path.write_text(f"""\
state_dir: state
sources:
  - path: "{pattern}"
    format: pgaudit
    options: {{log_line_prefix: "{PREFIX}"}}
{source_extra}store:
  batch_size: {batch_size}
  batch_ms: 20
{extra}daemon: {{listen: "", rescan_s: 0.2}}
policy:
  zones: {ROOT}/rules/zones.yaml
  data_map: {ROOT}/rules/data-map.yaml
  directory: {ROOT}/rules/directory.yaml
  access: {ROOT}/rules/access-policy.yaml
""")
    (tmp / "logs").mkdir(exist_ok=True)
    return path


def pg_line(i: int, user: str = "bob", ip: str = "10.20.0.5", rows: int = 1, start_s: int = 0) -> str:
    sec = start_s + i // 20
    stamp = f"2026-11-27 {8 + sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
    # one backend per line: statement ids restart per backend, like pgAudit's
    return (f"{stamp} UTC [{10_000 + i}]: user={user},db=crm,app=psql,client={ip} LOG:  AUDIT: SESSION,1,1,READ,"
            f"SELECT,TABLE,public.customers,SELECT email FROM public.customers WHERE id = {i};,<none>,{rows}\n")


class LogWriter:
    """Appends numbered lines to logs/pg.log and rotates it the two ways logrotate does."""

    def __init__(self, tmp: Path) -> None:
        self.dir = tmp / "logs"
        self.path = self.dir / "pg.log"
        self.written = 0
        self.rotations = 0

    def write(self, n: int, partial_tail: bool = False) -> None:
        with self.path.open("a") as fh:
            for _ in range(n):
                fh.write(pg_line(self.written))
                self.written += 1
            fh.flush()
            os.fsync(fh.fileno())

    def rotate_rename(self) -> None:
        self.rotations += 1
        if self.path.exists():
            self.path.rename(self.dir / f"pg.log.{self.rotations}")

    def copytruncate(self) -> None:
        self.rotations += 1
        if self.path.exists():
            shutil.copyfile(self.path, self.dir / f"pg.log.{self.rotations}")
            with self.path.open("r+") as fh:
                fh.truncate(0)


class Process:
    """One run of the live loop over the config, on a clock the test moves."""

    def __init__(self, config: Path, clock: FixedClock) -> None:
        loaded = load_config(config)
        c = loaded.config
        enricher = Enricher.from_config(c)
        assert isinstance(c.store, SqliteStoreConfig)
        self.events = SqliteEventStore(c.store_path, c.store.synchronous, c.store.max_size_mb)
        self.state = StateStore(c.state_path / "state.db")
        self.loop = LiveLoop(loaded.sources, enricher, engine_for(policy_for(c, enricher)), self.events, self.state,
                             clock, resolve=lambda p: str(c.resolve(p)), batch_size=c.store.batch_size,
                             batch_ms=c.store.batch_ms, rescan_s=c.daemon.rescan_s)
        self.clock = clock

    def run(self, steps: int, *, settle: bool = True) -> None:
        """`steps` turns of the loop, then the batch in flight committed (the daemon's loop does that when the
        store's writer thread wakes it). `settle=False` leaves it in flight, for a crash to interrupt."""
        for _ in range(steps):
            self.loop.step()
            self.clock.advance(0.05)
        if settle:
            self.loop.settle()

    def stop(self) -> None:
        self.loop.shutdown()
        self._close()

    def kill(self) -> None:
        """Lose everything not committed: close the connections without a final commit."""
        for source in self.loop.sources:
            source.tailer.close()
        self._close()

    def _close(self) -> None:
        self.events.close()
        self.state.close()


def stored_events(tmp: Path) -> tuple[int, int]:
    conn = sqlite3.connect(tmp / "state" / "events.db")
    try:
        total, distinct = conn.execute(
            """SELECT count(*), count(DISTINCT json_extract(fields, '$."process.pid"')) FROM events"""
        ).fetchone()
        return int(total), int(distinct)
    finally:
        conn.close()


def stored_matches(tmp: Path) -> list[tuple[str, str | None, int]]:
    conn = sqlite3.connect(tmp / "state" / "state.db")
    try:
        rows = conn.execute("SELECT rule_id, user_name, ts FROM matches ORDER BY ts, rule_id").fetchall()
        return [(r, u, t) for r, u, t in rows]
    finally:
        conn.close()
