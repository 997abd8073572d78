"""Amazon S3 server access logs (FORMATS.md §8) → access events, one per request line.

Layout: `BucketOwner Bucket [Time] RemoteIP Requester RequestID Operation Key "Request-URI" HTTPstatus
ErrorCode BytesSent ObjectSize TotalTime TurnAroundTime "Referer" "User-Agent" VersionId HostId
SignatureVersion CipherSuite AuthenticationType HostHeader TLSversion AccessPointARN aclRequired ...`.
Quirks handled:
- `-` is an empty field, and the quoted fields (Request-URI, Referer, User-Agent) may be a bare `-` too
  (BATCH.DELETE.OBJECT lines); a User-Agent may hold spaces, commas and escaped quotes.
- AWS appends fields at the end over time: the first 17 fields are required, the next ones are read when
  present, and anything after the known ones is ignored.
- The Key is URL-encoded twice for most operations (a space is `%2520`) but once for `BATCH.DELETE.OBJECT`
  and the lifecycle (`S3.*`) operations; it is decoded accordingly for `pii.object` (`s3:<bucket>/<key>`)
  and kept as logged in `aws.s3access.key`.
- Requester: an IAM/STS ARN (named like CloudTrail's users: `alice`, `Role/session`), a canonical user id
  (kept as it is, also in `user.id`), or `-` for an anonymous request (no user).

Actions: GET/COPY-source of an object → read (bytes: BytesSent); PUT/POST/COPY/upload of an object → write
(bytes: ObjectSize); DELETE and BATCH.DELETE.OBJECT → delete (the multi-object delete request itself is
"other": its keys follow as BATCH.DELETE.OBJECT lines); ACL/policy/public-access changes → permission; a new
bucket → create; everything else (HEAD, listings, bucket settings, OPTIONS) → other. Outcome: HTTP status
below 400 is success (a line without a status, a lifecycle action, succeeded unless it names an error); the
ErrorCode (or the status) is the error code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final
from urllib.parse import unquote

from pydantic import BaseModel

from pii_guard.model import CREATE, DELETE, FAILURE, OTHER, PERMISSION, READ, SUCCESS, WRITE, AccessEvent
from pii_guard.parsers.aws import principal_name, s3_object
from pii_guard.parsers.base import NOTHING, Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.normalize import ip_or_none
from pii_guard.parsers.timeparse import MONTHS, EpochCache, TimestampError, offset_seconds

_QUOTED: Final = r'(?:"((?:[^"\\]|\\.)*)"|(-))'
_LINE: Final = re.compile(
    r"(\S+) (\S+) \[([^\]]+)\] (\S+) (\S+) (\S+) (\S+) (\S+) "  # owner bucket [time] ip requester id op key
    + _QUOTED
    + r" (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) "  # status error bytes size total turnaround
    + _QUOTED
    + " "
    + _QUOTED  # referer, user agent
    + r"(?: (.*))?\Z",
    re.S,
)
_TRAILING: Final = ("version_id", "host_id", "signature_version", "cipher_suite", "authentication_type",
                    "host_header", "tls_version", "access_point_arn", "acl_required")
_SINGLE_ENCODED: Final = ("BATCH.DELETE.OBJECT", "S3.")
_PERMISSION_WORDS: Final = ("ACL", "POLICY", "PUBLIC_ACCESS_BLOCK", "OWNERSHIP_CONTROLS")


def operation_action(op: str) -> str:
    """`REST.GET.OBJECT` → read ... (see the module docstring)."""
    if op == "REST.POST.MULTI_OBJECT_DELETE":
        return OTHER
    if op.startswith(("BATCH.DELETE", "S3.EXPIRE")) or op == "REST.DELETE.OBJECT":
        return DELETE
    kind, _, rest = op.partition(".")
    verb, _, target = rest.partition(".")
    if kind == "S3":
        return DELETE if "DELETE" in target else OTHER
    if verb in ("PUT", "DELETE", "POST") and any(word in target for word in _PERMISSION_WORDS):
        return PERMISSION
    if target in ("OBJECT", "OBJECT_GET") and verb == "GET":
        return READ
    if verb == "COPY":
        return READ if target == "OBJECT_GET" else WRITE
    if target in ("OBJECT", "PART", "UPLOAD", "UPLOADS") and verb in ("PUT", "POST"):
        return WRITE
    if target == "BUCKET" and verb == "PUT":
        return CREATE
    if target == "BUCKET" and verb == "DELETE":
        return DELETE
    return OTHER


def decode_key(op: str, key: str) -> str:
    once = unquote(key)
    if op.startswith(_SINGLE_ENCODED):
        return once
    return unquote(once)


def _dash(value: str | None) -> str | None:
    return None if value is None or value == "-" else value


def _count(value: str) -> int | None:
    return int(value) if value.isdecimal() and len(value) < 20 else None


class S3AccessParser(Parser):
    """S3 server access log lines → one event per request."""

    name = "s3-access"
    dataset = "aws.s3access"
    description = "Amazon S3 server access logs"

    def __init__(self, context: SourceContext, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        self._seconds = EpochCache(self._convert)
        self._actions: dict[str, str] = {}

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        if not line.strip():
            return NOTHING
        m = _LINE.match(line)
        if m is None:
            return (ParseFailure(offset, "not an S3 server access log line (fields 1-17 do not fit)", line),)
        (owner, bucket, stamp, ip, requester, request_id, op, key, uri, _, status, error, sent, size,
         total, turnaround, referer, _, agent, _, rest) = m.groups()  # fmt: skip
        try:
            time_us = self._seconds(stamp) * 1_000_000
        except (TimestampError, ValueError, OverflowError) as exc:
            return (ParseFailure(offset, f"bad time [{stamp}]: {exc}", line),)
        code = _count(status)
        action = self._actions.get(op)
        if action is None:
            action = operation_action(op)
            if len(self._actions) < 1024:
                self._actions[op] = action
        # lifecycle actions (S3.EXPIRE.OBJECT ...) log no HTTP status: what they did, they did
        ok = code < 400 if code is not None else _dash(error) is None
        raw_key = _dash(key)
        obj_key = decode_key(op, raw_key) if raw_key is not None else None
        requester = _dash(requester) or ""
        fields: dict[str, Any] = {
            "cloud.provider": "aws",
            "aws.s3access.bucket": bucket,
            "aws.s3access.bucket_owner": owner,
            "aws.s3access.operation": op,
            "aws.s3access.request_id": request_id,
        }
        if raw_key is not None:
            fields["aws.s3access.key"] = raw_key
        if requester:
            fields["user.id"] = requester
        if code is not None:
            fields["http.response.status_code"] = code
        if uri is not None:
            fields["aws.s3access.request_uri"] = uri
        if referer is not None and referer != "-":
            fields["http.request.referrer"] = referer
        for name, value in (("total_time", total), ("turn_around_time", turnaround)):
            ms = _count(value)
            if ms is not None:
                fields[f"aws.s3access.{name}"] = ms
        if agent is not None and agent != "-":
            fields["user_agent.original"] = agent
        if rest:
            for name, value in zip(_TRAILING, rest.split(" "), strict=False):
                if value != "-":
                    fields[f"aws.s3access.{name}"] = value
        nbytes = _count(size) if action == WRITE else _count(sent)
        return (
            AccessEvent(
                id=self.ids.make(offset, line),
                time_us=time_us,
                dataset=self.dataset,
                action=action,
                outcome=SUCCESS if ok else FAILURE,
                user=principal_name(requester) if requester else None,
                source_ip=ip_or_none(ip),
                host=self.context.host,
                object=s3_object(bucket, obj_key),
                bytes=nbytes,
                command=op,
                original=line,
                error_code=None if ok else (_dash(error) or status),
                fields=fields,
                offset=offset,
            ),
        )

    @staticmethod
    def _convert(stamp: str) -> int:
        """`06/Feb/2019:00:00:38 +0000` → epoch seconds."""
        if len(stamp) != 26 or stamp[2] != "/" or stamp[6] != "/" or stamp[11] != ":" or stamp[20] != " ":
            raise TimestampError("expected dd/Mmm/yyyy:hh:mm:ss +zzzz")
        month = MONTHS.get(stamp[3:6])
        if month is None:
            raise TimestampError(f"unknown month {stamp[3:6]!r}")
        naive = datetime(int(stamp[7:11]), month, int(stamp[0:2]), int(stamp[12:14]), int(stamp[15:17]),
                         int(stamp[18:20]))
        zone = timezone(timedelta(seconds=offset_seconds(stamp[21:])))
        return int(naive.replace(tzinfo=zone).timestamp())
