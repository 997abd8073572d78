"""nginx and Apache access logs: escaping styles, malformed request lines, the untrusted user of a 401,
custom formats (with X-Forwarded-For), and masking of query strings in URL fields and event.original."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from pii_guard.model import AccessEvent, ecs_document
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.weblog import (
    ApacheParser,
    NginxParser,
    absolute_uri,
    mask_path,
    mask_query,
    mask_url,
    object_path,
    split_request,
    unescape,
)
from pii_guard.parsers.weblog_options import ApacheOptions, NginxOptions

CTX = SourceContext(fingerprint=b"weblog-test", path="/var/log/nginx/access.log", host="web1")
T0 = int(datetime(2026, 11, 27, 16, 24, 33, tzinfo=UTC).timestamp()) * 1_000_000


def nginx(line: str, **options: Any) -> AccessEvent:
    (item,) = NginxParser(CTX, NginxOptions(**options)).feed(42, line)
    assert isinstance(item, AccessEvent), item
    return item


def apache(line: str, **options: Any) -> AccessEvent:
    (item,) = ApacheParser(CTX, ApacheOptions(**options)).feed(42, line)
    assert isinstance(item, AccessEvent), item
    return item


def test_nginx_combined_line() -> None:
    ev = nginx(
        '127.0.0.1 - alice [27/Nov/2026:16:24:33 +0000] "GET /exports/customers.csv HTTP/1.1" 200 26 '
        '"https://intranet.example/reports?q=\\x22x\\x22" "Mozilla/5.0 (X11; Linux x86_64) Firefox/115.0"'
    )
    assert (ev.time_us, ev.dataset, ev.action, ev.outcome, ev.user, ev.source_ip, ev.bytes) == (
        T0,
        "nginx.access",
        "read",
        "success",
        "alice",
        "127.0.0.1",
        26,
    )
    assert (ev.object, ev.command, ev.host, ev.offset) == ("url:/exports/customers.csv", "GET", "web1", 42)
    assert ev.fields == {
        "http.response.status_code": 200,
        "url.path": "/exports/customers.csv",
        "url.original": "/exports/customers.csv",
        "http.request.method": "GET",
        "http.version": "1.1",
        "http.request.referrer": "https://intranet.example/reports?q=<masked>",
        "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) Firefox/115.0",
    }
    assert ev.original == (
        '127.0.0.1 - alice [27/Nov/2026:16:24:33 +0000] "GET /exports/customers.csv HTTP/1.1" 200 26 '
        '"https://intranet.example/reports?q=<masked>" "Mozilla/5.0 (X11; Linux x86_64) Firefox/115.0"'
    )


def test_escaping_styles_nginx_x22_vs_apache_backslash_quote() -> None:
    agent_n = nginx('1.2.3.4 - - [27/Nov/2026:16:24:33 +0000] "GET / HTTP/1.1" 200 1 "-" "a \\x22b\\x22 \\x5Cc"')
    agent_a = apache('1.2.3.4 - - [27/Nov/2026:16:24:33 +0000] "GET / HTTP/1.1" 200 1 "-" "a \\"b\\" \\\\c"')
    assert agent_n.fields["user_agent.original"] == 'a "b" \\c'
    assert agent_a.fields["user_agent.original"] == 'a "b" \\c'
    assert unescape("caf\\xC3\\xA9") == "café"  # nginx escapes UTF-8 bytes one by one


def test_malformed_request_lines() -> None:
    ng = nginx('127.0.0.1 - - [27/Nov/2026:16:24:33 +0000] "GET /\\x01weird \\x22quote\\x22 HTTP/1.0" 400 157 "-" "-"')
    ap = apache('127.0.0.1 - - [27/Nov/2026:16:27:05 +0000] "GET /\\x01weird \\"quote\\"" 400 448 "-" "-"')
    for ev in (ng, ap):
        assert ev.object == 'url:/\x01weird "quote"'
        assert ev.outcome == "failure"
        assert ev.fields["http.request.method"] == "GET"
        assert "user_agent.original" not in ev.fields
    assert ng.fields["http.version"] == "1.0"
    assert "http.version" not in ap.fields  # Apache dropped the protocol
    garbage = nginx('127.0.0.1 - - [27/Nov/2026:16:24:33 +0000] "\\x16\\x03\\x01" 400 157 "-" "-"')
    assert (garbage.action, garbage.object, garbage.command) == ("other", None, None)
    empty = nginx('127.0.0.1 - - [27/Nov/2026:16:24:33 +0000] "" 408 0 "-" "-"')
    assert (empty.action, empty.object, empty.bytes) == ("other", None, 0)


def test_split_request() -> None:
    assert split_request("GET /a HTTP/1.1") == ("GET", "/a", "HTTP/1.1")
    assert split_request('GET /a "b"') == ("GET", '/a "b"', None)
    assert split_request("GET /a b HTTP/1.0") == ("GET", "/a b", "HTTP/1.0")
    assert split_request("-") == (None, None, None)


def test_401_user_is_only_a_claim() -> None:
    ev = nginx('127.0.0.1 - alice [27/Nov/2026:16:24:33 +0000] "GET /exports/x.csv HTTP/1.1" 401 179 "-" "curl"')
    assert ev.user is None
    assert ev.fields["pii.claimed_user"] == "alice"
    assert ev.outcome == "failure"
    forbidden = nginx('127.0.0.1 - alice [27/Nov/2026:16:24:33 +0000] "GET /p.txt HTTP/1.1" 403 153 "-" "curl"')
    assert forbidden.user == "alice"  # authenticated, then refused: a real user
    anonymous = nginx('127.0.0.1 - - [27/Nov/2026:16:24:33 +0000] "GET /exports/ HTTP/1.1" 401 179 "-" "curl"')
    assert anonymous.user is None
    assert "pii.claimed_user" not in anonymous.fields


@pytest.mark.parametrize(
    ("method", "action"),
    [("GET", "read"), ("HEAD", "read"), ("POST", "write"), ("PUT", "write"), ("PATCH", "write"),
     ("DELETE", "delete"), ("OPTIONS", "other"), ("PROPFIND", "read"), ("REPORT", "read"), ("MKCOL", "create"),
     ("MOVE", "rename"), ("COPY", "read"), ("PROPPATCH", "write"), ("LOCK", "other"), ("propfind", "other")],
)  # fmt: skip
def test_method_to_action(method: str, action: str) -> None:
    ev = nginx(f'1.2.3.4 - bob [27/Nov/2026:16:24:33 +0000] "{method} /f HTTP/1.1" 204 0 "-" "-"')
    assert ev.action == action


def test_query_masking_in_url_referrer_and_original() -> None:
    line = (
        '10.0.0.1 - alice [27/Nov/2026:16:24:33 +0000] "GET /search?q=jane.doe%40example.com&page=2&debug HTTP/1.1" '
        '200 518 "https://crm.example/customers?email=jane@example.com#top" "curl/7.88.1"'
    )
    for ev in (nginx(line), apache(line)):
        assert ev.fields["url.path"] == "/search"
        assert ev.fields["url.original"] == "/search?q=<masked>&page=<masked>&<masked>"
        assert ev.fields["http.request.referrer"] == "https://crm.example/customers?email=<masked>"
        assert "jane" not in ev.original
        assert '"GET /search?q=<masked>&page=<masked>&<masked> HTTP/1.1"' in ev.original
        assert ev.object == "url:/search"
    assert mask_query("a=1&&b=x=y&c") == "a=<masked>&&b=<masked>&<masked>"


def test_userinfo_password_and_path_parameters_are_masked() -> None:
    """A Referer with `user:pass@` (a browser sending the URL it was given) and `;jsessionid=` path parameters
    in the request or the Referer: the password and the parameters' values are masked in every field and in
    `event.original`; names, paths and hosts stay. `--no-mask` keeps them."""
    line = (
        '10.0.0.1 - alice [27/Nov/2026:16:24:33 +0000] "GET /shop/cart;jsessionid=8A1F0C2D;v=3 HTTP/1.1" 200 518 '
        '"https://bob:secret@intranet.example/app;jsessionid=77AA/list?x=1" "curl/7.88.1"'
    )
    for ev in (nginx(line), apache(line)):
        assert ev.fields["url.path"] == "/shop/cart;jsessionid=<masked>;v=<masked>"
        assert ev.fields["url.original"] == "/shop/cart;jsessionid=<masked>;v=<masked>"
        assert ev.fields["http.request.referrer"] == (
            "https://bob:<masked>@intranet.example/app;jsessionid=<masked>/list?x=<masked>")
        assert ev.object == "url:/shop/cart;jsessionid=<masked>;v=<masked>"
        for raw in ("secret", "8A1F0C2D", "77AA", "v=3"):
            assert raw not in ev.original
        assert '"GET /shop/cart;jsessionid=<masked>;v=<masked> HTTP/1.1"' in ev.original
    # a Referer alone, without "?" or path parameters in the line
    ev = nginx('10.0.0.1 - - [27/Nov/2026:16:24:33 +0000] "GET / HTTP/1.1" 200 5 "https://bob:pw@h.example/" "-"')
    assert ev.fields["http.request.referrer"] == "https://bob:<masked>@h.example/"
    assert "pw@" not in ev.original
    # Apache's %U%q and nginx's $request_uri
    ev = apache('1.2.3.4 - - [27/Nov/2026:16:24:33 +0000] "GET /a;jsessionid=Z9?q=1 HTTP/1.1" 200 5',
                log_format='%h %l %u %t \\"%m %U%q %H\\" %>s %b')
    assert ev.fields["url.original"] == "/a;jsessionid=<masked>?q=<masked>"
    assert "Z9" not in ev.original
    ev = nginx('1.2.3.4 [27/Nov/2026:16:24:33 +0000] "/a;jsessionid=Z9" 200',
               log_format='$remote_addr [$time_local] "$request_uri" $status')
    assert ev.fields["url.path"] == "/a;jsessionid=<masked>"
    assert "Z9" not in ev.original
    unmasked = dataclasses.replace(CTX, mask_literals=False)
    (raw_ev,) = NginxParser(unmasked, NginxOptions()).feed(0, line)
    assert isinstance(raw_ev, AccessEvent)
    assert raw_ev.original == line
    # the helpers: a user without a password, an e-mail in a path, a `;` without a value stay
    assert mask_path("http://bob@h.example/u/x@y.z;flag") == "http://bob@h.example/u/x@y.z;flag"
    assert mask_url("GET http://u:p@proxy.example/x?a=1 HTTP/1.1") == (
        "GET http://u:<masked>@proxy.example/x?a=<masked> HTTP/1.1")


def test_no_mask_keeps_query_strings_but_never_secrets() -> None:
    """`parse --no-mask` / `privacy.mask_literals: false`: query strings as logged; a logged cookie stays masked."""
    line = ('10.0.0.1 - alice [27/Nov/2026:16:24:33 +0000] "GET /search?q=jane HTTP/1.1" 200 518 "-" "curl/7.88.1" '
            '"session=abc123"')
    unmasked = dataclasses.replace(CTX, mask_literals=False)
    fmt = '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" ' \
          '"$http_user_agent" "$http_cookie"'
    for ctx, query in ((CTX, "q=<masked>"), (unmasked, "q=jane")):
        (ev,) = NginxParser(ctx, NginxOptions(log_format=fmt)).feed(0, line)
        assert isinstance(ev, AccessEvent)
        assert ev.fields["url.original"] == "/search?" + query
        assert "abc123" not in ev.original


def test_bytes_dash_and_object_normalization() -> None:
    ev = apache(
        '1.2.3.4 - - [27/Nov/2026:16:24:33 +0000] "GET /exports//./%63ustomers.csv HTTP/1.1" 304 - "-" "-"',
        log_format='%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\"',
    )
    assert ev.bytes == 0  # %b writes "-" for no body
    assert ev.object == "url:/exports/customers.csv"
    assert ev.fields["url.path"] == "/exports//./%63ustomers.csv"  # as sent
    assert object_path("/a/b/../c/") == "/a/c/"


def test_nginx_custom_format_with_forwarded_for() -> None:
    fmt = (
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
        '"$http_user_agent" "$http_x_forwarded_for" rt=$request_time host=$host'
    )
    line = (
        '10.0.0.5 - bob [27/Nov/2026:17:24:33 +0100] "GET /api/customers/7?fields=email HTTP/2.0" 200 12 "-" '
        '"curl" "203.0.113.9, 10.0.0.1" rt=0.012 host=crm.example'
    )
    trusted = nginx(line, log_format=fmt, trust_forwarded_for=True)
    assert trusted.time_us == T0
    assert trusted.source_ip == "203.0.113.9"
    assert trusted.fields["pii.peer_ip"] == "10.0.0.5"
    assert trusted.fields["pii.forwarded_for"] == "203.0.113.9, 10.0.0.1"
    assert trusted.fields["url.domain"] == "crm.example"
    assert trusted.fields["event.duration"] == 12_000_000
    assert trusted.fields["http.version"] == "2.0"
    assert trusted.fields["url.original"] == "/api/customers/7?fields=<masked>"
    untrusted = nginx(line, log_format=fmt)
    assert untrusted.source_ip == "10.0.0.5"
    assert "pii.peer_ip" not in untrusted.fields
    no_xff = nginx(line.replace('"203.0.113.9, 10.0.0.1"', '"-"'), log_format=fmt, trust_forwarded_for=True)
    assert no_xff.source_ip == "10.0.0.5"


def test_apache_custom_format_with_split_request_and_secrets() -> None:
    fmt = '%a %l %u %t \\"%m %U%q %H\\" %>s %B %D \\"%{X-Forwarded-For}i\\" \\"%{Cookie}i\\" %v'
    line = (
        '10.0.0.6 - carol [27/Nov/2026:16:24:33 +0000] "GET /c.csv?id=42 HTTP/1.1" 200 5 1234 "198.51.100.4" '
        '"session=s3cr3t" files.example'
    )
    ev = apache(line, log_format=fmt, trust_forwarded_for=True)
    assert (ev.user, ev.source_ip, ev.bytes, ev.object) == ("carol", "198.51.100.4", 5, "url:/c.csv")
    assert ev.fields["url.original"] == "/c.csv?id=<masked>"
    assert ev.fields["event.duration"] == 1_234_000
    assert ev.fields["url.domain"] == "files.example"
    assert "s3cr3t" not in ev.original
    assert '"<masked>"' in ev.original
    assert "id=<masked>" in ev.original


def test_nginx_iso_time_uri_and_args() -> None:
    fmt = "$time_iso8601 $remote_addr $request_method $request_uri $status $bytes_sent"
    ev = nginx("2026-11-27T17:24:33+01:00 10.1.1.1 PUT /files/a.txt?v=3 201 99", log_format=fmt)
    assert (ev.time_us, ev.action, ev.object, ev.bytes) == (T0, "write", "url:/files/a.txt", 99)
    assert ev.fields["url.original"] == "/files/a.txt?v=<masked>"
    assert ev.original == "2026-11-27T17:24:33+01:00 10.1.1.1 PUT /files/a.txt?v=<masked> 201 99"
    fmt2 = "$msec $remote_addr $request_method $uri $args $status"
    ev2 = nginx("1795796673.250 10.1.1.1 GET /files/a.txt user=x@y.z 200", log_format=fmt2)
    assert ev2.time_us == T0 + 250_000
    assert ev2.fields["url.original"] == "/files/a.txt?user=<masked>"
    assert ev2.original.endswith("user=<masked> 200")


def test_nginx_escape_json_lines_use_the_fallback() -> None:
    line = '1.2.3.4 - - [27/Nov/2026:16:24:33 +0000] "GET / HTTP/1.1" 200 1 "-" "say \\"hi\\""'
    assert nginx(line).fields["user_agent.original"] == 'say "hi"'


def test_failures() -> None:
    parser = NginxParser(CTX)
    (bad,) = parser.feed(9, "this is not an access log line")
    assert isinstance(bad, ParseFailure)
    assert bad.offset == 9
    assert "combined" in bad.reason
    (stamp,) = parser.feed(9, '1.2.3.4 - - [27/Foo/2026:16:24:33 +0000] "GET / HTTP/1.1" 200 1 "-" "-"')
    assert isinstance(stamp, ParseFailure)
    assert "month" in stamp.reason


def test_log_format_is_validated_at_config_time() -> None:
    with pytest.raises(ValidationError, match="no timestamp"):
        NginxOptions(log_format="$remote_addr $status")
    with pytest.raises(ValidationError, match="no request"):
        ApacheOptions(log_format="%h %t %>s")
    with pytest.raises(ValidationError):
        NginxOptions(trust_forwarded_fr=True)  # type: ignore[call-arg]


def test_timestamp_cache_is_bounded() -> None:
    parser = NginxParser(CTX, NginxOptions(log_format="$msec $request $status"))
    for i in range(5000):
        (ev,) = parser.feed(i, f"{1795796673 + i}.000 GET /x HTTP/1.1 200")
        assert isinstance(ev, AccessEvent)
    assert len(parser._times) <= 4096


def test_event_id_is_the_keyed_hash_of_offset_and_line() -> None:
    """The id is the dedupe key across restarts: it must never change for the same file, offset and line."""
    line = '1.2.3.4 - bob [27/Nov/2026:16:24:33 +0000] "GET /q?x=1 HTTP/1.1" 200 5 "-" "caf\\xC3\\xA9 \u20ac"'
    expected = hashlib.blake2b(
        (4711).to_bytes(8, "little") + line.encode(), key=CTX.fingerprint, digest_size=16
    ).hexdigest()
    (ev,) = NginxParser(CTX).feed(4711, line)
    assert isinstance(ev, AccessEvent)
    assert ev.id == expected


def test_masking_several_groups_rebuilds_the_line_around_each() -> None:
    fmt = '$remote_addr [$time_local] "$request" $status "$http_referer" "$http_cookie" "$http_user_agent"'
    line = (
        '10.0.0.1 [27/Nov/2026:16:24:33 +0000] "GET /s?q=ann&n=1 HTTP/1.1" 200 "https://x.example/?who=bob" '
        '"sid=s3cr3t" "agent?v=2"'
    )
    ev = nginx(line, log_format=fmt)
    assert ev.original == (
        '10.0.0.1 [27/Nov/2026:16:24:33 +0000] "GET /s?q=<masked>&n=<masked> HTTP/1.1" 200 '
        '"https://x.example/?who=<masked>" "<masked>" "agent?v=2"'
    )
    assert ev.fields["url.original"] == "/s?q=<masked>&n=<masked>"
    assert ev.fields["http.request.referrer"] == "https://x.example/?who=<masked>"
    assert ev.fields["user_agent.original"] == "agent?v=2"


def test_memoized_values_give_the_same_events_on_repeats_and_after_the_memos_are_cleared() -> None:
    parser = NginxParser(CTX)
    lines = [
        f'10.0.0.{i % 7} - u{i % 3} [27/Nov/2026:16:24:{i % 60:02d} +0000] "GET /p/{i % 5000}?id={i} HTTP/1.{i % 2}" '
        f'{200 + i % 3} {i} "https://r.example/?a={i % 4}" "ua \\x22{i % 6000}\\x22"'
        for i in range(9000)
    ]
    first = [parser.feed(i, line) for i, line in enumerate(lines)]
    again = [parser.feed(i, line) for i, line in enumerate(lines)]
    fresh = [NginxParser(CTX).feed(i, line) for i, line in enumerate(lines[-50:], start=len(lines) - 50)]
    assert first == again
    assert first[-50:] == fresh
    ev = first[8999][0]
    assert isinstance(ev, AccessEvent)
    assert ev.fields["user_agent.original"] == 'ua "2999"'
    assert ev.fields["http.version"] == "1.1"
    assert ev.object == "url:/p/3999"
    assert all(len(memo) <= 4096 for memo in (parser._unescapes, parser._objects, parser._times))


def test_unusual_protocol_and_bytes() -> None:
    ev = nginx('1.2.3.4 - - [27/Nov/2026:16:24:33 +0000] "GET / HTTP/1.2" 200 0 "-" "-"')
    assert (ev.fields["http.version"], ev.bytes) == ("1.2", 0)
    ap = apache('1.2.3.4 - - [27/Nov/2026:16:24:33 +0000] "GET / HTTP/3" 304 - "-" "-"',
                log_format='%h %l %u %t \\"%r\\" %>s %b \\"%{Referer}i\\" \\"%{User-Agent}i\\"')  # fmt: skip
    assert (ap.fields["http.version"], ap.bytes) == ("3", 0)


# Real lines of Apache 2.4.71 (tests/samples/apache/): %u and %U are escaped (\" \\ \xhh) but keep spaces.
SPLIT = r'%a %l %u %t \"%m %U%q %H\" %>s %B %D %T \"%{X-Forwarded-For}i\" \"%{User-Agent}i\"'


def test_apache_user_names_with_spaces_escapes_and_brackets() -> None:
    spaced = apache('127.0.0.1 - bob smith [29/Nov/2026:00:37:20 +0000] "GET /exports/payroll%202024%20caf%C3%A9.csv '
                    'HTTP/1.1" 200 305 "-" "-"')  # fmt: skip
    assert (spaced.user, spaced.object, spaced.bytes) == ("bob smith", "url:/exports/payroll 2024 café.csv", 305)
    utf8 = apache('127.0.0.1 - j\\xc3\\xbcrgen [29/Nov/2026:00:37:20 +0000] "GET /exports/customers.csv HTTP/1.1" '
                  '200 274 "-" "-"')  # fmt: skip
    assert utf8.user == "jürgen"
    claimed = apache('127.0.0.1 - ev\\"il\\\\ [x] \\"GET /forged HTTP/1.1\\" 200 [29/Nov/2026:00:37:20 +0000] '
                     '"GET /exports/customers.csv HTTP/1.1" 401 626 "-" "-"')  # fmt: skip
    assert (claimed.user, claimed.fields["pii.claimed_user"]) == (None, 'ev"il\\ [x] "GET /forged HTTP/1.1" 200')
    assert (claimed.object, claimed.fields["http.response.status_code"]) == ("url:/exports/customers.csv", 401)
    assert claimed.time_us == int(datetime(2026, 11, 29, 0, 37, 20, tzinfo=UTC).timestamp()) * 1_000_000
    bracket = apache('1.2.3.4 - a [b [27/Nov/2026:16:24:33 +0000] "GET / HTTP/1.1" 200 1 "-" "-"')
    assert (bracket.user, bracket.time_us) == ("a [b", T0)
    quoted = apache('1.2.3.4 "bob smith" "GET / HTTP/1.1" 200 [27/Nov/2026:16:24:33 +0000]',
                    log_format=r'%a \"%u\" \"%r\" %>s %t')  # fmt: skip
    assert quoted.user == "bob smith"


def test_apache_split_request_decoded_path_escapes_and_dashes() -> None:
    spaced = apache('127.0.0.1 - bob smith [29/Nov/2026:00:37:20 +0000] "GET /exports/payroll 2024 caf\\xc3\\xa9.csv '
                    'HTTP/1.1" 200 100 91 0 "-" "-"', log_format=SPLIT)  # fmt: skip
    assert (spaced.user, spaced.object, spaced.bytes) == ("bob smith", "url:/exports/payroll 2024 café.csv", 100)
    assert (spaced.fields["url.path"], spaced.fields["http.version"]) == ("/exports/payroll 2024 café.csv", "1.1")
    escaped = apache('127.0.0.1 - - [29/Nov/2026:00:37:20 +0000] "GET /caf\\xc3\\xa9/\\"q\\"?a=\\"b\\"\\\\c HTTP/1.1" '
                     '404 236 29 0 "-" "a\\"b\\\\c\\xc3\\xa9"', log_format=SPLIT)  # fmt: skip
    assert (escaped.object, escaped.fields["url.original"]) == ('url:/café/"q"', '/café/"q"?a=<masked>')
    assert escaped.fields["user_agent.original"] == 'a"b\\cé'
    assert '"b"' not in escaped.original
    unreadable = apache('127.0.0.1 - - [29/Nov/2026:00:37:20 +0000] "- - HTTP/1.0" 400 266 82 0 "-" "-"',
                        log_format=SPLIT)  # fmt: skip
    assert (unreadable.action, unreadable.object, unreadable.command) == ("other", None, None)
    assert "url.path" not in unreadable.fields
    assert "http.request.method" not in unreadable.fields


def test_apache_time_units_may_say_begin_or_end() -> None:
    fmt = r'%{end:msec}t %a \"%u\" \"%r\" %>s %b %{ms}T \"%{X-Forwarded-For}i\" %q'
    ev = apache('1795912640392 127.0.0.1 "alice" "GET /exports/customers.csv?email=jane.doe@example.com&page=2 '
                'HTTP/1.1" 200 70 3 "203.0.113.9, 10.0.0.1" ?email=jane.doe@example.com&page=2',
                log_format=fmt)  # fmt: skip
    assert ev.time_us == 1795912640392_000
    assert (ev.user, ev.bytes, ev.fields["event.duration"]) == ("alice", 70, 3_000_000)
    assert "jane" not in ev.original
    begin = apache('1795912640 1.2.3.4 "-" "GET / HTTP/1.1" 200 - 0 "-" ',
                   log_format=fmt.replace("end:msec", "begin:sec"))  # fmt: skip
    assert (begin.time_us, begin.bytes) == (1795912640_000_000, 0)


def test_the_ecs_document_keeps_the_parsers_own_pii_fields() -> None:
    ev = apache('127.0.0.1 - alice [29/Nov/2026:00:37:20 +0000] "GET /exports/customers.csv HTTP/1.1" 401 626 "-" "-"')
    doc = ecs_document(ev)
    assert doc["pii"] == {"claimed_user": "alice", "object": "url:/exports/customers.csv", "bytes": 626,
                          "command": "GET"}  # fmt: skip


# Real lines of nginx 1.22.1 (TZ -0330) and Apache 2.4.71 (TZ +0530) of the sweep samples (tests/samples/nginx/
# nginx-*-odd-requests.log, nginx-full-upstream-port.log, nginx-main-forwarded-for.log, nginx-json-escape-json.log,
# tests/samples/apache/apache-*-odd-requests.log, apache-proxy-forwarded-for.log).
FULL = (
    "full '$remote_addr:$remote_port $host $server_name $remote_user [$time_local] \"$request\" $status $bytes_sent "
    "$body_bytes_sent $request_length $request_time $upstream_response_time \"$http_x_forwarded_for\" $ssl_protocol "
    "\"$http_referer\" \"$http_user_agent\"';"
)  # as nginx.conf writes it
SPLIT_SIZES = r'%a %l %u %t \"%m %U%q %H\" %>s %I %O %{ms}T \"%{Host}i\" %v'


def test_query_values_with_spaces_are_masked_to_the_protocol_or_the_end() -> None:
    """Both servers log a space in a query as sent: every value is masked, up to the request line's final
    ` HTTP/1.1` (Apache dropped it from this malformed line: to the end), and to the end of a Referer."""
    ng = nginx('127.0.0.1 - - [30/Nov/2026:00:14:17 -0330] "GET /pub/index.html?email=jane doe@example.com&n=1 '
               'HTTP/1.1" 400 157 "-" "-"')  # fmt: skip
    ap = apache('127.0.0.1 - - [30/Nov/2026:09:17:36 +0530] "GET /pub/index.html?email=jane doe@example.com&n=1" '
                '400 463 "-" "-"')  # fmt: skip
    for ev in (ng, ap):
        assert ev.fields["url.original"] == "/pub/index.html?email=<masked>&n=<masked>"
        assert (ev.object, ev.fields["http.request.method"]) == ("url:/pub/index.html", "GET")
        assert "doe@" not in ev.original
    assert '"GET /pub/index.html?email=<masked>&n=<masked> HTTP/1.1" 400' in ng.original
    assert ng.fields["http.version"] == "1.1"
    assert '"GET /pub/index.html?email=<masked>&n=<masked>" 400' in ap.original
    referer = '"https://intranet.example/search?q=jane doe@example.com&x=1"'
    ng = nginx(f'127.0.0.1 - - [30/Nov/2026:00:21:17 -0330] "GET /pub/index.html HTTP/1.1" 200 7 {referer} "-"')
    ap = apache(f'127.0.0.1 - - [30/Nov/2026:09:21:19 +0530] "GET /pub/index.html HTTP/1.1" 200 289 {referer} "-"')
    for ev in (ng, ap):
        assert ev.fields["http.request.referrer"] == "https://intranet.example/search?q=<masked>&x=<masked>"
        assert "doe@" not in ev.original
    assert mask_url("GET /a?q=x y  HTTP/1.0") == "GET /a?q=<masked>  HTTP/1.0"  # the blanks before it stay
    assert mask_url("GET /a?q=x\\x09HTTP/1.1") == "GET /a?q=<masked>\\x09HTTP/1.1"  # nginx's escaped TAB
    assert mask_url("/docs?next=/HTTP/1.1") == "/docs?next=<masked>"  # no blank before it: the query's own
    assert mask_url("https://h.example/?q=a b#top") == "https://h.example/?q=<masked>"


def test_request_lines_with_runs_of_blanks_or_a_tab() -> None:
    """nginx served `GET  /x?q  HTTP/1.1` (two spaces each) and logged it as sent; it refused a TAB (`\\x09`) but
    logged that as sent too. The object is the path in both cases, never ` /x` or `HTTP/1.1`."""
    spaced = nginx('127.0.0.1 - alice [30/Nov/2026:00:23:05 -0330] "GET  /exports/customers.csv?email=jane.doe@example'
                   '.com  HTTP/1.1" 200 70 "-" "-"')  # fmt: skip
    assert (spaced.object, spaced.user, spaced.command) == ("url:/exports/customers.csv", "alice", "GET")
    assert spaced.fields["url.path"] == "/exports/customers.csv"
    assert spaced.fields["url.original"] == "/exports/customers.csv?email=<masked>"
    assert '"GET  /exports/customers.csv?email=<masked>  HTTP/1.1"' in spaced.original
    tab = nginx('127.0.0.1 - - [30/Nov/2026:00:23:06 -0330] "GET\\x09/exports/customers.csv HTTP/1.1" 400 157 "-" "-"')
    assert (tab.object, tab.command, tab.outcome) == ("url:/exports/customers.csv", "GET", "failure")
    assert (tab.fields["url.path"], tab.fields["http.version"]) == ("/exports/customers.csv", "1.1")
    assert split_request("GET  /a  HTTP/1.1") == ("GET", "/a", "HTTP/1.1")
    assert split_request("GET\t/a b\tHTTP/1.0") == ("GET", "/a b", "HTTP/1.0")
    assert split_request("GET /a b") == ("GET", "/a b", None)
    assert split_request('""') == (None, None, None)


def test_absolute_form_request_uri_names_the_path_and_the_host() -> None:
    """`GET http://web.example/exports/customers.csv` (a client talking to a proxy, or a scanner): both servers
    served alice the file. The object and url.path are the path's, the host is url.domain (unless the format's own
    $host says it), url.original keeps the URI as sent, its query masked."""
    ng = nginx('127.0.0.1 - alice [30/Nov/2026:00:14:17 -0330] "GET http://web.example/exports/customers.csv?email=jane.'
               'doe@example.com HTTP/1.1" 200 70 "-" "-"')  # fmt: skip
    ap = apache('127.0.0.1 - alice [30/Nov/2026:09:17:37 +0530] "GET http://web.example/exports/customers.csv?email='
                'jane.doe@example.com HTTP/1.1" 200 353 "-" "-"')  # fmt: skip
    for ev in (ng, ap):
        assert (ev.object, ev.user, ev.outcome) == ("url:/exports/customers.csv", "alice", "success")
        assert ev.fields["url.path"] == "/exports/customers.csv"
        assert ev.fields["url.domain"] == "web.example"
        assert ev.fields["url.original"] == "http://web.example/exports/customers.csv?email=<masked>"
        assert "jane" not in ev.original
    line = ('127.0.0.1:39250 web.example web.example alice [30/Nov/2026:00:14:17 -0330] "GET https://bob:pw@other.example'
            ':8443/exports/customers.csv HTTP/1.1" 200 300 70 165 0.000 - "-" - "-" "-"')  # fmt: skip
    ev = nginx(line, log_format=FULL)
    assert (ev.object, ev.fields["url.domain"]) == ("url:/exports/customers.csv", "web.example")  # $host wins
    assert ev.fields["url.original"] == "https://bob:<masked>@other.example:8443/exports/customers.csv"
    assert absolute_uri("https://bob:pw@other.example:8443/x?q") == ("other.example", "/x?q")
    assert absolute_uri("http://[2001:db8::1]:8080") == ("[2001:db8::1]", "/")
    assert absolute_uri("/x") is None


@pytest.mark.parametrize(
    ("server", "line", "log_format"),
    [
        ("nginx", '127.0.0.1 - x] [01/Jan/2020 [30/Nov/2026:00:21:17 -0330] "GET /exports/customers.csv HTTP/1.1" 401 '
                  '179 "-" "-"', None),
        ("apache", '127.0.0.1 - x] [01/Jan/2020 [30/Nov/2026:09:21:19 +0530] "GET /exports/customers.csv HTTP/1.1" 401 '
                   '660 "-" "-"', None),
        ("apache", 'web.example:80 127.0.0.1 - x] [01/Jan/2020 [30/Nov/2026:09:21:19 +0530] "GET /exports/customers'
                   '.csv HTTP/1.1" 401 660 "-" "-"', None),  # vhost_combined, in the combined file
        ("nginx", '127.0.0.1:33792 web.example web.example x] [01/Jan/2020 [30/Nov/2026:00:21:17 -0330] "GET /exports/'
                  'customers.csv HTTP/1.1" 401 373 179 196 0.000 - "-" - "-" "-"', FULL),
        ("apache", '127.0.0.1 - x] [01/Jan/2020 [30/Nov/2026:09:21:19 +0530] "GET /exports/customers.csv HTTP/1.1" 401 '
                   '220 660 0 "web.example" web.example', SPLIT_SIZES),
    ],
)  # fmt: skip
def test_a_claimed_user_holding_a_bracket_and_a_day_is_no_timestamp(
    server: str, line: str, log_format: str | None
) -> None:
    """A failed Basic-auth login as `x] [01/Jan/2020`: the stamp is only what reads as one, so the login attempt is
    an event (a 401 with the claimed name), not a dead letter, in combined and in custom formats alike."""
    ev = (nginx if server == "nginx" else apache)(line, log_format=log_format)
    assert (ev.user, ev.fields["pii.claimed_user"], ev.outcome) == (None, "x] [01/Jan/2020", "failure")
    assert (ev.object, ev.fields["http.response.status_code"]) == ("url:/exports/customers.csv", 401)
    when = datetime(2026, 11, 30, 3, 51, 17 if server == "nginx" else 19, tzinfo=UTC)
    assert ev.time_us == int(when.timestamp()) * 1_000_000


def test_nginx_upstream_lists() -> None:
    """`$upstream_response_time` unquoted with one value per upstream tried (`0.001, 0.000`: the first upstream was
    down, nginx retried the second); `$upstream_*` lists of an internal redirect to another group (` : `)."""
    retried = nginx('127.0.0.1:51974 web.example web.example - [30/Nov/2026:00:14:16 -0330] "GET /proxy/x?email=jane.'
                    'doe@example.com HTTP/1.1" 200 150 8 90 0.001 0.001, 0.000 "-" - "-" "-"',
                    log_format=FULL)  # fmt: skip
    assert (retried.action, retried.outcome, retried.object, retried.bytes) == ("read", "success", "url:/proxy/x", 150)
    assert (retried.source_ip, retried.source_port, retried.fields["event.duration"]) == ("127.0.0.1", 51974, 1_000_000)
    fmt = '$remote_addr [$time_local] "$request" $status $upstream_addr $upstream_status $upstream_response_time'
    redirected = nginx('10.0.0.5 [27/Nov/2026:16:24:33 +0000] "GET /a HTTP/1.1" 200 10.0.0.1:80, 10.0.0.2:80 : '
                       'unix:/run/app.sock 502, 502 : 200 0.001, 0.002 : 0.010', log_format=fmt)  # fmt: skip
    assert (redirected.object, redirected.time_us) == ("url:/a", T0)


def test_nginx_ipv6_client_with_its_port() -> None:
    """`$remote_addr:$remote_port` of an IPv6 client (`::1:58708`): the port follows the last colon."""
    ipv6 = nginx('::1:58708 web.example web.example alice [30/Nov/2026:00:13:58 -0330] "GET /exports/customers.csv '
                 'HTTP/1.1" 200 300 70 120 0.000 - "-" - "-" "-"', log_format=FULL)  # fmt: skip
    assert (ipv6.source_ip, ipv6.source_port, ipv6.user) == ("::1", 58708, "alice")


def test_log_format_as_written_in_nginx_conf() -> None:
    """nginx.conf's `log_format main '...' '...';` (quoted strings nginx concatenates, with its name and `escape=`)
    reads as nginx reads it; what looks like nginx.conf but cannot be read is a config error naming the fix."""
    main = """main '$remote_addr - $remote_user [$time_local] "$request" '
                  '$status $body_bytes_sent "$http_referer" '
                  '"$http_user_agent" "$http_x_forwarded_for"';
