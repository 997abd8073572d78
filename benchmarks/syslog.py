"""Syslog receiver throughput over TCP on loopback.

    python benchmarks/syslog.py                        # 200,000 messages, 3 runs
    python benchmarks/syslog.py --messages 500000 --runs 5 --json

The messages are the generated Samba full_audit and sftp logs (benchmarks/generate.py, seed 20261127) turned
into what rsyslog forwards: `<PRI>` + the RFC 3339 line (RSYSLOG_ForwardFormat), newline-framed, and the
same as octet-counted RFC 5424 (RSYSLOG_SyslogProtocol23Format). One client connection sends them all as
fast as the socket takes them; each run measures, from the first byte sent to the last message counted:
- baseline: a bare socket reader in this process (recv, count newlines): the limit of Python and loopback;
- receiver: pii-guard's SyslogReceiver (framing, parsing, routing, re-framing, spool writes), with the spool
  fsynced per write batch (the default) and without, newline-framed and octet-counted;
- receiver + live loop: the same with the live loop following the spool and committing parsed, enriched
  events to a SQLite store, i.e. messages stored per second (informative: the loop's own rate).
Each figure is the median of the runs, in messages per second, and as a ratio to the baseline of that run.
The issue's target: the receiver sustains >= 20,000 messages/s over TCP.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from benchmarks.harness import ensure_log, machine  # noqa: E402
from pii_guard.clock import SystemClock  # noqa: E402
from pii_guard.sources.files import FINGERPRINT_BYTES, fingerprint_of  # noqa: E402
from pii_guard.sources.spool import Checkpoints, ReceiverMetrics, Spool  # noqa: E402
from pii_guard.sources.syslog_receiver import SyslogReceiver  # noqa: E402

ROUTES = {"smbd_audit": "samba-full-audit", "sftp-server": "sftp", "internal-sftp": "sftp", "sshd": "sftp"}
_LINE = re.compile(rb"(\S+) (\S+) ([^\s:\[]+)(?:\[(\d+)\])?:( .*)\Z")


def messages(n: int) -> tuple[bytes, bytes]:
    """`n` messages, half Samba and half sftp, newline-framed (3164 forward format) and octet-counted 5424."""
    lines: list[bytes] = []
    for fmt in ("samba", "sftp"):
        path = ensure_log(fmt, max(n // 2, 1000))
        lines += path.read_bytes().splitlines()[: n // 2 + n % 2 * (fmt == "samba")]
    framed, counted = [], []
    for line in lines:
        m = _LINE.match(line)
        assert m is not None, line
        stamp, host, tag, pid, msg = m.groups()
        framed.append(b"<173>" + line + b"\n")
        body = b"<173>1 %s %s %s %s - -%s" % (stamp, host, tag, pid or b"-", msg)
        counted.append(b"%d %s" % (len(body), body))
    return b"".join(framed), b"".join(counted)


def send(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        view = memoryview(payload)
        for start in range(0, len(view), 1 << 20):
            conn.sendall(view[start : start + (1 << 20)])


def baseline(payload: bytes, n: int) -> float:
    """A bare reader: accept, recv, count newlines; messages per second."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    counted = 0
    done = threading.Event()

    def read() -> None:
        nonlocal counted
        conn, _ = server.accept()
        with conn:
            while counted < n:
                data = conn.recv(1 << 18)
                if not data:
                    break
                counted += data.count(b"\n")
        done.set()

    reader = threading.Thread(target=read)
    reader.start()
    started = time.perf_counter()
    send(port, payload)
    done.wait()
    elapsed = time.perf_counter() - started
    reader.join()
    server.close()
    return n / elapsed


class Count(ReceiverMetrics):
    def __init__(self) -> None:
        self.n = 0

    def received(self, receiver: str, protocol: str, n: int) -> None:
        self.n += n

    def dropped(self, receiver: str, protocol: str, reason: str, n: int) -> None:
        raise AssertionError(f"dropped {n} ({reason})")


