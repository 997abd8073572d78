"""Latency and end-to-end throughput of the running daemon (`pii-guard run`), with the shipped policy.

    python benchmarks/latency.py                 # latency at 1,000 / 5,000 / 20,000 lines/s, throughput, idle CPU
    python benchmarks/latency.py --soak 600      # plus a 10-minute soak: RSS at start and end

Latency is the time from a line's write() to its match being committed in the state database (seen by a
reader polling every millisecond). One line in 50 reads a honeytoken; the others are normal work. Throughput
is how fast the daemon stores a 1,000,000-line file appended at once, against `wc -l` over the same file (the
machine's limit) in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "%t [%p]: user=%u,db=%d,app=%a,client=%h "
TICKS = os.sysconf("SC_CLK_TCK")


def config(tmp: Path, lateness_note: str = "") -> Path:
    path = tmp / "pii-guard.yaml"
    path.write_text(f"""\
state_dir: state
sources:
  - path: "logs/pg.log"
    format: pgaudit
    options: {{log_line_prefix: "{PREFIX}"}}
daemon: {{listen: "", rescan_s: 1.0}}
policy:
  zones: {ROOT}/rules/zones.yaml
  data_map: {ROOT}/rules/data-map.yaml
  directory: {ROOT}/rules/directory.yaml
  access: {ROOT}/rules/access-policy.yaml
""")
    (tmp / "logs").mkdir()
    (tmp / "logs" / "pg.log").write_text(line(0, "alice", "customers"))
    return path


def line(i: int, user: str, table: str) -> str:
    """A pgAudit line. Honeytoken reads carry a client IP that encodes `i`, so their match can be traced back
    to the line; other lines come from a pool of 500 client IPs, as a real site's would."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    n = i if table == "customers_archive_2019" else i % 500
    ip = f"10.{20 + n // 65536}.{n // 256 % 256}.{n % 256}"  # `i` whole up to 15,400,000 (see `_line_of`)
    # a backend (pid) runs 50 statements, with pgAudit's growing statement ids, like a pooled connection
    pid, statement = 100_000 + i // 50, i % 50 + 1
    return (f"{stamp} UTC [{pid}]: user={user},db=crm,app=psql,client={ip} LOG:  AUDIT: SESSION,{statement},1,"
            f"READ,SELECT,TABLE,public.{table},SELECT email FROM public.{table} WHERE id = {i};,<none>,1\n")


def start(cfg: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "pii_guard", "run", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    for raw in proc.stderr:
        if b"msg=started" in raw:
            break
    threading.Thread(target=lambda: [None for _ in proc.stderr or []], daemon=True).start()  # drain
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=60)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int, field: str = "VmRSS:") -> float:
    """Resident memory of `pid` in MiB (VmHWM: its peak so far)."""
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith(field):
            return int(row.split()[1]) / 1024
    return 0.0


def _poll_matches(db: Path, seen: dict[int, float], stop: threading.Event) -> None:
    """Record when each honeytoken match first becomes visible to a reader."""
    import orjson

    while not db.exists() and not stop.is_set():
        time.sleep(0.001)
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    last = 0
    while not stop.is_set():
        try:
            rows = conn.execute("SELECT rowid, doc FROM matches WHERE rowid > ? AND rule_id = ?",
                                (last, "honeytoken-decoy-table")).fetchall()
        except sqlite3.OperationalError:
            rows = []
        now = time.perf_counter()
        for rowid, doc in rows:
            last = max(last, rowid)
            seen.setdefault(_line_of(orjson.loads(doc)["source.ip"]), now)
        time.sleep(0.001)
    conn.close()


def _line_of(ip: str) -> int:
    """The line number a honeytoken read's client IP encodes (`line`)."""
    _, b, c, d = (int(part) for part in ip.split("."))
    return (b - 20) * 65536 + c * 256 + d


