"""Shared detection building blocks: field matchers and keyed event-time windows."""
