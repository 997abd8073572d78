"""pii-guard: an access-log monitor for personal data."""

__version__ = "0.1.0"
