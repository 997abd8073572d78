"""Fixtures for the notifier tests: a local fake Jira, and notifications to send to it (or to a webhook
receiver, pytest-httpserver's `httpserver`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from pii_guard.notify.base import Change, ChangeKind, Exposure, IncidentView, Notification
from tests.notify_peers.fake_jira import FakeJira

T0 = 1_714_564_800_000_000  # 2024-05-01T12:00:00Z in microseconds

MakeNote = Callable[..., Notification]


def make_view(**overrides: Any) -> IncidentView:
    view = IncidentView(
        id="INC-42",
        title="bob read 12000 rows of customers outside office hours",
        rule_id="bulk-read-after-hours",
        rule_kind="volume",
        severity="high",
        status="open",
        assignee=None,
        user="bob",
        roles=("support",),
        department="Customer Care",
        source_ips=("10.1.2.3",),
        zones=("office",),
        objects=("db:crm.public.customers",),
        categories=("contact", "financial"),
        exposure=Exposure(events=3, rows=12000, objects=1),
        first_us=T0 - 3_600_000_000,
        last_us=T0 - 60_000_000,
        opened_us=T0 - 3_500_000_000,
        deadline_us=T0 + 72 * 3_600_000_000,
        evidence_count=3,
        inspect="pii-guard incidents show INC-42",
    )
    return replace(view, **overrides)


def make_note(kind: ChangeKind = "opened", outbox_id: int = 1, *, actor: str = "pii-guard", text: str = "",
              previous: str | None = None, target: str = "jira", **view: Any) -> Notification:
    return Notification(outbox_id, target, "", make_view(**view), Change(kind, T0 + outbox_id, actor, text, previous))


@pytest.fixture
def note() -> MakeNote:
    return make_note


@pytest.fixture
def fake_jira() -> Iterator[FakeJira]:
    jira = FakeJira().start()
    try:
        yield jira
    finally:
        jira.stop()
