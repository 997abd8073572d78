"""The suite's in-process stages: parse + enrich per format, detection, and the peers on the same nginx file.

Each stage returns result rows (benchmarks/results.py); runs go round every figure in turn, so that a noisy
neighbour hits them alike, and every ratio is taken against a baseline measured in the same run.
"""

from __future__ import annotations

import gc
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Final

from benchmarks import detect, parse, peers
from benchmarks.harness import build_enricher, ensure_log, ensure_policy, parse_file
from benchmarks.results import ERROR, NOT_INSTALLED, Row
from benchmarks.settings import Settings
from pii_guard.model import EnrichedEvent

RE_BASELINE: Final = "re.match loop, same file (lines/s)"
GROUPDICT_BASELINE: Final = "re.match + groupdict loop, same file (lines/s)"

# The Python limit on a combined-format line: one precompiled regex with named groups, groupdict() per line.
COMBINED: Final = re.compile(
    r'(?P<ip>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\S+) '
    r'"(?P<referer>[^"]*)" "(?P<agent>[^"]*)"'
)


def groupdict_seconds(path: Path) -> float:
    """Seconds of the bare loop: binary readline, decode as the product does, match + groupdict()."""
    match = COMBINED.match
    started = time.perf_counter()
    with path.open("rb") as fh:
        for raw in fh:
            m = match(raw.decode("utf-8", "backslashreplace"))
            if m is not None:
                m.groupdict()
    return time.perf_counter() - started


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- parse + enrich ------------------------------------------------------------------------------------------

PARSE_TARGETS: Final = {"nginx": (200_000.0, 0.40), "pgaudit-stderr": (150_000.0, None)}


def stage_parse(s: Settings) -> list[Row]:
    policy = ensure_policy(s.seed)
    enricher = build_enricher(policy)
    reports = []
    for fmt in s.formats:
        path = ensure_log(fmt, s.lines, s.seed)
        reports.append(parse.FormatReport(fmt, path, bytes=path.stat().st_size))
    nginx_base: list[float] = []
    for run in range(s.runs):
        for r in reports:
            progress(f"parse run {run + 1}/{s.runs}: {r.name}")
            r.measure(enricher)
            if r.name == "nginx":
                gc.collect()
                nginx_base.append(groupdict_seconds(r.path))
    rows = []
    for r in reports:
        f = r.figures
        goal, ratio_goal = PARSE_TARGETS.get(r.name, (None, None))
        ratios, baseline = f["ratio"].values, RE_BASELINE
        if r.name == "nginx":  # the ratio target is against a regex + groupdict loop
            ratios = [lps / (r.lines / base) for base, lps in zip(nginx_base, f["enrich_lines"].values, strict=True)]
            baseline = GROUPDICT_BASELINE
        target = {"nginx": "≥ 200,000 and ≥ 0.40 of re + groupdict", "pgaudit-stderr": "≥ 150,000"}.get(r.name, "")
        rows.append(Row(
            "parse", f"parse + enrich, {r.name}", "events/s", f["enrich"].values, f["enrich_cpu"].values, ratios,
            baseline, target, goal, ratio_goal,
            note=f"{r.lines:,} lines → {r.events:,} events; baseline {_median_text(f['baseline'].values)} lines/s"
            + (f", re + groupdict {_median_text([r.lines / b for b in nginx_base])} lines/s" if nginx_base and
               r.name == "nginx" else "")
            + (f"; parse failures {sum(r.failures.values()):,}" if r.failures else ""),
            extra={"figures": {k: v.to_json() for k, v in f.items()}, "lines": r.lines, "events": r.events},
        ))  # fmt: skip
    return rows


def _median_text(values: list[float]) -> str:
    import statistics

    return f"{statistics.median(values):,.0f}" if values else "–"


# -- detection -----------------------------------------------------------------------------------------------


def stage_detect(s: Settings) -> list[Row]:
    policy_files = ensure_policy(s.seed)
    enricher = build_enricher(policy_files)
    shipped = detect.shipped_policy(0, policy_files["directory"])
    sigma_dir = detect.sigma_rules(s.sigma, ensure_log("nginx", s.lines, s.seed).parent)
    cases = [  # (name, format, sigma rules?, target text, goal)
        ("parse + enrich + detect, shipped policy, nginx", "nginx", None, "≥ 150,000", 150_000.0),
        ("parse + enrich + detect, shipped policy, pgaudit-stderr", "pgaudit-stderr", None, "≥ 120,000", 120_000.0),
        (f"parse + enrich + detect, shipped policy + {s.sigma} Sigma rules, pgaudit-stderr", "pgaudit-stderr",
         sigma_dir, "≥ 50,000", 50_000.0),
    ]  # fmt: skip
    paths = {fmt: ensure_log(fmt, s.lines, s.seed) for fmt in ("nginx", "pgaudit-stderr")}
    rows = {name: Row("detect", name, "events/s", baseline=RE_BASELINE, target=target, goal=goal)
            for name, _, _, target, goal in cases}  # fmt: skip
    matches: dict[str, int] = {}
    for run in range(s.runs):
        base = {}
        for fmt, path in paths.items():
            gc.collect()
            lines, seconds = parse.baseline(path)
            base[fmt] = lines / seconds
        for name, fmt, sigma, _, _ in cases:
            progress(f"detect run {run + 1}/{s.runs}: {name}")
            gc.collect()
            done = detect.run_pipeline(fmt, paths[fmt], enricher, shipped, sigma)
            row = rows[name]
            row.values.append(done.events / done.seconds)
            row.cpu.append(done.events / done.cpu_seconds)
            row.ratios.append(done.lines / done.seconds / base[fmt])
            matches[name] = sum(done.matches.values())
            row.note = f"{done.events:,} events, {matches[name]:,} matches"
    out = list(rows.values())
    out += detection_only(s, paths["pgaudit-stderr"], enricher, shipped, sigma_dir)
    return out


