"""Three findings a reviewer expects of a period: exports of unknown volume, accounts the directory marks disabled
(or left) that were still used, and honeytoken accesses (refused attempts included). Over a small SQLite event
store written in tmp_path through the enricher (directory, data map, zones from files) and the store, as ingest
would, then the report from the config: the model, the HTML and the findings CSV."""

from __future__ import annotations

import csv
import json
import sqlite3
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from pii_guard.config.load import load_config
from pii_guard.config.models import Config
from pii_guard.enrich.enricher import Enricher
from pii_guard.model import AccessEvent
from pii_guard.reports import cache as day_cache
from pii_guard.reports.job import Made, make_and_deliver, maker_for
from pii_guard.reports.model import Finding
from pii_guard.reports.period import Period, day_period, to_us
from pii_guard.store.sqlite import SqliteEventStore

TZ = "Europe/Berlin"
DAY = date(2026, 3, 10)
NOW_US = to_us(datetime(2026, 3, 11, 6, 0, tzinfo=ZoneInfo(TZ)))
CUSTOMERS = "db:crm.public.customers"
DECOY = "db:crm.public.vip_decoy"
PRODUCTS = "db:crm.public.products"  # not in the data map: unclassified
COPY = "COPY crm.public.customers TO 'exports/customers.csv'"
SECRET = "AUDIT: SESSION,1,1,READ,COPY,TABLE,crm.public.customers"

DIRECTORY = """users:
  alice: {roles: [support], department: customer-care}
  dave: {roles: [analyst], department: finance}
  bob: {roles: [support], department: customer-care, status: disabled}
  carol: {roles: [analyst], department: finance, status: left}
  svc-backup: {roles: [dba], department: it, status: service}
"""
DATA_MAP = f"""categories: [personal]
objects:
  - match: "{CUSTOMERS}"
    categories: [personal]
  - match: "{DECOY}"
    categories: [personal]
    honeytoken: true
"""
ZONES = """zones:
  office: ['10.20.0.0/16']
  datacenter: ['10.10.0.0/16']
unknown_zone: internet
"""


@dataclass(frozen=True)
class Access:
    """One access on a local day at hh:mm; rows None with action export: the log gives no volume."""

    day: date
    hhmm: str
    user: str
    action: str
    obj: str
    rows: int | None = None
    outcome: str = "success"
    ip: str = "10.20.0.5"


# what a reviewer must see
GAPS = (
    Access(DAY, "02:00", "svc-backup", "export", CUSTOMERS, ip="10.10.0.9"),  # COPY table TO: no row count
    Access(DAY, "03:00", "svc-backup", "export", CUSTOMERS, ip="10.10.0.9"),
    Access(DAY, "11:15", "bob", "read", CUSTOMERS, 3),
    Access(DAY, "11:16", "bob", "read", CUSTOMERS, 2),
    Access(DAY, "11:20", "bob", "read", PRODUCTS, 1),
    Access(DAY, "12:00", "carol", "read", CUSTOMERS, outcome="failure"),
    Access(DAY, "14:00", "alice", "read", DECOY, 1),
    Access(DAY, "15:30", "dave", "read", DECOY, outcome="failure", ip="203.0.113.7"),
)
# what must not be flagged as one of them
ORDINARY = (
    Access(DAY, "09:00", "alice", "read", CUSTOMERS, 5),
    Access(DAY, "10:00", "dave", "export", CUSTOMERS, 1_200),  # volume known
    Access(DAY, "10:30", "dave", "export", PRODUCTS),  # volume unknown, but nothing classified
    Access(DAY, "10:45", "alice", "export", CUSTOMERS, outcome="failure"),  # refused: nothing left
    Access(DAY, "13:00", "svc-backup", "read", CUSTOMERS, 40, ip="10.10.0.9"),  # a service account, not disabled
    Access(date(2026, 3, 9), "16:00", "alice", "read", DECOY, 1),  # the day before: another period
    Access(date(2026, 3, 9), "16:05", "bob", "read", CUSTOMERS, 1),
)


