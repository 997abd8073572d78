"""A private Apache httpd (FORMATS.md §6) with Basic auth on /exports/, driven by http.client and raw sockets;
its logs in Debian's `combined` and `vhost_combined` and two custom LogFormats are parsed by
`pii-guard parse --format apache` and every event checked: user (a name with a space, one with non-ASCII
letters, the untrusted name of a 401 with quotes and brackets in it), client IP, object, action, outcome,
bytes, time, duration, X-Forwarded-For, and Apache's escaping (`\\"`, `\\\\`, `\\xhh`) of the URL, the user
agent and the user, and of malformed requests."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, TypeVar

import pytest

from tests.realservers.ftpweb import Apache, apache, parse_with_cli, publish, wait_for_lines

pytestmark = pytest.mark.realserver

T = TypeVar("T")
CUSTOMERS = b"id,name,email\n1,Customer 1,c1@example.com\n2,Customer 2,c2@example.com\n"
PAYROLL = b"p" * 100
PASSWORDS = {"alice": "alice-web-pw", "bob smith": "bob-web-pw", "jürgen": "jürgen-web-pw"}
EMAIL = "jane.doe@example.com"
CLAIMED = 'ev"il\\ [x] "GET /forged HTTP/1.1" 200'  # a 401's name: Apache escapes the quotes, not the rest
AGENT = 'Mozilla "quoted" back\\slash café'
FORMATS = {  # as written in apache2.conf
    "split": r'%a %l %u %t \"%m %U%q %H\" %>s %B %D %T \"%{X-Forwarded-For}i\" \"%{User-Agent}i\"',
    "msec": r'%{end:msec}t %a \"%u\" \"%r\" %>s %b %{ms}T \"%{X-Forwarded-For}i\" %q',
    # Debian's vhost_combined (other_vhosts_access.log): read without a log_format, as the combined file
    "vhost": r'%v:%p %h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"',
}


def _drive(lab: Apache) -> None:
    """The requests, in order; the tests and the golden samples (tests/samples/apache/) come from them. Apache
    logs a request after its answer is sent, from whichever worker served it: each request waits for the line of
    the one before in every log, so the lines keep the order of the requests."""
    exports = lab.docroot / "exports"
    publish(exports / "customers.csv", CUSTOMERS)
    publish(exports / "payroll 2024 café.csv", PAYROLL)
    referer = f"https://intranet.example/reports?owner={EMAIL}"
    done = 0

    def logged(answer: T) -> T:
        nonlocal done
        done += 1
        for name in ("combined", *FORMATS):
            wait_for_lines(lab.log(name), done, f"the {name} log")
        return answer

    assert logged(lab.request("GET", "/exports/customers.csv", "alice",
                              headers=[("Referer", referer), ("User-Agent", AGENT.encode())])) == 200  # fmt: skip
    assert logged(lab.request("GET", "/exports/customers.csv", "alice", "wrong-password")) == 401
    assert logged(lab.request("GET", "/exports/customers.csv")) == 401
    assert logged(lab.request("GET", f"/exports/customers.csv?email={EMAIL}&page=2", "alice",
                              headers=[("X-Forwarded-For", "203.0.113.9, 10.0.0.1")])) == 200  # fmt: skip
    assert logged(lab.request("GET", "/exports/payroll%202024%20caf%C3%A9.csv", "bob smith")) == 200
    assert logged(lab.request("GET", "/exports/customers.csv", "jürgen")) == 200
    assert logged(lab.request("GET", "/exports/customers.csv", CLAIMED, "nope")) == 401
    assert logged(lab.request("PUT", "/exports/customers.csv", "alice")) == 405
    assert logged(lab.request("HEAD", "/exports/customers.csv", "alice")) == 200
    assert logged(lab.request("GET", "/missing.html")) == 404
    assert logged(lab.raw(b'GET /\x01weird "quote" \\back caf\xc3\xa9\r\n\r\n')).startswith(b"HTTP/1.1 400")
    assert logged(lab.raw(b'GET /caf\xc3\xa9/"q"?a="b"\\c HTTP/1.1\r\nHost: x\r\nUser-Agent: a"b\\c\xc3\xa9\r\n'
                          b"Connection: close\r\n\r\n")).startswith(b"HTTP/1.1 404")  # fmt: skip
    assert logged(lab.raw(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n")).startswith(b"HTTP/1.1 400")
    assert logged(lab.raw(b"\r\n\r\n")) == b""  # no request line at all: Apache gives up after Timeout (408)
    assert logged(lab.raw(b"GET /exports/?x=1 HTTP/1.0\r\n\r\n")).startswith(b"HTTP/1.1 401")


N_REQUESTS = 15


def _view(doc: dict[str, Any]) -> tuple[Any, ...]:
    pii = doc.get("pii", {})
    return (doc["event"]["action"], doc["event"]["outcome"], doc.get("user", {}).get("name"),
            pii.get("claimed_user"), doc["source"]["ip"], pii.get("object"),
            doc["http"]["response"]["status_code"])  # fmt: skip


EXPECTED = [
    ("read", "success", "alice", None, "127.0.0.1", "url:/exports/customers.csv", 200),
    ("read", "failure", None, "alice", "127.0.0.1", "url:/exports/customers.csv", 401),
    ("read", "failure", None, None, "127.0.0.1", "url:/exports/customers.csv", 401),
    ("read", "success", "alice", None, "127.0.0.1", "url:/exports/customers.csv", 200),
    ("read", "success", "bob smith", None, "127.0.0.1", "url:/exports/payroll 2024 café.csv", 200),
    ("read", "success", "jürgen", None, "127.0.0.1", "url:/exports/customers.csv", 200),
    ("read", "failure", None, CLAIMED, "127.0.0.1", "url:/exports/customers.csv", 401),
    ("write", "failure", "alice", None, "127.0.0.1", "url:/exports/customers.csv", 405),
    ("read", "success", "alice", None, "127.0.0.1", "url:/exports/customers.csv", 200),
    ("read", "failure", None, None, "127.0.0.1", "url:/missing.html", 404),
    ("read", "failure", None, None, "127.0.0.1", 'url:/\x01weird "quote"', 400),  # protocol dropped
    ("read", "failure", None, None, "127.0.0.1", 'url:/café/"q"', 404),
    ("other", "failure", None, None, "127.0.0.1", None, 400),  # TLS handshake bytes
    ("other", "failure", None, None, "127.0.0.1", None, 408),  # "-"
    ("read", "failure", None, None, "127.0.0.1", "url:/exports/", 401),
]  # fmt: skip


def _common_checks(docs: list[dict[str, Any]], started: float, expected: list[tuple[Any, ...]]) -> None:
    assert [_view(d) for d in docs] == expected
    assert all(abs(_epoch(d) - started) < 120 for d in docs)
    assert all(EMAIL not in d["event"]["original"] for d in docs)
    assert docs[3]["url"]["original"] == "/exports/customers.csv?email=<masked>&page=<masked>"
    assert docs[11]["url"]["original"] == '/café/"q"?a=<masked>'


def _but(changes: dict[int, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [changes.get(i, row) for i, row in enumerate(EXPECTED)]


def test_apache_combined_and_custom_formats_of_a_real_server() -> None:
    started = time.time()
    with apache(PASSWORDS, FORMATS) as lab:
        _drive(lab)
        for name in ("combined", *FORMATS):
            wait_for_lines(lab.log(name), N_REQUESTS, f"the {name} log")
        combined, err = parse_with_cli("apache", lab.log("combined"))
        split, split_err = parse_with_cli("apache", lab.log("split"), "--set", f"log_format={FORMATS['split']}",
                                          "--set", "trust_forwarded_for=true")  # fmt: skip
        msec, msec_err = parse_with_cli("apache", lab.log("msec"), "--set", f"log_format={FORMATS['msec']}")
        vhost, vhost_err = parse_with_cli("apache", lab.log("vhost"))
    assert (err, split_err, msec_err, vhost_err) == ("", "", "", "")

    _common_checks(combined, started, EXPECTED)
    first = combined[0]
    assert first["user_agent"]["original"] == AGENT
    assert first["http"]["request"]["referrer"] == "https://intranet.example/reports?owner=<masked>"
    assert first["pii"]["bytes"] > len(CUSTOMERS)  # %O: headers too
    assert combined[4]["url"]["path"] == "/exports/payroll%202024%20caf%C3%A9.csv"  # %r: as sent
    assert combined[11]["user_agent"]["original"] == 'a"b\\cé'
    assert "version" not in combined[10]["http"]  # a malformed request line: Apache drops the protocol

    _common_checks(split, started, _but({
        3: ("read", "success", "alice", None, "203.0.113.9", "url:/exports/customers.csv", 200),  # trusted XFF
        10: ("read", "failure", None, None, "127.0.0.1", "url:/\x01weird", 400),  # %U: the path Apache saw
    }))  # fmt: skip
    assert split[3]["pii"]["peer_ip"] == "127.0.0.1"
    assert [d["pii"]["bytes"] for d in split][:9:4] == [len(CUSTOMERS), len(PAYROLL), 0]  # %B: the body
    assert split[4]["url"]["path"] == "/exports/payroll 2024 café.csv"  # %U: decoded
    assert all(d["event"]["duration"] >= 0 for d in split)  # %D: microseconds, as ns

    _common_checks(msec, started, EXPECTED)
    assert msec[8]["pii"]["bytes"] == 0  # %b: "-" for a HEAD
    assert msec[3]["pii"]["forwarded_for"] == "203.0.113.9, 10.0.0.1"
    assert msec[3]["source"]["ip"] == "127.0.0.1"  # X-Forwarded-For not trusted
    assert any(d["@timestamp"][20:23] != "000" for d in msec)  # %{end:msec}t: milliseconds


    _common_checks(vhost, started, EXPECTED)
    assert {d["url"]["domain"] for d in vhost} == {"localhost"}  # %v: the ServerName


def _epoch(doc: dict[str, Any]) -> float:
    return datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00")).timestamp()


LOCKINFO = (b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
            b"</D:lockscope><D:locktype><D:write/></D:locktype><D:owner>alice</D:owner></D:lockinfo>")  # fmt: skip
PROPPATCH = (b'<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x">'
             b"<D:set><D:prop><Z:owner>hr</Z:owner></D:prop></D:set></D:propertyupdate>")  # fmt: skip


def test_webdav_verbs_of_a_real_server() -> None:
    """A WebDAV share (mod_dav) as a desktop client drives it: every verb is an action, not `other`; the
    golden sample tests/samples/apache/apache-webdav.log is this test's log."""
    with apache(PASSWORDS) as lab:
        statuses: list[int] = []

        def logged(status: int) -> int:  # Apache logs after answering: each request waits for its line
            statuses.append(status)
            wait_for_lines(lab.log("combined"), len(statuses), "the combined log")
            return status

        steps = [
            logged(lab.request("MKCOL", "/dav/hr/", "alice")),
            logged(lab.request("PUT", "/dav/hr/salaries.csv", "alice", body=PAYROLL)),
            logged(lab.request("PROPFIND", "/dav/hr/", "alice", headers=[("Depth", "1")])),
            logged(lab.request("PROPPATCH", "/dav/hr/salaries.csv", "alice", body=PROPPATCH)),
            logged(lab.request("LOCK", "/dav/hr/salaries.csv", "alice", body=LOCKINFO,
                               headers=[("Timeout", "Second-60")])),
            logged(lab.request("COPY", "/dav/hr/salaries.csv", "bob smith",
                               headers=[("Destination", f"http://127.0.0.1:{lab.port}/dav/public.csv")])),
            logged(lab.request("MOVE", "/dav/public.csv", "bob smith",
                               headers=[("Destination", f"http://127.0.0.1:{lab.port}/dav/renamed.csv")])),
            logged(lab.request("GET", "/dav/renamed.csv", "bob smith")),
            logged(lab.request("DELETE", "/dav/renamed.csv", "bob smith")),
            logged(lab.request("OPTIONS", "/dav/", "alice")),
            logged(lab.request("PROPFIND", "/dav/hr/", "alice", "wrong-password", headers=[("Depth", "1")])),
        ]  # fmt: skip
        assert steps == [201, 201, 207, 207, 200, 201, 201, 200, 204, 200, 401]
        docs, err = parse_with_cli("apache", lab.log("combined"))
    assert err == ""
    assert [(d["http"]["request"]["method"], d["event"]["action"], d["event"]["outcome"], d.get("pii", {}).get(
        "object")) for d in docs] == [
        ("MKCOL", "create", "success", "url:/dav/hr/"),
        ("PUT", "write", "success", "url:/dav/hr/salaries.csv"),
        ("PROPFIND", "read", "success", "url:/dav/hr/"),
        ("PROPPATCH", "write", "success", "url:/dav/hr/salaries.csv"),
        ("LOCK", "other", "success", "url:/dav/hr/salaries.csv"),
        ("COPY", "read", "success", "url:/dav/hr/salaries.csv"),
        ("MOVE", "rename", "success", "url:/dav/public.csv"),
        ("GET", "read", "success", "url:/dav/renamed.csv"),
        ("DELETE", "delete", "success", "url:/dav/renamed.csv"),
        ("OPTIONS", "other", "success", "url:/dav/"),
        ("PROPFIND", "read", "failure", "url:/dav/hr/"),
    ]  # fmt: skip
    assert [d.get("user", {}).get("name") for d in docs] == ["alice"] * 5 + ["bob smith"] * 4 + ["alice", None]
    assert docs[2]["pii"]["bytes"] > 0  # the listing's size: it names the folder's files


