"""Text from logs printed on a terminal: one line, no escape sequence, no direction override."""

from __future__ import annotations

import pytest

from pii_guard.logs import _quote
from pii_guard.terminal import printable


@pytest.mark.parametrize(("text", "shown"), [
    ("alice", "alice"),
    ("DOMAIN\\bob", "DOMAIN\\bob"),
    ("evil\nINC-1  high  resolved  fake", "evil\\nINC-1  high  resolved  fake"),
    ("x\x1b]0;pwned\x07", "x\\x1b]0;pwned\\x07"),  # OSC: retitles the terminal
    ("x\x1b[2J", "x\\x1b[2J"),
    ("cr\roverwrite\ttab", "cr\\roverwrite\\ttab"),
    ("c1\x9bcsi\x7f", "c1\\x9bcsi\\x7f"),
    ("invoice\u202efdp.exe", "invoice\\u202efdp.exe"),  # right-to-left override
    ("iso\u2066late\u2069 sep\u2028", "iso\\u2066late\\u2069 sep\\u2028"),
    ("café 名前", "café 名前"),
])  # fmt: skip
def test_controls_and_direction_characters_are_shown_escaped(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_the_daemons_log_values_are_escaped_the_same_way() -> None:
    assert _quote("evil\nINC-1") == '"evil\\nINC-1"'
    assert _quote("x\x1b]0;pwned\x07") == "x\\x1b]0;pwned\\x07"
    assert _quote('say "hi"') == '"say \\"hi\\""'