"""
    ev = nginx('127.0.0.1 - alice [30/Nov/2026:00:13:57 -0330] "GET /exports/customers.csv?email=jane.doe@example.com'
               '&page=2 HTTP/1.1" 200 70 "-" "-" "203.0.113.9, 10.0.0.1"', log_format=main)  # fmt: skip
    assert (ev.user, ev.object, ev.fields["pii.forwarded_for"]) == ("alice", "url:/exports/customers.csv",
                                                                    "203.0.113.9, 10.0.0.1")  # fmt: skip
    json_fmt = ("jsonlog escape=json '{\"time\":\"$time_iso8601\",\"remote_addr\":\"$remote_addr\",\"remote_user\":"
                "\"$remote_user\",\"request\":\"$request\",\"status\":$status,\"body_bytes_sent\":$body_bytes_sent,"
                "\"request_time\":$request_time,\"http_referer\":\"$http_referer\",\"http_user_agent\":"
                "\"$http_user_agent\",\"http_x_forwarded_for\":\"$http_x_forwarded_for\",\"host\":\"$host\","
                "\"upstream_response_time\":\"$upstream_response_time\"}';")  # fmt: skip
    ev = nginx('{"time":"2026-11-30T00:21:17-03:30","remote_addr":"127.0.0.1","remote_user":"","request":"GET /pub/'
               'index.html HTTP/1.1","status":200,"body_bytes_sent":7,"request_time":0.000,"http_referer":"",'
               '"http_user_agent":"ctl\\u0001del\x7fend","http_x_forwarded_for":"","host":"web.example",'
               '"upstream_response_time":""}', log_format=json_fmt)  # fmt: skip
    assert (ev.object, ev.fields["url.domain"]) == ("url:/pub/index.html", "web.example")
    assert ev.fields["user_agent.original"] == "ctl\x01del\x7fend"  # escape=json: \u0001 is the byte
    escjson = nginx('127.0.0.1 -  [30/Nov/2026:00:21:17 -0330] "GET /pub/index.html HTTP/1.1" 200 7 "" "ctl\\u0001del'
                    '\x7fend"', log_format="escape=json '$remote_addr - $remote_user [$time_local] \"$request\" "
                    "$status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"'")  # fmt: skip
    assert escjson.fields["user_agent.original"] == "ctl\x01del\x7fend"
    # HAND-WRITTEN: escape=none writes what the client sent, backslashes included
    none = nginx('10.0.0.1 [27/Nov/2026:16:24:33 +0000] "GET /a HTTP/1.1" 200 "C:\\x41\\\\b"',
                 log_format="escape=none '$remote_addr [$time_local] \"$request\" $status \"$http_user_agent\"'")
    assert none.fields["user_agent.original"] == "C:\\x41\\\\b"
    plain = '"$time_iso8601" "$remote_addr" "$request" "$status"'  # a format of quoted fields, not nginx.conf text
    ev = nginx('"2026-11-27T16:24:33+00:00" "10.0.0.1" "GET /a HTTP/1.1" "200"', log_format=plain)
    assert (ev.time_us, ev.source_ip, ev.object) == (T0, "10.0.0.1", "url:/a")
    with pytest.raises(ValidationError, match="escape=jsn is not one of nginx's escape=default, escape=json"):
        NginxOptions(log_format="escape=jsn '$remote_addr [$time_local] \"$request\" $status'")
    for half_copied in (
        'main escape=json $remote_addr [$time_local] "$request" $status',  # escape= before unquoted text
        'log_format main $remote_addr [$time_local] "$request" $status',  # the directive, unquoted
        """'$remote_addr [$time_local] "$request" '\n  '$status""",  # a quote left open
    ):
        with pytest.raises(ValidationError, match=r"copy them whole as in nginx\.conf"):
            NginxOptions(log_format=half_copied)


