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
     ("DELETE", "delete"), ("OPTIONS", "other"), ("PROPFIND", "other")],
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
