"""Making one report: aggregates from the store, the model, HTML and CSV files, the record in the state
database, the index page and Slack. The CLI and the scheduler both come here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pii_guard.config.models import Config, ReportsConfig, SqliteStoreConfig
from pii_guard.policy.models import HourRange, Policy
from pii_guard.reports.build import Settings, StatusOf, build_report
from pii_guard.reports.cache import DayCache
from pii_guard.reports.charts import charts_for
from pii_guard.reports.deliver import SlackDelivery, write_atomic, write_index
from pii_guard.reports.model import Report
from pii_guard.reports.period import Period
from pii_guard.reports.queries import EventFacts
from pii_guard.reports.render import csv_tables, render_html
from pii_guard.reports.signoff import ReportError, file_sha256, register
from pii_guard.sizes import human_bytes
from pii_guard.store.state import StateStore

log = logging.getLogger("pii_guard.reports")

FORMATS = ("html", "csv")


@dataclass(frozen=True)
class Made:
    report: Report
    html: Path | None
    csv: list[Path] = field(default_factory=list)
    sha256: str | None = None


def settings_for(reports: ReportsConfig) -> Settings:
    hours = HourRange.parse(reports.work_hours)
    return Settings(lookback_us=reports.lookback, dormant_after_us=reports.dormant_after,
                    baseline_factor=reports.baseline_factor, baseline_min_events=reports.baseline_min_events,
                    work_hours=(hours.start_min, hours.end_min), work_days=tuple(reports.work_days), top=reports.top,
                    pseudonymize=reports.pseudonymize)


def _plain(user: str | None) -> str:
    return user if user is not None else "(no user)"


class ReportMaker:
    """Makes reports over one SQLite event store into one directory."""

    def __init__(self, events: Path, state: Path | None, policy: Policy | None, settings: Settings, out_dir: Path,
                 name_of: Callable[[str | None], str] | None = None, review_due_us: int = 7 * 86_400_000_000,
                 cache: Path | None = None, status_of: StatusOf | None = None) -> None:
        self.events = events
        self.state = state
        self.policy = policy
        self.settings = settings
        self.out_dir = out_dir
        self.name_of = name_of or _plain
        self.review_due_us = review_due_us
        self.cache = cache  # the per-day aggregates file (reports/cache.py); None: none kept
        self.status_of = status_of  # a user's status in the directory; None: no directory, nobody is disabled

    def _state(self) -> StateStore | None:
        return StateStore(self.state) if self.state is not None else None

    def build(self, period: Period, now_us: int) -> Report:
        cache = DayCache(self.cache) if self.cache is not None else None
        facts = EventFacts(self.events, cache=cache)
        try:
            state = self._state()
            try:
                return build_report(facts, period, self.settings, self.policy,
                                    state.connection if state is not None else None, self.name_of, now_us,
                                    self.status_of)
            finally:
                if state is not None:
                    state.close()
        finally:
            facts.close()
            if cache is not None:
                cache.close()

    def make(self, period: Period, formats: Sequence[str], now_us: int) -> Made:
        report = self.build(period, now_us)
        return self.write(report, formats, now_us)

    def write(self, report: Report, formats: Sequence[str], now_us: int) -> Made:
        unknown = [f for f in formats if f not in FORMATS]
        if unknown or not formats:
            raise ReportError(f"unknown report format {unknown[0] if unknown else '(none)'!r}",
                              hint="use html, csv or html,csv")
        csv_paths: list[Path] = []
        html = None
        digest = None
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            if "csv" in formats:
                for table, text in csv_tables(report).items():
                    path = self.out_dir / f"{report.name}.{table}.csv"
                    write_atomic(path, text)
                    csv_paths.append(path)
            if "html" in formats:
                html = self.out_dir / f"{report.name}.html"
                write_atomic(html, render_html(report, charts_for(report), [p.name for p in csv_paths]))
                digest = file_sha256(html)
        except OSError as exc:
            raise _unwritable(self.out_dir, exc) from None
        state = self._state()
        try:
            conn = state.connection if state is not None else None
            if conn is not None and html is not None and digest is not None:
                register(conn, report.period, now_us, digest, html, report.headline)
            if html is not None:
                try:
                    write_index(self.out_dir, conn, now_us, self.review_due_us, report.period.timezone)
                except OSError as exc:
                    raise _unwritable(self.out_dir, exc) from None
        finally:
            if state is not None:
                state.close()
        log.info("report written", extra={"report": report.name, "events": report.figure("events").current,
                                          "findings": len(report.findings)})
        return Made(report, html, csv_paths, digest)


def _unwritable(out_dir: Path, exc: OSError) -> ReportError:
    reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(out_dir) else ""
    return ReportError(f"cannot write the report into {out_dir}: {reason}{where}",
                       hint="give --out a directory you may write, or check reports.dir")


def maker_for(config: Config, out_dir: Path | None = None, policy: Policy | None = None) -> ReportMaker:
    """A ReportMaker from the config: the SQLite store, the state database, the access policy, the directory's
    account statuses, pseudonyms."""
    if not isinstance(config.store, SqliteStoreConfig):
        raise ReportError("reports read the SQLite event store; this config stores events in Elasticsearch",
                          hint="use Kibana for reports over Elasticsearch, or store events in SQLite")
    if policy is None and config.policy.access:
        from pii_guard.detection.build import policy_for
        from pii_guard.enrich.enricher import Enricher

        policy = policy_for(config, Enricher.from_config(config)).policy
    reports = config.reports
    name_of = None
    if reports.pseudonymize:
        from pii_guard.search.pseudonym import Pseudonyms

        pseudonym = Pseudonyms.for_state(config.state_path)

        def name_of(user: str | None) -> str:
            return pseudonym(user) or "(no user)"

    return ReportMaker(config.store_path, config.state_path / "state.db", policy, settings_for(reports),
                       out_dir or reports_dir(config), name_of, reports.review_due,
                       cache=config.state_path / "report-cache.db", status_of=_status_of(config))


def _status_of(config: Config) -> StatusOf | None:
    """Each login name's status in the configured directory (the events do not keep it); None without one."""
    if not config.policy.directory:
        return None
    from pii_guard.enrich.directory import Directory

    directory = Directory.from_file(config.resolve(config.policy.directory))
    return lambda user: directory.lookup(user).status


def reports_dir(config: Config) -> Path:
    path = Path(config.reports.dir).expanduser()
    return path if path.is_absolute() else config.state_path / path


def deliver(config: Config, made: Made) -> bool:
    """Post the report to Slack when configured; False when there is nothing to post to."""
    slack = SlackDelivery.from_config(config)
    if slack is None or made.html is None:
        return False
    r = made.report
    figures = [(f.label, human_bytes(f.current) if f.label == "bytes" else f"{f.current:,} ({f.change})")
               for f in r.summary]
    figures.append(("unusual findings", f"{len(r.findings):,}"))
    slack.post(r.headline, made.html, figures)
    return True


def make_and_deliver(config: Config, period: Period, now_us: int, *, out_dir: Path | None = None,
                     formats: Sequence[str] | None = None, slack: bool = True) -> Made:
    made = maker_for(config, out_dir).make(period, formats or config.reports.formats, now_us)
    if slack:
        deliver(config, made)
    return made
