"""The suite's stages by name, and running one of them in this process (the suite starts one process per
stage, so that no stage inherits another's memory or warm caches).

    python -m benchmarks.stages STAGE --settings JSON --out ROWS.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Final

if __package__ in (None, ""):  # run as a script: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import Row
from benchmarks.settings import Settings
from benchmarks.stages_daemon import stage_daemon, stage_idle, stage_ingest, stage_latency, stage_memory
from benchmarks.stages_pipeline import stage_detect, stage_parse, stage_peers
from benchmarks.stages_query import stage_report, stage_search
from pii_guard.interpreter import pipeline_interpreter

Stage = Callable[[Settings], list[Row]]

STAGES: Final[dict[str, tuple[Stage, str]]] = {
    "parse": (stage_parse, "parse + enrich per format"),
    "detect": (stage_detect, "parse + enrich + detect: shipped policy, and with Sigma rules"),
    "peers": (stage_peers, "the same nginx file through pii-guard, the baselines and the installed peers"),
    "ingest": (stage_ingest, "`pii-guard ingest` end to end into SQLite: events/s and peak RSS"),
    "daemon": (stage_daemon, "the running daemon tailing a file appended at full speed"),
    "latency": (stage_latency, "write → committed match at fixed rates (p50, p99)"),
    "memory": (stage_memory, "RSS and bytes per tracked key-window"),
    "idle": (stage_idle, "idle daemon CPU and RSS"),
    "search": (stage_search, "search and who-accessed over a large store"),
    "report": (stage_report, "a month's review report"),
}
# Stages that time the pipeline in this process run it with the interpreter settings of `run`, `ingest` and
# `replay` (pii_guard.interpreter); the others time the product's own processes, which apply them themselves.
IN_PROCESS_PIPELINE: Final = frozenset({"parse", "detect", "peers"})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=list(STAGES))
    ap.add_argument("--settings", required=True, help="the suite's settings as JSON")
    ap.add_argument("--out", type=Path, required=True, help="write the rows here as JSON")
    args = ap.parse_args(argv)
    settings = Settings.from_json(json.loads(args.settings))
    with pipeline_interpreter() if args.stage in IN_PROCESS_PIPELINE else nullcontext():
        rows = STAGES[args.stage][0](settings)
    args.out.write_text(json.dumps([r.to_json() for r in rows], indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
