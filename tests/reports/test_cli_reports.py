"""`pii-guard report` and `pii-guard review sign|list` from the command line, and the Slack delivery."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from click.testing import CliRunner

from pii_guard.cli import GuardedGroup
from pii_guard.cli_reports import report_cmd, review
from pii_guard.clock import SystemClock
from pii_guard.config.load import load_config
from pii_guard.reports.job import make_and_deliver
from pii_guard.reports.period import day_period
from pii_guard.reports.signoff import register
from pii_guard.store.state import StateStore
from tests.notify.fake_slack import TOKEN, FakeSlack
from tests.reports.conftest import Month, write_config
from tests.reports.test_report_month import NOW_US

cli = GuardedGroup(commands={"report": report_cmd, "review": review})


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_report_sign_and_list(month: Month) -> None:
    out_dir = month.root / "out"
    code, output = run("report", "--config", str(month.config_path), "--from", "2026-03-01", "--to", "2026-03-31",
                       "--out", str(out_dir), "--json")
    assert code == 0, output
    answer = json.loads(output)
    assert answer["report"] == "review-2026-03-01--2026-03-31"
    assert answer["findings"]["largest_export"] >= 1
    html = out_dir / "review-2026-03-01--2026-03-31.html"
    assert str(html) in answer["files"]
    assert (out_dir / "review-2026-03-01--2026-03-31.findings.csv").is_file()

    code, output = run("review", "sign", str(html), "--config", str(month.config_path), "--by", "Dana Reviewer",
                       "--note", "checked the export by p.export: approved migration")
    assert code == 0, output
    assert "signed off by Dana Reviewer" in output
    code, output = run("review", "list", "--config", str(month.config_path), "--since", "3650d", "--json")
    rows = [orjson.loads(line) for line in output.splitlines()]
    mine = next(r for r in rows if r["report"] == "review-2026-03-01--2026-03-31")
    assert (mine["status"], mine["reviewer"]) == ("reviewed", "Dana Reviewer")
    state = StateStore(month.state)
    try:
        stored = state.connection.execute("SELECT report, sha256, reviewer, note FROM review_signoffs").fetchall()
    finally:
        state.close()
    assert stored == [("review-2026-03-01--2026-03-31", answer["sha256"], "Dana Reviewer",
                       "checked the export by p.export: approved migration")]
    assert "reviewed by Dana Reviewer" in (out_dir / "index.html").read_text()


def test_a_changed_report_cannot_be_signed(month: Month) -> None:
    made = make_and_deliver(month.config, day_period(month.period.first_day, "Europe/Berlin"), NOW_US, slack=False)
    assert made.html is not None
    made.html.write_text(made.html.read_text().replace("Access-log review", "Access-log revue"))
    code, output = run("review", "sign", str(made.html), "--config", str(month.config_path), "--by", "x",
                       "--note", "y")
    assert code == 2
    assert "review-daily-2026-03-01.html is not the file pii-guard made: its SHA-256 differs" in output
    code, output = run("review", "sign", str(made.html.with_name("review-daily-2026-03-02.html")), "--config",
                       str(month.config_path), "--by", "x", "--note", "y")
    assert (code, "no such report file" in output) == (2, True)


def test_list_shows_overdue_and_missing_periods(month: Month) -> None:
    config = load_config(write_config(month.root, month.policy, review_due="2d")).config
    state = StateStore(month.state)
    period = day_period(month.period.first_day, "Europe/Berlin")
    html = month.root / "review-daily-2026-03-01.html"
    html.write_text("x")
    register(state.connection, period, NOW_US - 10 * 86_400_000_000, "0" * 64, html, "headline")
    state.close()
    code, output = run("review", "list", "--config", str(month.config_path), "--since", "3650d")
    assert code == 0, output
    line = next(x for x in output.splitlines() if x.startswith("review-daily-2026-03-01"))
    assert "overdue" in line
    assert config.reports.daily
    code, output = run("review", "list", "--config", str(month.config_path), "--since", "3d")
    assert "no report" in output  # the days the daily schedule covers, with no report made


def test_usage_errors(month: Month) -> None:
    code, output = run("report", "--config", str(month.config_path), "--period", "daily", "--from", "2026-03-01")
    assert (code, output.strip()) == (2, "pii-guard: error: give --period or --from/--to, not both")
    code, output = run("report", "--config", str(month.config_path), "--from", "2026-03-01", "--format", "pdf")
    assert (code, output.strip()) == (2, "pii-guard: error: --format 'pdf': use html, csv or html,csv")
    code, output = run("report", "--config", str(month.config_path), "--from", "2026-03-31", "--to", "2026-03-01")
    assert code == 2
    assert "the period is empty" in output


def test_slack_gets_the_headline_and_the_file(month: Month, fake_slack: FakeSlack) -> None:
    path = write_config(month.root, month.policy)
    raw = json.loads(path.read_text())
    raw["notify"] = {"slack": {"mode": "bot", "token": TOKEN, "api_url": fake_slack.api_url, "channel": "C0PRIVACY"}}
    path.write_text(json.dumps(raw))
    made = make_and_deliver(load_config(path).config, month.period, NOW_US)
    assert made.html is not None
    assert len(fake_slack.files) == 1
    sent = fake_slack.files[0]
    assert sent["data"] == made.html.read_bytes()
    assert sent["filename"] == "review-2026-03-01--2026-03-31.html"
    assert sent["channel"] == "C0PRIVACY"
    assert "1 March 2026 to 31 March 2026" in sent["comment"]
    assert "review sign review-2026-03-01--2026-03-31.html" in sent["comment"]
    assert [m.get("files") for m in fake_slack.channel_messages("C0PRIVACY")] == [[{"id": sent["id"],
                                                                                     "title": sent["title"]}]]


def test_slack_webhook_gets_the_headline(month: Month, fake_slack: FakeSlack) -> None:
    path = write_config(month.root, month.policy)
    raw = json.loads(path.read_text())
    raw["notify"] = {"slack": {"mode": "webhook", "webhook_url": fake_slack.webhook_url}}
    path.write_text(json.dumps(raw))
    make_and_deliver(load_config(path).config, day_period(month.period.first_day, "Europe/Berlin"), NOW_US)
    assert len(fake_slack.webhook_messages) == 1
    assert "Sunday 1 March 2026" in fake_slack.webhook_messages[0]["text"]


def test_elasticsearch_store_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"state_dir": str(tmp_path), "store": {"type": "elasticsearch",
                                                                      "hosts": ["http://127.0.0.1:9"]}}))
    code, output = run("report", "--config", str(path), "--period", "daily")
    assert code == 2
    assert "reports read the SQLite event store" in output


def test_an_unwritable_out_directory_is_a_clean_error(month: Month) -> None:
    a_file = month.root / "README.md"
    a_file.write_text("not a directory")
    for out in (a_file / "x", Path("/proc/x")):
        code, output = run("report", "--config", str(month.config_path), "--from", "2026-03-01", "--to",
                           "2026-03-01", "--out", str(out))
        assert code == 2, output
        assert output.startswith(f"pii-guard: error: cannot write the report into {out}: ")
        assert "give --out a directory you may write" in output
        assert len(output.strip().splitlines()) == 1


def test_review_list_expects_no_reports_before_the_first_event(tmp_path: Path) -> None:
    from pii_guard.store.sqlite import SqliteEventStore
    from tests.policy.events import enrich_all, ev

    (tmp_path / "state").mkdir()
    path = tmp_path / "pii-guard.yaml"
    path.write_text(json.dumps({"state_dir": str(tmp_path / "state"), "reports": {"timezone": "UTC"}}))
    code, output = run("review", "list", "--config", str(path), "--since", "90d")
    assert (code, output.startswith("no reports yet")) == (0, True), output  # a fresh install owes no reports
    now_us = int(SystemClock().now() * 1_000_000)
    store = SqliteEventStore(tmp_path / "state" / "events.db")
    store.write(enrich_all([ev(now_us - 3 * 86_400_000_000, "alice", "db:crm.public.customers")]), [])
    store.close()
    code, output = run("review", "list", "--config", str(path), "--since", "90d")
    assert code == 0, output
    days = [line.split()[0] for line in output.splitlines() if line.startswith("review-daily-")]
    assert len(days) == 3  # the day of the first event and the two complete days after it, not 90
    assert all("no report" in line for line in output.splitlines())
    assert len([line for line in output.splitlines() if line.startswith("review-weekly-")]) <= 1
