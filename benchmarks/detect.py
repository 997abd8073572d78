"""Detection throughput and window memory.

    python benchmarks/detect.py                       # 1,000,000 pgAudit lines, 10,000 users, 3 runs
    python benchmarks/detect.py --lines 200000 --runs 5

For each run, over the same generated pgAudit stderr file (benchmarks/generate.py, seed 1):
- `re.match` baseline: a bare regex loop over the file's lines (the Python limit);
- parse + enrich: the pgaudit parser and the Enricher of the generated policy files;
- parse + enrich + detect: the same, through the detection engine with the shipped policy
  (rules/access-policy.yaml) alone, and with 50 extra rules (25 zone restrictions on single objects and 25
  quotas), each as events/s and as a ratio to the baseline of the same run.
Then the memory of windows: 100,000 users active in 5 windowed rules, bytes per tracked key-window (Python
objects as measured by sys.getsizeof, and as saved in the state database).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.harness import build_enricher, ensure_log, ensure_policy, parse_file  # noqa: E402
from pii_guard.detection.engine import DetectionEngine  # noqa: E402
from pii_guard.model import AccessEvent  # noqa: E402
from pii_guard.policy.compile import compile_policy  # noqa: E402
from pii_guard.policy.models import Policy  # noqa: E402
from pii_guard.rules.windows import SlidingSum  # noqa: E402
from pii_guard.sources.files import iter_lines  # noqa: E402


def shipped_policy(extra: int, directory: Path | None = None) -> Policy:
    """The shipped policy, plus the generated population's other roles (allowed their usual categories, so
    matches stay the exception as on a real site), plus `extra` rules."""
    import yaml

    data: dict[str, Any] = yaml.safe_load((ROOT / "rules" / "access-policy.yaml").read_text())
    if directory is not None:
        users = yaml.safe_load(directory.read_text())["users"]
        for role in sorted({r for u in users.values() for r in u.get("roles", [])}):
            data["roles"].setdefault(role, {"may_view": ["personal", "contact", "financial"]})
    for i in range(extra // 2):
        data.setdefault("zone_restrictions", []).append(
            {"id": f"extra-zone-{i}", "objects": [f"db:crm.public.table_{i}"], "categories": ["personal"],
             "allow_zones": ["datacenter"]})
    roles = data.setdefault("roles", {})
    for i in range(extra - extra // 2):
        role = ("support", "analyst", "hr")[i % 3]
        roles.setdefault(role, {"may_view": ["personal"]}).setdefault("quotas", []).append(
            {"id": f"extra-quota-{i}", "categories": ["personal"], "measure": "records", "max": 10_000 + i,
             "per": "1h"})
    return Policy.model_validate(data)


def baseline(path: Path) -> float:
    pattern = re.compile(r"(\S+) (\S+) (\S+)")
    started = time.perf_counter()
    n = 0
    with path.open("rb") as fh:
        for line in iter_lines(fh):
            pattern.match(line.text)
            n += 1
    return n / (time.perf_counter() - started)


def run_once(path: Path, policy_files: dict[str, Path], policy: Policy | None) -> tuple[float, int, int]:
    enricher = build_enricher(policy_files)
    engine = DetectionEngine(compile_policy(policy).detectors, policy.lateness) if policy else None
    matches = 0

    def on_event(event: AccessEvent) -> None:
        nonlocal matches
        item = enricher(event)
        if engine is not None:
            matches += len(engine.process(item, "bench"))

    result = parse_file("pgaudit-stderr", path, on_event)
    if engine is not None:
        matches += len(engine.drain())
    return result.events / result.seconds, result.events, matches


def window_memory(users: int = 100_000, rules: int = 5) -> dict[str, float]:
    """Bytes per key-window for `users` users each active in `rules` quota windows (20 buckets of 3 min)."""
    import gc

    import orjson

    gc.collect()
    windows = [[SlidingSum() for _ in range(users)] for _ in range(rules)]
    t0 = 1_800_000_000_000_000
    for r, per_rule in enumerate(windows):
        for u, w in enumerate(per_rule):
            for k in range(4):  # four events in different buckets, each with its evidence id
                w.add(t0 + k * 180_000_000 + u, 1.0, 180_000_000, 20, f"{(r * users + u) * 4 + k:032x}")
    sample = windows[0][0]
    in_memory = sys.getsizeof(sample) + sys.getsizeof(sample.idx) + sys.getsizeof(sample.sums) + \
        sys.getsizeof(sample.evidence)
    saved = len(orjson.dumps(sample.to_state()))
    return {"keys": users * rules, "bytes_in_memory": in_memory, "bytes_saved": saved}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    path = ensure_log("pgaudit-stderr", args.lines)
    policy_files = ensure_policy()
    directory = policy_files["directory"]
    cases = {"parse + enrich": None, "+ detect (shipped policy)": shipped_policy(0, directory),
             "+ detect (shipped + 50 rules)": shipped_policy(50, directory)}
    rates: dict[str, list[float]] = {name: [] for name in cases}
    ratios: dict[str, list[float]] = {name: [] for name in cases}
    base: list[float] = []
    matches: dict[str, int] = {}
    for _ in range(args.runs):
        b = baseline(path)
        base.append(b)
        for name, policy in cases.items():
            rate, events, found = run_once(path, policy_files, policy)
            rates[name].append(rate)
            ratios[name].append(rate / b)
            matches[name] = found
    print(f"{path.name}: {events:,} events; re.match baseline {statistics.median(base):,.0f} lines/s "
          f"(min {min(base):,.0f}, max {max(base):,.0f})")
    for name in cases:
        r = rates[name]
        print(f"  {name:32} {statistics.median(r):>10,.0f} events/s (min {min(r):,.0f}, max {max(r):,.0f}); "
              f"ratio to re.match {statistics.median(ratios[name]):.3f}; matches {matches[name]:,}")
    mem = window_memory()
    print(f"windows: {mem['keys']:,} key-windows; {mem['bytes_in_memory']:.0f} bytes each in memory, "
          f"{mem['bytes_saved']:.0f} bytes each as saved")


if __name__ == "__main__":
    main()
