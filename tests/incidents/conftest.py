"""The fake Slack fixture, shared with the notifier tests."""

from tests.notify.fake_slack import fake_slack as fake_slack
