"""The suite's query stages: search and who-accessed over a large store, and a month's review report."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks import report, search
from benchmarks.harness import OUT_DIR
from benchmarks.results import Row
from benchmarks.settings import Settings
from benchmarks.stages_pipeline import progress


def stage_search(s: Settings) -> list[Row]:
    path = search.ensure_store(s.search_events, s.seed)
    progress(f"search: {s.search_events:,} events in {path.name}")
    rows = []
    for case in search.measure(path, s.runs):
        target = case["case"] != "top-10 users by volume, one week"  # the targets: these two queries
        ours = case["pii_guard"]
        rows.append(Row("search", f"{case['case']}, {s.search_events:,} events", "ms", ours["runs"],
                        ratios=case["ratios"], baseline="hand-written SQL, same run",
                        target="≤ 200 ms" if target else "", goal=200.0 if target else None, higher_is_better=False,
                        note=f"`{case['query']}`: {case['results']:,} results; hand-written SQL "
                             f"{case['baseline_sql']['median']:,.1f} ms"))  # fmt: skip
    return rows


def stage_report(s: Settings) -> list[Row]:
    db = report.month_db(s.report_events, s.report_users, 7, OUT_DIR)
    what = f"{s.report_events:,} events, {s.report_users:,} users"
    cold = Row("report", f"review report for a month, cold day cache ({what})", "s", baseline="hand-written SQL "
               "GROUP BY over the month, same run", target="≤ 60 s (reports issue)", goal=60.0, higher_is_better=False)
    warm = Row("report", f"review report for a month, days cached by the daily jobs ({what})", "s",
               baseline=cold.baseline)  # fmt: skip
    for run in range(s.runs):
        progress(f"report run {run + 1}/{s.runs}")
        base = report.baseline_seconds(db)
        with tempfile.TemporaryDirectory(prefix="pii-guard-report-") as tmp:
            first, second, _ = report.run_once(db, Path(tmp))
        cold.values.append(first)
        cold.ratios.append(first / base)
        warm.values.append(second)
        warm.ratios.append(second / base)
        cold.note = f"HTML + CSV written; the hand-written SQL took {base:.1f} s in the last run"
    return [cold, warm]
