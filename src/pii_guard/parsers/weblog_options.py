"""Options of the `nginx` and `apache` formats: pydantic models whose validators compile `log_format`, so that a
format that cannot be compiled is a config error.

They are kept apart from the parser (`weblog`) so that the parser module can be compiled with mypyc while the
pydantic models stay interpreted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, field_validator

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
    language = nginx_layout


class ApacheOptions(WebLogOptions):
    language = apache_layout
