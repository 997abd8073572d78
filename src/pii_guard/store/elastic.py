"""The Elasticsearch event store: bulk `create` with the deterministic event id as `_id`, one index per UTC day.

A batch is written when every event in it is resolved: stored (201), already stored (409, a replay) or
rejected for good (a 400 for that document: kept in the local dead-letter SQLite file with the reason).
Throttling and unavailability (whole-request or per-item 429 and 5xx, timeouts, connection errors) are
retried with backoff, the whole request or only the failed items. A write that cannot finish within its time
budget raises StoreError; the daemon then keeps the batch, pauses and retries it later, and advances no
checkpoint. Retrying is always safe: a `create` of an event that did get stored answers 409.

The budget (`write_budget_s`, 10 s) keeps a write well inside the daemon's watchdog interval. After a failed
write the store backs off for a while (1 s doubling to 60 s) and refuses writes at once until then, so a
cluster in trouble is not hammered by the daemon's retries.

Secrets reach the client and nothing else: no message or log line carries an API key or password.
"""

from __future__ import annotations

import importlib.metadata
import logging
import random
import re
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple, cast
from urllib.parse import urlsplit

import orjson
from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    ConnectionTimeout,
    Elasticsearch,
    SSLError,
    TransportError,
    UnsupportedProductError,
)
from elasticsearch import ConnectionError as EsConnectionError

from pii_guard.config.models import ElasticsearchStoreConfig
from pii_guard.config.secrets import Secret
from pii_guard.errors import StoreError
from pii_guard.model import EnrichedEvent, ecs_document
from pii_guard.store import elastic_mapping as em
from pii_guard.store.base import MAX_DEAD_LETTER_CHARS, DeadLetter, WriteResult
from pii_guard.store.sqlite import connect, migrate

log = logging.getLogger("pii_guard.store.elastic")
_CLIENT_VERSION: Final = importlib.metadata.version("elasticsearch")

RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
MAX_BULK_BYTES: Final = 8 * 1024 * 1024  # Elastic suggests bulk requests of a few MB to a few tens of MB
_BULK_FILTER: Final = "errors,items.*.status,items.*.error"  # the per-item results, without _shards etc.
_INSERT_DEAD: Final = """INSERT OR IGNORE INTO dead_letters (source, fingerprint, offset, format, reason, text,
    seen) VALUES (?,?,?,?,?,?,?)"""
# The local dead-letter file: the SQLite store's dead_letters table, alone.
DEAD_LETTER_MIGRATIONS: Final[tuple[str, ...]] = (
    """
    CREATE TABLE dead_letters (
        seq INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        offset INTEGER NOT NULL,
        format TEXT NOT NULL,
        reason TEXT NOT NULL,
        text TEXT NOT NULL,
        seen INTEGER NOT NULL,
        UNIQUE (fingerprint, offset)
    );
    """,
)


class _Item(NamedTuple):
    event_id: str
    target: str  # the index
    lines: bytes  # the action line and the document, NDJSON
    doc: bytes
    offset: int


def _error_of(body: object) -> tuple[str, str]:
    """(type, reason) of an Elasticsearch error body or bulk item error, with the root cause when it adds one."""
    err = body.get("error", body) if isinstance(body, Mapping) else body
    if isinstance(err, str):
        return err, ""
    if not isinstance(err, Mapping):
        return "error", str(body)[:500]
    kind, reason = str(err.get("type", "error")), str(err.get("reason") or "")
    caused = err.get("caused_by")
    if isinstance(caused, Mapping) and caused.get("reason"):
        reason = f"{reason}; caused by {caused.get('type')}: {caused.get('reason')}"
    return kind, reason


def _transport_reason(exc: TransportError) -> str:
    """The root cause of a connection problem without object reprs (`<urllib3... at 0x7f..>`)."""
    root: BaseException = exc
    for _ in range(10):
        nested = getattr(root, "errors", ()) or ()
        nxt = nested[0] if nested else root.__cause__
        if not isinstance(nxt, BaseException):
            break
        root = nxt
    text = str(getattr(root, "message", None) or root) or type(root).__name__
    text = re.sub(r"<[^<>]* at 0x[0-9a-f]+>:?\s*", "", text)
    errno = re.search(r"\[Errno -?\d+\][^)'\"]*", text)
    return (errno.group(0) if errno else text).strip()[:300]


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        kind, reason = _error_of(exc.body)
        return f"{exc.meta.status} {kind}" + (f": {reason}" if reason else "")
    if isinstance(exc, ConnectionTimeout):
        return "no answer in time (request_timeout_s)"
    if isinstance(exc, TransportError):
        return _transport_reason(exc)
    return str(exc)[:300]