def test_a_client_that_is_no_ip_address_is_not_source_ip() -> None:
    """Apache's HostnameLookups (`localhost`), nginx on a unix socket (`unix:`) and X-Forwarded-For headers that name
    no address: source.ip is only ever an IP address; the text stays in source.domain, source.address or
    pii.forwarded_for, and a header that is no address leaves the peer the client."""
    name = apache('localhost - - [30/Nov/2026:09:22:21 +0530] "GET /lookup/index.html HTTP/1.1" 200 278 "-" '
                  '"curl/7.88.1"')  # fmt: skip
    assert (name.source_ip, name.fields["source.domain"]) == (None, "localhost")
    sock = nginx('unix: - - [30/Nov/2026:00:22:30 -0330] "GET /pub/index.html HTTP/1.1" 200 7 "-" "curl/7.88.1"')
    assert (sock.source_ip, sock.fields["source.address"]) == (None, "unix:")
    assert "source.domain" not in sock.fields
    for xff in ("not-an-ip", "203.0.113.300", "\\xC3\\xA9vil"):
        ev = nginx(f'127.0.0.1 - - [30/Nov/2026:00:21:57 -0330] "GET /pub/index.html HTTP/1.1" 200 7 "-" "-" "{xff}"',
                   trust_forwarded_for=True)  # fmt: skip
        assert (ev.source_ip, ev.fields["pii.forwarded_for"]) == ("127.0.0.1", xff)
        assert "pii.peer_ip" not in ev.fields
    v6 = nginx('127.0.0.1 - - [30/Nov/2026:00:21:18 -0330] "GET /pub/index.html HTTP/1.1" 200 7 "-" "-" '
               '"[2001:db8::1]:4711"', trust_forwarded_for=True)  # fmt: skip
    assert (v6.source_ip, v6.fields["pii.peer_ip"]) == ("2001:db8::1", "127.0.0.1")
    parser = NginxParser(CTX)
    for i in range(5000):
        parser.feed(i, f'10.0.{i // 256}.{i % 256} - - [27/Nov/2026:16:24:33 +0000] "GET / HTTP/1.1" 200 1 "-" "-"')
    assert len(parser._is_ip) <= 4096


