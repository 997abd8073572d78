"""The daemon's periodic jobs: the daily and weekly review reports and the retention pruning, on APScheduler
cron triggers in the reports' time zone, driven by the injected clock.

* Every run is recorded in the state database (`job_runs`: job, the fire time it is for, status, attempts), so
  a restart knows what it missed: runs whose fire time passed while the daemon was down are caught up once at
  start-up (APScheduler's coalescing: the newest missed fire time, never one run per missed time), and a run
  that completed is never repeated.
* A failing job is retried (`reports.max_attempts`, `reports.retry_after_s` apart), logged at ERROR and
  handed to `on_failure`; jobs run on the scheduler's own thread, never on the ingestion loop's, so nothing
  a job does stops ingestion.

APScheduler 3 reads `datetime.now()` in its scheduler loop; `_ClockScheduler` is its BaseScheduler with that
one loop (`_process_jobs`) reading the injected clock instead, so tests move a FixedClock and call
`run_pending()` rather than sleeping until a schedule fires.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.executors.base import BaseExecutor
from apscheduler.executors.debug import DebugExecutor
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING, BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from pii_guard.clock import Clock
from pii_guard.config.models import Config, RetentionConfig, SqliteStoreConfig
from pii_guard.store.state import StateStore

log = logging.getLogger("pii_guard.schedule")

JobRun = Callable[[int, int], str]  # (fire time, now) in µs since the epoch -> a line for the log
FailureHook = Callable[[str, int, int, str, bool], None]  # (job, fire_us, attempt, error, giving_up)
_MAX_CATCH_UP_STEPS = 100_000


def _us(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


class _ClockScheduler(BaseScheduler):  # type: ignore[misc]
    """APScheduler's scheduler with its notion of now taken from a Clock. `fire_times` holds, per job id, the
    scheduled time of the run being submitted (APScheduler does not pass it to the job)."""

    def __init__(self, clock: Clock, **options: Any) -> None:
        self._clock = clock
        self.fire_times: dict[str, datetime] = {}
        self._wake = threading.Event()
        super().__init__(**options)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC).astimezone(self.timezone)

    def wakeup(self) -> None:
        self._wake.set()

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)
        self._wake.set()

    def wait(self, seconds: float | None) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _process_jobs(self) -> float | None:
        """Submit the due jobs (coalesced: one run at the newest due time) and say how long until the next."""
        if self.state == STATE_PAUSED:
            return None
        now = self.now()
        next_wakeup: datetime | None = None
        with self._jobstores_lock:
            for alias, store in self._jobstores.items():
                for job in store.get_due_jobs(now):
                    run_times = job._get_run_times(now)
                    run_times = run_times[-1:] if run_times and job.coalesce else run_times
                    if run_times:
                        self.fire_times[job.id] = run_times[-1]
                        executor = self._lookup_executor(job.executor)
                        executor.submit_job(job, run_times)
                        self._dispatch_event(JobSubmissionEvent(EVENT_JOB_SUBMITTED, job.id, alias, run_times))
                        following = job.trigger.get_next_fire_time(run_times[-1], now)
                        if following:
                            job._modify(next_run_time=following)
                            store.update_job(job)
                        else:
                            self.remove_job(job.id, alias)
                upcoming = store.get_next_run_time()
                if upcoming and (next_wakeup is None or upcoming < next_wakeup):
                    next_wakeup = upcoming
        if next_wakeup is None or self.state != STATE_RUNNING:
            return None
        return max(0.0, next_wakeup.timestamp() - self._clock.now())


@dataclass(frozen=True)
class Job:
    name: str  # "daily", "weekly", "retention": the job id and its name in job_runs
    trigger: CronTrigger
    run: JobRun


class Scheduler:
    """What the daemon starts and stops: `start()` catches up missed runs and starts the scheduler thread
    (`threaded=False`: no thread; call `run_pending()` yourself, as tests do), `stop()` waits for a running
    job to finish."""

    def __init__(self, jobs: list[Job], clock: Clock, state_path: Path, *, timezone: str = "UTC",
                 max_attempts: int = 3, retry_after_s: float = 300.0, on_failure: FailureHook | None = None,
                 threaded: bool = True) -> None:
        self.jobs = {job.name: job for job in jobs}
        self._clock = clock
        self._state_path = state_path
        self._max_attempts = max_attempts
        self._retry_after_s = retry_after_s
        self._on_failure = on_failure
        self._threaded = threaded
        executor: BaseExecutor = ThreadPoolExecutor(1) if threaded else DebugExecutor()
        self._aps = _ClockScheduler(clock, timezone=timezone, executors={"default": executor},
                                    job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config, clock: Clock, *, on_failure: FailureHook | None = None,
                    threaded: bool = True) -> Scheduler | None:
        """The configured jobs; None when `reports.enabled` is false."""
        reports = config.reports
        if not reports.enabled:
            return None
        tz = reports.timezone
        jobs: list[Job] = []
        sqlite = isinstance(config.store, SqliteStoreConfig)
        if not sqlite and (reports.daily or reports.weekly):
            log.warning("review reports read the SQLite event store: no scheduled reports with Elasticsearch")
        for kind, cron in (("daily", reports.daily), ("weekly", reports.weekly)):
            if cron and sqlite:
                jobs.append(Job(kind, CronTrigger.from_crontab(cron, timezone=tz), _report_job(config, kind)))
        jobs.append(Job("retention", CronTrigger.from_crontab(reports.retention.schedule, timezone=tz),
                        _retention_job(config)))
        return cls(jobs, clock, config.state_path / "state.db", timezone=tz, max_attempts=reports.max_attempts,
                   retry_after_s=reports.retry_after_s, on_failure=on_failure, threaded=threaded)

    # -- life cycle ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        now = self._aps.now()
        for job in self.jobs.values():
            missed = self._missed(job, now)
            first = missed or job.trigger.get_next_fire_time(None, now)
            self._aps.add_job(self._execute, trigger=job.trigger, args=[job.name], id=job.name, name=job.name,
                              next_run_time=first, replace_existing=True)
            if missed is not None:
                log.warning("job missed while pii-guard was down: running it once now",
                            extra={"job": job.name, "fire": missed.isoformat()})
        self._aps.start(paused=False)
        if self._threaded:
            self._thread = threading.Thread(target=self._loop, name="pii-guard-scheduler", daemon=True)
            self._thread.start()

    def stop(self, wait: bool = True) -> None:
        self._stopping.set()
        if self._aps.running:
            self._aps.shutdown(wait=wait)
        if self._thread is not None:
            self._thread.join(timeout=60 if wait else 0)

    def run_pending(self) -> None:
        """Run what is due now (synchronously without a thread)."""
        self._aps._process_jobs()

    def wake(self) -> None:
        self._aps.wakeup()

    def next_runs(self) -> dict[str, datetime | None]:
        return {job.id: job.next_run_time for job in self._aps.get_jobs()}

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                wait = self._aps._process_jobs()
            except Exception:
                log.exception("scheduler loop failed; trying again in a minute")
                wait = 60.0
            self._aps.wait(min(wait, 60.0) if wait is not None else 60.0)

    # -- runs ---------------------------------------------------------------------------------------------------

    def _missed(self, job: Job, now: datetime) -> datetime | None:
        """The newest fire time before now that has no completed or abandoned run, if the job ran before."""
        state = StateStore(self._state_path)
        try:
            row = state.connection.execute(
                "SELECT max(fire_us) FROM job_runs WHERE job = ? AND status IN ('ok', 'failed', 'skipped')",
                (job.name,)).fetchone()
            last = datetime.fromtimestamp(row[0] / 1e6, UTC) if row and row[0] is not None else None
            newest = None
            cursor = (last + timedelta(microseconds=1)) if last is not None else now - timedelta(days=8)
            for _ in range(_MAX_CATCH_UP_STEPS):
                fire = job.trigger.get_next_fire_time(None, cursor)
                if fire is None or fire > now:
                    break
                newest = fire
                cursor = fire + timedelta(microseconds=1)
            if last is None:
                # first start: nothing was missed, but remember where the record starts
                if newest is not None:
                    self._record(state, job.name, _us(newest), "skipped", 0, "before the first start")
                return None
            return newest
        finally:
            state.close()

    def _execute(self, name: str, fire_us: int | None = None, attempt: int = 1) -> None:
        job = self.jobs[name]
        if fire_us is None:
            fired = self._aps.fire_times.get(name)
            fire_us = _us(fired) if fired is not None else int(self._clock.now() * 1_000_000)
        now_us = int(self._clock.now() * 1_000_000)
        state = StateStore(self._state_path)
        try:
            self._record(state, name, fire_us, "running", attempt, "", started_us=now_us)
            try:
                detail = job.run(fire_us, now_us)
            except Exception as exc:
                error = str(exc) or type(exc).__name__
                giving_up = attempt >= self._max_attempts
                self._record(state, name, fire_us, "failed" if giving_up else "retrying", attempt, error[:2000],
                             finished_us=int(self._clock.now() * 1_000_000))
                self._failed(name, fire_us, attempt, error, giving_up)
                return
            self._record(state, name, fire_us, "ok", attempt, detail[:2000], finished_us=int(self._clock.now() * 1e6))
            log.info("job done: %s", detail, extra={"job": name, "attempt": attempt})
        finally:
            state.close()

    def _failed(self, name: str, fire_us: int, attempt: int, error: str, giving_up: bool) -> None:
        if giving_up:
            log.error("job failed %d time(s), giving up until its next run: %s", attempt, error,
                      extra={"job": name, "attempt": attempt})
        else:
            retry_at = self._aps.now() + timedelta(seconds=self._retry_after_s)
            log.error("job failed, retrying at %s: %s", retry_at.isoformat(), error,
                      extra={"job": name, "attempt": attempt})
            self._aps.add_job(self._execute, trigger=DateTrigger(run_date=retry_at), args=[name, fire_us, attempt + 1],
                              id=f"{name}:retry:{fire_us}:{attempt + 1}", name=f"{name} (retry {attempt + 1})",
                              next_run_time=retry_at,
                              replace_existing=True)
        if self._on_failure is not None:
            try:
                self._on_failure(name, fire_us, attempt, error, giving_up)
            except Exception:
                log.exception("on_failure hook failed")

    def _record(self, state: StateStore, name: str, fire_us: int, status: str, attempt: int, detail: str, *,
                started_us: int | None = None, finished_us: int | None = None) -> None:
        with self._lock:
            conn = state.connection
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT INTO job_runs (job, fire_us, status, attempts, started_us, finished_us, detail)"
                    " VALUES (?,?,?,?,?,?,?) ON CONFLICT (job, fire_us) DO UPDATE SET status = excluded.status,"
                    " attempts = excluded.attempts, started_us = coalesce(excluded.started_us, started_us),"
                    " finished_us = coalesce(excluded.finished_us, finished_us), detail = excluded.detail",
                    (name, fire_us, status, attempt, started_us, finished_us, detail))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def runs(self, name: str | None = None) -> list[dict[str, Any]]:
        state = StateStore(self._state_path)
        try:
            rows = state.connection.execute(
                "SELECT job, fire_us, status, attempts, detail FROM job_runs"
                + (" WHERE job = ?" if name else "") + " ORDER BY fire_us, job", (name,) if name else ()).fetchall()
        finally:
            state.close()
        return [{"job": j, "fire_us": f, "status": s, "attempts": a, "detail": d} for j, f, s, a, d in rows]


def _report_job(config: Config, kind: str) -> JobRun:
    def run(fire_us: int, now_us: int) -> str:
        from pii_guard.reports.job import make_and_deliver
        from pii_guard.reports.period import last_complete

        period = last_complete(kind, fire_us, config.reports.timezone)  # type: ignore[arg-type]
        made = make_and_deliver(config, period, now_us)
        return f"{made.report.name}: {made.report.headline}"

    return run


def retention_of(retention: RetentionConfig, categories: tuple[str, ...]) -> int | None:
    """How long an event of these categories is kept (µs); None: kept. The longest of its categories wins."""
    if not categories:
        return retention.unclassified if retention.unclassified is not None else retention.default
    found = [retention.categories.get(c, retention.default) for c in categories]
    return None if any(r is None for r in found) else max(r for r in found if r is not None)


def prune(config: Config, now_us: int) -> int | None:
    """Delete events past their retention from the SQLite store; None when nothing is configured to expire
    (or the store is Elasticsearch, whose ILM policy does it)."""
    retention = config.reports.retention
    periods = [r for r in (retention.default, retention.unclassified, *retention.categories.values()) if r is not None]
    if not isinstance(config.store, SqliteStoreConfig):
        log.info("retention of Elasticsearch events is the index lifecycle policy's (store.retention)")
        return None
    if not periods:
        log.info("no retention configured (reports.retention): events are kept")
        return None
    from pii_guard.reports.queries import prune_events
    from pii_guard.store.sqlite import connect

    if not config.store_path.exists():
        return 0
    conn = connect(config.store_path, config.store.synchronous, "event store")
    try:
        deleted = prune_events(conn, lambda cats: _cutoff(retention, cats, now_us), now_us - min(periods))
    finally:
        conn.close()
    log.info("retention: %d event(s) deleted", deleted, extra={"deleted": deleted})
    return deleted


def _cutoff(retention: RetentionConfig, categories: tuple[str, ...], now_us: int) -> int | None:
    keep = retention_of(retention, categories)
    return None if keep is None else now_us - keep


def _retention_job(config: Config) -> JobRun:
    def run(fire_us: int, now_us: int) -> str:
        deleted = prune(config, now_us)
        return "retention: nothing to expire" if deleted is None else f"retention: {deleted} event(s) deleted"

    return run

