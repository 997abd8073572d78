"""nginx and Apache access logs: the "combined" layout by default, any `log_format` / `LogFormat` on request.

A log format is compiled once (`weblog_layout`) into one regex whose capturing groups are read by position (a
`groups()` tuple and fixed indexes, no name lookups per line): this is the hot path of busy web servers, so a
line costs one regex match, one cached timestamp lookup and the event itself. The formats' options (pydantic
models) are in `weblog_options`.

Quirks that shape the code (shared/samples/FORMATS.md §6):
- nginx escapes `"`, `\\` and non-printable bytes as `\\xHH`, so its quoted fields never hold a raw `"` and the
  fast `[^"]*` pattern is exact; Apache writes `\\"` and `\\\\`, which needs the slower escape-aware pattern.
  nginx's `escape=json` writes `\\"` too: a line the fast regex rejects is retried with the escape-aware one.
- `$remote_user` / `%u` is whatever the client claimed, even when the password was wrong (401): only a
  non-401 response makes it `user.name`; a 401's claimed name goes to `pii.claimed_user`. On locations without
  authentication nginx still logs the name from any `Authorization` header, so it is a claim there too.
- Apache drops the protocol of a malformed request line (two tokens); nginx logs the garbage as sent, and the
  runs of blanks of a line it served (`GET  /x  HTTP/1.1`). With `%m %U%q %H` instead of `%r`, Apache writes
  `- - HTTP/1.0` for a request line it could not read. Both serve an absolute-form URI (`GET http://host/x`,
  sent to a proxy, or by scanners) as its path: the object is the path's, the host is `url.domain`.
- The client address is an IP address, or a host name (Apache's `HostnameLookups On`, kept as `source.domain`),
  or `unix:` (nginx on a unix socket): only an address becomes `source.ip`, and only an address from
  X-Forwarded-For replaces the peer's.
- Apache escapes `%u`, `%U` and `%q` but not their spaces: a user from Basic auth or LDAP ("bob smith", or any
  name a 401 was claimed with) and `%U`, the *decoded* path (`/payroll 2024 caf\\xc3\\xa9.csv`), may hold
  spaces, so Apache's user and path patterns allow them and the path and query are unescaped.
- URLs carry personal data (emails, names in search queries): query-string values are masked in `url.*`,
  `http.request.referrer` and `event.original` alike, keys kept (`?q=<masked>`), and so are the values of path
  parameters (`;jsessionid=<masked>`) and the password of a URL's userinfo (`https://bob:<masked>@host/`).
  Both servers log a space in a query as sent (`?email=jane doe@example.com`): a query runs to the end of a
  referrer and to the final ` HTTP/x.y` of a request line. Cookies and Authorization headers, when a custom
  format logs them, are masked whole.
"""

from __future__ import annotations

import contextlib
import re
from abc import abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from operator import itemgetter
from typing import Any, ClassVar, Final
from urllib.parse import unquote

from pydantic import BaseModel

from pii_guard.model import CREATE, DELETE, FAILURE, OTHER, READ, RENAME, SUCCESS, UNKNOWN, WRITE
from pii_guard.model import AccessEvent as Event
from pii_guard.parsers import strftime
from pii_guard.parsers.base import Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.normalize import dot_normalized, is_address
from pii_guard.parsers.timeparse import MONTHS, TimestampError, offset_seconds
from pii_guard.parsers.weblog_layout import ROLE_ORDER, Layout, apache_layout, nginx_layout
from pii_guard.parsers.weblog_options import ApacheOptions, NginxOptions, WebLogOptions

MASK: Final = "<masked>"
# Debian's other_vhosts_access.log, where a virtual host without a CustomLog of its own writes
APACHE_VHOST_COMBINED: Final = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'
_VHOST_HEAD: Final = re.compile(r"[^\s:\[\]]+:\d+ \S+ ")  # `intranet.example:443 10.0.0.5 `, not an IPv6 %h

