"""Options of the `nginx` and `apache` formats: pydantic models whose validators compile `log_format`, so that a
format that cannot be compiled is a config error.

They are kept apart from the parser (`weblog`) so that the parser module can be compiled with mypyc while the
pydantic models stay interpreted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, field_validator

from pii_guard.parsers.optiontypes import CommaSeparated
from pii_guard.parsers.weblog_layout import Layout, apache_layout, nginx_layout


class WebLogOptions(BaseModel):
    """`log_format`: the server's format string when it is not the predefined `combined`.
    `trust_forwarded_for`: behind a reverse proxy, the first X-Forwarded-For address is the client."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # the format language `log_format` is written in, compiled at validation (a subclass per server)
    language: ClassVar[Callable[[str | None], Layout] | None] = None

    log_format: str | None = None
    trust_forwarded_for: bool = False

    @field_validator("log_format")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if cls.language is not None:
            cls.language(value)
        return value


class NginxOptions(WebLogOptions):
    """`auth_paths`: the URL path prefixes (nginx `location` prefixes) where nginx checks a password (auth_basic,
    auth_request). nginx logs `$remote_user` from any `Authorization: Basic` header, checked or not: outside
    these prefixes the name is only the client's claim (`pii.claimed_user`). Unset: checked everywhere."""

    language = nginx_layout

    auth_paths: CommaSeparated | None = None

    @field_validator("auth_paths")
    @classmethod
    def _absolute(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for prefix in value or ():
            if not prefix.startswith("/"):
                raise ValueError(f"{prefix!r} is no URL path: write the location's prefix as in nginx.conf (/exports/)")
        return value


class ApacheOptions(WebLogOptions):
    language = apache_layout
