"""A local Jira that answers the REST API v2 calls pii-guard makes the way Jira does: issues with labels,
comments and a To Do / In Progress / Done workflow in memory, `labels = "x"` JQL, basic and bearer auth,
Jira's JSON error shapes, and scripted trouble (429 with Retry-After, 5xx, answers that never come)."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

USER = "bot@example.com"
TOKEN = "jira-T0KEN-do-not-leak"
PROJECT = "SEC"

STATUSES = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}
# status -> [(transition id, name, target status)], like Jira's simplified workflow
WORKFLOW: dict[str, list[tuple[str, str, str]]] = {
    "To Do": [("11", "Start Progress", "In Progress"), ("31", "Done", "Done")],
    "In Progress": [("21", "Stop Progress", "To Do"), ("31", "Done", "Done")],
    "Done": [("41", "Reopen", "To Do")],
}
ISSUE_TYPES = {"Task", "Bug", "Incident"}
PRIORITIES = {"Highest", "High", "Medium", "Low", "Lowest"}


@dataclass
class Comment:
    id: str
    body: str
    author: str


@dataclass
class Issue:
    id: str
    key: str
    fields: dict[str, Any]
    status: str = "To Do"
    comments: list[Comment] = field(default_factory=list)


@dataclass(frozen=True)
class Logged:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Trouble:
    status: int = 500
    retry_after: str | None = None
    hang_s: float = 0.0  # > 0: answer nothing for this long, then drop the connection
    body: Any = None


class FakeJira:
    def __init__(self, *, user: str = USER, token: str = TOKEN, project: str = PROJECT) -> None:
        self.user = user
        self.token = token
        self.projects = {project}
        self.issues: dict[str, Issue] = {}
        self.requests: list[Logged] = []
        self.search_retired = False  # answer 410 on /search, like Jira Cloud after its removal
        self._trouble: deque[Trouble | None] = deque()  # None: serve that request normally
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._next_id = 10000
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-jira",
                                        daemon=True)

    # -- control ------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeJira:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def fail_next(self, count: int = 1, status: int = 500, *, retry_after: str | None = None,
                  body: Any = None, skip: int = 0) -> None:
        """After serving `skip` requests normally, the next `count` requests (any endpoint) get `status`
        (with Jira's error shape, or `body`) instead of being served."""
        with self._lock:
            self._trouble.extend([None] * skip)
            self._trouble.extend(Trouble(status, retry_after, 0.0, body) for _ in range(count))

    def hang_next(self, count: int = 1, seconds: float = 5.0, *, skip: int = 0) -> None:
        """The next `count` requests get no answer for `seconds`, then the connection is dropped."""
        with self._lock:
            self._trouble.extend([None] * skip)
            self._trouble.extend(Trouble(hang_s=seconds) for _ in range(count))

    def add_issue(self, summary: str = "made by hand", labels: list[str] | None = None) -> Issue:
        with self._lock:
            return self._new_issue({"project": {"key": next(iter(self.projects))}, "summary": summary,
                                    "issuetype": {"name": "Task"}, "labels": labels or []})

    def served(self, method: str, pattern: str) -> list[Logged]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    # -- serving ------------------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        logged = Logged(method, unquote(parts.path), parse_qs(parts.query), dict(h.headers.items()), body)
        with self._lock:
            self.requests.append(logged)
            trouble = self._trouble.popleft() if self._trouble else None
        if trouble is not None and trouble.hang_s > 0:
            self._stop.wait(trouble.hang_s)
            h.close_connection = True
            return
        if trouble is not None:
            extra = {"Retry-After": trouble.retry_after} if trouble.retry_after is not None else {}
            doc = trouble.body if trouble.body is not None else _error(f"scripted HTTP {trouble.status}")
            self._reply(h, trouble.status, doc, extra)
            return
        if not self._authorized(h.headers.get("Authorization")):
            self._reply(h, 401, _error("You are not authenticated. Authentication required to perform this "
                                       "operation."), {"WWW-Authenticate": 'Basic realm="protected-area"'})
            return
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            self._reply(h, 400, _error("Unexpected character in the JSON body."))
            return
        with self._lock:
            status, answer = self._route(method, logged.path, logged.query, doc)
        self._reply(h, status, answer)

    def _authorized(self, header: str | None) -> bool:
        if header is None:
            return False
        scheme, _, value = header.partition(" ")
        if scheme == "Bearer":
            return value == self.token
        if scheme == "Basic":
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except ValueError:
                return False
            return user == self.user and password == self.token
        return False

    def _reply(self, h: BaseHTTPRequestHandler, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        payload = b"" if doc is None else json.dumps(doc).encode()
        h.send_response(status)
        if payload:
            h.send_header("Content-Type", "application/json;charset=UTF-8")
        h.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(payload)

    def _route(self, method: str, path: str, query: dict[str, list[str]], doc: Any) -> tuple[int, Any]:
        if method == "POST" and path == "/rest/api/2/issue":
            return self._create(doc)
        if method == "GET" and path in ("/rest/api/2/search", "/rest/api/2/search/jql"):
            if path.endswith("/search") and self.search_retired:
                return 410, _error("The requested API has been removed. Please use /rest/api/2/search/jql.")
            return self._search(query)
        m = re.fullmatch(r"/rest/api/2/issue/([^/]+)(/comment|/transitions)?", path)
        if m is None:
            return 404, _error("null for uri: " + path)
        issue = self.issues.get(m.group(1))
        if issue is None:
            return 404, _error("Issue does not exist or you do not have permission to see it.")
        sub = m.group(2)
        if sub is None and method == "GET":
            return 200, self._issue_json(issue)
        if sub == "/comment" and method == "GET":
            start = int(query.get("startAt", ["0"])[0])
            size = int(query.get("maxResults", ["50"])[0])
            page = issue.comments[start: start + size]
            return 200, {"startAt": start, "maxResults": size, "total": len(issue.comments),
                         "comments": [{"id": c.id, "body": c.body, "author": {"name": c.author}} for c in page]}
        if sub == "/comment" and method == "POST":
            if not isinstance(doc, dict) or not str(doc.get("body", "")).strip():
                return 400, _error(errors={"comment": "Comment body can not be empty!"})
            comment = Comment(str(self._take_id()), str(doc["body"]), self.user)
            issue.comments.append(comment)
            return 201, {"id": comment.id, "body": comment.body, "author": {"name": comment.author}}
        if sub == "/transitions" and method == "GET":
            return 200, {"expand": "transitions", "transitions": [
                {"id": tid, "name": name, "to": {"name": to, "statusCategory": {"key": STATUSES[to]}}}
                for tid, name, to in WORKFLOW[issue.status]]}
        if sub == "/transitions" and method == "POST":
            wanted = str(((doc or {}).get("transition") or {}).get("id"))
            for tid, _, to in WORKFLOW[issue.status]:
                if tid == wanted:
                    issue.status = to
                    return 204, None
            return 400, _error(f"Transition id '{wanted}' is not valid for this issue.")
        return 405, _error("Method Not Allowed")

    def _create(self, doc: Any) -> tuple[int, Any]:
        fields = doc.get("fields") if isinstance(doc, dict) else None
        if not isinstance(fields, dict):
            return 400, _error("Can not instantiate value of type [simple type, class "
                               "com.atlassian.jira.rest.v2.issue.IssueUpdateBean]")
        errors: dict[str, str] = {}
        if (fields.get("project") or {}).get("key") not in self.projects:
            errors["project"] = "valid project is required"
        if (fields.get("issuetype") or {}).get("name") not in ISSUE_TYPES:
            errors["issuetype"] = "valid issue type is required"
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif "\n" in summary or "\r" in summary:
            errors["summary"] = "The summary is invalid because it contains newline characters."
        elif len(summary.encode("utf-16-le")) // 2 > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        for label in fields.get("labels") or []:
            if " " in label:
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        if "priority" in fields and (fields["priority"] or {}).get("name") not in PRIORITIES:
            errors["priority"] = f"Could not find priority by name: {(fields['priority'] or {}).get('name')}"
        if errors:
            return 400, _error(errors=errors)
        issue = self._new_issue(fields)
        return 201, {"id": issue.id, "key": issue.key, "self": f"{self.url}/rest/api/2/issue/{issue.id}"}

    def _new_issue(self, fields: dict[str, Any]) -> Issue:
        number = len(self.issues) + 1
        key = f"{fields['project']['key']}-{number}"
        issue = Issue(str(self._take_id()), key, dict(fields))
        self.issues[key] = issue
        return issue

    def _search(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        jql = query.get("jql", [""])[0]
        m = re.fullmatch(r'\s*labels\s*=\s*"([^"]*)"\s*', jql)
        if m is None:
            return 400, _error(f"Error in the JQL Query: the fake understands only labels = \"x\", not {jql!r}")
        found = [i for i in self.issues.values() if m.group(1) in (i.fields.get("labels") or [])]
        size = int(query.get("maxResults", ["50"])[0])
        return 200, {"startAt": 0, "maxResults": size, "total": len(found),
                     "issues": [{"id": i.id, "key": i.key, "fields": {"summary": i.fields.get("summary")}}
                                for i in found[:size]]}

    def _issue_json(self, issue: Issue) -> dict[str, Any]:
        return {"id": issue.id, "key": issue.key, "fields": {
            **issue.fields, "status": {"name": issue.status, "statusCategory": {"key": STATUSES[issue.status]}}}}

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id


def _error(*messages: str, errors: dict[str, str] | None = None) -> dict[str, Any]:
    return {"errorMessages": list(messages), "errors": errors or {}}
