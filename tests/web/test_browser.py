"""End to end in headless Chromium (Debian's chromium package driven by Playwright for Python through
`executable_path`: no browser download) against the console served by uvicorn on loopback, over the scenario
store filled through the real pipeline: a responder signs in, finds the open incidents, opens one, follows its
evidence, acknowledges and resolves it, runs a search and a who-accessed (revealing names with a reason) and
signs off a report. A screenshot of each page is saved under $PII_GUARD_ARTIFACTS (default: the test's temp
dir); with PII_GUARD_UPDATE_DOCS=1 the incident page's also goes to docs/web-incident.png for the README.
The same pages are then read on a phone-sized screen, by keyboard, and with JavaScript off."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from starlette.applications import Starlette

from pii_guard.web.app import create_app
from pii_guard.web.server import WebThread, bind
from tests.conftest import require_binaries
from tests.reports.test_html_chromium import artifacts_dir
from tests.web.scenario import PASSWORDS, REPO, REPORT, Scenario

pytestmark = pytest.mark.realserver


@pytest.fixture
def app_served(scenario: Scenario) -> Iterator[tuple[str, Starlette]]:
    app = create_app(scenario.loaded.config, scenario.clock)
    server = WebThread(app, bind("127.0.0.1", 0), on_stop=app.state.ctx.close)
    server.start()
    yield f"http://127.0.0.1:{server.address[1]}", app
    server.stop()


@pytest.fixture
def served(app_served: tuple[str, Starlette]) -> str:
    return app_served[0]


@pytest.fixture
def browser() -> Iterator[Browser]:
    binary = require_binaries("chromium")["chromium"]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


class Shots:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.taken: list[Path] = []

    def take(self, page: Page, name: str) -> Path:
        path = self.directory / f"web-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)
        return path


def _sign_in(page: Page, base: str, name: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Account").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/incidents")


def test_a_responder_works_an_incident_end_to_end(served: str, browser: Browser, tmp_path: Path) -> None:
    base, shots = served, Shots(artifacts_dir(tmp_path))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    visited: list[str] = []
    page.on("framenavigated", lambda f: visited.append(f.url))

    page.goto(base + "/login")
    shots.take(page, "login")
    _sign_in(page, base, "rita")

    # the open incidents, the most urgent (a running notification clock) first
    rows = page.locator("table.incidents tbody tr")
    expect(rows).to_have_count(4)  # the unknown <script> user broke two rules with one request: one incident
    expect(rows.first.locator("th a")).to_have_text("INC-1")
    shots.take(page, "incidents")

    # open it: exposure, timeline, evidence and the query that finds it
    rows.first.locator("th a").click()
    expect(page).to_have_url(base + "/incidents/INC-1")
    expect(page.locator("h1")).to_contain_text("INC-1")
    expect(page.locator("#timeline")).to_contain_text("notification clock started")
    expect(page.locator("#evidence table tbody tr")).to_have_count(5)
    incident_shot = shots.take(page, "incident")
    if os.environ.get("PII_GUARD_UPDATE_DOCS") == "1":
        shutil.copy(incident_shot, REPO / "docs" / "web-incident.png")

    # follow the evidence: one event, then all of them through their query on the search page
    page.locator("#evidence table tbody tr").first.get_by_role("link", name="open").click()
    expect(page.locator("h1")).to_have_text("Event")
    expect(page.locator("dl.event")).to_contain_text("db:crm.public.customers")
    shots.take(page, "event")
    page.go_back()
    page.get_by_role("button", name="Search these 5 evidence event(s)").click()
    expect(page.locator("p.summary").first).to_contain_text("5 matching event(s)")
    shots.take(page, "evidence-search")
    page.goto(base + "/incidents/INC-1")

    # acknowledge, then resolve with a reason
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("h1 .status")).to_have_text("acknowledged")
    page.get_by_label("Resolve: what was found and done").fill("the export was the approved audit sample")
    page.get_by_role("button", name="Resolve", exact=True).click()
    expect(page.locator("h1 .status")).to_have_text("resolved")
    expect(page.locator("#timeline")).to_contain_text("the export was the approved audit sample")
    shots.take(page, "incident-resolved")

    # a search with a time histogram and paging
    page.get_by_role("link", name="Search", exact=True).click()
    page.get_by_label("Query").fill("user.name:alice AND event.action:(read OR export)")
    page.locator("select[name=range]").select_option("7d")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("p.summary").first).to_contain_text("16 matching event(s)")
    expect(page.locator("figure.histogram svg rect.bar")).not_to_have_count(0)
    expect(page.locator("table.events tbody tr")).to_have_count(5)
    page.get_by_role("link", name="Next").click()
    expect(page.locator("p.summary").first).to_contain_text("showing 6–10")
    shots.take(page, "search")

    # who accessed the customers table: pseudonyms, then names revealed with a reason
    page.get_by_role("link", name="Who accessed").click()
    page.get_by_label("object", exact=True).check()
    page.locator("#subject").fill("db:crm.public.customers")
    page.get_by_role("button", name="Ask").click()
    expect(page.locator("table.events")).to_contain_text("staff-")
    expect(page.locator("table.events")).not_to_contain_text("alice")
    page.get_by_label("Reveal names: reason (recorded in the audit)").fill("DSAR 2026-17")
    page.get_by_role("button", name="Reveal names").click()
    expect(page.locator("table.events")).to_contain_text("alice")
    shots.take(page, "who-accessed")

    # sign off the day's review report
    page.get_by_role("link", name="Reports").click()
    shots.take(page, "reports")
    page.get_by_role("link", name=REPORT).click()
    page.get_by_label("Sign off as rita: what was checked, what follows").fill("exports checked with the DPO")
    page.get_by_role("button", name="Sign off").click()
    expect(page.locator("ul.signoffs")).to_contain_text("exports checked with the DPO")
    shots.take(page, "report-signed")
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Reports").click()
    expect(page.locator("table")).to_contain_text("reviewed (rita)")

    nav.get_by_role("link", name="Status").click()
    expect(page.locator("h1")).to_have_text("Status")
    shots.take(page, "status")

    for url in visited:
        assert not any(secret in url for secret in ("alice", "crm", "DSAR")), url
    assert problems == []
    assert all(p.stat().st_size > 10_000 for p in shots.taken)
    context.close()


def test_phone_keyboard_and_no_javascript(served: str, browser: Browser, tmp_path: Path) -> None:
    shots = Shots(artifacts_dir(tmp_path))
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    _sign_in(page, served, "vera")
    for path in ("/incidents", "/incidents/INC-1", "/status"):
        page.goto(served + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)  # wide tables scroll inside their own region
    shots.take(page, "phone-status")
    page.goto(served + "/incidents/INC-1")
    shots.take(page, "phone-incident")

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    outline = page.evaluate("""(() => { const a = document.querySelector('nav a');
        a.focus(); return getComputedStyle(a).outlineStyle; })()""")
    assert outline != "none"
    phone.close()

    plain = browser.new_context(java_script_enabled=False)
    page = plain.new_page()
    _sign_in(page, served, "vera")
    expect(page.locator("table.incidents tbody tr")).to_have_count(4)
    page.get_by_role("link", name="Search", exact=True).click()
    page.get_by_label("Query").fill("*")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("p.summary").first).to_contain_text("59 matching event(s)")
    expect(page.locator("figure.histogram svg rect.bar")).not_to_have_count(0)
    shots.take(page, "search-no-js")
    plain.close()


def test_htmx_finishes_a_histogram_the_page_could_not(app_served: tuple[str, Starlette], browser: Browser) -> None:
    base, app = app_served
    app.state.ctx.inline_budget_s = -1.0  # the page counts no bucket itself
    page = browser.new_context().new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    _sign_in(page, base, "rita")
    page.get_by_role("link", name="Search", exact=True).click()
    page.get_by_label("Query").fill("user.name:alice")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("p.summary").first).to_contain_text("still counting")
    expect(page.locator("figure.histogram")).not_to_have_attribute("hx-get", re.compile("."))
    expect(page.locator("figure.histogram svg rect.bar")).not_to_have_count(0)
    expect(page.locator("figure.histogram table")).not_to_contain_text("not counted")
    expect(page.locator("figure.histogram svg title").first).not_to_contain_text("partly counted")
    expect(page.locator("p.summary").first).to_contain_text("26 matching event(s) from")  # the total, swapped in
    assert problems == []  # htmx runs under the strict CSP
