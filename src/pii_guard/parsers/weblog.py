"""nginx and Apache access logs: the "combined" layout by default, any `log_format` / `LogFormat` on request.

A log format is compiled once into one regex whose capturing groups are read by position (a
`groups()` tuple and fixed indexes, no name lookups per line): this is the hot path of busy web servers, so a
line costs one regex match, one cached timestamp lookup and the event itself.

Quirks that shape the code (shared/samples/FORMATS.md §6):
- nginx escapes `"`, `\\` and non-printable bytes as `\\xHH`, so its quoted fields never hold a raw `"` and the
  fast `[^"]*` pattern is exact; Apache writes `\\"` and `\\\\`, which needs the slower escape-aware pattern.
  nginx's `escape=json` writes `\\"` too: a line the fast regex rejects is retried with the escape-aware one.
- `$remote_user` / `%u` is whatever the client claimed, even when the password was wrong (401): only a
  non-401 response makes it `user.name`; a 401's claimed name goes to `pii.claimed_user`. On locations without
  authentication nginx still logs the name from any `Authorization` header, so it is a claim there too.
- Apache drops the protocol of a malformed request line (two tokens); nginx logs the garbage as sent. With
  `%m %U%q %H` instead of `%r`, Apache writes `- - HTTP/1.0` for a request line it could not read.
- Apache escapes `%u`, `%U` and `%q` but not their spaces: a user from Basic auth or LDAP ("bob smith", or any
  name a 401 was claimed with) and `%U`, the *decoded* path (`/payroll 2024 caf\\xc3\\xa9.csv`), may hold
  spaces, so Apache's user and path patterns allow them and the path and query are unescaped.
- URLs carry personal data (emails, names in search queries): query-string values are masked in `url.*`,
  `http.request.referrer` and `event.original` alike, keys kept (`?q=<masked>`), and so are the values of path
  parameters (`;jsessionid=<masked>`) and the password of a URL's userinfo (`https://bob:<masked>@host/`).
  Cookies and Authorization headers, when a custom format logs them, are masked whole.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
from abc import abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from operator import itemgetter
from typing import Any, ClassVar, Final, NamedTuple
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, field_validator

from pii_guard.model import DELETE, FAILURE, OTHER, READ, SUCCESS, UNKNOWN, WRITE
from pii_guard.model import AccessEvent as Event
from pii_guard.parsers.base import Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.timeparse import MONTHS, TimestampError, offset_seconds

MASK: Final = "<masked>"
NGINX_COMBINED: Final = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)
APACHE_COMBINED: Final = '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'
# Debian's other_vhosts_access.log, where a virtual host without a CustomLog of its own writes
APACHE_VHOST_COMBINED: Final = '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'
_VHOST_HEAD: Final = re.compile(r"[^\s:\[\]]+:\d+ \S+ ")  # `intranet.example:443 10.0.0.5 `, not an IPv6 %h

_METHOD_ACTIONS: Final = {
    "GET": READ, "HEAD": READ, "PUT": WRITE, "POST": WRITE, "PATCH": WRITE, "DELETE": DELETE,
}  # fmt: skip
_UNTRUSTED_USER_STATUS: Final = frozenset({401, 407})

# Roles of format variables. "opaque" is matched and ignored; "secret" is matched and masked whole.
_NGINX_ROLES: Final = {
    "remote_addr": "addr", "remote_port": "port", "remote_user": "user",
    "time_local": "time_local", "time_iso8601": "time_iso", "msec": "time_msec",
    "request": "request", "request_method": "method", "request_uri": "uri", "uri": "path",
    "document_uri": "path", "args": "query", "query_string": "query", "server_protocol": "protocol",
    "status": "status", "body_bytes_sent": "bytes", "bytes_sent": "bytes",
    "http_referer": "referer", "http_user_agent": "agent", "http_x_forwarded_for": "xff",
    "host": "host", "http_host": "host", "server_name": "host", "request_time": "duration_s",
    "http_cookie": "secret", "http_authorization": "secret", "request_body": "secret",
}  # fmt: skip
_APACHE_ROLES: Final = {
    "h": "addr", "a": "addr", "u": "apache_user", "r": "request", "s": "status", "b": "bytes", "B": "bytes",
    "O": "bytes", "m": "method", "U": "apache_path", "q": "apache_query", "H": "apache_protocol", "v": "host",
    "V": "host", "D": "duration_us", "T": "duration_s",
}  # fmt: skip
# `apache_*` roles fill the slot after the prefix, with Apache's patterns: spaces in %u and %U, escapes in %q.
_APACHE_HEADERS: Final = {
    "referer": "referer", "user-agent": "agent", "x-forwarded-for": "xff", "host": "host",
    "cookie": "secret", "authorization": "secret", "proxy-authorization": "secret",
}  # fmt: skip
_APACHE_TIME_ARGS: Final = {"sec": "time_sec", "msec": "time_ms", "usec": "time_usec"}
_TIME_ROLES: Final = frozenset({"time_local", "time_iso", "time_msec", "time_sec", "time_ms", "time_usec"})
# Roles with a pattern of their own; the others take "anything up to the next literal character".
_ROLE_PATTERNS: Final = {
    "status": r"\d{3}|-", "bytes": r"\d+|-", "time_msec": r"\d+(?:\.\d+)?", "time_sec": r"\d+",
    "time_ms": r"\d+", "time_usec": r"\d+", "apache_query": r'(?:[^ "\\]|\\.)*', "apache_protocol": r'[^ "]*',
    "time_local": r"\d\d?/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}",
}  # fmt: skip
_MASKED_ROLES: Final = {"request": "url", "uri": "url", "referer": "url", "query": "query",
                        "apache_query": "query", "path": "path", "apache_path": "path",
                        "secret": "secret"}  # fmt: skip
_NGINX_QUOTED: Final = r'[^"]*'
_SPACED_ROLES: Final = frozenset({"request", "referer", "agent", "apache_user", "apache_path"})
_REQUEST_PARTS: Final = ("method", "path", "query", "protocol")
_REQUEST_LINE: Final = r'([A-Z]+) ([^ ?"\\]*)(?:\?([^ "\\]*))? (HTTP/[0-9.]+)'
_ESCAPED_QUOTED: Final = r'[^"\\]*(?:\\.[^"\\]*)*'
_ROLE_ORDER: Final = ("addr", "port", "user", "time", "request", "method", "uri", "path", "query", "protocol",
                      "status", "bytes", "referer", "agent", "xff", "host", "duration")  # fmt: skip
_HOT_ROLES: Final = ("addr", "user", "time", "method", "path", "query", "protocol", "status", "bytes", "referer",
                     "agent")  # fmt: skip


class FormatError(ValueError):
    """A log format that cannot be compiled (reported as a config error)."""


class Layout(NamedTuple):
    """A compiled log format: the regex, and per role the index of its group in `groups()`."""

    regex: re.Pattern[str]
    fallback: re.Pattern[str] | None  # escape-aware twin of an nginx regex
    slots: tuple[int, ...]  # group index per role, in _ROLE_ORDER
    time_kind: str
    duration_ns: int  # nanoseconds per unit of the duration field
    masked: tuple[tuple[int, str], ...]  # (group index, "url" | "query" | "secret")
    has_extras: bool  # port, X-Forwarded-For, host or duration: read outside the hot path
    escaped_parts: bool  # Apache's %m/%U/%q captured by themselves: escaped, `-` when absent


# ---------------------------------------------------------------------------------------------------------
# Format compilation

_Item = tuple[str, str]  # ("lit", text) or (role, detail)


def _nginx_items(fmt: str) -> list[_Item]:
    items: list[_Item] = []
    pos = 0
    for m in re.finditer(r"\$(?:\{(\w+)\}|(\w+))", fmt):
        if m.start() > pos:
            items.append(("lit", fmt[pos : m.start()]))
        var = m.group(1) or m.group(2)
        role = _NGINX_ROLES.get(var)
        if role is None:
            role = "secret" if var.startswith(("cookie_", "arg_")) else "opaque"
        items.append((role, var))
        pos = m.end()
    if pos < len(fmt):
        items.append(("lit", fmt[pos:]))
    return items


def _apache_items(fmt: str) -> list[_Item]:
    fmt = fmt.replace('\\"', '"')  # the format as written in apache2.conf, quotes escaped
    items: list[_Item] = []
    pos = 0
    for m in re.finditer(r"%(?:!?[\d,]+)?([<>])?(?:\{([^}]*)\})?([a-zA-Z%])", fmt):
        if m.start() > pos:
            items.append(("lit", fmt[pos : m.start()]))
        pos = m.end()
        arg, letter = m.group(2), m.group(3)
        if letter == "%":
            items.append(("lit", "%"))
        elif letter == "t":
            if arg is None:  # %t prints its own brackets
                items += [("lit", "["), ("time_local", "%t"), ("lit", "]")]
            else:  # %{sec}t ...; `begin:` / `end:` say when (the request's start, the default, or its end)
                when, colon, unit = arg.partition(":")
                unit = unit if colon and when in ("begin", "end") else arg
                items.append((_APACHE_TIME_ARGS.get(unit, "opaque"), m.group(0)))
        elif letter == "i" and arg is not None:
            items.append((_APACHE_HEADERS.get(arg.lower(), "opaque"), m.group(0)))
        elif letter == "C":
            items.append(("secret", m.group(0)))
        elif letter == "T" and arg in ("ms", "us"):
            items.append(("duration_" + arg, m.group(0)))
        elif letter == "a" and arg == "c":
            items.append(("opaque", m.group(0)))  # the peer; %a (client, mod_remoteip-aware) is the address
        else:
            items.append((_APACHE_ROLES.get(letter, "opaque") if arg is None else "opaque", m.group(0)))
    if pos < len(fmt):
        items.append(("lit", fmt[pos:]))
    return items


def _pattern(items: list[_Item], k: int, quoted: str) -> str:
    role = items[k][0]
    before = items[k - 1] if k > 0 else ("", "")
    after = items[k + 1] if k + 1 < len(items) else ("", "")
    if role == "time_local" and after[1].startswith("]"):
        # [$time_local]: cheaper than the stamp's own pattern, which is needed when unbracketed. After Apache's %u,
        # whose text may hold " [", the stamp must start like one (`27/`) to end the user name.
        return r"\d\d?/[^\]]*" if any(r == "apache_user" for r, _ in items[:k]) else r"[^\]]*"
    specific = _ROLE_PATTERNS.get(role)
    if specific is not None:
        return specific
    if role == "path" and after[0] not in ("lit", ""):  # $uri$is_args: the path stops where the query starts
        return r'[^ ?"]*'
    if role == "apache_path" and after[0] not in ("lit", ""):  # %U%q, spaces and escapes allowed
        return r'(?:[^?"\\]|\\.)*'
    if before[0] == "lit" and before[1].endswith('"') and after[0] == "lit" and after[1].startswith('"'):
        return quoted
    if role in _SPACED_ROLES:  # unquoted text with spaces: the anchored regex backtracks to the next field
        return ".*?"
    if after[0] == "lit":
        return "[^" + re.escape(after[1][0]) + "]*"
    return ".*" if not after[0] else r"[^ ]*"


def _role_key(role: str) -> str:
    """The slot a role fills: every time flavour fills "time", every duration unit "duration"."""
    if role in _TIME_ROLES:
        return "time"
    if role.startswith("duration"):
        return "duration"
    return role[7:] if role.startswith("apache_") else role


def _assemble(items: list[_Item], quoted: str) -> tuple[str, dict[str, int], list[tuple[int, str]]]:
    """Items -> regex text, the group index of each role's first occurrence, and the groups to mask.
    Later occurrences and opaque fields are matched without capturing. A quoted `$request` / `%r` becomes
    a well-formed request line split by the regex itself (method, path, query, protocol), or else the raw
    text in a group of its own, so the common case costs no string splitting in Python."""
    out: list[str] = []
    seen: dict[str, int] = {}
    masked: list[tuple[int, str]] = []
    group = 0
    for k, (role, _text) in enumerate(items):
        if role == "lit":
            out.append(re.escape(_text))
            continue
        pattern = _pattern(items, k, quoted)
        key = _role_key(role)
        if key == "request" and pattern == quoted and not seen.keys() & {*_REQUEST_PARTS, "request"}:
            for offset, part in enumerate(_REQUEST_PARTS):
                seen[part] = group + offset
            seen["request"] = group + 4
            masked += [(group + 1, "path"), (group + 2, "request_query"), (group + 4, "url")]
            group += 5
            out.append(f"(?:{_REQUEST_LINE}|({pattern}))")
            continue
        first = key in _ROLE_ORDER and key not in seen
        if first or role in _MASKED_ROLES:
            if first:
                seen[key] = group
            if role in _MASKED_ROLES:
                masked.append((group, _MASKED_ROLES[role]))
            group += 1
            out.append(("\\??" if role == "apache_query" else "") + f"({pattern})")  # %q: "?" outside
        else:
            out.append(f"(?:{pattern})")
    return "".join(out), seen, masked


def compile_layout(items: list[_Item], quoted: str, fallback_quoted: str | None, anchored: bool) -> Layout:
    """Items of a format -> the Layout. Roles absent from the format point at a last group that never
    matches, so the hot path reads None for them without testing whether they exist."""
    text, seen, masked = _assemble(items, quoted)
    if "time" not in seen:
        raise FormatError("the log format has no timestamp ($time_local, $time_iso8601, $msec, %t, %{sec}t ...)")
    if "request" not in seen and "uri" not in seen and "path" not in seen:
        raise FormatError("the log format has no request ($request, $request_uri, %r, %U ...)")
    # combined allows further fields after its own (nginx's "main" adds X-Forwarded-For), but its last field
    # must end there: an nginx `escape=json` agent with \" inside then fails over to the escape-aware regex
    tail = (r"\Z" if anchored else r"(?= |\Z)") + "(?:(?!)())?"
    absent = re.compile(text).groups  # index of the never-matching group in groups()
    fallback = None
    if fallback_quoted is not None:
        # nginx writes $remote_user unescaped but for `"`, `\` and bytes outside printable ASCII: a Basic-auth name
        # may hold spaces ("bob smith"). Only the fallback reads it with Apache's %u pattern, off the hot path.
        spaced = [("apache_user" if role == "user" else role, text) for role, text in items]
        fallback = re.compile(_assemble(spaced, fallback_quoted)[0] + tail, re.S)
    time_role = next(r for r, _ in items if r in _TIME_ROLES)
    duration_role = next((r for r, _ in items if r.startswith("duration")), "duration_s")
    scale = {"duration_s": 1_000_000_000, "duration_ms": 1_000_000, "duration_us": 1_000}[duration_role]
    return Layout(
        re.compile(text + tail, re.S),
        fallback,
        tuple(seen.get(role, absent) for role in _ROLE_ORDER),
        time_role,
        scale,
        tuple(masked),
        any(role in seen for role in ("port", "xff", "host", "duration")),
        any(role == "apache_path" for role, _ in items),
    )


def nginx_layout(fmt: str | None) -> Layout:
    """`log_format` text (as in nginx.conf, without the name) or None for the predefined `combined`."""
    return compile_layout(_nginx_items(fmt or NGINX_COMBINED), _NGINX_QUOTED, _ESCAPED_QUOTED, fmt is not None)


def apache_layout(fmt: str | None) -> Layout:
    """`LogFormat` text (as in apache2.conf, `\\"` or `"`) or None for Debian's `combined`."""
    return compile_layout(_apache_items(fmt or APACHE_COMBINED), _ESCAPED_QUOTED, None, fmt is not None)


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


