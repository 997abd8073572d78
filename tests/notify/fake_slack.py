"""A local fake of the Slack Web API and of an incoming webhook: a real HTTP server on 127.0.0.1.

It speaks what pii-guard uses: chat.postMessage, chat.update, conversations.history, conversations.replies,
auth.test (form, query or JSON bodies, as slack_sdk sends them), one incoming-webhook path, and the file
upload of files_upload_v2 (files.getUploadURLExternal, the upload URL, files.completeUploadExternal:
`fake.files`). It checks the
bearer token, keeps each channel's messages (ts, thread_ts, metadata), validates Block Kit limits the way
Slack rejects them (invalid_blocks, msg_too_long), records every request, and can be scripted to fail:

    fake.fail("chat.postMessage", status=429, retry_after=7)      # the next call answers 429 + Retry-After
    fake.fail(error="channel_not_found")                            # the next call of any method: ok:false
    fake.fail("chat.postMessage", hang_s=5, apply=True)             # store the message, answer too late
    fake.rate_limit(per_second=1.0, burst=3)                        # Slack's ~1 message/s per channel

Use the `fake_slack` fixture (exposed by tests/notify/conftest.py; other test packages can import it from
here into their conftest).
"""

from __future__ import annotations

import contextlib
import json
import math
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from pii_guard.notify.base import Change, ChangeKind, Exposure, IncidentView, Notification

TOKEN = "xoxb-fake-000000000000-fakefakefakefakefake"
BOT_USER = "U0FAKEBOT"
BOT_ID = "B0FAKEBOT"
TEAM = "T0FAKE"
DEFAULT_CHANNELS = {"C0SECURITY": "security", "C0CRITICAL": "critical", "C0PRIVACY": "privacy"}

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_HEADER = 150
MAX_TEXT = 40000


@dataclass
class Call:
    """One request as the fake saw it."""

    method: str  # "chat.postMessage", ..., "webhook", or the unknown path
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 0  # what it answered
    error: str | None = None


