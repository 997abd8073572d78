"""`pii-guard run` as a real process: 20+ kill -9 at random points while a writer appends and rotates,
SIGTERM exits 0 after committing, SIGHUP reloads (and refuses a bad config), sd_notify, /metrics, /healthz."""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.daemon.harness import LogWriter, write_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(config: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "pii_guard", "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def count(tmp: Path) -> int:
    db = tmp / "state" / "events.db"
    if not db.exists():
        return 0
    conn = sqlite3.connect(db, timeout=10)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def wait_for(predicate: object, timeout: float = 60.0, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(every)
    return False


def test_twenty_kill_9s_while_writing_and_rotating_lose_and_double_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, batch_size=200)
    writer = LogWriter(tmp_path)
    rnd = random.Random(20261127)
    proc = start(config)
    kills = 0
    try:
        while kills < 22:
            writer.write(rnd.randint(50, 400))
            if rnd.random() < 0.25:
                writer.rotate_rename()
            time.sleep(rnd.uniform(0.05, 0.6))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills += 1
            proc = start(config)
        writer.write(100)
        assert wait_for(lambda: count(tmp_path) >= writer.written, timeout=120), (count(tmp_path), writer.written)
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    conn = sqlite3.connect(tmp_path / "state" / "events.db")
    total, distinct = conn.execute(
        """SELECT count(*), count(DISTINCT json_extract(fields, '$."process.pid"')) FROM events""").fetchone()
    assert kills >= 20
    assert total == distinct == writer.written


def test_sigterm_commits_and_exits_0_sighup_reloads_or_keeps_the_old_config(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace('daemon: {listen: ""', f'daemon: {{listen: "127.0.0.1:{port}"'))
    notify_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.settimeout(30)
    writer = LogWriter(tmp_path)
    writer.write(10)
    proc = start(config, {"NOTIFY_SOCKET": str(notify_path)})
    try:
        assert sock.recv(4096).startswith(b"READY=1")
        assert wait_for(lambda: count(tmp_path) == 10)
        health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status == 200
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        assert 'pii_guard_events_stored_total{source="logs/pg.log*"} 10.0' in metrics
        assert "pii_guard_file_lag_bytes" in metrics
        # a bad reload is refused and the old config keeps running
        good = config.read_text()
        config.write_text(good.replace("batch_size", "bacth_size"))
        proc.send_signal(signal.SIGHUP)
        writer.write(5)
        assert wait_for(lambda: count(tmp_path) == 15)
        # a good reload is taken
        config.write_text(good)
        proc.send_signal(signal.SIGHUP)
        assert sock.recv(4096).startswith(b"RELOADING=0")
        writer.write(5)
        assert wait_for(lambda: count(tmp_path) == 20)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert code == 0, stderr
    assert "reload refused, still running the previous config" in stderr
    assert "unknown key 'store.bacth_size'" in stderr
    assert "msg=reloaded" in stderr
    assert "msg=stopped" in stderr
    sock.close()


def test_status_shows_position_and_lag(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    writer = LogWriter(tmp_path)
    writer.write(30)
    proc = start(config)
    try:
        assert wait_for(lambda: count(tmp_path) == 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    writer.write(3)
    out = subprocess.run([sys.executable, "-m", "pii_guard", "status", "--config", str(config), "--json"],
                         capture_output=True, text=True, check=True).stdout
    import orjson

    rows = [orjson.loads(line) for line in out.splitlines()]
    assert len(rows) == 1
    assert rows[0]["path"].endswith("logs/pg.log")
    assert rows[0]["lag_bytes"] == writer.path.stat().st_size - rows[0]["offset"] > 0
    assert rows[0]["current"] is True


def test_a_second_daemon_on_the_same_state_or_a_busy_port_is_refused_cleanly(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    LogWriter(tmp_path).write(5)
    first = start(config)
    try:
        assert wait_for(lambda: count(tmp_path) == 5)
        second = subprocess.run([sys.executable, "-m", "pii_guard", "run", "--config", str(config)],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        assert "is in use by another pii-guard run (pid " + str(first.pid) + ")" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        config.write_text(config.read_text().replace('daemon: {listen: ""', f'daemon: {{listen: "127.0.0.1:{port}"'))
        done = subprocess.run([sys.executable, "-m", "pii_guard", "run", "--config", str(config)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"daemon.listen: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_write_wakes_the_idle_daemon_rather_than_its_one_second_timer(tmp_path: Path) -> None:
    """Idle, the daemon sleeps up to 1 s between looks at its files; a write must end that sleep (the watch on
    the logs' directory). Seven times: let it go idle, write a line, time until it is stored. On the timer alone
    the median would be about half a second; woken by the write, it is a commit's time."""
    config = write_config(tmp_path, batch_size=1)
    config.write_text(config.read_text().replace("rescan_s: 0.2", "rescan_s: 60"))
    writer = LogWriter(tmp_path)
    writer.write(1)
    proc = start(config)
    took: list[float] = []
    try:
        assert wait_for(lambda: count(tmp_path) == 1)
        for n in range(2, 9):
            time.sleep(1.5)  # idle: nothing held back, nothing in flight
            started = time.monotonic()
            writer.write(1)
            assert wait_for(lambda: count(tmp_path) == n, timeout=10.0, every=0.005)  # noqa: B023  # called at once
            took.append(time.monotonic() - started)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert sorted(took)[3] < 0.25, f"write to stored: {[round(t, 3) for t in took]} s: not woken by the writes"