def _public_hosts(hosts: Sequence[str]) -> str:
    return ", ".join(hosts)


class _DeadLetterFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect(path, "FULL", "dead-letter file")
        try:
            migrate(self._conn, DEAD_LETTER_MIGRATIONS, f"dead-letter file {path}")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot prepare dead-letter file {path}: {exc}") from None

    def add(self, letters: Sequence[DeadLetter]) -> int:
        conn = self._conn
        try:
            conn.execute("BEGIN")
            before = conn.total_changes
            conn.executemany(_INSERT_DEAD, [(d.source, d.fingerprint, d.offset, d.format, d.reason,
                                             d.text[:MAX_DEAD_LETTER_CHARS], d.time_us) for d in letters])
            added = conn.total_changes - before
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"cannot write to dead-letter file {self.path}: {exc}") from None
        return added

    def count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0])

    def close(self) -> None:
        self._conn.close()


class ElasticsearchEventStore:
    """Access events in Elasticsearch; rejected documents and unparsable lines in a local SQLite file."""

    backoff_base_s = 0.1  # first retry of a batch's failed items after ~0.1 s, doubling ...
    backoff_cap_s = 2.0  # ... up to 2 s between attempts
    write_budget_s = 10.0  # a write gives up (StoreError) rather than block longer than this
    cooldown_base_s = 1.0  # after a failed write, refuse writes for 1 s, doubling ...
    cooldown_cap_s = 60.0  # ... up to a minute

    def __init__(
        self,
        config: ElasticsearchStoreConfig,
        *,
        api_key: Secret | None = None,
        password: Secret | None = None,
        ca_certs: Path | None = None,
        dead_letters: Path,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._sleep = sleep
        problem = em.check_prefix(config.index_prefix)
        if problem is not None:
            raise StoreError(f"store index_prefix {config.index_prefix!r}: {problem}")
        self._hosts = [h.rstrip("/") for h in config.hosts]
        self._client = self._make_client(api_key, password, ca_certs)
        self._bulk = self._client.options(max_retries=0, retry_on_timeout=False, retry_on_status=())
        self._day_index: dict[int, str] = {}
        self._carried: set[str] = set()  # ids stored by writes that then failed: their 409 is ours
        self._failures = 0
        self._resume_at = 0.0
        try:
            self._check_cluster()
            self._install()
            self._dead = _DeadLetterFile(dead_letters)
        except BaseException:
            self._client.close()
            raise

    # -- what the search side uses ----------------------------------------------------------------------------

    @property
    def client(self) -> Elasticsearch:
        """The connected client (auth, TLS and timeouts applied); searches retry 502/503/504 twice."""
        return self._client

    @property
    def search_index(self) -> str:
        """Every index this store writes to, for _search and _count: `<index_prefix>-events-*`."""
        return em.index_pattern(self.config.index_prefix)

    def index_for(self, time_us: int) -> str:
        """The index an event of this time goes to."""
        day = time_us // 86_400_000_000
        name = self._day_index.get(day)
        if name is None:
            name = self._day_index[day] = em.day_index(self.config.index_prefix, time_us)
        return name

    def refresh(self) -> None:
        """Make everything written so far visible to searches now rather than within the refresh interval."""
        try:
            self._client.indices.refresh(index=self.search_index, allow_no_indices=True)
        except (ApiError, TransportError) as exc:
            raise StoreError(f"cannot refresh {self.search_index}: {_describe(exc)}") from None

    # -- EventStore ---------------------------------------------------------------------------------------------

    def write(self, events: Sequence[EnrichedEvent], dead: Sequence[DeadLetter]) -> WriteResult:
        now = time.monotonic()
        if now < self._resume_at:
            raise StoreError(
                f"Elasticsearch write backing off after {self._failures} failed attempt(s), "
                f"next attempt in {self._resume_at - now:.1f} s",
                hint="the batch is kept and retried; no checkpoint advances until it is stored",
            )
        items = [self._item(e) for e in events]
        created: set[str] = set()
        try:
            stored, duplicates, rejected = self._index(items, created)
            written = self._dead.add([*dead, *rejected]) if dead or rejected else 0
            if rejected:  # the reasons quote field values: they stay in the dead-letter file, not in the log
                log.warning("Elasticsearch rejected %d document(s), kept in the dead-letter file", len(rejected),
                            extra={"dead_letters": str(self._dead.path)})
        except StoreError:
            self._carried |= created
            self._failures += 1
            delay = min(self.cooldown_cap_s, self.cooldown_base_s * 2.0 ** min(self._failures - 1, 16))
            self._resume_at = time.monotonic() + delay
            raise
        self._carried.clear()
        self._failures = 0
        self._resume_at = 0.0
        return WriteResult(stored, duplicates, written)

    def count_events(self) -> int:
        """Events searchable now (the last refresh; `refresh()` first to include the latest writes)."""
        try:
            answer = self._client.count(index=self.search_index, allow_no_indices=True)
        except (ApiError, TransportError) as exc:
            raise StoreError(f"cannot count events in {self.search_index}: {_describe(exc)}") from None
        return int(answer["count"])

    def count_dead_letters(self) -> int:
        return self._dead.count()

    def close(self) -> None:
        self._client.close()
        self._dead.close()

    # -- start-up -----------------------------------------------------------------------------------------------

    def _make_client(self, api_key: Secret | None, password: Secret | None, ca_certs: Path | None) -> Elasticsearch:
        cfg = self.config
        if not self._hosts:
            raise StoreError("store hosts is empty", hint="list the cluster's URLs, e.g. https://es1.example.com:9200")
        for host in self._hosts:
            parts = urlsplit(host)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise StoreError(f"store hosts: {host.split('@')[-1]!r} is not an http(s) URL",
                                 hint="e.g. https://es1.example.com:9200")
            if parts.username is not None or parts.password is not None:
                raise StoreError("store hosts: credentials in a URL are not accepted",
                                 hint="use username with password_file, or api_key_file")
        if api_key is not None and (cfg.username is not None or password is not None):
            raise StoreError("store: both an API key and a username/password are set",
                             hint="keep one: api_key_file, or username with password_file")
        if (cfg.username is None) != (password is None):
            raise StoreError("store: basic auth needs both username and a password",
                             hint="set username and one of password_file, password_env, password")
        tls = any(urlsplit(h).scheme == "https" for h in self._hosts)
        if ca_certs is not None:
            if not tls:
                raise StoreError("store ca_certs is set but hosts use http://", hint="use https:// URLs")
            if not ca_certs.is_file():
                raise StoreError(f"store ca_certs: no file {ca_certs}",
                                 hint="the PEM file of the CA that signed the cluster's certificate")
        options: dict[str, Any] = {
            "request_timeout": cfg.request_timeout_s,
            "max_retries": 2,
            "retry_on_timeout": False,
            "retry_on_status": (502, 503, 504),
        }
        if tls:
            options["verify_certs"] = cfg.verify_certs
            if ca_certs is not None:
                options["ca_certs"] = str(ca_certs)
            if not cfg.verify_certs:
                options["ssl_show_warn"] = False
                log.warning("TLS certificate verification is off (store verify_certs: false)",
                            extra={"hosts": _public_hosts(self._hosts)})
        if api_key is not None:
            options["api_key"] = api_key.reveal()
        elif cfg.username is not None and password is not None:
            options["basic_auth"] = (cfg.username, password.reveal())
        try:
            return Elasticsearch(self._hosts, **options)
        except (ValueError, TypeError) as exc:
            raise StoreError(f"store hosts: {str(exc)[:200]}") from None

    def _check_cluster(self) -> None:
        where = _public_hosts(self._hosts)
        try:
            info = self._bulk.info()
        except UnsupportedProductError:
            raise StoreError(f"the server at {where} is not Elasticsearch (no `X-Elastic-Product: Elasticsearch`)",
                             hint="pii-guard stores events in Elasticsearch 8 or 9; check store.hosts") from None
        except AuthenticationException as exc:
            kind, reason = _error_of(exc.body)
            raise StoreError(f"Elasticsearch at {where} refused the credentials (401 {kind}: {reason})",
                             hint="check store api_key_file (the encoded API key) or username and password_file"
                             ) from None
        except AuthorizationException as exc:
            raise StoreError(f"Elasticsearch at {where} denied the cluster info request ({_describe(exc)})",
                             hint="the credentials need the `monitor` cluster privilege") from None
        except ApiError as exc:
            kind, reason = _error_of(exc.body)
            if kind == "media_type_header_exception":
                raise StoreError(
                    f"Elasticsearch at {where} does not accept the requests of elasticsearch-py {_CLIENT_VERSION} "
                    f"({reason})",
                    hint="install the Python client of the cluster's major version, e.g. "
                    "pip install 'elasticsearch>=8.12,<9' for Elasticsearch 8",
                ) from None
            raise StoreError(f"Elasticsearch at {where} answered {_describe(exc)}") from None
        except SSLError as exc:
            raise StoreError(f"TLS with {where} failed: {_transport_reason(exc)}",
                             hint="set store ca_certs to the CA that signed the cluster's certificate") from None
        except ConnectionTimeout:
            raise StoreError(f"Elasticsearch at {where} did not answer within {self.config.request_timeout_s} s",
                             hint="check that the cluster is up and reachable; raise request_timeout_s if slow"
                             ) from None
        except EsConnectionError as exc:
            raise StoreError(f"cannot reach Elasticsearch at {where}: {_transport_reason(exc)}",
                             hint="check store hosts and that the cluster is up and reachable from here") from None
        except TransportError as exc:
            raise StoreError(f"Elasticsearch at {where}: {_describe(exc)}") from None
        version = str(info.get("version", {}).get("number", "0"))
        major = int(version.split(".")[0]) if version.split(".")[0].isdecimal() else 0
        if major < 8:
            raise StoreError(f"Elasticsearch at {where} is version {version}", hint="pii-guard needs 8.x or 9.x")
        log.info("connected to Elasticsearch", extra={"hosts": where, "cluster": info.get("cluster_name"),
                                                       "version": version, "index_pattern": self.search_index})

    def _install(self) -> None:
        """The ILM policy (when retention is set) and the index template, every start: a PUT is idempotent
        and brings the template up to this version's mappings for the next day's index."""
        prefix = self.config.index_prefix
        retention = self.config.retention
        if retention is not None:
            self._setup("ILM policy", "manage_ilm", lambda: self._bulk.ilm.put_lifecycle(
                name=em.policy_name(prefix), policy=em.ilm_policy(retention)))
        body = em.template_body(prefix, retention)
        self._setup("index template", "manage_index_templates", lambda: self._bulk.indices.put_index_template(
            name=em.template_name(prefix), **body))

    def _setup(self, what: str, privilege: str, call: Callable[[], object]) -> None:
        where = _public_hosts(self._hosts)
        try:
            self._retrying(call)
        except AuthorizationException as exc:
            raise StoreError(f"cannot install the {what} on {where}: {_describe(exc)}",
                             hint=f"the credentials need the `{privilege}` cluster privilege") from None
        except (ApiError, TransportError) as exc:
            raise StoreError(f"cannot install the {what} on {where}: {_describe(exc)}") from None

    def _retrying(self, call: Callable[[], object]) -> object:
        deadline = time.monotonic() + self.write_budget_s
        attempt = 0
        while True:
            try:
                return call()
            except (ConnectionTimeout, ApiError) as exc:
                status = exc.meta.status if isinstance(exc, ApiError) else 0
                if isinstance(exc, ApiError) and status not in RETRY_STATUSES:
                    raise
                attempt += 1
                delay = self._backoff(attempt)
                if attempt > self.config.max_retries or time.monotonic() + delay > deadline:
                    raise
                self._sleep(delay)

    # -- bulk ---------------------------------------------------------------------------------------------------

    def _item(self, item: EnrichedEvent) -> _Item:
        ev = item.event
        index = self.index_for(ev.time_us)
        doc = orjson.dumps(ecs_document(item))
        action = orjson.dumps({"create": {"_index": index, "_id": ev.id}})
        return _Item(ev.id, index, action + b"\n" + doc + b"\n", doc, ev.offset)

    def _chunks(self, items: Sequence[_Item]) -> Iterator[list[_Item]]:
        chunk: list[_Item] = []
        size = 0
        limit = self.config.batch_size
        for item in items:
            if chunk and (len(chunk) >= limit or size + len(item.lines) > MAX_BULK_BYTES):
                yield chunk
                chunk, size = [], 0
            chunk.append(item)
            size += len(item.lines)
        if chunk:
            yield chunk

    def _backoff(self, attempt: int) -> float:
        delay = min(self.backoff_cap_s, self.backoff_base_s * 2.0 ** min(attempt - 1, 30))
        return delay / 2 + random.uniform(0, delay / 2)

    def _index(self, items: Sequence[_Item], created: set[str]) -> tuple[int, int, list[DeadLetter]]:
        """Send every item until each is stored, a duplicate or rejected; StoreError when that cannot be done
        within the retry limits. `created` collects the ids this call stored, for the caller's accounting."""
        stored = duplicates = 0
        rejected: list[DeadLetter] = []
        pending: Sequence[_Item] = items
        deadline = time.monotonic() + self.write_budget_s
        attempt = 0
        while pending:
            retry: list[_Item] = []
            problem = ""
            queue = deque(self._chunks(pending))
            while queue:
                chunk = queue.popleft()
                timeout = max(0.5, min(self.config.request_timeout_s, deadline - time.monotonic()))
                try:
                    # NDJSON already encoded (the client passes bytes through): a retry re-sends the same bytes
                    body = cast(Any, b"".join(i.lines for i in chunk))
                    answer = self._bulk.options(request_timeout=timeout).bulk(operations=body, filter_path=_BULK_FILTER)
                except ApiError as exc:
                    status = exc.meta.status
                    if status == 413 and len(chunk) > 1:  # larger than http.max_content_length: halve it
                        queue.extendleft([chunk[len(chunk) // 2:], chunk[: len(chunk) // 2]])
                        continue
                    if status == 413:
                        rejected.append(self._letter(chunk[0], "the document is larger than the cluster's "
                                                     f"http.max_content_length ({_describe(exc)})"))
                        continue
                    if status not in RETRY_STATUSES:
                        raise self._refused(_describe(exc), status) from None
                    retry.extend(chunk)
                    problem = _describe(exc)
                    continue
                except SSLError as exc:
                    raise StoreError(f"TLS with {_public_hosts(self._hosts)} failed: {_transport_reason(exc)}",
                                     hint="check store ca_certs") from None
                except TransportError as exc:  # connection refused or reset, timeout, unreadable answer
                    retry.extend(chunk)
                    problem = _describe(exc)
                    continue
                results = answer.body.get("items") or []
                if len(results) != len(chunk):
                    retry.extend(chunk)
                    problem = f"bulk answer has {len(results)} results for {len(chunk)} documents"
                    continue
                for item, result in zip(chunk, results, strict=True):
                    outcome = next(iter(result.values())) if isinstance(result, Mapping) and result else {}
                    status = int(outcome.get("status", 0))
                    if status in (200, 201):
                        stored += 1
                        created.add(item.event_id)
                    elif status == 409:
                        if item.event_id in self._carried:  # stored by an earlier, failed write of this batch
                            self._carried.discard(item.event_id)
                            stored += 1
                        else:
                            duplicates += 1
                    elif status in RETRY_STATUSES or status == 0:
                        retry.append(item)
                        kind, reason = _error_of(outcome)
                        problem = f"{status} {kind}: {reason}"
                    elif status == 400:
                        kind, reason = _error_of(outcome)
                        rejected.append(self._letter(item, f"Elasticsearch rejected the document: {kind}: {reason}"))
                    else:  # 401/403 (privileges), 404 (index cannot be created) ...: not the document's fault
                        kind, reason = _error_of(outcome)
                        raise self._refused(f"{status} {kind}: {reason}", status)
            if not retry:
                break
            attempt += 1
            delay = self._backoff(attempt)
            if attempt > self.config.max_retries or time.monotonic() + delay > deadline:
                raise StoreError(
                    f"Elasticsearch did not take {len(retry)} of {len(items)} events after {attempt} attempt(s): "
                    f"{problem}",
                    hint="the batch is kept and retried; no checkpoint advances until it is stored",
                )
            log.debug("retrying %d events in %.2f s: %s", len(retry), delay, problem)
            self._sleep(delay)
            pending = retry
        return stored, duplicates, rejected

    def _refused(self, what: str, status: int) -> StoreError:
        hint = None
        if status == 401:
            hint = "the cluster no longer accepts the credentials (an expired or revoked API key?)"
        elif status == 403:
            hint = (f"the credentials need the create_doc and create_index (or auto_configure) privileges on "
                    f"{self.search_index}")
        elif status == 404:
            hint = f"the cluster must allow creating indices {self.search_index} (action.auto_create_index)"
        return StoreError(f"Elasticsearch refused the write: {what}", hint=hint)

    def _letter(self, item: _Item, reason: str) -> DeadLetter:
        return DeadLetter(source=f"elasticsearch:{item.target}", fingerprint=item.event_id, offset=item.offset,
                          format="ecs", reason=reason[:2000], text=item.doc.decode(),
                          time_us=int(time.time() * 1_000_000))
