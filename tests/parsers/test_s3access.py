"""S3 server access log parser: one test per quirk (FORMATS.md §8)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from pii_guard.model import ACTIONS, AccessEvent, format_timestamp
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.s3access import S3AccessParser, decode_key, operation_action
from tests.parsers.feeding import events, garbled_lines, run

SAMPLES = Path(__file__).parents[1] / "samples" / "s3-access"
OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
TAIL = ("- s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3= SigV4 ECDHE-RSA-AES128-SHA AuthHeader "
        "b.s3.amazonaws.com TLSv1.2")


def make() -> S3AccessParser:
    return S3AccessParser(SourceContext(fingerprint=b"test", path="s3.log"))


def line(op: str = "REST.GET.OBJECT", key: str = "a.csv", requester: str = "arn:aws:iam::1:user/alice",
         status: str = "200", error: str = "-", sent: str = "10", size: str = "10", uri: str = '"GET /a.csv HTTP/1.1"',
         agent: str = '"curl/8.4.0"', tail: str = TAIL) -> str:
    return (f"{OWNER} bkt [27/Nov/2026:09:15:02 +0000] 198.51.100.23 {requester} 3E57427F3EXAMPLE {op} {key} {uri} "
            f"{status} {error} {sent} {size} 70 10 \"-\" {agent} {tail}")


@pytest.mark.parametrize(
    ("op", "action"),
    [
        ("REST.GET.OBJECT", "read"), ("WEBSITE.GET.OBJECT", "read"), ("REST.COPY.OBJECT_GET", "read"),
        ("REST.PUT.OBJECT", "write"), ("REST.POST.UPLOAD", "write"), ("REST.PUT.PART", "write"),
        ("REST.COPY.OBJECT", "write"), ("REST.COPY.PART", "write"), ("REST.DELETE.OBJECT", "delete"),
        ("BATCH.DELETE.OBJECT", "delete"), ("S3.EXPIRE.OBJECT", "delete"), ("REST.POST.MULTI_OBJECT_DELETE", "other"),
        ("REST.PUT.ACL", "permission"), ("REST.PUT.OBJECT_ACL", "permission"), ("REST.PUT.BUCKETPOLICY", "permission"),
        ("REST.DELETE.BUCKETPOLICY", "permission"), ("REST.PUT.PUBLIC_ACCESS_BLOCK", "permission"),
        ("REST.PUT.BUCKET", "create"), ("REST.DELETE.BUCKET", "delete"), ("REST.HEAD.OBJECT", "other"),
        ("REST.GET.BUCKET", "other"), ("REST.GET.ACL", "other"), ("S3.TRANSITION_SIA.OBJECT", "other"),
    ],
)  # fmt: skip
def test_operation_actions(op: str, action: str) -> None:
    assert operation_action(op) == action


def test_keys_are_double_encoded_except_batch_delete_and_lifecycle() -> None:
    assert decode_key("REST.GET.OBJECT", "hr/payroll%25202024.xlsx") == "hr/payroll 2024.xlsx"
    assert decode_key("BATCH.DELETE.OBJECT", "hr/old%20list.csv") == "hr/old list.csv"
    assert decode_key("S3.EXPIRE.OBJECT", "a%2525b") == "a%25b"
    assert decode_key("REST.GET.OBJECT", "a+b.csv") == "a+b.csv"  # a plus is a plus in a path


def test_read_write_and_volume() -> None:
    read, write = events(run(make(), [
        line(key="hr/payroll%25202024.xlsx", sent="150000", size="150000"),
        line(op="REST.PUT.OBJECT", sent="-", size="4406583", requester="arn:aws:sts::1:assumed-role/Admin/bob"),
    ]))  # fmt: skip
    assert (read.action, read.object, read.bytes, read.user) == ("read", "s3:bkt/hr/payroll 2024.xlsx", 150000, "alice")
    assert read.fields["aws.s3access.key"] == "hr/payroll%25202024.xlsx"
    assert (write.action, write.bytes, write.user) == ("write", 4406583, "Admin/bob")
    assert format_timestamp(read.time_us) == "2026-11-27T09:15:02.000000Z"
    assert (read.source_ip, read.fields["user.id"]) == ("198.51.100.23", "arn:aws:iam::1:user/alice")


def test_bare_dashes_anonymous_and_errors() -> None:
    anonymous, batch, bucket = events(run(make(), [
        line(requester="-", status="403", error="AccessDenied", sent="243", size="-"),
        line(op="BATCH.DELETE.OBJECT", uri="-", agent="-", sent="-", size="344017"),
        line(op="REST.GET.LOCATION", key="-", sent="142", size="-"),
    ]))  # fmt: skip
    assert (anonymous.user, anonymous.outcome, anonymous.error_code) == (None, "failure", "AccessDenied")
    assert (batch.action, batch.bytes, batch.outcome) == ("delete", None, "success")
    assert "aws.s3access.request_uri" not in batch.fields
    assert bucket.object == "s3:bkt"  # the bucket itself: no slash, so `s3:bkt/**` does not match it


def test_user_agent_with_quotes_spaces_and_commas() -> None:
    ev = events(run(make(), [line(agent='"Mozilla/5.0 (X11; Linux, \\"quoted\\") x"')]))[0]
    assert ev.fields["user_agent.original"] == 'Mozilla/5.0 (X11; Linux, \\"quoted\\") x'


def test_trailing_fields_old_new_and_future() -> None:
    old = line(tail="-")  # only the version id: an old log
    new = line(tail=TAIL + " arn:aws:s3:eu-central-1:1:accesspoint/ap Yes some-future-field another")
    a, b = events(run(make(), [old, new]))
    assert "aws.s3access.tls_version" not in a.fields
    assert b.fields["aws.s3access.access_point_arn"] == "arn:aws:s3:eu-central-1:1:accesspoint/ap"
    assert b.fields["aws.s3access.acl_required"] == "Yes"
    assert b.fields["aws.s3access.tls_version"] == "TLSv1.2"


def test_non_utc_offset() -> None:
    ev = events(run(make(), [line().replace("+0000", "+0200")]))[0]
    assert format_timestamp(ev.time_us) == "2026-11-27T07:15:02.000000Z"


def test_malformed_lines_are_failures() -> None:
    out = run(make(), [
        f"{OWNER} bkt [27/Nov/2026:09:15:02 +0000] 1.2.3.4 REST.GET.OBJECT cut",
        line().replace("27/Nov/2026", "27/Foo/2026"),
        line().replace("09:15:02", "99:15:02"),
        "",
    ])  # fmt: skip
    assert [type(o) for o in out] == [ParseFailure, ParseFailure, ParseFailure]


def test_ids_are_deterministic() -> None:
    lines = (SAMPLES / "beats-test.log").read_text().splitlines()
    assert [e.id for e in events(run(make(), lines))] == [e.id for e in events(run(make(), lines))]


_SEEDS = [line for f in sorted(SAMPLES.glob("*.log")) for line in f.read_text().splitlines()]


GARBLED = garbled_lines(_SEEDS, max_seeds=6)


@settings(max_examples=300, deadline=None)
@given(GARBLED)
def test_garbled_input_never_raises(lines: list[str]) -> None:
    for item in run(make(), lines):
        assert isinstance(item, AccessEvent | ParseFailure)
        if isinstance(item, AccessEvent):
            assert item.action in ACTIONS
