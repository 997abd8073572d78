from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pii_guard.sources import files
from pii_guard.sources.files import Line, fingerprint_of, iter_lines


def lines_of(data: bytes, **kw: object) -> list[tuple[int, str, bool, bool]]:
    return [(ln.offset, ln.text, ln.overlong, ln.terminated) for ln in iter_lines(io.BytesIO(data), **kw)]  # type: ignore[arg-type]


def test_offsets_crlf_and_unterminated_last_line() -> None:
    assert lines_of(b"a\r\nbb\nccc") == [(0, "a", False, True), (3, "bb", False, True), (6, "ccc", False, False)]


def test_unterminated_last_line_held_back_when_not_final() -> None:
    assert lines_of(b"a\nbb", final=False) == [(0, "a", False, True)]


def test_overlong_line_is_cut_once_and_reading_goes_on() -> None:
    data = b"x" * 50 + b"\n" + b"ok\n"
    assert lines_of(data, max_line_bytes=10) == [(0, "x" * 10, True, True), (51, "ok", False, True)]


def test_overlong_line_spanning_chunks_is_bounded() -> None:
    big = b"y" * (3 << 20) + b"\nnext\n"
    got = lines_of(big, max_line_bytes=1000)
    assert got[0][:3] == (0, "y" * 1000, True)
    assert got[1] == ((3 << 20) + 1, "next", False, True)
    assert len(got) == 2


def test_invalid_utf8_is_kept_escaped() -> None:
    assert lines_of(b"caf\xe9\n")[0][1] == "caf\\xe9"


def test_fingerprint_is_the_first_line_only() -> None:
    assert fingerprint_of(b"first\nsecond") == fingerprint_of(b"first\nother and longer")
    assert fingerprint_of(b"first\n") != fingerprint_of(b"First\n")


def reference_lines(
    data: bytes, start: int, max_line_bytes: int, final: bool
) -> list[tuple[int, str, int, bool, bool]]:
    """What iter_lines must yield, computed the slow and obvious way: one line at a time, each with its whole
    length. An unterminated tail waits for its newline unless `final`, however long it is."""
    out = []
    offset = start
    rest = data[start:]
    while rest:
        newline = rest.find(b"\n")
        terminated = newline >= 0
        length = newline + 1 if terminated else len(rest)
        overlong = length > max_line_bytes
        if not terminated and not final:
            break
        raw = rest[:max_line_bytes] if overlong else rest[: length - 1 if terminated else length]
        text = raw.removesuffix(b"\r").decode("utf-8", "backslashreplace")
        out.append((offset, text, length, overlong, terminated))
        offset += length
        rest = rest[length:]
    return out


_PIECES = [
    b"a",
    b"bc ",
    b"\n",
    b"\r",
    b"\r\n",
    b"\n\n",
    b"\xe9",
    b"\xc3\xa9",
    b"\xe2\x82\xac",
    b"\xe2\x82",
    b"\xff",
    b"\x00",
]


def read_all(
    data: bytes, chunk: int, start: int = 0, max_line_bytes: int = 1 << 20, final: bool = True
) -> list[tuple[int, str, int, bool, bool]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(files, "_CHUNK", chunk)
        lines = iter_lines(io.BytesIO(data), start, max_line_bytes, final)
        return [(ln.offset, ln.text, ln.length, ln.overlong, ln.terminated) for ln in lines]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.sampled_from([1, 2, 3, 7, 64]), st.booleans(),
       st.integers(min_value=0, max_value=10))  # fmt: skip
def test_small_reads_yield_what_one_line_at_a_time_yields(
    pieces: list[bytes], chunk: int, final: bool, start: int
) -> None:
    """Reads that cut lines, CRLFs and UTF-8 sequences anywhere, and whole-chunk decoding (the fast path),
    yield what decoding each line on its own yields: text, exact byte offsets, lengths, flags."""
    data = b"".join(pieces)
    start = min(start, len(data))
    assert read_all(data, chunk, start, final=final) == reference_lines(data, start, 1 << 20, final)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*_PIECES, b"x" * 9]), max_size=30), st.sampled_from([1, 2, 5, 12]), st.booleans(),
       st.sampled_from([1, 2, 3, 7, 1 << 20]))  # fmt: skip
def test_overlong_lines_in_any_reads(pieces: list[bytes], max_line_bytes: int, final: bool, chunk: int) -> None:
    """Overlong lines cut to the limit, with their whole length, whether their end is in the same read or
    several reads later."""
    data = b"".join(pieces)
    assert read_all(data, chunk, 0, max_line_bytes, final) == reference_lines(data, 0, max_line_bytes, final)


def test_fast_path_offsets_are_byte_offsets() -> None:
    data = "é\r\nascii\n\u20ac\xff\n".encode() + b"caf\xe9\r\n" + b"x\n"
    assert lines_of(data) == [
        (0, "é", False, True),
        (4, "ascii", False, True),
        (10, "\u20ac\xff", False, True),
        (16, "caf\\xe9", False, True),
        (22, "x", False, True),
    ]
    assert [ln.length for ln in iter_lines(io.BytesIO(data))] == [4, 6, 6, 6, 2]


def test_an_overlong_line_among_short_ones_in_one_chunk() -> None:
    data = b"a\r\n" + b"z" * 30 + b"\r\n" + "é\n".encode()
    assert lines_of(data, max_line_bytes=8) == [(0, "a", False, True), (3, "z" * 8, True, True), (35, "é", False, True)]


def test_yielded_lines_are_line_tuples() -> None:
    (line,) = iter_lines(io.BytesIO(b"x\n"))
    assert isinstance(line, Line)
    assert (line.offset, line.text, line.length, line.overlong, line.terminated) == (0, "x", 2, False, True)
    assert line._replace(offset=5).offset == 5
