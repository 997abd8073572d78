"""The signed webhook against a real local receiver (pytest-httpserver): the documented body and headers, the
signature checked with the verification code from docs/webhook.md, and each answer mapped to an outcome."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pii_guard import __version__
from pii_guard.config.models import WebhookConfig
from pii_guard.config.secrets import Secret
from pii_guard.notify.base import Delivered, Failed, Retry
from pii_guard.notify.http import retry_after_s
from pii_guard.notify.webhook import WebhookNotifier
from tests.notify_peers.conftest import MakeNote

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhook.md"
SECRET = "whsec-0123456789abcdef-do-not-leak"
NOW = 1_714_564_800.0


def doc_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


@pytest.fixture(scope="module")
def verify() -> Callable[..., bool]:
    """The receiver's verification function exactly as the operator documentation shows it."""
    namespace: dict[str, Any] = {}
    exec(doc_blocks("python")[0], namespace)
    return namespace["verify_pii_guard"]  # type: ignore[no-any-return]


def notifier(url: str, secret: str | None = SECRET, *, timeout_s: float = 5.0,
             clock: Callable[[], float] = time.time) -> WebhookNotifier:
    config = WebhookConfig(url=url, timeout_s=timeout_s)
    return WebhookNotifier(config, Secret(secret) if secret is not None else None, clock=clock)


def answer(httpserver: HTTPServer, status: int, body: str = "", headers: dict[str, str] | None = None) -> None:
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data(body, status=status,
                                                                                 headers=headers or {})


def received(httpserver: HTTPServer) -> Request:
    assert len(httpserver.log) == 1
    return httpserver.log[0][0]


# -- the body and the headers -----------------------------------------------------------------------------


def test_change_body_and_headers(httpserver: HTTPServer, note: MakeNote) -> None:
    answer(httpserver, 200)
    n = note("resolved", 7, actor="alice", text='approved by the DPO: "GDPR-17"\nsecond line', previous="open",
             status="resolved", assignee="alice", target="webhook")
    outcome = notifier(httpserver.url_for("/hook"), clock=lambda: NOW).send(n, None)

    assert outcome == Delivered(None)
    req = received(httpserver)
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["User-Agent"] == f"pii-guard/{__version__}"
    assert req.headers["X-PII-Guard-Delivery"] == "7"
    assert req.headers["X-PII-Guard-Timestamp"] == "1714564800"
    assert req.headers["X-PII-Guard-Signature"].startswith("v1=")
    body = json.loads(req.get_data())
    assert body == {
        "schema_version": 1,
        "kind": "change",
        "delivery_id": 7,
        "target": "webhook",
        "route": "",
        "change": {"kind": "resolved", "actor": "alice", "text": 'approved by the DPO: "GDPR-17"\nsecond line',
                   "previous": "open", "at": "2024-05-01T12:00:00.000007Z"},
        "incident": {
            "id": "INC-42",
            "title": "bob read 12000 rows of customers outside office hours",
            "rule_id": "bulk-read-after-hours",
            "rule_kind": "volume",
            "rules": ["bulk-read-after-hours"],
            "severity": "high",
            "status": "resolved",
            "assignee": "alice",
            "user": "bob",
            "roles": ["support"],
            "department": "Customer Care",
            "source_ips": ["10.1.2.3"],
            "zones": ["office"],
            "objects": ["db:crm.public.customers"],
            "categories": ["contact", "financial"],
            "exposure": {"events": 3, "rows": 12000, "records": 0, "files": 0, "bytes": 0, "objects": 1,
                         "attempts": 0, "honeytoken": False},
            "first_evidence_at": "2024-05-01T11:00:00.000000Z",
            "last_evidence_at": "2024-05-01T11:59:00.000000Z",
            "opened_at": "2024-05-01T11:01:40.000000Z",
            "deadline": "2024-05-04T12:00:00.000000Z",
            "evidence_count": 3,
            "inspect": "pii-guard incidents show INC-42",
        },
    }


