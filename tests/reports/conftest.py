"""A generated month (benchmarks/report.py: 50 staff in 5 roles, 3 categories, February as history, planted
anomalies) in an event store, its policy files and a config pointing at them; built once per session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from benchmarks.report import MONTH_END, MONTH_START, TIMEZONE, MonthWriter, staff, write_policy

from pii_guard.config.load import load_config
from pii_guard.config.models import Config
from pii_guard.reports.period import Period, custom_period, local_midnight_us
from tests.notify.fake_slack import fake_slack as fake_slack

USERS = 50
EVENTS = 20_000
SEED = 7


@dataclass(frozen=True)
class Month:
    root: Path
    config_path: Path
    policy: dict[str, Path]

    @property
    def config(self) -> Config:
        return load_config(self.config_path).config

    @property
    def events(self) -> Path:
        return self.root / "state" / "events.db"

    @property
    def state(self) -> Path:
        return self.root / "state" / "state.db"

    @property
    def period(self) -> Period:
        tz = ZoneInfo(TIMEZONE)
        return custom_period(local_midnight_us(MONTH_START, tz), local_midnight_us(MONTH_END, tz), TIMEZONE)


def write_config(root: Path, policy: dict[str, Path], **reports: object) -> Path:
    config = {
        "state_dir": str(root / "state"),
        "store": {"path": "events.db"},
        "policy": {"directory": str(policy["directory"]), "data_map": str(policy["data_map"]),
                   "zones": str(policy["zones"]), "access": str(policy["access"])},
        "reports": {"timezone": TIMEZONE, **reports},
    }
    path = root / "pii-guard.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


@pytest.fixture(scope="session")
def month_source(tmp_path_factory: pytest.TempPathFactory) -> Month:
    root = tmp_path_factory.mktemp("month")
    (root / "state").mkdir()
    MonthWriter(USERS, EVENTS, SEED).write(root / "state" / "events.db")
    policy = write_policy(root / "policy", staff(USERS, SEED))
    return Month(root, write_config(root, policy), policy)


@pytest.fixture
def month(month_source: Month, tmp_path: Path) -> Iterator[Month]:
    """The session's month with a fresh state directory (its own state database, reports and config)."""
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "events.db").symlink_to(month_source.events)
    return Month(tmp_path, write_config(tmp_path, month_source.policy), month_source.policy)
