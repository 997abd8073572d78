"""Options of the `pgaudit` format: a pydantic model whose validator compiles every log_line_prefix, so that a
prefix that cannot be read is a config error.

It is kept apart from the parser (`pgaudit`) so that the parser module can be compiled with mypyc while the
pydantic model stays interpreted.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pii_guard.parsers.pgaudit_prefix import DEBIAN_PREFIX, SYSLOG, CompiledPrefix


class PgAuditOptions(BaseModel):
    """Options of the `pgaudit` format."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    destination: Literal["stderr", "csvlog", "jsonlog", "syslog", "auto"] = Field(
        default="auto", description="log_destination that wrote the file; auto decides per record"
    )
    log_line_prefix: str = Field(
        default=DEBIAN_PREFIX, description="the server's log_line_prefix (stderr, syslog: may lack a time there)"
    )
    extra_prefixes: list[str] = Field(
        default_factory=list, description="other prefixes found in the same file, e.g. before a reload"
    )
    default_schema: str = Field(
        default="public",
        description="schema of unqualified table names read from statements (pgaudit.log_relation = off)",
    )
    syslog_sequence_numbers: bool = Field(
        default=True, description="the server's syslog_sequence_numbers: lines start with [N-M] (off: [M])"
    )
    syslog_split_messages: bool = Field(
        default=True, description="the server's syslog_split_messages: a message comes in pieces to join"
    )
    syslog_ident: str = Field(
        default="postgres", description="the server's syslog_ident; other programs' lines are skipped ('': none)"
    )

    @model_validator(mode="after")
    def _check_prefixes(self) -> PgAuditOptions:
        for prefix in (self.log_line_prefix, *self.extra_prefixes):  # syslog lines have a time of their own
            CompiledPrefix(prefix, timed=self.destination != SYSLOG)
        return self