TIME_FORMATS = {  # as written in apache2.conf: the documentation's milliseconds, and a local ISO-like time
    "ms": r'%h %l %u [%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t] \"%r\" %>s %b',
    "iso": r'%{end:%Y-%m-%d %H:%M:%S}t %a %u \"%r\" %>s %B',
}


def test_times_in_strftime_formats_of_a_real_server() -> None:
    """Apache's %{FORMAT}t: the documentation's `%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t` is one time with its
    milliseconds and zone; `%{%Y-%m-%d %H:%M:%S}t` is local time without a zone (the server runs in UTC here,
    as the source's timezone says)."""
    with apache(PASSWORDS, TIME_FORMATS) as lab:
        for n in range(3):
            assert lab.request("GET", f"/exports/customers.csv?n={n}", "alice") == 404
            for name in ("combined", *TIME_FORMATS):
                wait_for_lines(lab.log(name), n + 1, f"the {name} log")
        combined, _ = parse_with_cli("apache", lab.log("combined"))
        ms, ms_err = parse_with_cli("apache", lab.log("ms"), "--set", f"log_format={TIME_FORMATS['ms']}")
        iso, iso_err = parse_with_cli("apache", lab.log("iso"), "--set", f"log_format={TIME_FORMATS['iso']}",
                                      "--tz", "UTC")  # fmt: skip
    assert (ms_err, iso_err) == ("", "")
    seconds = [_epoch(d) for d in combined]
    assert [int(_epoch(d)) for d in ms] == [int(s) for s in seconds]  # %t: the request's start, to the second
    assert any(d["@timestamp"][20:23] != "000" for d in ms)  # the milliseconds
    assert all(0 <= _epoch(d) - s < 2 for d, s in zip(iso, seconds, strict=True))  # end: a moment after
    assert [d["user"]["name"] for d in ms + iso] == ["alice"] * 6
    assert [d["url"]["original"] for d in ms] == ["/exports/customers.csv?n=<masked>"] * 3
