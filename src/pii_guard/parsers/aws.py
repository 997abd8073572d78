"""What S3 server access logs and CloudTrail share: who an AWS principal is, and how an S3 object is named.

Objects are `s3:<bucket>/<key>` (the key decoded, as the S3 API sees it), so that data-map globs such as
`s3:hr-exports/**` or `s3:*/payroll/*.csv` work like `file:` globs (`*` stops at `/`). A request on the
bucket itself (listing, ACLs, location ...) is `s3:<bucket>`, without the slash, so it does not match
`s3:<bucket>/**`; a request on an unknown set of keys in a bucket (DeleteObjects, whose CloudTrail record does
not list them) is `s3:<bucket>/`, which does.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pii_guard.parsers.normalize import text_of


def s3_object(bucket: str | None, key: str | None) -> str | None:
    if not bucket:
        return None
    return f"s3:{bucket}" if key is None else f"s3:{bucket}/{key}"


@lru_cache(maxsize=4096)
def principal_name(arn: str) -> str:
    """A readable user for an IAM/STS ARN, the same in both logs:

    - `arn:aws:iam::123:user/path/alice` → `alice`
    - `arn:aws:sts::123:assumed-role/Admin/alice@example.com` → `Admin/alice@example.com` (role and session:
      the session name is usually the human, the role says what they could do)
    - `arn:aws:sts::123:federated-user/bob` → `bob`
    - `arn:aws:iam::123:root` → `root`
    Anything else (canonical user ids, `svc:...` service principals) is returned as it is."""
    if not arn.startswith("arn:"):
        return arn
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return arn
    resource = parts[5]
    kind, _, rest = resource.partition("/")
    if kind == "user" and rest:
        return rest.rpartition("/")[2]
    if kind == "assumed-role" and rest:
        return rest
    if kind == "federated-user" and rest:
        return rest
    if kind == "root" or resource == "root":
        return "root"
    return resource


def identity_user(identity: Any) -> tuple[str | None, str | None]:
    """(user.name, user.id) from a CloudTrail `userIdentity`.

    IAMUser → userName; AssumedRole → role/session as `principal_name`; FederatedUser → its name; Root →
    `root`; AWSService → the service (`invokedBy`); an anonymous request (S3 logs it as AWSAccount with
    accountId `anonymous`) → no user. The id is the access key, else the principal id."""
    if not isinstance(identity, dict):
        return None, None
    kind = text_of(identity.get("type"))
    uid = text_of(identity.get("accessKeyId")) or text_of(identity.get("principalId"))
    arn = text_of(identity.get("arn"))
    if kind == "IAMUser":
        name = text_of(identity.get("userName")) or (principal_name(arn) if arn else None)
    elif kind in ("AssumedRole", "FederatedUser", "Root") and arn:
        name = principal_name(arn)
    elif kind == "Root":
        name = "root"
    elif kind == "AWSService":
        name = text_of(identity.get("invokedBy"))
    elif kind == "AWSAccount" and text_of(identity.get("accountId")) == "anonymous":
        name = None
    else:
        name = text_of(identity.get("userName")) or (principal_name(arn) if arn else None) or uid
    return name, uid
