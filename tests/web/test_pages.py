"""The pages over the scenario store, in-process: what each shows, what it records in the monitor's audit,
and how roles change what is shown."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from pii_guard.incidents.query import load_incident, timeline
from pii_guard.reports.signoff import review_states
from pii_guard.search import audit
from pii_guard.search.pseudonym import Pseudonyms
from pii_guard.store.state import StateStore
from tests.web.conftest import csrf_of
from tests.web.scenario import REPORT, Scenario

LINKS = re.compile(r'href="(/incidents/INC-\d+)"')


def state_of(scenario: Scenario) -> StateStore:
    return StateStore(scenario.loaded.config.state_path / "state.db")


def audit_rows(scenario: Scenario) -> list[dict[str, Any]]:
    state = state_of(scenario)
    try:
        return audit.entries(state.connection)
    finally:
        state.close()


def incident(scenario: Scenario, label: str) -> tuple[str, list[dict[str, Any]]]:
    state = state_of(scenario)
    try:
        record = load_incident(state.connection, label)
        return record.status, timeline(state.connection, record.id)
    finally:
        state.close()


def post(client: TestClient, page: str, action: str, **fields: str) -> Any:
    return client.post(action, data={"csrf": csrf_of(client.get(page).text), **fields}, follow_redirects=False)


def test_incidents_list_most_urgent_first_and_recorded(client_for: Callable[..., TestClient],
                                                       scenario: Scenario) -> None:
    page = client_for("rita").get("/incidents")
    assert page.status_code == 200
    labels = list(dict.fromkeys(LINKS.findall(page.text)))
    assert labels[0] == "/incidents/INC-1"  # the only one with a running notification clock
    assert set(labels) == {f"/incidents/INC-{n}" for n in range(1, 5)}
    row = audit_rows(scenario)[-1]
    assert row["command"] == "web-incidents"
    assert row["actor"] == "web:rita"
    assert row["results"] == 4


def test_incident_filters_by_status_severity_rule_and_user(client_for: Callable[..., TestClient]) -> None:
    client = client_for("rita")
    low = client.get("/incidents?status=active&severity=high")
    assert "/incidents/INC-3" not in low.text  # bob's refused attempt is low
    by_rule = client.get("/incidents?rule=bulk-export-single")
    assert set(LINKS.findall(by_rule.text)) == {"/incidents/INC-2"}
    # a rule that joined another rule's incident (the same request broke both) finds that incident
    joined = client.get("/incidents?rule=role-access:unknown-user")
    assert set(LINKS.findall(joined.text)) == {"/incidents/INC-4"}
    answer = post(client, "/incidents", "/incidents", status="all", user="bob")
    location = answer.headers["location"]
    assert location.startswith("/incidents?view=")
    assert "bob" not in location
    assert set(LINKS.findall(client.get(location).text)) == {"/incidents/INC-3"}


def test_incident_page_shows_timeline_exposure_evidence_and_its_query(client_for: Callable[..., TestClient],
                                                                     scenario: Scenario, app: Starlette,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = app.state.ctx  # 4 evidence events a page, so that alice's 5 take two
    monkeypatch.setattr(ctx, "config", ctx.config.model_copy(
        update={"web": ctx.config.web.model_copy(update={"page_size": 4})}))
    client = client_for("rita")
    page = client.get("/incidents/INC-1").text
    assert "role-access:analyst" in page
    assert "407 rows" in page  # alice's SELECT count(*) names no sensitive column: it is not part of it
    assert "notification clock started" in page
    assert "page 1 of 2" in page
    events = re.findall(r'href="(/events/\d+/[0-9a-f]+)"', page)
    assert len(events) == 4
    query = re.search(r'name="query" value="(event\.id:\([^"]+\))"', page)
    assert query is not None
    second = client.get("/incidents/INC-1?evidence=2").text
    assert len(re.findall(r'href="/events/', second)) == 1
    assert audit_rows(scenario)[-1]["detail"] == {"incident": "INC-1", "evidence_page": 2}
    event = client.get(events[0])
    assert event.status_code == 200
    assert "db:crm.public.customers" in event.text
    assert audit_rows(scenario)[-1]["command"] == "web-event"


def test_evidence_query_finds_the_evidence(client_for: Callable[..., TestClient]) -> None:
    client = client_for("rita")
    page = client.get("/incidents/INC-1").text
    form = re.search(r'<form class="query" method="post" action="/search">(.*?)</form>', page, re.S)
    assert form is not None
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.group(1)))
    fields["query"] = fields["query"].replace("&#34;", '"')
    results = client.post("/search", data=fields)
    assert results.status_code == 200
    assert "5 matching event(s)" in results.text
    shown = set(re.findall(r'href="/events/\d+/([0-9a-f]+)"', results.text))
    assert shown == set(re.findall(r'href="/events/\d+/([0-9a-f]+)"', page))


def test_responder_acknowledges_comments_assigns_and_resolves(client_for: Callable[..., TestClient],
                                                              scenario: Scenario) -> None:
    client = client_for("rita")
    for action, fields in (("acknowledge", {}), ("comment", {"text": "called the analyst's manager"}),
                           ("assign", {"assignee": "dana"}), ("resolve", {"reason": "approved audit sample"})):
        answer = post(client, "/incidents/INC-1", f"/incidents/INC-1/{action}", **fields)
        assert answer.status_code == 303, answer
    status, entries = incident(scenario, "INC-1")
    assert status == "resolved"
    mine = [(e["actor"], e["kind"], e["text"]) for e in entries if e["actor"] == "rita"]
    assert mine == [("rita", "acknowledged", ""), ("rita", "comment", "called the analyst's manager"),
                    ("rita", "assigned", "dana"), ("rita", "resolved", "approved audit sample")]
    page = client.get("/incidents/INC-1").text
    assert "approved audit sample" in page
    assert "/incidents/INC-1/resolve" not in page  # no resolve form on a resolved incident
    state = state_of(scenario)
    try:
        assert all(r.broken_at is None for r in audit.verify_all(state.connection))
    finally:
        state.close()


def test_false_positive_and_silence(client_for: Callable[..., TestClient], scenario: Scenario) -> None:
    client = client_for("dana")
    assert post(client, "/incidents/INC-3", "/incidents/INC-3/false-positive",
                reason="test account").status_code == 303
    assert incident(scenario, "INC-3")[0] == "false_positive"
    answer = post(client, "/incidents/INC-2", "/incidents/INC-2/silence", rule="bulk-export-single", key="alice",
                  duration="4h", reason="nightly migration")
    assert answer.status_code == 303
    _, entries = incident(scenario, "INC-2")
    assert any("silenced as S-1" in str(e["text"]) for e in entries)
    refused = post(client, "/incidents/INC-3", "/incidents/INC-3/resolve", reason="again")
    assert refused.status_code == 400
    assert "already false_positive" in refused.text


def test_search_pages_histogram_and_csv(client_for: Callable[..., TestClient], scenario: Scenario) -> None:
    client = client_for("rita")
    answer = post(client, "/search", "/search", query="user.name:alice", range="7d")
    location = answer.headers["location"]
    assert re.fullmatch(r"/search/[A-Za-z0-9_-]+", location)
    first = client.get(location).text
    assert "26 matching event(s)" in first
    assert first.count('href="/events/') == 5
    assert 'rel="next"' in first
    assert '<svg viewBox="0 0 720 160" role="img"' in first
    assert "26 event(s)" in first  # a histogram bar's title
    sixth = client.get(location + "?page=6").text
    assert sixth.count('href="/events/') == 1
    assert 'rel="next"' not in sixth
    export = client.get(location + "/csv")
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0][:2] == ["@timestamp", "user.name"]
    assert len(rows) == 27
    commands = [(r["command"], r["detail"].get("page")) for r in audit_rows(scenario)[-3:]]
    assert commands == [("web-search", 1), ("web-search", 6), ("web-search-csv", None)]
    assert audit_rows(scenario)[-1]["detail"]["query"] == "user.name:alice"


def test_a_bad_query_is_refused_beside_the_query(client_for: Callable[..., TestClient]) -> None:
    client = client_for("rita")
    answer = post(client, "/search", "/search", query="user.nmae:bob", range="7d")
    assert answer.status_code == 400
    assert "did you mean" in answer.text
    assert "user.nmae:bob</textarea>" in answer.text


def test_histogram_fragment_counts_everything(client_for: Callable[..., TestClient]) -> None:
    client = client_for("rita")
    location = post(client, "/search", "/search", query="*", range="24h").headers["location"]
    fragment = client.get(location + "/histogram", headers={"hx-request": "true"})
    assert fragment.text.startswith('<figure class="histogram"')
    assert "hx-get" not in fragment.text  # complete: it does not ask again
    full = client.get(location + "/histogram").text
    assert "<html" in full
    assert "59 event(s) from" in full


def test_who_accessed_pseudonymizes_and_a_reveal_is_recorded(client_for: Callable[..., TestClient],
                                                             scenario: Scenario) -> None:
    client = client_for("rita")
    answer = post(client, "/who-accessed", "/who-accessed", kind="object", subject="db:crm.public.customers",
                  range="365d")
    location = answer.headers["location"]
    assert "crm" not in location
    page = client.get(location).text
    alias = Pseudonyms.for_state(scenario.loaded.config.state_path)("alice")
    assert alias is not None
    assert alias in page
    assert ">alice<" not in page
    detail = audit_rows(scenario)[-1]["detail"]
    assert detail["object"] == "db:crm.public.customers"
    assert detail["reveal"] is False
    revealed = client.post(location + "/reveal", data={"csrf": csrf_of(page), "reason": "DSAR 2026-17"})
    assert ">alice<" in revealed.text
    assert alias not in revealed.text
    row = audit_rows(scenario)[-1]
    assert row["command"] == "web-who-accessed"
    assert row["detail"]["reveal"] is True
    assert row["detail"]["reason"] == "DSAR 2026-17"


def test_who_accessed_by_path_glob(client_for: Callable[..., TestClient]) -> None:
    client = client_for("rita")
    page = post(client, "/who-accessed", "/who-accessed", kind="object", subject="url:/exports/*", range="30d")
    found = client.get(page.headers["location"]).text
    assert "url:/exports/customers.csv" in found


def test_viewer_sees_pseudonyms_and_may_not_reveal_or_act(client_for: Callable[..., TestClient],
                                                          scenario: Scenario) -> None:
    client = client_for("vera")
    alias = Pseudonyms.for_state(scenario.loaded.config.state_path)("alice")
    for path in ("/incidents", "/incidents/INC-1"):
        page = client.get(path).text
        assert "alice" not in page, path
        assert str(alias) in page
    assert "/incidents/INC-1/acknowledge" not in client.get("/incidents/INC-1").text
    location = post(client, "/search", "/search", query="user.name:alice", range="7d").headers["location"]
    results = client.get(location).text
    assert "26 matching event(s)" in results
    assert ">alice<" not in results
    who = post(client, "/who-accessed", "/who-accessed", kind="object", subject="db:crm.public.customers",
               range="30d").headers["location"]
    page = client.get(who).text
    assert "Reveal names" not in page
    refused = client.post(who + "/reveal", data={"csrf": csrf_of(page), "reason": "curious"})
    assert refused.status_code == 403


def test_handles_belong_to_whoever_made_them(client_for: Callable[..., TestClient]) -> None:
    rita, dana = client_for("rita"), client_for("dana")
    location = post(rita, "/search", "/search", query="user.name:alice").headers["location"]
    assert rita.get(location).status_code == 200
    assert dana.get(location).status_code == 404


def test_reports_index_open_and_sign_off(client_for: Callable[..., TestClient], scenario: Scenario) -> None:
    client = client_for("rita")
    index = client.get("/reports").text
    assert f'href="/reports/{REPORT}"' in index
    assert "awaiting review" in index
    report = client.get(f"/reports/{REPORT}").text
    assert "(the file matches)" in report
    opened = client.get(f"/reports/{REPORT}/file")
    assert opened.status_code == 200
    assert "<html" in opened.text.lower()
    assert audit_rows(scenario)[-1]["detail"] == {"report": REPORT}
    answer = client.post(f"/reports/{REPORT}/sign", data={"csrf": csrf_of(report), "note": "exports approved"},
                         follow_redirects=False)
    assert answer.status_code == 303
    state = state_of(scenario)
    try:
        states = review_states(state.connection, 0, 1)
    finally:
        state.close()
    assert [(s.report.name, s.status, s.signed[0].reviewer) for s in states] == [(REPORT, "reviewed", "rita")]
    assert "reviewed (rita)" in client.get("/reports").text
    viewer = client_for("vera")
    page = viewer.get(f"/reports/{REPORT}").text
    assert "Sign off as" not in page
    refused = viewer.post(f"/reports/{REPORT}/sign", data={"csrf": csrf_of(page), "note": "x"})
    assert refused.status_code == 403


def test_status_page(client_for: Callable[..., TestClient], scenario: Scenario) -> None:
    page = client_for("dana").get("/status").text
    assert "postgresql-15-main.log" in page
    assert "nginx-access.log" in page
    assert "role-access:analyst" in page
    assert "no match in 30 days" in page  # rules of the policy that never fired
    assert "Dead letters" in page
    viewer = client_for("vera").get("/status").text
    assert "may hold personal data" not in viewer
