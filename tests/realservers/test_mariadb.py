"""A private MariaDB with the server_audit plugin (FORMATS.md §2), driven by the `mariadb` client; the
audit file it writes is parsed and the accesses and failures are checked.

The server runs from a temp dir owned by `mysql` (mariadbd refuses to run as root), with its unix socket
there and TCP on 127.0.0.1 at a free port. The plugin is loaded on the command line, not in my.cnf, so that
mariadb-install-db's bootstrap is not audited.
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
from pii_guard.parsers.mariadb import MariaDbAuditParser
from pii_guard.sources.files import file_fingerprint, iter_lines
from tests.conftest import IN_CI, require_binaries

pytestmark = pytest.mark.realserver

MARIADBD = "/usr/sbin/mariadbd" if os.access("/usr/sbin/mariadbd", os.X_OK) else "mariadbd"


@dataclass
class Server:
    root: Path
    port: int
    client: str
    audit_log: Path
    process: subprocess.Popen[bytes]

    def sql(self, sql: str, user: str = "root", password: str | None = None, check: bool = True) -> int:
        """Run SQL with the mariadb client: root over the unix socket, others over TCP (they are @127.0.0.1)."""
        if user == "root":
            args = [self.client, f"--defaults-file={self.root / 'my.cnf'}", "-uroot"]
        else:
            args = [self.client, "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-P", str(self.port)]
            args += [f"-u{user}", f"-p{password}", "crm"]
        done = subprocess.run(args, input=sql, capture_output=True, text=True, timeout=30, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"mariadb client failed ({user}): {done.stderr}")
        return done.returncode


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(server: Server, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if (server.root / "mysqld.sock").exists() and server.sql("SELECT 1", check=False) == 0:
            return
        time.sleep(0.1)
    error_log = server.root / "error.log"
    detail = error_log.read_text(errors="replace")[-2000:] if error_log.exists() else "(no error log)"
    raise AssertionError(f"mariadbd did not come up: {detail}")


@pytest.fixture
def mariadb() -> Iterator[Server]:
    found = require_binaries(MARIADBD, "mariadb", "mariadb-install-db")
    if os.geteuid() != 0:
        reason = "the MariaDB real-server test runs as root (it hands its temp dir to the mysql user)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    owner = pwd.getpwnam("mysql")  # created by the mariadb-server package
    root = Path(tempfile.mkdtemp(prefix="pii-guard-mariadb-"))  # short: the socket path limit is 108 bytes
    proc: subprocess.Popen[bytes] | None = None
    try:
        port = _free_port()
        (root / "my.cnf").write_text(
            f"[client]\nsocket = {root}/mysqld.sock\n"
            f"[mariadbd]\nuser = mysql\ndatadir = {root}/data\nsocket = {root}/mysqld.sock\n"
            f"pid-file = {root}/mysqld.pid\nlog-error = {root}/error.log\nbind-address = 127.0.0.1\n"
            f"port = {port}\nskip-name-resolve\nskip-networking = 0\ninnodb_buffer_pool_size = 16M\n"
        )
        os.chown(root, owner.pw_uid, owner.pw_gid)
        subprocess.run(
            [found["mariadb-install-db"], f"--defaults-file={root / 'my.cnf'}", "--skip-test-db",
             "--auth-root-authentication-method=socket"],
            capture_output=True, check=True, timeout=60,
        )  # fmt: skip
        audit_log = root / "server_audit.log"
        proc = subprocess.Popen(
            [found[MARIADBD], f"--defaults-file={root / 'my.cnf'}", "--plugin-load-add=server_audit",
             "--server-audit-logging=ON", "--server-audit-events=CONNECT,QUERY,TABLE",
             "--server-audit-output-type=file", f"--server-audit-file-path={audit_log}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "TZ": "UTC"},
        )  # fmt: skip
        server = Server(root, port, found["mariadb"], audit_log, proc)
        _wait_ready(server, proc, time.monotonic() + 30)
        yield server
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def _stop(server: Server) -> None:
    """A clean shutdown flushes and closes the audit file."""
    server.sql("SHUTDOWN")
    server.process.wait(timeout=30)


def _parse(path: Path) -> tuple[list[AccessEvent], list[ParseFailure]]:
    with path.open("rb") as fh:
        context = SourceContext(fingerprint=file_fingerprint(fh), path=str(path), tz=ZoneInfo("UTC"))
        parser = MariaDbAuditParser(context)
        out = [o for line in iter_lines(fh) for o in parser.feed(line.offset, line.text)]
        out.extend(parser.flush())
    return [o for o in out if isinstance(o, AccessEvent)], [o for o in out if isinstance(o, ParseFailure)]


def test_audit_log_of_a_real_server(mariadb: Server) -> None:
    started = time.time()
    export = mariadb.root / "export.csv"
    mariadb.sql(
        "CREATE DATABASE crm;"
        "CREATE TABLE crm.customers (id INT PRIMARY KEY, email VARCHAR(100), ssn CHAR(9), note TEXT);"
        "INSERT INTO crm.customers VALUES (1, 'c1@example.com', '000000001', 'says \"hi\", twice'),"
        " (2, 'c2@example.com', '000000002', 'it''s');"
        "CREATE USER 'alice'@'127.0.0.1' IDENTIFIED BY 'alice-pw';"
        "GRANT SELECT ON crm.* TO 'alice'@'127.0.0.1'; GRANT FILE ON *.* TO 'alice'@'127.0.0.1';"
        "CREATE USER 'bob'@'127.0.0.1' IDENTIFIED BY 'bob-pw';"
        "GRANT SELECT (id, email) ON crm.customers TO 'bob'@'127.0.0.1';"
    )
    mariadb.sql(
        "SELECT id, email FROM customers WHERE note = 'says \"hi\", twice'\n   OR note = 'it''s';\n"
        f"SELECT email, ssn FROM customers INTO OUTFILE '{export}' FIELDS TERMINATED BY ',';",
        user="alice",
        password="alice-pw",
    )
    assert export.exists()
    assert mariadb.sql("SELECT id FROM customers; SELECT ssn FROM customers;", "bob", "bob-pw", check=False) != 0
    assert mariadb.sql("SELECT 1", user="alice", password="wrong", check=False) != 0
    _stop(mariadb)

    got, failures = _parse(mariadb.audit_log)
    assert failures == []
    assert all(started - 120 < e.time_us / 1e6 < time.time() + 120 for e in got), "timestamps read in UTC"

    def find(**want: object) -> list[AccessEvent]:
        return [e for e in got if all(getattr(e, k) == v for k, v in want.items())]

    assert find(action="login", outcome="success", user="alice", source_ip="127.0.0.1")
    reads = find(action="read", outcome="success", user="alice", object="db:crm.customers")
    assert len(reads) == 1
    assert reads[0].statement == "SELECT id, email FROM customers WHERE note = '?'\n   OR note = '?'"
    exports = find(action="export", user="alice", object="db:crm.customers")
    assert [(e.outcome, e.fields["file.path"]) for e in exports] == [("success", str(export))]
    assert find(action="read", outcome="success", user="bob", object="db:crm.customers")
    denied = find(action="read", outcome="failure", user="bob", object="db:crm.customers")
    assert [e.error_code for e in denied] == ["1143"]
    bad_login = find(action="login", outcome="failure", user="alice")
    assert [(e.error_code, e.source_ip) for e in bad_login] == [("1045", "127.0.0.1")]
    assert find(action="permission", command="GRANT", object="db:crm.customers")
    assert find(action="ddl", object="db:crm.customers", outcome="success")
    assert not find(outcome="unknown"), "every table row found its QUERY row"


def test_definer_routine_and_auditing_without_table_events(mariadb: Server) -> None:
    """A SQL SECURITY DEFINER procedure's READ row names its definer: the read is the caller's. Then the
    TABLE events are switched off at runtime, and the statements alone must still be the accesses."""
    mariadb.sql(
        "CREATE DATABASE crm;"
        "CREATE TABLE crm.customers (id INT PRIMARY KEY, email VARCHAR(100), ssn CHAR(9));"
        "INSERT INTO crm.customers VALUES (1, 'c1@example.com', '000000001'), (2, 'c2@example.com', '000000002');"
        "CREATE DEFINER = 'root'@'localhost' PROCEDURE crm.get_customer(cid INT) SQL SECURITY DEFINER"
        " SELECT email, ssn FROM crm.customers WHERE id = cid;"
        "CREATE USER 'bob'@'127.0.0.1' IDENTIFIED BY 'bob-pw';"
        "GRANT EXECUTE ON PROCEDURE crm.get_customer TO 'bob'@'127.0.0.1';"
        "CREATE USER 'alice'@'127.0.0.1' IDENTIFIED BY 'alice-pw';"
        "GRANT SELECT, INSERT, DELETE ON crm.* TO 'alice'@'127.0.0.1';"
    )
    mariadb.sql("CALL crm.get_customer(1);", "bob", "bob-pw")
    mariadb.sql("SET GLOBAL server_audit_events = 'CONNECT,QUERY';")
    mariadb.sql(
        "SELECT email FROM customers WHERE id = 2;"
        "INSERT INTO customers VALUES (3, 'c3@example.com', '000000003');"
        "DELETE FROM customers WHERE id = 3;",
        "alice",
        "alice-pw",
    )
    _stop(mariadb)

    got, failures = _parse(mariadb.audit_log)
    assert failures == []
    reads = [e for e in got if e.action == "read" and e.object == "db:crm.customers"]
    assert [(e.user, e.source_ip, e.outcome, e.fields.get("user.effective.name")) for e in reads] == [
        ("bob", "127.0.0.1", "success", "root"),
        ("alice", "127.0.0.1", "success", None),
    ]
    alice = [(e.action, e.outcome, e.command) for e in got if e.user == "alice" and e.object == "db:crm.customers"]
    assert alice == [("read", "success", "SELECT"), ("write", "success", "INSERT"), ("delete", "success", "DELETE")]
    settings = [e.statement for e in got if e.command == "SET"]
    assert settings == ["SET GLOBAL server_audit_events = 'CONNECT,QUERY'"]
