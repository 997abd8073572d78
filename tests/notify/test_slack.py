"""The Slack notifier against the local fake Slack server: real HTTP through slack_sdk, nothing mocked."""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

import pytest

from pii_guard.config.models import SlackConfig, SlackRoute
from pii_guard.config.secrets import Secret
from pii_guard.errors import ConfigError
from pii_guard.notify.base import Delivered, Failed, Notifier, Outcome, Retry
from pii_guard.notify.slack import SlackNotifier, parse_ref, route_for
from tests.notify.fake_slack import FakeSlack, incident_view, notification

CHANNEL = "C0SECURITY"


def bot_config(fake: FakeSlack, **changes: Any) -> SlackConfig:
    values: dict[str, Any] = {"api_url": fake.api_url, "channel": CHANNEL, "timeout_s": 2.0}
    values.update(changes)
    return SlackConfig(**values)


@pytest.fixture
def bot(fake_slack: FakeSlack) -> SlackNotifier:
    return SlackNotifier(bot_config(fake_slack), token=Secret(fake_slack.token))


@pytest.fixture
def hook(fake_slack: FakeSlack) -> SlackNotifier:
    return SlackNotifier(SlackConfig(mode="webhook", timeout_s=2.0), webhook_url=Secret(fake_slack.webhook_url))


def delivered(outcome: Outcome) -> str:
    assert isinstance(outcome, Delivered), outcome
    assert outcome.ref is not None
    return outcome.ref


def all_text(message: dict[str, Any]) -> str:
    return repr(message.get("blocks")) + message.get("text", "")


def test_it_is_a_notifier(bot: SlackNotifier) -> None:
    notifier: Notifier = bot
    assert notifier.name == "slack"
    assert notifier.per_second == 1.0
    assert notifier.digest_after == 10


def test_each_mode_needs_its_secret() -> None:
    with pytest.raises(ConfigError):
        SlackNotifier(SlackConfig(channel=CHANNEL))
    with pytest.raises(ConfigError):
        SlackNotifier(SlackConfig(mode="webhook"), token=Secret("xoxb-1"))


# -- routing ----------------------------------------------------------------------------------------------


def test_first_matching_route_wins_else_the_default_channel() -> None:
    config = SlackConfig(channel="C0DEFAULT", routes=[
        SlackRoute(channel="C0CRIT", severities=["critical"]),
        SlackRoute(channel="C0HEALTH", categories=["health"]),
        SlackRoute(channel="C0HIGHFIN", severities=["high"], categories=["financial", "contact"]),
        SlackRoute(channel="C0NEVER", severities=["high"]),
    ])
    assert route_for(config, incident_view(severity="critical", categories=("health",))) == "C0CRIT"
    assert route_for(config, incident_view(severity="low", categories=("health", "x"))) == "C0HEALTH"
    assert route_for(config, incident_view(severity="high", categories=("financial",))) == "C0HIGHFIN"
    assert route_for(config, incident_view(severity="high", categories=("other",))) == "C0NEVER"
    assert route_for(config, incident_view(severity="medium", categories=("other",))) == "C0DEFAULT"
    assert route_for(SlackConfig(routes=config.routes), incident_view(severity="low", categories=())) == ""
    assert route_for(SlackConfig(mode="webhook", channel="C0DEFAULT", routes=config.routes),
                     incident_view(severity="critical")) == ""


def test_refs() -> None:
    assert parse_ref("C1:1.000100") == ("C1", "1.000100", False)
    assert parse_ref("C1:1.000100:digest") == ("C1", "1.000100", True)
    for bad in (None, "", "C1", "C1:", ":1.0", "C1:1.0:other", "a:b:c:d"):
        assert parse_ref(bad) is None


# -- bot mode: the parent, thread replies, edits ------------------------------------------------------------


