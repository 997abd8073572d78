"""A private PostgreSQL 15 + pgAudit (FORMATS.md §1.6) writing stderr, csvlog and jsonlog at once, driven by
`psql`; all three files are parsed and must give the same accesses.

The cluster lives in a temp dir with its unix socket there and TCP on 127.0.0.1 at a free port. PostgreSQL
refuses to run as root, so under root initdb/pg_ctl run as the `postgres` user (created by the Debian
package), which owns the temp dir; otherwise they run as the current user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pii_guard.model import AccessEvent
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.pgaudit import PgAuditParser
from pii_guard.parsers.pgaudit_options import PgAuditOptions
from pii_guard.sources.files import file_fingerprint, iter_lines
from tests.conftest import IN_CI, require_binaries

pytestmark = pytest.mark.realserver

BIN = Path("/usr/lib/postgresql/15/bin")
PGAUDIT_SO = Path("/usr/lib/postgresql/15/lib/pgaudit.so")
SETUP = """
CREATE EXTENSION pgaudit;
CREATE ROLE alice LOGIN PASSWORD 'alice-pw';
CREATE ROLE bob LOGIN PASSWORD 'bob-pw';
CREATE DATABASE crm OWNER postgres;
\\c crm
CREATE TABLE public.customers (id int PRIMARY KEY, full_name text, email text, ssn text);
INSERT INTO public.customers SELECT g, 'Customer ' || g, 'c' || g || '@example.com', lpad(g::text, 9, '0')
  FROM generate_series(1, 50) g;
CREATE TABLE public.orders (id int, customer_id int, total numeric);
INSERT INTO public.orders SELECT g, g % 50 + 1, g * 1.5 FROM generate_series(1, 20) g;
GRANT SELECT ON public.customers, public.orders TO alice;
GRANT SELECT (id, full_name) ON public.customers TO bob;
"""
ALICE = """
SELECT * FROM public.customers WHERE id < 5;
SELECT c.full_name, o.total
  FROM customers c
  JOIN orders o ON o.customer_id = c.id
 WHERE c.email <> 'nobody@example.com';
COPY public.customers TO STDOUT WITH (FORMAT csv, HEADER);
"""
BOB = "SELECT id, full_name FROM public.customers LIMIT 10;\nSELECT ssn FROM public.customers;\n"


@dataclass
class Cluster:
    root: Path
    port: int
    psql: str

    @property
    def logs(self) -> Path:
        return self.root / "log"

    def psql_run(self, sql: str, user: str, db: str, password: str | None = None) -> int:
        """Superuser over the unix socket, others over TCP 127.0.0.1 with a password."""
        host = str(self.root / "sock") if password is None else "127.0.0.1"
        env = {**os.environ, "PGPASSWORD": password or "", "PGAPPNAME": "pii-guard-test", "PGCONNECT_TIMEOUT": "10"}
        args = [self.psql, "-X", "-q", "-h", host, "-p", str(self.port), "-U", user, "-d", db, "-o", os.devnull]
        done = subprocess.run([*args, "-f", "-"], input=sql, env=env, capture_output=True, text=True, timeout=60)
        return done.returncode


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_owner(args: list[str], owner: pwd.struct_passwd | None) -> None:
    """Run a server command as the cluster's owner (`postgres` when we are root)."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC"}
    done = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=120, check=False,
        user=owner.pw_uid if owner else None, group=owner.pw_gid if owner else None,
        extra_groups=[] if owner else None,
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"{args[0]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")