def test_apache_proxy_format_with_a_forwarded_for_list() -> None:
    """The httpd documentation's "proxy" LogFormat, `%{X-Forwarded-For}i %l %u ...`: a two-hop header is read whole,
    and the user after it is alice, not `- alice`."""
    fmt = r'%{X-Forwarded-For}i %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"'
    ev = apache('203.0.113.9, 10.0.0.1 - alice [30/Nov/2026:09:17:29 +0530] "GET /exports/customers.csv?email=jane.doe'
                '@example.com&page=2 HTTP/1.1" 200 70 "-" "-"', log_format=fmt, trust_forwarded_for=True)  # fmt: skip
    assert (ev.user, ev.source_ip, ev.fields["pii.forwarded_for"]) == ("alice", "203.0.113.9", "203.0.113.9, 10.0.0.1")
    unknown = apache('unknown, 203.0.113.7 - - [30/Nov/2026:09:21:20 +0530] "GET /pub/index.html HTTP/1.1" 200 7 "-" '
                     '"-"', log_format=fmt)  # fmt: skip
    assert (unknown.user, unknown.fields["pii.forwarded_for"]) == (None, "unknown, 203.0.113.7")


def test_the_request_size_is_read_for_uploads() -> None:
    """nginx's $request_length and Apache's %I (request line, headers and body) give http.request.bytes: a PUT of
    5000 bytes. pii.bytes stays the response's size, from the first of $bytes_sent / $body_bytes_sent in the format."""
    ng = nginx('127.0.0.1:41638 web.example web.example alice [30/Nov/2026:00:13:58 -0330] "PUT /dav/up.csv HTTP/1.1" '
               '201 168 0 5131 0.000 - "-" - "-" "-"', log_format=FULL)  # fmt: skip
    assert (ng.action, ng.bytes, ng.fields["http.request.bytes"]) == ("write", 168, 5131)
    ap = apache('127.0.0.1 - alice [30/Nov/2026:09:17:30 +0530] "PUT /dav/up.csv HTTP/1.1" 201 5155 481 3 '
                '"web.example" web.example', log_format=SPLIT_SIZES)
    assert (ap.action, ap.bytes, ap.fields["http.request.bytes"]) == ("write", 481, 5155)


