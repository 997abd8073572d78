"""A syslog stamp that cannot exist is a dead letter for every syslog-based format, never an exception."""

from __future__ import annotations

import pytest

from pii_guard.config.load import parser_options
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.registry import parser_class

LINE = "2026-11-27T10:00:62+00:00 host sshd[1]: Connection from 1.2.3.4 port 5 on 1.2.3.5 port 22"


@pytest.mark.parametrize("fmt", ["sftp", "samba-full-audit", "mariadb-audit"])
def test_an_impossible_second_is_a_parse_failure(fmt: str) -> None:
    cls = parser_class(fmt)
    parser = cls(SourceContext(b"fp", "x.log", None, None, 0.0, True), parser_options(cls, {}))
    out = [*parser.feed(0, LINE), *parser.flush()]
    assert len(out) == 1
    assert isinstance(out[0], ParseFailure)
    assert out[0].reason.startswith("impossible time '2026-11-27T10:00:62+00:00'")
