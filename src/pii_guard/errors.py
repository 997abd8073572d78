"""Typed errors. They carry a location; only the CLI and the daemon turn them into messages."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        if self.column is None:
            return f"{self.file}:{self.line}"
        return f"{self.file}:{self.line}:{self.column}"


class PiiGuardError(Exception):
    """Base of every error pii-guard raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, location: Location | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(PiiGuardError):
    """A config, policy or directory file is invalid."""


class UsageError(PiiGuardError):
    """The command line asks for something impossible (unknown format, missing file ...)."""


class StoreError(PiiGuardError):
    """The event or state store cannot be opened or written."""


class SourceError(PiiGuardError):
    """A log file cannot be read."""


class IncidentError(PiiGuardError):
    """An incident action that cannot be done: unknown incident, a transition its status does not allow."""


class NotifyError(PiiGuardError):
    """A notifier cannot be set up (missing secret, bad URL)."""
