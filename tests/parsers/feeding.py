"""Feeding a parser lines in tests, as the reader would (byte offsets, a flush at the end)."""

from __future__ import annotations

from collections.abc import Iterable

from pii_guard.model import AccessEvent
from pii_guard.parsers.base import Outcome, ParseFailure, Parser


def run(parser: Parser, lines: Iterable[str], flush: bool = True) -> list[Outcome]:
    out: list[Outcome] = []
    offset = 0
    for line in lines:
        out.extend(parser.feed(offset, line))
        offset += len(line.encode()) + 1
    if flush:
        out.extend(parser.flush())
    return out


def events(items: Iterable[Outcome]) -> list[AccessEvent]:
    """The events of `items`, asserting that none failed to parse."""
    found = list(items)
    assert not [i for i in found if isinstance(i, ParseFailure)]
    return [i for i in found if isinstance(i, AccessEvent)]