def write_setup(root: Path, accesses: tuple[Access, ...]) -> Config:
    policy = root / "policy"
    policy.mkdir()
    (policy / "directory.yaml").write_text(DIRECTORY)
    (policy / "data-map.yaml").write_text(DATA_MAP)
    (policy / "zones.yaml").write_text(ZONES)
    config_path = root / "pii-guard.yaml"
    config_path.write_text(json.dumps({
        "state_dir": str(root / "state"),
        "store": {"path": "events.db"},
        "policy": {"directory": "policy/directory.yaml", "data_map": "policy/data-map.yaml",
                   "zones": "policy/zones.yaml"},
        "reports": {"timezone": TZ},
    }))
    config = load_config(config_path).config
    enrich = Enricher.from_config(config)
    store = SqliteEventStore(config.store_path)
    try:
        store.write([enrich(_event(n, a)) for n, a in enumerate(accesses)], [])
    finally:
        store.close()
    return config


def _event(n: int, a: Access) -> AccessEvent:
    hour, minute = map(int, a.hhmm.split(":"))
    at = to_us(datetime(a.day.year, a.day.month, a.day.day, hour, minute, tzinfo=ZoneInfo(TZ)))
    statement = COPY if a.action == "export" else "SELECT * FROM crm.public.customers WHERE id = ?"
    return AccessEvent(f"gap-{n:04d}", at, "postgresql.pgaudit", a.action, a.outcome, a.user, a.ip, None, "db1", a.obj,
                       a.rows, None, "COPY" if a.action == "export" else "SELECT", statement, SECRET)


@pytest.fixture
def period() -> Period:
    return day_period(DAY, TZ)


@pytest.fixture
def made(tmp_path: Path, period: Period) -> Made:
    return make_and_deliver(write_setup(tmp_path, GAPS + ORDINARY), period, NOW_US, slack=False)


@pytest.fixture
def quiet(tmp_path: Path, period: Period) -> Made:
    return make_and_deliver(write_setup(tmp_path, ORDINARY), period, NOW_US, slack=False)


def _shown(f: Finding) -> tuple[str, str, int, int | None, str]:
    return f.user, f.when, f.events, f.volume, f.categories


def test_exports_of_unknown_volume(made: Made) -> None:
    [found] = made.report.findings_of("export_unknown_volume")
    assert _shown(found) == ("svc-backup", "2026-03-10 02:00", 2, None, "personal")
    assert found.detail == f"2 exports of {CUSTOMERS}, volume unknown (the log gives no row or byte count)"
    # the export with a row count is ranked by volume instead, and only there
    assert [(f.user, f.volume) for f in made.report.findings_of("largest_export")] == [("dave", 1_200)]


def test_accounts_disabled_in_the_directory(made: Made) -> None:
    found = {f.user: f for f in made.report.findings_of("disabled_account")}
    assert set(found) == {"bob", "carol"}  # not alice or dave (active), nor svc-backup (service)
    assert _shown(found["bob"]) == ("bob", "2026-03-10 11:15", 3, 6, "personal")
    assert found["bob"].detail == "directory status disabled, yet 3 accesses on 1 day to 2 objects"
    assert _shown(found["carol"]) == ("carol", "2026-03-10 12:00", 1, 0, "personal")
    assert found["carol"].detail == "directory status left, yet 1 access (1 refused) on 1 day to 1 object"
    assert made.report.settings["account status"].startswith("as the directory has it when the report is made")


def test_honeytoken_accesses_and_refused_attempts(made: Made) -> None:
    found = made.report.findings_of("honeytoken_access")
    assert [_shown(f) for f in found] == [("alice", "2026-03-10 14:00", 1, 1, "personal"),
                                          ("dave", "2026-03-10 15:30", 1, 0, "personal")]
    assert found[0].detail == f"access to honeytoken {DECOY} (read): went through; first from zone office (10.20.0.5)"
    assert found[1].detail == (f"attempt on honeytoken {DECOY} (read): refused; first from zone internet "
                               "(203.0.113.7)")