@dataclass
class Fault:
    method: str | None  # None: any method (the webhook included)
    times: int
    status: int = 200
    error: str | None = None
    retry_after: float | None = None
    hang_s: float | None = None
    apply: bool = False  # process the request normally first, then answer with the fault


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class FakeSlack:
    token: str = TOKEN
    channels: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CHANNELS))  # id -> name

    def __post_init__(self) -> None:
        self.messages: dict[str, list[dict[str, Any]]] = {cid: [] for cid in self.channels}
        self.webhook_messages: list[dict[str, Any]] = []
        self.uploads: dict[str, dict[str, Any]] = {}  # file id -> filename, length, data (once uploaded)
        self.files: list[dict[str, Any]] = []  # completed uploads: id, title, filename, data, channel, comment
        self.calls: list[Call] = []
        self.archived: set[str] = set()
        self.webhook_path = f"/services/{TEAM}/B0HOOK/{secrets.token_hex(12)}"
        self._faults: list[Fault] = []
        self._rate: tuple[float, float] | None = None  # (per_second, burst)
        self._buckets: dict[str, _Bucket] = {}
        self._last_ts = 0.0
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -----------------------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-slack", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    @property
    def webhook_url(self) -> str:
        return self.url + self.webhook_path

    # -- scripting ------------------------------------------------------------------------------------------

    def fail(self, method: str | None = None, *, times: int = 1, status: int | None = None,
             error: str | None = None, retry_after: float | None = None, hang_s: float | None = None,
             apply: bool = False) -> None:
        """Answer the next `times` matching requests with a fault. Defaults: 429 when `retry_after` is given,
        else 200 with ok:false when `error` is given; `hang_s` waits that long before answering."""
        if status is None:
            status = 429 if retry_after is not None else 200
        if error is None and status != 200:
            error = "ratelimited" if status == 429 else ("internal_error" if status >= 500 else "invalid_request")
        with self._lock:
            self._faults.append(Fault(method, times, status, error, retry_after, hang_s, apply))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def rate_limit(self, per_second: float | None = 1.0, burst: float = 3.0) -> None:
        """Per channel (and for the webhook): `burst` messages at once, then `per_second`; beyond that 429 with
        Retry-After, as Slack does for chat.postMessage. None turns it off."""
        with self._lock:
            self._rate = None if per_second is None else (per_second, burst)
            self._buckets.clear()

    def add_channel(self, channel_id: str, name: str) -> None:
        with self._lock:
            self.channels[channel_id] = name
            self.messages.setdefault(channel_id, [])

    # -- inspection -----------------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def channel_messages(self, channel: str) -> list[dict[str, Any]]:
        """Every message in the channel (parents and replies), oldest first."""
        with self._lock:
            return [dict(m) for m in self.messages.get(channel, [])]

    def top_level(self, channel: str) -> list[dict[str, Any]]:
        return [m for m in self.channel_messages(channel) if m.get("thread_ts") in (None, m["ts"])]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The parent, then its replies."""
        return [m for m in self.channel_messages(channel) if m["ts"] == ts or m.get("thread_ts") == ts]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.channel_messages(channel) if m["ts"] == ts), None)

    # -- request handling -----------------------------------------------------------------------------------

    def _take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method in (None, method) and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _rate_ok(self, key: str) -> float | None:
        """None when the message may go now, else seconds until it may."""
        with self._lock:
            if self._rate is None:
                return None
            per_second, burst = self._rate
            now = time.monotonic()
            bucket = self._buckets.setdefault(key, _Bucket(burst, now))
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * per_second)
            bucket.at = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return None
            return (1 - bucket.tokens) / per_second

    def _next_ts(self) -> str:
        with self._lock:
            ts = max(time.time(), self._last_ts + 0.000001)
            self._last_ts = ts
            return f"{ts:.6f}"

    def _channel_id(self, value: object) -> str | None:
        if not isinstance(value, str) or not value:
            return None
        if value in self.channels:
            return value
        name = value.lstrip("#")
        return next((cid for cid, cname in self.channels.items() if cname == name), None)

    def handle_api(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        handler = _API.get(method)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method"}, {}
        return handler(self, body)

    def _post_message(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = self._channel_id(body.get("channel"))
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        if channel in self.archived:
            return 200, {"ok": False, "error": "is_archived"}, {}
        problem = _check_content(body, require_content=True)
        if problem:
            return 200, {"ok": False, "error": problem}, {}
        wait = self._rate_ok(channel)
        if wait is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(max(1, math.ceil(wait)))}
        thread_ts = body.get("thread_ts") or None
        with self._lock:
            if thread_ts is not None and not any(m["ts"] == thread_ts for m in self.messages[channel]):
                return 200, {"ok": False, "error": "thread_not_found"}, {}
            message: dict[str, Any] = {"type": "message", "user": BOT_USER, "bot_id": BOT_ID,
                                       "ts": self._next_ts(), "text": body.get("text", ""),
                                       "blocks": body.get("blocks") or []}
            if thread_ts is not None:
                message["thread_ts"] = str(thread_ts)
                parent = next(m for m in self.messages[channel] if m["ts"] == thread_ts)
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = parent.get("reply_count", 0) + 1
            if body.get("metadata"):
                message["metadata"] = body["metadata"]
            self.messages[channel].append(message)
        return 200, {"ok": True, "channel": channel, "ts": message["ts"], "message": _public(message, True)}, {}

    def _update(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = self._channel_id(body.get("channel"))
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        problem = _check_content(body, require_content=False)
        if problem:
            return 200, {"ok": False, "error": problem}, {}
        with self._lock:
            message = next((m for m in self.messages[channel] if m["ts"] == body.get("ts")), None)
            if message is None:
                return 200, {"ok": False, "error": "message_not_found"}, {}
            if "text" in body:
                message["text"] = body["text"]
            if "blocks" in body:
                message["blocks"] = body["blocks"] or []
            if body.get("metadata"):
                message["metadata"] = body["metadata"]
            message["edited"] = {"user": BOT_USER, "ts": self._next_ts()}
        return 200, {"ok": True, "channel": channel, "ts": message["ts"], "text": message["text"]}, {}

    def _history(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = self._channel_id(body.get("channel"))
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        with self._lock:
            found = [m for m in self.messages[channel] if m.get("thread_ts") in (None, m["ts"])]
        found = _window(found, body)
        found.reverse()  # newest first, like Slack
        return _page(found, body, default_limit=100)

    def _replies(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        channel = self._channel_id(body.get("channel"))
        if channel is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        ts = body.get("ts")
        with self._lock:
            parent = next((m for m in self.messages[channel] if m["ts"] == ts), None)
            if parent is None:
                return 200, {"ok": False, "error": "thread_not_found"}, {}
            replies = [m for m in self.messages[channel] if m.get("thread_ts") == ts and m["ts"] != ts]
        return _page([parent, *_window(replies, body)], body, default_limit=1000)

    def _upload_url(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not body.get("filename") or not str(body.get("length", "")).isdigit():
            return 200, {"ok": False, "error": "invalid_arguments"}, {}
        file_id = "F" + secrets.token_hex(5).upper()
        with self._lock:
            self.uploads[file_id] = {"filename": body["filename"], "length": int(body["length"]), "data": None}
        return 200, {"ok": True, "upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}, {}

    def receive_upload(self, file_id: str, data: bytes) -> int:
        with self._lock:
            upload = self.uploads.get(file_id)
            if upload is None:
                return 404
            upload["data"] = data
        return 200

    def _complete_upload(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        files = body.get("files")
        channel = self._channel_id(body.get("channel_id")) if body.get("channel_id") else None
        if not isinstance(files, list) or not files or (body.get("channel_id") and channel is None):
            return 200, {"ok": False, "error": "invalid_arguments" if channel or not body.get("channel_id")
                         else "channel_not_found"}, {}
        with self._lock:
            done = []
            for item in files:
                upload = self.uploads.get(str(item.get("id")))
                if upload is None or upload["data"] is None:
                    return 200, {"ok": False, "error": "file_not_found"}, {}
                done.append({"id": item["id"], "title": item.get("title") or upload["filename"],
                             "filename": upload["filename"], "data": upload["data"], "channel": channel,
                             "comment": body.get("initial_comment") or ""})
            self.files.extend(done)
            if channel is not None:
                self.messages[channel].append({"type": "message", "user": BOT_USER, "ts": self._next_ts(),
                                               "text": body.get("initial_comment") or "",
                                               "files": [{"id": f["id"], "title": f["title"]} for f in done]})
        return 200, {"ok": True, "files": [{"id": f["id"], "title": f["title"]} for f in done]}, {}

    def _auth_test(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        return 200, {"ok": True, "url": "https://fake.slack.com/", "team": "fake", "user": "pii-guard",
                     "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID}, {}

    def handle_webhook(self, body: dict[str, Any]) -> tuple[int, str]:
        if not body.get("text") and not body.get("blocks"):
            return 400, "no_text"
        problem = _check_content(body, require_content=True)
        if problem:
            return 400, "invalid_blocks" if problem != "msg_too_long" else "invalid_payload"
        wait = self._rate_ok("webhook")
        if wait is not None:
            return 429, "rate_limited"
        with self._lock:
            self.webhook_messages.append({"ts": self._next_ts(), "text": body.get("text", ""),
                                          "blocks": body.get("blocks") or []})
        return 200, "ok"


def _check_content(body: dict[str, Any], *, require_content: bool) -> str | None:
    """Slack's answers to content it refuses."""
    text = body.get("text")
    blocks = body.get("blocks")
    if require_content and not text and not blocks:
        return "no_text"
    if isinstance(text, str) and len(text) > MAX_TEXT:
        return "msg_too_long"
    if blocks is None:
        return None
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        return "invalid_blocks"
    for block in blocks:
        if not isinstance(block, dict):
            return "invalid_blocks"
        kind = block.get("type")
        if kind == "header":
            obj = block.get("text") or {}
            if obj.get("type") != "plain_text" or not 0 < len(obj.get("text", "")) <= MAX_HEADER:
                return "invalid_blocks"
        elif kind == "section":
            obj = block.get("text")
            fields = block.get("fields")
            if obj is None and not fields:
                return "invalid_blocks"
            if obj is not None and not 0 < len(obj.get("text", "")) <= MAX_SECTION:
                return "invalid_blocks"
            if fields is not None and (len(fields) > 10 or any(
                    not 0 < len(f.get("text", "")) <= MAX_FIELD for f in fields)):
                return "invalid_blocks"
        elif kind == "context":
            elements = block.get("elements") or []
            if not 0 < len(elements) <= 10 or any(len(e.get("text", "")) > MAX_SECTION for e in elements):
                return "invalid_blocks"
        elif kind not in ("divider", "actions", "image", "rich_text"):
            return "invalid_blocks"
    metadata = body.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or not metadata.get("event_type")
                                 or not isinstance(metadata.get("event_payload"), dict)):
        return "invalid_metadata_format"
    return None


