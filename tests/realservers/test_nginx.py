"""A private nginx (FORMATS.md §6) with basic auth on /exports/, driven by urllib; its combined access log
is parsed with NginxParser and every event checked: user (and the untrusted name of a 401), client IP, bytes,
status, and the masking of an email in a query string and in a referrer."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pii_guard.model import AccessEvent
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.weblog import NginxParser
from pii_guard.parsers.weblog_options import NginxOptions
from pii_guard.sources.files import file_fingerprint, iter_lines
from tests.conftest import require_binaries

pytestmark = pytest.mark.realserver

NGINX = "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else "nginx"
PASSWORD = "alice-web-pw"
CUSTOMERS = b"id,name,email\n1,Customer 1,c1@example.com\n2,Customer 2,c2@example.com\n"
EMAIL = "jane.doe@example.com"
# the `main` format of nginx's own nginx.conf (nginx.org and RHEL packages): combined plus X-Forwarded-For
MAIN_FORMAT = """'$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"'"""


@dataclass
class Server:
    work: Path
    port: int

    def get(self, path: str, password: str | None = None, method: str = "GET", user: str = "alice",
            **headers: str) -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, headers=headers)
        if password is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
                status: int = response.status
                return status
        except urllib.error.HTTPError as exc:
            exc.read()
            return exc.code


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _write_site(work: Path, port: int) -> None:
    """Config, document root and an htpasswd with a {SHA} hash (nginx reads it; no htpasswd tool needed)."""
    exports = work / "html" / "exports"
    exports.mkdir(parents=True)
    (exports / "customers.csv").write_bytes(CUSTOMERS)
    digest = base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest()).decode()
    (work / "htpasswd").write_text(f"alice:{{SHA}}{digest}\nbob smith:{{SHA}}{digest}\n")  # Basic auth allows spaces
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "".join(f" {kind}_temp_path {work}/tmp/{kind};" for kind in kinds)
    (work / "nginx.conf").write_text(
        f"worker_processes 1;\npid {work}/nginx.pid;\nerror_log {work}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n {temp}\n  access_log {work}/access.log combined;\n"
        f"  log_format main {MAIN_FORMAT};\n  access_log {work}/main.log main;\n"
        f"  server {{\n    listen 127.0.0.1:{port};\n    root {work}/html;\n"
        f'    location /exports/ {{ auth_basic "exports"; auth_basic_user_file {work}/htpasswd; autoindex on; }}\n'
        "  }\n}\n"
    )
    (work / "tmp").mkdir()
    for path in (work, work / "html", exports, exports / "customers.csv", work / "htpasswd"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)  # workers run as nobody


@pytest.fixture
def server() -> Iterator[Server]:
    found = require_binaries(NGINX)
    work = Path(tempfile.mkdtemp(prefix="pii-guard-nginx-"))
    port = _free_port()
    proc = None
    try:
        _write_site(work, port)
        args = [found[NGINX], "-p", str(work), "-e", str(work / "error.log"), "-c", str(work / "nginx.conf")]
        proc = subprocess.Popen([*args, "-g", "daemon off;"], start_new_session=True)
        deadline = time.monotonic() + 10
        while not _port_open(port):
            assert proc.poll() is None, (work / "error.log").read_text()
            assert time.monotonic() < deadline, "nginx did not start listening"
            time.sleep(0.05)
        yield Server(work, port)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGQUIT)  # graceful: workers finish and the log is complete
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)


def _parse(path: Path, trust_forwarded_for: bool = False) -> list[AccessEvent]:
    with path.open("rb") as fh:
        parser = NginxParser(SourceContext(file_fingerprint(fh), str(path), host="web1"),
                             NginxOptions(trust_forwarded_for=trust_forwarded_for))
        out = [o for line in iter_lines(fh) for o in parser.feed(line.offset, line.text)]
    assert [o for o in out if isinstance(o, ParseFailure)] == []
    return [o for o in out if isinstance(o, AccessEvent)]


def test_nginx_access_log_of_a_real_server(server: Server) -> None:
    started = time.time()
    referer = f"https://intranet.example/reports?owner={EMAIL}"
    assert server.get("/exports/customers.csv", PASSWORD, Referer=referer, **{"User-Agent": "pii-guard-test"}) == 200
    assert server.get("/exports/customers.csv", "wrong-password") == 401
    assert server.get("/exports/missing.csv", PASSWORD) == 404
    assert server.get(f"/exports/customers.csv?email={EMAIL}&page=2", PASSWORD,
                      **{"X-Forwarded-For": "203.0.113.9, 10.0.0.1"}) == 200  # fmt: skip
    assert server.get("/exports/customers.csv", PASSWORD, method="PUT") == 405
    assert server.get("/exports/customers.csv", PASSWORD, user="bob smith") == 200  # logged with its space
    log = server.work / "access.log"
    deadline = time.monotonic() + 10
    while log.read_text().count("\n") < 6 or (server.work / "main.log").read_text().count("\n") < 6:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)

    got = _parse(log)
    assert all(abs(e.time_us / 1e6 - started) < 120 for e in got)
    seen = [(e.action, e.outcome, e.user, e.source_ip, e.object, e.fields["http.response.status_code"]) for e in got]
    assert seen == [
        ("read", "success", "alice", "127.0.0.1", "url:/exports/customers.csv", 200),
        ("read", "failure", None, "127.0.0.1", "url:/exports/customers.csv", 401),
        ("read", "failure", "alice", "127.0.0.1", "url:/exports/missing.csv", 404),
        ("read", "success", "alice", "127.0.0.1", "url:/exports/customers.csv", 200),
        ("write", "failure", "alice", "127.0.0.1", "url:/exports/customers.csv", 405),
        ("read", "success", "bob smith", "127.0.0.1", "url:/exports/customers.csv", 200),
    ]  # fmt: skip
    download, refused, _, queried, _, _ = got
    assert download.bytes == len(CUSTOMERS)  # $body_bytes_sent: the file, no headers
    assert download.fields["http.request.referrer"] == "https://intranet.example/reports?owner=<masked>"
    assert download.fields["user_agent.original"] == "pii-guard-test"
    assert refused.fields["pii.claimed_user"] == "alice"
    assert queried.fields["url.original"] == "/exports/customers.csv?email=<masked>&page=<masked>"
    assert queried.bytes == len(CUSTOMERS)
    assert all(EMAIL not in e.original and EMAIL.replace("@", "%40") not in e.original for e in got)
    assert all(e.host == "web1" and e.dataset == "nginx.access" for e in got)

    # the `main` format, read without a log_format: the same events, and the X-Forwarded-For header
    main = _parse(server.work / "main.log")
    assert [(e.action, e.outcome, e.user, e.source_ip, e.object) for e in main] == [s[:5] for s in seen]
    assert [e.fields.get("pii.forwarded_for") for e in main] == [None, None, None, "203.0.113.9, 10.0.0.1", None, None]
    trusted = _parse(server.work / "main.log", trust_forwarded_for=True)[3]
    assert (trusted.source_ip, trusted.fields["pii.peer_ip"]) == ("203.0.113.9", "127.0.0.1")
