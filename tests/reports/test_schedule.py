"""The scheduler with an injected clock: missed runs are caught up once at start-up, failures are retried and
surfaced, the report and retention jobs do their work. No test sleeps: the clock is moved and the due jobs run."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from pii_guard.clock import FixedClock
from pii_guard.config.load import load_config
from pii_guard.schedule import Job, Scheduler, prune, retention_of
from tests.reports.conftest import Month, write_config

TZ = ZoneInfo("Europe/Berlin")


def at(*parts: int) -> float:
    return datetime(*parts, tzinfo=TZ).timestamp()  # type: ignore[misc]


def local(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, TZ).strftime("%m-%d %H:%M")


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_times = fail_times

    def __call__(self, fire_us: int, now_us: int) -> str:
        self.calls.append((local(fire_us), local(now_us)))
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("the store is locked")
        return "done"


def scheduler(state: Path, clock: FixedClock, job: Recorder, **kw: object) -> Scheduler:
    trigger = CronTrigger.from_crontab("0 6 * * *", timezone="Europe/Berlin")
    return Scheduler([Job("daily", trigger, job)], clock, state, timezone="Europe/Berlin", threaded=False,
                     **kw)  # type: ignore[arg-type]


def test_missed_runs_are_caught_up_once(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    clock = FixedClock(at(2026, 3, 10, 5, 0))
    job = Recorder()
    s = scheduler(state, clock, job)
    s.start()
    s.run_pending()
    assert job.calls == []  # first start: yesterday's 06:00 was before pii-guard ran
    clock.advance(3601)
    s.run_pending()
    s.run_pending()
    assert job.calls == [("03-10 06:00", "03-10 06:00")]
    s.stop()

    clock.advance(2 * 86_400 + 2 * 3600)  # down over 11 and 12 March 06:00; back at 08:00 on the 12th
    s = scheduler(state, clock, job)
    s.start()
    s.run_pending()
    s.run_pending()
    assert job.calls[1:] == [("03-12 06:00", "03-12 08:00")]  # once, for the newest missed time
    s.stop()

    s = scheduler(state, clock, job)  # restarted again at once: nothing is repeated
    s.start()
    s.run_pending()
    assert len(job.calls) == 2
    clock.advance(22 * 3600)  # the next regular run
    s.run_pending()
    assert job.calls[2:] == [("03-13 06:00", "03-13 06:00")]
    assert [r["status"] for r in s.runs()] == ["skipped", "ok", "ok", "ok"]
    s.stop()


def test_failures_are_retried_and_surfaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FixedClock(at(2026, 3, 10, 5, 59))
    job = Recorder(fail_times=2)
    failures: list[tuple[str, int, str, bool]] = []
    s = scheduler(tmp_path / "state.db", clock, job, max_attempts=3, retry_after_s=300,
                  on_failure=lambda name, fire, attempt, error, last: failures.append((name, attempt, error, last)))
    s.start()
    caplog.set_level(logging.ERROR, logger="pii_guard.schedule")
    clock.advance(61)
    s.run_pending()
    assert failures == [("daily", 1, "the store is locked", False)]
    assert s.runs()[-1]["status"] == "retrying"
    s.run_pending()
    assert len(job.calls) == 1  # the retry waits retry_after_s
    clock.advance(300)
    s.run_pending()
    clock.advance(300)
    s.run_pending()
    assert job.calls == [("03-10 06:00", "03-10 06:00"), ("03-10 06:00", "03-10 06:05"),
                         ("03-10 06:00", "03-10 06:10")]
    assert [f[1] for f in failures] == [1, 2]
    last = s.runs()[-1]
    assert (last["status"], last["attempts"], last["detail"]) == ("ok", 3, "done")
    assert "job failed, retrying" in caplog.text
    s.stop()


def test_a_job_that_keeps_failing_gives_up_until_its_next_run(tmp_path: Path) -> None:
    clock = FixedClock(at(2026, 3, 10, 5, 59))
    job = Recorder(fail_times=4)
    failures: list[bool] = []
    s = scheduler(tmp_path / "state.db", clock, job, max_attempts=2, retry_after_s=60,
                  on_failure=lambda name, fire, attempt, error, last: failures.append(last))
    s.start()
    for _ in range(4):
        clock.advance(61)
        s.run_pending()
    assert failures == [False, True]
    assert s.runs()[-1]["status"] == "failed"
    clock.advance(86_400)
    s.run_pending()  # the next day runs as scheduled (and fails again: still retried)
    assert failures == [False, True, False]
    s.stop()


def test_threaded_scheduler_runs_when_woken(tmp_path: Path) -> None:
    clock = FixedClock(at(2026, 3, 10, 5, 59))
    ran = threading.Event()

    def job(fire_us: int, now_us: int) -> str:
        ran.set()
        return "ok"

    trigger = CronTrigger.from_crontab("0 6 * * *", timezone="Europe/Berlin")
    s = Scheduler([Job("daily", trigger, job)], clock, tmp_path / "state.db", timezone="Europe/Berlin")
    s.start()
    try:
        assert not ran.is_set()
        clock.advance(61)
        s.wake()
        assert ran.wait(30)  # a completion signal, not a sleep for the schedule
    finally:
        s.stop()


def test_daily_report_job_from_config(month: Month) -> None:
    config = load_config(write_config(month.root, month.policy, daily="0 6 * * *", weekly=None)).config
    clock = FixedClock(at(2026, 3, 10, 5, 59))
    s = Scheduler.from_config(config, clock, threaded=False)
    assert s is not None
    assert sorted(s.jobs) == ["daily", "retention"]
    s.start()
    clock.advance(61)
    s.run_pending()
    s.stop()
    made = month.root / "state" / "reports" / "review-daily-2026-03-09.html"
    assert made.is_file()
    assert "Monday 9 March 2026" in made.read_text()
    assert (month.root / "state" / "reports" / "index.html").is_file()
    assert s.runs("daily")[-1]["status"] == "ok"


def test_retention_prunes_per_category(month: Month, tmp_path: Path) -> None:
    db = month.root / "state" / "events.db"
    real = db.resolve()
    db.unlink()
    shutil.copy(real, db)
    config = load_config(write_config(month.root, month.policy,
                                      retention={"default": "30d", "categories": {"hr": "45d"}})).config
    now_us = int(at(2026, 3, 20, 0, 0) * 1_000_000)
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT ts, categories FROM events").fetchall()
    conn.close()
    retention = config.reports.retention
    expected = 0
    for ts, cats in rows:
        keep = retention_of(retention, tuple(cats.split()) if cats else ())
        expected += keep is not None and ts < now_us - keep
    assert expected > 0
    assert prune(config, now_us) == expected
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == len(rows) - expected
    orphans = conn.execute("SELECT count(*) FROM event_categories c LEFT JOIN events e ON e.id = c.event_id"
                           " WHERE e.id IS NULL").fetchone()[0]
    assert orphans == 0
    hr_left = conn.execute("SELECT min(ts) FROM events WHERE instr(categories, 'hr')").fetchone()[0]
    conn.close()
    assert hr_left < now_us - 30 * 86_400_000_000  # hr is kept 45 days
    assert prune(config, now_us) == 0  # nothing twice


def test_elasticsearch_retention_is_ilms(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from pii_guard.config.models import Config

    config = Config.model_validate({"state_dir": str(tmp_path), "store": {"type": "elasticsearch",
                                    "hosts": ["http://127.0.0.1:9"]}, "reports": {"retention": {"default": "30d"}}},
                                   strict=False)
    caplog.set_level(logging.INFO, logger="pii_guard.schedule")
    assert prune(config, 0) is None
    assert "index lifecycle policy" in caplog.text
