"""In-process receivers with the live loop behind them: a config, the receivers it names, and a loop the
test steps, on the system clock (receivers are threads on real sockets)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from pii_guard.clock import SystemClock
from pii_guard.config.load import load_config
from pii_guard.detection.build import engine_for, policy_for
from pii_guard.enrich.enricher import Enricher
from pii_guard.live import LiveLoop
from pii_guard.sources.spool import ReceiverMetrics
from pii_guard.sources.syslog_receiver import Receiver, receivers_for
from pii_guard.store.sqlite import SqliteEventStore
from pii_guard.store.state import StateStore


class CountingMetrics(ReceiverMetrics):
    def __init__(self) -> None:
        self.counts: dict[tuple[str, ...], int] = {}

    def received(self, receiver: str, protocol: str, n: int) -> None:
        key = ("received", receiver, protocol)
        self.counts[key] = self.counts.get(key, 0) + n

    def dropped(self, receiver: str, protocol: str, reason: str, n: int) -> None:
        key = ("dropped", receiver, protocol, reason)
        self.counts[key] = self.counts.get(key, 0) + n


def write_config(tmp: Path, receivers: str) -> Path:
    path = tmp / "pii-guard.yaml"
    path.write_text(f'state_dir: state\nstore: {{batch_ms: 20}}\ndaemon: {{listen: "", rescan_s: 0.05}}\n'
                    f"receivers:\n{receivers}")
    return path


class Pipeline:
    """Receivers + live loop over one config; `start` binds, `pump` steps the loop, `stop` drains."""

    def __init__(self, config: Path) -> None:
        loaded = load_config(config)
        c = loaded.config
        self.clock = SystemClock()
        enricher = Enricher.from_config(c)
        self.events = SqliteEventStore(c.store_path, c.store.synchronous, c.store.max_size_mb)
        self.state = StateStore(c.state_path / "state.db")
        self.loop = LiveLoop(loaded.sources, enricher, engine_for(policy_for(c, enricher)), self.events, self.state,
                             self.clock, resolve=lambda p: str(c.resolve(p)), batch_size=c.store.batch_size,
                             batch_ms=c.store.batch_ms, rescan_s=c.daemon.rescan_s)
        self.metrics = CountingMetrics()
        self.receivers: list[Receiver] = receivers_for(loaded.receivers, c.state_path / "state.db", self.clock,
                                                       self.metrics)
        self.db = c.store_path

    def start(self) -> Pipeline:
        for receiver in self.receivers:
            receiver.start()
        self.loop.scan(self.clock.monotonic())
        return self

    def pump(self, until: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError("timed out pumping the live loop")
            if not self.loop.step():
                time.sleep(0.01)

    def stop(self) -> None:
        for receiver in self.receivers:
            receiver.stop()
        self.loop.shutdown()
        self.events.close()
        self.state.close()

    def stored(self) -> list[tuple[str, str, str | None, str]]:
        """(dataset, action, user, original) of every stored event, in store order."""
        conn = sqlite3.connect(self.db)
        try:
            return [tuple(r) for r in conn.execute(
                "SELECT dataset, action, user_name, original FROM events ORDER BY seq")]  # type: ignore[misc]
        finally:
            conn.close()