def unescape(text: str) -> str:
    """nginx `\\xHH` and Apache `\\"`, `\\\\`, `\\xhh`, `\\n` ... -> the bytes sent, read as UTF-8."""
    if "\\" not in text:
        return text
    raw = text.encode("utf-8", "surrogateescape")
    return _ESCAPE.sub(_unescape_one, raw).decode("utf-8", "backslashreplace")


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


def mask_url(url: str) -> str:
    """Mask the query of a URL or request line (a request's ` HTTP/1.1` after the query stays), and the path
    parameters and userinfo password before it (`mask_path`)."""
    q = url.find("?")
    if q < 0:
        return mask_path(url)
    end = url.find(" ", q)
    if end < 0:
        end = len(url)
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
    if "//" in path or "/." in path:
        trailing = path.endswith("/")
        path = posixpath.normpath(path)
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        if trailing and path != "/":
            path += "/"
    return path


def split_request(request: str) -> tuple[str | None, str | None, str | None]:
    """`GET /p?q HTTP/1.1` -> (method, uri, protocol). Malformed lines: Apache logs two tokens (no
    protocol), nginx the raw text with spaces inside; an empty request (`-`, `""`) has no method or URI."""
    parts = request.split(" ")
    n = len(parts)
    if n == 3 and parts[2].startswith("HTTP/"):
        return parts[0], parts[1], parts[2]
    if n == 1:
        return None, None, None
    if n > 3 and parts[-1].startswith("HTTP/"):
        return parts[0], " ".join(parts[1:-1]), parts[-1]
    return parts[0], " ".join(parts[1:]), None


