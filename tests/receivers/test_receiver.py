"""The syslog receiver in process, with the live loop behind it: TCP (octet-counted and newline-framed), UDP
and TLS in; TCP backpressure and counted UDP drops while the spool is full; a stop that drains what peers
sent; a restart that neither loses nor doubles."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import require_binaries
from tests.receivers.harness import Pipeline, write_config

RECEIVER = """\
  syslog:
    - {name: r, tcp: "127.0.0.1:0", udp: "127.0.0.1:0"%s}
"""


def samba_message(i: int, user: str = "alice") -> bytes:
    return (b"<173>Nov 27 16:23:22 fs1 smbd_audit: %s|10.0.0.%d|pc|hr|create_file|ok|0x120089|file|open|"
            b"/srv/hr/file-%d.csv" % (user.encode(), i % 250 + 1, i))


def octet(msg: bytes) -> bytes:
    return b"%d %s" % (len(msg), msg)


def tcp_address(pipe: Pipeline) -> tuple[str, int]:
    address = pipe.receivers[0].tcp_address  # type: ignore[attr-defined]
    assert address is not None
    return address  # type: ignore[no-any-return]


def udp_address(pipe: Pipeline) -> tuple[str, int]:
    address = pipe.receivers[0].udp_address  # type: ignore[attr-defined]
    assert address is not None
    return address  # type: ignore[no-any-return]


def test_tcp_octet_and_newline_framing_and_udp_are_stored_with_unrouted_counted(tmp_path: Path) -> None:
    pipe = Pipeline(write_config(tmp_path, RECEIVER % "")).start()
    try:
        with socket.create_connection(tcp_address(pipe)) as conn:
            conn.sendall(b"".join(octet(samba_message(i)) for i in range(50)))
            conn.sendall(b"".join(samba_message(i, "bob") + b"\n" for i in range(50)))
            conn.sendall(b"<13>Nov 27 16:23:22 fs1 useradd[1]: new user\n")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for i in range(20):
                udp.sendto(samba_message(i, "carol"), udp_address(pipe))
        pipe.pump(lambda: len(pipe.stored()) == 120)
        users = sorted({user for _, _, user, _ in pipe.stored()})
        assert users == ["alice", "bob", "carol"]
        assert {action for _, action, _, _ in pipe.stored()} == {"read"}
        assert pipe.metrics.counts[("received", "r", "tcp")] == 100
        assert pipe.metrics.counts[("received", "r", "udp")] == 20
        assert pipe.metrics.counts[("dropped", "r", "tcp", "unrouted")] == 1
    finally:
        pipe.stop()


def test_tls_listener(tmp_path: Path) -> None:
    found = require_binaries("openssl")
    subprocess.run([found["openssl"], "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp_path / "key.pem"),
                    "-out", str(tmp_path / "cert.pem")], check=True, capture_output=True)
    pipe = Pipeline(write_config(tmp_path, RECEIVER % ", tls: {cert: cert.pem, key: key.pem}")).start()
    try:
        context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        with socket.create_connection(tcp_address(pipe)) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as conn:
            conn.sendall(b"".join(octet(samba_message(i)) for i in range(30)))
        with socket.create_connection(tcp_address(pipe)) as raw:  # plain text on a TLS port: refused
            raw.sendall(octet(samba_message(99, "mallory")))
        pipe.pump(lambda: len(pipe.stored()) == 30)
        time.sleep(0.3)
        pipe.loop.step()
        assert len(pipe.stored()) == 30
        assert pipe.metrics.counts[("received", "r", "tls")] == 30
    finally:
        pipe.stop()


def test_full_spool_stops_reading_tcp_and_drops_udp_until_the_loop_catches_up(tmp_path: Path) -> None:
    pipe = Pipeline(write_config(tmp_path, RECEIVER % ", spool: {max_backlog_mb: 0.25, fsync: false}")).start()
    total = 12_000  # ~1.6 MB: more than the spool's cap, within what the kernel holds
    done = threading.Event()

    def send() -> None:
        with socket.create_connection(tcp_address(pipe)) as conn:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65_536)
            conn.sendall(b"".join(octet(samba_message(i)) for i in range(total)))
        done.set()

    sender = threading.Thread(target=send)
    sender.start()
    try:
        spool_file = tmp_path / "state" / "spool" / "r" / "samba-full-audit.log"
        time.sleep(1.5)  # the live loop is not stepped: nothing is committed, the backlog only grows
        size = spool_file.stat().st_size
        assert 250_000 <= size < 250_000 + 400_000  # stopped at the cap (plus at most one read's worth)
        time.sleep(0.5)
        assert spool_file.stat().st_size == size  # still not reading
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for i in range(10):
                udp.sendto(samba_message(i, "udp"), udp_address(pipe))
        time.sleep(0.5)
        assert pipe.metrics.counts[("dropped", "r", "udp", "full")] == 10
        pipe.pump(lambda: done.is_set() and len(pipe.stored()) == total, timeout=60)
        assert pipe.metrics.counts[("received", "r", "tcp")] == total
    finally:
        sender.join(timeout=60)
        pipe.stop()
    assert len({original for _, _, _, original in pipe.stored()}) == total


def test_stop_drains_what_peers_sent_and_a_restart_stores_it_once(tmp_path: Path) -> None:
    config = write_config(tmp_path, RECEIVER % "")
    pipe = Pipeline(config).start()
    conn = socket.create_connection(tcp_address(pipe))
    try:
        conn.sendall(b"".join(samba_message(i) + b"\n" for i in range(200)))
        pipe.pump(lambda: len(pipe.stored()) >= 50)  # some stored, the rest on its way
        conn.sendall(b"".join(samba_message(i) + b"\n" for i in range(200, 400)))
    finally:
        pipe.stop()  # no more stepping of the loop: the rest stays in the spool
        assert conn.recv(1) == b""  # the receiver half-closed the connection before it stopped reading
        conn.close()
    pipe = Pipeline(config).start()
    try:
        pipe.pump(lambda: len(pipe.stored()) >= 400)
        time.sleep(0.3)
        pipe.loop.step()
        originals = [original for _, _, _, original in pipe.stored()]
        assert len(originals) == len(set(originals)) == 400
    finally:
        pipe.stop()


def test_connections_beyond_the_limit_are_refused_and_counted(tmp_path: Path) -> None:
    pipe = Pipeline(write_config(tmp_path, RECEIVER % ", max_connections: 1")).start()
    try:
        first = socket.create_connection(tcp_address(pipe))
        time.sleep(0.3)
        second = socket.create_connection(tcp_address(pipe))
        second.settimeout(5)
        assert second.recv(1) == b""  # closed by the receiver
        second.close()
        first.sendall(samba_message(1) + b"\n")
        first.close()
        pipe.pump(lambda: len(pipe.stored()) == 1)
        assert pipe.metrics.counts[("dropped", "r", "tcp", "connections")] == 1
    finally:
        pipe.stop()


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    from pii_guard.errors import SourceError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        pipe = Pipeline(write_config(tmp_path, f'  syslog:\n    - {{tcp: "127.0.0.1:{port}", udp: null}}\n'))
        with pytest.raises(SourceError, match=f"cannot listen on TCP 127.0.0.1:{port}: Address already in use"):
            pipe.start()
        pipe.loop.shutdown()
        pipe.events.close()
        pipe.state.close()
