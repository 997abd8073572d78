"""The format language of the `nginx` and `apache` formats: `log_format` / `LogFormat` strings compiled into `Layout`s.

Each variable (`$remote_addr`, `%h`, `%{User-Agent}i` ...) gets a role; the format becomes one regex with a
capturing group for each role's first occurrence and for each field to mask, and the `Layout` gives, per role,
the index of its group in `groups()`, which the parser (`weblog`) reads by position. A format without a
timestamp or a request raises `FormatError`.

An nginx format may also be given as nginx.conf writes it (`nginx_conf_format`): the name, `escape=`, and
one or more quoted strings that nginx concatenates.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from pii_guard.parsers import strftime

NGINX_COMBINED: Final = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)
APACHE_COMBINED: Final = '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'

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
    "request_length": "request_bytes",
    # one value per upstream tried: `0.001, 0.000`, `10.0.0.1:80, 10.0.0.2:80 : 10.0.1.1:80` (" : " after an
    # internal redirect to another group); matched with their list syntax, ignored
    "upstream_addr": "upstream", "upstream_status": "upstream", "upstream_response_time": "upstream",
    "upstream_connect_time": "upstream", "upstream_header_time": "upstream", "upstream_queue_time": "upstream",
    "upstream_response_length": "upstream", "upstream_bytes_received": "upstream", "upstream_bytes_sent": "upstream",
}  # fmt: skip
_APACHE_ROLES: Final = {
    "h": "addr", "a": "addr", "u": "apache_user", "r": "request", "s": "status", "b": "bytes", "B": "bytes",
    "O": "bytes", "m": "method", "U": "apache_path", "q": "apache_query", "H": "apache_protocol", "v": "host",
    "V": "host", "D": "duration_us", "T": "duration_s", "I": "request_bytes",
}  # fmt: skip
# `apache_*` roles fill the slot after the prefix, with Apache's patterns: spaces in %u and %U, escapes in %q.
_APACHE_HEADERS: Final = {
    "referer": "referer", "user-agent": "agent", "x-forwarded-for": "xff", "host": "host",
    "cookie": "secret", "authorization": "secret", "proxy-authorization": "secret",
}  # fmt: skip
_APACHE_TIME_ARGS: Final = {"sec": "time_sec", "msec": "time_ms", "usec": "time_usec"}
_TIME_ROLES: Final = frozenset({"time_local", "time_iso", "time_msec", "time_sec", "time_ms", "time_usec",
                                "time_strftime"})  # fmt: skip
_FRACTIONS: Final = frozenset({"msec_frac", "usec_frac"})  # Apache's %{msec_frac}t, %{usec_frac}t
# Roles with a pattern of their own; the others take "anything up to the next literal character".
_ROLE_PATTERNS: Final = {
    "status": r"\d{3}|-", "bytes": r"\d+|-", "request_bytes": r"\d+|-", "port": r"\d*",
    "time_msec": r"\d+(?:\.\d+)?", "time_sec": r"\d+",
    "time_ms": r"\d+", "time_usec": r"\d+", "apache_query": r'(?:[^ "\\]|\\.)*', "apache_protocol": r'[^ "]*',
    "time_local": r"\d\d?/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}", "time_frac": r"\d+",
}  # fmt: skip
_MASKED_ROLES: Final = {"request": "url", "uri": "url", "referer": "url", "query": "query",
                        "apache_query": "query", "path": "path", "apache_path": "path",
                        "secret": "secret"}  # fmt: skip
_NGINX_QUOTED: Final = r'[^"]*'
# (nginx's $uri is the decoded path: a %20 is a space there, unescaped)
_SPACED_ROLES: Final = frozenset({"request", "referer", "agent", "apache_user", "apache_path", "path"})
# unquoted lists: nginx's upstream values, and X-Forwarded-For (`203.0.113.9, 10.0.0.1`: Apache's "proxy" format)
_LIST_ROLES: Final = frozenset({"upstream", "xff"})
_REQUEST_PARTS: Final = ("method", "path", "query", "protocol")
# an origin-form URI (`/path`): anything else (absolute-form `http://host/path`, `*`, garbage) is split in Python
_REQUEST_LINE: Final = r'([A-Z]+) (/[^ ?"\\]*)(?:\?([^ "\\]*))? (HTTP/[0-9.]+)'
_ESCAPED_QUOTED: Final = r'[^"\\]*(?:\\.[^"\\]*)*'
ROLE_ORDER: Final = ("addr", "port", "user", "time", "request", "method", "uri", "path", "query", "protocol",
                     "status", "bytes", "referer", "agent", "xff", "host", "duration", "request_bytes")  # fmt: skip
ESCAPES: Final = ("default", "json", "none")  # nginx's `escape=`


class FormatError(ValueError):
    """A log format that cannot be compiled (reported as a config error)."""


class Layout(NamedTuple):
    """A compiled log format: the regex, and per role the index of its group in `groups()`."""

    regex: re.Pattern[str]
    fallback: re.Pattern[str] | None  # escape-aware twin of an nginx regex, tried when `regex` does not match
    # tried when `regex` read a time that is not one: the stamp matched by its own pattern only, so that a claimed
    # user holding " [" and a day (`x] [01/Jan/2020`) ends before the real stamp (nginx: the fallback itself)
    strict: re.Pattern[str]
    slots: tuple[int, ...]  # group index per role, in ROLE_ORDER
    time_kind: str
    duration_ns: int  # nanoseconds per unit of the duration field
    masked: tuple[tuple[int, str], ...]  # (group index, "url" | "query" | "secret")
    has_extras: bool  # port, X-Forwarded-For, host, duration or request size: read outside the hot path
    escaped_parts: bool  # Apache's %m/%U/%q, nginx's $request_method/$uri/$args by themselves: escaped, `-` if absent
    escape: str = "default"  # nginx's escape= (ESCAPES): how values are unescaped
    time_format: str = ""  # the strftime format of a `time_strftime` field (Apache's %{FORMAT}t)


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
                if unit in _APACHE_TIME_ARGS:
                    items.append((_APACHE_TIME_ARGS[unit], m.group(0)))
                elif unit in _FRACTIONS:
                    items.append(("time_frac", unit))
                else:  # a strftime format (`%{%Y-%m-%d %H:%M:%S}t`)
                    items.append(("time_strftime", unit))
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
    return _joined_times(items)


def _joined_times(items: list[_Item]) -> list[_Item]:
    """Apache's documented way to log milliseconds, `%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t`, writes one time in
    three tokens: they become one strftime field (`%d/%b/%Y %T.%f %z`), read as one time."""
    out: list[_Item] = []
    for item in items:
        if item[0] == "time_frac" and len(out) >= 2 and out[-1] == ("lit", ".") and out[-2][0] == "time_strftime" \
                and strftime.FRACTION not in out[-2][1]:  # fmt: skip
            out[-2:] = [("time_strftime", f"{out[-2][1]}.{strftime.FRACTION}")]
        elif item == ("time_strftime", "%z") and len(out) >= 2 and out[-1] == ("lit", " ") \
                and out[-2][0] == "time_strftime" and "%z" not in out[-2][1]:  # fmt: skip
            out[-2:] = [("time_strftime", f"{out[-2][1]} %z")]
        else:
            out.append(item)
    return out


def _pattern(items: list[_Item], k: int, quoted: str, strict: bool) -> str:
    role = items[k][0]
    before = items[k - 1] if k > 0 else ("", "")
    after = items[k + 1] if k + 1 < len(items) else ("", "")
    if role == "time_local" and after[1].startswith("]") and not strict:
        # [$time_local]: cheaper than the stamp's own pattern, which is needed when unbracketed. After Apache's %u,
        # whose text may hold " [", the stamp must start like one (`27/`) to end the user name. A claimed name
        # holding " [" and a day (`x] [01/Jan/2020`) still ends too early: the text read is then no time, and the
        # `strict` twin (Layout.strict), with the stamp's own pattern, reads the line.
        return r"\d\d?/[^\]]*" if any(r == "apache_user" for r, _ in items[:k]) else r"[^\]]*"
    specific = _ROLE_PATTERNS.get(role)
    if specific is not None:
        return specific
    if role == "time_strftime":
        return strftime.pattern(items[k][1])
    if role == "addr" and after == ("lit", ":") and k + 2 < len(items) and items[k + 2][0] == "port":
        return r"[^ ]*"  # $remote_addr:$remote_port: the port follows the last colon (`::1:58708`)
    if role == "path" and after[0] not in ("lit", ""):  # $uri$is_args: the path stops where the query starts
        return r'[^ ?"]*'
    if role == "apache_path" and after[0] not in ("lit", ""):  # %U%q, spaces and escapes allowed
        return r'(?:[^?"\\]|\\.)*'
    if before[0] == "lit" and before[1].endswith('"') and after[0] == "lit" and after[1].startswith('"'):
        return quoted
    if role in _LIST_ROLES and after[0]:  # `a, b`, `a, b : c`: items without spaces, up to the next field
        one = "[^ ," + (re.escape(after[1][0]) if after[0] == "lit" else "") + "]*"
        return f"{one}(?:(?:, ?| : ){one})*"
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


def _assemble(
    items: list[_Item], quoted: str, strict: bool = False
) -> tuple[str, dict[str, int], list[tuple[int, str]]]:
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
        pattern = _pattern(items, k, quoted, strict)
        key = _role_key(role)
        if key == "request" and pattern == quoted and not seen.keys() & {*_REQUEST_PARTS, "request"}:
            for offset, part in enumerate(_REQUEST_PARTS):
                seen[part] = group + offset
            seen["request"] = group + 4
            masked += [(group + 1, "path"), (group + 2, "request_query"), (group + 4, "url")]
            group += 5
            out.append(f"(?:{_REQUEST_LINE}|({pattern}))")
            continue
        first = key in ROLE_ORDER and key not in seen
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


def compile_layout(
    items: list[_Item], quoted: str, fallback_quoted: str | None, anchored: bool, escape: str = "default"
) -> Layout:
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
        fallback = re.compile(_assemble(spaced, fallback_quoted, strict=True)[0] + tail, re.S)
    strict = fallback if fallback is not None else re.compile(_assemble(items, quoted, strict=True)[0] + tail, re.S)
    time_role, time_format = next((r, detail) for r, detail in items if r in _TIME_ROLES)
    if time_role == "time_strftime":
        try:
            strftime.reader(time_format, None)  # refused here, at config load, not per line
        except strftime.StrftimeError as exc:
            raise FormatError(str(exc)) from None
    duration_role = next((r for r, _ in items if r.startswith("duration")), "duration_s")
    scale = {"duration_s": 1_000_000_000, "duration_ms": 1_000_000, "duration_us": 1_000}[duration_role]
    return Layout(
        re.compile(text + tail, re.S),
        fallback,
        strict,
        tuple(seen.get(role, absent) for role in ROLE_ORDER),
        time_role,
        scale,
        tuple(masked),
        any(role in seen for role in ("port", "xff", "host", "duration", "request_bytes")),
        any(role in ("apache_path", "path") for role, _ in items),
        escape,
        time_format if time_role == "time_strftime" else "",
    )


# nginx.conf's `log_format [name] [escape=...] 'string' "string" ...;`: quoted strings separated by blanks (and
# comments), which nginx concatenates; in them `\"`, `\'`, `\\` are the character, `\t` `\r` `\n` control characters
_CONF_STRING: Final = r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"'
_CONF_GAP: Final = r"(?:\s|#[^\n]*)+"
_CONF_NAME: Final = r"\s*(?:log_format\s+)?(?:(?P<name>[A-Za-z_][\w.-]*)\s+)?"
_NGINX_CONF: Final = re.compile(
    _CONF_NAME + r"""(?:escape=(?P<escape>[^\s'";]*)\s+)?"""
    + rf"(?P<strings>(?:{_CONF_STRING})(?:{_CONF_GAP}(?:{_CONF_STRING}))*)(?:{_CONF_GAP})?;?(?:{_CONF_GAP})?\Z",
    re.S,
)
# what only nginx.conf text starts with: the directive, `escape=` (after the name or not), a single quote
_CONF_LOOKALIKE: Final = re.compile(r"\s*(?:log_format\s|'|(?:[A-Za-z_][\w.-]*\s+)?escape=)")
_CONF_TOKEN: Final = re.compile(_CONF_STRING, re.S)
_CONF_BACKSLASH: Final = re.compile(r"\\(.)", re.S)
_CONF_CHARS: Final = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}


def nginx_conf_format(fmt: str) -> tuple[str, str]:
    """A `log_format` option -> (the format's text, its escape= value). As nginx.conf writes it, with or without
    `log_format`, the name and `escape=default|json|none`: the quoted strings concatenated, unquoted. Text made
    only of double-quoted strings on one line (`"$time_iso8601" "$request"`) reads both ways: without a name,
    `escape=`, single quotes, a backslash or a line break that says nginx.conf, it is taken as the format itself."""
    m = _NGINX_CONF.match(fmt)
    if m is None:
        if _CONF_LOOKALIKE.match(fmt):
            raise FormatError(
                "this looks like nginx.conf's log_format but is not its quoted strings (each closed, blanks between "
                "them): copy them whole as in nginx.conf (main escape=json '...' '...';), or give the format's text "
                "alone, without quotes, name or escape="
            )
        return fmt, "default"
    strings = [t.group() for t in _CONF_TOKEN.finditer(m.group("strings"))]
    escape = m.group("escape")
    if not (
        m.group("name") or escape is not None or "\n" in m.group("strings")
        or any(t.startswith("'") or "\\" in t for t in strings)
    ):  # fmt: skip
        return fmt, "default"
    if escape is not None and escape not in ESCAPES:
        raise FormatError(
            f"escape={escape} is not one of nginx's escape=default, escape=json, escape=none"
        )
    text = "".join(_CONF_BACKSLASH.sub(lambda c: _CONF_CHARS.get(c.group(1), c.group()), t[1:-1]) for t in strings)
    return text, escape or "default"


def nginx_layout(fmt: str | None) -> Layout:
    """`log_format` text, or as nginx.conf writes it (`nginx_conf_format`), or None for the predefined `combined`."""
    text, escape = nginx_conf_format(fmt) if fmt else (NGINX_COMBINED, "default")
    return compile_layout(_nginx_items(text), _NGINX_QUOTED, _ESCAPED_QUOTED, fmt is not None, escape)


def apache_layout(fmt: str | None) -> Layout:
    """`LogFormat` text (as in apache2.conf, `\\"` or `"`) or None for Debian's `combined`."""
    return compile_layout(_apache_items(fmt or APACHE_COMBINED), _ESCAPED_QUOTED, None, fmt is not None)
