"""The Slack notifier: one parent message per incident and a thread reply per change (bot token), or one
message per change (incoming webhook, which can neither thread nor edit).

One attempt per call: the slack_sdk clients get no retry handlers, the outbox worker retries. Every
failure comes back as Retry or Failed with a reason built here from the HTTP status and Slack's error code
only — slack_sdk's own messages can carry the request URL (the webhook URL is a secret) — and the sdk gets
a logger of its own that emits nothing, because its debug lines carry URLs and message bodies.

Bot-mode messages carry metadata `{"event_type": "pii_guard_notification", "event_payload": {"outbox_id":
..., "incident": ..., "kind": ...}}` (a digest: `outbox_ids` and `incidents` lists), which is how
`find_delivered` recognises them after a crash.

Refs: `"CHANNEL:ts"` for an incident's own parent message, `"CHANNEL:ts:digest"` when the incident was
opened by a digest message (replies go into the digest's thread and name the incident; the digest itself is
never re-rendered as one incident's parent).
"""

from __future__ import annotations

import http.client
import logging
import re
import socket
import time
import urllib.error
from collections.abc import Callable, Iterator, Mapping, Sequence
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any, cast

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient, WebhookResponse

from pii_guard.config.models import SlackConfig
from pii_guard.config.secrets import Secret
from pii_guard.errors import ConfigError
from pii_guard.notify.base import STATUS_CHANGES, Delivered, Failed, IncidentView, Notification, Outcome, Retry
from pii_guard.notify.slackfmt import SlackMessage, change_message, digest_message, parent_message

log = logging.getLogger("pii_guard.notify.slack")

# Detached (no parent, no handlers) and above CRITICAL: slack_sdk logs request URLs and bodies at debug level
# whenever its logger's own level is NOTSET, and its error lines quote exceptions verbatim.
_SDK_LOG = logging.Logger("pii_guard.notify.slack.sdk", logging.CRITICAL + 1)

EVENT_TYPE = "pii_guard_notification"
DIGEST = "digest"
# Changes after which the parent message is re-rendered: status and severity (shown in its header), and the
# assignee and volume it also shows. Comments only go to the thread.
EDITS_PARENT: frozenset[str] = STATUS_CHANGES | {"severity", "assigned", "evidence"}
_RETRYABLE_ERRORS = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error",
                               "service_unavailable", "request_timeout"})
_CODE = re.compile(r"[a-z0-9_.]{1,64}")  # a Slack error code; anything else in a body is not quoted
_LOOKBACK_S = 600.0  # find_delivered searches from this long before the change (clock skew, queueing)
_PAGE = 200
_MAX_PAGES = 10

Answer = dict[str, Any]


def route_for(config: SlackConfig, view: IncidentView) -> str:
    """The channel for an incident: the first route whose severities (if any) include its severity and whose
    categories (if any) meet its categories; else the default channel. Webhook mode has no routing: ""."""
    if config.mode != "bot":
        return ""
    categories = set(view.categories)
    for route in config.routes:
        if route.severities and view.severity not in route.severities:
            continue
        if route.categories and not categories.intersection(route.categories):
            continue
        return route.channel
    return config.channel or ""


def parse_ref(ref: str | None) -> tuple[str, str, bool] | None:
    """"C123:1700000000.000100[:digest]" -> (channel, ts, is_digest); None when it is not such a ref."""
    if not ref:
        return None
    parts = ref.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1] or (len(parts) == 3 and parts[2] != DIGEST):
        return None
    return parts[0], parts[1], len(parts) == 3


def _make_ref(channel: str, ts: str, digest: bool = False) -> str:
    return f"{channel}:{ts}:{DIGEST}" if digest else f"{channel}:{ts}"


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            item = value[0] if isinstance(value, list | tuple) and value else value
            return str(item)
    return None