def _shape(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {key: _shape(value) for key, value in doc.items()}
    return type(doc).__name__ if doc is not None else "null"


def test_the_documented_example_has_the_real_shape_and_every_field_is_described(
        httpserver: HTTPServer, note: MakeNote) -> None:
    answer(httpserver, 204)
    notifier(httpserver.url_for("/hook")).send(note("resolved", 1, previous="acknowledged", assignee="alice"), None)
    real = json.loads(received(httpserver).get_data())
    example = next(json.loads(b) for b in doc_blocks("json") if '"kind": "change"' in b)
    assert _shape(example) == _shape(real)
    text = DOC.read_text(encoding="utf-8")
    for key in real:
        assert f"`{key}`" in text
    for section in ("change", "incident"):
        for key in real[section]:
            assert f"`{section}.{key}`" in text, f"{section}.{key} is not documented"
    for key in real["incident"]["exposure"]:
        assert f"`{key}`" in text


def test_null_fields_and_no_deadline(httpserver: HTTPServer, note: MakeNote) -> None:
    answer(httpserver, 200)
    notifier(httpserver.url_for("/hook")).send(note("opened", 3, deadline_us=None, user=None, department=None), None)
    incident = json.loads(received(httpserver).get_data())["incident"]
    assert incident["deadline"] is None
    assert incident["user"] is None
    assert incident["department"] is None


def test_digest_is_one_post_with_every_entry(httpserver: HTTPServer, note: MakeNote) -> None:
    answer(httpserver, 200)
    answer(httpserver, 200)
    notes = [note("opened", 11, id="INC-1"), note("opened", 12, id="INC-2")]
    hook = notifier(httpserver.url_for("/hook"))
    assert hook.digest_after is None
    assert hook.digest(notes) == Delivered(None)
    assert hook.digest(list(reversed(notes))) == Delivered(None)
    first, second = (r for r, _ in httpserver.log)
    body = json.loads(first.get_data())
    assert body["schema_version"] == 1
    assert body["kind"] == "digest"
    assert [(e["delivery_id"], e["incident"]["id"]) for e in body["notifications"]] == [(11, "INC-1"), (12, "INC-2")]
    assert set(body["notifications"][0]) == {"delivery_id", "target", "route", "change", "incident"}
    delivery = first.headers["X-PII-Guard-Delivery"]
    assert re.fullmatch(r"digest-[0-9a-f]{32}", delivery)
    assert second.headers["X-PII-Guard-Delivery"] == delivery  # same rows, same id


def test_find_delivered_cannot_ask_a_webhook(note: MakeNote) -> None:
    assert notifier("http://127.0.0.1:9/hook").find_delivered(note()) is None


# -- the signature --------------------------------------------------------------------------------------


def verifying_receiver(httpserver: HTTPServer, verify: Callable[..., bool], key: str) -> None:
    """A receiver written from the documentation: 401 for a bad or stale signature, else 200."""

    def handle(request: Request) -> Response:
        ok = verify(key.encode(), request.headers.get("X-PII-Guard-Timestamp", ""),
                    request.headers.get("X-PII-Guard-Signature", ""), request.get_data())
        return Response("ok" if ok else "bad signature", status=200 if ok else 401)

    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_handler(handle)


def test_signature_verifies_with_the_documented_scheme(httpserver: HTTPServer, note: MakeNote,
                                                       verify: Callable[..., bool]) -> None:
    verifying_receiver(httpserver, verify, SECRET)
    assert notifier(httpserver.url_for("/hook")).send(note(), None) == Delivered(None)


def test_signature_fails_with_a_wrong_key(httpserver: HTTPServer, note: MakeNote,
                                          verify: Callable[..., bool]) -> None:
    verifying_receiver(httpserver, verify, "another key")
    outcome = notifier(httpserver.url_for("/hook")).send(note(), None)
    assert isinstance(outcome, Failed)
    assert "HTTP 401" in outcome.reason
    assert "bad signature" in outcome.reason


def test_the_documented_check_rejects_tampering_and_old_timestamps(httpserver: HTTPServer, note: MakeNote,
                                                                   verify: Callable[..., bool]) -> None:
    answer(httpserver, 200)
    notifier(httpserver.url_for("/hook"), clock=lambda: NOW).send(note(), None)
    req = received(httpserver)
    ts, sig, body = req.headers["X-PII-Guard-Timestamp"], req.headers["X-PII-Guard-Signature"], req.get_data()
    key = SECRET.encode()
    assert verify(key, ts, sig, body, now=NOW + 10)
    assert not verify(key, ts, sig, body, now=NOW + 301)  # replayed later
    assert not verify(key, ts, sig, body + b" ", now=NOW)
    assert not verify(key, str(int(ts) + 1), sig, body, now=NOW)
    assert not verify(key, "soon", sig, body, now=NOW)
    assert not verify(b"wrong", ts, sig, body, now=NOW)


def test_no_secret_no_signature(httpserver: HTTPServer, note: MakeNote) -> None:
    answer(httpserver, 200)
    assert notifier(httpserver.url_for("/hook"), secret=None).send(note(), None) == Delivered(None)
    assert "X-PII-Guard-Signature" not in received(httpserver).headers


# -- outcomes ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_2xx_is_delivered(httpserver: HTTPServer, note: MakeNote, status: int) -> None:
    answer(httpserver, status)
    assert notifier(httpserver.url_for("/hook")).send(note(), None) == Delivered(None)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses(httpserver: HTTPServer, note: MakeNote, status: int) -> None:
    answer(httpserver, status, "busy")
    outcome = notifier(httpserver.url_for("/hook")).send(note(), None)
    assert isinstance(outcome, Retry)
    assert f"HTTP {status}" in outcome.reason
    assert outcome.after_s is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_permanent_statuses(httpserver: HTTPServer, note: MakeNote, status: int) -> None:
    answer(httpserver, status, '{"error": "no such hook"}')
    outcome = notifier(httpserver.url_for("/hook")).send(note(), None)
    assert isinstance(outcome, Failed)
    assert f"HTTP {status}" in outcome.reason
    assert "no such hook" in outcome.reason


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_not_followed(httpserver: HTTPServer, note: MakeNote, status: int) -> None:
    answer(httpserver, status, headers={"Location": httpserver.url_for("/elsewhere")})
    httpserver.expect_request("/elsewhere").respond_with_data("", status=200)
    outcome = notifier(httpserver.url_for("/hook")).send(note(), None)
    assert isinstance(outcome, Failed)
    assert "redirect" in outcome.reason
    assert [r.path for r, _ in httpserver.log] == ["/hook"]


def test_retry_after_seconds(httpserver: HTTPServer, note: MakeNote) -> None:
    answer(httpserver, 429, headers={"Retry-After": "17"})
    assert notifier(httpserver.url_for("/hook")).send(note(), None) == Retry(
        f"webhook http://localhost:{httpserver.port} answered HTTP 429", 17.0)


def test_retry_after_http_date(httpserver: HTTPServer, note: MakeNote) -> None:
    answer(httpserver, 503, headers={"Retry-After": formatdate(NOW + 120, usegmt=True)})
    outcome = notifier(httpserver.url_for("/hook"), clock=lambda: NOW).send(note(), None)
    assert isinstance(outcome, Retry)
    assert outcome.after_s == pytest.approx(120.0)


@pytest.mark.parametrize(("value", "expected"), [
    ("0", 0.0), ("120", 120.0), (" 5 ", 5.0), ("-3", 0.0), ("Wed, 01 May 2024 12:02:00 GMT", 120.0),
    ("Wed, 01 May 2024 11:00:00 GMT", 0.0), ("soon", None), ("", None), (None, None), ("nan", None),
])
def test_retry_after_parsing(value: str | None, expected: float | None) -> None:
    assert retry_after_s(value, now=NOW) == expected


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_timeout_is_retry_in_about_the_configured_time(silent_port: int, note: MakeNote) -> None:
    started = time.monotonic()
    outcome = notifier(f"http://127.0.0.1:{silent_port}/hook", timeout_s=0.5).send(note(), None)
    elapsed = time.monotonic() - started
    assert isinstance(outcome, Retry)
    assert "no answer within 0.5s" in outcome.reason
    assert 0.4 <= elapsed < 1.5


def test_connection_refused_is_retry(note: MakeNote) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = notifier(f"http://127.0.0.1:{port}/hook").send(note(), None)
    assert outcome == Retry(f"webhook http://127.0.0.1:{port}: connection refused")


def test_an_unusable_url_is_permanent(note: MakeNote) -> None:
    outcome = notifier("ftp://example.com/hook").send(note(), None)
    assert isinstance(outcome, Failed)


def test_reasons_and_logs_hold_no_secret_and_no_url_path(httpserver: HTTPServer, note: MakeNote,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    path = "/hook/t0ken-in-the-path"
    httpserver.expect_oneshot_request(path).respond_with_data(f"bad signature, expected key {SECRET}", status=400)
    httpserver.expect_oneshot_request(path).respond_with_data(f"oops {SECRET}", status=500)
    hook = notifier(httpserver.url_for(path) + "?token=query-t0ken")
    outcomes = [hook.send(note(), None), hook.send(note(), None)]
    assert isinstance(outcomes[0], Failed)
    assert isinstance(outcomes[1], Retry)
    for outcome in outcomes:
        assert not isinstance(outcome, Delivered)
        assert SECRET not in outcome.reason
        assert "<secret>" in outcome.reason
        assert "t0ken" not in outcome.reason
    ours = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records if r.name.startswith("pii_guard"))
    assert ours
    assert SECRET not in ours
    assert "t0ken" not in ours