def detection_only(s: Settings, path: Path, enricher: object, shipped: object, sigma_dir: Path) -> list[Row]:
    """The engine alone over events parsed and enriched beforehand (what detection itself costs)."""
    items: list[EnrichedEvent] = []
    parse_file("pgaudit-stderr", path, lambda event: items.append(enricher(event)))  # type: ignore[operator]
    rows = []
    for label, rules in (("shipped policy", None), (f"shipped policy + {s.sigma} Sigma rules", sigma_dir)):
        row = Row("detect", f"detection alone, {label}, pgaudit-stderr events", "events/s",
                  note=f"{len(items):,} events parsed and enriched beforehand, untimed")  # fmt: skip
        for run in range(s.runs):
            progress(f"detect run {run + 1}/{s.runs}: detection alone, {label}")
            gc.collect()
            wall, cpu, _ = detect.detect_only(items, shipped, rules)  # type: ignore[arg-type]
            row.values.append(wall)
            row.cpu.append(cpu)
        rows.append(row)
    return rows


# -- peers ---------------------------------------------------------------------------------------------------


def stage_peers(s: Settings) -> list[Row]:
    path = ensure_log("nginx", s.peer_lines, s.seed)
    policy_files = ensure_policy(s.seed)
    enricher = build_enricher(policy_files)
    shipped = detect.shipped_policy(0, policy_files["directory"])
    expected = peers.expected_matches(path)
    wc = Row("peers", "wc -l (the machine's limit)", "lines/s")
    loop = Row("peers", "re.match + groupdict loop (the Python limit)", "lines/s", baseline="wc -l, same run")
    ours = Row("peers", "pii-guard parse + enrich + detect, shipped policy", "lines/s", baseline=GROUPDICT_BASELINE)
    peer_rows: dict[str, Row] = {}
    installed = []
    for peer in peers.PEERS:
        goal = 20.0 if peer.name == "fail2ban-regex" else 1.0 if peer.name in ("SEC", "mtail", "GoAccess") else None
        target = {20.0: "pii-guard ≥ 20x", 1.0: "pii-guard faster"}.get(goal or 0.0, "")
        row = Row("peers", f"{peer.name}, equivalent rules", "lines/s", baseline="pii-guard ÷ this, same run",
                  target=target, ratio_goal=goal, extra={"work": peer.work})  # fmt: skip
        why = peer.missing()
        if why:
            row.status, row.note = NOT_INSTALLED, why
        else:
            installed.append(peer)
        peer_rows[peer.name] = row
    lines = 0
    for run in range(s.runs):
        progress(f"peers run {run + 1}/{s.runs}: wc -l, re + groupdict, pii-guard")
        lines, seconds = parse.wc_lines(path)
        wc.values.append(lines / seconds)
        gc.collect()
        loop_rate = lines / groupdict_seconds(path)
        loop.values.append(loop_rate)
        loop.ratios.append(loop_rate / wc.values[-1])
        gc.collect()
        done = detect.run_pipeline("nginx", path, enricher, shipped)
        rate = done.lines / done.seconds
        ours.values.append(rate)
        ours.cpu.append(done.lines / done.cpu_seconds)
        ours.ratios.append(rate / loop_rate)
        found = done.matches.get(peers.RULE, 0)
        ours.note = (f"{done.events:,} events, {sum(done.matches.values()):,} matches of every rule, {found:,} of "
                     f"{peers.RULE} (the rule every peer runs; {expected:,} expected); in-process, start-up not "
                     "counted")  # fmt: skip
        for peer in installed:
            progress(f"peers run {run + 1}/{s.runs}: {peer.name}")
            row = peer_rows[peer.name]
            if row.status != "ok":
                continue
            try:
                with tempfile.TemporaryDirectory(prefix="pii-guard-peer-") as tmp:
                    got = peer.run(path.resolve(), Path(tmp))
            except Exception as exc:  # a peer that fails is reported, not guessed
                row.status, row.note = ERROR, f"{type(exc).__name__}: {str(exc)[:300]}"
                continue
            row.values.append(lines / got.seconds)
            row.cpu.append(lines / got.cpu_seconds)
            row.ratios.append(rate / (lines / got.seconds))
            row.note = f"{peer.work}; found {_found(got.matches)}; start-up included"
    return [wc, loop, ours, *peer_rows.values()]


def _found(matches: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in matches.items())