def _config(root: Path, port: int) -> str:
    return f"""
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{root / "sock"}'
shared_preload_libraries = 'pgaudit'
fsync = off
shared_buffers = 16MB
logging_collector = on
log_destination = 'stderr,csvlog,jsonlog'
log_directory = '{root / "log"}'
log_filename = 'postgresql.log'
log_rotation_age = 0
log_rotation_size = 0
log_line_prefix = '%m [%p] %q%u@%d '
log_connections = on
log_disconnections = on
log_timezone = 'UTC'
pgaudit.log = 'read,write,ddl,role,function'
pgaudit.log_catalog = off
pgaudit.log_relation = on
pgaudit.log_parameter = on
pgaudit.log_rows = on
"""


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    found = require_binaries(str(BIN / "initdb"), str(BIN / "pg_ctl"), "psql")
    if not PGAUDIT_SO.exists():
        reason = f"real-server test needs {PGAUDIT_SO} (Debian package postgresql-15-pgaudit)"
        if IN_CI:
            pytest.fail(reason + ": missing in CI")
        pytest.skip(reason)
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="pii-guard-pg-"))  # short: unix socket paths are limited to 107 bytes
    data = root / "data"
    started = False
    try:
        for sub in ("sock", "log"):
            (root / sub).mkdir()
        if owner is not None:
            for path in (root, root / "sock", root / "log"):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        _as_owner([found[str(BIN / "initdb")], "-D", str(data), "-U", "postgres", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"], owner)  # fmt: skip
        port = _free_port()
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(_config(root, port))
        _as_owner([found[str(BIN / "pg_ctl")], "-D", str(data), "-l", str(root / "pg_ctl.out"), "-w", "-t", "60",
                   "start"], owner)  # fmt: skip
        started = True
        yield Cluster(root, port, found["psql"])
    finally:
        if started and (data / "postmaster.pid").exists():
            _as_owner([str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], owner)
        shutil.rmtree(root, ignore_errors=True)


def _stop(cluster: Cluster) -> None:
    """A clean shutdown: the logging collector has written and closed all three files when it returns."""
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    _as_owner([str(BIN / "pg_ctl"), "-D", str(cluster.root / "data"), "-m", "fast", "-w", "stop"], owner)


def _parse(path: Path, destination: str, options: dict[str, object] | None = None,
           ) -> tuple[list[AccessEvent], list[ParseFailure]]:  # fmt: skip
    with path.open("rb") as fh:
        context = SourceContext(fingerprint=file_fingerprint(fh), path=str(path), host="pg", tz=ZoneInfo("UTC"))
        parser = PgAuditParser(context, PgAuditOptions.model_validate({"destination": destination, **(options or {})}))
        out = [o for line in iter_lines(fh) for o in parser.feed(line.offset, line.text)]
        out.extend(parser.flush())
    return [o for o in out if isinstance(o, AccessEvent)], [o for o in out if isinstance(o, ParseFailure)]


def _key(e: AccessEvent) -> tuple[object, ...]:
    return (e.time_us, e.action, e.outcome, e.user, e.object, e.rows, e.source_ip, e.source_port, e.error_code,
            e.statement)  # fmt: skip


def test_the_three_destinations_give_the_same_accesses(cluster: Cluster) -> None:
    started = time.time()
    assert cluster.psql_run(SETUP, "postgres", "postgres") == 0
    assert cluster.psql_run(ALICE, "alice", "crm", "alice-pw") == 0
    assert cluster.psql_run(BOB, "bob", "crm", "bob-pw") == 0  # psql goes on after the permission error
    assert cluster.psql_run("SELECT 1;", "alice", "crm", "wrong") != 0
    _stop(cluster)

    results = {d: _parse(cluster.logs / f"postgresql.{ext}", d)
               for d, ext in (("stderr", "log"), ("csvlog", "csv"), ("jsonlog", "json"))}  # fmt: skip
    for destination, (_, failures) in results.items():
        assert failures == [], destination
    got = results["stderr"][0]
    # the same accesses; records of different backends within one millisecond may come out of the parsers in
    # a different order (stderr holds a record back until its continuation lines are known to be complete)
    expected = sorted((_key(e) for e in got), key=repr)
    assert sorted((_key(e) for e in results["csvlog"][0]), key=repr) == expected
    assert sorted((_key(e) for e in results["jsonlog"][0]), key=repr) == expected
    assert all(started - 120 < e.time_us / 1e6 < time.time() + 120 for e in got), "timestamps read in UTC"

    def find(**want: object) -> list[AccessEvent]:
        return [e for e in got if all(getattr(e, k) == v for k, v in want.items())]

    reads = find(action="read", outcome="success", user="alice")
    assert [(e.object, e.rows) for e in reads] == [
        ("db:crm.public.customers", 4), ("db:crm.public.customers", 20), ("db:crm.public.orders", 20),
    ]  # fmt: skip
    assert {(e.source_ip, e.host) for e in reads} == {("127.0.0.1", "pg")}
    assert reads[1].statement is not None
    assert "'?'" in reads[1].statement
    [export] = find(action="export", user="alice")
    assert (export.object, export.command, export.rows) == ("db:crm.public.customers", "COPY", None)
    assert [(e.object, e.rows) for e in find(action="read", outcome="success", user="bob")] == [
        ("db:crm.public.customers", 10)
    ]
    [denied] = find(outcome="failure", user="bob")
    assert (denied.action, denied.object, denied.error_code) == ("read", "db:crm.customers", "42501")
    assert denied.statement == "SELECT ssn FROM public.customers;"
    [bad_login] = find(action="login", outcome="failure")
    assert (bad_login.user, bad_login.source_ip, bad_login.error_code) == ("alice", "127.0.0.1", "28P01")
    assert len(find(action="login", outcome="success", user="alice")) == 1
    assert {e.user for e in find(action="logout")} >= {"alice", "bob", "postgres"}
    assert find(action="permission", user="postgres", command="GRANT")
    assert find(action="write", user="postgres", object="db:crm.public.customers", rows=50)


OBJECT_AUDIT_SETUP = """
CREATE EXTENSION pgaudit;
CREATE ROLE auditor NOLOGIN;
CREATE ROLE alice LOGIN PASSWORD 'alice-pw';
CREATE DATABASE crm OWNER postgres;
\\c crm
CREATE SCHEMA crm_app;
CREATE TABLE public.customers (id int PRIMARY KEY, email text);
INSERT INTO public.customers SELECT g, 'c' || g || '@example.com' FROM generate_series(1, 20) g;
CREATE TABLE crm_app.patients (id int, diagnosis text);
INSERT INTO crm_app.patients SELECT g, 'd' || g FROM generate_series(1, 5) g;
GRANT USAGE ON SCHEMA crm_app TO alice;
GRANT SELECT ON public.customers, crm_app.patients TO alice, auditor;
ALTER ROLE alice SET search_path = crm_app, public;
ALTER SYSTEM SET pgaudit.role = 'auditor';
ALTER SYSTEM SET log_line_prefix = '< %m %r %u %d >';
SELECT pg_reload_conf();
"""
OBJECT_AUDIT_READS = "SELECT * FROM public.customers WHERE id < 5;\nSELECT * FROM patients WHERE id < 3;\n"


def _reloaded(cluster: Cluster, setting: str) -> None:
    """Wait until the postmaster has logged the change of `setting` (pg_reload_conf only signals it)."""
    wanted = f'parameter "{setting}" changed'
    deadline = time.monotonic() + 15
    while wanted not in (cluster.logs / "postgresql.log").read_text(errors="replace"):
        assert time.monotonic() < deadline, f"no reload of {setting}"
        time.sleep(0.05)


def test_object_audit_beside_session_audit_without_pid_and_with_log_relation_off(cluster: Cluster) -> None:
    """Object audit (`pgaudit.role`) and session audit both log each read, and the prefix has no %p: with
    `log_relation = on` an OBJECT and a SESSION line name each relation, with `off` a SESSION line without
    object comes first and the OBJECT lines name the relation as the server resolved it (alice's
    search_path finds `patients` in crm_app). Either way one read per statement, of the right table."""
    assert cluster.psql_run(OBJECT_AUDIT_SETUP, "postgres", "postgres") == 0
    _reloaded(cluster, "log_line_prefix")
    assert cluster.psql_run(OBJECT_AUDIT_READS, "alice", "crm", "alice-pw") == 0
    off = "ALTER SYSTEM SET pgaudit.log_relation = off;\nSELECT pg_reload_conf();\n"
    assert cluster.psql_run(off, "postgres", "postgres") == 0
    _reloaded(cluster, "pgaudit.log_relation")
    assert cluster.psql_run(OBJECT_AUDIT_READS, "alice", "crm", "alice-pw") == 0
    _stop(cluster)

    options = {"log_line_prefix": "< %m %r %u %d >", "extra_prefixes": ["%m [%p] %q%u@%d "]}
    for destination, ext in (("stderr", "log"), ("csvlog", "csv"), ("jsonlog", "json")):
        got, failures = _parse(cluster.logs / f"postgresql.{ext}", destination, options)
        assert failures == [], destination
        reads = [(e.object, e.rows) for e in got if e.user == "alice" and e.action == "read"]
        assert reads == [("db:crm.public.customers", 4), ("db:crm.crm_app.patients", 2)] * 2, destination


def test_pgaudit_switched_off_in_postgresql_conf_is_an_event_the_sigma_pack_catches(cluster: Cluster) -> None:
    """`pgaudit.log = 'none'` written to postgresql.conf and a reload: no SQL shows it, only the postmaster's
    `parameter "pgaudit.log" changed to "none"` line, in every destination."""
    from pii_guard.enrich.enricher import Enricher
    from pii_guard.policy.context import PolicyContext
    from pii_guard.policy.models import Defaults
    from pii_guard.sigma.detector import sigma_detectors
    from pii_guard.sigma.ruleset import load_ruleset

    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    with (cluster.root / "data" / "postgresql.conf").open("a") as conf:
        conf.write("pgaudit.log = 'none'\n")
    _as_owner([str(BIN / "pg_ctl"), "-D", str(cluster.root / "data"), "reload"], owner)
    deadline = time.monotonic() + 30
    while 'parameter "pgaudit.log" changed to "none"' not in (cluster.logs / "postgresql.log").read_text():
        assert time.monotonic() < deadline, "the reload was not logged"
        time.sleep(0.1)
    _stop(cluster)
    rule = Path(__file__).parents[2] / "rules" / "sigma" / "audit_logging_reduced.yml"
    (detector,) = sigma_detectors(load_ruleset([rule]),
                                  PolicyContext("UTC", Defaults()))  # fmt: skip
    enrich = Enricher.empty()
    destinations = (("postgresql.log", "stderr"), ("postgresql.csv", "csvlog"), ("postgresql.json", "jsonlog"))
    for name, destination in destinations:
        events, failures = _parse(cluster.logs / name, destination)
        assert failures == []
        (setting,) = [e for e in events if e.statement and "pgaudit.log" in e.statement]
        assert (setting.action, setting.command, setting.statement) == ("other", "SET", "SET pgaudit.log = 'none'")
        assert [m.rule_id for m in detector.observe(enrich(setting))] == ["sigma:audit-logging-reduced"], name
