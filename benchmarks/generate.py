"""Deterministic generators of realistic access logs, one per format, over one shared population.

    python benchmarks/generate.py FORMAT --lines N --seed S --out FILE
    python benchmarks/generate.py --policy-dir DIR [--seed S]     # directory, data map and zones YAML

The same seed always gives the same bytes. Lines look like the real ones in shared/samples (the formats'
quirks included: TAB continuations, quoted newlines, escaped quotes, \\x22, 401s with a user ...).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.gen_files import samba, sftp, weblog
from benchmarks.gen_sql import mariadb, pgaudit
from benchmarks.population import Population
from benchmarks.timeline import Clock

DEFAULT_SEED: Final = 20261127


JSONL_OPTIONS: Final[dict[str, Any]] = {  # the CRM's own key names, mapped as an operator would
    "dataset": "crm.audit",
    "object_prefix": "app:crm/",
    "fields": {"timestamp": "ts", "user": "actor.login", "source_ip": "ip", "action": "op", "outcome": "result",
               "object": "resource", "rows": "count", "bytes": "size", "record_ids": "subject_ids",
               "error_code": "error.code"},
    "action_map": {"view": "read", "search": "read", "download": "export", "update": "write",
                   "delete": "delete"},
    "extra": {"http.request.id": "request_id"},
}  # fmt: skip
_CRM_RESOURCES: Final = ("customers", "customers", "customers", "contacts", "tickets", "invoices")


def jsonl(pop: Population, seed: int, lines: int) -> Iterator[str]:
    """`lines` lines of a CRM's own JSON audit log (one object per line, its own key names: see
    JSONL_OPTIONS), shaped like tests/samples/jsonl: nested and dotted keys, id lists, denied views."""
    rng = random.Random(f"jsonl:{seed}")
    clock = Clock(rng, mean_gap_us=100)
    for n in range(lines):
        clock.tick()
        login = pop.login(rng)
        user = pop.by_name.get(login)
        doc: dict[str, Any] = {"ts": clock.iso_z()}
        if rng.random() < 0.05:  # ecs-logging style dotted keys
            doc["actor.login"] = login
        else:
            doc["actor"] = {"login": login, "role": user.roles[0] if user is not None else "unknown"}
        doc["ip"] = pop.ip_for(rng, login)
        r = rng.random()
        resource = rng.choice(_CRM_RESOURCES)
        rid = int(50_000 * rng.random() ** 2) + 1
        if r < 0.04:
            doc.update(op=rng.choice(("login", "logout")))
        elif r < 0.60:
            doc.update(op="view", resource=resource, subject_ids=[rid])
        elif r < 0.78:
            ids = sorted({int(50_000 * rng.random() ** 2) + 1 for _ in range(rng.randrange(1, 20))})
            doc.update(op="search", resource=resource, subject_ids=[str(i) for i in ids], count=len(ids))
        elif r < 0.90:
            doc.update(op="update", resource=f"{resource}/{rid}", subject_ids=str(rid))
        elif r < 0.92:
            rows = rng.randrange(100, 50_000)
            doc.update(op="download", resource=f"reports/{resource}-2026-{rng.randrange(1, 12):02d}.csv",
                       count=rows, size=rows * 320)
        elif r < 0.93:
            doc.update(op="export_all", resource=resource)
        elif r < 0.95:
            doc.update(op="delete", resource=f"{resource}/{rid}", subject_ids=[rid])
        else:
            doc.update(op="view", resource=resource, subject_ids=[rid], error={"code": "403"})
            doc["result"] = "denied"
        doc.setdefault("result", "success")
        doc["request_id"] = f"r-{n:08d}"
        yield json.dumps(doc, separators=(",", ":"))


@dataclass(frozen=True)
class Format:
    """A generator and how pii-guard reads its output."""

    name: str
    generate: Callable[[Population, int, int], Iterator[str]]
    parser: str  # the registry name
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""


FORMATS: Final[dict[str, Format]] = {
    f.name: f
    for f in (
        Format("pgaudit-stderr", lambda p, s, n: pgaudit(p, s, n, "stderr"), "pgaudit", {"destination": "stderr"},
               "PostgreSQL 15 + pgAudit 1.7, stderr, Debian prefix '%m [%p] %q%u@%d '"),
        Format("pgaudit-csvlog", lambda p, s, n: pgaudit(p, s, n, "csvlog"), "pgaudit", {"destination": "csvlog"},
               "the same workload in csvlog (26 columns, quoted newlines)"),
        Format("pgaudit-jsonlog", lambda p, s, n: pgaudit(p, s, n, "jsonlog"), "pgaudit", {"destination": "jsonlog"},
               "the same workload in jsonlog"),
        Format("mariadb", mariadb, "mariadb-audit", {}, "MariaDB 10.11 server_audit, file output"),
        Format("samba", samba, "samba-full-audit", {}, "Samba 4.17 vfs_full_audit via rsyslog (RFC 3339)"),
        Format("sftp", sftp, "sftp", {}, "OpenSSH 9.2 sshd + sftp-server/internal-sftp via rsyslog"),
        Format("nginx", lambda p, s, n: weblog(p, s, n, "nginx"), "nginx", {}, "nginx 1.22 combined"),
        Format("apache", lambda p, s, n: weblog(p, s, n, "apache"), "apache", {}, "Apache 2.4 combined (%O)"),
        Format("jsonl", jsonl, "jsonl", JSONL_OPTIONS, "a CRM's JSON-lines audit log, its own key names mapped"),
    )
}  # fmt: skip


_POPULATIONS: dict[int, Population] = {}


def population(seed: int) -> Population:
    """The population of a seed (built once per process: it is the same for every format)."""
    pop = _POPULATIONS.get(seed)
    if pop is None:
        pop = _POPULATIONS[seed] = Population(seed)
    return pop


def lines_of(fmt: str, lines: int, seed: int = DEFAULT_SEED) -> Iterator[str]:
    return FORMATS[fmt].generate(population(seed), seed, lines)


def write_log(fmt: str, lines: int, seed: int, out: Path) -> int:
    """Write `lines` lines of `fmt` to `out` (atomically: a half-written cache file never survives);
    return the bytes written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    written = 0
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        buffer: list[str] = []
        for line in lines_of(fmt, lines, seed):
            buffer.append(line)
            if len(buffer) >= 10_000:
                written += fh.write("\n".join(buffer) + "\n")
                buffer = []
        if buffer:
            written += fh.write("\n".join(buffer) + "\n")
    tmp.replace(out)
    return written


