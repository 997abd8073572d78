"""A generic signed webhook: every change is one POST of a JSON document to the configured URL.

The body and the signature scheme are a public contract, documented for receivers in docs/webhook.md:
change them only together with that page and with `SCHEMA_VERSION`."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from pii_guard.config.models import WebhookConfig
from pii_guard.config.secrets import Secret
from pii_guard.notify.base import Delivered, Failed, IncidentView, Notification, Outcome, Retry
from pii_guard.notify.http import Response, Unreachable, clean, peer, request, retry_after_s, rfc3339

log = logging.getLogger("pii_guard.notify.webhook")

SCHEMA_VERSION = 1
DELIVERY_HEADER = "X-PII-Guard-Delivery"
TIMESTAMP_HEADER = "X-PII-Guard-Timestamp"
SIGNATURE_HEADER = "X-PII-Guard-Signature"


def sign(key: bytes, timestamp: int, body: bytes) -> str:
    """The X-PII-Guard-Signature value: v1=<hex HMAC-SHA256 over b"<timestamp>." + body>."""
    return "v1=" + hmac.new(key, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def incident_json(view: IncidentView) -> dict[str, Any]:
    return {
        "id": view.id,
        "title": view.title,
        "rule_id": view.rule_id,
        "rule_kind": view.rule_kind,
        "rules": list(view.rules) or [view.rule_id],
        "severity": view.severity,
        "status": view.status,
        "assignee": view.assignee,
        "user": view.user,
        "roles": list(view.roles),
        "department": view.department,
        "source_ips": list(view.source_ips),
        "zones": list(view.zones),
        "objects": list(view.objects),
        "categories": list(view.categories),
        "exposure": asdict(view.exposure),
        "first_evidence_at": rfc3339(view.first_us),
        "last_evidence_at": rfc3339(view.last_us),
        "opened_at": rfc3339(view.opened_us),
        "deadline": rfc3339(view.deadline_us) if view.deadline_us is not None else None,
        "evidence_count": view.evidence_count,
        "inspect": view.inspect,
    }


def notification_json(note: Notification) -> dict[str, Any]:
    """One change as the body shows it (alone, or as an entry of a digest)."""
    change = note.change
    return {
        "delivery_id": note.outbox_id,
        "target": note.target,
        "route": note.route,
        "change": {
            "kind": change.kind,
            "actor": change.actor,
            "text": change.text,
            "previous": change.previous,
            "at": rfc3339(change.at_us),
        },
        "incident": incident_json(note.incident),
    }


def change_body(note: Notification) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "kind": "change", **notification_json(note)}


def digest_body(notes: Sequence[Notification]) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "kind": "digest",
            "notifications": [notification_json(n) for n in notes]}


def digest_delivery_id(notes: Sequence[Notification]) -> str:
    """Stable for the same set of outbox rows, bounded in length however many there are."""
    ids = ",".join(str(n.outbox_id) for n in sorted(notes, key=lambda n: n.outbox_id))
    return "digest-" + hashlib.sha256(ids.encode("ascii")).hexdigest()[:32]


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookNotifier:
    """POSTs each change; receivers dedupe on X-PII-Guard-Delivery (delivery is at-least-once)."""

    per_second = 10.0
    digest_after: int | None = None  # machines read this; one POST per change is what they want

    def __init__(self, config: WebhookConfig, secret: Secret | None, *, name: str = "webhook",
                 clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self._config = config
        self._secret = secret
        self._clock = clock

    def send(self, note: Notification, ref: str | None) -> Outcome:
        return self._post(encode(change_body(note)), str(note.outbox_id))

    def digest(self, notes: Sequence[Notification]) -> Outcome:
        """One POST with `"kind": "digest"` and every change as an entry (each keeps its delivery_id)."""
        if not notes:
            return Delivered()
        return self._post(encode(digest_body(notes)), digest_delivery_id(notes))

    def find_delivered(self, note: Notification, ref: str | None = None) -> str | None:
        return None  # a webhook cannot be asked; receivers dedupe by delivery id

    def _post(self, body: bytes, delivery: str) -> Outcome:
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery,
            TIMESTAMP_HEADER: str(timestamp),
        }
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret.reveal().encode("utf-8"), timestamp, body)
        result = request("POST", self._config.url, headers=headers, body=body, timeout_s=self._config.timeout_s)
        outcome = self._judge(result)
        log.debug("webhook delivery %s: %s", delivery, type(outcome).__name__.lower(),
                  extra={"target": self.name, "peer": peer(self._config.url)})
        return outcome

    def _judge(self, result: Response | Unreachable) -> Outcome:
        if isinstance(result, Unreachable):
            reason = f"webhook {result.reason}"
            return Failed(reason) if result.kind == "invalid" else Retry(reason)
        status = result.status
        where = peer(self._config.url)
        if 200 <= status < 300:
            return Delivered(None)
        if status in (408, 429) or status >= 500:
            return Retry(f"webhook {where} answered HTTP {status}{self._detail(result)}",
                         retry_after_s(result.header("Retry-After"), self._clock()))
        if 300 <= status < 400:
            return Failed(f"webhook {where} answered HTTP {status} (a redirect, not followed): "
                          "configure the final URL")
        return Failed(f"webhook {where} refused the delivery: HTTP {status}{self._detail(result)}")

    def _detail(self, result: Response) -> str:
        """A short, cleaned excerpt of the receiver's answer, with the secret scrubbed should it echo it."""
        text = result.body[:400].decode("utf-8", "replace")
        if self._secret is not None and self._secret.reveal():
            text = text.replace(self._secret.reveal(), "<secret>")
        text = clean(text, 200)
        return f": {text}" if text else ""
