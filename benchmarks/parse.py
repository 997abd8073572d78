"""Parse throughput per format, against the machine's and Python's limits, in one process.

    python benchmarks/parse.py                       # every format, 1,000,000 lines each, 3 runs
    python benchmarks/parse.py --format nginx --format pgaudit-stderr --runs 5 --json
    python benchmarks/parse.py --format nginx --profile     # cProfile of parse + enrich, top functions

For each format the same generated file (cached under benchmarks/out/) is read by:
  wc -l              the machine's limit (a subprocess), lines/s
  re.match           the Python limit: binary readline + decode + one simple precompiled regex, lines/s
  iter_lines         pii_guard's reader alone (lines decoded, nothing parsed), lines/s
  parse              the format's parser run by the product's file loop (FileIngest, as `ingest` runs it), events/s
  parse + enrich     the same plus the Enricher built from the generated policy files, events/s
Each figure is the median of --runs runs with min and max; runs go round all formats in turn so that a
noisy neighbour hits every figure alike. `ratio` = (parse + enrich lines/s) / (re.match lines/s) per run,
i.e. how close the product comes to the bare-regex loop over the same lines. The runs use the interpreter
settings of `run`, `ingest` and `replay` (pii_guard.interpreter), the baselines too.
Exit status 1 if a parser raises (or is missing), 0 otherwise.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import re
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.generate import DEFAULT_SEED, FORMATS
from benchmarks.harness import (
    Figure,
    ParseResult,
    build_enricher,
    ensure_log,
    ensure_policy,
    machine,
    parse_file,
)
from pii_guard.compiled import describe_build
from pii_guard.enrich.enricher import Enricher
from pii_guard.interpreter import pipeline_interpreter
from pii_guard.sources.files import iter_lines

# The targets: parse + enrich events/s on one core.
TARGETS: Final = {"nginx": 200_000, "pgaudit-stderr": 150_000}
BASELINE_REGEX: Final = re.compile(r"(\S+) (\S+) (\S+)")


def baseline(path: Path) -> tuple[int, float]:
    """The bare loop: binary readline, decode as the product does, one precompiled regex."""
    match = BASELINE_REGEX.match
    lines = 0
    started = time.perf_counter()
    with path.open("rb") as fh:
        for raw in fh:
            match(raw.decode("utf-8", "backslashreplace"))
            lines += 1
    return lines, time.perf_counter() - started


def read_only(path: Path) -> tuple[int, float]:
    lines = 0
    started = time.perf_counter()
    with path.open("rb") as fh:
        for _ in iter_lines(fh):
            lines += 1
    return lines, time.perf_counter() - started


def wc_lines(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    out = subprocess.run(["wc", "-l", str(path)], check=True, capture_output=True, text=True).stdout
    return int(out.split()[0]), time.perf_counter() - started


@dataclass
class FormatReport:
    name: str
    path: Path
    lines: int = 0
    bytes: int = 0
    events: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    figures: dict[str, Figure] = field(
        default_factory=lambda: {
            "wc": Figure("lines/s"),
            "baseline": Figure("lines/s"),
            "iter_lines": Figure("lines/s"),
            "parse": Figure("events/s"),
            "parse_lines": Figure("lines/s"),
            "enrich": Figure("events/s"),
            "enrich_lines": Figure("lines/s"),
            "enrich_cpu": Figure("events per CPU second"),
            "ratio": Figure("parse+enrich lines/s ÷ re.match lines/s"),
        }
    )

    def measure(self, enricher: Enricher) -> None:
        f = self.figures
        gc.collect()
        lines, seconds = wc_lines(self.path)
        f["wc"].add(lines / seconds)
        gc.collect()
        lines, base = baseline(self.path)
        f["baseline"].add(lines / base)
        gc.collect()
        lines, seconds = read_only(self.path)
        f["iter_lines"].add(lines / seconds)
        gc.collect()
        parsed = parse_file(self.name, self.path)
        self._take(parsed)
        f["parse"].add(parsed.events / parsed.seconds)
        f["parse_lines"].add(parsed.lines / parsed.seconds)
        gc.collect()
        enriched = parse_file(self.name, self.path, enricher)
        self._take(enriched)
        f["enrich"].add(enriched.events / enriched.seconds)
        f["enrich_lines"].add(enriched.lines / enriched.seconds)
        f["enrich_cpu"].add(enriched.events / enriched.cpu_seconds)
        f["ratio"].add(base / enriched.seconds)

    def _take(self, result: ParseResult) -> None:
        self.lines = result.lines
        self.events = result.events
        self.failures = dict(result.failures)

    def to_json(self) -> dict[str, Any]:
        target = TARGETS.get(self.name)
        return {
            "file": str(self.path),
            "lines": self.lines,
            "bytes": self.bytes,
            "events": self.events,
            "parse_failures": self.failures,
            "error": self.error,
            "target_events_per_s": target,
            "target_met": None if target is None or self.error else self.figures["enrich"].median >= target,
            "figures": {k: v.to_json() for k, v in self.figures.items()},
        }


def print_report(reports: list[FormatReport], runs: int, enrich_build: float) -> None:
    print(f"\nparse throughput, median (min–max) of {runs} run(s); enricher built in {enrich_build:.2f} s; "
          f"build: {describe_build()}\n")
    for r in reports:
        print(f"{r.name}: {r.lines:,} lines, {r.bytes / 1e6:,.1f} MB → {r.events:,} events")
        if r.error:
            print(f"  ERROR: {r.error}")
            continue
        f = r.figures
        print(f"  {'wc -l':<19}{f['wc'].text()} lines/s")
        print(f"  {'re.match baseline':<19}{f['baseline'].text()} lines/s")
        print(f"  {'iter_lines only':<19}{f['iter_lines'].text()} lines/s")
        print(f"  {'parse':<19}{f['parse'].text()} events/s  ({f['parse_lines'].median:,.0f} lines/s)")
        print(f"  {'parse + enrich':<19}{f['enrich'].text()} events/s  ({f['enrich_lines'].median:,.0f} lines/s)")
        print(f"  {'  per CPU second':<19}{f['enrich_cpu'].text()} events/CPU-s")
        print(f"  {'ratio to re.match':<19}{f['ratio'].text(3)}")
        if r.failures:
            top = ", ".join(f"{n}× {reason}" for reason, n in sorted(r.failures.items(), key=lambda x: -x[1])[:3])
            print(f"  WARNING: {sum(r.failures.values()):,} parse failures: {top}")
    print(f"\n{'format':<16}{'parse+enrich events/s':>24}{'ratio':>8}  target")
    for r in reports:
        if r.error:
            print(f"{r.name:<16}{'error':>24}")
            continue
        target = TARGETS.get(r.name)
        verdict = ""
        if target is not None:
            verdict = f"≥{target:,}: {'met' if r.figures['enrich'].median >= target else 'MISSED'}"
        print(f"{r.name:<16}{r.figures['enrich'].median:>24,.0f}{r.figures['ratio'].median:>8.3f}  {verdict}")


def profile(fmt: str, path: Path, enricher: Enricher, top: int) -> None:
    """cProfile of one parse + enrich pass; the functions with the most own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    result = parse_file(fmt, path, enricher)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    print(f"\n== cProfile {fmt}: {result.lines:,} lines, {result.events:,} events (profiled run, slower)")
    print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--format", dest="formats", action="append", choices=sorted(FORMATS),
                    help="measure only this format (repeatable; default: all)")
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines per generated file (default 1,000,000)")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported (default 3)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    ap.add_argument("--profile", action="store_true", help="profile parse + enrich instead of measuring")
    ap.add_argument("--top", type=int, default=25, help="functions shown by --profile")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.lines < 1:
        ap.error("--runs and --lines must be positive")
    names = args.formats or list(FORMATS)

    policy = ensure_policy(args.seed)
    started = time.perf_counter()
    enricher = build_enricher(policy)
    enrich_build = time.perf_counter() - started
    reports = []
    for name in names:
        path = ensure_log(name, args.lines, args.seed)
        reports.append(FormatReport(name, path, bytes=path.stat().st_size))

    if args.profile:
        for r in reports:
            profile(r.name, r.path, enricher, args.top)
        return 0

    with pipeline_interpreter():  # as `run`, `ingest` and `replay` run the pipeline
        for run in range(args.runs):
            for r in reports:
                if r.error:
                    continue
                print(f"run {run + 1}/{args.runs}: {r.name}", file=sys.stderr, flush=True)
                try:
                    r.measure(enricher)
                except Exception as exc:  # a parser that raises is the finding: report it, measure the rest
                    r.error = f"{type(exc).__name__}: {exc}"
                    traceback.print_exc()

    if args.json:
        doc = {
            "benchmark": "parse",
            "machine": machine(),
            "lines": args.lines,
            "runs": args.runs,
            "seed": args.seed,
            "enricher_build_seconds": enrich_build,
            "formats": {r.name: r.to_json() for r in reports},
        }
        print(json.dumps(doc, indent=2))
    else:
        print_report(reports, args.runs, enrich_build)
    return 1 if any(r.error for r in reports) else 0


if __name__ == "__main__":
    raise SystemExit(main())
