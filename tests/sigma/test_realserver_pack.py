"""The rule pack on the log of a real PostgreSQL + pgAudit (tests/realservers/servers.py): a guessed password
used for a bulk read and the audit configuration turned down are caught, a normal user's work is not.

The log is what the server wrote while `psql` ran the scenario; it is parsed, enriched and run through the Sigma
detectors as the daemon would (the shipped policy's time zone; the pack's golden directory)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pii_guard.clock import FixedClock
from pii_guard.model import AccessEvent
from pii_guard.parsers.registry import parser_class
from pii_guard.pipeline import FileIngest, FileSpec, RunStats
from pii_guard.policy.compile import load_policy
from pii_guard.policy.context import PolicyContext
from pii_guard.policy.models import HourRange
from pii_guard.sigma.ruleset import load_ruleset
from tests.realservers import servers
from tests.sigma.helpers import PACK, RULES, golden_enricher, run

pytestmark = pytest.mark.realserver

SETUP = """
CREATE EXTENSION pgaudit;
CREATE ROLE alice LOGIN PASSWORD 'alice-pw';
CREATE ROLE bob LOGIN PASSWORD 'bob-pw';
CREATE DATABASE crm OWNER postgres;
\\c crm
CREATE TABLE public.customers (id int PRIMARY KEY, full_name text, email text, ssn text);
INSERT INTO public.customers SELECT g, 'Customer ' || g, 'c' || g || '@example.com', lpad(g::text, 9, '0')
  FROM generate_series(1, 1500) g;
GRANT SELECT ON public.customers TO alice, bob;
"""


def test_pack_on_a_real_postgresql_day(tmp_path: Path) -> None:
    with servers.postgres() as pg:
        for sql in SETUP.split("\\c crm"):
            done = pg.psql(sql, db="postgres" if "CREATE DATABASE" in sql else "crm")
            assert done.returncode == 0, done.stderr
        start = pg.log.stat().st_size
        assert pg.psql("SELECT email FROM public.customers WHERE id = 7;", user="alice",
                       password="alice-pw").returncode == 0
        for _ in range(6):
            assert pg.psql("SELECT 1;", user="bob", password="wrong").returncode != 0
        assert pg.psql("SELECT * FROM public.customers;", user="bob", password="bob-pw").returncode == 0
        assert pg.psql("ALTER SYSTEM SET pgaudit.log = 'none';", db="postgres").returncode == 0
        servers.wait_for(servers.has_text(pg.log, "pgaudit.log"), "the ALTER SYSTEM line")
        log = pg.log.read_bytes()[start:]
    path = tmp_path / "postgresql.log"
    path.write_bytes(log)
    parser = parser_class("pgaudit")
    spec = FileSpec(parser, parser.Options.model_validate({"log_line_prefix": servers.PG_PREFIX}))
    events: list[AccessEvent] = []
    FileIngest(events.append, lambda dead: None, RunStats(), FixedClock(0)).run(path, spec)
    policy = load_policy(RULES / "access-policy.yaml").policy
    ctx = PolicyContext(policy.timezone, policy.defaults)
    enrich = golden_enricher()
    found = run(load_ruleset([PACK]), [enrich(e) for e in sorted(events, key=lambda e: e.time_us)], ctx)
    got = sorted((m.rule_id, m.user) for m in found)
    expected = [("sigma:audit-logging-reduced", "postgres"), ("sigma:brute-force-then-bulk-read", "bob")]
    # Sensitive data read at night or at the weekend (Berlin time) also raises its match: the ssn column.
    bulk = next(e for e in events if e.user == "bob" and e.action == "read")
    local = datetime.fromtimestamp(bulk.time_us / 1e6, tz=UTC).astimezone(ctx.tz)
    if not HourRange.parse("07:00-20:00").contains(local.hour * 60 + local.minute) or local.weekday() >= 5:
        expected.append(("sigma:sensitive-read-off-hours", "bob"))
    assert got == sorted(expected)


def test_mariadb_turning_its_audit_off_is_caught(tmp_path: Path) -> None:
    """server_audit logs the statement that switches it off (and a plugin removal is logged before the plugin
    goes): the parser keeps both as events and the pack's rule matches them."""
    with servers.mariadb() as db:
        assert db.sql("CREATE DATABASE crm;", db=None).returncode == 0
        assert db.sql("SET GLOBAL server_audit_events = 'CONNECT,QUERY';").returncode == 0
        assert db.sql("SET GLOBAL server_audit_logging = OFF;").returncode == 0
        servers.wait_for(servers.has_text(db.audit_log, "server_audit_logging"), "the SET GLOBAL line")
        log = db.audit_log.read_bytes()
    path = tmp_path / "server_audit.log"
    path.write_bytes(log)
    parser = parser_class("mariadb-audit")
    spec = FileSpec(parser, parser.Options(), tz=UTC)
    events: list[AccessEvent] = []
    FileIngest(events.append, lambda dead: None, RunStats(), FixedClock(0)).run(path, spec)
    changes = [(e.command, e.statement) for e in events if e.statement and "server_audit" in e.statement]
    # an audit setting's value is kept: it says what is no longer audited
    assert changes == [("SET", "SET GLOBAL server_audit_events = 'CONNECT,QUERY'"),
                       ("SET", "SET GLOBAL server_audit_logging = OFF")]
    ctx = PolicyContext("UTC", load_policy(RULES / "access-policy.yaml").policy.defaults)
    found = run(load_ruleset([PACK / "audit_logging_reduced.yml"]), [golden_enricher()(e) for e in events], ctx)
    assert [(m.rule_id, m.user) for m in found] == [("sigma:audit-logging-reduced", "root")] * 2
