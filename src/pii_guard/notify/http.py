"""One HTTP request for the webhook and Jira notifiers: the standard library only, no redirects followed
(a redirect would drop the body or carry credentials elsewhere), proxies from the environment, a body size
cap and an overall deadline. Network failures come back as a value, never as an exception, and their
reasons never contain the URL's path, query or user info (webhook URLs often carry a token there)."""

from __future__ import annotations

import json
import re
import time
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import Any, Literal
from urllib.parse import urlsplit

from pii_guard import __version__

USER_AGENT = f"pii-guard/{__version__}"
MAX_BODY = 1 << 20  # a peer's answer is small; more than this is cut (and still judged by its status)


@dataclass(frozen=True, slots=True)
class Response:
    """Any answer with a status line, 2xx or not."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-cased
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Unreachable:
    """No answer: `timeout` and `network` are worth retrying, `invalid` (a URL urllib cannot use) is not."""

    kind: Literal["timeout", "network", "invalid"]
    reason: str


HttpResult = Response | Unreachable


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError with the 3xx status, which the caller maps


_OPENER = urllib.request.build_opener(_NoRedirect())


def peer(url: str) -> str:
    """What a reason may say about a URL: scheme, host and port, never user info, path or query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://[{host}]{port}" if ":" in host else f"{parts.scheme}://{host}{port}"


def request(method: str, url: str, *, headers: Mapping[str, str], body: bytes | None = None,
            timeout_s: float, max_body: int = MAX_BODY) -> HttpResult:
    """One attempt. `timeout_s` bounds connecting, each read and (roughly) the whole body."""
    where = peer(url)
    all_headers = {"User-Agent": USER_AGENT, **headers}
    try:
        req = urllib.request.Request(url, data=body, headers=all_headers, method=method)
    except ValueError:
        return Unreachable("invalid", f"{where}: not a usable http(s) URL")
    if req.type not in ("http", "https"):
        return Unreachable("invalid", f"{where}: only http and https URLs are supported")
    deadline = time.monotonic() + timeout_s
    answer: Any
    try:
        answer = _OPENER.open(req, timeout=timeout_s)
    except urllib.error.HTTPError as exc:  # a status line that is not 2xx: still an answer
        answer = exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return Unreachable("timeout", f"{where}: no answer within {timeout_s:g}s")
        return Unreachable("network", f"{where}: {_describe(exc.reason)}")
    except TimeoutError:
        return Unreachable("timeout", f"{where}: no answer within {timeout_s:g}s")
    except (OSError, HTTPException) as exc:
        return Unreachable("network", f"{where}: {_describe(exc)}")
    except ValueError:  # a URL or header http.client refuses (bad port, control characters)
        return Unreachable("invalid", f"{where}: the request could not be formed (check the URL)")
    status = answer.code if isinstance(answer, urllib.error.HTTPError) else answer.status
    try:
        with answer:
            return Response(int(status), _headers(answer.headers), _read(answer, max_body, deadline))
    except TimeoutError:
        return Unreachable("timeout", f"{where}: the answer did not arrive within {timeout_s:g}s")
    except (OSError, HTTPException) as exc:
        return Unreachable("network", f"{where}: reading the answer failed: {_describe(exc)}")


def _read(resp: Any, max_body: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < max_body:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = resp.read(min(65536, max_body - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _headers(message: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in message.items()} if message is not None else {}


def _describe(exc: object) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return clean(exc.strerror, 200)
    return clean(str(exc) or type(exc).__name__, 200)


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header as seconds from now: delay-seconds or an HTTP-date (RFC 9110 10.2.3). A date in
    the past is 0; anything unparseable is None (the worker's own backoff applies)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds and seconds != float("inf") else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" in RFC 2822 terms; HTTP-dates are always GMT
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f]")


def clean(text: str, limit: int) -> str:
    """Untrusted text fit for a one-line reason or log record: control characters (C0, C1, bidi overrides)
    turned into spaces, runs of whitespace collapsed, capped at `limit` characters."""
    text = _BIDI.sub("", text)
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339(us: int) -> str:
    """Microseconds since the epoch as RFC 3339 UTC with microseconds: "2024-05-01T12:00:00.000000Z"."""
    return (_EPOCH + timedelta(microseconds=us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