_METHOD_ACTIONS: Final = {
    "GET": READ, "HEAD": READ, "PUT": WRITE, "POST": WRITE, "PATCH": WRITE, "DELETE": DELETE,
    # WebDAV (mod_dav, nginx's dav module), file shares over HTTP, and CalDAV/CardDAV address books: a
    # PROPFIND lists a collection (its file names), a REPORT or SEARCH returns entries (contacts); a COPY has
    # the server read the logged source (its destination is a header, not logged); a MOVE renames it
    "PROPFIND": READ, "REPORT": READ, "SEARCH": READ, "COPY": READ, "MKCOL": CREATE, "MOVE": RENAME,
    "PROPPATCH": WRITE,
}  # fmt: skip
_UNTRUSTED_USER_STATUS: Final = frozenset({401, 407})

_HOT_ROLES: Final = ("addr", "user", "time", "method", "path", "query", "protocol", "status", "bytes", "referer",
                     "agent")  # fmt: skip


# ---------------------------------------------------------------------------------------------------------
# Field helpers

_ESCAPE: Final = re.compile(rb"\\(x[0-9A-Fa-f]{2}|.)", re.S)
_SIMPLE_ESCAPES: Final = {b'"': b'"', b"\\": b"\\", b"n": b"\n", b"t": b"\t", b"r": b"\r", b"b": b"\b",
                          b"v": b"\v"}  # fmt: skip


def _unescape_one(m: re.Match[bytes]) -> bytes:
    code = m.group(1)
    if len(code) == 3:
        return bytes((int(code[1:], 16),))
    return _SIMPLE_ESCAPES.get(code, b"\\" + code)


def _unescaped(text: str, escapes: re.Pattern[bytes], one: Callable[[re.Match[bytes]], bytes]) -> str:
    """`text` with its `escapes` undone (`one` gives each one's bytes), read as UTF-8."""
    if "\\" not in text:
        return text
    raw = text.encode("utf-8", "surrogateescape")
    return escapes.sub(one, raw).decode("utf-8", "backslashreplace")


def unescape(text: str) -> str:
    """nginx `\\xHH` and Apache `\\"`, `\\\\`, `\\xhh`, `\\n` ... -> the bytes sent, read as UTF-8."""
    return _unescaped(text, _ESCAPE, _unescape_one)


_JSON_ESCAPE: Final = re.compile(rb"\\(u[0-9A-Fa-f]{4}|.)", re.S)
_JSON_ESCAPES: Final = {b'"': b'"', b"\\": b"\\", b"/": b"/", b"n": b"\n", b"t": b"\t", b"r": b"\r", b"b": b"\b",
                        b"f": b"\f"}  # fmt: skip


def _unescape_json_one(m: re.Match[bytes]) -> bytes:
    code = m.group(1)
    if len(code) == 5:
        return chr(int(code[1:], 16)).encode("utf-8", "surrogatepass")
    return _JSON_ESCAPES.get(code, b"\\" + code)


def unescape_json(text: str) -> str:
    """nginx `escape=json`: `\\"`, `\\\\`, `\\n` ... and `\\u0001` (control bytes) -> the bytes sent, read as UTF-8."""
    return _unescaped(text, _JSON_ESCAPE, _unescape_json_one)


def _as_logged(text: str) -> str:
    """nginx `escape=none`: values are written as sent."""
    return text


_UNESCAPES: Final[dict[str, Callable[[str], str]]] = {"default": unescape, "json": unescape_json, "none": _as_logged}


def mask_query(query: str) -> str:
    """`a=1&b=x@y.z&flag` -> `a=<masked>&b=<masked>&<masked>`: keys tell what was asked, values are data."""
    out: list[str] = []
    for part in query.split("&"):
        if not part:
            out.append(part)
        else:
            key, eq, _ = part.partition("=")
            out.append(key + "=" + MASK if eq else MASK)
    return "&".join(out)


_USERINFO: Final = re.compile(r"(//[^\s/?#@:]*:)[^\s/?#@]*@")
_PATH_PARAM: Final = re.compile(r"(;[^\s;=/?#]+=)[^\s;/?#]*")


