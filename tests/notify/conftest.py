"""The fake Slack server fixture for every notifier test in this package."""

from __future__ import annotations

from tests.notify.fake_slack import fake_slack as fake_slack
