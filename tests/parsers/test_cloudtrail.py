"""CloudTrail parser: framings, S3 event mapping, identities (FORMATS.md §9)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from pii_guard.model import ACTIONS, AccessEvent, format_timestamp
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.cloudtrail import CloudTrailParser, event_action
from tests.parsers.feeding import events, garbled_lines, run

SAMPLES = Path(__file__).parents[1] / "samples" / "cloudtrail"
ALICE = {"type": "AssumedRole", "principalId": "AROAX:alice", "accessKeyId": "ASIAX",
         "arn": "arn:aws:sts::1:assumed-role/Analyst/alice"}  # fmt: skip


def make() -> CloudTrailParser:
    return CloudTrailParser(SourceContext(fingerprint=b"test", path="trail.json"))


def record(name: str = "GetObject", key: str | None = "a/b c.csv", **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"bucketName": "bkt", "Host": "bkt.s3.amazonaws.com"}
    if key is not None:
        params["key"] = key
    rec: dict[str, Any] = {"eventVersion": "1.09", "userIdentity": ALICE, "eventTime": "2026-11-27T09:15:02Z",
                           "eventSource": "s3.amazonaws.com", "eventName": name, "sourceIPAddress": "198.51.100.23",
                           "requestParameters": params, "eventID": "e1", "eventCategory": "Data",
                           "additionalEventData": {"bytesTransferredIn": 20, "bytesTransferredOut": 5000}}
    rec.update(extra)
    return rec


@pytest.mark.parametrize(
    ("name", "action"),
    [("GetObject", "read"), ("SelectObjectContent", "read"), ("PutObject", "write"), ("UploadPart", "write"),
     ("CompleteMultipartUpload", "write"), ("CopyObject", "write"), ("DeleteObject", "delete"),
     ("DeleteObjects", "delete"), ("PutObjectAcl", "permission"), ("PutBucketPolicy", "permission"),
     ("DeleteBucketPolicy", "permission"), ("PutPublicAccessBlock", "permission"), ("CreateBucket", "create"),
     ("DeleteBucket", "delete"), ("HeadObject", "other"), ("ListObjects", "other"), ("GetObjectAcl", "other")],
)
def test_event_actions(name: str, action: str) -> None:
    assert event_action(name) == action


def test_one_record_per_line_and_the_delivered_document_give_the_same_events() -> None:
    records = [record(), record("PutObject", key="up.csv")]
    per_line = events(run(make(), [json.dumps(r) for r in records]))
    document = events(run(make(), [json.dumps({"Records": records})]))
    assert [(e.action, e.object, e.bytes, e.user) for e in per_line] == [
        ("read", "s3:bkt/a/b c.csv", 5000, "Analyst/alice"), ("write", "s3:bkt/up.csv", 20, "Analyst/alice")]
    assert [(e.action, e.object, e.bytes) for e in document] == [(e.action, e.object, e.bytes) for e in per_line]
    assert len({e.id for e in document}) == 2
    assert all(e.offset == 0 for e in document)
    assert format_timestamp(document[0].time_us) == "2026-11-27T09:15:02.000000Z"


def test_pretty_printed_document_over_many_lines() -> None:
    text = json.dumps({"Records": [record(), record("DeleteObject", key="old.csv")]}, indent=2)
    got = events(run(make(), text.splitlines()))
    assert [(e.action, e.object) for e in got] == [("read", "s3:bkt/a/b c.csv"), ("delete", "s3:bkt/old.csv")]


def test_eventbridge_and_cloudwatch_envelopes() -> None:
    bridge = {"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.s3", "detail": record()}
    batch = {"messageType": "DATA_MESSAGE", "logEvents": [{"id": "1", "timestamp": 1, "message": json.dumps(record())},
                                                          {"id": "2", "timestamp": 2, "message": "not json"}]}
    out = run(make(), [json.dumps(bridge), json.dumps(batch)])
    assert [type(o).__name__ for o in out] == ["AccessEvent", "AccessEvent", "ParseFailure"]


def test_copy_is_a_read_of_the_source_and_a_write_without_bytes() -> None:
    rec = record("CopyObject", key="dst/x.csv")
    rec["requestParameters"]["x-amz-copy-source"] = "src-bkt/in%20box/x.csv?versionId=abc"
    read, write = events(run(make(), [json.dumps(rec)]))
    assert (read.action, read.object, read.bytes) == ("read", "s3:src-bkt/in box/x.csv", None)
    assert (write.action, write.object, write.bytes) == ("write", "s3:bkt/dst/x.csv", None)
    assert read.id != write.id


def test_delete_objects_with_and_without_keys() -> None:
    real = record("DeleteObjects", key=None)
    real["requestParameters"]["delete"] = ""
    listed = record("DeleteObjects", key=None)
    listed["requestParameters"]["delete"] = {"objects": [{"key": "a.csv"}, {"key": "b.csv"}], "quiet": False}
    got = events(run(make(), [json.dumps(real), json.dumps(listed)]))
    assert [e.object for e in got] == ["s3:bkt/", "s3:bkt/a.csv", "s3:bkt/b.csv"]
    assert len({e.id for e in got}) == 3


def test_identities_errors_and_non_ip_sources() -> None:
    recs = [
        record(userIdentity={"type": "IAMUser", "userName": "bob", "arn": "arn:aws:iam::1:user/bob",
                             "accessKeyId": "AK"},
               errorCode="AccessDenied", errorMessage="Access Denied"),
        record(userIdentity={"type": "Root", "arn": "arn:aws:iam::1:root", "principalId": "1"}),
        record(userIdentity={"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"},
               sourceIPAddress="cloudtrail.amazonaws.com"),
        record(userIdentity={"type": "AWSAccount", "principalId": "", "accountId": "anonymous"}),
        record(userIdentity={"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/carol"}),
    ]
    denied, root, service, anonymous, federated = events(run(make(), [json.dumps(r) for r in recs]))
    assert (denied.user, denied.outcome, denied.error_code, denied.fields["user.id"]) == (
        "bob", "failure", "AccessDenied", "AK")
    assert root.user == "root"
    assert (service.user, service.source_ip, service.fields["source.address"]) == (
        "cloudtrail.amazonaws.com", None, "cloudtrail.amazonaws.com")
    assert anonymous.user is None
    assert federated.user == "carol"


def test_other_services_and_s3_notifications_are_skipped() -> None:
    sts = {"eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "eventTime": "2026-11-27T09:15:02Z"}
    notification = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
                                 "eventTime": "2026-11-27T09:15:02.001Z"}]}
    assert run(make(), [json.dumps(sts), json.dumps(notification)]) == []


def test_gzip_data_is_one_failure_and_the_rest_is_skipped() -> None:
    raw = gzip.compress(json.dumps({"Records": [record()]}).encode() + b"\n" * 3 + b"x" * 40)
    lines = raw.decode("utf-8", "backslashreplace").split("\n")
    out = run(make(), lines)
    assert len(out) == 1
    assert isinstance(out[0], ParseFailure)
    assert "gzip" in out[0].reason


def test_malformed_records_are_failures() -> None:
    out = run(make(), [
        "{not json",
        '{"Records": [1, "x"]}',
        json.dumps({"something": "else"}),
        json.dumps(record(eventTime="yesterday")),
        json.dumps({**record(), "eventName": None}),
        '{"Records": [{"eventSource": "s3.amazonaws.com"',
    ])  # fmt: skip
    assert out
    assert all(isinstance(o, ParseFailure) for o in out)
    assert len(out) == 7  # the cut document at the end is reported at the end of input


def test_ids_are_deterministic() -> None:
    lines = (SAMPLES / "delivered-document.json").read_text().splitlines()
    first = [e.id for e in events(run(make(), lines))]
    assert first == [e.id for e in events(run(make(), lines))]
    assert len(set(first)) == len(first)


_SEEDS = [json.dumps(record()), json.dumps({"Records": [record(), record("CopyObject")]}),
          *json.dumps(record("DeleteObjects"), indent=1).splitlines()]  # fmt: skip


GARBLED = garbled_lines(_SEEDS, max_seeds=8)


@settings(max_examples=300, deadline=None)
@given(GARBLED)
def test_garbled_input_never_raises(lines: list[str]) -> None:
    for item in run(make(), lines):
        assert isinstance(item, AccessEvent | ParseFailure)
        if isinstance(item, AccessEvent):
            assert item.action in ACTIONS
