"""What parse.py and store.py share: the cached inputs, running a file through a parser, and statistics."""

from __future__ import annotations

import hashlib
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.generate import DEFAULT_SEED, FORMATS, write_log, write_policy
from pii_guard.clock import SystemClock
from pii_guard.compiled import describe_build
from pii_guard.enrich.datamap import DataMap
from pii_guard.enrich.directory import Directory
from pii_guard.enrich.enricher import Enricher
from pii_guard.enrich.zones import Zones
from pii_guard.model import AccessEvent
from pii_guard.parsers.registry import parser_class
from pii_guard.pipeline import FileIngest, FileSpec, RunStats

OUT_DIR = Path(__file__).resolve().parent / "out"


_GENERATOR_SOURCES = ("generate.py", "gen_sql.py", "gen_files.py", "population.py", "timeline.py")


def generator_version() -> str:
    """A digest of the generators' source: a cached file made by older generator code is not reused."""
    digest = hashlib.blake2b(digest_size=4)
    here = Path(__file__).resolve().parent
    for name in _GENERATOR_SOURCES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def log_path(fmt: str, lines: int, seed: int, out_dir: Path = OUT_DIR) -> Path:
    return out_dir / f"{fmt}-{lines}-s{seed}-g{generator_version()}.log"


def ensure_log(fmt: str, lines: int, seed: int = DEFAULT_SEED, out_dir: Path = OUT_DIR) -> Path:
    """The generated file, from the cache when it is there (generation is deterministic)."""
    path = log_path(fmt, lines, seed, out_dir)
    if not path.exists():
        started = time.perf_counter()
        print(f"generating {path.name} ...", file=sys.stderr, flush=True)
        size = write_log(fmt, lines, seed, path)
        print(f"  {size / 1e6:,.1f} MB in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return path


def ensure_policy(seed: int = DEFAULT_SEED, out_dir: Path = OUT_DIR) -> dict[str, Path]:
    """The directory, data map and zones of the seed's population (rewritten each time: it takes a second)."""
    return write_policy(out_dir / f"policy-s{seed}", seed)


def build_enricher(policy: dict[str, Path]) -> Enricher:
    """The Enricher the daemon would build from these policy files."""
    return Enricher(
        Directory.from_file(policy["directory"]),
        DataMap.from_file(policy["data_map"]),
        Zones.from_file(policy["zones"]),
    )


@dataclass
class ParseResult:
    lines: int = 0
    events: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0  # wall clock
    cpu_seconds: float = 0.0  # this process's CPU time: steadier than wall time on a shared machine


def parse_file(fmt: str, path: Path, on_event: Callable[[AccessEvent], object] | None = None) -> ParseResult:
    """Run `path` through a fresh parser (and each event through `on_event`) as `pii-guard parse` and `ingest`
    do: the product's own file loop (`FileIngest`; compiled in the compiled build), not one of our own. Timed."""
    result = ParseResult()
    spec = FORMATS[fmt]
    cls = parser_class(spec.parser)
    stats = RunStats()
    run = FileIngest(on_event or _dropped, _dropped, stats, SystemClock())
    started = time.perf_counter()
    cpu_started = time.process_time()
    run.run(path, FileSpec(cls, cls.Options.model_validate(spec.options)))
    result.seconds = time.perf_counter() - started
    result.cpu_seconds = time.process_time() - cpu_started
    result.lines = stats.lines
    result.events = stats.events
    result.failures.update(stats.failures)
    return result


def _dropped(_: object) -> None:
    """Where the events go when only parsing is timed, and dead letters always (their reasons are counted)."""


@dataclass
class Figure:
    """Repeated measurements of one rate."""

    unit: str
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "median": self.median,
            "min": min(self.values, default=float("nan")),
            "max": max(self.values, default=float("nan")),
            "runs": self.values,
        }

    def text(self, digits: int = 0) -> str:
        """`median  (min–max)` in fixed-width columns."""
        if not self.values:
            return f"{'-':>12}"
        spec = f",.{digits}f"
        low, high = format(min(self.values), spec), format(max(self.values), spec)
        return f"{format(self.median, spec):>12}  ({low}–{high})".ljust(40)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "product": product_version(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": model,
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in load],
        "build": describe_build(),  # pure Python, or the compiled build (setup.py)
    }


def product_version() -> str:
    """The commit measured, with `+local changes` when src/ differs from it."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=repo, capture_output=True, text=True,
                               check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" +local changes in src/" if dirty else "")
