"""A real rsyslogd forwarding Samba full_audit, sftp/sshd and MariaDB audit messages to `pii-guard run`.

The messages are the real ones of samples/syslog-all-rsyslog-rfc3339.log (captured from the real servers,
FORMATS.md §11), sent to a private rsyslogd the way glibc's syslog() sends them (a datagram on its unix
socket: there is no /dev/log here). rsyslogd writes every message to two files (Debian's default RFC 3339
format and the traditional one) and forwards it three ways, each to a pii-guard daemon of its own:
- TCP, octet-counted RFC 5424 (RSYSLOG_SyslogProtocol23Format), with a disk-less action queue that retries;
- TCP, newline-framed, rsyslog's high-precision RFC 3164 (RSYSLOG_ForwardFormat);
- UDP, traditional RFC 3164 (RSYSLOG_TraditionalForwardFormat).

Every daemon must store exactly the events that the parsers make of rsyslogd's own file (RFC 3339 file for
the TCP paths, event.original included, byte for byte; the traditional file for UDP). The TCP daemons are
stopped (SIGTERM) while rsyslogd is sending and started again after more messages came in: no message may
be lost or stored twice. UDP has no retry, so its comparison covers the part sent while its daemon ran.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from pii_guard.model import AccessEvent
from pii_guard.parsers.base import ParseFailure, Parser, SourceContext
from pii_guard.parsers.mariadb import MariaDbAuditParser
from pii_guard.parsers.samba import SambaFullAuditParser
from pii_guard.parsers.sftp import SftpParser
from tests.conftest import require_binaries
from tests.realservers.servers import RSYSLOGD, free_port, port_open, stop_session, wait_for

pytestmark = pytest.mark.realserver

SAMPLE = Path(__file__).parent / "samples" / "syslog-all-rsyslog-rfc3339.log"
_SAMPLE_LINE = re.compile(r"\S+ \S+ ([^\s:\[]+)(?:\[(\d+)\])?: (.*)\Z")
# glibc openlog() facilities of the real servers: smbd_audit LOCAL5.NOTICE, sftp AUTHPRIV.INFO, mariadb USER.INFO
_PRI = {"smbd_audit": 173, "sftp-server": 86, "internal-sftp": 86, "sshd": 38, "mysql-server_auditing": 14}
PARSERS: tuple[type[Parser], ...] = (SambaFullAuditParser, SftpParser, MariaDbAuditParser)


def sample_messages(round_no: int) -> list[bytes]:
    """The sample's messages as syslog() datagrams; pids moved per round so rounds do not share sessions."""
    out = []
    for line in SAMPLE.read_text().splitlines():
        m = _SAMPLE_LINE.match(line)
        assert m is not None, line
        tag, pid, message = m.groups()
        ident = f"{tag}[{int(pid) + 100_000 * round_no}]" if pid else tag
        out.append(f"<{_PRI.get(tag, 13)}>Nov 27 16:23:51 {ident}: {message}".encode())
    return out


@dataclass
class Lab:
    work: Path
    socket: Path
    ports: dict[str, int]

    @property
    def rfc3339_file(self) -> Path:
        return self.work / "rfc3339.log"

    @property
    def traditional_file(self) -> Path:
        return self.work / "traditional.log"

    def send(self, messages: list[bytes], pause_s: float = 0.0) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            for message in messages:
                sock.sendto(message, str(self.socket))
                if pause_s:
                    time.sleep(pause_s)

    def lines_written(self) -> int:
        path = self.rfc3339_file
        return len(path.read_bytes().splitlines()) if path.exists() else 0


_QUEUE = ('queue.type="LinkedList" queue.size="200000" action.resumeRetryCount="-1" '
          'action.resumeInterval="1"')


@contextmanager
def rsyslog_forwarding() -> Iterator[Lab]:
    found = require_binaries(RSYSLOGD)
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="piig-rsyslog-"))
        stack.callback(lambda: subprocess.run(["rm", "-rf", str(work)], check=False))
        (work / "q").mkdir()
        ports = {"octet": free_port(), "lf": free_port(), "udp": free_port()}
        sock = work / "log.sock"
        (work / "rsyslog.conf").write_text(
            f'global(workDirectory="{work}/q" maxMessageSize="64k")\n'
            'module(load="imuxsock" SysSock.Use="off")\n'
            f'input(type="imuxsock" Socket="{sock}" CreatePath="on" RateLimit.Interval="0")\n'
            f'*.* action(type="omfile" file="{work}/rfc3339.log" template="RSYSLOG_FileFormat")\n'
            f'*.* action(type="omfile" file="{work}/traditional.log" template="RSYSLOG_TraditionalFileFormat")\n'
            f'*.* action(type="omfwd" target="127.0.0.1" port="{ports["octet"]}" protocol="tcp" '
            f'TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format" {_QUEUE})\n'
            f'*.* action(type="omfwd" target="127.0.0.1" port="{ports["lf"]}" protocol="tcp" '
            f'template="RSYSLOG_ForwardFormat" {_QUEUE})\n'
            f'*.* action(type="omfwd" target="127.0.0.1" port="{ports["udp"]}" protocol="udp" '
            'template="RSYSLOG_TraditionalForwardFormat")\n'
        )
        proc = subprocess.Popen([found[RSYSLOGD], "-n", "-f", str(work / "rsyslog.conf"), "-i",
                                 str(work / "rsyslogd.pid")], start_new_session=True, env={**os.environ, "TZ": "UTC"})
        stack.callback(stop_session, proc)
        wait_for(sock.exists, "rsyslogd's socket")
        yield Lab(work, sock, ports)