def write_policy(directory: Path, seed: int = DEFAULT_SEED) -> dict[str, Path]:
    return population(seed).write_policy(directory)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("format", nargs="?", choices=sorted(FORMATS), help="log format to generate")
    ap.add_argument("--lines", type=int, default=100_000, help="physical lines to write (default 100,000)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="same seed, same bytes")
    ap.add_argument("--out", type=Path, help="output file (default: stdout)")
    ap.add_argument("--policy-dir", type=Path, help="also write directory.yaml, data-map.yaml, zones.yaml here")
    args = ap.parse_args(argv)
    if args.format is None and args.policy_dir is None:
        ap.error("give a FORMAT, --policy-dir, or both")
    if args.lines < 0:
        ap.error("--lines must be >= 0")
    if args.policy_dir is not None:
        for path in write_policy(args.policy_dir, args.seed).values():
            print(f"wrote {path}", file=sys.stderr)
    if args.format is not None:
        if args.out is None:
            try:
                for line in lines_of(args.format, args.lines, args.seed):
                    sys.stdout.write(line + "\n")
                sys.stdout.flush()
            except BrokenPipeError:  # `| head`: the reader has all it wanted
                sys.stderr.close()
                return 0
        else:
            size = write_log(args.format, args.lines, args.seed, args.out)
            print(f"wrote {args.out}: {args.lines:,} lines, {size:,} bytes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
