"""The peers pii-guard is compared with, each run as a subprocess on the same nginx file with the equivalent
configuration in benchmarks/peers/ (what "equivalent" means for each: benchmarks/peers/README.md).

    python benchmarks/peers.py FILE            # every installed peer once: lines/s, CPU, what each matched

A peer that is not installed is reported as such (`missing()`), never measured or guessed.
"""

from __future__ import annotations

import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

PEERS_DIR: Final = Path(__file__).resolve().parent / "peers"

# The rule every peer implements (benchmarks/peers/README.md): the data map's personal-data URLs, and the
# networks of the zones allowed to reach personal data (datacenter, office, vpn) in the generated policy.
PERSONAL_PATH: Final = re.compile(
    r"^(?:/exports/[^ ?\"]*|/api/v1/customers/[^/ ?\"]+(?:/documents/[^/ ?\"]+)?|/api/v1/orders/[^/ ?\"]+"
    r"|/api/v1/employees/[^/ ?\"]+|/api/v1/payroll/[^ ?\"]+|/admin/users/[^/ ?\"]+"
    r"|/admin/backup/customers-full\.sql\.gz)$"
)
ALLOWED_NETS: Final = re.compile(r"^(?:10\.(?:10|20|30)\.|127\.|192\.168\.1\.)")
HONEYTOKEN_PATH: Final = "/admin/backup/customers-full.sql.gz"
RULE: Final = "personal-not-from-internet"


@dataclass
class PeerRun:
    """One run of a peer over a file."""

    seconds: float  # wall, start-up included
    cpu_seconds: float  # user + system of the peer's processes
    matches: dict[str, int] = field(default_factory=dict)  # what it found, by rule


@dataclass(frozen=True)
class Peer:
    name: str
    binaries: tuple[str, ...]
    package: str  # the Debian package that brings it
    work: str  # what it does on the file, for the table
    run: Callable[[Path, Path], PeerRun]

    def missing(self) -> str | None:
        """Why the peer cannot run here, or None."""
        absent = [b for b in self.binaries if shutil.which(b) is None]
        return f"{', '.join(absent)} not found (Debian package {self.package})" if absent else None


