"""Notifiers: Slack, a generic signed webhook, Jira. Each turns one outbox row into one delivery attempt."""
