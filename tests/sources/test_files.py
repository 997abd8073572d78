from __future__ import annotations

import io

from pii_guard.sources.files import fingerprint_of, iter_lines


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