def mask_path(path: str) -> str:
    """`/app;jsessionid=A1;v=2/x` -> `/app;jsessionid=<masked>;v=<masked>/x` and `http://bob:pw@h/` ->
    `http://bob:<masked>@h/`: path parameters' values and a userinfo's password, the rest kept."""
    if "@" in path and "//" in path:
        path = _USERINFO.sub(r"\1" + MASK + "@", path)
    if ";" in path and "=" in path:
        path = _PATH_PARAM.sub(r"\1" + MASK, path)
    return path


_VERSION: Final = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def _query_end(url: str, q: int) -> int:
    """Where the query starting after `url[q]` ends: before the blanks and final `HTTP/x.y` of a request line
    (nginx may log several blanks, or a TAB as `\\x09`), else at the end (a referrer; a query's values may
    hold spaces: `?q=jane doe@example.com`)."""
    proto = url.rfind("HTTP/")
    if proto <= q or not _VERSION.fullmatch(url, proto + 5):
        return len(url)
    end = proto
    while True:
        if url[end - 1] in " \t":
            end -= 1
        elif url.endswith("\\x09", 0, end):
            end -= 4
        else:
            break
    return end if end < proto else len(url)  # `?next=/HTTP/1.1`: no blank before it, the query's own text


def mask_url(url: str) -> str:
    """Mask the query of a URL or request line, to its end or a request's final ` HTTP/1.1` (which stays), and
    the path parameters and userinfo password before it (`mask_path`)."""
    q = url.find("?")
    if q < 0:
        return mask_path(url)
    end = _query_end(url, q)
    return mask_path(url[: q + 1]) + mask_query(url[q + 1 : end]) + url[end:]


def _mask_field(kind: str, value: str) -> str:
    if kind == "url":
        return mask_url(value)
    if kind == "path":
        return mask_path(value)
    if kind == "request_query":
        return mask_query(value)
    if kind == "query":
        return "?" + mask_query(value[1:]) if value.startswith("?") else mask_query(value)
    return MASK


def object_path(path: str) -> str:
    """The file a URL path names, for `pii.object`: percent-decoded and dot-segment-normalized, so
    `/exports/%63ustomers.csv` and `/a//b/../exports/customers.csv` map to the same data-map entry."""
    if "%" in path:
        path = unquote(path, errors="backslashreplace")
    return dot_normalized(path)


_BLANKS: Final = re.compile(r"[ \t]+")


def split_request(request: str) -> tuple[str | None, str | None, str | None]:
    """`GET /p?q HTTP/1.1` -> (method, uri, protocol). Malformed lines: Apache logs two tokens (no protocol),
    nginx the raw text with spaces inside, and the runs of spaces or TABs between the parts as sent
    (`GET  /p\tHTTP/1.1`); an empty request (`-`, `""`) has no method or URI."""
    parts = request.split(" ")
    if len(parts) == 3 and parts[2].startswith("HTTP/") and parts[1] and "\t" not in request:
        return parts[0], parts[1], parts[2]
    text = request.rstrip(" \t")
    gap = _BLANKS.search(text)
    if gap is None:
        return None, None, None
    method, uri, proto = text[: gap.start()], text[gap.end() :], None
    last = max(uri.rfind(" "), uri.rfind("\t"))
    if last >= 0 and uri.startswith("HTTP/", last + 1):
        uri, proto = uri[:last].rstrip(" \t"), uri[last + 1 :]
    return method, uri or None, proto


_ABSOLUTE_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)(.*)", re.S)


def absolute_uri(uri: str) -> tuple[str | None, str] | None:
    """`http://bob:pw@web.example:8080/x` (absolute-form, what a client sends a proxy) -> (`web.example`, `/x`),
    the host and the path the server serves; None for anything else (`/x`, `*`, `web.example:443`)."""
    m = _ABSOLUTE_URI.match(uri)
    if m is None:
        return None
    host = m.group(1).rpartition("@")[2]
    host = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]
    return host or None, m.group(2) or "/"


