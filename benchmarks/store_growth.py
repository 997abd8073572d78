"""Storing as the store grows: does the event store keep its speed once it holds millions of events?

    python benchmarks/store_growth.py                        # nginx, 1,000,000 lines, 3 passes, 2 runs
    python benchmarks/store_growth.py --passes 5 --runs 3 --json

`benchmarks/store.py` stores one file into a new database. A daemon's store is never new: it holds months of
events. Here the same enriched events (the cached generated file, parsed and enriched untimed) are stored
--passes times into one database, each pass as new events (ids re-hashed with the pass number, times moved on
by the file's span), through the Batcher (batch 10,000) as the daemon and `ingest` store them. Each pass is
timed alone: events/s of add + final flush, every commit included. The ratio of pass k is its rate divided by
pass 1's rate in the same run: 1.0 means the store is as fast with k million events in it as when it was new.
Each figure is the median of --runs runs (a fresh database each run).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.generate import DEFAULT_SEED, FORMATS
from benchmarks.harness import Figure, build_enricher, ensure_log, ensure_policy, machine, parse_file
from pii_guard.model import AccessEvent, EnrichedEvent
from pii_guard.pipeline import Batcher, RunStats
from pii_guard.store.sqlite import SqliteEventStore


def moved(events: list[EnrichedEvent], n: int, span_us: int) -> list[EnrichedEvent]:
    """The events as new ones for pass n: other ids, times n spans later."""
    if n == 0:
        return events
    out = []
    for item in events:
        ev = item.event
        new_id = hashlib.blake2b(f"{n}:{ev.id}".encode(), digest_size=16).hexdigest()
        out.append(item._replace(event=ev._replace(id=new_id, time_us=ev.time_us + n * span_us)))
    return out


def one_run(events: list[EnrichedEvent], passes: int, batch_size: int) -> list[float]:
    """events/s of each pass into one fresh database."""
    span = max(e.event.time_us for e in events) - min(e.event.time_us for e in events) + 1
    rates = []
    with tempfile.TemporaryDirectory(prefix="pii-guard-bench-") as tmp:
        store = SqliteEventStore(Path(tmp) / "events.db")
        try:
            for n in range(passes):
                batch = moved(events, n, span)
                stats = RunStats()
                batcher = Batcher(store, stats, batch_size=batch_size)
                add = batcher.add
                gc.collect()
                started = time.perf_counter()
                for item in batch:
                    add(item)
                batcher.flush()
                seconds = time.perf_counter() - started
                if stats.stored != len(batch):
                    raise RuntimeError(f"pass {n + 1}: stored {stats.stored:,} of {len(batch):,} events")
                rates.append(len(batch) / seconds)
                print(f"  pass {n + 1}: {len(batch) / seconds:,.0f} events/s with {n * len(batch):,} events "
                      "stored before", file=sys.stderr, flush=True)  # fmt: skip
                del batch
        finally:
            store.close()
    return rates


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--format", default="nginx", choices=sorted(FORMATS))
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines of the generated file (default 1,000,000)")
    ap.add_argument("--passes", type=int, default=3, help="copies of the events stored into one database")
    ap.add_argument("--runs", type=int, default=2, help="runs per figure (default 2)")
    ap.add_argument("--batch-size", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = ap.parse_args(argv)
    if min(args.lines, args.passes, args.runs, args.batch_size) < 1:
        ap.error("--lines, --passes, --runs and --batch-size must be positive")
    log = ensure_log(args.format, args.lines, args.seed)
    enricher = build_enricher(ensure_policy(args.seed))
    raw: list[AccessEvent] = []
    parse_file(args.format, log, raw.append)
    events = [enricher(e) for e in raw]
    del raw
    rates = [Figure("events/s") for _ in range(args.passes)]
    ratios = [Figure("pass ÷ pass 1") for _ in range(args.passes)]
    for run in range(args.runs):
        print(f"run {run + 1}/{args.runs}", file=sys.stderr, flush=True)
        got = one_run(events, args.passes, args.batch_size)
        for n, value in enumerate(got):
            rates[n].add(value)
            ratios[n].add(value / got[0])
    if args.json:
        doc = {"benchmark": "store_growth", "machine": machine(), "format": args.format, "events": len(events),
               "runs": args.runs, "passes": [{"stored_before": n * len(events), "events_per_s": r.to_json(),
                                              "ratio_to_pass_1": q.to_json()}
                                             for n, (r, q) in enumerate(zip(rates, ratios, strict=True))]}  # fmt: skip
        print(json.dumps(doc, indent=2))
        return 0
    print(f"\n{args.format}: {len(events):,} events a pass, batch {args.batch_size:,}; median (min–max) of "
          f"{args.runs} run(s)\n")  # fmt: skip
    print(f"{'stored before':>14}  {'events/s, median (min–max)':<40}ratio to pass 1")
    for n, (rate, ratio) in enumerate(zip(rates, ratios, strict=True)):
        print(f"{n * len(events):>14,}  {rate.text()}{ratio.median:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