def test_opened_posts_the_parent_with_metadata(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    view = incident_view(user="<!channel> *x*", objects=("file:/srv/<https://evil|click>.xlsx",))
    ref = delivered(bot.send(notification(7, view=view), None))
    channel, ts, digest = parse_ref(ref) or ("", "", True)
    assert (channel, digest) == (CHANNEL, False)
    message = fake_slack.message(CHANNEL, ts)
    assert message is not None
    assert message["metadata"] == {"event_type": "pii_guard_notification",
                                   "event_payload": {"outbox_id": 7, "incident": "INC-42", "kind": "opened"}}
    assert message["blocks"][0]["type"] == "header"
    assert "INC-42" in message["text"]
    text = all_text(message)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; *x*" in text
    assert "<https://evil|click>" not in text
    assert "pii-guard incidents show INC-42" in text
    call = fake_slack.calls_to("chat.postMessage")[0]
    assert call.headers["Authorization"] == f"Bearer {fake_slack.token}"


def test_the_ref_uses_the_channel_id_slack_answered(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    ref = delivered(bot.send(notification(1, route="#privacy"), None))
    assert ref.startswith("C0PRIVACY:")


def test_an_empty_route_falls_back_to_routing(fake_slack: FakeSlack) -> None:
    config = bot_config(fake_slack, routes=[SlackRoute(channel="C0CRITICAL", severities=["high"])])
    notifier = SlackNotifier(config, token=Secret(fake_slack.token))
    assert delivered(notifier.send(notification(1, route=""), None)).startswith("C0CRITICAL:")
    unroutable = SlackNotifier(bot_config(fake_slack, channel=None), token=Secret(fake_slack.token))
    outcome = unroutable.send(notification(2, route=""), None)
    assert isinstance(outcome, Failed)
    assert "no channel" in outcome.reason


def test_a_comment_is_a_thread_reply_and_leaves_the_parent_alone(fake_slack: FakeSlack,
                                                                   bot: SlackNotifier) -> None:
    ref = delivered(bot.send(notification(1), None))
    parent_ts = ref.split(":")[1]
    outcome = bot.send(notification(2, "comment", actor="bob", text="asked <@U999> about *it*"), ref)
    reply_ts = delivered(outcome).split(":")[1]
    reply = fake_slack.message(CHANNEL, reply_ts)
    assert reply is not None
    assert reply["thread_ts"] == parent_ts
    assert reply["metadata"]["event_payload"] == {"outbox_id": 2, "incident": "INC-42", "kind": "comment"}
    assert "&lt;@U999&gt; about *it*" in all_text(reply)
    assert "<@U999>" not in all_text(reply)
    assert fake_slack.calls_to("chat.update") == []
    assert [m["ts"] for m in fake_slack.top_level(CHANNEL)] == [parent_ts]


def test_a_status_change_edits_the_parent_then_replies(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    ref = delivered(bot.send(notification(1), None))
    parent_ts = ref.split(":")[1]
    view = incident_view(status="acknowledged", assignee="bob")
    delivered(bot.send(notification(2, "acknowledged", view=view, actor="bob"), ref))
    updates = fake_slack.calls_to("chat.update")
    assert len(updates) == 1
    assert updates[0].body["ts"] == parent_ts
    assert updates[0].body["channel"] == CHANNEL
    parent = fake_slack.message(CHANNEL, parent_ts)
    assert parent is not None
    assert "edited" in parent
    assert ":eyes: acknowledged" in all_text(parent)
    assert "`bob`" in all_text(parent)
    methods = [c.method for c in fake_slack.calls]
    assert methods == ["chat.postMessage", "chat.update", "chat.postMessage"]
    thread = fake_slack.thread(CHANNEL, parent_ts)
    assert len(thread) == 2
    assert "Acknowledged by `bob`" in all_text(thread[1])


@pytest.mark.parametrize("kind", ["severity", "resolved", "false_positive", "reopened", "assigned", "evidence"])
def test_these_changes_also_edit_the_parent(fake_slack: FakeSlack, bot: SlackNotifier, kind: Any) -> None:
    ref = delivered(bot.send(notification(1), None))
    delivered(bot.send(notification(2, kind, previous="medium"), ref))
    assert len(fake_slack.calls_to("chat.update")) == 1


def test_resolving_edits_the_parent_and_posts_a_resolve_notice(fake_slack: FakeSlack,
                                                                bot: SlackNotifier) -> None:
    ref = delivered(bot.send(notification(1), None))
    parent_ts = ref.split(":")[1]
    view = incident_view(status="resolved")
    delivered(bot.send(notification(2, "resolved", view=view, actor="bob", text="approved by <!here>"), ref))
    parent = fake_slack.message(CHANNEL, parent_ts)
    assert parent is not None
    assert parent["blocks"][0]["text"]["text"].startswith("[RESOLVED]")
    notice = fake_slack.thread(CHANNEL, parent_ts)[-1]
    assert notice["thread_ts"] == parent_ts
    assert "*Resolved* by `bob`: `approved by &lt;!here&gt;`" in all_text(notice)


def test_a_retryable_edit_failure_retries_before_any_reply(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    ref = delivered(bot.send(notification(1), None))
    parent_ts = ref.split(":")[1]
    fake_slack.fail("chat.update", status=500)
    note = notification(2, "acknowledged", view=incident_view(status="acknowledged"))
    outcome = bot.send(note, ref)
    assert isinstance(outcome, Retry)
    assert len(fake_slack.thread(CHANNEL, parent_ts)) == 1  # no reply yet
    delivered(bot.send(note, ref))  # the worker's retry: edit again (idempotent), reply once
    assert len(fake_slack.thread(CHANNEL, parent_ts)) == 2
    assert len(fake_slack.calls_to("chat.update")) == 2


def test_a_permanent_edit_failure_still_posts_the_reply(fake_slack: FakeSlack, bot: SlackNotifier,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    ref = delivered(bot.send(notification(1), None))
    parent_ts = ref.split(":")[1]
    fake_slack.fail("chat.update", error="cant_update_message")
    with caplog.at_level(logging.WARNING, logger="pii_guard.notify.slack"):
        delivered(bot.send(notification(2, "resolved", view=incident_view(status="resolved")), ref))
    assert len(fake_slack.thread(CHANNEL, parent_ts)) == 2
    assert any("could not edit" in r.getMessage() for r in caplog.records)


def test_a_failing_reply_after_the_edit_is_retried_without_duplicates(fake_slack: FakeSlack,
                                                                       bot: SlackNotifier) -> None:
    ref = delivered(bot.send(notification(1), None))
    parent_ts = ref.split(":")[1]
    fake_slack.fail("chat.postMessage", status=503)
    note = notification(2, "resolved", view=incident_view(status="resolved"))
    assert isinstance(bot.send(note, ref), Retry)
    delivered(bot.send(note, ref))
    assert len(fake_slack.thread(CHANNEL, parent_ts)) == 2


def test_a_change_without_a_parent_is_posted_on_its_own(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    ref = delivered(bot.send(notification(5, "comment", actor="bob", text="hello"), None))
    message = fake_slack.message(CHANNEL, ref.split(":")[1])
    assert message is not None
    assert "thread_ts" not in message
    assert "`INC-42`" in all_text(message)
    assert fake_slack.calls_to("chat.update") == []


# -- digest -----------------------------------------------------------------------------------------------


def test_digest_posts_one_message_and_threads_hang_under_it(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    notes = [notification(10 + i, view=incident_view(id=f"INC-{i}", user=f"user{i}")) for i in range(12)]
    ref = delivered(bot.digest(notes))
    channel, ts, is_digest = parse_ref(ref) or ("", "", False)
    assert (channel, is_digest) == (CHANNEL, True)
    assert len(fake_slack.top_level(CHANNEL)) == 1
    message = fake_slack.message(CHANNEL, ts)
    assert message is not None
    assert message["metadata"]["event_payload"]["outbox_ids"] == [n.outbox_id for n in notes]
    text = all_text(message)
    for i in range(12):
        assert f"`INC-{i}`" in text
        assert f"`user{i}`" in text
    # a later change of one of them: a reply in the digest's thread that names it; the digest is not edited
    view = incident_view(id="INC-3", status="acknowledged")
    delivered(bot.send(notification(30, "acknowledged", view=view, actor="bob"), ref))
    assert fake_slack.calls_to("chat.update") == []
    reply = fake_slack.thread(CHANNEL, ts)[-1]
    assert "`INC-3`" in all_text(reply)


def test_a_huge_digest_stays_within_slack_limits(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    notes = [notification(i, view=incident_view(id=f"INC-{i}", user="u" * 200)) for i in range(600)]
    delivered(bot.digest(notes))  # the fake answers invalid_blocks beyond 50 blocks / 3000 chars
    message = fake_slack.top_level(CHANNEL)[0]
    assert len(message["blocks"]) == 50
    assert "more not listed" in all_text(message)


def test_an_empty_digest_sends_nothing(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    assert bot.digest([]) == Delivered(None)
    assert fake_slack.calls == []


# -- failures ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "expected"), [
    ({"status": 429, "retry_after": 7}, Retry),
    ({"error": "ratelimited"}, Retry),
    ({"status": 500}, Retry),
    ({"status": 502, "error": "bad_gateway"}, Retry),
    ({"status": 503, "error": "service_unavailable"}, Retry),
    ({"error": "internal_error"}, Retry),
    ({"error": "fatal_error"}, Retry),
    ({"error": "invalid_auth"}, Failed),
    ({"error": "not_authed"}, Failed),
    ({"error": "token_revoked"}, Failed),
    ({"error": "account_inactive"}, Failed),
    ({"error": "channel_not_found"}, Failed),
    ({"error": "not_in_channel"}, Failed),
    ({"error": "is_archived"}, Failed),
    ({"error": "msg_too_long"}, Failed),
    ({"error": "invalid_blocks"}, Failed),
    ({"status": 400, "error": "invalid_arguments"}, Failed),
    ({"status": 404, "error": "unknown_method"}, Failed),
    ({"status": 403, "error": "<html>forbidden</html>"}, Failed),
])
def test_failure_answers_map_to_outcomes(fake_slack: FakeSlack, bot: SlackNotifier, fault: dict[str, Any],
                                         expected: type) -> None:
    fake_slack.fail("chat.postMessage", **fault)
    outcome = bot.send(notification(1), None)
    assert isinstance(outcome, expected), outcome
    assert isinstance(outcome, Retry | Failed)
    assert outcome.reason.startswith("slack chat.postMessage: ")
    assert "<html>" not in outcome.reason  # bodies are never quoted, only error codes
    if fault.get("error") and fault["error"].isidentifier() and fault["error"] != "ratelimited":
        assert fault["error"] in outcome.reason
    assert fake_slack.top_level(CHANNEL) == []


def test_429_carries_retry_after(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=7)
    outcome = bot.send(notification(1), None)
    assert isinstance(outcome, Retry)
    assert outcome.after_s == 7.0
    assert "rate limited" in outcome.reason


def test_the_real_checks_of_the_fake_map_too(fake_slack: FakeSlack) -> None:
    wrong = SlackNotifier(bot_config(fake_slack), token=Secret("xoxb-wrong-token"))
    assert wrong.send(notification(1), None) == Failed("slack chat.postMessage: invalid_auth (HTTP 200)")
    right = SlackNotifier(bot_config(fake_slack), token=Secret(fake_slack.token))
    outcome = right.send(notification(2, route="C0NOSUCH"), None)
    assert outcome == Failed("slack chat.postMessage: channel_not_found (HTTP 200)")
    fake_slack.archived.add(CHANNEL)
    assert right.send(notification(3), None) == Failed("slack chat.postMessage: is_archived (HTTP 200)")


def test_the_per_channel_rate_limit_answers_retry_after(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    fake_slack.rate_limit(per_second=1.0, burst=2)
    outcomes = [bot.send(notification(i), None) for i in range(3)]
    assert [type(o) for o in outcomes] == [Delivered, Delivered, Retry]
    limited = outcomes[2]
    assert isinstance(limited, Retry)
    assert limited.after_s is not None
    assert limited.after_s >= 1
    assert delivered(bot.send(notification(9, route="C0PRIVACY"), None))  # other channels are not limited
    time.sleep(limited.after_s)
    delivered(bot.send(notification(2), None))


def test_a_hanging_slack_is_a_retry_within_the_timeout(fake_slack: FakeSlack) -> None:
    notifier = SlackNotifier(bot_config(fake_slack, timeout_s=0.5), token=Secret(fake_slack.token))
    fake_slack.fail("chat.postMessage", hang_s=10)
    started = time.monotonic()
    outcome = notifier.send(notification(1), None)
    took = time.monotonic() - started
    assert isinstance(outcome, Retry)
    assert "no answer within 0.5s" in outcome.reason
    assert took < 2.0


def test_an_unreachable_slack_is_a_retry() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    notifier = SlackNotifier(SlackConfig(api_url=f"http://127.0.0.1:{port}/api/", channel=CHANNEL, timeout_s=2),
                             token=Secret("xoxb-unused"))
    outcome = notifier.send(notification(1), None)
    assert isinstance(outcome, Retry)
    assert "connection refused" in outcome.reason


def test_no_sdk_internal_retries(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=1)
    assert isinstance(bot.send(notification(1), None), Retry)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


# -- finding a delivery after a crash ----------------------------------------------------------------------


def test_find_delivered_by_outbox_id(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    for i in range(5):  # other incidents' messages in the channel
        delivered(bot.send(notification(100 + i, view=incident_view(id=f"INC-{100 + i}")), None))
    note = notification(7)
    ref = delivered(bot.send(note, None))
    assert bot.find_delivered(note) == ref
    assert bot.find_delivered(notification(8)) is None


def test_find_delivered_pages_through_a_busy_channel(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    note = notification(1)
    ref = delivered(bot.send(note, None))
    for i in range(450):  # newer messages push it to the third page
        delivered(bot.send(notification(1000 + i, view=incident_view(id=f"INC-{i}")), None))
    assert bot.find_delivered(note) == ref
    assert len(fake_slack.calls_to("conversations.history")) == 3


def test_find_delivered_after_a_timeout_that_hid_a_delivery(fake_slack: FakeSlack) -> None:
    notifier = SlackNotifier(bot_config(fake_slack, timeout_s=0.5), token=Secret(fake_slack.token))
    fake_slack.fail("chat.postMessage", hang_s=3, apply=True)  # Slack posted it; the answer came too late
    note = notification(3)
    assert isinstance(notifier.send(note, None), Retry)
    ref = notifier.find_delivered(note)
    assert ref is not None
    assert fake_slack.message(CHANNEL, ref.split(":")[1]) is not None


def test_find_delivered_finds_thread_replies_with_or_without_the_parent_ref(fake_slack: FakeSlack,
                                                                            bot: SlackNotifier) -> None:
    parent = delivered(bot.send(notification(1), None))
    other = delivered(bot.send(notification(50, view=incident_view(id="INC-50")), None))
    delivered(bot.send(notification(51, "comment", view=incident_view(id="INC-50"), text="x"), other))
    note = notification(2, "comment", text="hello")
    reply = delivered(bot.send(note, parent))
    assert bot.find_delivered(note, parent) == reply
    assert bot.find_delivered(note) == reply  # the parent found through its metadata
    missing = notification(3, "comment", text="never sent")
    assert bot.find_delivered(missing, parent) is None
    assert bot.find_delivered(missing) is None


def test_find_delivered_in_a_digest(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    notes = [notification(10 + i, view=incident_view(id=f"INC-{i}")) for i in range(3)]
    ref = delivered(bot.digest(notes))
    assert [bot.find_delivered(n) for n in notes] == [ref] * 3
    reply_note = notification(20, "comment", view=incident_view(id="INC-1"), text="x")
    reply = delivered(bot.send(reply_note, ref))
    assert bot.find_delivered(reply_note) == reply
    assert bot.find_delivered(reply_note, ref) == reply


def test_find_delivered_cannot_tell_when_slack_fails(fake_slack: FakeSlack, bot: SlackNotifier) -> None:
    note = notification(1)
    delivered(bot.send(note, None))
    fake_slack.fail("conversations.history", status=500)
    assert bot.find_delivered(note) is None


def test_find_delivered_only_looks_back_a_little_before_the_change(fake_slack: FakeSlack,
                                                                    bot: SlackNotifier) -> None:
    note = notification(1)
    delivered(bot.send(note, None))
    later = notification(1, at_us=int((time.time() + 3600) * 1_000_000))
    assert bot.find_delivered(later) is None
    assert fake_slack.calls_to("conversations.history")[-1].body["include_all_metadata"] == "1"


# -- webhook mode -----------------------------------------------------------------------------------------


def test_webhook_posts_every_change_as_a_message_naming_the_incident(fake_slack: FakeSlack,
                                                                     hook: SlackNotifier) -> None:
    assert hook.send(notification(1, route=""), None) == Delivered(None)
    assert hook.send(notification(2, "resolved", actor="bob", text="fine", route=""), None) == Delivered(None)
    assert hook.digest([notification(3, view=incident_view(id="INC-7"))]) == Delivered(None)
    assert [c.method for c in fake_slack.calls] == ["webhook"] * 3
    first, second, third = fake_slack.webhook_messages
    assert first["blocks"][0]["type"] == "header"
    assert "INC-42" in all_text(second)
    assert "*Resolved* by `bob`: `fine`" in all_text(second)
    assert "`INC-7`" in all_text(third)
    assert hook.find_delivered(notification(1)) is None


@pytest.mark.parametrize(("status", "error", "expected"), [
    (400, "invalid_payload", Failed),
    (403, "action_prohibited", Failed),
    (404, "channel_not_found", Failed),
    (410, "channel_is_archived", Failed),
    (429, "rate_limited", Retry),
    (500, "internal_error", Retry),
    (503, "service unavailable <html>", Retry),
])
def test_webhook_errors_map_to_outcomes(fake_slack: FakeSlack, hook: SlackNotifier, status: int, error: str,
                                        expected: type) -> None:
    fake_slack.fail("webhook", status=status, error=error, retry_after=3 if status == 429 else None)
    outcome = hook.send(notification(1), None)
    assert isinstance(outcome, expected), outcome
    assert isinstance(outcome, Retry | Failed)
    assert outcome.reason.startswith("slack webhook: ")
    assert f"HTTP {status}" in outcome.reason
    assert "<html>" not in outcome.reason
    if status == 429:
        assert isinstance(outcome, Retry)
        assert outcome.after_s == 3.0
    assert fake_slack.webhook_messages == []


def test_webhook_wrong_url_and_timeout(fake_slack: FakeSlack) -> None:
    wrong = SlackNotifier(SlackConfig(mode="webhook"), webhook_url=Secret(fake_slack.url + "/services/T/B/nope"))
    assert wrong.send(notification(1), None) == Failed("slack webhook: no_service (HTTP 404)")
    slow = SlackNotifier(SlackConfig(mode="webhook", timeout_s=0.5), webhook_url=Secret(fake_slack.webhook_url))
    fake_slack.fail("webhook", hang_s=10)
    started = time.monotonic()
    outcome = slow.send(notification(2), None)
    assert isinstance(outcome, Retry)
    assert time.monotonic() - started < 2.0


# -- secrets ----------------------------------------------------------------------------------------------


def test_the_token_and_webhook_url_never_reach_reasons_or_logs(fake_slack: FakeSlack,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    secret_path = fake_slack.webhook_path.rsplit("/", 1)[1]
    secrets = [fake_slack.token, fake_slack.webhook_url, secret_path, "xoxb-wrong-token"]
    caplog.set_level(logging.DEBUG)  # everything, from every logger (slack_sdk's included)
    bot = SlackNotifier(bot_config(fake_slack, timeout_s=0.5), token=Secret(fake_slack.token))
    hook = SlackNotifier(SlackConfig(mode="webhook", timeout_s=0.5), webhook_url=Secret(fake_slack.webhook_url))
    outcomes: list[Outcome] = []
    for fault in ({"status": 429, "retry_after": 1}, {"status": 500}, {"error": "invalid_auth"},
                  {"hang_s": 3}, {"status": 200, "error": "<html>" + fake_slack.token + "</html>"}):
        fake_slack.fail(**fault)
        outcomes.append(bot.send(notification(1), None))
        fake_slack.fail(**fault)
        outcomes.append(hook.send(notification(1), None))
    outcomes.append(SlackNotifier(bot_config(fake_slack), token=Secret("xoxb-wrong-token"))
                    .send(notification(1), None))
    ref = delivered(bot.send(notification(2), None))
    fake_slack.fail("chat.update", status=500)
    outcomes.append(bot.send(notification(3, "resolved"), ref))
    fake_slack.fail(status=403, error="invalid_auth")
    outcomes.append(bot.digest([notification(4)]))
    fake_slack.fail("conversations.history", error="invalid_auth")
    assert bot.find_delivered(notification(2)) is None
    fake_slack.stop()  # and nothing listening at all
    outcomes.append(bot.send(notification(5), None))
    outcomes.append(hook.send(notification(5), None))

    reasons = [o.reason for o in outcomes if isinstance(o, Retry | Failed)]
    assert len(reasons) == len(outcomes)  # every one of them failed
    logged = [f"{r.name} {r.getMessage()} {r.__dict__!r}" for r in caplog.records]
    assert logged  # the notifier did log its failures
    for secret in secrets:
        for text in reasons + logged:
            assert secret not in text
