"""The benchmark suite of issue 9 in one command: every measurement, its baseline and the peers in one run.

    python -m benchmarks --quick                 # small inputs, 3 runs: a few minutes
    python -m benchmarks                         # full sizes (10M-event search store, month report ...)
    python -m benchmarks --only parse --only peers --runs 5
    python -m benchmarks --update-readme         # also rewrite the README's performance table

Each stage runs in its own process (benchmarks/stages.py); each figure is the median of --runs runs (min and
max kept) with its ratio to a baseline measured in the same run. Results: benchmarks/results/latest.md,
latest.json and latest.png (plus a dated copy); with --only, results/partial.* instead, so that latest.*
always holds one whole run. Generated inputs are cached in benchmarks/out/. Exit status 1 if a stage failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import chart, readme, results
from benchmarks.harness import machine
from benchmarks.results import ERROR, RESULTS_DIR, Row
from benchmarks.settings import FULL, QUICK, Settings
from benchmarks.stages import STAGES

ROOT = Path(__file__).resolve().parent.parent


def run_stage(name: str, settings: Settings) -> list[Row]:
    """One stage in a fresh process; a stage that fails becomes one error row (the others still run)."""
    with tempfile.TemporaryDirectory(prefix="pii-guard-suite-") as tmp:
        out = Path(tmp) / "rows.json"
        argv = [sys.executable, "-m", "benchmarks.stages", name, "--settings", json.dumps(settings.to_json()),
                "--out", str(out)]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=ROOT, check=False)
        seconds = time.perf_counter() - started
        print(f"== {name}: {seconds:,.0f} s", file=sys.stderr, flush=True)
        if done.returncode != 0 or not out.exists():
            return [Row(name, STAGES[name][1], "", status=ERROR, note=f"the stage exited {done.returncode}; "
                        f"run `python -m benchmarks.stages {name} ...` to see why")]  # fmt: skip
        return [Row.from_json(r) for r in json.loads(out.read_text())]


def describe_machine() -> dict[str, Any]:
    info = machine()
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages / 2**30)
    except (ValueError, OSError):
        info["memory_gib"] = None
    return info


def settings_from(args: argparse.Namespace) -> Settings:
    base = QUICK if args.quick else FULL
    changes: dict[str, Any] = {"runs": args.runs, "seed": args.seed}
    if args.lines:
        changes.update(lines=args.lines, daemon_lines=args.lines, peer_lines=args.lines)
    return dataclasses.replace(base, **changes)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="small inputs (20,000 lines, 200,000-event stores)")
    ap.add_argument("--only", action="append", choices=list(STAGES), metavar="STAGE",
                    help=f"run only this stage (repeatable): {', '.join(STAGES)}")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure, the median is reported (default 3)")
    ap.add_argument("--seed", type=int, default=FULL.seed, help="seed of every generated input")
    ap.add_argument("--lines", type=int, help="lines per generated log (default: 20,000 quick, 200,000 full)")
    ap.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default benchmarks/results)")
    ap.add_argument("--update-readme", action="store_true", help="rewrite the README's performance table")
    ap.add_argument("--list", action="store_true", help="list the stages and exit")
    args = ap.parse_args(argv)
    if args.list:
        for name, (_, what) in STAGES.items():
            print(f"{name:<8} {what}")
        return 0
    if args.runs < 1:
        ap.error("--runs must be at least 1 (3 or more for a median worth quoting)")
    problem = chart.missing()
    if problem is not None:
        ap.error(problem)
    settings = settings_from(args)
    names = [n for n in STAGES if not args.only or n in args.only]
    started = datetime.now(UTC)
    doc: dict[str, Any] = {
        "suite": "pii-guard benchmarks (issue 9)",
        "mode": settings.mode,
        "command": shlex.join(["python", "-m", "benchmarks", *(argv if argv is not None else sys.argv[1:])]),
        "machine": describe_machine(),
        "settings": settings.to_json(),
        "stages": names,
        "runs": settings.runs,
        "started": started.strftime("%Y-%m-%d %H:%M"),
    }
    rows: list[Row] = []
    for name in names:
        print(f"== {name}: {STAGES[name][1]}", file=sys.stderr, flush=True)
        rows += run_stage(name, settings)
    doc["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    doc["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    stem = "partial" if args.only else "latest"
    md = results.write(doc, rows, args.out, stem)
    chart.draw(rows, args.out / f"{stem}.png", f"pii-guard {settings.mode} run, {doc['started']} UTC")
    if not args.only:  # a dated copy of the whole run
        dated = f"{started:%Y-%m-%d}-{settings.mode}"
        results.write(doc, rows, args.out, dated)
    print(md.read_text())
    if args.update_readme and not args.only:
        readme.update(md)
        print("README.md: performance table updated", file=sys.stderr)
    return 1 if any(r.status == ERROR for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