def latency_run(rate: int, seconds: float, per_write: int = 0) -> dict[str, float]:
    """Append at `rate` lines/s for `seconds`; one line in 50 is a honeytoken read. Lines go out in one write
    every 2 ms (`per_write` 0), or `per_write` lines to a write: 1 is how PostgreSQL and nginx write, and
    each write is a wake-up (an inotify event) for the daemon."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        proc = start(config(tmp))
        written: dict[int, float] = {}
        seen: dict[int, float] = {}
        stop_polling = threading.Event()
        poller = threading.Thread(target=_poll_matches, args=(tmp / "state" / "state.db", seen, stop_polling),
                                  daemon=True)
        poller.start()
        fh = (tmp / "logs" / "pg.log").open("a", buffering=1 << 20)
        per_tick = per_write or max(1, rate // 500)  # by default a write every 2 ms
        i = 1
        t0 = time.perf_counter()
        cpu0 = cpu_seconds(proc.pid)
        flushed: list[int] = []  # honeytoken lines of this write, timed once it is out
        while time.perf_counter() - t0 < seconds:
            for _ in range(per_tick):
                honey = i % 50 == 0
                fh.write(line(i, "alice", "customers_archive_2019" if honey else "customers"))
                if honey:
                    flushed.append(i)
                i += 1
            fh.flush()
            now = time.perf_counter()
            for key in flushed:
                written[key] = now
            flushed.clear()
            delay = t0 + (i - 1) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        elapsed = time.perf_counter() - t0
        fh.close()
        deadline = time.perf_counter() + 30
        while len(seen) < len(written) and time.perf_counter() < deadline:
            time.sleep(0.01)
        cpu = cpu_seconds(proc.pid) - cpu0
        stop_polling.set()
        poller.join(timeout=5)
        stop(proc)
        lat = sorted((seen[k] - written[k]) * 1000 for k in written if k in seen)
        return {
            "rate": rate, "achieved_rate": round((i - 1) / elapsed), "matches": len(lat),
            "missing": len(written) - len(lat),
            "p50_ms": round(statistics.median(lat), 2) if lat else float("nan"),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2) if lat else float("nan"),
            "cpu_percent": round(100 * cpu / elapsed, 1), "lines_per_write": per_tick,
        }


def throughput_run(lines: int, mix: str = "flood") -> dict[str, float]:
    """A file of `lines` appended at once: lines/s until all are stored, against `wc -l` on the same file.
    `flood`: two lines in three are reads by a role the policy forbids (a match each: the leak under way);
    `normal`: allowed work, one line in 50 a honeytoken read (as in the latency runs)."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        cfg = config(tmp)
        big = tmp / "big.log"
        with big.open("w") as fh:
            for i in range(1, lines + 1):
                if mix == "normal":
                    fh.write(line(i, "alice", "customers_archive_2019" if i % 50 == 0 else "customers"))
                else:
                    fh.write(line(i, "bob" if i % 3 else "alice", "customers" if i % 7 else "orders"))
        t = time.perf_counter()
        subprocess.run(["wc", "-l", str(big)], check=True, capture_output=True)
        wc_rate = lines / (time.perf_counter() - t)
        re_rate = lines / regex_seconds(big)
        proc = start(cfg)
        cpu0 = cpu_seconds(proc.pid)
        db = tmp / "state" / "events.db"
        t0 = time.perf_counter()
        with (tmp / "logs" / "pg.log").open("ab") as out, big.open("rb") as src:
            out.write(src.read())
        stored = 0
        while stored < lines + 1:
            time.sleep(0.2)
            try:
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
                conn.close()
            except sqlite3.OperationalError:
                pass
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        after = rss_mb(proc.pid)
        peak = rss_mb(proc.pid, "VmHWM:")
        stop(proc)
        return {"lines": lines, "lines_per_s": round(lines / elapsed), "lines_per_cpu_s": round(lines / cpu),
                "wc_lines_per_s": round(wc_rate), "ratio_to_wc": round(lines / elapsed / wc_rate, 5),
                "re_lines_per_s": round(re_rate), "ratio_to_re": round(lines / elapsed / re_rate, 5),
                "rss_mb_after": round(after, 1), "peak_rss_mb": round(peak, 1)}


