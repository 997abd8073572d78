"""AWS CloudTrail S3 events (FORMATS.md §9) → access events.

Input, framed by `jsonframe` (each accepted anywhere in a file):
- the documents CloudTrail delivers to S3, `{"Records": [ {...}, ... ]}`, which AWS writes as one physical
  line (a pretty-printed copy spread over lines is read as well): one event per S3 record;
- one record per line (CloudWatch Logs / EventBridge / CloudTrail Lake exports, the Elastic test form);
- EventBridge envelopes (`{"detail-type": "AWS API Call via CloudTrail", "detail": {...}}`) and CloudWatch
  Logs subscription batches (`{"logEvents": [{"message": "<record as text>"}, ...]}`).

**Gzip.** CloudTrail's `.json.gz` files are compressed. The readers decompress them before the parser sees
a line: `parse`, `ingest` and `replay` always, and the daemon for a source with `include_compressed: true`
(each file read once, whole). Should gzip data reach the parser anyway (a source without that option whose
files lack a compressed suffix), its first line becomes one parse failure saying so, and the rest of that
file is skipped, rather than thousands of dead letters of binary noise. A delivered document is one line,
often larger than the default 1 MiB `max_line_bytes`: raise it for the source (`check` warns); `parse`
allows 256 MiB.

Only S3 events (`eventSource` s3.amazonaws.com) become events; other services' records are skipped (a
trail mixes everything). What each S3 record becomes:
- GetObject, SelectObjectContent → read, bytes `additionalEventData.bytesTransferredOut`;
- PutObject, UploadPart, CompleteMultipartUpload, PostObject ... → write, bytes `bytesTransferredIn`;
- CopyObject / UploadPartCopy → two events: a read of the source (`x-amz-copy-source`) and a write of the
  destination, without bytes (bytesTransferredOut is the size of the response XML, not of the object);
- DeleteObject → delete; DeleteObjects → one delete per key when the record lists them, else one delete of
  `s3:<bucket>/` (CloudTrail does not say which keys a batch delete removed);
- Put*Acl, PutBucketPolicy, PutPublicAccessBlock, PutBucketOwnershipControls, Delete*Policy ... → permission;
  CreateBucket → create, DeleteBucket → delete; everything else (HeadObject, listings, bucket settings) → other.
Objects are `s3:<bucket>/<key>` (`aws` module); users as in `aws.identity_user`; the client IP is
`sourceIPAddress` when it is an address (else, e.g. `s3.amazonaws.com` or `AWS Internal`, it is kept in
`source.address`). `errorCode` makes the outcome a failure (`AccessDenied` ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import unquote

import orjson
from pydantic import BaseModel

from pii_guard.model import CREATE, DELETE, FAILURE, OTHER, PERMISSION, READ, SUCCESS, WRITE, AccessEvent
from pii_guard.parsers.aws import identity_user, s3_object
from pii_guard.parsers.base import NOTHING, Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.jsonframe import Framed, JsonRecordFramer
from pii_guard.parsers.normalize import IsoClock, dig, int_of, ip_or_none, text_of
from pii_guard.parsers.timeparse import TimestampError

S3_SOURCE: Final = "s3.amazonaws.com"
_READS: Final = frozenset({"GetObject", "SelectObjectContent", "GetObjectTorrent"})
_WRITES: Final = frozenset({
    "PutObject", "UploadPart", "CompleteMultipartUpload", "CreateMultipartUpload", "PostObject",
    "RestoreObject", "WriteGetObjectResponse", "AppendObject",
})  # fmt: skip
_COPIES: Final = frozenset({"CopyObject", "UploadPartCopy"})
_PERMISSION_WORDS: Final = ("Acl", "Policy", "PublicAccessBlock", "OwnershipControls")
_GZIP_MAGIC: Final = ("\x1f\\x8b", "\x1f\x8b")  # as the reader decodes it (invalid UTF-8 → \xNN), or raw


def event_action(name: str) -> str:
    if name in _READS:
        return READ
    if name in _WRITES or name in _COPIES:
        return WRITE
    if name in ("DeleteObject", "DeleteObjects", "DeleteBucket"):
        return DELETE
    if name == "CreateBucket":
        return CREATE
    if name.startswith(("Put", "Delete")) and any(word in name for word in _PERMISSION_WORDS):
        return PERMISSION
    return OTHER


def records_of(value: Any) -> list[Any] | None:
    """The CloudTrail records in a decoded JSON value (see the module docstring); None if it holds none."""
    if not isinstance(value, dict):
        return None
    records = value.get("Records")
    if isinstance(records, list):
        return records
    if "eventName" in value and "eventTime" in value:
        return [value]
    detail = value.get("detail")
    if isinstance(detail, dict) and "eventName" in detail:
        return [detail]
    events = value.get("logEvents")
    if isinstance(events, list):
        out: list[Any] = []
        for item in events:
            message = item.get("message") if isinstance(item, dict) else None
            if isinstance(message, str):
                try:
                    out.append(orjson.loads(message))
                except orjson.JSONDecodeError:
                    out.append(message)
        return out
    return None


class CloudTrailParser(Parser):
    """CloudTrail records (delivered documents, JSON lines, EventBridge/CloudWatch envelopes) → S3 events."""

    name = "cloudtrail"
    dataset = "aws.cloudtrail"
    description = "AWS CloudTrail S3 data (and S3 management) events: {\"Records\": [...]} documents or JSON lines"
    idle_flush_s = None  # a pretty-printed document is complete when its braces close, never on idle
    preferred_max_line_bytes: Final = 256 << 20  # a delivered document is one line of many records

    def __init__(self, context: SourceContext, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        self._framer = JsonRecordFramer()
        self._clock = IsoClock()
        self._gzip = False

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        if self._gzip:
            return NOTHING
        if line.startswith(_GZIP_MAGIC):
            self._gzip = True
            return (
                ParseFailure(offset, "gzip-compressed data: set `include_compressed: true` on the source, or "
                             "decompress the files first; the rest of this file is skipped", line[:64]),
            )
        framed = self._framer.feed(offset, line)
        if not framed:
            return NOTHING
        out: list[Outcome] = []
        for item in framed:
            if isinstance(item, ParseFailure):
                out.append(item)
                continue
            records = records_of(item.value)
            if records is None:
                out.append(ParseFailure(item.offset, "no CloudTrail record (no Records, eventName or eventTime)",
                                        item.text[:4096]))
                continue
            for index, record in enumerate(records):
                out.extend(self._record(item, index, record, len(records) > 1))
        return out

    def flush(self) -> Sequence[Outcome]:
        return self._framer.flush()

    def pending_offset(self) -> int | None:
        return self._framer.pending_offset()

    def _record(self, fr: Framed, index: int, record: Any, several: bool) -> Sequence[Outcome]:
        if not isinstance(record, dict):
            return (ParseFailure(fr.offset, f"record {index} is not a JSON object", str(record)[:4096]),)
        source = text_of(record.get("eventSource"))
        if source != S3_SOURCE:
            return NOTHING  # another service, or an S3 event notification (eventSource "aws:s3")
        name = text_of(record.get("eventName")) or ""
        stamp = record.get("eventTime")
        # the id hashes the record itself, so a record keeps its id wherever it sits in a document
        text = orjson.dumps(record).decode() if several else fr.text
        if not isinstance(stamp, str) or not name:
            return (ParseFailure(fr.offset, f"record {index}: no eventTime or eventName", text[:4096]),)
        try:
            time_us = self._clock(stamp)
        except TimestampError as exc:
            return (ParseFailure(fr.offset, f"record {index}: {exc}", text[:4096]),)
        params = record.get("requestParameters")
        bucket = text_of(dig(params, "bucketName"))
        key = text_of(dig(params, "key"))
        action = event_action(name)
        extra = dig(record, "additionalEventData")
        out: list[tuple[str, str | None, int | None, str]] = []  # action, object, bytes, id salt
        if name in _COPIES:
            copy_source = text_of(dig(params, "x-amz-copy-source"))
            if copy_source:
                # URL-encoded as the client sent it, with an optional ?versionId=
                src_bucket, _, src_key = unquote(copy_source.partition("?versionId=")[0]).lstrip("/").partition("/")
                out.append((READ, s3_object(src_bucket, src_key or None), None, "copy-source"))
            out.append((WRITE, s3_object(bucket, key), None, ""))
        elif name == "DeleteObjects":
            keys = self._deleted_keys(params)
            if keys:
                out.extend((DELETE, s3_object(bucket, k), None, f"key:{k}") for k in keys)
            else:
                out.append((DELETE, s3_object(bucket, ""), None, ""))
        else:
            if action == READ:
                nbytes = int_of(dig(extra, "bytesTransferredOut"))
            elif action == WRITE:
                nbytes = int_of(dig(extra, "bytesTransferredIn"))
            else:
                nbytes = None
            out.append((action, s3_object(bucket, key), nbytes, ""))
        return [self._event(fr, text, index, record, time_us, name, *item) for item in out]

    @staticmethod
    def _deleted_keys(params: Any) -> list[str]:
        delete = dig(params, "delete") or dig(params, "Delete")
        if not isinstance(delete, dict):
            return []
        objects = delete.get("objects") or delete.get("Objects") or delete.get("Object") or []
        if isinstance(objects, dict):
            objects = [objects]
        keys = []
        for item in objects if isinstance(objects, list) else []:
            key = text_of(dig(item, "key")) or text_of(dig(item, "Key"))
            if key:
                keys.append(key)
        return keys

    def _event(
        self,
        fr: Framed,
        text: str,
        index: int,
        record: dict[str, Any],
        time_us: int,
        name: str,
        action: str,
        obj: str | None,
        nbytes: int | None,
        salt: str,
    ) -> AccessEvent:
        user, uid = identity_user(record.get("userIdentity"))
        source_address = text_of(record.get("sourceIPAddress"))
        ip = ip_or_none(source_address or "")
        error = text_of(record.get("errorCode"))
        fields: dict[str, Any] = {"cloud.provider": "aws", "event.provider": S3_SOURCE}
        for target, value in (
            ("aws.cloudtrail.event_id", record.get("eventID")),
            ("aws.cloudtrail.request_id", record.get("requestID")),
            ("aws.cloudtrail.event_category", record.get("eventCategory")),
            ("aws.cloudtrail.user_identity.type", dig(record, "userIdentity", "type")),
            ("aws.cloudtrail.user_identity.arn", dig(record, "userIdentity", "arn")),
            ("cloud.region", record.get("awsRegion")),
            ("cloud.account.id", record.get("recipientAccountId")),
            ("user_agent.original", record.get("userAgent")),
            ("error.message", record.get("errorMessage")),
            ("aws.cloudtrail.vpc_endpoint_id", record.get("vpcEndpointId")),
        ):
            value = text_of(value)
            if value is not None:
                fields[target] = value
        if uid is not None:
            fields["user.id"] = uid
        if ip is None and source_address:
            fields["source.address"] = source_address
        return AccessEvent(
            id=self.ids.make(fr.offset, f"{index}:{salt}:{text}" if index or salt else text),
            time_us=time_us,
            dataset=self.dataset,
            action=action,
            outcome=FAILURE if error else SUCCESS,
            user=user,
            source_ip=ip,
            host=self.context.host,
            object=obj,
            bytes=nbytes,
            command=name,
            original=text,
            error_code=error,
            fields=fields,
            offset=fr.offset,
        )
