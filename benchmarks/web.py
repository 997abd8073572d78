"""Web console page times over a large SQLite event store (the issue's target: every page under 300 ms on
10,000,000 events).

    python benchmarks/web.py                          # 10,000,000 events (benchmarks/search.py's store), 5 runs
    python benchmarks/web.py --events 200000 --runs 3 --json
    python benchmarks/web.py --db benchmarks/out/search-10000000-20261127-v2.db   # an existing store, read-only

The event store is benchmarks/search.py's (built once and cached in benchmarks/out/). A fresh state directory
gets 100 incidents whose evidence is real events of the store (a busy user's day each, up to 300 events;
matches stored as the live loop stores them), a registered review report and an admin account. The console is
served by uvicorn on loopback, exactly as `pii-guard web` serves it, with the clock's wall time set to the end of
the generated month (so "the last 7 days" holds 2.3 M events) and its monotonic time real (so the histogram's
time budget is real). Each page is fetched over HTTP by a signed-in client, once untimed and then --runs times;
the figures are the medians (min–max) of the whole round trip, including the page's row in the monitor's audit
(a synchronous=FULL commit). Histograms that do not finish within the page's budget are counted on their own
request: that request is measured apart, and is not a page.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import re
import sqlite3
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import Figure, machine
from benchmarks.search import DAY_US, DAYS, START_US, ensure_store
from pii_guard.config.load import load_config
from pii_guard.detection.engine import EngineChanges
from pii_guard.incidents.book import IncidentBook
from pii_guard.model import Match
from pii_guard.reports.period import day_period
from pii_guard.reports.signoff import file_sha256, register
from pii_guard.store.state import StateStore
from pii_guard.web.accounts import Accounts
from pii_guard.web.app import create_app
from pii_guard.web.server import WebThread, bind

TARGET_MS: Final = 300.0
PASSWORD: Final = "benchmark password"
END_US: Final = START_US + DAYS * DAY_US


class BenchClock:
    """Wall time fixed at the end of the generated month; monotonic time real (the histogram's budget)."""

    def now(self) -> float:
        return END_US / 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


def _config(tmp: Path, events: Path) -> Path:
    path = tmp / "pii-guard.yaml"
    path.write_text(f"state_dir: {tmp / 'state'}\nstore: {{type: sqlite, path: {events}}}\n"
                    "reports: {timezone: UTC}\nweb: {cookie_secure: false, page_size: 50}\n")
    return path


def _incidents(state_path: Path, events: Path, config_path: Path) -> int:
    """100 incidents, each a busy user's day of evidence (real event ids of the store)."""
    raw = sqlite3.connect(f"file:{events}?mode=ro", uri=True)
    loaded = load_config(config_path)
    state = StateStore(state_path, incidents=IncidentBook(loaded.config.incidents))
    made = 0
    try:
        for n in range(100):
            user = f"user{n * 5:05d}"
            day = START_US + (20 + n % 10) * DAY_US
            rows = raw.execute("SELECT id, ts, object, rows FROM events WHERE user_name = ? AND ts >= ? AND ts < ?"
                               " ORDER BY ts LIMIT 300", (user, day, day + DAY_US)).fetchall()
            matches = [(Match(f"bench-{event_id}", "bench-bulk-read", "bulk_export", "high", ts, user, ("support",),
                              obj, ("personal",), None, None, None, None, None, (event_id,),
                              f"{user} (support) read personal data ({obj})", event_rows=n_rows), "bench")
                       for event_id, ts, obj, n_rows in rows]
            made += state.commit(EngineChanges(), matches, [], END_US - (30 - n % 10) * DAY_US)
    finally:
        state.close()
        raw.close()
    return made


def _report(state_path: Path, reports_dir: Path) -> None:
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / "review-daily-2026-11-29.html"
    path.write_text("<!doctype html><title>Access review</title><p>benchmark stand-in</p>\n")
    state = StateStore(state_path)
    try:
        from datetime import date

        register(state.connection, day_period(date(2026, 11, 29), "UTC"), END_US, file_sha256(path), path,
                 "a stand-in report")
    finally:
        state.close()


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  _NoRedirect())

    def get(self, path: str) -> tuple[int, str, str]:
        try:
            with self.opener.open(self.base + path, timeout=600) as answer:
                return answer.status, answer.read().decode(), answer.headers.get("location", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), exc.headers.get("location", "")

    def post(self, path: str, fields: dict[str, str]) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(fields).encode()
        try:
            with self.opener.open(urllib.request.Request(self.base + path, data=data), timeout=600) as answer:
                return answer.status, answer.read().decode(), answer.headers.get("location", "")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), exc.headers.get("location", "")

    def csrf(self, path: str) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.get(path)[1])
        assert found, path
        return found.group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def timed(fn: Callable[[], tuple[int, str, str]], runs: int) -> tuple[Figure, str]:
    status, body, _ = fn()  # warm-up, untimed
    if status != 200:
        raise SystemExit(f"benchmark page answered {status}: {body[:500]}")
    figure = Figure("ms")
    for _ in range(runs):
        started = time.perf_counter()
        status, body, _ = fn()
        figure.add((time.perf_counter() - started) * 1000)
        assert status == 200
    return figure, body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=20261127)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--db", type=Path, default=None,
                        help="an event store made by benchmarks/search.py (any schema version), used read-only")
    args = parser.parse_args(argv)
    events = (args.db or ensure_store(args.events, args.seed)).resolve()
    with tempfile.TemporaryDirectory(prefix="pii-guard-web-bench-") as tmp_name:
        tmp = Path(tmp_name)
        config_path = _config(tmp, events)
        state_path = tmp / "state" / "state.db"
        incidents = _incidents(state_path, events, config_path)
        _report(state_path, tmp / "state" / "reports")
        config = load_config(config_path).config
        Accounts(tmp / "state" / "web-accounts").add("bench", "admin", PASSWORD)
        app = create_app(config, BenchClock())
        server = WebThread(app, bind("127.0.0.1", 0), on_stop=app.state.ctx.close)
        server.start()
        try:
            results = _measure(Client(f"http://127.0.0.1:{server.address[1]}"), events, args.runs)
        finally:
            server.stop()
    return _print(results, args, events, incidents)


