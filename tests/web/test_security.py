"""The console's defences, each tried the way an attacker would: actions without or with a stale CSRF token,
a viewer resolving, forged SSO and forwarding headers from an untrusted address, script tags from the logs,
password guessing, tampered cookies, and personal data leaking into URLs."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from pii_guard.web.accounts import Accounts
from pii_guard.web.app import create_app
from pii_guard.web.security import CSP
from tests.web.conftest import csrf_of, sign_in
from tests.web.scenario import PASSWORDS, REPORT, XSS_PATH, XSS_USER, Scenario
from tests.web.test_pages import audit_rows, incident, post

PROXY = "10.0.0.5"
SSO = ("\nweb:\n  trusted_proxies: [10.0.0.5]\n  proxy_user_header: X-Forwarded-User\n"
       "  proxy_role_header: X-Forwarded-Role\n")


def test_an_action_without_or_with_a_wrong_csrf_token_is_refused(client_for: Callable[..., TestClient],
                                                                 scenario: Scenario) -> None:
    client = client_for("rita")
    for data in ({"reason": "no token"}, {"reason": "stale", "csrf": "x" * 43}):
        answer = client.post("/incidents/INC-1/resolve", data=data)
        assert answer.status_code == 403
        assert "security token" in answer.text
    assert incident(scenario, "INC-1")[0] == "open"
    # another session's token does not work either
    other = client_for("dana")
    token = csrf_of(other.get("/incidents/INC-1").text)
    assert client.post("/incidents/INC-1/resolve", data={"reason": "x", "csrf": token}).status_code == 403
    assert incident(scenario, "INC-1")[0] == "open"


def test_login_needs_the_form_token_too(client_for: Callable[..., TestClient]) -> None:
    client = client_for()
    answer = client.post("/login", data={"account": "rita", "password": PASSWORDS["rita"]})
    assert answer.status_code == 403
    assert client.get("/incidents", follow_redirects=False).status_code == 303


def test_a_viewer_may_not_resolve(client_for: Callable[..., TestClient], scenario: Scenario) -> None:
    client = client_for("vera")
    answer = post(client, "/incidents/INC-1", "/incidents/INC-1/resolve", reason="not my call")
    assert answer.status_code == 403
    assert "viewer" in answer.text
    assert incident(scenario, "INC-1")[0] == "open"
    for action in ("acknowledge", "comment", "assign", "false-positive", "silence"):
        assert post(client, "/incidents/INC-1", f"/incidents/INC-1/{action}",
                    text="x", reason="x").status_code == 403


def test_signed_out_requests_go_to_the_login(client_for: Callable[..., TestClient]) -> None:
    client = client_for()
    for path in ("/incidents", "/incidents/INC-1", "/search", "/who-accessed", "/reports", "/status",
                 f"/reports/{REPORT}/file"):
        answer = client.get(path, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login"), path
    token = csrf_of(client.get("/login").text)
    assert client.post("/incidents/INC-1/resolve", data={"csrf": token, "reason": "x"}).status_code == 401


@pytest.fixture
def sso_app(scenario: Scenario) -> Iterator[Starlette]:
    from pii_guard.config.load import load_config

    scenario.config_path.write_text(scenario.config_path.read_text().replace("\nweb:\n", SSO, 1))
    application = create_app(load_config(scenario.config_path).config, scenario.clock)
    yield application
    application.state.ctx.close()


def test_proxy_headers_count_only_from_the_trusted_proxy(sso_app: Starlette) -> None:
    forged = {"X-Forwarded-User": "dana", "X-Forwarded-Role": "admin"}
    with TestClient(sso_app, base_url="https://testserver", client=("10.0.0.66", 4000), headers=forged) as outsider:
        answer = outsider.get("/incidents", follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    with TestClient(sso_app, base_url="https://testserver", client=(PROXY, 4000),
                    headers={"X-Forwarded-User": "sam"}) as proxied:
        page = proxied.get("/incidents")
        assert page.status_code == 200
        assert 'sam <span class="role">viewer</span>' in page.text  # proxy_default_role
        assert post(proxied, "/incidents/INC-1", "/incidents/INC-1/acknowledge").status_code == 403
    with TestClient(sso_app, base_url="https://testserver", client=(PROXY, 4000),
                    headers={"X-Forwarded-User": "rita", "X-Forwarded-Role": "responder"}) as responder:
        assert post(responder, "/incidents/INC-1", "/incidents/INC-1/acknowledge").status_code == 303


def test_a_forged_forwarded_for_does_not_dodge_the_login_limit(sso_app: Starlette) -> None:
    with TestClient(sso_app, base_url="https://testserver", client=("10.0.0.66", 4000)) as guesser:
        for n in range(3):
            token = csrf_of(guesser.get("/login").text)
            answer = guesser.post("/login", headers={"X-Forwarded-For": f"192.0.2.{n}"},
                                  data={"csrf": token, "account": f"nobody{n}", "password": "wrong guess"})
            assert answer.status_code == 401
        token = csrf_of(guesser.get("/login").text)
        answer = guesser.post("/login", headers={"X-Forwarded-For": "192.0.2.99"},
                              data={"csrf": token, "account": "rita", "password": PASSWORDS["rita"]})
        assert answer.status_code == 429


def test_login_is_rate_limited_per_address_and_per_account(client_for: Callable[..., TestClient],
                                                           scenario: Scenario) -> None:
    guesser = client_for(peer="192.0.2.10")
    for _ in range(3):
        token = csrf_of(guesser.get("/login").text)
        assert guesser.post("/login", data={"csrf": token, "account": "rita", "password": "guess"}).status_code == 401
    token = csrf_of(guesser.get("/login").text)
    blocked = guesser.post("/login", data={"csrf": token, "account": "rita", "password": PASSWORDS["rita"]})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    # the account is protected from every address, the address from trying other accounts
    elsewhere = client_for(peer="192.0.2.11")
    token = csrf_of(elsewhere.get("/login").text)
    assert elsewhere.post("/login", data={"csrf": token, "account": "rita",
                                          "password": PASSWORDS["rita"]}).status_code == 429
    token = csrf_of(guesser.get("/login").text)
    assert guesser.post("/login", data={"csrf": token, "account": "dana",
                                        "password": PASSWORDS["dana"]}).status_code == 429
    scenario.clock.advance(15 * 60 + 1)
    sign_in(elsewhere, "rita")
    assert elsewhere.get("/incidents").status_code == 200


def test_script_tags_from_the_logs_are_escaped_everywhere(client_for: Callable[..., TestClient]) -> None:
    client = client_for("dana")
    escaped_user = "&lt;script&gt;alert(1)&lt;/script&gt;"
    pages = {"list": client.get("/incidents?status=all").text}
    labels = sorted(set(re.findall(r'href="/incidents/(INC-\d+)"', pages["list"])))
    xss = [label for label in labels if escaped_user in client.get(f"/incidents/{label}").text]
    assert len(xss) == 1  # one request: an unknown user, and personal data from the internet: one incident
    assert "Also broken</dt><dd>role-access:unknown-user" in client.get(f"/incidents/{xss[0]}").text
    for label in xss:
        pages[label] = client.get(f"/incidents/{label}").text
    search = post(client, "/search", "/search", query="source.ip:10.9.9.9", range="7d")
    pages["search"] = client.get(search.headers["location"]).text
    event = re.search(r'href="(/events/[^"]+)"', pages["search"])
    assert event is not None
    pages["event"] = client.get(event.group(1)).text
    who = post(client, "/who-accessed", "/who-accessed", kind="object", subject="url:" + XSS_PATH, range="30d")
    pages["who"] = client.get(who.headers["location"]).text
    filtered = post(client, "/incidents", "/incidents", status="all", user=XSS_USER)
    pages["filter"] = client.get(filtered.headers["location"]).text
    for name, html in pages.items():
        assert "<script>alert" not in html, name
        assert "</script>." not in html, name
    for name in ("list", "search", "event", "filter", *xss):
        assert escaped_user in pages[name], name
    assert "&lt;script&gt;alert(2)&lt;/script&gt;.csv" in pages["who"]
    assert pages["who"].count("staff-") >= 1  # the user is a pseudonym until revealed


def test_security_headers_on_every_page(client_for: Callable[..., TestClient]) -> None:
    client = client_for("rita")
    for path in ("/login", "/incidents", "/incidents/INC-1", "/search", "/status", "/no-such-page",
                 "/static/app.css"):
        answer = client.get(path)
        headers = answer.headers
        assert headers["content-security-policy"] == CSP, path
        assert "script-src 'self'" in CSP
        assert "unsafe-inline" not in CSP
        assert "frame-ancestors 'none'" in CSP
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == ("public, max-age=86400" if path.startswith("/static") else "no-store")
    report = client.get(f"/reports/{REPORT}/file").headers["content-security-policy"]
    assert "sandbox" in report
    assert "script-src" not in report
    assert "default-src 'none'" in report


def test_pages_have_no_inline_script_or_style(client_for: Callable[..., TestClient]) -> None:
    client = client_for("dana")
    for path in ("/login", "/incidents", "/incidents/INC-1", "/search", "/who-accessed", "/reports", "/status"):
        html = client.get(path).text
        assert re.findall(r"<script(?![^>]*\bsrc=)", html) == [], path
        assert not any(inline in html for inline in ("<style", " style=", "onclick")), path


def test_session_cookie_is_secure_httponly_and_samesite(client_for: Callable[..., TestClient]) -> None:
    client = client_for()
    client.get("/login")
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"csrf": token, "account": "rita", "password": PASSWORDS["rita"]},
                         follow_redirects=False)
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-pii-guard=")
    for attribute in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower(), attribute
    assert "domain=" not in cookie.lower()


def test_a_tampered_cookie_or_a_changed_password_ends_the_session(client_for: Callable[..., TestClient],
                                                                  scenario: Scenario) -> None:
    client = client_for("rita")
    body, mac = client.cookies["__Host-pii-guard"].split(".")
    forged = base64.urlsafe_b64encode(base64.urlsafe_b64decode(body + "==").replace(b'"rita"', b'"dana"'))
    stranger = client_for()
    for cookie in (f"{forged.decode().rstrip('=')}.{mac}", f"{body}.{mac[:-2]}AA", f"{body}.{mac}"):
        answer = stranger.get("/incidents", headers={"cookie": f"__Host-pii-guard={cookie}"},
                              follow_redirects=False)
        assert answer.status_code == (200 if cookie == f"{body}.{mac}" else 303)
    assert client.get("/incidents").status_code == 200
    Accounts(scenario.loaded.config.state_path / "web-accounts").set_password("rita", "a new password 99")
    assert client.get("/incidents", follow_redirects=False).status_code == 303


def test_no_personal_data_in_urls(client_for: Callable[..., TestClient], scenario: Scenario) -> None:
    client = client_for("rita")
    secrets = ("alice", "bob", "crm.public.customers", "exports", "user.name")
    urls: list[str] = []
    search = post(client, "/search", "/search", query="user.name:alice AND pii.object:db\\:crm.public.customers")
    urls.append(search.headers["location"])
    who = post(client, "/who-accessed", "/who-accessed", kind="object", subject="db:crm.public.customers")
    urls.append(who.headers["location"])
    revealed = client.post(urls[-1] + "/reveal", data={"csrf": csrf_of(client.get(urls[-1]).text),
                                                       "reason": "DSAR 1"}, follow_redirects=False)
    urls.append(revealed.headers["location"])
    users = post(client, "/incidents", "/incidents", user="bob", status="all")
    urls.append(users.headers["location"])
    for url in list(urls):
        html = client.get(url).text
        urls += re.findall(r'(?:href|action|hx-get|src)="([^"]*)"', html)
    for path in ("/incidents", "/incidents/INC-1", "/status", "/reports"):
        urls += re.findall(r'(?:href|action|hx-get|src)="([^"]*)"', client.get(path).text)
    assert len(urls) > 50
    for url in urls:
        assert not any(s in url for s in secrets), url
    forms = re.findall(r'<form[^>]*method="(\w+)"', client.get("/search").text + client.get("/who-accessed").text)
    assert forms
    assert set(forms) == {"post"}
    assert audit_rows(scenario)
