"""Delivery: the report's files under predictable names (written atomically), the index page of every report in
the directory, and the Slack message with the headline figures and the HTML file (bot mode: files_upload_v2;
webhook mode can only post text)."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.webhook import WebhookClient

from pii_guard.config.models import Config, SlackConfig
from pii_guard.config.secrets import Secret, resolve_secret
from pii_guard.notify.slackfmt import clean
from pii_guard.reports.period import from_us
from pii_guard.reports.render import render_index
from pii_guard.reports.signoff import ReportError, review_states

log = logging.getLogger("pii_guard.reports")
_SDK_LOG = logging.Logger("pii_guard.reports.slack.sdk", logging.CRITICAL + 1)  # never logs URLs or bodies
_META = re.compile(r'<meta name="pii-guard-period" content="(\w+) (\d+) (\d+) ([^"]+)">')
_HEADLINE = re.compile(r'<p class="headline">(.*?)</p>', re.S)
_TITLE = re.compile(r"<title>Access review: (.*?)</title>", re.S)
_MIN_BYTES = 6 * 1024  # the head of a report holds its meta, title and headline


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def _unescape(text: str) -> str:
    return (text.replace("&lt;", "<").replace("&gt;", ">").replace("&#34;", '"').replace("&#39;", "'")
            .replace("&quot;", '"').replace("&amp;", "&"))


def write_index(directory: Path, state: sqlite3.Connection | None, now_us: int, due_us: int, timezone: str) -> Path:
    """index.html: every review-*.html in the directory, newest period first, with its review status."""
    reviews = {s.report.name: s for s in review_states(state, now_us, due_us)} if state is not None else {}
    entries: list[dict[str, Any]] = []
    for path in directory.glob("review-*.html"):
        with path.open(encoding="utf-8", errors="replace") as fh:
            head = fh.read(_MIN_BYTES)
        meta = _META.search(head)
        if meta is None:
            continue
        headline = _HEADLINE.search(head)
        title = _TITLE.search(head)
        name = path.name.removesuffix(".html")
        review = reviews.get(name)
        if review is None:
            status, css = "not recorded in the state database", ""
        elif review.signed:
            last = review.signed[-1]
            status = f"reviewed by {last.reviewer} on {from_us(last.signed_us, _zone(review.report.timezone)).date()}"
            css = ""
        else:
            status, css = review.status, "overdue" if review.overdue else ""
        entries.append({"start": int(meta.group(2)), "kind": meta.group(1), "file": path.name,
                        "label": _unescape(title.group(1)) if title else name,
                        "headline": _unescape(headline.group(1)) if headline else "",
                        "csv": sorted(p.name for p in directory.glob(f"{name}.*.csv")),
                        "review": status, "review_class": css})
    entries.sort(key=lambda e: (-e["start"], e["file"]))
    generated = from_us(now_us, _zone(timezone)).strftime("%Y-%m-%d %H:%M %Z")
    index = directory / "index.html"
    write_atomic(index, render_index(entries, generated))
    return index


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


@dataclass(frozen=True)
class SlackDelivery:
    """Posts a report to Slack with the notifier's settings (its token or webhook URL, its API URL)."""

    config: SlackConfig
    secret: Secret
    channel: str | None

    @classmethod
    def from_config(cls, config: Config) -> SlackDelivery | None:
        slack = config.notify.slack
        if slack is None or not config.reports.slack:
            return None

        file = config.resolve_file  # `${CREDENTIALS_DIRECTORY}/slack-token`, as notify.build reads it
        if slack.mode == "bot":
            secret = resolve_secret("notify.slack token", slack.token,
                                    file(slack.token_file, "notify.slack.token_file"), slack.token_env)
        else:
            secret = resolve_secret("notify.slack webhook_url", slack.webhook_url,
                                    file(slack.webhook_url_file, "notify.slack.webhook_url_file"),
                                    slack.webhook_url_env)
        if secret is None:
            return None
        return cls(slack, secret, config.reports.slack_channel or slack.channel)

    def post(self, headline: str, html: Path, summary: Sequence[tuple[str, str]]) -> None:
        """One message: the headline, the figures, the file. Raises ReportError (the job retries)."""
        lines = [f"*Access review report* {_mrkdwn(headline)}"]
        lines += [f"• {_mrkdwn(label)}: {_mrkdwn(value)}" for label, value in summary]
        lines.append(f"Sign off after review: `pii-guard review sign {_mrkdwn(html.name)} --by NAME --note TEXT`")
        text = "\n".join(lines)
        timeout = cast(int, self.config.timeout_s)
        try:
            if self.config.mode == "webhook":
                hook = WebhookClient(url=self.secret.reveal(), timeout=timeout, retry_handlers=[], logger=_SDK_LOG)
                answer = hook.send(text=text)
                if answer.status_code >= 300:
                    raise ReportError(f"slack webhook: HTTP {answer.status_code}")
                return
            if not self.channel:
                raise ReportError("slack: no channel for reports (set reports.slack_channel or notify.slack.channel)")
            client = WebClient(token=self.secret.reveal(), base_url=self.config.api_url, timeout=timeout,
                               retry_handlers=[], logger=_SDK_LOG)
            client.files_upload_v2(channel=self.channel, file=str(html), filename=html.name,
                                   title=f"Access review {html.stem}", initial_comment=text)
        except SlackApiError as exc:
            code = exc.response.get("error") if exc.response is not None else None
            raise ReportError(f"slack: {code if isinstance(code, str) and code.isidentifier() else 'error'} "
                              f"(HTTP {exc.response.status_code if exc.response is not None else '?'})") from None
        except (SlackRequestError, OSError) as exc:
            raise ReportError(f"slack: request failed ({type(exc).__name__})") from None
        log.info("report posted to slack", extra={"report": html.stem})


def _mrkdwn(text: str) -> str:
    return clean(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
