"""A private PostgreSQL 15 + pgAudit with `log_destination = 'syslog'` (facility LOCAL0, ident `postgres`)
behind a private rsyslogd that writes Debian 12's RFC 3339 layout and the traditional one, driven by `psql`;
both files are parsed by `pii-guard parse --format pgaudit --set destination=syslog` and every event checked.

The server splits each message at its newlines and into pieces of at most 900 bytes (`[N-M]`), and rsyslog
writes a TAB as `#011`: the multi-line SELECT, the statement longer than 2,000 bytes, the ERROR with its
STATEMENT line and the reads of two concurrent sessions must each come back as one record.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.realservers.ftpweb import parse_with_cli
from tests.realservers.servers import PG_SYSLOG_PREFIX, PostgresSyslog, postgres_syslog, wait_for
from tests.realservers.test_postgresql import SETUP as SCHEMA

pytestmark = pytest.mark.realserver

# the schema of test_postgresql.py, its setup kept out of the audit log
SETUP = "SET pgaudit.log = 'none';" + SCHEMA.replace("\\c crm\n", "\\c crm\nSET pgaudit.log = 'none';\n")
MULTI_LINE = "SELECT c.full_name,\n\tc.email\n  FROM public.customers c\n WHERE c.id <= 3;"
LONG = "SELECT id FROM public.customers WHERE " + " OR ".join(f"email = 'c{i}@example.com'" for i in range(1, 101))
LONG += ";"
JOIN = "SELECT c.full_name, o.total\n  FROM customers c\n  JOIN orders o ON o.customer_id = c.id;"
ALICE = f"{MULTI_LINE}\n{LONG}\nCOPY public.customers TO STDOUT WITH (FORMAT csv);\n{JOIN}\n"
BOB = "SELECT id, full_name FROM public.customers LIMIT 5;\nSELECT ssn FROM public.customers;\n"
CONCURRENT = 40  # statements of each of the two concurrent sessions
PADDING = "-- " + "padding " * 130  # a comment line of more than 900 bytes: each statement comes in pieces


def _concurrent(columns: str) -> str:
    return "".join(f"SELECT {columns}\n  FROM public.customers\n{PADDING}\n WHERE id <= {i};\n"
                   for i in range(1, CONCURRENT + 1))  # fmt: skip


def _psql(lab: PostgresSyslog, sql: str, user: str, password: str) -> subprocess.Popen[str]:
    """psql over TCP 127.0.0.1 with a password, started without waiting for it."""
    env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": password, "PGAPPNAME": "pii-guard-test", "PGCONNECT_TIMEOUT": "10"}
    args = [lab.psql_bin, "-X", "-q", "-h", "127.0.0.1", "-p", str(lab.port), "-U", user, "-d", "crm"]
    args += ["-o", "/dev/null"]
    proc = subprocess.Popen([*args, "-f", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)  # fmt: skip
    assert proc.stdin is not None
    proc.stdin.write(sql)
    proc.stdin.close()
    return proc


def _view(doc: dict[str, Any]) -> tuple[Any, ...]:
    pii = doc.get("pii", {})
    return (doc["event"]["action"], doc["event"]["outcome"], doc.get("user", {}).get("name"),
            doc.get("source", {}).get("ip"), pii.get("object"), pii.get("rows"))  # fmt: skip


def _expected() -> Counter[tuple[Any, ...]]:
    local, crm = "127.0.0.1", "db:crm"
    customers, orders = "db:crm.public.customers", "db:crm.public.orders"
    want: list[tuple[Any, ...]] = [
        # the setup session (unix socket: no address), audit switched off for it
        ("login", "success", "postgres", None, "db:postgres", None),
        ("logout", "success", "postgres", None, "db:postgres", None),
        ("login", "success", "postgres", None, crm, None),
        ("logout", "success", "postgres", None, crm, None),
        # alice: multi-line, long, COPY TO, join
        ("login", "success", "alice", local, crm, None),
        ("read", "success", "alice", local, customers, 3),
        ("read", "success", "alice", local, customers, 50),
        ("export", "success", "alice", local, customers, None),
        ("read", "success", "alice", local, customers, 20),
        ("read", "success", "alice", local, orders, 20),
        ("logout", "success", "alice", local, crm, None),
        # bob: a read, then a column he may not read
        ("login", "success", "bob", local, crm, None),
        ("read", "success", "bob", local, customers, 5),
        ("read", "failure", "bob", local, "db:crm.customers", None),
        ("logout", "success", "bob", local, crm, None),
    ]
    for user in ("alice", "bob"):  # the concurrent sessions
        want += [("login", "success", user, local, crm, None), ("logout", "success", user, local, crm, None)]
        want += [("read", "success", user, local, customers, i) for i in range(1, CONCURRENT + 1)]
    return Counter(want)


def _interleaved(path: Path) -> bool:
    """Whether another process's line came between two pieces of one message."""
    last_pid, last_piece = None, None
    for line in path.read_text().splitlines():
        pid = line.split("postgres[", 1)[1].split("]", 1)[0]
        piece = line.split("]: [", 1)[1].split("]", 1)[0]
        if last_piece is not None and pid != last_pid and not piece.endswith("-1"):
            return True
        last_pid, last_piece = pid, piece
    return False


