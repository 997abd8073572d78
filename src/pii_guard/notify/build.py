"""Notifiers and outbox targets from the config. Secrets are resolved here, once, and only handed to the
notifier that sends them."""

from __future__ import annotations

from pii_guard.config.models import Config
from pii_guard.config.secrets import resolve_secret
from pii_guard.errors import ConfigError
from pii_guard.incidents.outbox import Target
from pii_guard.notify.base import Notifier


def targets_for(config: Config) -> list[Target]:
    """Who is told about what, without touching any secret: enough for the ticket side (CLI, daemon)."""
    notify = config.notify
    out: list[Target] = []
    if notify.slack is not None:
        from pii_guard.notify.slack import route_for

        slack = notify.slack
        out.append(Target("slack", slack.min_severity, lambda view: route_for(slack, view)))
    if notify.webhook is not None:
        out.append(Target("webhook", notify.webhook.min_severity, lambda view: ""))
    if notify.jira is not None:
        out.append(Target("jira", notify.jira.min_severity, lambda view: ""))
    return out


def notifiers_for(config: Config) -> dict[str, Notifier]:
    notify = config.notify
    out: dict[str, Notifier] = {}
    file = config.resolve_file  # `${CREDENTIALS_DIRECTORY}/slack-token`: systemd's LoadCredential=

    if notify.slack is not None:
        from pii_guard.notify.slack import SlackNotifier

        s = notify.slack
        if s.mode == "bot":
            token = resolve_secret("notify.slack token", s.token, file(s.token_file, "notify.slack.token_file"),
                                   s.token_env)
            if token is None:
                raise ConfigError("notify.slack: bot mode needs token, token_file or token_env",
                                  hint="or set mode: webhook with webhook_url_file")
            if not s.channel and not s.routes:
                raise ConfigError("notify.slack: bot mode needs a channel (an ID such as C0123456789)")
            out["slack"] = SlackNotifier(s, token=token)
        else:
            url = resolve_secret("notify.slack webhook_url", s.webhook_url,
                                 file(s.webhook_url_file, "notify.slack.webhook_url_file"), s.webhook_url_env)
            if url is None:
                raise ConfigError("notify.slack: webhook mode needs webhook_url, webhook_url_file or webhook_url_env")
            out["slack"] = SlackNotifier(s, webhook_url=url)
    if notify.webhook is not None:
        from pii_guard.notify.webhook import WebhookNotifier

        w = notify.webhook
        out["webhook"] = WebhookNotifier(w, resolve_secret("notify.webhook secret", w.secret,
                                                           file(w.secret_file, "notify.webhook.secret_file"),
                                                           w.secret_env))
    if notify.jira is not None:
        from pii_guard.notify.jira import JiraNotifier

        j = notify.jira
        out["jira"] = JiraNotifier(j, resolve_secret("notify.jira token", j.token,
                                                     file(j.token_file, "notify.jira.token_file"), j.token_env))
    return out