def retry_after(headers: Mapping[str, Any] | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    value = _header(headers, "retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _code(value: object) -> str | None:
    return value if isinstance(value, str) and _CODE.fullmatch(value) else None


def _network_outcome(what: str, exc: BaseException, timeout_s: float) -> Retry:
    """Timeouts, refused connections, broken answers: all worth retrying. Only the exception's type is quoted."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError | socket.timeout):
        return Retry(f"{what}: no answer within {timeout_s:g}s")
    if isinstance(reason, ConnectionRefusedError):
        return Retry(f"{what}: connection refused")
    return Retry(f"{what}: network error ({type(reason).__name__})")


def api_outcome(method: str, status: int, data: object, headers: Mapping[str, Any] | None) -> Retry | Failed:
    """A Web API answer that is not `ok`, mapped to what the outbox should do with it."""
    code = _code(data.get("error")) if isinstance(data, dict) else None
    what = f"slack {method}: {code or 'error'} (HTTP {status})"
    if status == 429 or code in ("ratelimited", "rate_limited"):
        return Retry(f"slack {method}: rate limited (HTTP {status})", retry_after(headers))
    if status >= 500 or code in _RETRYABLE_ERRORS:
        return Retry(what)
    if 200 <= status < 300 and code is None:  # not Slack's JSON (a proxy page?): may pass
        return Retry(f"slack {method}: unexpected answer (HTTP {status})")
    return Failed(what)


def webhook_outcome(status: int, body: str, headers: Mapping[str, Any] | None) -> Outcome:
    if 200 <= status < 300:
        return Delivered(None)
    code = _code(body.strip())
    what = f"slack webhook: {code or 'error'} (HTTP {status})"
    if status == 429:
        return Retry(f"slack webhook: rate limited (HTTP {status})", retry_after(headers))
    if status >= 500:
        return Retry(what)
    return Failed(what)


class SlackNotifier:
    """The Notifier for `notify.slack`. Give it the resolved secret of its mode; it never reads files or the
    environment itself."""

    def __init__(self, config: SlackConfig, *, token: Secret | None = None, webhook_url: Secret | None = None,
                 name: str = "slack", max_objects: int = 5) -> None:
        self.name = name
        self.per_second = config.per_second
        self.digest_after: int | None = config.digest_after
        self._config = config
        self._timeout_s = config.timeout_s
        self._max_objects = max_objects
        self._web: WebClient | None = None
        self._hook: WebhookClient | None = None
        # slack_sdk annotates timeouts as int; urllib takes the float as it is.
        timeout = cast(int, config.timeout_s)
        if config.mode == "bot":
            if token is None:
                raise ConfigError("notify.slack: bot mode needs a token")
            self._web = WebClient(token=token.reveal(), base_url=config.api_url, timeout=timeout,
                                  retry_handlers=[], logger=_SDK_LOG)
            self._secret = token
        else:
            if webhook_url is None:
                raise ConfigError("notify.slack: webhook mode needs a webhook URL")
            self._hook = WebhookClient(url=webhook_url.reveal(), timeout=timeout, retry_handlers=[],
                                       logger=_SDK_LOG)
            self._secret = webhook_url

    # -- Notifier -------------------------------------------------------------------------------------------

    def send(self, note: Notification, ref: str | None) -> Outcome:
        try:
            if self._hook is not None:
                return self._scrub(self._send_webhook(note))
            return self._scrub(self._send_bot(note, ref))
        except Exception as exc:  # a bug here must not lose the row: the worker retries
            log.error("slack notifier failed unexpectedly (%s)", type(exc).__name__,
                      extra={"outbox_id": note.outbox_id, "incident": note.incident.id})
            return Retry(f"slack: internal error ({type(exc).__name__})")

    def digest(self, notes: Sequence[Notification]) -> Outcome:
        if not notes:
            return Delivered(None)
        try:
            message = digest_message([n.incident for n in notes])
            if self._hook is not None:
                return self._scrub(self._webhook_post(message))
            channel = notes[0].route or route_for(self._config, notes[0].incident)
            if not channel:
                return Failed("slack: no channel for these incidents (set notify.slack.channel or a route)")
            payload: dict[str, Any] = {
                "outbox_id": notes[0].outbox_id,
                "outbox_ids": [n.outbox_id for n in notes],
                "incidents": [n.incident.id for n in notes],
                "kind": DIGEST,
            }
            answer = self._post(channel, message, payload)
            if not isinstance(answer, dict):
                return self._scrub(answer)
            ref = _make_ref(str(answer.get("channel") or channel), str(answer.get("ts")), digest=True)
            log.info("slack digest posted", extra={"incidents": len(notes), "outbox_id": notes[0].outbox_id})
            return Delivered(ref)
        except Exception as exc:
            log.error("slack digest failed unexpectedly (%s)", type(exc).__name__)
            return Retry(f"slack: internal error ({type(exc).__name__})")

    def find_delivered(self, note: Notification, ref: str | None = None) -> str | None:
        """Bot mode: the ref of the message carrying `note.outbox_id` in its metadata, if it landed. `ref` is
        the incident's parent ref when the caller has it (spares searching the channel for the parent); a
        thread reply is found without it too, through the parent's metadata. Webhook mode: always None."""
        if self._web is None:
            return None
        try:
            return self._find(note, parse_ref(ref))
        except _Unavailable as exc:
            log.warning("slack: cannot tell whether a notification was delivered: %s", exc.reason,
                        extra={"outbox_id": note.outbox_id})
            return None
        except Exception as exc:
            log.error("slack find_delivered failed unexpectedly (%s)", type(exc).__name__,
                      extra={"outbox_id": note.outbox_id})
            return None

    # -- bot mode -------------------------------------------------------------------------------------------

    def _send_bot(self, note: Notification, ref: str | None) -> Outcome:
        view, change = note.incident, note.change
        payload: dict[str, Any] = {"outbox_id": note.outbox_id, "incident": view.id, "kind": change.kind}
        parent = parse_ref(ref)
        if change.kind == "opened" or parent is None:
            channel = note.route or route_for(self._config, view)
            if not channel:
                return Failed("slack: no channel for this incident (set notify.slack.channel or a route)")
            if change.kind == "opened":
                message = parent_message(view, max_objects=self._max_objects)
            else:  # its parent never landed (failed for good): a message of its own that names the incident
                message = change_message(view, change, standalone=True)
            answer = self._post(channel, message, payload)
            if not isinstance(answer, dict):
                return answer
            log.info("slack message posted", extra={"outbox_id": note.outbox_id, "incident": view.id,
                                                    "kind": change.kind})
            return Delivered(_make_ref(str(answer.get("channel") or channel), str(answer.get("ts"))))

        channel, parent_ts, is_digest = parent
        if change.kind in EDITS_PARENT and not is_digest:
            # The edit goes first and the reply last: a retry after any failure redoes the edit (idempotent:
            # it renders the incident as it is now) and posts the reply at most once, because nothing runs
            # after the reply. An edit that fails for good (message deleted, too old) does not block the reply.
            edited = self._call("chat.update", lambda web: web.chat_update(
                channel=channel, ts=parent_ts, **_content(parent_message(view, max_objects=self._max_objects))))
            if isinstance(edited, Retry):
                return edited
            if isinstance(edited, Failed):
                log.warning("slack: could not edit the incident's parent message, posting the reply anyway",
                            extra={"outbox_id": note.outbox_id, "incident": view.id, "reason": edited.reason})
        message = change_message(view, change, standalone=is_digest)
        answer = self._post(channel, message, payload, thread_ts=parent_ts)
        if not isinstance(answer, dict):
            return answer
        log.info("slack thread reply posted", extra={"outbox_id": note.outbox_id, "incident": view.id,
                                                     "kind": change.kind})
        return Delivered(_make_ref(str(answer.get("channel") or channel), str(answer.get("ts"))))

    def _post(self, channel: str, message: SlackMessage, payload: dict[str, Any],
              thread_ts: str | None = None) -> Answer | Retry | Failed:
        metadata = {"event_type": EVENT_TYPE, "event_payload": payload}
        extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
        return self._call("chat.postMessage", lambda web: web.chat_postMessage(
            channel=channel, metadata=metadata, unfurl_links=False, unfurl_media=False, **_content(message),
            **extra))

    def _call(self, method: str, call: Callable[[WebClient], SlackResponse]) -> Answer | Retry | Failed:
        """One Web API call; the answer's data when `ok`, else what to do about it."""
        assert self._web is not None
        try:
            response = call(self._web)
        except SlackApiError as exc:
            answer = exc.response
            return api_outcome(method, int(answer.status_code), answer.data, answer.headers)
        except SlackRequestError:
            return Failed(f"slack {method}: the client refused the request (check notify.slack.api_url)")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return _network_outcome(f"slack {method}", exc, self._timeout_s)
        data = response.data
        if not isinstance(data, dict):
            return Retry(f"slack {method}: unexpected answer (HTTP {response.status_code})")
        return cast(Answer, data)

    # -- finding a delivery after a crash ------------------------------------------------------------------

    def _find(self, note: Notification, parent: tuple[str, str, bool] | None) -> str | None:
        view, change = note.incident, note.change
        if change.kind != "opened" and parent is not None:
            channel, parent_ts, _ = parent
            return self._find_reply(channel, parent_ts, note)
        channel = note.route or route_for(self._config, view)
        if not channel:
            return None
        # an "opened" message was posted after its change; without a ref the parent is older than the change
        start_us = change.at_us if change.kind == "opened" else min(change.at_us, view.opened_us)
        since = start_us / 1_000_000 - _LOOKBACK_S
        found_parent: tuple[str, bool] | None = None
        for message in self._pages("conversations.history", channel, since):
            payload = _payload(message)
            if payload is None or "ts" not in message:
                continue
            ts = str(message["ts"])
            is_digest = payload.get("kind") == DIGEST
            if _has_outbox_id(payload, note.outbox_id):
                return _make_ref(channel, ts, is_digest)
            if change.kind != "opened" and found_parent is None and (
                    (payload.get("kind") == "opened" and payload.get("incident") == view.id)
                    or (is_digest and view.id in (payload.get("incidents") or ()))):
                found_parent = (ts, is_digest)
        if found_parent is not None:
            return self._find_reply(channel, found_parent[0], note)
        return None

    def _find_reply(self, channel: str, parent_ts: str, note: Notification) -> str | None:
        since = note.change.at_us / 1_000_000 - _LOOKBACK_S
        for message in self._pages("conversations.replies", channel, since, parent_ts):
            payload = _payload(message)
            if payload is not None and "ts" in message and _has_outbox_id(payload, note.outbox_id):
                return _make_ref(channel, str(message["ts"]))
        return None

    def _pages(self, method: str, channel: str, since: float, parent_ts: str | None = None) -> Iterator[Answer]:
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            args: dict[str, Any] = {"channel": channel, "oldest": f"{max(0.0, since):.6f}", "limit": _PAGE,
                                    "include_all_metadata": True}
            if cursor:
                args["cursor"] = cursor
            if parent_ts is None:
                answer = self._call(method, partial(WebClient.conversations_history, **args))
            else:
                answer = self._call(method, partial(WebClient.conversations_replies, ts=parent_ts, **args))
            if not isinstance(answer, dict):
                raise _Unavailable(self._scrub_reason(answer.reason))
            for message in answer.get("messages") or ():
                if isinstance(message, dict):
                    yield message
            meta = answer.get("response_metadata")
            cursor = meta.get("next_cursor") if isinstance(meta, dict) else None
            if not cursor:
                return
        log.warning("slack: stopped searching after %d pages", _MAX_PAGES, extra={"channel": channel})

    # -- webhook mode ---------------------------------------------------------------------------------------

    def _send_webhook(self, note: Notification) -> Outcome:
        view, change = note.incident, note.change
        if change.kind == "opened":
            message = parent_message(view, max_objects=self._max_objects)
        else:
            message = change_message(view, change, standalone=True)
        outcome = self._webhook_post(message)
        if isinstance(outcome, Delivered):
            log.info("slack webhook message posted", extra={"outbox_id": note.outbox_id, "incident": view.id,
                                                            "kind": change.kind})
        return outcome

    def _webhook_post(self, message: SlackMessage) -> Outcome:
        assert self._hook is not None
        try:
            response: WebhookResponse = self._hook.send(text=message.text, blocks=message.blocks,
                                                        unfurl_links=False, unfurl_media=False)
        except SlackRequestError:
            return Failed("slack webhook: the client refused the URL (check notify.slack.webhook_url)")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return _network_outcome("slack webhook", exc, self._timeout_s)
        return webhook_outcome(int(response.status_code), str(response.body or ""), response.headers)

    # -- helpers --------------------------------------------------------------------------------------------

    def _scrub(self, outcome: Outcome) -> Outcome:
        """Belt and braces: reasons are built from codes only, but never let the secret through."""
        if isinstance(outcome, Retry):
            return Retry(self._scrub_reason(outcome.reason), outcome.after_s)
        if isinstance(outcome, Failed):
            return Failed(self._scrub_reason(outcome.reason))
        return outcome

    def _scrub_reason(self, reason: str) -> str:
        secret = self._secret.reveal()
        return reason.replace(secret, "<secret>") if secret else reason


class _Unavailable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _content(message: SlackMessage) -> dict[str, Any]:
    return {"text": message.text, "blocks": message.blocks}


def _payload(message: Answer) -> dict[str, Any] | None:
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != EVENT_TYPE:
        return None
    payload = metadata.get("event_payload")
    return payload if isinstance(payload, dict) else None


def _has_outbox_id(payload: dict[str, Any], outbox_id: int) -> bool:
    if payload.get("outbox_id") == outbox_id:
        return True
    ids = payload.get("outbox_ids")
    return isinstance(ids, list) and outbox_id in ids