NGINX_PARTS = '$time_iso8601 $remote_addr $remote_user "$request_method $request_uri $server_protocol" $status ' \
    "$body_bytes_sent $request_time"
NGINX_URI_ARGS = '$msec $remote_addr "$remote_user" $request_method $uri $args $status $body_bytes_sent'


@pytest.mark.parametrize(
    ("fmt", "line", "expected"),
    [
        # real nginx 1.22 lines (tests/samples/nginx/nginx-iso-request-parts.log, nginx-msec-uri-args.log)
        (NGINX_PARTS, '2026-11-30T00:14:00-03:30 127.0.0.1 - "- - -" 400 157 0.000', (None, None, None, None)),
        (NGINX_PARTS, '2026-11-30T00:14:17-03:30 127.0.0.1 - "GET /pub/index.html -" 200 7 0.000',
         ("GET", "/pub/index.html", None, "url:/pub/index.html")),  # HTTP/0.9: no protocol
        (NGINX_URI_ARGS, '1796010240.703 127.0.0.1 "-" - - - 400 157', (None, None, None, None)),
        (NGINX_URI_ARGS, '1796010240.402 127.0.0.1 "alice" GET /exports/caf\\xC3\\xA9 payroll.csv - 404 153',
         ("GET", "/exports/café payroll.csv", None, "url:/exports/café payroll.csv")),
        (NGINX_URI_ARGS, '1796010240.251 127.0.0.1 "-" GET /caf\\xC3\\xA9/\\x22q\\x22 a=\\x22b\\x22\\x5Cc 404 153',
         ("GET", '/café/"q"', None, 'url:/café/"q"')),
    ],
)  # fmt: skip
def test_request_parts_logged_by_themselves(fmt: str, line: str, expected: tuple[Any, ...]) -> None:
    """nginx's `$request_method`, `$uri` (the decoded path: spaces unescaped, quotes and non-ASCII bytes as
    \\xHH) and `$server_protocol` in a format of their own: escapes undone, `-` absent, as from `$request`."""
    ev = nginx(line, log_format=fmt)
    assert (ev.fields.get("http.request.method"), ev.fields.get("url.path"), ev.fields.get("http.version"),
            ev.object) == expected  # fmt: skip