def _logged_parts(
    method: str | None, path: str, query: str | None, unescaped: Callable[[str], str]
) -> tuple[str | None, str | None, str | None]:
    """Apache's %m, %U and %q, or nginx's $request_method, $uri and $args, read by themselves: escapes undone (%U
    and $uri are the decoded path, so `\\xc3\\xa9` is a UTF-8 byte and `\\"` or `\\x22` a quote), and `- -` (what
    both write for a request line they could not read) absent."""
    if method == "-":
        method = None
    if path == "-":
        return method, None, None
    if "\\" in path:
        path = unescaped(path)
    if query and "\\" in query:
        query = unescaped(query)
    return method, path, query


# a host name (Apache's HostnameLookups): dot-separated labels, the last not all digits (`203.0.113.300` is none)
_HOSTNAME: Final = re.compile(r"(?:[\w-]+\.)*[\w-]*[A-Za-z_-][\w-]*\.?", re.A)


def _forwarded_client(value: str) -> str | None:
    """First address of an X-Forwarded-For list, without a port; None for `-`, `unknown`, empty."""
    first = value.partition(",")[0].strip()
    if first.startswith("["):
        first = first[1 : first.find("]")] if "]" in first else first[1:]
    elif first.count(":") == 1:
        first = first.partition(":")[0]
    if not first or first in ("-", "unknown"):
        return None
    return first


# ---------------------------------------------------------------------------------------------------------
# Timestamps

_STATUS_CODES: Final = {str(code): code for code in range(100, 600)}
# http.version of the usual protocols without slicing a new string per line
_HTTP_VERSIONS: Final = {"HTTP/1.0": "1.0", "HTTP/1.1": "1.1", "HTTP/2.0": "2.0", "HTTP/2": "2", "HTTP/3": "3"}
# An AccessEvent from a tuple of all its fields, without NamedTuple's Python-level __new__ (~0.25 µs a line).
_new_event: Final[Callable[[tuple[Any, ...]], Event]] = partial(tuple.__new__, Event)
_URL_KINDS: Final = frozenset({"url", "path"})
_MEMO_SIZE: Final = 4096  # entries per memo (timestamps, objects, masked texts) before it is cleared


def _local_seconds(text: str) -> int:
    """`27/Nov/2026:16:24:33 +0000` (nginx $time_local, Apache %t) -> epoch seconds."""
    if len(text) != 26 or text[2] != "/" or text[6] != "/" or text[11] != ":" or text[20] != " ":
        raise TimestampError("expected dd/Mon/yyyy:hh:mm:ss +zzzz")
    month = MONTHS.get(text[3:6])
    if month is None:
        raise TimestampError(f"unknown month {text[3:6]!r}")
    naive = datetime(int(text[7:11]), month, int(text[0:2]), int(text[12:14]), int(text[15:17]), int(text[18:20]))
    return int((naive - datetime(1970, 1, 1)).total_seconds()) - offset_seconds(text[21:])


def time_converter(kind: str, context: SourceContext, fmt: str = "") -> Callable[[str], int]:
    """Text of the format's time field -> epoch microseconds. The parser memoizes the result on the whole
    text (`[27/Nov/2026:16:24:33 +0000]` repeats for every line of a second), so no cache here. `fmt`: the
    strftime format of Apache's `%{FORMAT}t`."""
    if kind == "time_strftime":
        return strftime.reader(fmt, context.tz)
    if kind == "time_local":
        return lambda text: _local_seconds(text) * 1_000_000
    if kind == "time_iso":
        zone = context.tz or UTC

        def iso(text: str) -> int:
            when = datetime.fromisoformat(text)
            when = when if when.tzinfo else when.replace(tzinfo=zone)
            return int(when.timestamp()) * 1_000_000 + when.microsecond

        return iso
    if kind == "time_msec":  # nginx $msec: seconds with a millisecond fraction

        def msec(text: str) -> int:
            whole, _, frac = text.partition(".")
            return int(whole) * 1_000_000 + int((frac + "000000")[:6])

        return msec
    scale = {"time_sec": 1_000_000, "time_ms": 1_000, "time_usec": 1}[kind]
    return lambda text: int(text) * scale