def receiver_rate(payload: bytes, n: int, fsync: bool, store: bool) -> float:
    """Messages per second through the receiver into the spool (or, with `store`, until the live loop has
    read and committed every spooled line)."""
    with tempfile.TemporaryDirectory(prefix="piig-bench-syslog-") as tmp:
        root = Path(tmp)
        clock = SystemClock()
        routes = sorted(set(ROUTES.values()))
        state_db = root / "state" / "state.db"
        spool = Spool(root / "state" / "spool" / "bench", routes, state_db, clock, max_file_bytes=1 << 30,
                      max_backlog_bytes=1 << 40, fsync=fsync)
        count = Count()
        receiver = SyslogReceiver("bench", spool, ROUTES, clock, tcp=("127.0.0.1", 0), udp=None, metrics=count)
        receiver.start()
        assert receiver.tcp_address is not None
        step: Callable[[], object] = lambda: time.sleep(0.001)  # noqa: E731
        if store:
            step = _live_loop(root)
        committed = Checkpoints(state_db)

        def done() -> bool:
            if count.n < n:
                return False
            if not store:
                return True
            return all((found := committed.get(_fingerprint(path))) is not None and found[0] >= path.stat().st_size
                       for path in spool.files())

        started = time.perf_counter()
        sender = threading.Thread(target=send, args=(receiver.tcp_address[1], payload))
        sender.start()
        while not done():
            step()
        elapsed = time.perf_counter() - started
        sender.join()
        receiver.stop()
        committed.close()
        return n / elapsed


def _fingerprint(path: Path) -> str:
    with path.open("rb") as fh:
        return fingerprint_of(fh.read(FINGERPRINT_BYTES)).hex()


def _live_loop(root: Path) -> Callable[[], object]:
    """The live loop over the benchmark's spool files, as the daemon builds it; returns its step."""
    from pii_guard.config.load import load_config
    from pii_guard.detection.build import engine_for, policy_for
    from pii_guard.enrich.enricher import Enricher
    from pii_guard.live import LiveLoop
    from pii_guard.store.sqlite import SqliteEventStore
    from pii_guard.store.state import StateStore

    config = root / "pii-guard.yaml"
    config.write_text("state_dir: state\nreceivers:\n  syslog:\n    - name: bench\n      routes:\n"
                      "        - {tags: [smbd_audit], format: samba-full-audit}\n"
                      "        - {tags: [sftp-server, internal-sftp, sshd], format: sftp}\n")
    loaded = load_config(config)
    c = loaded.config
    enricher = Enricher.from_config(c)
    events = SqliteEventStore(c.store_path, c.store.synchronous, c.store.max_size_mb)
    state = StateStore(c.state_path / "state.db")
    loop = LiveLoop(loaded.sources, enricher, engine_for(policy_for(c, enricher)), events, state, SystemClock(),
                    resolve=lambda p: str(c.resolve(p)), batch_size=c.store.batch_size, batch_ms=c.store.batch_ms,
                    rescan_s=0.05)

    def step() -> None:
        if not loop.step():
            time.sleep(0.001)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-store", action="store_true", help="skip the receiver + live loop measurement")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    n = args.messages
    framed, counted = messages(n)
    cases: dict[str, Callable[[], float]] = {
        "baseline: bare socket reader (newline-framed)": lambda: baseline(framed, n),
        "receiver, newline-framed, fsync per batch": lambda: receiver_rate(framed, n, True, False),
        "receiver, octet-counted RFC 5424, fsync per batch": lambda: receiver_rate(counted, n, True, False),
        "receiver, newline-framed, no fsync": lambda: receiver_rate(framed, n, False, False),
    }
    if not args.no_store:
        cases["receiver + live loop (parse, enrich, store)"] = lambda: receiver_rate(framed, n, True, True)
    runs: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, run in cases.items():
            runs[name].append(run())
    base = statistics.median(runs["baseline: bare socket reader (newline-framed)"])
    result = {"machine": machine(), "messages": n, "bytes_newline_framed": len(framed), "runs": args.runs,
              "per_second": {name: {"median": statistics.median(v), "runs": v} for name, v in runs.items()}}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{n:,} messages ({len(framed) / n:.0f} bytes each, newline-framed), median of {args.runs} runs")
    for name, values in runs.items():
        median = statistics.median(values)
        print(f"  {name:<52} {median:>11,.0f} msg/s   {median / base:5.2f}x baseline   "
              f"(runs: {', '.join(f'{v:,.0f}' for v in values)})")


if __name__ == "__main__":
    main()