def _search(client: Client, query: str, **fields: str) -> str:
    status, _, location = client.post("/search", {"csrf": client.csrf("/search"), "query": query, **fields})
    assert status == 303, (status, query)
    return location


def _measure(client: Client, events: Path, runs: int) -> list[dict[str, Any]]:
    client.post("/login", {"csrf": client.csrf("/login"), "account": "bench", "password": PASSWORD})
    raw = sqlite3.connect(f"file:{events}?mode=ro", uri=True)
    record = raw.execute("SELECT record_id FROM event_records LIMIT 1 OFFSET 1000").fetchone()[0]
    raw.close()
    day = START_US + 10 * DAY_US
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(day / 1e6))
    iso_end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((day + DAY_US) / 1e6))
    user_day = _search(client, "user.name:user00000 AND pii.categories:personal", **{"from": iso, "to": iso_end})
    week_all = _search(client, "*", range="7d")
    week_exports = _search(client, "event.action:export", range="7d")
    who = client.post("/who-accessed", {"csrf": client.csrf("/who-accessed"), "kind": "record", "subject": record,
                                        "range": "365d"})[2]
    event_link = re.search(r'href="(/events/[^"]+)"', client.get("/incidents/INC-1")[1])
    assert event_link
    pages: list[tuple[str, str]] = [
        ("incidents list", "/incidents"),
        ("incident detail (50 evidence events fetched)", "/incidents/INC-1"),
        ("event detail", event_link.group(1)),
        ("search: user + category, one day", user_day),
        ("search: * last 7 days (2.3 M events)", week_all),
        ("search: * last 7 days, page 20", week_all + "?page=20"),
        ("search: event.action:export last 7 days", week_exports),
        ("who-accessed: one record id, 365 days", who),
        ("reports index", "/reports"),
        ("status", "/status"),
    ]
    out: list[dict[str, Any]] = []
    for name, path in pages:
        figure, body = timed(lambda p=path: client.get(p), runs)  # type: ignore[misc]
        partial = "still counting" in body
        out.append({"page": name, "ms": figure.to_json(), "histogram_complete_in_page": not partial if
                    "/search/" in path else None, "kind": "page"})
    for name, path in (("histogram, * last 7 days (its own request)", week_all + "/histogram"),
                       ("histogram, event.action:export 7 days (its own request)", week_exports + "/histogram"),
                       ("CSV export, user + category one day", user_day + "/csv")):
        figure, _ = timed(lambda p=path: client.get(p), max(1, runs // 2))  # type: ignore[misc]
        out.append({"page": name, "ms": figure.to_json(), "histogram_complete_in_page": None, "kind": "deferred"})
    return out


def _print(results: list[dict[str, Any]], args: argparse.Namespace, events: Path, incidents: int) -> int:
    if args.json:
        print(json.dumps({"machine": machine(), "events": args.events, "database": events.name,
                          "incidents_matches": incidents, "target_ms": TARGET_MS, "results": results}, indent=2))
        return 0
    print(f"{args.events:,} events ({events.stat().st_size / 1e6:,.0f} MB), 100 incidents; medians of {args.runs} "
          f"runs (min–max), ms, HTTP round trip on loopback")
    for r in results:
        ms = r["ms"]
        verdict = ("ok" if ms["median"] <= TARGET_MS else "MISSED") if r["kind"] == "page" else "(not a page)"
        hist = "" if r["histogram_complete_in_page"] is None else (
            "  histogram complete" if r["histogram_complete_in_page"] else "  histogram finished by its own request")
        print(f"{r['page']:<58} {ms['median']:>9.1f}  ({ms['min']:.1f}–{ms['max']:.1f})  {verdict}{hist}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
