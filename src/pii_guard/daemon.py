"""`pii-guard run`: wiring only. Builds the live loop from the config, then handles signals (SIGTERM drains
and exits 0, SIGHUP reloads), systemd notification and watchdog pings, /metrics and /healthz, and the wake-ups
from watchdog (inotify is a hint; the loop also rescans on a timer)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from watchdog.observers.api import BaseObserver

from pii_guard.clock import Clock
from pii_guard.config.load import LoadedConfig, load_config
from pii_guard.detection.build import engine_for, policy_for
from pii_guard.enrich.enricher import Enricher
from pii_guard.errors import PiiGuardError
from pii_guard.incidents.book import IncidentBook
from pii_guard.interpreter import pipeline_interpreter, refreeze
from pii_guard.live import LiveLoop
from pii_guard.metrics import PrometheusMetrics, serve
from pii_guard.model import Match
from pii_guard.notify.build import notifiers_for, targets_for
from pii_guard.notify.worker import OutboxWorker
from pii_guard.runlock import StateLock
from pii_guard.schedule import Scheduler
from pii_guard.sdnotify import SystemdNotifier
from pii_guard.sources.syslog_receiver import Receiver, receivers_for
from pii_guard.store.base import EventStore
from pii_guard.store.build import open_event_store
from pii_guard.store.sqlite import connect
from pii_guard.store.state import StateStore
from pii_guard.wakeups import watch

if TYPE_CHECKING:
    from pii_guard.web.server import WebThread

log = logging.getLogger("pii_guard.daemon")


# Match lines per committed batch; the rest of a flood (a leak in full swing, a backlog caught up) is one
# summary line: each line costs ~0.1 ms, and journald would drop a burst of thousands anyway.
MATCH_LINES_PER_BATCH = 20


def log_matches(matches: Sequence[Match]) -> None:
    """One line per committed match (who, what, how much, where; never the personal data itself), up to
    MATCH_LINES_PER_BATCH, then one line that counts the rest per rule. Every match is stored all the same."""
    for match in matches[:MATCH_LINES_PER_BATCH]:
        log.warning(match.sentence, extra={"event": "match", "rule": match.rule_id, "kind": match.kind,
                                           "severity": match.severity, "attempt": match.attempt,
                                           "match_id": match.id})
    rest = matches[MATCH_LINES_PER_BATCH:]
    if rest:
        per_rule = Counter(m.rule_id for m in rest)
        log.warning("%d more matches in this batch, not logged one by one (all are stored: pii-guard incidents "
                    "list, pii-guard status)", len(rest),
                    extra={"event": "matches_not_logged", "count": len(rest),
                           "rules": ",".join(f"{rule}:{n}" for rule, n in per_rule.most_common())})


def _job_failed(job: str, fire_us: int, attempt: int, error: str, giving_up: bool) -> None:
    """A scheduled job failed (it is retried; ingestion goes on): say so where operators look."""
    log.error("scheduled job failed", extra={"job": job, "attempt": attempt, "giving_up": giving_up,
                                              "error": error})


@dataclass
class _Runtime:
    loaded: LoadedConfig
    loop: LiveLoop
    events: EventStore
    state: StateStore
    outbox: OutboxWorker | None = None
    outbox_stop: threading.Event | None = None
    outbox_thread: threading.Thread | None = None
    receivers: list[Receiver] = field(default_factory=list)  # syslog listeners, journal readers
    scheduler: Scheduler | None = None  # review reports and retention pruning, on their own thread

    def start_receivers(self) -> None:
        """Bind the listeners and open the spools (before the loop's first scan: it reads the spool files)."""
        for receiver in self.receivers:
            receiver.start()

    def start_outbox(self) -> None:
        if self.outbox is None:
            return
        self.outbox_stop = threading.Event()
        self.outbox_thread = threading.Thread(target=self.outbox.run, args=(self.outbox_stop,),
                                              name="pii-guard-outbox", daemon=True)
        self.outbox_thread.start()

    def start_scheduler(self) -> None:
        if self.scheduler is not None:
            self.scheduler.start()  # catches up a run missed while the daemon was down, once

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.stop()
        for receiver in self.receivers:
            receiver.stop()  # what peers already sent goes into the spool, read by the next run
        self.loop.shutdown()
        if self.outbox is not None and self.outbox_stop is not None and self.outbox_thread is not None:
            self.outbox_stop.set()
            self.outbox.wake()
            self.outbox_thread.join(timeout=30)  # an attempt in flight finishes or times out (timeout_s)
        self.events.close()
        self.state.close()


class Daemon:
    def __init__(self, config_path: Path, clock: Clock, notifier: SystemdNotifier | None = None) -> None:
        self._config_path = config_path
        self._clock = clock
        self._notifier = notifier or SystemdNotifier()
        self._wake = threading.Event()
        self._stop = False
        self._reload = False
        self._last_tick = clock.monotonic()
        self.metrics = PrometheusMetrics()

    def _build(self, loaded: LoadedConfig) -> _Runtime:
        config = loaded.config
        enricher = Enricher.from_config(config)
        engine = engine_for(policy_for(config, enricher))
        notifiers = notifiers_for(config)  # secrets are resolved (and refused) before anything starts
        book = IncidentBook(config.incidents, targets_for(config),
                            department_of=lambda user: enricher.directory.lookup(user).department)
        events = open_event_store(config)
        state_path = config.state_path / "state.db"
        state = StateStore(state_path, incidents=book)
        outbox = None
        if notifiers:
            outbox = OutboxWorker(connect(state_path, "FULL", "state database"), notifiers, self._clock,
                                  max_attempts=config.notify.max_attempts, backoff_max_s=config.notify.backoff_max_s,
                                  report=self.metrics.notified)

        def on_match(matches: Sequence[Match]) -> None:
            log_matches(matches)
            if outbox is not None:
                outbox.wake()

        loop = LiveLoop(loaded.sources, enricher, engine, events, state, self._clock,
                        resolve=lambda p: str(config.resolve(p)), mask_literals=config.privacy.mask_literals,
                        batch_size=config.store.batch_size, batch_ms=config.store.batch_ms,
                        rescan_s=config.daemon.rescan_s, metrics=self.metrics, on_match=on_match,
                        wake=self._wake.set)
        receivers = receivers_for(loaded.receivers, state_path, self._clock, self.metrics, self._wake.set)
        scheduler = Scheduler.from_config(config, self._clock, on_failure=_job_failed)
        return _Runtime(loaded, loop, events, state, outbox, receivers=receivers, scheduler=scheduler)

    def _watch(self, loaded: LoadedConfig) -> BaseObserver:
        dirs = (os.path.dirname(str(loaded.config.resolve(p.config.path))) or "." for p in loaded.sources)
        return watch(dirs, self._wake.set)

    def _signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload = True
        else:
            self._stop = True
        self._wake.set()

    def healthy(self) -> bool:
        return self._clock.monotonic() - self._last_tick < 30.0

    def run(self) -> int:
        loaded = load_config(self._config_path)
        with StateLock(loaded.config.state_path):
            listen = loaded.config.daemon.listen
            server = serve(listen, self.metrics, self.healthy) if listen else None
            try:
                return self._run(loaded)
            finally:
                if server is not None:
                    server.shutdown()
                    server.server_close()

    def _run(self, loaded: LoadedConfig) -> int:
        runtime = self._build(loaded)
        runtime.start_receivers()
        runtime.start_outbox()
        runtime.start_scheduler()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._signal)
        listen = runtime.loaded.config.daemon.listen
        web = self._start_web(runtime.loaded) if runtime.loaded.config.web.serve_from_daemon else None
        observer = self._watch(runtime.loaded)
        runtime.loop.scan(self._clock.monotonic())
        files = sum(len(s.tailer.files) for s in runtime.loop.sources)
        log.info("started", extra={"config": str(self._config_path), "files": files, "listen": listen or "off"})
        self._notifier.notify(f"READY=1\nSTATUS=following {files} file(s)")
        ping_every = self._notifier.watchdog_usec / 2e6 if self._notifier.watchdog_usec else 0.0
        last_ping = self._clock.monotonic()
        with pipeline_interpreter():  # start-up is done: what it built lives as long as the run
            try:
                while not self._stop:
                    # cleared before the step, so that a wake-up during it (a write, a batch's events committed by
                    # the writer thread, a signal) makes the wait below return at once instead of being lost
                    self._wake.clear()
                    runtime.loop.step()
                    now = self._clock.monotonic()
                    self._last_tick = now
                    if ping_every and now - last_ping >= ping_every:
                        self._notifier.notify("WATCHDOG=1")
                        last_ping = now
                    if self._reload:
                        self._reload = False
                        runtime, observer = self._reload_config(runtime, observer)
                        refreeze()  # here, where nothing refers to the previous runtime any more
                    if runtime.loop.drained and not self._stop and not self._reload:
                        self._wake.wait(self._idle_wait(runtime))
            finally:
                self._notifier.notify("STOPPING=1")
                log.info("stopping: committing and saving state")
                runtime.close()
                observer.stop()
                if web is not None:
                    web.stop()
        log.info("stopped")
        return 0

    def _start_web(self, loaded: LoadedConfig) -> WebThread | None:
        """The web console on its own thread (web.serve_from_daemon). It is not restarted on reload; a console
        that cannot start is logged and monitoring goes on without it."""
        from pii_guard.web.app import create_app
        from pii_guard.web.server import WebThread, bind

        settings = loaded.config.web
        try:
            app = create_app(loaded.config, self._clock)
            thread = WebThread(app, bind(settings.bind, settings.port), on_stop=app.state.ctx.close)
        except PiiGuardError as exc:
            log.error("web console not started: %s", exc)
            return None
        thread.start()
        return thread

    def _idle_wait(self, runtime: _Runtime) -> float:
        return runtime.loop.next_wait(min(runtime.loaded.config.daemon.rescan_s, 1.0))

    def _reload_config(self, runtime: _Runtime, observer: BaseObserver) -> tuple[_Runtime, BaseObserver]:
        """Load the new config, policy and rules; if anything is wrong, keep running on the old ones."""
        try:
            loaded = load_config(self._config_path)
            Enricher.from_config(loaded.config)  # validate before touching the running pipeline
            policy_for(loaded.config, Enricher.from_config(loaded.config))
            notifiers_for(loaded.config)
        except PiiGuardError as exc:
            log.error("reload refused, still running the previous config: %s", exc)
            return runtime, observer
        runtime.close()
        observer.stop()
        fresh = self._build(loaded)
        fresh.start_receivers()
        fresh.start_outbox()
        fresh.start_scheduler()
        fresh.loop.scan(self._clock.monotonic())
        log.info("reloaded", extra={"config": str(self._config_path)})
        self._notifier.notify("RELOADING=0\nREADY=1")
        return fresh, self._watch(loaded)