def _apache_parts(method: str | None, path: str, query: str | None) -> tuple[str | None, str | None, str | None]:
    """Apache's %m, %U and %q read by themselves: escapes undone (%U is the decoded path, so `\\xc3\\xa9` is a
    UTF-8 byte and `\\"` a quote), and `- -` (what Apache writes for a request line it could not read) absent."""
    if method == "-":
        method = None
    if path == "-":
        return method, None, None
    if "\\" in path:
        path = unescape(path)
    if query and "\\" in query:
        query = unescape(query)
    return method, path, query


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


def time_converter(kind: str, context: SourceContext) -> Callable[[str], int]:
    """Text of the format's time field -> epoch microseconds. The parser memoizes the result on the whole
    text (`[27/Nov/2026:16:24:33 +0000]` repeats for every line of a second), so no cache here."""
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


class WebLogOptions(BaseModel):
    """`log_format`: the server's format string when it is not the predefined `combined`.
    `trust_forwarded_for`: behind a reverse proxy, the first X-Forwarded-For address is the client."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    log_format: str | None = None
    trust_forwarded_for: bool = False


class NginxOptions(WebLogOptions):
    @field_validator("log_format")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        nginx_layout(value)
        return value


class ApacheOptions(WebLogOptions):
    @field_validator("log_format")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        apache_layout(value)
        return value


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
        self._slots = layout.slots
        # the groups the hot path reads (_HOT_ROLES), fetched in one C call
        self._pick: Callable[[Sequence[str | None]], tuple[str | None, ...]] = itemgetter(
            *(layout.slots[_ROLE_ORDER.index(role)] for role in _HOT_ROLES)
        )
        self._convert_time = time_converter(layout.time_kind, context)
        self._times: dict[str | None, int] = {}  # time text -> epoch µs, cleared past 4096 entries
        self._objects: dict[str, str] = {}  # URL path -> pii.object, cleared past 4096 entries
        self._unescapes: dict[str, str] = {}  # escaped referrer or agent -> unescaped, cleared past 4096
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
                return (ParseFailure(offset, converted, line),)
            time_us = converted
        if path is None:
            method, path, query, proto = self._request_parts(g)
        elif self._escaped_parts:
            method, path, query = _apache_parts(method, path, query)
        status = _STATUS_CODES.get(status_text)  # type: ignore[arg-type]  # None -> None
        if path is not None and method is not None:  # the common case, in one dict display
            fields: dict[str, Any] = {
                "http.response.status_code": status,
                "url.path": path,
                "url.original": path if not query or query == "-" else path + "?" + query,
                "http.request.method": method,
            }
        else:
            fields = self._partial_fields(status, path, query, method)
        obj = None if path is None else self._objects.get(path) or self._object(path)
        if proto is not None:
            fields["http.version"] = _HTTP_VERSIONS.get(proto) or (proto[5:] if proto.startswith("HTTP/") else proto)
        if user == "-" or user is None:
            user = None
        elif status in _UNTRUSTED_USER_STATUS or user == '""' or not user or "\\" in user:
            user = self._odd_user(user, status, fields)
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
        return (
            _new_event((
                self._make_id(offset, line), time_us, self.dataset, _METHOD_ACTIONS.get(method, OTHER),  # type: ignore[arg-type]
                UNKNOWN if status is None else FAILURE if status >= 400 else SUCCESS,
                user, ip if ip != "-" else None, port, self._host, obj, None, nbytes, method, None, original,
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
            value = memo[text] = unescape(text)
        return value

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
            method, uri, proto = split_request(unescape(raw))
        else:
            method, uri, proto = (g[i] for i in (self._slots[5], self._slots[6], self._slots[9]))
            if uri is None:
                uri, query = g[self._slots[7]], g[self._slots[8]]
                if uri is not None and query and query != "-":
                    uri += query if query.startswith("?") else "?" + query
            if uri is not None:
                uri = unescape(uri)
        if uri is None or uri == "-":
            return method, None, None, proto
        path, sep, query = uri.partition("?")
        return (method if method != "-" else None), path, (query if sep else None), (proto or None)

    @staticmethod
    def _odd_user(text: str, status: int | None, fields: dict[str, Any]) -> str | None:
        """An escaped or empty name, or the name of a 401/407, which is only the client's claim."""
        if text == '""' or not text:
            return None
        if "\\" in text:
            text = unescape(text)
        if status in _UNTRUSTED_USER_STATUS:
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
        if ip and ip != "-":
            fields["pii.peer_ip"] = ip
        return client

    def _extras(
        self, g: Sequence[str | None], ip: str | None, fields: dict[str, Any]
    ) -> tuple[str | None, int | None]:
        """Fields of custom formats: virtual host, duration, X-Forwarded-For, client port."""
        i_port, i_xff, i_host, i_dur = self._slots[1], self._slots[14], self._slots[15], self._slots[16]
        host, duration, xff, port = g[i_host], g[i_dur], g[i_xff], g[i_port]
        if host and host != "-":
            fields["url.domain"] = host
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
