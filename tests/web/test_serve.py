"""The console as operators run it: `pii-guard web` in the foreground, and served by the daemon
(`web.serve_from_daemon`), both as real processes on loopback; SIGTERM stops each with exit 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.daemon.harness import write_config
from tests.daemon.test_daemon_process import free_port
from tests.web.scenario import Scenario

LISTENING = re.compile(rb'web console listening" address=([\d.]+:\d+)')


def _wait_listening(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> tuple[str, bytes]:
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        chunk = proc.stderr.read()
        if chunk:
            seen += chunk
            found = LISTENING.search(seen)
            if found:
                return found.group(1).decode(), seen
        time.sleep(0.05)
    raise AssertionError(f"the console did not start: {seen.decode(errors='replace')}")


def _get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_pii_guard_web_serves_on_loopback_and_stops_on_sigterm(scenario: Scenario) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pii_guard", "web", "--config", str(scenario.config_path),
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        address, _ = _wait_listening(proc)
        assert address == f"127.0.0.1:{port}"
        status, headers, body = _get(f"http://{address}/login")
        assert status == 200
        assert "Sign in" in body
        assert headers["content-security-policy"].startswith("default-src 'none'")
        assert _get(f"http://{address}/incidents")[0] == 200  # redirected to the login form
    finally:
        assert _stop(proc) == 0


def test_a_taken_port_is_a_clean_error(scenario: Scenario) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "pii_guard", "web", "--config", str(scenario.config_path),
                               "--port", str(port)], capture_output=True, timeout=60)
    assert done.returncode == 2
    assert f"pii-guard: error: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr.decode()


def test_the_daemon_serves_the_console_when_asked(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, extra=f"web: {{serve_from_daemon: true, port: {port}}}\n")
    proc = subprocess.Popen([sys.executable, "-m", "pii_guard", "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        address, _ = _wait_listening(proc)
        status, headers, body = _get(f"http://{address}/login")
        assert status == 200
        assert "Sign in" in body
        assert headers["x-frame-options"] == "DENY"
    finally:
        assert _stop(proc) == 0


def test_check_reads_the_console_accounts_and_secret(tmp_path: Path) -> None:
    """`pii-guard check` counts the console's accounts and reads its session secret (never printing it); a
    damaged accounts file or an unreadable secret is refused."""
    config = write_config(tmp_path)
    (tmp_path / "secret").write_text("s3cret-value-for-sessions\n")
    config.write_text(config.read_text() + "web:\n  session_secret_file: secret\n")

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pii_guard", *args], capture_output=True, text=True,
                              input=stdin, timeout=120, check=False)

    added = run("web", "add-user", "--config", str(config), "--role", "responder", "--password-stdin", "rita",
                stdin="a long enough password\n")
    assert added.returncode == 0, added.stderr
    ok = run("check", "--config", str(config))
    assert ok.returncode == 0, ok.stderr
    assert "web console: 1 local account(s)" in ok.stdout
    assert "session secret configured" in ok.stdout
    assert "s3cret" not in ok.stdout + ok.stderr
    (tmp_path / "state" / "web-accounts").write_text("{not the accounts file")
    damaged = run("check", "--config", str(config))
    assert damaged.returncode == 2
    assert "web-accounts" in damaged.stderr
    assert "Traceback" not in damaged.stderr
