"""The report over a generated month: its tables against independent SQL counts over the event store, and
every planted anomaly in it."""

from __future__ import annotations

import csv
import re
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from benchmarks.report import EXPORT_ROWS, PLANTED

from pii_guard.incidents import records
from pii_guard.incidents.records import IncidentRecord
from pii_guard.reports.job import Made, make_and_deliver, maker_for
from pii_guard.reports.model import Report
from pii_guard.reports.render import safe_cell
from pii_guard.store.state import StateStore
from tests.reports.conftest import Month, write_config

NOW_US = int(datetime(2026, 4, 2, 9, 0, tzinfo=UTC).timestamp() * 1_000_000)
HOUR = 3_600_000_000


def sql(month: Month, query: str, *params: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{month.events}?mode=ro", uri=True)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def add_incidents(month: Month) -> None:
    """Three incidents: one acknowledged after 2 h and resolved after 26 h in March, one still open, one from
    February (not shown)."""
    start = month.period.start_us
    state = StateStore(month.state)
    conn = state.connection
    for n, (opened, ack, closed, status, user) in enumerate([
        (start + 10 * 24 * HOUR, start + 10 * 24 * HOUR + 2 * HOUR, start + 11 * 24 * HOUR + 2 * HOUR, "resolved",
         "p.outside"),
        (start + 20 * 24 * HOUR, None, None, "open", "p.newzone"),
        (start - 10 * 24 * HOUR, None, None, "open", "user00020"),
    ]):
        records.insert(conn, IncidentRecord(
            id=0, group_key=f"k{n}", silence_key=f"s{n}", rule_id="role-access:support", kind="role_access",
            severity="high", status=status, assignee=None, title=f"{user} (support) read hr data", user=user,
            opened_us=opened, updated_us=opened, acknowledged_us=ack, closed_us=closed, first_us=opened,
            last_us=opened, deadline_us=None, evidence_count=1, silence_id=None))
    conn.commit()
    state.close()


@pytest.fixture
def made(month: Month) -> Made:
    add_incidents(month)
    return make_and_deliver(month.config, month.period, NOW_US, slack=False)


def test_accessors_match_independent_counts(month: Month, made: Made) -> None:
    p = month.period
    expected = {(c, u): (n, r) for c, u, n, r in sql(
        month, "SELECT c.category, e.user_name, count(*), sum(coalesce(e.rows, 0)) FROM event_categories c "
               "JOIN events e ON e.id = c.event_id WHERE c.ts >= ? AND c.ts < ? GROUP BY 1, 2", p.start_us, p.end_us)}
    got = {(a.category, a.user): (a.events, a.rows) for c in made.report.categories for a in c.accessors}
    assert got == expected
    per_cat = {c: (n, u) for c, n, u in sql(
        month, "SELECT category, count(*), count(DISTINCT e.user_name) FROM event_categories c JOIN events e "
               "ON e.id = c.event_id WHERE c.ts >= ? AND c.ts < ? GROUP BY 1", p.start_us, p.end_us)}
    assert {c.name: (c.events, c.users) for c in made.report.categories} == per_cat
    assert sorted(per_cat) == ["financial", "hr", "personal"]


def test_objects_zones_and_days_match(month: Month, made: Made) -> None:
    p = month.period
    objects = {(c, o): (n, u) for c, o, n, u in sql(
        month, "SELECT c.category, e.object, count(*), count(DISTINCT e.user_name) FROM event_categories c "
               "JOIN events e ON e.id = c.event_id WHERE c.ts >= ? AND c.ts < ? GROUP BY 1, 2", p.start_us, p.end_us)}
    got = {(o.category, o.object): (o.events, o.users) for c in made.report.categories for o in c.object_rows}
    assert got == objects
    zones = {(c, z): (n, u) for c, z, n, u in sql(
        month, "SELECT c.category, e.zone, count(*), count(DISTINCT e.user_name) FROM event_categories c "
               "JOIN events e ON e.id = c.event_id WHERE c.ts >= ? AND c.ts < ? GROUP BY 1, 2", p.start_us, p.end_us)}
    assert {(z.category, z.zone): (z.events, z.users) for c in made.report.categories for z in c.zones} == zones
    objects_per_user = {(c, u): n for c, u, n in sql(
        month, "SELECT c.category, e.user_name, count(DISTINCT e.object) FROM event_categories c JOIN events e "
               "ON e.id = c.event_id WHERE c.ts >= ? AND c.ts < ? GROUP BY 1, 2", p.start_us, p.end_us)}
    assert {(a.category, a.user): a.objects for c in made.report.categories for a in c.accessors} == objects_per_user
    # per local day (Europe/Berlin: UTC+1 in March until the 29th, then UTC+2)
    days: dict[tuple[str, str], int] = defaultdict(int)
    for ts, cat in sql(month, "SELECT ts, category FROM event_categories WHERE ts >= ? AND ts < ?",
                       p.start_us, p.end_us):
        day = datetime.fromtimestamp(int(ts) / 1e6, UTC).astimezone(p.tz).date().isoformat()  # type: ignore[arg-type]
        days[(day, str(cat))] += 1
    assert {(d.day, d.category): d.events for d in made.report.days} == dict(days)
    assert sum(map(sum, made.report.heatmap)) == sql(
        month, "SELECT count(*) FROM events WHERE ts >= ? AND ts < ? AND categories IS NOT NULL",
        p.start_us, p.end_us)[0][0]


def test_summary_against_the_store(month: Month, made: Made) -> None:
    p, q = month.period, month.period.previous()
    r = made.report
    for period, column in ((p, "current"), (q, "previous")):
        events, users, objects, rows = sql(month, "SELECT count(*), count(DISTINCT user_name), count(DISTINCT object),"
                                                  " sum(coalesce(rows, 0)) FROM events WHERE ts >= ? AND ts < ?",
                                           period.start_us, period.end_us)[0]
        assert getattr(r.figure("events"), column) == events
        assert getattr(r.figure("users"), column) == users
        assert getattr(r.figure("objects"), column) == objects
        assert getattr(r.figure("rows"), column) == (rows or 0)
    assert r.figure("categories touched").current == 3
    assert (r.figure("incidents opened").current, r.figure("incidents resolved").current) == (2, 1)


def test_every_planted_anomaly_appears(made: Made) -> None:
    r = made.report
    for plant in PLANTED:
        if plant.kind == "first_time":
            section = next(c for c in r.categories if c.name == "financial")
            assert plant.user in [a.user for a in section.first_time], plant
            continue
        users = [f.user for f in r.findings_of(plant.kind)]
        assert plant.user in users, (plant, users)
    export = r.findings_of("largest_export")[0]
    assert (export.user, export.volume) == ("p.export", EXPORT_ROWS)
    assert "203.0.113.50" in next(f.detail for f in r.findings_of("new_zone") if f.user == "p.newzone")
    # the planted ones are the only off-hours, outside-role and unknown-account findings: no noise
    assert {f.user for f in r.findings_of("off_hours")} == {"p.offhours"}
    assert {f.user for f in r.findings_of("outside_role_category")} == {"p.outside"}
    assert {f.user for f in r.findings_of("unknown_account")} == {"contractor7"}
    assert {f.user for f in r.findings_of("dormant_returned")} == {"p.dormant"}


def test_role_drift_and_incidents(made: Made) -> None:
    drift = {d.role: d for d in made.report.drift}
    assert drift["support"].beyond == "financial, hr"
    assert drift["finance"].beyond == ""
    assert drift["dba"].granted == "*"
    rows = {i.user: i for i in made.report.incidents}
    assert set(rows) == {"p.outside", "p.newzone"}
    assert (rows["p.outside"].acknowledged_after, rows["p.outside"].resolved_after) == ("2h 00m", "1d 2h")
    assert (rows["p.newzone"].status, rows["p.newzone"].resolved_after) == ("open", "-")


def test_files_csv_and_no_personal_data(month: Month, made: Made) -> None:
    assert made.html is not None
    assert made.html.name == "review-2026-03-01--2026-03-31.html"
    names = sorted(p.name for p in made.csv)
    assert "review-2026-03-01--2026-03-31.accessors.csv" in names
    with (made.html.parent / "review-2026-03-01--2026-03-31.accessors.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == sum(len(c.accessors) for c in made.report.categories)
    html = made.html.read_text()
    for leak in ("WHERE id = ?", "AUDIT:", "<script"):
        assert leak not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing loaded from elsewhere
    index = (made.html.parent / "index.html").read_text()
    assert "review-2026-03-01--2026-03-31.html" in index
    assert "awaiting review" in index


def test_csv_cells_cannot_run_formulas() -> None:
    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert safe_cell("@x") == "'@x"
    assert safe_cell(-5) == "-5"
    assert safe_cell(True) == "yes"


def test_pseudonymized_report_names_nobody(month: Month) -> None:
    config_path = write_config(month.root, month.policy, pseudonymize=True)
    from pii_guard.config.load import load_config

    config = load_config(config_path).config
    report: Report = maker_for(config).build(month.period, NOW_US)
    users = {a.user for c in report.categories for a in c.accessors}
    assert users
    assert all(u.startswith("staff-") for u in users)
    made = maker_for(config).write(report, ("html",), NOW_US)
    assert made.html is not None
    html = made.html.read_text()
    for name in ("p.offhours", "p.export", "contractor7", "user00010"):
        assert name not in html
    assert {f.kind for f in report.findings} >= {"off_hours", "largest_export", "unknown_account"}


def test_day_cache_gives_the_same_report_and_notices_new_events(month: Month) -> None:
    import shutil

    from pii_guard.model import AccessEvent, EnrichedEvent, ObjectInfo, UserInfo
    from pii_guard.reports.cache import DayCache
    from pii_guard.reports.queries import EventFacts
    from pii_guard.store.sqlite import SqliteEventStore

    db = month.root / "state" / "events.db"
    real = db.resolve()
    db.unlink()
    shutil.copy(real, db)
    maker = maker_for(month.config)
    first = maker.build(month.period, NOW_US)
    cache = DayCache(month.root / "state" / "report-cache.db")
    facts = EventFacts(db, cache=cache)
    facts.rollup(month.period.start_us, month.period.end_us, month.period.timezone)
    facts.close()
    assert (cache.hits, cache.misses) == (31 + 1, 0)  # 31 days, 29 March in two pieces (DST): all from the cache
    cache.close()
    again = maker.build(month.period, NOW_US)
    assert again.summary == first.summary
    assert again.categories == first.categories
    assert again.findings == first.findings

    store = SqliteEventStore(db)
    late = AccessEvent("late-1", month.period.start_us + 36 * HOUR, "postgresql.pgaudit", "export", "success",
                       "p.late", "10.20.9.9", None, "db1", "db:crm.public.customers", 999_999, None)
    store.write([EnrichedEvent(late, UserInfo("p.late", ("support",), "customer-care"), ObjectInfo(("personal",), True),
                               "office")], [])
    store.close()
    third = maker.build(month.period, NOW_US)
    assert third.figure("events").current == first.figure("events").current + 1
    assert third.findings_of("largest_export")[0].user == "p.late"


def test_incidents_count_in_the_period_of_the_events_that_opened_them(month: Month) -> None:
    """A replay records incidents late: they count in the period of their first event, not of the replay."""
    start, end = month.period.start_us, month.period.end_us
    state = StateStore(month.state)
    conn = state.connection
    for n, (first, opened, user) in enumerate([
        (start + 5 * 24 * HOUR, end + 20 * 24 * HOUR, "p.replayed"),  # March's events, replayed in April
        (start - 3 * 24 * HOUR, start + 2 * HOUR, "p.february"),  # February's events, recorded in March
    ]):
        records.insert(conn, IncidentRecord(
            id=0, group_key=f"r{n}", silence_key=f"r{n}", rule_id="role-access:support", kind="role_access",
            severity="high", status="open", assignee=None, title=f"{user} (support) read hr data", user=user,
            opened_us=opened, updated_us=opened, acknowledged_us=None, closed_us=None, first_us=first,
            last_us=first, deadline_us=None, evidence_count=1, silence_id=None))
    conn.commit()
    state.close()
    report = make_and_deliver(month.config, month.period, NOW_US, slack=False).report
    assert (report.figure("incidents opened").current, report.figure("incidents opened").previous) == (1, 1)
    assert "1 incidents opened" in report.headline
    [row] = report.incidents
    assert (row.user, row.first_event[:10], row.opened[:10]) == ("p.replayed", "2026-03-06", "2026-04-21")
