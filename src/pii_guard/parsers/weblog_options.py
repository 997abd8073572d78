"""Options of the `nginx` and `apache` formats: pydantic models whose validators compile `log_format`, so that a
format that cannot be compiled is a config error.

They are kept apart from the parser (`weblog`) so that the parser module can be compiled with mypyc while the
pydantic models stay interpreted.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator

from pii_guard.parsers.weblog_layout import apache_layout, nginx_layout


class WebLogOptions(BaseModel):
    """`log_format`: the server's format string when it is not the predefined `combined`.
    `trust_forwarded_for`: behind a reverse proxy, the first X-Forwarded-For address is the client."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    log_format: str | None = None
    trust_forwarded_for: bool = False


class NginxOptions(WebLogOptions):
    @field_validator("log_format")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        nginx_layout(value)
        return value


class ApacheOptions(WebLogOptions):
    @field_validator("log_format")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        apache_layout(value)
        return value
