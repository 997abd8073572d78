"""`pii-guard report` (a review report on demand) and `pii-guard review sign|list` (the reviewer's sign-off and
which periods are reviewed or overdue)."""

from __future__ import annotations

import getpass
import os
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import orjson

from pii_guard.clock import SystemClock
from pii_guard.config.load import DEFAULT_CONFIG, LoadedConfig, load_config
from pii_guard.config.models import Config
from pii_guard.duration import duration_us
from pii_guard.errors import UsageError
from pii_guard.reports.period import Period, custom_period, day_period, from_us, last_complete, local_midnight_us, to_us
from pii_guard.reports.period import week_period as week_of

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=None,
    help=f"config file (default {DEFAULT_CONFIG})",
)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _load(config_path: Path | None) -> LoadedConfig:
    return load_config(config_path or DEFAULT_CONFIG)


def _now_us() -> int:
    return int(SystemClock().now() * 1_000_000)


def parse_when(text: str, tz: ZoneInfo, flag: str, *, end: bool) -> int:
    """A date (local midnight; for --to, the end of that day) or an ISO time (local when it has no zone)."""
    value = text.strip()
    if _DATE.match(value):
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise UsageError(f"{flag} {text!r} is not a date") from None
        return local_midnight_us(day + timedelta(days=1) if end else day, tz)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{flag} {text!r} is not a date (2026-03-01) or time (2026-03-01T08:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return to_us(moment)


def choose_period(config: Config, period: str | None, from_: str | None, to_: str | None, now_us: int) -> Period:
    tz_name = config.reports.timezone
    tz = ZoneInfo(tz_name)
    if period and (from_ or to_):
        raise UsageError("give --period or --from/--to, not both")
    if period:
        return last_complete(period, now_us, tz_name)  # type: ignore[arg-type]
    if not from_:
        raise UsageError("give --period daily|weekly, or --from (and --to)")
    start = parse_when(from_, tz, "--from", end=False)
    end = parse_when(to_, tz, "--to", end=True) if to_ else now_us
    try:
        if _DATE.match(from_.strip()) and to_ and _DATE.match(to_.strip()):
            first, last = date.fromisoformat(from_.strip()), date.fromisoformat(to_.strip())
            if first == last:
                return day_period(first, tz_name)
            if first.weekday() == 0 and last == first + timedelta(days=6):
                return week_of(first, tz_name)
        return custom_period(start, end, tz_name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _formats(text: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    bad = [f for f in chosen if f not in ("html", "csv")]
    if bad or not chosen:
        raise UsageError(f"--format {text!r}: use html, csv or html,csv")
    return chosen


@click.command("report")
@config_option
@click.option("--period", type=click.Choice(["daily", "weekly"]), default=None,
              help="yesterday, or last week (Monday to Sunday), in reports.timezone")
@click.option("--from", "from_", default=None, metavar="DATE|TIME", help="start, e.g. 2026-03-01 (local midnight)")
@click.option("--to", "to_", default=None, metavar="DATE|TIME",
              help="end: a date is included (2026-03-31 = to the end of that day); a time is exclusive")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="directory (default reports.dir under the state directory)")
@click.option("--format", "fmt", default="html,csv", show_default=True, help="html, csv or html,csv")
@click.option("--slack", is_flag=True, help="also post it to Slack (as the scheduled reports are)")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def report_cmd(config_path: Path | None, period: str | None, from_: str | None, to_: str | None,
               out_dir: Path | None, fmt: str, slack: bool, as_json: bool) -> None:
    """Make an access-review report: HTML (self-contained, printable) and CSV tables, named after the period
    (review-daily-2026-03-04, review-weekly-2026-W10, review-2026-03-01--2026-03-31)."""
    from pii_guard.reports.job import make_and_deliver

    loaded = _load(config_path)
    now = _now_us()
    chosen = choose_period(loaded.config, period, from_, to_, now)
    made = make_and_deliver(loaded.config, chosen, now, out_dir=out_dir, formats=_formats(fmt), slack=slack)
    r = made.report
    files = [str(p) for p in ([made.html] if made.html else []) + made.csv]
    if as_json:
        click.echo(orjson.dumps({"report": r.name, "period": {"kind": r.period.kind, "label": r.period.label,
                                                             "start_us": r.period.start_us, "end_us": r.period.end_us},
                                 "headline": r.headline, "sha256": made.sha256, "files": files,
                                 "summary": {f.label: {"current": f.current, "previous": f.previous}
                                             for f in r.summary},
                                 "findings": {k: len(r.findings_of(k)) for k in sorted({f.kind for f in r.findings})}
                                 }).decode())
        return
    click.echo(r.headline)
    for path in files:
        click.echo(f"  {path}")
    if made.sha256:
        click.echo(f"sha256 {made.sha256}; after review: pii-guard review sign {files[0]} --by NAME --note TEXT")


@click.group("review")
def review() -> None:
    """Sign off reviewed reports, and see which periods are reviewed or overdue."""


def _reviewer(by: str | None) -> str:
    return by or os.environ.get("SUDO_USER") or getpass.getuser()


@review.command("sign")
@config_option
@click.argument("report", type=click.Path(path_type=Path))
@click.option("--by", "by", default=None, metavar="NAME", help="who reviewed it (default: the login name)")
@click.option("--note", required=True, metavar="TEXT", help="what was checked, what follows from it")
def sign_cmd(config_path: Path | None, report: Path, by: str | None, note: str) -> None:
    """Record that REPORT (the .html file) was reviewed: its SHA-256, who, when and the note, hash-chained in
    the state database."""
    from pii_guard.reports.deliver import write_index
    from pii_guard.reports.signoff import sign
    from pii_guard.store.state import StateStore

    loaded = _load(config_path)
    reports = loaded.config.reports
    state = StateStore(loaded.config.state_path / "state.db")
    try:
        now = _now_us()
        entry, head = sign(state.connection, report, _reviewer(by), note, now)
        write_index(report.parent, state.connection, now, reports.review_due, reports.timezone)
    finally:
        state.close()
    tz = ZoneInfo(loaded.config.reports.timezone)
    click.echo(f"{entry.report} signed off by {entry.reviewer} at {from_us(entry.signed_us, tz):%Y-%m-%d %H:%M %Z}"
               f" (sha256 {entry.sha256[:16]}..., chain head {head[:16]}...)")


def _expected(config: Config, since_us: int, now_us: int) -> list[Period]:
    """The daily and weekly periods the configured schedule should have reported on since `since_us`."""
    tz = config.reports.timezone
    out: list[Period] = []
    for kind, cron in (("daily", config.reports.daily), ("weekly", config.reports.weekly)):
        if not cron:
            continue
        p = last_complete(kind, now_us, tz)  # type: ignore[arg-type]
        while p.end_us > since_us and len(out) < 2000:
            out.append(p)
            p = p.previous()
    return out


@review.command("list")
@config_option
@click.option("--since", default="30d", show_default=True, metavar="DURATION", help="periods ending in this window")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def list_cmd(config_path: Path | None, since: str, as_json: bool) -> None:
    """Reports and their review status: reviewed (by whom, when), awaiting review, overdue (not signed within
    reports.review_due), or no report at all for a period the schedule covers."""
    from pii_guard.config.models import SqliteStoreConfig
    from pii_guard.reports.signoff import monitoring_since, review_states
    from pii_guard.store.state import StateStore

    loaded = _load(config_path)
    config = loaded.config
    now = _now_us()
    try:
        since_us = now - duration_us(since)
    except ValueError as exc:
        raise UsageError(f"--since {since!r}: {exc}") from None
    state = StateStore(config.state_path / "state.db")
    try:
        states = review_states(state.connection, now, config.reports.review_due, since_us)
        events = config.store_path if isinstance(config.store, SqliteStoreConfig) else None
        started = monitoring_since(state.connection, events)
    finally:
        state.close()
    tz = ZoneInfo(config.reports.timezone)
    rows: list[dict[str, Any]] = []
    names = {s.report.name for s in states}
    for s in states:
        last = s.signed[-1] if s.signed else None
        rows.append({"report": s.report.name, "kind": s.report.kind, "start_us": s.report.start_us,
                     "status": s.status, "made": f"{from_us(s.report.created_us, tz):%Y-%m-%d %H:%M}",
                     "reviewer": last.reviewer if last else None,
                     "signed": f"{from_us(last.signed_us, tz):%Y-%m-%d %H:%M}" if last else None,
                     "note": last.note if last else None})
    # periods the schedule covers, from when pii-guard started watching (its first event, job run or report)
    expected = _expected(config, max(since_us, started), now) if started is not None else []
    for p in expected:
        if p.name not in names:
            overdue = now - p.end_us > config.reports.review_due
            rows.append({"report": p.name, "kind": p.kind, "start_us": p.start_us,
                         "status": "no report (overdue)" if overdue else "no report", "made": None,
                         "reviewer": None, "signed": None, "note": None})
    rows.sort(key=lambda r: (-r["start_us"], r["report"]))
    for row in rows:
        if as_json:
            click.echo(orjson.dumps(row).decode())
            continue
        who = f"  {row['reviewer']} {row['signed']}: {row['note'][:60]}" if row["reviewer"] else ""
        click.echo(f"{row['report']:<34} {row['status']:<20}{who}")
    if not rows and not as_json:
        click.echo("no reports in this window" if started is not None else
                   "no reports yet: nothing has been stored or reported (periods are expected from the first event)")