def _public(message: dict[str, Any], with_metadata: bool) -> dict[str, Any]:
    out = dict(message)
    if not with_metadata:
        out.pop("metadata", None)
    return out


def _truthy(value: object) -> bool:
    return value in (True, 1, "1", "true", "True")


def _window(messages: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    oldest = float(body.get("oldest") or 0)
    latest = float(body.get("latest") or "inf")
    inclusive = _truthy(body.get("inclusive"))
    return [m for m in messages
            if (oldest <= float(m["ts"]) if inclusive else oldest < float(m["ts"]))
            and (float(m["ts"]) <= latest if inclusive else float(m["ts"]) < latest)]


def _page(messages: list[dict[str, Any]], body: dict[str, Any], *,
          default_limit: int) -> tuple[int, dict[str, Any], dict[str, str]]:
    limit = int(body.get("limit") or default_limit)
    start = int(body.get("cursor") or 0)
    chunk = messages[start:start + limit]
    more = start + limit < len(messages)
    with_metadata = _truthy(body.get("include_all_metadata"))
    return 200, {"ok": True, "messages": [_public(m, with_metadata) for m in chunk], "has_more": more,
                 "response_metadata": {"next_cursor": str(start + limit) if more else ""}}, {}


_API = {
    "chat.postMessage": FakeSlack._post_message,
    "chat.update": FakeSlack._update,
    "conversations.history": FakeSlack._history,
    "conversations.replies": FakeSlack._replies,
    "auth.test": FakeSlack._auth_test,
    "files.getUploadURLExternal": FakeSlack._upload_url,
    "files.completeUploadExternal": FakeSlack._complete_upload,
}
_JSON_FIELDS = ("blocks", "metadata", "attachments", "files")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        fake: FakeSlack = self.server.fake  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        if split.path.startswith("/upload/v1/"):  # files_upload_v2's raw upload: no token, the bytes as the body
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            call = Call("upload", split.path, dict(self.headers.items()), {"bytes": len(data)})
            with fake._lock:
                fake.calls.append(call)
            status = fake.receive_upload(split.path.rsplit("/", 1)[-1], data)
            return self._text(call, status, f"OK - {len(data)}" if status == 200 else "not found")
        body = self._body()
        body.update({k: v for k, v in parse_qsl(split.query) if k not in body})
        is_hook = split.path == fake.webhook_path
        method = "webhook" if is_hook else split.path.removeprefix("/api/")
        call = Call(method, split.path, dict(self.headers.items()), body)
        with fake._lock:
            fake.calls.append(call)

        if not is_hook and not split.path.startswith("/api/"):
            if split.path.startswith("/services/"):
                return self._text(call, 404, "no_service")
            return self._text(call, 404, "not found")
        if not is_hook:
            auth = self.headers.get("Authorization", "")
            if not auth:
                return self._json(call, 200, {"ok": False, "error": "not_authed"})
            if auth != f"Bearer {fake.token}":
                return self._json(call, 200, {"ok": False, "error": "invalid_auth"})

        fault = fake._take_fault(method)
        result = self._process(fake, call, is_hook, body) if fault is not None and fault.apply else None
        if fault is not None and fault.hang_s:
            fake._stopping.wait(fault.hang_s)
        if fault is not None and fault.error is not None:
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            if is_hook:
                return self._text(call, fault.status if fault.status != 200 else 500, fault.error, headers)
            return self._json(call, fault.status, {"ok": False, "error": fault.error}, headers)
        if result is None:  # no fault, or only a delay
            result = self._process(fake, call, is_hook, body)
        status, data, headers = result
        if isinstance(data, str):
            return self._text(call, status, data, headers)
        return self._json(call, status, data, headers)

    def _process(self, fake: FakeSlack, call: Call, is_hook: bool,
                 body: dict[str, Any]) -> tuple[int, dict[str, Any] | str, dict[str, str]]:
        if is_hook:
            status, text = fake.handle_webhook(body)
            return status, text, ({"Retry-After": "1"} if status == 429 else {})
        return fake.handle_api(call.method, body)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not raw:
            return {}
        if ctype == "application/json":
            data = json.loads(raw)
            return data if isinstance(data, dict) else {}
        body: dict[str, Any] = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        for key in _JSON_FIELDS:  # form-encoded Block Kit / metadata arrive as JSON strings
            if isinstance(body.get(key), str) and body[key]:
                with contextlib.suppress(ValueError):
                    body[key] = json.loads(body[key])
        return body

    def _send(self, call: Call, status: int, payload: bytes, ctype: str, headers: dict[str, str]) -> None:
        call.status = status
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass

    def _json(self, call: Call, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        call.error = data.get("error")
        self._send(call, status, json.dumps(data).encode(), "application/json; charset=utf-8", headers or {})

    def _text(self, call: Call, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        call.error = None if status == 200 else text
        self._send(call, status, text.encode(), "text/html", headers or {})


# -- sample incidents for notifier tests -----------------------------------------------------------------------


def incident_view(**changes: Any) -> IncidentView:
    """A realistic incident; override any field."""
    base = IncidentView(
        id="INC-42", title="alice read 5000 rows of crm.public.customers outside working hours",
        rule_id="bulk-export", rule_kind="volume", severity="high", status="open", assignee=None,
        user="alice", roles=("crm-reader", "support"), department="Customer Care",
        source_ips=("10.0.4.17", "10.0.4.18"), zones=("office-berlin",),
        objects=("db:crm.public.customers", "db:crm.public.addresses"), categories=("contact", "financial"),
        exposure=Exposure(events=12, rows=5000, records=4800, files=0, bytes=3 * 1024 * 1024, objects=2,
                          attempts=3),
        first_us=1_795_000_000_000_000, last_us=1_795_000_600_000_000, opened_us=1_795_000_610_000_000,
        deadline_us=None, evidence_count=12, inspect="pii-guard incidents show INC-42",
    )
    return replace(base, **changes)


def notification(outbox_id: int, kind: ChangeKind = "opened", *, view: IncidentView | None = None,
                 route: str = "C0SECURITY", at_us: int | None = None, actor: str = "pii-guard", text: str = "",
                 previous: str | None = None) -> Notification:
    """One outbox row for the Slack target; the change happens now unless `at_us` says otherwise."""
    change = Change(kind, at_us if at_us is not None else int(time.time() * 1_000_000), actor, text, previous)
    return Notification(outbox_id, "slack", route, view or incident_view(), change)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started FakeSlack; `fake_slack.api_url`, `.token`, `.webhook_url` configure the notifier."""
    fake = FakeSlack().start()
    try:
        yield fake
    finally:
        fake.stop()