class Daemon:
    """`pii-guard run` with one syslog receiver, in a directory of its own."""

    def __init__(self, root: Path, name: str, address: str, protocol: str) -> None:
        self.root = root / name
        self.root.mkdir()
        self.config = self.root / "pii-guard.yaml"
        tcp, udp = (address, "null") if protocol == "tcp" else ("null", address)
        self.config.write_text(
            "state_dir: state\n"
            'daemon: {listen: "", rescan_s: 0.2}\n'
            f"receivers:\n  syslog:\n    - {{name: {name}, tcp: {tcp}, udp: {udp}, unrouted: keep}}\n"
        )
        self.port = int(address.rpartition(":")[2])
        self.protocol = protocol
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "pii_guard", "run", "--config", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=(self.root / "stderr.log").open("ab"))
        if self.protocol == "tcp":
            wait_for(lambda: port_open(self.port), f"pii-guard listening on {self.port}", timeout=60)
        else:
            wait_for(lambda: "syslog receiver listening" in (self.root / "stderr.log").read_text(),
                     "pii-guard's UDP receiver", timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=60) == 0, (self.root / "stderr.log").read_text()[-3000:]

    def events(self, with_original: bool = True) -> Counter[tuple[object, ...]]:
        db = self.root / "state" / "events.db"
        if not db.exists():
            return Counter()
        conn = sqlite3.connect(db, timeout=10)
        try:
            rows = conn.execute(
                "SELECT ts, dataset, action, outcome, user_name, source_ip, source_port, host, object, rows, bytes,"
                " command, statement, error_code, original FROM events").fetchall()
        except sqlite3.OperationalError:
            return Counter()
        finally:
            conn.close()
        return Counter(tuple(r) if with_original else tuple(r[:-1]) for r in rows)


def file_events(path: Path, with_original: bool = True) -> Counter[tuple[object, ...]]:
    """What the parsers make of rsyslogd's own file: the events pii-guard would store reading it."""
    found: Counter[tuple[object, ...]] = Counter()
    lines = path.read_text().splitlines()
    for parser_class in PARSERS:
        parser = parser_class(SourceContext(b"f" * 16, str(path), None, None, time.time(), True))
        offset = 0
        out: list[AccessEvent | ParseFailure] = []
        for line in lines:
            out.extend(parser.feed(offset, line))
            offset += len(line.encode()) + 1
        out.extend(parser.flush())
        for e in out:
            assert isinstance(e, AccessEvent), e
            row = (e.time_us, e.dataset, e.action, e.outcome, e.user, e.source_ip, e.source_port, e.host, e.object,
                   e.rows, e.bytes, e.command, e.statement, e.error_code, e.original)
            found[row if with_original else row[:-1]] += 1
    return found


def settle(daemons: list[Daemon], expected: dict[str, Counter[tuple[object, ...]]], timeout: float = 90) -> None:
    """Wait until each daemon stored as many events as expected, then a moment for any extra to show."""
    for daemon in daemons:
        want = sum(expected[daemon.root.name].values())
        wait_for(lambda d=daemon, w=want: sum(d.events().values()) >= w,  # type: ignore[misc]
                 f"{daemon.root.name}: {want} events", timeout=timeout)
    time.sleep(1.0)


def test_rsyslog_forwards_over_tcp_and_udp_every_message_stored_once_across_restarts(tmp_path: Path) -> None:
    with rsyslog_forwarding() as lab:
        daemons = {name: Daemon(tmp_path, name, f"127.0.0.1:{port}", "udp" if name == "udp" else "tcp")
                   for name, port in lab.ports.items()}
        try:
            for daemon in daemons.values():
                daemon.start()
            # round 1: everything up, then UDP is compared with the traditional file
            first = sample_messages(1)
            lab.send(first)
            wait_for(lambda: lab.lines_written() >= len(first), "rsyslogd's file")
            expected_udp = file_events(lab.traditional_file, with_original=False)
            assert sum(expected_udp.values()) >= 40  # the sample is not empty of accesses
            settle([daemons["udp"]], {"udp": expected_udp})
            assert daemons["udp"].events(with_original=False) == expected_udp

            # round 2: the TCP daemons stop while rsyslogd sends, more arrives while they are down
            tcp = [daemons["octet"], daemons["lf"]]
            second = sample_messages(2) + sample_messages(3)
            sender = threading.Thread(target=lab.send, args=(second, 0.002))
            sender.start()
            time.sleep(len(second) * 0.002 / 3)
            for daemon in tcp:
                daemon.stop()
            sender.join()
            wait_for(lambda: lab.lines_written() >= len(first) + len(second), "rsyslogd's file")
            for daemon in tcp:
                daemon.start()
            lab.send(sample_messages(4))  # round 3: after the restart

            wait_for(lambda: lab.lines_written() >= len(first) + len(second) + len(sample_messages(4)),
                     "rsyslogd's file")
            expected = file_events(lab.rfc3339_file)
            settle(tcp, {"octet": expected, "lf": expected})
            for daemon in tcp:
                got = daemon.events()
                missing, extra = expected - got, got - expected
                assert not missing, (daemon.root.name, "missing", list(missing)[:3])
                assert not extra, (daemon.root.name, "extra", list(extra)[:3])
            # messages of programs without a route were kept aside, not parsed
            kept = (tmp_path / "octet" / "state" / "spool" / "octet" / "unrouted.log").read_text()
            assert "useradd" in kept
        finally:
            for daemon in daemons.values():
                daemon.stop()
