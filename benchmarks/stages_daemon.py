"""The suite's stages that run pii-guard as a command or a daemon: `pii-guard ingest`, the daemon tailing a
file, write → match latency, the idle daemon, and window memory (a fresh process per run)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

from benchmarks import latency, parse, store
from benchmarks.harness import ensure_log, ensure_policy
from benchmarks.results import NOT_BUILT, Row
from benchmarks.settings import Settings
from benchmarks.stages_pipeline import RE_BASELINE, progress

INGEST_FORMATS: Final = ("nginx", "pgaudit-stderr")


def stage_ingest(s: Settings) -> list[Row]:
    policy = ensure_policy(s.seed)
    rows: list[Row] = []
    logs = {fmt: ensure_log(fmt, s.lines, s.seed) for fmt in INGEST_FORMATS}
    rate = {fmt: Row("ingest", f"pii-guard ingest into SQLite (indexes on), {fmt}", "events/s", baseline=RE_BASELINE,
                     target="≥ 60,000 (stretch 80,000)", goal=60_000.0) for fmt in INGEST_FORMATS}  # fmt: skip
    rss = {fmt: Row("ingest", f"pii-guard ingest, peak RSS, {fmt}", "MiB", target="≤ 120 MB", goal=120 / 1.048576,
                    higher_is_better=False) for fmt in INGEST_FORMATS}  # fmt: skip
    for run in range(s.runs):
        for fmt, log in logs.items():
            progress(f"ingest run {run + 1}/{s.runs}: {fmt}")
            gc.collect()
            lines, base_seconds = parse.baseline(log)
            with tempfile.TemporaryDirectory(prefix="pii-guard-bench-") as tmp:
                done = store.ingest_measure(Path(tmp), fmt, log, policy)
            events = int(done.summary["events"])
            row = rate[fmt]
            row.values.append(float(done.summary["events_per_second"]))
            row.ratios.append(base_seconds / float(done.summary["seconds"]))
            row.note = (f"{lines:,} lines → {events:,} events; events/s as the command reports them (reading to "
                        f"the last commit); the whole command took {done.wall:.1f} s wall, {done.cpu:.1f} s CPU "
                        "(start-up and the 10,000-user directory loaded first)")  # fmt: skip
            rss[fmt].values.append(done.peak_rss_kib / 1024)
            row.extra = {"summary": {k: v for k, v in done.summary.items() if k != "store"}}  # no temp paths
    for fmt in INGEST_FORMATS:
        rows += [rate[fmt], rss[fmt]]
    rows.append(Row("ingest", "pii-guard ingest with a full-text index", "events/s", status=NOT_BUILT,
                    target="≥ 25,000 (≥ 40,000 off the hot path)", note="the SQLite store has no full-text index"))
    return rows


def stage_daemon(s: Settings) -> list[Row]:
    mixes = {"flood": "2 in 3 lines a match (a forbidden role reading)", "normal": "normal work, 1 in 50 a match"}
    rates = {mix: Row("daemon", f"daemon tailing a file, {s.daemon_lines:,} pgAudit lines appended at once, "
                                f"shipped policy, {what}", "lines/s", baseline="re.match loop, same file (lines/s)",
                      target="≥ 60,000", goal=60_000.0) for mix, what in mixes.items()}  # fmt: skip
    peaks = {mix: Row("daemon", f"daemon peak RSS while catching up, {mix}", "MiB", target="≤ 120 MB",
                      goal=120 / 1.048576, higher_is_better=False) for mix in mixes}  # fmt: skip
    for run in range(s.runs):
        for mix in mixes:
            progress(f"daemon run {run + 1}/{s.runs}: {mix}")
            done = latency.throughput_run(s.daemon_lines, mix)
            rate = rates[mix]
            rate.values.append(done["lines_per_s"])
            rate.cpu.append(done["lines_per_cpu_s"])
            rate.ratios.append(done["ratio_to_re"])
            peaks[mix].values.append(done["peak_rss_mb"])
            rate.note = (f"write → every event committed (events table counted every 0.2 s); wc -l "
                         f"{done['wc_lines_per_s']:,} lines/s, ratio to it {done['ratio_to_wc']:.5f}")
    return [row for mix in mixes for row in (rates[mix], peaks[mix])]


def stage_latency(s: Settings) -> list[Row]:
    goals = {5_000: ((5.0, "≤ 5 ms"), (50.0, "≤ 50 ms")), 20_000: (None, (250.0, "≤ 250 ms"))}
    rows: dict[tuple[int, str], Row] = {}
    for rate in s.rates:
        p50_goal, p99_goal = goals.get(rate, (None, None))
        for q, goal in (("p50", p50_goal), ("p99", p99_goal)):
            rows[(rate, q)] = Row("latency", f"write → committed match at {rate:,} lines/s, {q}", "ms",
                                  target=goal[1] if goal else "", goal=goal[0] if goal else None,
                                  higher_is_better=False)  # fmt: skip
    for run in range(s.runs):
        for rate in s.rates:
            progress(f"latency run {run + 1}/{s.runs}: {rate:,} lines/s")
            done = latency.latency_run(rate, s.latency_seconds)
            for q in ("p50", "p99"):
                rows[(rate, q)].values.append(done[f"{q}_ms"])
            rows[(rate, "p50")].note = (
                f"pgAudit lines, 1 in 50 reads a honeytoken (rules/); achieved {done['achieved_rate']:,} lines/s, "
                f"daemon CPU {done['cpu_percent']}%, {done['matches']:,} matches timed, {done['missing']:,} not "
                f"seen within 30 s; {s.latency_seconds:g} s of writing per run"
            )
    return list(rows.values())


def stage_idle(s: Settings) -> list[Row]:
    cpu = Row("idle", "idle daemon CPU", "%", target="≤ 1%", goal=1.0, higher_is_better=False,
              note=f"{s.idle_seconds:g} s per run, after 1 s of settling")
    rss = Row("idle", "idle daemon RSS", "MiB", target="≤ 60 MB", goal=60 / 1.048576, higher_is_better=False)
    for run in range(s.runs):
        progress(f"idle run {run + 1}/{s.runs}")
        done = latency.idle_run(s.idle_seconds)
        cpu.values.append(done["idle_cpu_percent"])
        rss.values.append(done["idle_rss_mb"])
    return [cpu, rss]


def stage_memory(s: Settings) -> list[Row]:
    what = f"{s.window_users:,} users in {s.window_rules} windowed rules"
    mem = Row("memory", f"bytes per tracked key-window in memory, {what}", "bytes", target="≤ 500 bytes",
              goal=500.0, higher_is_better=False)
    saved = Row("memory", f"bytes per key-window saved to the state database, {what}", "bytes")
    rss = Row("memory", f"RSS of the process holding them, {what}", "MiB")
    script = Path(__file__).resolve().parent / "memory.py"
    for run in range(s.runs):
        progress(f"memory run {run + 1}/{s.runs}")
        out = subprocess.run([sys.executable, str(script), "--users", str(s.window_users), "--rules",
                              str(s.window_rules), "--json"], check=True, capture_output=True, text=True).stdout
        done = json.loads(out)
        mem.values.append(done["bytes_in_memory"])
        saved.values.append(done["bytes_saved"])
        rss.values.append(done["rss_mib"])
        mem.note = (f"{done['key_windows']:,} key-windows; RSS growth ÷ key-windows in a fresh process "
                    "(keys, windows and the engine's indexes)")
    return [mem, saved, rss]
