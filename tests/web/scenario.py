"""A realistic store for the console's tests, filled through the real pipeline: the bundled example logs
(PostgreSQL + pgAudit, nginx) plus an nginx line whose user and path are `<script>` tags, replayed with the
shipped example policy (parse → enrich → detect → store → incidents), a daily review report made of that day,
and three local accounts, one per role. Time is a FixedClock just after the logs' day."""

from __future__ import annotations

import glob
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pii_guard.clock import FixedClock
from pii_guard.config.load import LoadedConfig, load_config
from pii_guard.detection.build import engine_for, policy_for
from pii_guard.enrich.enricher import Enricher
from pii_guard.incidents.book import IncidentBook
from pii_guard.notify.build import targets_for
from pii_guard.pipeline import FileSpec
from pii_guard.replay import Replayer
from pii_guard.reports.job import make_and_deliver
from pii_guard.reports.period import day_period
from pii_guard.store.build import open_event_store
from pii_guard.store.state import StateStore
from pii_guard.web.accounts import Accounts

REPO = Path(__file__).resolve().parents[2]
NOW_S = 1_795_824_000.0  # 2026-11-28T00:00:00Z, the night after the logs' day
XSS_USER = "<script>alert(1)</script>"
XSS_PATH = "/exports/<script>alert(2)</script>.csv"
XSS_LINE = (f'10.9.9.9 - {XSS_USER} [27/Nov/2026:16:30:00 +0000] "GET {XSS_PATH} HTTP/1.1" 200 5000 "-" '
            '"curl/7.88.1"\n')
PASSWORDS = {"dana": "admin password 1", "rita": "responder password 2", "vera": "viewer password 3"}
ROLES = {"dana": "admin", "rita": "responder", "vera": "viewer"}
REPORT = "review-daily-2026-11-27"

CONFIG = """\
state_dir: var
sources:
  - path: logs/postgresql-*.log
    format: pgaudit
    timezone: Europe/Berlin
    host: db1
    options:
      log_line_prefix: "%m [%p] %q%u@%d "
      extra_prefixes: ["%t [%p]: user=%u,db=%d,app=%a,client=%h "]
  - path: logs/nginx-access.log
    format: nginx
    host: web1
store:
  type: sqlite
  path: events.db
policy:
  zones: rules/zones.yaml
  data_map: rules/data-map.yaml
  directory: rules/directory.yaml
  access: rules/access-policy.yaml
reports:
  timezone: UTC
web:
  login_attempts: 3
  login_window: 15m
  page_size: 5
"""


@dataclass(frozen=True)
class Scenario:
    root: Path
    loaded: LoadedConfig
    clock: FixedClock

    @property
    def config_path(self) -> Path:
        return self.root / "pii-guard.yaml"


def build(root: Path, extra_config: str = "") -> Scenario:
    """Fill `root` with logs, policy, config, event store, state database, a report and the accounts."""
    (root / "logs").mkdir(parents=True)
    for name in ("postgresql-15-main.log", "nginx-access.log"):
        shutil.copy(REPO / "examples" / "logs" / name, root / "logs" / name)
    with (root / "logs" / "nginx-access.log").open("a", encoding="utf-8") as fh:
        fh.write(XSS_LINE)
    shutil.copytree(REPO / "rules", root / "rules", ignore=shutil.ignore_patterns("sigma"))
    (root / "pii-guard.yaml").write_text(CONFIG + extra_config, encoding="utf-8")
    loaded = load_config(root / "pii-guard.yaml")
    clock = FixedClock(NOW_S)
    _replay(loaded, clock)
    make_and_deliver(loaded.config, day_period(date(2026, 11, 27), "UTC"), int(NOW_S * 1_000_000), slack=False)
    accounts = Accounts(loaded.config.state_path / "web-accounts")
    for name, password in PASSWORDS.items():
        accounts.add(name, ROLES[name], password)
    return Scenario(root, loaded, clock)


def _replay(loaded: LoadedConfig, clock: FixedClock) -> None:
    config = loaded.config
    specs = [(Path(f), FileSpec(plan.parser, plan.options, plan.tz, plan.config.host, plan.config.max_line_bytes,
                                config.privacy.mask_literals))
             for plan in loaded.sources for f in sorted(glob.glob(str(config.resolve(plan.config.path))))]
    enricher = Enricher.from_config(config)
    events = open_event_store(config)
    state = StateStore(config.state_path / "state.db", incidents=IncidentBook(config.incidents, targets_for(config)))
    try:
        Replayer(enricher, engine_for(policy_for(config, enricher)), events, state, clock,
                 config.store.batch_size).run(specs)
    finally:
        events.close()
        state.close()


def copy(template: Scenario, root: Path) -> Scenario:
    """A private copy of a built scenario (the state database records absolute paths: moved along)."""
    import sqlite3

    shutil.copytree(template.root, root)
    conn = sqlite3.connect(root / "var" / "state.db")
    for table in ("review_reports", "checkpoints"):
        conn.execute(f"UPDATE {table} SET path = replace(path, ?, ?)", (str(template.root), str(root)))
    conn.commit()
    conn.close()
    return Scenario(root, load_config(root / "pii-guard.yaml"), FixedClock(NOW_S))
