"""Secrets from config: inline, from a file or from the environment. They print as `<secret>` everywhere
(repr, str, pydantic dumps, error text), so no log line or traceback can carry one."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator

from pii_guard.errors import ConfigError


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The only way to the value: call it where the secret is sent, nowhere else."""
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _to_secret(value: Any) -> Any:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    raise ValueError("a secret must be a string")


SecretValue = Annotated[Secret, PlainValidator(_to_secret), PlainSerializer(lambda s: "<secret>", return_type=str)]


def resolve_secret(
    what: str,
    inline: Secret | None,
    file: Path | None,
    env: str | None,
    environ: Mapping[str, str] | None = None,
) -> Secret | None:
    """The secret from the first of inline / file / environment variable that is set. A named file or
    variable that is missing is a ConfigError naming the file or variable, never the value."""
    if inline is not None:
        return inline
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read {what} from {file}: {exc.strerror}",
                              hint="check the path and that the pii-guard user may read it") from None
        if not text:
            raise ConfigError(f"{what} file {file} is empty")
        return Secret(text)
    if env is not None:
        value = (os.environ if environ is None else environ).get(env)
        if not value:
            raise ConfigError(f"{what}: environment variable {env} is not set")
        return Secret(value)
    return None
