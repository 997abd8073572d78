"""Instructions instead of seconds: parse + enrich (and, with --detect, detection) of a generated log, counted
by valgrind's callgrind.

    python -m benchmarks.instructions --format pgaudit-stderr --lines 30000
    python -m benchmarks.instructions --format nginx --lines 20000 --detect --keep out/

Wall-clock figures on a shared machine swing by tens of percent from one hour to the next; the number of
instructions a run executes does not depend on the load (with PYTHONHASHSEED fixed it repeats to within a few
hundred thousand). It is how a small change is measured: run this on the build before and after it. Only what
the product's file loop (`FileIngest.run`, the same loop as `pii-guard ingest`) executes is counted, not the
start-up, so the figure is of the compiled build (setup.py, `PII_GUARD_COMPILE=1`), where that loop is a C
function callgrind can be told to count. A run takes a few minutes: callgrind is about 50 times slower.
Needs valgrind (Debian: `apt-get install valgrind`). `--keep DIR` keeps callgrind's output for
`callgrind_annotate --inclusive=yes DIR/callgrind.out`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import detect
from benchmarks.generate import FORMATS
from benchmarks.harness import build_enricher, ensure_log, ensure_policy, parse_file
from pii_guard.compiled import compiled_modules

LOOP: str = "CPyDef_pipeline___FileIngest___run"  # FileIngest.run as mypyc names its C function
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def child(fmt: str, lines: int, with_detection: bool) -> None:
    """What runs under callgrind: the file through the product's loop, events and matches printed."""
    from pii_guard.interpreter import pipeline_interpreter

    files = ensure_policy()
    enricher = build_enricher(files)
    path = ensure_log(fmt, lines)
    with pipeline_interpreter():
        if with_detection:
            run = detect.run_pipeline(fmt, path, enricher, detect.shipped_policy(0, files["directory"]))
            out = {"lines": run.lines, "events": run.events, "matches": sum(run.matches.values())}
        else:
            result = parse_file(fmt, path, enricher)
            out = {"lines": result.lines, "events": result.events}
    print(json.dumps(out))


def measure(fmt: str, lines: int, with_detection: bool, keep: Path | None) -> dict[str, object]:
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    if "pii_guard.pipeline" not in compiled_modules():
        raise SystemExit("this is the interpreted package: instructions are counted on the compiled build "
                         "(PII_GUARD_COMPILE=1 pip install '.[bench]'), whose file loop is a C function")
    ensure_policy()  # generated here, not under callgrind
    ensure_log(fmt, lines)
    with tempfile.TemporaryDirectory(prefix="pii-guard-callgrind-") as tmp:
        target = keep if keep is not None else Path(tmp)
        target.mkdir(parents=True, exist_ok=True)
        command = [valgrind, "--tool=callgrind", f"--callgrind-out-file={target / 'callgrind.out'}",
                   f"--toggle-collect={LOOP}", sys.executable, "-m", "benchmarks.instructions", "--child",
                   "--format", fmt, "--lines", str(lines), *(["--detect"] if with_detection else [])]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
                              check=False)  # fmt: skip
    found = _REFS.search(done.stderr)
    if done.returncode != 0 or found is None or not done.stdout.strip():
        raise SystemExit(f"the run under callgrind failed ({done.returncode}):\n{done.stderr[-2000:]}")
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    instructions = int(found.group(1).replace(",", ""))
    return {"format": fmt, "detect": with_detection, **counts, "instructions": instructions,
            "per_line": round(instructions / counts["lines"]),
            "per_event": round(instructions / counts["events"]) if counts["events"] else None}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.split("\n\n")[0])
    ap.add_argument("--format", default="pgaudit-stderr", choices=sorted(FORMATS))
    ap.add_argument("--lines", type=int, default=30_000)
    ap.add_argument("--detect", action="store_true", help="also run each event through the shipped policy")
    ap.add_argument("--keep", type=Path, help="directory for callgrind's output (callgrind_annotate)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.format, args.lines, args.detect)
        return 0
    result = measure(args.format, args.lines, args.detect, args.keep)
    if args.json:
        print(json.dumps(result))
    else:
        what = "parse + enrich + detect" if args.detect else "parse + enrich"
        print(f"{what}, {args.format}, {result['lines']:,} lines, {result['events']:,} events: "
              f"{result['instructions']:,} instructions ({result['per_line']:,} a line, "
              f"{result['per_event']:,} an event)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