# ---------------------------------------------------------------------------------------------------------
# Parsers


class _WebLogParser(Parser):
    """The shared machinery; subclasses only say how their format language compiles."""

    @classmethod
    @abstractmethod
    def layout_of(cls, log_format: str | None) -> Layout:
        """The compiled layout of a format string (None: the server's combined format)."""

    def __init__(self, context: SourceContext, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        opts = self.options
        assert isinstance(opts, WebLogOptions)
        layout = self.layout_of(opts.log_format)
        self._match = layout.regex.match
        self._fallback = layout.fallback.match if layout.fallback is not None else None
        self._strict = layout.strict
        self._strict_twin: _WebLogParser | None = None
        self._unescape = _UNESCAPES[layout.escape]
        self._slots = layout.slots
        # the groups the hot path reads (_HOT_ROLES), fetched in one C call
        self._pick: Callable[[Sequence[str | None]], tuple[str | None, ...]] = itemgetter(
            *(layout.slots[ROLE_ORDER.index(role)] for role in _HOT_ROLES)
        )
        self._convert_time = time_converter(layout.time_kind, context, layout.time_format)
        self._times: dict[str | None, int] = {}  # time text -> epoch µs, cleared past 4096 entries
        self._objects: dict[str, str] = {}  # URL path -> pii.object, cleared past 4096 entries
        self._unescapes: dict[str, str] = {}  # escaped referrer or agent -> unescaped, cleared past 4096
        self._is_ip: dict[str, bool] = {}  # client text -> whether it is an IP address, cleared past 4096
        # masked groups never nest and their spans follow their group numbers: last in the line first
        # `--no-mask` / `privacy.mask_literals: false` keeps query strings; secrets (cookies, Authorization) never
        masked = [(i, kind) for i, kind in layout.masked if context.mask_literals or kind == "secret"]
        self._masked_backwards = tuple((i, kind, dict[str, str]()) for i, kind in sorted(masked, reverse=True))
        # URLs need masking only when the line has a "?" (a query), "=" (a path parameter) or "@" (a userinfo);
        # $args / %q / secrets carry no such sign
        self._mask_always = any(kind in ("query", "secret") for _, kind in masked)
        self._has_extras = layout.has_extras
        self._escaped_parts = layout.escaped_parts
        self._duration_ns = layout.duration_ns
        self._trust_xff = opts.trust_forwarded_for
        self._auth_paths = opts.auth_paths if isinstance(opts, NginxOptions) else None
        self._make_id = self.ids.make
        self._host = context.host
        self._mismatch = f"line does not match the {self.name} log format " + (
            "(combined)" if opts.log_format is None else repr(opts.log_format[:80])
        )
        # the combined format's file may hold vhost_combined lines too (Apache: `_vhost_parser`)
        self._vhost_combined = opts.log_format is None and self.vhost_format is not None
        self._combined = opts.log_format is None
        self._vhost: _WebLogParser | None = None

    vhost_format: ClassVar[str | None] = None

    def _vhost_parser(self) -> _WebLogParser:
        if self._vhost is None:
            opts = self.options
            assert isinstance(opts, WebLogOptions)
            self._vhost = type(self)(self.context, opts.model_copy(update={"log_format": self.vhost_format}))
        return self._vhost

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        """The hot path, kept in one function: absent roles read a never-matching group (None), and a
        well-formed request line arrives from the regex already split."""
        m = self._match(line)
        if m is None and (self._fallback is None or (m := self._fallback(line)) is None):
            if self._vhost_combined and _VHOST_HEAD.match(line):
                return self._vhost_parser().feed(offset, line)
            return (ParseFailure(offset, self._mismatch, line),)
        g: Sequence[str | None] = m.groups()
        original = line
        if self._mask_always or (self._masked_backwards and ("?" in line or "=" in line or "@" in line)):
            original, g = self._mask(line, m, g)
        ip, user, time_text, method, path, query, proto, status_text, sent, referer, agent = self._pick(g)
        if self._vhost_combined and ip and ":" in ip and _VHOST_HEAD.match(line):  # `%v:%p %h %l %u`: a spaced user?
            vhost = self._vhost_parser()
            if vhost._match(line) is not None:
                return vhost.feed(offset, line)
        time_us = self._times.get(time_text)
        if time_us is None:
            converted = self._time_of(time_text)
            if isinstance(converted, str):
                return self._not_a_time(offset, line, m, converted)
            time_us = converted
        status = _STATUS_CODES.get(status_text)  # type: ignore[arg-type]  # None -> None
        if path is None:
            method, path, query, proto, fields = self._request_fields(g, status)
        else:
            if self._escaped_parts:
                method, path, query = _logged_parts(method, path, query, self._unescape)
            if path is not None and method is not None:  # the common case, in one dict display
                fields = {
                    "http.response.status_code": status,
                    "url.path": path,
                    "url.original": path if not query or query == "-" else path + "?" + query,
                    "http.request.method": method,
                }
            else:
                fields = self._partial_fields(status, path, query, method)
        obj = None if path is None else self._objects.get(path) or self._object(path)
        if proto is not None and proto != "-":  # `-`: HTTP/0.9, or a request line nginx could not read
            fields["http.version"] = _HTTP_VERSIONS.get(proto) or (proto[5:] if proto.startswith("HTTP/") else proto)
        if user == "-" or user is None:
            user = None
        elif (status in _UNTRUSTED_USER_STATUS or user == '""' or not user or "\\" in user
              or self._auth_paths is not None):  # fmt: skip
            user = self._odd_user(user, status, obj, fields)
        if referer != "-" and referer is not None:
            fields["http.request.referrer"] = self._unescaped(referer) if "\\" in referer else referer
        if agent != "-" and agent is not None:
            fields["user_agent.original"] = self._unescaped(agent) if "\\" in agent else agent
        nbytes = None if sent is None else 0 if sent == "-" else int(sent)  # the regex allows digits or "-" only
        port = None
        if self._has_extras:
            ip, port = self._extras(g, ip, fields)
        elif self._combined and m.end() != len(line):
            ip = self._main_tail(line[m.end() :], ip, fields)
        if ip is not None:  # an address, as nearly always: one dict lookup
            known = self._is_ip.get(ip)
            if not (known if known is not None else self._address(ip)):
                self._not_an_address(ip, fields)
                ip = None
        return (
            _new_event((
                self._make_id(offset, line), time_us, self.dataset, _METHOD_ACTIONS.get(method, OTHER),  # type: ignore[arg-type]
                UNKNOWN if status is None else FAILURE if status >= 400 else SUCCESS,
                user, ip, port, self._host, obj, None, nbytes, method, None, original,
                None, (), fields, offset,
            )),
        )  # fmt: skip

    def _unescaped(self, text: str) -> str:
        """`unescape`, memoized (bounded): escaped referrers and user agents repeat."""
        memo = self._unescapes
        value = memo.get(text)
        if value is None:
            if len(memo) >= _MEMO_SIZE:
                memo.clear()
            value = memo[text] = self._unescape(text)
        return value

    def _not_a_time(self, offset: int, line: str, m: re.Match[str], reason: str) -> Sequence[Outcome]:
        """The time field read no time: a claimed user holding " [" and a day (`x] [01/Jan/2020`) may have
        ended where the stamp's lax pattern (`[^]]*`) let it. The stamp's own pattern (Layout.strict) then
        reads the line, if it reads it otherwise."""
        if m.re is self._strict:
            return (ParseFailure(offset, reason, line),)
        strict = self._strict.match(line)
        if strict is None or strict.span(1 + self._slots[3]) == m.span(1 + self._slots[3]):
            return (ParseFailure(offset, reason, line),)
        twin = self._strict_twin
        if twin is None:
            twin = self._strict_twin = type(self)(self.context, self.options)
            twin._match, twin._fallback = self._strict.match, None
        return twin.feed(offset, line)

    def _address(self, text: str) -> bool:
        return is_address(text, self._is_ip, _MEMO_SIZE)

    @staticmethod
    def _not_an_address(text: str, fields: dict[str, Any]) -> None:
        """A client that is no IP address: a host name (HostnameLookups) is `source.domain`, anything else
        (`unix:`, nginx on a unix socket) `source.address`; `-` and empty are nothing."""
        if text and text != "-":
            fields["source.domain" if _HOSTNAME.fullmatch(text) else "source.address"] = text

    def _request_fields(
        self, g: Sequence[str | None], status: int | None
    ) -> tuple[str | None, str | None, str | None, str | None, dict[str, Any]]:
        """Method, path, query, protocol and the fields of a request line the regex did not split. An
        absolute-form URI keeps its text in `url.original`; `url.path` and the object are its path's, and its
        host is `url.domain` (unless the format's own host field sets it)."""
        method, path, query, proto = self._request_parts(g)
        fields = self._partial_fields(status, path, query, method)
        if path is not None and not path.startswith("/"):
            absolute = absolute_uri(path)
            if absolute is not None:
                host, path = absolute
                fields["url.path"] = path
                if host is not None:
                    fields["url.domain"] = host
        return method, path, query, proto, fields

    @staticmethod
    def _partial_fields(status: int | None, path: str | None, query: str | None, method: str | None) -> dict[str, Any]:
        """Fields of a request line without a method or a URI (garbage, an empty request)."""
        fields: dict[str, Any] = {"http.response.status_code": status}
        if path is not None:
            fields["url.path"] = path
            fields["url.original"] = path if not query or query == "-" else path + "?" + query
        if method is not None:
            fields["http.request.method"] = method
        return fields

    def _object(self, path: str) -> str:
        """`url:` + the normalized path, memoized (paths repeat: assets, API endpoints); bounded."""
        objects = self._objects
        if len(objects) >= _MEMO_SIZE:
            objects.clear()
        obj = objects[path] = "url:" + (object_path(path) if "%" in path or "//" in path or "/." in path else path)
        return obj

    def _time_of(self, text: str | None) -> int | str:
        """Epoch µs of a time field not yet in the cache, or the reason it cannot be read."""
        try:
            time_us = self._convert_time(text or "")
        except (TimestampError, ValueError, KeyError, OverflowError) as exc:
            return f"unreadable timestamp {(text or '')[:40]!r}: {exc}"
        if len(self._times) >= _MEMO_SIZE:
            self._times.clear()
        self._times[text] = time_us
        return time_us

    def _mask(
        self, line: str, m: re.Match[str], g: Sequence[str | None]
    ) -> tuple[str, Sequence[str | None]]:
        """Mask every URL/query/secret group; rebuild the line around the groups that changed. Masked texts
        are memoized per kind (bounded): query strings repeat (search pages, redirects, API filters). The groups
        are visited from the end of the line backwards, so the spans still ahead stay valid in the new line."""
        out: list[str | None] | None = None
        for i, kind, memo in self._masked_backwards:
            value = g[i]
            if value is None or value == "-" or (
                kind in _URL_KINDS and "?" not in value and "=" not in value and "@" not in value
            ):
                continue
            masked = memo.get(value)
            if masked is None:
                masked = _mask_field(kind, value)
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                memo[value] = masked
            if masked == value:
                continue
            if out is None:
                out = list(g)
            out[i] = masked
            start, end = m.span(i + 1)
            line = line[:start] + masked + line[end:]
        return line, (g if out is None else out)

    def _request_parts(self, g: Sequence[str | None]) -> tuple[str | None, str | None, str | None, str | None]:
        """Method, path, query and protocol when the regex could not split them: a malformed or escaped
        request line, or a format with `$request_uri` / `%U%q` instead of `$request` / `%r`."""
        raw = g[self._slots[4]]
        if raw is not None:
            method, uri, proto = split_request(self._unescape(raw))
        else:
            method, uri, proto = (g[i] for i in (self._slots[5], self._slots[6], self._slots[9]))
            if uri is None:
                uri, query = g[self._slots[7]], g[self._slots[8]]
                if uri is not None and query and query != "-":
                    uri += query if query.startswith("?") else "?" + query
            if uri is not None:
                uri = self._unescape(uri)
        if method == "-":  # `"- - -"`: a request line nginx could not read
            method = None
        if uri is None or uri == "-":
            return method, None, None, proto
        path, sep, query = uri.partition("?")
        return method, path, (query if sep else None), (proto or None)

    def _odd_user(self, text: str, status: int | None, obj: str | None, fields: dict[str, Any]) -> str | None:
        """An escaped or empty name, or the name of a 401/407 or of a request outside `auth_paths`, which is only
        the client's claim."""
        if text == '""' or not text:
            return None
        if "\\" in text:
            text = self._unescape(text)
        paths = self._auth_paths
        if status in _UNTRUSTED_USER_STATUS or (
            paths is not None and (obj is None or not obj[4:].startswith(paths))
        ):  # fmt: skip
            fields["pii.claimed_user"] = text
            return None
        return text

    def _main_tail(self, tail: str, ip: str | None, fields: dict[str, Any]) -> str | None:
        """Fields after combined's: nginx's `main` (its upstream nginx.conf, RHEL's) ends with
        `"$http_x_forwarded_for"`; anything else there is ignored."""
        if len(tail) > 3 and tail.startswith(' "') and tail.endswith('"') and '"' not in tail[2:-1]:
            return self._forwarded(tail[2:-1], ip, fields)
        return ip

    def _forwarded(self, xff: str, ip: str | None, fields: dict[str, Any]) -> str | None:
        """An X-Forwarded-For header: kept; its first address is the client when `trust_forwarded_for`."""
        if xff == "-":
            return ip
        fields["pii.forwarded_for"] = xff
        client = _forwarded_client(xff) if self._trust_xff else None
        if client is None:
            return ip
        known = self._is_ip.get(client)
        if not (known if known is not None else self._address(client)):  # `not-an-ip`, `203.0.113.300`
            return ip
        if ip and ip != "-":
            fields["pii.peer_ip"] = ip
        return client

    def _extras(
        self, g: Sequence[str | None], ip: str | None, fields: dict[str, Any]
    ) -> tuple[str | None, int | None]:
        """Fields of custom formats: virtual host, duration, X-Forwarded-For, client port, request size."""
        i_port, i_xff, i_host, i_dur = self._slots[1], self._slots[14], self._slots[15], self._slots[16]
        host, duration, xff, port, received = g[i_host], g[i_dur], g[i_xff], g[i_port], g[self._slots[17]]
        if host and host != "-":
            fields["url.domain"] = host
        if received and received != "-":  # $request_length, %I: request line, headers and body (an upload's size)
            fields["http.request.bytes"] = int(received)
        if duration and duration != "-":
            with contextlib.suppress(ValueError):
                fields["event.duration"] = round(float(duration) * self._duration_ns)
        if xff:
            ip = self._forwarded(xff, ip, fields)
        return ip, (int(port) if port and port.isdecimal() else None)


class NginxParser(_WebLogParser):
    """nginx access_log; `log_format` takes the format's text as written in nginx.conf."""

    name = "nginx"
    dataset = "nginx.access"
    description = "nginx access log (combined, or any log_format)"
    Options = NginxOptions

    @classmethod
    def layout_of(cls, log_format: str | None) -> Layout:
        return nginx_layout(log_format)


class ApacheParser(_WebLogParser):
    """Apache httpd CustomLog; `log_format` takes the LogFormat string as written in apache2.conf."""

    name = "apache"
    dataset = "apache.access"
    description = "Apache httpd access log (Debian combined, or any LogFormat)"
    Options = ApacheOptions
    vhost_format = APACHE_VHOST_COMBINED

    @classmethod
    def layout_of(cls, log_format: str | None) -> Layout:
        return apache_layout(log_format)