def regex_seconds(path: Path) -> float:
    """The Python limit over `path`: binary readline, decode, one precompiled (\\S+) (\\S+) (\\S+) match."""
    pattern = re.compile(r"(\S+) (\S+) (\S+)")
    started = time.perf_counter()
    with path.open("rb") as fh:
        for raw in fh:
            pattern.match(raw.decode("utf-8", "backslashreplace"))
    return time.perf_counter() - started


def idle_run(seconds: float, soak: float = 0.0) -> dict[str, Any]:
    """CPU of the idle daemon; with --soak, RSS at start and end while it follows a log written at 1,000/s."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        proc = start(config(tmp))
        time.sleep(1.0)
        cpu0 = cpu_seconds(proc.pid)
        time.sleep(seconds)
        idle = 100 * (cpu_seconds(proc.pid) - cpu0) / seconds
        result: dict[str, Any] = {"idle_cpu_percent": round(idle, 2), "idle_rss_mb": round(rss_mb(proc.pid), 1)}
        if soak:
            result["rss_mb_start"] = round(rss_mb(proc.pid), 1)
            by_minute: list[float] = []
            with (tmp / "logs" / "pg.log").open("a") as fh:
                t0 = time.perf_counter()
                i = 1
                while time.perf_counter() - t0 < soak:
                    if time.perf_counter() - t0 >= 60 * (len(by_minute) + 1):
                        by_minute.append(round(rss_mb(proc.pid), 1))
                    for _ in range(10):
                        fh.write(line(i, "bob", "customers"))
                        i += 1
                    fh.flush()
                    time.sleep(max(0.0, t0 + i / 1000 - time.perf_counter()))
            time.sleep(2)
            result["rss_mb_end"] = round(rss_mb(proc.pid), 1)
            result["rss_mb_each_minute"] = by_minute
            result["soak_seconds"] = soak
        stop(proc)
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each latency run")
    parser.add_argument("--runs", type=int, default=3, help="runs per rate (median reported)")
    parser.add_argument("--rates", default="1000,5000,20000")
    parser.add_argument("--lines-per-write", type=int, default=0,
                        help="lines to each write of the latency runs (default: a write every 2 ms; 1: a write a "
                             "line, as PostgreSQL and nginx write)")  # fmt: skip
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines for the throughput run")
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of soak (600 for the 10-minute soak)")
    parser.add_argument("--soak-only", action="store_true", help="only the idle figures and the soak")
    args = parser.parse_args()
    if args.soak_only:
        print(f"idle: {idle_run(10.0, args.soak)}")
        return
    for rate in (int(r) for r in args.rates.split(",")):
        runs = [latency_run(rate, args.seconds, args.lines_per_write) for _ in range(args.runs)]
        p50 = statistics.median(r["p50_ms"] for r in runs)
        p99 = statistics.median(r["p99_ms"] for r in runs)
        print(f"rate {rate:>6,}/s: p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
              f"(p99 min {min(r['p99_ms'] for r in runs):.2f}, max {max(r['p99_ms'] for r in runs):.2f}; "
              f"achieved {statistics.median(r['achieved_rate'] for r in runs):,.0f}/s, "
              f"cpu {statistics.median(r['cpu_percent'] for r in runs)}%, "
              f"missing {sum(r['missing'] for r in runs)})", flush=True)
    tp = [throughput_run(args.lines) for _ in range(args.runs)]
    rates = sorted(r["lines_per_s"] for r in tp)
    print(f"throughput: {statistics.median(rates):,.0f} lines/s (min {rates[0]:,.0f}, max {rates[-1]:,.0f}); "
          f"wc -l {statistics.median(r['wc_lines_per_s'] for r in tp):,.0f} lines/s; "
          f"RSS after {statistics.median(r['rss_mb_after'] for r in tp)} MB", flush=True)
    print(f"idle: {idle_run(10.0, args.soak)}")


if __name__ == "__main__":
    main()