def test_the_rendered_report_shows_them(made: Made) -> None:
    assert made.html is not None
    html = made.html.read_text()
    for kind, title, row in (
        ("export_unknown_volume", "Exports of unknown volume",
         "<tr><td>svc-backup</td><td>2026-03-10 02:00</td><td>2 exports of db:crm.public.customers, volume unknown"),
        ("disabled_account", "Account disabled in the directory",
         "<tr><td>bob</td><td>2026-03-10 11:15</td><td>directory status disabled, yet 3 accesses"),
        ("honeytoken_access", "Honeytoken accessed",
         "<tr><td>dave</td><td>2026-03-10 15:30</td><td>attempt on honeytoken db:crm.public.vip_decoy (read): refused"),
    ):
        section = html[html.index(f'<h3 id="finding-{kind}">'):]
        section = section[:section.index("</table>")]
        assert f"{title} <span" in section
        assert row in section, kind
    unknown_row = html[html.index("2 exports of db:crm.public.customers"):]
    assert unknown_row[:unknown_row.index("</tr>")].endswith('<td class="n">unknown</td>')
    for leak in (COPY, SECRET, "exports/customers.csv"):
        assert leak not in html
    with (made.html.parent / f"{made.report.name}.findings.csv").open() as fh:
        rows = [(r["kind"], r["user"], r["when"], r["volume"]) for r in csv.DictReader(fh)]
    assert ("export_unknown_volume", "svc-backup", "2026-03-10 02:00", "") in rows
    assert ("disabled_account", "carol", "2026-03-10 12:00", "0") in rows
    assert ("honeytoken_access", "alice", "2026-03-10 14:00", "1") in rows


def test_nothing_to_flag(quiet: Made) -> None:
    r = quiet.report
    for kind in ("export_unknown_volume", "disabled_account", "honeytoken_access"):
        assert r.findings_of(kind) == [], kind
    assert [(f.user, f.volume) for f in r.findings_of("largest_export")] == [("dave", 1_200)]
    assert quiet.html is not None
    html = quiet.html.read_text()
    for kind in ("export_unknown_volume", "disabled_account", "honeytoken_access"):
        section = html[html.index(f'<h3 id="finding-{kind}">'):]
        section = section[:section.index("</p>")]
        assert "(0)</span></h3>" in section
        assert section.endswith('<p class="empty">None.'), kind


def test_without_a_directory_disabled_accounts_are_not_checked(tmp_path: Path, period: Period) -> None:
    config = write_setup(tmp_path, GAPS)
    config = config.model_copy(update={"policy": config.policy.model_copy(update={"directory": None})})
    report = maker_for(config).build(period, NOW_US)
    assert report.findings_of("disabled_account") == []
    assert "No user directory: accounts disabled in it are not checked." in report.notes
    assert len(report.findings_of("honeytoken_access")) == 2


def test_days_cached_by_an_older_version_are_computed_again(tmp_path: Path, period: Period) -> None:
    """Rollup rows cached before version 2 lack the unknown-volume and honeytoken columns: such a cache is
    emptied, not read."""
    config = write_setup(tmp_path, GAPS + ORDINARY)
    first = maker_for(config).build(period, NOW_US)
    path = config.state_path / "report-cache.db"
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == day_cache.VERSION == 2
        old = [(zlib.compress(orjson.dumps(_old_shape(orjson.loads(zlib.decompress(data))))), *key)
               for *key, data in conn.execute("SELECT kind, variant, start_us, end_us, data FROM pieces"
                                              " WHERE kind = 'rollup'")]
        assert old
        conn.executemany("UPDATE pieces SET data = ? WHERE kind = ? AND variant = ? AND start_us = ? AND end_us = ?",
                         old)
        conn.execute("PRAGMA user_version = 0")
        conn.commit()
    finally:
        conn.close()
    again = maker_for(config).build(period, NOW_US)
    assert again.findings == first.findings
    assert {"export_unknown_volume", "disabled_account", "honeytoken_access"} <= {f.kind for f in again.findings}
    third = maker_for(config).build(period, NOW_US)  # from the refilled cache
    assert third.findings == first.findings


def _old_shape(piece: list[list[list[object]]]) -> list[object]:
    rows, hours = piece
    return [[row[:17] for row in rows], hours]
