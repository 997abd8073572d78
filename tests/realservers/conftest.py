"""The fake Slack fixture for the end-to-end daemon tests."""

from tests.notify.fake_slack import fake_slack as fake_slack