def timed(argv: Sequence[str], cwd: Path, stdout: Path | None = None) -> tuple[float, float, str]:
    """Run `argv` to completion: (wall seconds, CPU seconds of it and its children, stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(stdout or "/dev/null", "wb") as out:
        done = subprocess.run(list(argv), cwd=cwd, stdout=out, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {done.returncode}: {stderr.strip()[-1500:]}")
    return wall, cpu, stderr


def run_fail2ban(log: Path, work: Path) -> PeerRun:
    conf = PEERS_DIR / "fail2ban" / "pii-guard-nginx.conf"
    out = work / "fail2ban.out"
    wall, cpu, _ = timed(["fail2ban-regex", str(log), str(conf)], work, out)
    found = re.search(r"^Lines: \d+ lines, \d+ ignored, (\d+) matched", out.read_text(), re.M)
    return PeerRun(wall, cpu, {RULE: int(found.group(1)) if found else -1})


def run_sec(log: Path, work: Path) -> PeerRun:
    conf = PEERS_DIR / "sec" / "pii-guard-nginx.sec"
    out = work / "sec.out"
    argv = ["sec", f"--conf={conf}", f"--input={log}", "--notail", "--nointevents", "--log=/dev/null"]
    wall, cpu, _ = timed(argv, work, out)
    counts: dict[str, int] = {}
    for line in out.read_text().splitlines():
        tag = line.split(" ", 1)[0]
        counts[tag] = counts.get(tag, 0) + 1
    return PeerRun(wall, cpu, {RULE: counts.get("R1", 0), "honeytoken": counts.get("R2", 0),
                               "per-client volume": counts.get("A1", 0)})  # fmt: skip


def run_mtail(log: Path, work: Path) -> PeerRun:
    out = work / "mtail.json"
    argv = ["mtail", "--progs", str(PEERS_DIR / "mtail"), "--logs", str(log), "--one_shot",
            "--one_shot_format", "json", "--address", "127.0.0.1", "--port", "0", "--logtostderr"]  # fmt: skip
    wall, cpu, _ = timed(argv, work, out)
    metrics = json.loads(out.read_text() or "{}")

    def total(name: str) -> int:
        return sum(int(v["Value"]["Value"]) for m in metrics.get(name) or [] for v in m.get("LabelValues") or [])

    return PeerRun(wall, cpu, {RULE: total("personal_not_from_internet_total"),
                               "honeytoken": total("honeytoken_total"), "lines": total("lines_total")})  # fmt: skip


def run_goaccess(log: Path, work: Path) -> PeerRun:
    out = work / "goaccess.json"
    argv = ["goaccess", str(log), "--log-format=COMBINED", "--no-global-config", "--no-progress", "-o", str(out)]
    wall, cpu, _ = timed(argv, work)
    general = json.loads(out.read_text()).get("general", {})
    return PeerRun(wall, cpu, {"requests": int(general.get("valid_requests", -1)),
                               "clients": int(general.get("unique_visitors", -1))})  # fmt: skip


def _crowdsec_dir(work: Path) -> Path:
    """A private CrowdSec configuration: our parsers and scenarios, the Debian package's nginx parser, date
    enricher and grok patterns, a local API on loopback with its own SQLite database (no network)."""
    d = work / "crowdsec"
    hub = Path("/usr/share/crowdsec/hub")
    src = PEERS_DIR / "crowdsec"
    for sub in ("parsers/s00-raw", "parsers/s01-parse", "parsers/s02-enrich", "scenarios", "data", "hub"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    port = _free_port()
    (d / "config.yaml").write_text((src / "config.yaml").read_text().replace("{dir}", str(d))
                                   .replace("{port}", str(port)))  # fmt: skip
    shutil.copy(src / "non-syslog.yaml", d / "parsers/s00-raw/non-syslog.yaml")
    shutil.copy(hub / "parsers/s01-parse/crowdsecurity/nginx-logs.yaml", d / "parsers/s01-parse/")
    shutil.copy(hub / "parsers/s02-enrich/crowdsecurity/dateparse-enrich.yaml", d / "parsers/s02-enrich/")
    shutil.copy(src / "scenarios.yaml", d / "scenarios/pii-guard-nginx.yaml")
    shutil.copy(hub / ".index.json", d / "hub/.index.json")
    shutil.copytree("/etc/crowdsec/patterns", d / "patterns")
    shutil.copy(src / "profiles.yaml", d / "profiles.yaml")
    (d / "simulation.yaml").write_text("simulation: off\n")
    (d / "acquis.yaml").write_text("")
    subprocess.run(["cscli", "-c", str(d / "config.yaml"), "machines", "add", "bench", "--password",
                    "bench-only-loopback", "-f", str(d / "local_api_credentials.yaml"), "--force"],
                   check=True, capture_output=True)  # fmt: skip
    return d


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_crowdsec(log: Path, work: Path) -> PeerRun:
    d = _crowdsec_dir(work)  # untimed: the set-up an operator does once
    argv = ["crowdsec", "-c", str(d / "config.yaml"), "-dsn", f"file://{log}", "-type", "nginx"]
    wall, cpu, stderr = timed(argv, work)
    alerts: dict[str, int] = {}
    for m in re.finditer(r"alert : pii-guard-bench/(\S+) by ip", stderr):
        alerts[m.group(1)] = alerts.get(m.group(1), 0) + 1
    return PeerRun(wall, cpu, {f"{RULE} alerts": alerts.get(RULE, 0), "honeytoken alerts": alerts.get("honeytoken", 0),
                               "per-client volume alerts": alerts.get("personal-from-internet-volume", 0)})


PEERS: Final = (
    Peer("fail2ban-regex", ("fail2ban-regex",), "fail2ban", "the rule as a failregex; counts matching lines",
         run_fail2ban),
    Peer("SEC", ("sec",), "sec", "the rule, the honeytoken and a per-client threshold (Single + SingleWithThreshold)",
         run_sec),
    Peer("mtail", ("mtail",), "mtail", "fields + time parsed, the rule and the honeytoken as per-client counters",
         run_mtail),
    Peer("GoAccess", ("goaccess",), "goaccess", "parse + its aggregation panels (clients, URLs, statuses); no rules",
         run_goaccess),
    Peer("CrowdSec replay", ("crowdsec", "cscli"), "crowdsec",
         "its nginx parser + the rule, the honeytoken and a per-client leaky bucket as scenarios", run_crowdsec),
)  # fmt: skip


def expected_matches(log: Path) -> int:
    """The rule's matches over `log` computed in plain Python (what every peer should count)."""
    line = re.compile(r'^(\S+) \S+ \S+ \[[^\]]*\] "[A-Z]+ ([^ ?"]*)')
    n = 0
    with log.open(encoding="utf-8", errors="backslashreplace") as fh:
        for text in fh:
            m = line.match(text)
            if m and PERSONAL_PATH.match(m.group(2)) and not ALLOWED_NETS.match(m.group(1)):
                n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", type=Path, help="an nginx combined log (benchmarks/generate.py nginx ...)")
    args = ap.parse_args(argv)
    lines = sum(1 for _ in args.log.open("rb"))
    print(f"{args.log}: {lines:,} lines; expected {RULE} matches: {expected_matches(args.log):,}")
    for peer in PEERS:
        why = peer.missing()
        if why:
            print(f"{peer.name:<16} not installed: {why}")
            continue
        with tempfile.TemporaryDirectory(prefix="pii-guard-peer-") as tmp:
            run = peer.run(args.log.resolve(), Path(tmp))
        print(f"{peer.name:<16} {lines / run.seconds:>10,.0f} lines/s  {lines / run.cpu_seconds:>10,.0f} per CPU-s  "
              f"{run.matches}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