def test_a_name_nginx_logged_where_it_checks_no_password_is_a_claim() -> None:
    """Real nginx 1.22 lines: /exports/ has auth_basic, /pub/ none, yet nginx logs the name of any
    `Authorization: Basic` header. With `auth_paths` the name outside those prefixes is only a claim."""
    checked = '127.0.0.1 - alice [30/Nov/2026:00:13:57 -0330] "GET /exports/customers.csv HTTP/1.1" 200 70 "-" "-"'
    unchecked = '127.0.0.1 - mallory [30/Nov/2026:00:14:18 -0330] "GET /pub/index.html HTTP/1.1" 200 7 "-" "-"'
    assert [nginx(line).user for line in (checked, unchecked)] == ["alice", "mallory"]  # unset: checked everywhere
    events = [nginx(line, auth_paths="/exports/,/hr/") for line in (checked, unchecked)]
    assert [(e.user, e.fields.get("pii.claimed_user")) for e in events] == [("alice", None), (None, "mallory")]
    dotted = nginx(unchecked.replace("/pub/index.html", "/pub/../exports/x.csv"), auth_paths=("/exports/",))
    assert dotted.user == "mallory"  # the path nginx served, dot segments resolved: under /exports/
    with pytest.raises(ValidationError, match="no URL path"):
        NginxOptions(auth_paths=("exports/",))
