"""A local fake of Elasticsearch 8/9: a real HTTP(S) server on 127.0.0.1 that answers what the official client
sends, the way Elasticsearch answers it.

- Every answer carries `X-Elastic-Product: Elasticsearch` (unless `product_header=False`: "not Elasticsearch");
  `compatible-with=N` media types are checked like the real server (9.x accepts 8 and 9, 8.x accepts 7 and 8).
- Security when `api_keys` or `users` are given: `Authorization: ApiKey <encoded>` / `Basic <user:password>`,
  401 with Elasticsearch's security_exception body and WWW-Authenticate headers otherwise; `deny()` answers
  403 for an action the credentials lack.
- GET / (cluster info), index templates (applied when an index is auto-created), ILM policies, data streams
  (backing indices, create-only), create / get / delete index, _mapping, _refresh, _doc.
- _bulk NDJSON (create, index, delete): per-item 201 / 409 version_conflict_engine_exception / 400 from the
  mapping's type checks (a non-IP in an `ip` field, a word in a `long`, strict dynamic mapping) / 404 when
  auto-create is off; `filter_path` applied to answers.
- _search and _count over what the last refresh made visible (see fake_es_query for the query subset).
- Scripted trouble: `fail(Fault(...))` for whole requests (429, 503, any status, a hang, `apply=True` to do the
  work and then lose the answer), `fail_item(id, 429, ...)` / `fail_items(status, times)` for bulk items.
- Every request is recorded (method, path, query, headers, body) in `requests`.

    fake = FakeElasticsearch(api_keys=["..."]).start()
    fake.fail(Fault(429), times=3)               # the next three _bulk requests answer 429
    fake.fail(Fault(None, hang_s=2), path="/_bulk")   # a bulk answered only after 2 s
    fake.fail_item("event-id", 429, 429)          # that document is rejected twice, then stored
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import fnmatch
import gzip
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson
import pytest

from tests.store_es.fake_es_mapping import DocumentError, FakeMapping
from tests.store_es.fake_es_query import SearchError, StoredDoc, count, search

try:
    from importlib.metadata import version as _pkg_version

    CLIENT_MAJOR = int(_pkg_version("elasticsearch").split(".")[0])
except Exception:  # pragma: no cover
    CLIENT_MAJOR = 8
# the server version the installed client talks to (a 9.x client is refused by an 8.x server)
DEFAULT_VERSION = "9.1.3" if CLIENT_MAJOR >= 9 else "8.15.1"
_ORIGINATION = re.compile(r"^.*-(\d{4}.\d{2}.\d{2})(-[\d]+)?$")
_INVALID_INDEX = re.compile(r'[\\/*?"<>| ,#:A-Z]')
_WWW_AUTH = ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]
_ACTIONS = {  # path marker -> (action name, cluster privilege), for 403 answers
    "_index_template": ("indices:admin/index_template/put", "manage_index_templates"),
    "_ilm": ("cluster:admin/ilm/put", "manage_ilm"),
    "_bulk": ("indices:data/write/bulk", "create_doc"),
    "_search": ("indices:data/read/search", "read"),
    "_count": ("indices:data/read/search", "read"),
    "": ("cluster:monitor/main", "monitor"),
}


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int = 0

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def ndjson(self) -> list[Any]:
        return [orjson.loads(line) for line in self.body.split(b"\n") if line.strip()]


@dataclass
class Fault:
    """A scripted answer to a whole request. `status=None` with `hang_s`: answer normally, but late."""

    status: int | None = 503
    hang_s: float = 0.0
    apply: bool = False  # do the work first, then answer with the fault (the answer is what gets lost)
    error_type: str | None = None
    reason: str | None = None


@dataclass
class _Rule:
    fault: Fault
    path: str | None
    method: str | None
    left: int | None  # None: forever


@dataclass
class FakeIndex:
    name: str
    mapping: FakeMapping
    settings: dict[str, Any]
    docs: dict[str, StoredDoc] = field(default_factory=dict)
    refreshed_seq: int = 0
    data_stream: str | None = None


_DEFAULT_VALUE = object()


def _error(kind: str = "exception", reason: str = "", status: int = 500, *, type: str | None = None,
           **extra: Any) -> tuple[int, dict[str, Any]]:
    cause = {"type": type or kind, "reason": reason, **extra}
    return status, {"error": {"root_cause": [cause], **cause}, "status": status}


def _flat_settings(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, Mapping):
            out.update(_flat_settings(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return {(k if k.startswith("index.") else "index." + k): v for k, v in out.items()}


def _filter_path(data: Any, patterns: list[str]) -> Any:
    paths = [p.split(".") for p in patterns if p]
    result = _filter(data, paths)
    return {} if result is _DEFAULT_VALUE else result


def _filter(node: Any, paths: list[list[str]]) -> Any:
    if any(not p for p in paths):
        return node
    if isinstance(node, list):
        items = [r for r in (_filter(i, paths) for i in node) if r is not _DEFAULT_VALUE]
        return items if items else _DEFAULT_VALUE
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            sub = [p[1:] for p in paths if p and fnmatch.fnmatchcase(key, p[0])]
            if sub:
                kept = _filter(value, sub)
                if kept is not _DEFAULT_VALUE:
                    out[key] = kept
        return out if out else _DEFAULT_VALUE
    return _DEFAULT_VALUE


class FakeElasticsearch:
    def __init__(
        self,
        *,
        version: str = DEFAULT_VERSION,
        api_keys: Iterable[str] = (),
        users: Mapping[str, str] | None = None,
        product_header: bool = True,
        tls: ssl.SSLContext | None = None,
        auto_refresh: bool = False,
    ) -> None:
        self.version = version
        self.major = int(version.split(".")[0])
        minor = int(version.split(".")[1])
        # Elasticsearch 8.8 renamed mapper_parsing_exception for document problems
        self.parse_error = "document_parsing_exception" if (self.major, minor) >= (8, 8) else \
            "mapper_parsing_exception"
        self.api_keys = set(api_keys)
        self.users = dict(users or {})
        self.product_header = product_header
        self.tls = tls
        self.auto_refresh = auto_refresh
        self.auto_create_index = True
        self.cluster_name = "pii-guard-fake"
        self.requests: list[Recorded] = []
        self.templates: dict[str, dict[str, Any]] = {}
        self.policies: dict[str, dict[str, Any]] = {}
        self.indices: dict[str, FakeIndex] = {}
        self.data_streams: dict[str, list[str]] = {}
        self.denied: list[tuple[re.Pattern[str], str | None]] = []
        self._rules: list[_Rule] = []
        self._item_faults: dict[str, list[int]] = {}
        self._all_items: tuple[int, int | None] | None = None  # (status, times left or None)
        self._seq = 0
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.now = time.time  # the clock for `now` in date math

    # -- life ----------------------------------------------------------------------------------------------------

    def start(self) -> FakeElasticsearch:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.block_on_close = False
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop the open (keep-alive) connections: the cluster is gone."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for conn in list(self._connections):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._connections.clear()

    def __enter__(self) -> FakeElasticsearch:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        scheme = "https" if self.tls is not None else "http"
        host = "localhost" if self.tls is not None else "127.0.0.1"
        return f"{scheme}://{host}:{self._server.server_address[1]}"

    # -- scripting -----------------------------------------------------------------------------------------------

    def fail(self, fault: Fault, *, times: int | None = 1, path: str | None = "/_bulk",
             method: str | None = None) -> None:
        """Answer the next `times` requests whose path ends with `path` (None: any) with the fault;
        times=None: until clear_faults()."""
        with self._lock:
            self._rules.append(_Rule(fault, path, method, times))

    def fail_item(self, doc_id: str, *statuses: int) -> None:
        """The next bulk actions on this id answer these statuses, one per attempt, then succeed."""
        with self._lock:
            self._item_faults.setdefault(doc_id, []).extend(statuses)

    def fail_items(self, status: int, times: int | None = 1) -> None:
        """Every bulk item of the next `times` bulk requests (None: until clear_faults()) answers `status`."""
        with self._lock:
            self._all_items = (status, times)

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()
            self._item_faults.clear()
            self._all_items = None

    def deny(self, path_regex: str, method: str | None = None) -> None:
        """Answer 403 security_exception for matching requests (credentials lacking a privilege)."""
        self.denied.append((re.compile(path_regex), method))

    # -- inspection ----------------------------------------------------------------------------------------------

    def requests_to(self, suffix: str, method: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith(suffix) and (method is None or r.method == method)]

    def documents(self, pattern: str = "*") -> dict[str, dict[str, Any]]:
        """Every stored document (refreshed or not) of the matching indices: id -> _source."""
        with self._lock:
            return {d.id: d.source for idx in self._resolve(pattern, expand_hidden=True) for d in idx.docs.values()}

    def refresh_all(self) -> None:
        with self._lock:
            for idx in self.indices.values():
                idx.refreshed_seq = self._seq

    # -- routing -------------------------------------------------------------------------------------------------

    def handle(self, rec: Recorded) -> tuple[int, Any, dict[str, str]]:
        """The status, JSON answer (or None for HEAD) and extra headers of one request."""
        problem = self._media_type_problem(rec)
        if problem is not None:
            status, body = problem
            return status, body, {}
        auth = self._authenticate(rec)
        if auth is not None:
            status, body = auth
            return status, body, {"WWW-Authenticate": ", ".join(_WWW_AUTH)}
        for regex, method in self.denied:
            if regex.search(rec.path) and (method is None or method == rec.method):
                return (*self._forbidden(rec), {})
        rule = self._take_rule(rec)
        if rule is None:
            return (*self._route(rec), {})
        fault = rule.fault
        done = self._route(rec) if fault.apply else None
        if fault.hang_s:
            self._stopping.wait(fault.hang_s)
        if fault.status is not None:
            return (*self._fault_answer(fault), {})
        return (done if done is not None else self._route(rec)) + ({},)

    def _media_type_problem(self, rec: Recorded) -> tuple[int, dict[str, Any]] | None:
        accepted = {self.major - 1, self.major}
        for name in ("accept", "content-type"):
            m = re.search(r"compatible-with=(\d+)", rec.headers.get(name, ""))
            if m and int(m.group(1)) not in accepted:
                low, high = sorted(accepted)
                cause = {"type": "status_exception",
                         "reason": f"Accept version must be either version {high} or {low}, but found "
                                   f"{m.group(1)}. Accept={rec.headers.get('accept')}"}
                return _error("media_type_header_exception",
                              "Invalid media-type value on headers [Accept, Content-Type]", 400, caused_by=cause)
        return None

    def _authenticate(self, rec: Recorded) -> tuple[int, dict[str, Any]] | None:
        if not self.api_keys and not self.users:
            return None
        header = rec.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        where = f"for REST request [{rec.path}]"
        if scheme == "ApiKey":
            if value in self.api_keys:
                return None
            try:
                key_id = base64.b64decode(value, validate=True).decode().partition(":")[0]
                detail = f"API key: api key [{key_id}] does not exist"
            except (binascii.Error, UnicodeDecodeError):
                detail = "API key: invalid ApiKey value"
            return _error("security_exception", "unable to authenticate with provided credentials and anonymous "
                          "access is not allowed for this request", 401, additional_unsuccessful_credentials=detail,
                          header={"WWW-Authenticate": _WWW_AUTH})
        if scheme == "Basic":
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", None  # type: ignore[assignment]
            if user in self.users and self.users[user] == password:
                return None
            return _error("security_exception", f"unable to authenticate user [{user}] {where}", 401,
                          header={"WWW-Authenticate": _WWW_AUTH})
        return _error("security_exception", f"missing authentication credentials {where}", 401,
                      header={"WWW-Authenticate": _WWW_AUTH})

    def _principal(self, rec: Recorded) -> str:
        scheme, _, value = rec.headers.get("authorization", "").partition(" ")
        with contextlib.suppress(binascii.Error, UnicodeDecodeError):
            decoded = base64.b64decode(value).decode().partition(":")[0]
            return f"API key id [{decoded}] of user [pii-guard]" if scheme == "ApiKey" else f"user [{decoded}]"
        return "user [_anonymous]"

    def _forbidden(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        marker = next((m for m in _ACTIONS if m and m in rec.path), "")
        action, privilege = _ACTIONS[marker]
        return _error("security_exception", f"action [{action}] is unauthorized for {self._principal(rec)}, this "
                      f"action is granted by the privileges [{privilege},manage,all]", 403)

    def _take_rule(self, rec: Recorded) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if (rule.path is None or rec.path.endswith(rule.path)) and \
                        (rule.method is None or rule.method == rec.method):
                    if rule.left is not None:
                        rule.left -= 1
                        if rule.left <= 0:
                            self._rules.remove(rule)
                    return rule
        return None

    def _fault_answer(self, fault: Fault) -> tuple[int, dict[str, Any]]:
        status = fault.status or 503
        defaults = {
            429: ("es_rejected_execution_exception", "rejected execution of coordinating operation "
                  "[coordinating_and_primary_bytes=104857600, replica_bytes=0, all_bytes=104857600, "
                  "coordinating_operation_bytes=52428, max_coordinating_and_primary_bytes=107374182]"),
            503: ("cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/2/no master];"),
            500: ("exception", "unexpected failure"),
            502: ("bad_gateway", "bad gateway"),
            504: ("gateway_timeout", "gateway timeout"),
            413: ("content_too_long", "request body is too large"),
        }
        kind, reason = defaults.get(status, ("exception", "scripted failure"))
        return _error(fault.error_type or kind, fault.reason or reason, status)

    def _route(self, rec: Recorded) -> tuple[int, Any]:
        parts = [unquote(p) for p in rec.path.strip("/").split("/") if p]
        method = rec.method
        try:
            body = rec.json() if rec.body and not rec.path.endswith("_bulk") else None
        except orjson.JSONDecodeError as exc:
            return _error("x_content_parse_exception", f"[1:1] Unexpected character: {exc}", 400)
        with self._lock:
            if not parts:
                return (200, self._info()) if method in ("GET", "HEAD") else self._no_handler(rec)
            head = parts[0]
            if head == "_bulk" or (len(parts) == 2 and parts[1] == "_bulk"):
                if method not in ("POST", "PUT"):
                    return self._no_handler(rec)
                return self._bulk(rec, parts[0] if len(parts) == 2 else None)
            if head == "_index_template" and len(parts) == 2:
                return self._template(method, parts[1], body)
            if head == "_ilm" and len(parts) == 3 and parts[1] == "policy":
                return self._policy(method, parts[2], body)
            if head == "_data_stream" and len(parts) == 2:
                return self._data_stream(method, parts[1])
            if head == "_cluster" and parts[1:] == ["health"]:
                return 200, {"cluster_name": self.cluster_name, "status": "green", "number_of_nodes": 1}
            target = None if head.startswith("_") else head
            op = parts[-1] if len(parts) <= 2 and parts[-1].startswith("_") else None
            if op in ("_search", "_count"):
                return self._search(op, target or "*", body or {}, rec)
            if op == "_refresh":
                return self._refresh(target or "*")
            if op == "_mapping" and method == "GET" and target:
                return self._get_mapping(target)
            if target and len(parts) == 3 and parts[1] == "_doc" and method == "GET":
                return self._get_doc(target, parts[2])
            if target and len(parts) in (2, 3) and parts[1] in ("_doc", "_create") and method in ("PUT", "POST"):
                return self._single(rec, target, parts, body)
            if target and len(parts) == 1:
                return self._index_api(method, target, body)
        return self._no_handler(rec)

    def _no_handler(self, rec: Recorded) -> tuple[int, Any]:
        return 400, {"error": f"no handler found for uri [{rec.path}] and method [{rec.method}]"}

    def _info(self) -> dict[str, Any]:
        return {"name": "fake-node-1", "cluster_name": self.cluster_name, "cluster_uuid": "fAkEcLuStEr0000000000A",
                "version": {"number": self.version, "build_flavor": "default", "build_type": "docker",
                            "build_hash": "0" * 40, "build_date": "2025-01-01T00:00:00.000000000Z",
                            "build_snapshot": False, "lucene_version": "10.0.0" if self.major >= 9 else "9.11.1",
                            "minimum_wire_compatibility_version": f"{self.major - 1}.18.0",
                            "minimum_index_compatibility_version": f"{self.major - 1}.0.0"},
                "tagline": "You Know, for Search"}

    # -- templates, policies, data streams, indices ---------------------------------------------------------------

    def _template(self, method: str, name: str, body: Any) -> tuple[int, Any]:
        if method == "GET":
            if name not in self.templates:
                return _error("resource_not_found_exception", f"index template matching [{name}] not found", 404)
            return 200, {"index_templates": [{"name": name, "index_template": copy.deepcopy(self.templates[name])}]}
        if method == "DELETE":
            if self.templates.pop(name, None) is None:
                return _error("resource_not_found_exception", f"index_template [{name}] missing", 404)
            return 200, {"acknowledged": True}
        if method not in ("PUT", "POST") or not isinstance(body, dict):
            return _error("action_request_validation_exception", "Validation Failed: 1: index template is missing;",
                          400)
        for key in body:
            if key not in ("index_patterns", "template", "priority", "version", "_meta", "composed_of",
                           "data_stream", "allow_auto_create", "ignore_missing_component_templates", "deprecated"):
                return _error("x_content_parse_exception", f"[1:2] [index_template] unknown field [{key}]", 400)
        patterns = body.get("index_patterns")
        patterns = [patterns] if isinstance(patterns, str) else patterns
        if not patterns:
            return _error("action_request_validation_exception", "Validation Failed: 1: index patterns are missing;",
                          400)
        if body.get("composed_of"):
            return _error("invalid_index_template_exception", f"index_template [{name}] invalid, cause [index "
                          f"template [{name}] specifies component templates {body['composed_of']} that do not "
                          "exist]", 400)
        priority = int(body.get("priority") or 0)
        for other, spec in self.templates.items():
            if other != name and spec.get("priority", 0) == priority and any(
                    fnmatch.fnmatchcase(p, q) or fnmatch.fnmatchcase(q, p) for p in patterns
                    for q in spec["index_patterns"]):
                return _error("illegal_argument_exception", f"index template [{name}] has index patterns {patterns} "
                              f"matching patterns from existing templates [{other}] with patterns ({other} => "
                              f"{spec['index_patterns']}) that have the same priority [{priority}], multiple index "
                              "templates may not match during index creation, please use a different priority", 400)
        template = body.get("template") or {}
        try:
            FakeMapping(template.get("mappings"))  # the mapping must be readable
        except (TypeError, AttributeError) as exc:
            return _error("mapper_parsing_exception", f"Failed to parse mapping: {exc}", 400)
        stored = copy.deepcopy(body)
        stored["index_patterns"] = patterns
        stored["priority"] = priority
        self.templates[name] = stored
        return 200, {"acknowledged": True}

    def _policy(self, method: str, name: str, body: Any) -> tuple[int, Any]:
        if method == "GET":
            if name not in self.policies:
                return _error("resource_not_found_exception", f"Lifecycle policy not found: {name}", 404)
            return 200, {name: copy.deepcopy(self.policies[name])}
        if method == "DELETE":
            if self.policies.pop(name, None) is None:
                return _error("resource_not_found_exception", f"Lifecycle policy not found: {name}", 404)
            return 200, {"acknowledged": True}
        if method != "PUT" or not isinstance(body, dict) or not isinstance(body.get("policy"), dict):
            return _error("action_request_validation_exception", "Validation Failed: 1: policy is missing;", 400)
        phases = body["policy"].get("phases")
        if not isinstance(phases, dict):
            return _error("x_content_parse_exception", "[1:2] [policy] failed to parse field [phases]", 400)
        for phase, spec in phases.items():
            if phase not in ("hot", "warm", "cold", "frozen", "delete"):
                return _error("illegal_argument_exception", f"Lifecycle does not support phase [{phase}]", 400)
            age = str(spec.get("min_age", "0ms"))
            if not re.fullmatch(r"\d+(nanos|micros|ms|s|m|h|d)", age):
                return _error("illegal_argument_exception", f"failed to parse setting [min_age] with value [{age}] "
                              "as a time value: unit is missing or unrecognized", 400)
        previous = self.policies.get(name, {}).get("version", 0)
        self.policies[name] = {"version": previous + 1, "modified_date": datetime.now(UTC).isoformat(),
                               "policy": copy.deepcopy(body["policy"])}
        return 200, {"acknowledged": True}

    def _matching_template(self, name: str) -> dict[str, Any] | None:
        found = [t for t in self.templates.values() if any(fnmatch.fnmatchcase(name, p) for p in t["index_patterns"])]
        return max(found, key=lambda t: t.get("priority", 0)) if found else None

    def _create_index(self, name: str, body: dict[str, Any] | None = None, *, stream: str | None = None
                      ) -> tuple[int, dict[str, Any]] | FakeIndex:
        if name != name.lower() or _INVALID_INDEX.search(name) or name.startswith(("-", "_", "+")):
            return _error("invalid_index_name_exception", f"Invalid index name [{name}], must be lowercase and not "
                          'contain \\, /, *, ?, ", <, >, |, space, comma, #, :', 400, index=name)
        template = self._matching_template(stream or name) or {}
        inner = template.get("template") or {}
        settings = _flat_settings(inner.get("settings") or {})
        mappings = copy.deepcopy(inner.get("mappings") or {})
        if body:
            settings.update(_flat_settings(body.get("settings") or {}))
            if body.get("mappings"):
                mappings.setdefault("properties", {}).update(body["mappings"].get("properties", {}))
                for key, value in body["mappings"].items():
                    if key != "properties":
                        mappings[key] = value
        if stream is not None:
            mappings.setdefault("properties", {}).setdefault("@timestamp", {"type": "date"})
        parse = str(settings.get("index.lifecycle.parse_origination_date", "false")).lower() == "true"
        if parse and not _ORIGINATION.match(name):
            return _error("illegal_argument_exception", f"index name [{name}] does not match pattern "
                          "'^.*-\\d{4}.\\d{2}.\\d{2}(-[\\d]+)?$'", 400)
        index = FakeIndex(name, FakeMapping(mappings, self.parse_error), settings, data_stream=stream)
        self.indices[name] = index
        return index

    def _data_stream(self, method: str, name: str) -> tuple[int, Any]:
        if method == "GET":
            names = [n for n in self.data_streams if fnmatch.fnmatchcase(n, name)]
            return 200, {"data_streams": [{"name": n, "indices": [{"index_name": i} for i in self.data_streams[n]],
                                           "timestamp_field": {"name": "@timestamp"}} for n in names]}
        if method == "DELETE":
            for stream in [n for n in self.data_streams if fnmatch.fnmatchcase(n, name)]:
                for backing in self.data_streams.pop(stream):
                    self.indices.pop(backing, None)
            return 200, {"acknowledged": True}
        if name in self.data_streams:
            return _error("resource_already_exists_exception", f"data_stream [{name}] already exists", 400)
        made = self._new_stream(name)
        return (200, {"acknowledged": True}) if isinstance(made, FakeIndex) else made

    def _new_stream(self, name: str) -> tuple[int, dict[str, Any]] | FakeIndex:
        template = self._matching_template(name)
        if template is None or "data_stream" not in template:
            return _error("illegal_argument_exception", f"no matching index template with a data stream template "
                          f"found for data stream [{name}]", 400)
        backing = f".ds-{name}-{datetime.fromtimestamp(self.now(), tz=UTC):%Y.%m.%d}-000001"
        made = self._create_index(backing, stream=name)
        if isinstance(made, FakeIndex):
            self.data_streams[name] = [backing]
        return made

    def _index_api(self, method: str, target: str, body: Any) -> tuple[int, Any]:
        if method == "PUT":
            if target in self.indices or target in self.data_streams:
                return _error("resource_already_exists_exception", f"index [{target}] already exists", 400,
                              index=target)
            made = self._create_index(target, body if isinstance(body, dict) else None)
            if not isinstance(made, FakeIndex):
                return made
            return 200, {"acknowledged": True, "shards_acknowledged": True, "index": target}
        if method == "DELETE":
            found = self._resolve(target, expand_hidden=False)
            if not found and not any(c in target for c in "*,"):
                return self._missing(target)
            for idx in found:
                self.indices.pop(idx.name, None)
            return 200, {"acknowledged": True}
        if method in ("GET", "HEAD"):
            found = self._resolve(target, expand_hidden=False)
            if not found:
                return self._missing(target)
            return 200, {i.name: {"mappings": i.mapping.as_json(), "settings": _nested(i.settings)} for i in found}
        return (405, {"error": f"Incorrect HTTP method for uri [/{target}] and method [{method}]", "status": 405})

    def _missing(self, name: str) -> tuple[int, dict[str, Any]]:
        return _error("index_not_found_exception", f"no such index [{name}]", 404, index=name,
                      **{"resource.type": "index_or_alias", "resource.id": name})

    def _resolve(self, target: str, *, expand_hidden: bool) -> list[FakeIndex]:
        found: dict[str, FakeIndex] = {}
        for part in target.split(","):
            if part in ("_all", "*"):
                part = "*"
            for stream, backing in self.data_streams.items():
                if fnmatch.fnmatchcase(stream, part):
                    found.update({b: self.indices[b] for b in backing if b in self.indices})
            for name, idx in self.indices.items():
                hidden = name.startswith(".")
                if fnmatch.fnmatchcase(name, part) and (expand_hidden or not hidden or part == name):
                    found[name] = idx
        return list(found.values())

    def _get_mapping(self, target: str) -> tuple[int, Any]:
        found = self._resolve(target, expand_hidden=False)
        if not found and not any(c in target for c in "*,"):
            return self._missing(target)
        return 200, {i.name: {"mappings": i.mapping.as_json()} for i in found}

    def _single(self, rec: Recorded, target: str, parts: list[str], body: Any) -> tuple[int, Any]:
        """PUT /<index>/_doc/<id>, PUT /<index>/_create/<id>, POST /<index>/_doc: one bulk item."""
        create = parts[1] == "_create" or rec.query.get("op_type") == "create"
        meta = {"_index": target, "_id": parts[2] if len(parts) == 3 else None}
        item = self._bulk_item("create" if create else "index", meta, body, None, None)
        status = int(item.pop("status"))
        if "error" in item:
            return _error(**item["error"], status=status) if "type" in item["error"] else (status, item)
        if rec.query.get("refresh") in ("true", "wait_for", ""):
            self._refresh(item["_index"])
        return status, item

    def _get_doc(self, target: str, doc_id: str) -> tuple[int, Any]:
        idx = self.indices.get(target)
        if idx is None:
            return self._missing(target)
        doc = idx.docs.get(doc_id)
        if doc is None:
            return 404, {"_index": target, "_id": doc_id, "found": False}
        return 200, {"_index": target, "_id": doc_id, "_version": 1, "_seq_no": doc.seq, "_primary_term": 1,
                     "found": True, "_source": doc.source}

    def _refresh(self, target: str) -> tuple[int, Any]:
        found = self._resolve(target, expand_hidden=False)
        if not found and not any(c in target for c in "*,"):
            return self._missing(target)
        for idx in found:
            idx.refreshed_seq = self._seq
        return 200, {"_shards": {"total": 2 * len(found), "successful": len(found), "failed": 0}}

    def _search(self, op: str, target: str, body: dict[str, Any], rec: Recorded) -> tuple[int, Any]:
        found = self._resolve(target, expand_hidden=False)
        ignore = rec.query.get("ignore_unavailable") == "true"
        for part in target.split(","):
            if "*" not in part and part != "_all" and part not in self.indices and part not in self.data_streams \
                    and not ignore:
                return self._missing(part)
        if not found and rec.query.get("allow_no_indices") == "false":
            return self._missing(target)
        visible = [d for idx in found for d in idx.docs.values() if self.auto_refresh or d.seq <= idx.refreshed_seq]
        mappings = {idx.name: idx.mapping for idx in found}
        try:
            if op == "_count":
                return 200, count(visible, mappings, body, int(self.now() * 1e9))
            for key in ("size", "from", "track_total_hits"):
                if key in rec.query:
                    value = rec.query[key]
                    body[key] = value == "true" if value in ("true", "false") else int(value)
            return 200, search(visible, mappings, body, int(self.now() * 1e9))
        except SearchError as exc:
            return exc.status, exc.body()

    # -- bulk ---------------------------------------------------------------------------------------------------

    def _bulk(self, rec: Recorded, default_index: str | None) -> tuple[int, Any]:
        data = rec.body
        if not data.endswith(b"\n"):
            return _error("illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]", 400)
        lines = [line for line in data.split(b"\n") if line.strip()]
        items: list[dict[str, Any]] = []
        started = time.perf_counter()
        all_items = self._all_items
        if all_items is not None:
            status, left = all_items
            self._all_items = None if left is not None and left <= 1 else (status, None if left is None else left - 1)
        i = 0
        while i < len(lines):
            try:
                action_line = orjson.loads(lines[i])
            except orjson.JSONDecodeError:
                return _error("illegal_argument_exception", f"Malformed action/metadata line [{i + 1}], expected "
                              "START_OBJECT but found [VALUE_STRING]", 400)
            if not isinstance(action_line, dict) or len(action_line) != 1:
                return _error("illegal_argument_exception", f"Malformed action/metadata line [{i + 1}], expected "
                              "a single action", 400)
            (action, meta), = action_line.items()
            if action not in ("create", "index", "delete", "update"):
                return _error("illegal_argument_exception", f"Malformed action/metadata line [{i + 1}], expected "
                              f"field [create], [delete], [index] or [update] but found [{action}]", 400)
            source: Any = None
            if action != "delete":
                if i + 1 >= len(lines):
                    return _error("action_request_validation_exception",
                                  "Validation Failed: 1: no requests added;", 400)
                try:
                    source = orjson.loads(lines[i + 1])
                except orjson.JSONDecodeError as exc:
                    source = exc
                i += 2
            else:
                i += 1
            items.append({action: self._bulk_item(action, meta or {}, source, default_index, all_items)})
        if rec.query.get("refresh") in ("true", "wait_for", ""):
            for item in items:
                name = next(iter(item.values())).get("_index")
                if name in self.indices:
                    self.indices[name].refreshed_seq = self._seq
        took = int((time.perf_counter() - started) * 1000)
        return 200, {"errors": any(next(iter(it.values())).get("error") for it in items), "took": took,
                     "items": items}

    def _bulk_item(self, action: str, meta: dict[str, Any], source: Any, default_index: str | None,
                   all_items: tuple[int, int | None] | None) -> dict[str, Any]:
        target = meta.get("_index") or default_index
        doc_id = meta.get("_id")
        if target is None:
            return {"_index": None, "_id": doc_id, "status": 400, "error": {
                "type": "action_request_validation_exception", "reason": "Validation Failed: 1: index is missing;"}}
        base = {"_index": target, "_id": doc_id}
        forced = None
        if doc_id is not None and self._item_faults.get(doc_id):
            forced = self._item_faults[doc_id].pop(0)
        elif all_items is not None:
            forced = all_items[0]
        if forced is not None:
            return {**base, "status": forced, "error": self._item_error(forced, target, doc_id)}
        idx = self.indices.get(target)
        stream = target if target in self.data_streams else None
        if idx is None and stream is not None:
            idx = self.indices[self.data_streams[stream][-1]]
        if idx is None:
            if not self.auto_create_index:
                return {**base, "status": 404, "error": {
                    "type": "index_not_found_exception",
                    "reason": f"no such index [{target}] and [action.auto_create_index] is [false]",
                    "index": target}}
            template = self._matching_template(target)
            made = self._new_stream(target) if template is not None and "data_stream" in template \
                else self._create_index(target)
            if not isinstance(made, FakeIndex):
                status, body = made
                return {**base, "status": status, "error": body["error"]["root_cause"][0]}
            idx = made
            stream = idx.data_stream
        if stream is not None and action != "create":
            return {**base, "status": 400, "error": {
                "type": "illegal_argument_exception",
                "reason": "only write ops with an op_type of create are allowed in data streams"}}
        base["_index"] = idx.name
        if action == "delete":
            if doc_id is None or idx.docs.pop(doc_id, None) is None:
                return {**base, "_version": 1, "result": "not_found", "status": 404, **self._shards()}
            return {**base, "_version": 2, "result": "deleted", "status": 200, **self._shards()}
        if isinstance(source, Exception) or not isinstance(source, dict):
            return {**base, "status": 400, "error": {
                "type": self.parse_error, "reason": "[1:1] failed to parse: the source is not a JSON object"}}
        if action == "update":
            return {**base, "status": 400, "error": {"type": "illegal_argument_exception",
                                                     "reason": "update is not supported by the fake"}}
        if doc_id is None:
            doc_id = base["_id"] = uuid.uuid4().hex[:20]
        if stream is not None and "@timestamp" not in source:
            return {**base, "status": 400, "error": {
                "type": "illegal_argument_exception",
                "reason": "data stream timestamp field [@timestamp] is missing"}}
        existing = idx.docs.get(doc_id)
        if existing is not None and action == "create":
            return {**base, "status": 409, "error": {
                "type": "version_conflict_engine_exception",
                "reason": f"[{doc_id}]: version conflict, document already exists (current version [1])",
                "index_uuid": "fAkEiNdExUuId0000000000", "shard": "0", "index": idx.name}}
        try:
            values = idx.mapping.parse(source, doc_id)
        except DocumentError as exc:
            return {**base, "status": 400, "error": exc.body()}
        self._seq += 1
        idx.docs[doc_id] = StoredDoc(idx.name, doc_id, source, values, self._seq)
        if existing is not None:
            return {**base, "_version": 2, "result": "updated", "status": 200, "_seq_no": self._seq - 1,
                    "_primary_term": 1, **self._shards()}
        return {**base, "_version": 1, "result": "created", "status": 201, "_seq_no": self._seq - 1,
                "_primary_term": 1, **self._shards()}

    def _shards(self) -> dict[str, Any]:
        return {"_shards": {"total": 2, "successful": 1, "failed": 0}}

    def _item_error(self, status: int, target: str, doc_id: str | None) -> dict[str, Any]:
        if status == 429:
            return {"type": "es_rejected_execution_exception",
                    "reason": "rejected execution of primary operation [coordinating_and_primary_bytes=104857600, "
                              "replica_bytes=0, all_bytes=104857600, primary_operation_bytes=1024, "
                              "max_coordinating_and_primary_bytes=107374182]"}
        if status == 503:
            return {"type": "unavailable_shards_exception",
                    "reason": f"[{target}][0] primary shard is not active Timeout: [1m], request: [BulkShardRequest "
                              f"[[{target}][0]] containing [1] requests]"}
        if status == 400:
            return {"type": self.parse_error, "reason": f"[1:1] failed to parse field [pii] in document with id "
                    f"'{doc_id}'", "caused_by": {"type": "illegal_argument_exception", "reason": "scripted"}}
        if status == 403:
            return {"type": "security_exception", "reason": "action [indices:data/write/bulk[s]] is unauthorized "
                    "for user [pii-guard] with effective roles [pii-guard-reader] on indices [" + target + "]"}
        if status == 404:
            return {"type": "index_not_found_exception", "reason": f"no such index [{target}]", "index": target}
        return {"type": "exception", "reason": f"scripted failure {status}"}


def _nested(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value if isinstance(value, str) else orjson.dumps(value).decode().strip('"')
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-elasticsearch"
    disable_nagle_algorithm = True
    wbufsize = 1 << 16  # headers and body in one write; handle_one_request flushes after each answer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        fake: FakeElasticsearch = self.server.fake  # type: ignore[attr-defined]
        with fake._lock:
            fake._connections.add(self.connection)
        try:
            with contextlib.suppress(ssl.SSLError, ConnectionError, TimeoutError, OSError):
                if isinstance(self.connection, ssl.SSLSocket):
                    self.connection.do_handshake()  # a client that does not trust the certificate fails here
                super().handle()
        finally:
            with fake._lock:
                fake._connections.discard(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(ssl.SSLError, ConnectionError, TimeoutError, OSError):
            super().finish()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def _serve(self, method: str) -> None:
        fake: FakeElasticsearch = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding", "").lower() == "gzip" and body:
            body = gzip.decompress(body)
        parts = urlsplit(self.path)
        rec = Recorded(method, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                       {k.lower(): v for k, v in self.headers.items()}, body)
        with fake._lock:
            fake.requests.append(rec)
        status, answer, extra = fake.handle(rec)
        rec.status = status
        if isinstance(answer, dict) and "filter_path" in rec.query and status < 300:
            answer = _filter_path(answer, rec.query["filter_path"].split(","))
        payload = b"" if answer is None else orjson.dumps(answer)
        compat = re.search(r"compatible-with=(\d+)", rec.headers.get("accept", ""))
        ctype = f"application/vnd.elasticsearch+json;compatible-with={compat.group(1)}" if compat else \
            "application/json"
        self.send_response(status)
        if fake.product_header:
            self.send_header("X-Elastic-Product", "Elasticsearch")
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Type", ctype if fake.product_header else "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)


def api_key(key_id: str = "pQ3kD5ABfakeid00", key: str = "s3cr3t-api-key-value") -> str:
    """An encoded API key as Elasticsearch hands it out: base64 of id:key."""
    return base64.b64encode(f"{key_id}:{key}".encode()).decode()


@pytest.fixture
def fake_es() -> Iterator[FakeElasticsearch]:
    """A started FakeElasticsearch without security; `fake_es.url` is its address."""
    fake = FakeElasticsearch().start()
    try:
        yield fake
    finally:
        fake.stop()