def test_pgaudit_through_syslog_is_put_back_together() -> None:
    with postgres_syslog() as lab:
        assert lab.psql(SETUP, db="postgres").returncode == 0
        done = _psql(lab, ALICE, "alice", "alice-pw")
        assert done.wait(timeout=60) == 0, done.stderr.read() if done.stderr else ""
        done = _psql(lab, BOB, "bob", "bob-pw")
        assert done.wait(timeout=60) == 0  # psql goes on after the permission error
        both = [_psql(lab, _concurrent("full_name,\n       email"), "alice", "alice-pw"),
                _psql(lab, _concurrent("id,\n\tfull_name"), "bob", "bob-pw")]  # fmt: skip
        assert [p.wait(timeout=120) for p in both] == [0, 0]
        for path in (lab.syslog, lab.traditional_syslog):
            wait_for(lambda p=path: Path(p).exists() and Path(p).read_text().count("disconnection: ") >= 6,
                     f"the last disconnection in {path.name}")  # fmt: skip
        options = ["--set", "destination=syslog", "--set", f"log_line_prefix={PG_SYSLOG_PREFIX}", "--tz", "UTC"]
        docs, stderr = parse_with_cli("pgaudit", lab.syslog, *options)
        traditional, traditional_stderr = parse_with_cli("pgaudit", lab.traditional_syslog, *options)
        text = lab.syslog.read_text()
        print("pieces of two processes interleaved:", _interleaved(lab.syslog))

    assert "#011" in text  # rsyslog's escape of the TAB after each newline
    assert "[2-2]" in text or "-3] " in text  # messages in pieces
    assert "not parsed" not in stderr, stderr
    assert "not parsed" not in traditional_stderr, traditional_stderr
    assert Counter(_view(d) for d in docs) == _expected()
    assert Counter(_view(d) for d in traditional) == _expected()
    # the same events from both layouts (the traditional one has whole seconds and no year: inferred)
    assert sorted(d["@timestamp"][:19] for d in traditional) == sorted(d["@timestamp"][:19] for d in docs)

    def statements(user: str, action: str = "read") -> list[str]:
        return [d["pii"]["statement"] for d in docs if d["user"]["name"] == user and d["event"]["action"] == action]

    # TAB-led continuation lines (rsyslog's #011) and pieces cut for length at a space, joined as written
    assert "SELECT c.full_name,\n\tc.email\n  FROM public.customers c\n WHERE c.id <= ?;" in statements("alice")
    assert len(LONG.encode()) > 2000
    assert LONG.split(" WHERE ")[0] + " WHERE " + " OR ".join(["email = '?'"] * 100) + ";" in statements("alice")
    assert statements("alice", "export") == ["COPY public.customers TO STDOUT WITH (FORMAT csv);"]
    assert f"SELECT id,\n\tfull_name\n  FROM public.customers\n{PADDING}\n WHERE id <= ?;" in statements("bob")
    [denied] = [d for d in docs if d["event"]["outcome"] == "failure"]
    assert denied["pii"]["statement"] == "SELECT ssn FROM public.customers;"
    assert denied["error"]["code"] == "42501"
