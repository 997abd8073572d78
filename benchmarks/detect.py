"""Detection throughput and window memory.

    python benchmarks/detect.py                       # 1,000,000 pgAudit lines, 10,000 users, 3 runs
    python benchmarks/detect.py --lines 200000 --runs 5
    python benchmarks/detect.py --sigma 200           # also: the shipped policy + 200 Sigma rules

For each run, over the same generated pgAudit stderr file (benchmarks/generate.py, seed 1):
- `re.match` baseline: a bare regex loop over the file's lines (the Python limit);
- parse + enrich: the pgaudit parser and the Enricher of the generated policy files;
- parse + enrich + detect: the same, through the detection engine with the shipped policy
  (rules/access-policy.yaml) alone, and with 50 extra rules (25 zone restrictions on single objects and 25
  quotas), each as events/s and as a ratio to the baseline of the same run.
With `--sigma N`: the same end to end with the shipped policy plus N Sigma rules (`sigma_rules`: the shipped
pack of rules/sigma and generated rules of the kinds a site writes), and detection alone (the events parsed
and enriched once beforehand; the engine's own rate, policy alone and policy + N Sigma rules, also per CPU
second), since the issue's target (200 rules + policy >= 50,000 events/s on one core) is on detection.
Everything runs with the interpreter settings of `run`, `ingest` and `replay` (pii_guard.interpreter).
Then the memory of windows: 100,000 users active in 5 windowed rules, bytes per tracked key-window (Python
objects as measured by sys.getsizeof, and as saved in the state database).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.harness import build_enricher, ensure_log, ensure_policy, parse_file  # noqa: E402
from pii_guard.compiled import describe_build  # noqa: E402
from pii_guard.detection.engine import DetectionEngine  # noqa: E402
from pii_guard.enrich.enricher import Enricher  # noqa: E402
from pii_guard.interpreter import pipeline_interpreter  # noqa: E402
from pii_guard.model import AccessEvent, EnrichedEvent  # noqa: E402
from pii_guard.policy.compile import compile_policy  # noqa: E402
from pii_guard.policy.context import Detector, PolicyContext  # noqa: E402
from pii_guard.policy.models import Policy  # noqa: E402
from pii_guard.rules.windows import SlidingSum  # noqa: E402
from pii_guard.sigma.detector import sigma_detectors  # noqa: E402
from pii_guard.sigma.ruleset import load_ruleset  # noqa: E402
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


_KINDS = ("statement", "user", "object", "web", "numeric", "regex", "correlation")
_WEIGHTS = (30, 20, 15, 20, 6, 4, 5)  # percent of the generated rules of each kind


def _generated_rule(i: int, kind: str) -> str:
    head = f"title: generated {kind} {i}\nname: gen-{kind}-{i}\nlevel: medium\n"
    pg = "logsource: {product: pii-guard, category: database_access}\n"
    if kind == "statement":  # a suspicious statement text: anchored by its literal
        return head + pg + (f"detection:\n  sel:\n    pii.statement|contains: ['pg_read_file_{i}(', 'lo_export_{i}(']\n"
                            "  condition: sel\n")
    if kind == "user":  # one account on some tables: anchored by equal values
        return head + pg + (f"detection:\n  sel:\n    user.name: [svc-{i}, contractor-{i}]\n"
                            f"    pii.object|startswith: 'db:crm.public.'\n  condition: sel\n")
    if kind == "object":  # a table family read or exported by anyone but its owner
        return head + pg + (f"detection:\n  sel:\n    pii.object: 'db:*.archive_{i}_*'\n"
                            "    event.action: [read, export]\n"
                            f"  filter:\n    user.name: owner-{i}\n  condition: sel and not filter\n")
    if kind == "web":  # web rules: they never meet database events
        return head + (f"logsource: {{category: webserver}}\ndetection:\n  sel:\n    cs-method: GET\n"
                       f"    c-useragent|contains: ['scanner-{i}/', 'fuzzer-{i} ']\n  condition: sel\n")
    if kind == "numeric":  # large reads of a category: no literal to index on
        return head + pg + (f"detection:\n  sel:\n    pii.rows|gt: {50_000 + i}\n    pii.categories: personal\n"
                            "  condition: sel\n")
    if kind == "regex":
        return head + pg + (f"detection:\n  sel:\n    pii.statement|re: 'pg_sleep\\(\\s*{i}\\d{{3}}\\s*\\)'\n"
                            "  condition: sel\n")
    return (f"title: many failed logins {i}\nname: gen-corr-{i}\nlevel: high\ncorrelation:\n  type: event_count\n"
            f"  rules: [gen-failed-{i}]\n  group-by: [user.name]\n  timespan: 10m\n  condition: {{gte: {20 + i}}}\n"
            f"---\ntitle: failed login {i}\nname: gen-failed-{i}\nlevel: informational\n"
            "logsource: {product: pii-guard, category: authentication}\n"
            "detection:\n  sel: {event.action: login, event.outcome: failure}\n  condition: sel\n")


def sigma_rules(n: int, out_dir: Path) -> Path:
    """A directory of n Sigma rules: the shipped pack (rules/sigma) and generated rules of every kind."""
    target = out_dir / f"sigma-{n}"
    if target.exists():
        for old in target.glob("*.yml"):
            old.unlink()
    target.mkdir(parents=True, exist_ok=True)
    pack = sorted((ROOT / "rules" / "sigma").glob("*.yml"))
    shipped = sum(len(load_ruleset([p]).rules) + len(load_ruleset([p]).correlations) for p in pack)
    for p in pack:
        (target / p.name).write_text(p.read_text())
    kinds = [k for k, w in zip(_KINDS, _WEIGHTS, strict=True) for _ in range(w)]
    made = shipped
    i = 0
    while made < n:
        kind = kinds[i % len(kinds)]
        (target / f"gen-{i:04d}.yml").write_text(_generated_rule(i, kind))
        made += 2 if kind == "correlation" else 1
        i += 1
    return target


def _detectors(policy: Policy, sigma: Path | None) -> list[Detector]:
    detectors: list[Detector] = list(compile_policy(policy).detectors)
    if sigma is not None:
        detectors += sigma_detectors(load_ruleset([sigma]), PolicyContext(policy.timezone, policy.defaults))
    return detectors


def detect_only(items: list[EnrichedEvent], policy: Policy, sigma: Path | None) -> tuple[float, float, int]:
    """Events/s (wall and per CPU second) of the engine alone over events parsed and enriched beforehand."""
    engine = DetectionEngine(_detectors(policy, sigma), policy.lateness)
    started, cpu = time.perf_counter(), time.process_time()
    matches = sum(len(engine.process(item, "bench")) for item in items) + len(engine.drain())
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    return len(items) / wall, len(items) / used, matches


def baseline(path: Path) -> float:
    pattern = re.compile(r"(\S+) (\S+) (\S+)")
    started = time.perf_counter()
    n = 0
    with path.open("rb") as fh:
        for line in iter_lines(fh):
            pattern.match(line.text)
            n += 1
    return n / (time.perf_counter() - started)


@dataclass
class PipelineRun:
    """One pass of parse + enrich (+ detect) over a file."""

    lines: int
    events: int
    seconds: float  # wall
    cpu_seconds: float  # this process
    matches: Counter[str] = field(default_factory=Counter)  # by rule id


def run_pipeline(fmt: str, path: Path, enricher: Enricher, policy: Policy | None,
                 sigma: Path | None = None) -> PipelineRun:
    """Parse `path` as `fmt`, enrich every event and (with a policy) run it through the detection engine;
    the engine is built before the clock starts."""
    engine = DetectionEngine(_detectors(policy, sigma), policy.lateness) if policy else None
    matches: Counter[str] = Counter()
    process = engine.process if engine is not None else None

    def on_event(event: AccessEvent) -> None:
        item = enricher(event)
        if process is not None:
            for found, _ in process(item, "bench"):
                matches[found.rule_id] += 1

    result = parse_file(fmt, path, on_event)
    if engine is not None:
        started, cpu = time.perf_counter(), time.process_time()
        for found, _ in engine.drain():
            matches[found.rule_id] += 1
        result.seconds += time.perf_counter() - started
        result.cpu_seconds += time.process_time() - cpu
    return PipelineRun(result.lines, result.events, result.seconds, result.cpu_seconds, matches)


def run_once(path: Path, policy_files: dict[str, Path], policy: Policy | None,
             sigma: Path | None = None) -> tuple[float, int, int]:
    run = run_pipeline("pgaudit-stderr", path, build_enricher(policy_files), policy, sigma)
    return run.events / run.seconds, run.events, sum(run.matches.values())


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
    parser.add_argument("--sigma", type=int, default=0, metavar="N", help="also the shipped policy + N Sigma rules")
    args = parser.parse_args()
    path = ensure_log("pgaudit-stderr", args.lines)
    policy_files = ensure_policy()
    directory = policy_files["directory"]
    shipped = shipped_policy(0, directory)
    sigma = sigma_rules(args.sigma, path.parent) if args.sigma else None
    cases: dict[str, tuple[Policy | None, Path | None]] = {
        "parse + enrich": (None, None), "+ detect (shipped policy)": (shipped, None),
        "+ detect (shipped + 50 rules)": (shipped_policy(50, directory), None)}
    if sigma is not None:
        cases[f"+ detect (shipped + {args.sigma} Sigma)"] = (shipped, sigma)
    rates: dict[str, list[float]] = {name: [] for name in cases}
    ratios: dict[str, list[float]] = {name: [] for name in cases}
    base: list[float] = []
    matches: dict[str, int] = {}
    for _ in range(args.runs):
        b = baseline(path)
        base.append(b)
        for name, (policy, rules) in cases.items():
            rate, events, found = run_once(path, policy_files, policy, rules)
            rates[name].append(rate)
            ratios[name].append(rate / b)
            matches[name] = found
    print(f"build: {describe_build()}")
    print(f"{path.name}: {events:,} events; re.match baseline {statistics.median(base):,.0f} lines/s "
          f"(min {min(base):,.0f}, max {max(base):,.0f})")
    for name in cases:
        r = rates[name]
        print(f"  {name:32} {statistics.median(r):>10,.0f} events/s (min {min(r):,.0f}, max {max(r):,.0f}); "
              f"ratio to re.match {statistics.median(ratios[name]):.3f}; matches {matches[name]:,}")
    if sigma is not None:
        enricher = build_enricher(policy_files)
        items: list[EnrichedEvent] = []
        parse_file("pgaudit-stderr", path, lambda event: items.append(enricher(event)))
        only = {"shipped policy": None, f"shipped policy + {args.sigma} Sigma rules": sigma}
        for name, rules in only.items():
            runs = [detect_only(items, shipped, rules) for _ in range(args.runs)]
            walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
            print(f"  detection only, {name:34} {statistics.median(walls):>9,.0f} events/s (min {min(walls):,.0f}, "
                  f"max {max(walls):,.0f}); {statistics.median(cpus):,.0f} per CPU second; matches {runs[0][2]:,}")
    mem = window_memory()
    print(f"windows: {mem['keys']:,} key-windows; {mem['bytes_in_memory']:.0f} bytes each in memory, "
          f"{mem['bytes_saved']:.0f} bytes each as saved")


if __name__ == "__main__":
    with pipeline_interpreter():  # as `run`, `ingest` and `replay` run the pipeline
        main()
