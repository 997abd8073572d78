"""Feeding a parser lines in tests, as the reader would (byte offsets, `finish` at the end of the input)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hypothesis import strategies as st

from pii_guard.model import AccessEvent
from pii_guard.parsers.base import Outcome, ParseFailure, Parser


def run(parser: Parser, lines: Iterable[str], flush: bool = True) -> list[Outcome]:
    out: list[Outcome] = []
    offset = 0
    for line in lines:
        out.extend(parser.feed(offset, line))
        offset += len(line.encode()) + 1
    if flush:
        out.extend(parser.finish())
    return out


def events(items: Iterable[Outcome]) -> list[AccessEvent]:
    """The events of `items`, asserting that none failed to parse."""
    found = list(items)
    assert not [i for i in found if isinstance(i, ParseFailure)]
    return [i for i in found if isinstance(i, AccessEvent)]


def garbled_lines(seeds: Sequence[str], max_seeds: int) -> st.SearchStrategy[list[str]]:
    """Up to `max_seeds` real lines, each cut, cut with junk appended, with junk inserted, or kept; then a
    couple of lines of pure junk."""

    @st.composite
    def lines(draw: st.DrawFn) -> list[str]:
        out = []
        for seed in draw(st.lists(st.sampled_from(list(seeds)), min_size=1, max_size=max_seeds)):
            at = draw(st.integers(0, len(seed)))
            junk = draw(st.text(max_size=12))
            out.append(draw(st.sampled_from([seed[:at], seed[:at] + junk + seed[at:], seed[:at] + junk, seed])))
        return out + draw(st.lists(st.text(max_size=60), max_size=2))

    return lines()
