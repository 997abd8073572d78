"""Storing throughput: enriched events into the SQLite event store (indexes on), and `pii-guard ingest`.

    python benchmarks/store.py                              # nginx and pgaudit-stderr, 1,000,000 lines, 3 runs
    python benchmarks/store.py --format nginx --runs 5 --json

For each format the cached generated file (benchmarks/out/) is parsed and enriched once, untimed; then:
  store        the enriched events through Batcher (batch size 10,000) into SqliteEventStore, a fresh database
               in a temp dir each run, synchronous=NORMAL (the default), all indexes on: events/s of
               add + final flush (every commit included; closing the store is not)
  ingest       `pii-guard ingest --json` as a subprocess on the same file, fresh state dir each run:
               events/s from its summary (parse + enrich + store, what an operator sees), wall seconds of
               the whole command (start-up and policy loading included), and peak RSS of the command
               (resource.getrusage(RUSAGE_CHILDREN) in a small wrapper process; the largest of the runs)
Each figure is the median of --runs runs with min and max.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.generate import DEFAULT_SEED, FORMATS
from benchmarks.harness import Figure, build_enricher, ensure_log, ensure_policy, machine, parse_file
from pii_guard.model import AccessEvent, EnrichedEvent
from pii_guard.pipeline import Batcher, RunStats
from pii_guard.store.sqlite import SqliteEventStore

TARGET: Final = 60_000  # events/s stored, indexes on (the target)
DEFAULT_FORMATS: Final = ("nginx", "pgaudit-stderr")


def store_run(
    events: list[EnrichedEvent], directory: Path, batch_size: int
) -> tuple[float, float, RunStats, int]:
    """One run into a fresh database: (wall seconds, CPU seconds, stats, database bytes)."""
    path = directory / "events.db"
    store = SqliteEventStore(path)  # synchronous=NORMAL, the configured default
    stats = RunStats()
    batcher = Batcher(store, stats, batch_size=batch_size)
    add = batcher.add
    gc.collect()
    started = time.perf_counter()
    cpu_started = time.process_time()
    for event in events:
        add(event)
    batcher.flush()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    store.close()
    size = sum(p.stat().st_size for p in directory.glob("events.db*"))
    return seconds, cpu, stats, size


def ingest_config(directory: Path, fmt: str, log: Path, policy: dict[str, Path]) -> Path:
    spec = FORMATS[fmt]
    config = {
        "state_dir": str(directory / "state"),
        "sources": [{"path": str(log), "format": spec.parser, "options": spec.options}],
        "policy": {key: str(path) for key, path in policy.items()},
    }
    path = directory / "pii-guard.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


# Runs the command as its own child and reports that child's peak RSS. A child spawned straight from this
# (large) process would inherit its peak: Linux carries the parent's high-water RSS into the child's
# ru_maxrss across fork/vfork + exec. The wrapper is small, so its child's figure is the command's own.
_RSS_WRAPPER: Final = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "use = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(f'CPU_S {use.ru_utime + use.ru_stime}', file=sys.stderr)\n"
    "print(f'MAXRSS_KIB {use.ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


@dataclass
class IngestRun:
    summary: dict[str, Any]  # the command's --json summary
    wall: float  # seconds of the whole command
    cpu: float  # CPU seconds of the command
    peak_rss_kib: int


def ingest_command(config: Path, log: Path) -> list[str]:
    return [sys.executable, "-m", "pii_guard", "ingest", "--config", str(config), "--json", str(log)]


def ingest_measure(directory: Path, fmt: str, log: Path, policy: dict[str, Path]) -> IngestRun:
    """`pii-guard ingest --json` in a subprocess, through the small wrapper that reports its CPU and peak RSS."""
    config = ingest_config(directory, fmt, log, policy)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, *ingest_command(config, log)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"pii-guard ingest exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    tail = dict(line.split(" ", 1) for line in done.stderr.strip().splitlines()[-2:])
    return IngestRun(summary, wall, float(tail["CPU_S"]), int(tail["MAXRSS_KIB"]))


def ingest_run(directory: Path, fmt: str, log: Path, policy: dict[str, Path]) -> tuple[dict[str, Any], float, int]:
    """`pii-guard ingest --json` in a subprocess: (its summary, wall seconds, its peak RSS in KiB)."""
    run = ingest_measure(directory, fmt, log, policy)
    return run.summary, run.wall, run.peak_rss_kib


def measure(fmt: str, args: argparse.Namespace, policy: dict[str, Path]) -> dict[str, Any]:
    log = ensure_log(fmt, args.lines, args.seed)
    ingest_rate = Figure("events/s")
    ingest_wall = Figure("s")
    rss = 0
    ingest_summary: dict[str, Any] = {}
    for run in range(args.runs if args.e2e else 0):
        with tempfile.TemporaryDirectory(prefix="pii-guard-bench-") as tmp:
            ingest_summary, wall, run_rss = ingest_run(Path(tmp), fmt, log, policy)
        rss = max(rss, run_rss)
        ingest_rate.add(float(ingest_summary["events_per_second"]))
        ingest_wall.add(wall)
        print(f"{fmt} run {run + 1}/{args.runs}: ingest {ingest_summary['events_per_second']:,} events/s, "
              f"{wall:.1f} s wall", file=sys.stderr, flush=True)  # fmt: skip
    enricher = build_enricher(policy)
    raw: list[AccessEvent] = []
    parsed = parse_file(fmt, log, raw.append)
    events = [enricher(e) for e in raw]
    del raw
    print(f"{fmt}: {parsed.lines:,} lines → {len(events):,} enriched events (parsed in {parsed.seconds:.1f} s)",
          file=sys.stderr, flush=True)
    stored = Figure("events/s")
    stored_cpu = Figure("events per CPU second")
    db_bytes = 0
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="pii-guard-bench-") as tmp:
            seconds, cpu, stats, db_bytes = store_run(events, Path(tmp), args.batch_size)
            if stats.stored != len(events):
                raise RuntimeError(f"stored {stats.stored:,} of {len(events):,} events")
        stored.add(len(events) / seconds)
        stored_cpu.add(len(events) / cpu)
        print(f"{fmt} run {run + 1}/{args.runs}: store {len(events) / seconds:,.0f} events/s", file=sys.stderr,
              flush=True)
    return {
        "file": str(log),
        "lines": parsed.lines,
        "events": len(events),
        "parse_failures": dict(parsed.failures),
        "database_bytes": db_bytes,
        "store": stored.to_json(),
        "store_cpu": stored_cpu.to_json(),
        "target_events_per_s": TARGET,
        "target_met": stored.median >= TARGET,
        "ingest": {
            "events_per_s": ingest_rate.to_json(),
            "wall_seconds": ingest_wall.to_json(),
            "peak_rss_kib": rss,
            "last_summary": ingest_summary,
        }
        if args.e2e
        else None,
    }


def print_report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\nSQLite event store, indexes on, batch {args.batch_size:,}, synchronous=NORMAL; "
          f"median (min–max) of {args.runs} run(s)\n")  # fmt: skip
    for fmt, r in results.items():
        store = r["store"]
        verdict = "met" if r["target_met"] else "MISSED"
        print(f"{fmt}: {r['lines']:,} lines → {r['events']:,} events; database {r['database_bytes'] / 1e6:,.0f} MB")
        print(f"  {'store':<22}{store['median']:>12,.0f}  ({store['min']:,.0f}–{store['max']:,.0f}) events/s"
              f"   target ≥{TARGET:,}: {verdict}")  # fmt: skip
        cpu = r["store_cpu"]
        print(f"  {'  per CPU second':<22}{cpu['median']:>12,.0f}  ({cpu['min']:,.0f}–{cpu['max']:,.0f}) events/CPU-s")
        ingest = r["ingest"]
        if ingest is not None:
            rate, wall = ingest["events_per_s"], ingest["wall_seconds"]
            print(f"  {'pii-guard ingest':<22}{rate['median']:>12,.0f}  ({rate['min']:,.0f}–{rate['max']:,.0f}) "
                  f"events/s")  # fmt: skip
            print(f"  {'  wall (whole command)':<22}{wall['median']:>12.1f}  ({wall['min']:.1f}–{wall['max']:.1f}) s")
            print(f"  {'  peak RSS':<22}{ingest['peak_rss_kib'] / 1024:>12,.0f}  MiB")
        if r["parse_failures"]:
            print(f"  WARNING: parse failures {r['parse_failures']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--format", dest="formats", action="append", choices=sorted(FORMATS),
                    help=f"input format (repeatable; default: {', '.join(DEFAULT_FORMATS)})")
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines per generated file (default 1,000,000)")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure (default 3)")
    ap.add_argument("--batch-size", type=int, default=10_000, help="events per transaction (default 10,000)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--no-e2e", dest="e2e", action="store_false", help="skip the `pii-guard ingest` runs")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.lines < 1 or args.batch_size < 1:
        ap.error("--runs, --lines and --batch-size must be positive")
    policy = ensure_policy(args.seed)
    results = {fmt: measure(fmt, args, policy) for fmt in args.formats or DEFAULT_FORMATS}
    if args.json:
        doc = {"benchmark": "store", "machine": machine(), "lines": args.lines, "runs": args.runs,
               "batch_size": args.batch_size, "seed": args.seed, "formats": results}  # fmt: skip
        print(json.dumps(doc, indent=2))
    else:
        print_report(results, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
