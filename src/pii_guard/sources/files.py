"""Reading log files as (offset, line) pairs, and identifying a file by its first line."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import accumulate, repeat
from operator import add
from typing import BinaryIO, NamedTuple

FINGERPRINT_BYTES = 1024
DEFAULT_MAX_LINE_BYTES = 1 << 20
_CHUNK = 1 << 20


class Line(NamedTuple):
    offset: int  # byte offset of the line's first byte
    text: str  # decoded (invalid UTF-8 kept as \\xNN escapes), without the line terminator
    length: int  # bytes consumed, terminator included
    overlong: bool  # longer than the limit: `text` holds only its beginning
    terminated: bool  # False for a last line without a newline


# Line from a ready (offset, text, length, overlong, terminated) tuple without NamedTuple's Python-level
# __new__: the reader builds one per line, and this halves what that costs.
_new_line: Callable[[tuple[int, str, int, bool, bool]], Line] = partial(tuple.__new__, Line)


def fingerprint_of(first_bytes: bytes) -> bytes:
    """Identity of a file: a digest of its first line (at most FINGERPRINT_BYTES). The first line of a log
    never changes once written, so the identity survives growth and renames, and a reused inode with new
    content gets a new identity."""
    head = first_bytes[:FINGERPRINT_BYTES]
    newline = head.find(b"\n")
    if newline >= 0:
        head = head[: newline + 1]
    return hashlib.blake2b(head, digest_size=16).digest()


def file_fingerprint(fh: BinaryIO) -> bytes:
    position = fh.tell()
    fh.seek(0)
    head = fh.read(FINGERPRINT_BYTES)
    fh.seek(position)
    return fingerprint_of(head)


def _decode(raw: bytes) -> str:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", "backslashreplace")


class LineBlock(NamedTuple):
    """Consecutive lines of a file, read together: what a loop over many lines takes instead of a `Line` each."""

    offset: int  # byte offset of the first line's first byte
    texts: list[str]  # each decoded as in `Line.text`
    lengths: list[int]  # bytes each line consumed, terminator included: line i starts at offset + sum(lengths[:i])
    overlong: bool  # all lines longer than the limit (a block of one such line)
    terminated: bool  # False only for a block of one last line without a newline


def _block(block: bytes, offset: int, max_line_bytes: int) -> Iterable[LineBlock]:
    """The lines of `block`, which starts at byte `offset` and ends with a newline, as one `LineBlock`, or one
    block per line when some line is overlong.

    The block is decoded in one call and split in text, and the lengths come from C-level arithmetic instead
    of a Python loop per line. Decoding the whole block gives the same text per line as decoding each line: a
    newline byte never belongs to a multi-byte sequence, so the UTF-8 decoder resynchronizes at it, and the
    `\\xNN` escapes of invalid bytes never contain a newline or a carriage return."""
    if block.isascii():  # one byte per character: text lengths are byte lengths, no split of the bytes
        texts = block.decode("ascii").split("\n")
        texts.pop()  # the empty string after the block's final newline
        sizes = list(map(len, texts))
        if max(sizes) >= max_line_bytes:  # with its newline, some line is longer than the limit
            return _slow_blocks(block, offset, max_line_bytes)
    else:
        raws = block.split(b"\n")
        raws.pop()
        sizes = list(map(len, raws))
        if max(sizes) >= max_line_bytes:
            return _slow_blocks(block, offset, max_line_bytes)
        texts = block.decode("utf-8", "backslashreplace").split("\n")
        texts.pop()
    if b"\r" in block:  # CRLF: drop the one \r before each \n
        texts = [text[:-1] if text.endswith("\r") else text for text in texts]
    return (LineBlock(offset, texts, list(map(add, sizes, repeat(1))), False, True),)  # +1: the newline


def _slow_blocks(block: bytes, offset: int, max_line_bytes: int) -> Iterable[LineBlock]:
    """Line by line, overlong lines cut to `max_line_bytes` before decoding."""
    pieces = block.split(b"\n")
    pieces.pop()
    for raw in pieces:
        length = len(raw) + 1
        yield LineBlock(offset, [_decode(raw[:max_line_bytes])], [length], length > max_line_bytes, True)
        offset += length


def overlong_reason(limit: int) -> str:
    """The dead letter's reason for a line longer than `max_line_bytes`: one text whichever command read it."""
    return f"line longer than {limit} bytes (max_line_bytes)"


def iter_blocks(
    fh: BinaryIO, start: int = 0, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, final: bool = True
) -> Iterator[LineBlock]:
    """The lines of `fh` from byte `start`, as `iter_lines` gives them, in blocks of up to a chunk (1 MiB).
    An overlong line and a last line without a newline each come as a block of their own.

    An overlong line comes once its newline is read, with its whole length: only its first `max_line_bytes`
    are kept meanwhile, so memory stays bounded. Without a newline before the end, it is left for the next
    read like any unfinished line, unless `final`: a reader that follows a growing file must not move on to a
    position inside a line (its next read would start mid-line, and the byte before its position would no
    longer be a line end, which is how a rewritten file is recognized)."""
    fh.seek(start)
    offset = start
    pending = b""
    cut: LineBlock | None = None  # an overlong line whose end is not read yet: its beginning and bytes so far
    while True:
        chunk = fh.read(_CHUNK)
        if not chunk:
            break
        data = pending + chunk if pending else chunk
        if cut is not None:  # the rest of an overlong line: counted up to its newline, not kept
            end = data.find(b"\n")
            if end < 0:
                cut.lengths[0] += len(data)
                pending = b""
                continue
            cut.lengths[0] += end + 1
            yield cut._replace(terminated=True)
            offset = cut.offset + cut.lengths[0]
            data = data[end + 1 :]
            cut = None
        newline = data.rfind(b"\n") + 1  # complete lines end here; the rest waits for the next chunk
        pending = data[newline:]
        if newline:
            block = data[:newline] if pending else data
            yield from _block(block, offset, max_line_bytes)
            offset += len(block)
        if len(pending) > max_line_bytes:
            cut = LineBlock(offset, [_decode(pending[:max_line_bytes])], [len(pending)], True, False)
            pending = b""
    if cut is not None:
        if final:
            yield cut
    elif pending and final:
        yield LineBlock(offset, [_decode(pending)], [len(pending)], len(pending) > max_line_bytes, False)


def iter_lines(
    fh: BinaryIO, start: int = 0, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, final: bool = True
) -> Iterator[Line]:
    """Yield the lines of `fh` from byte `start`. A line longer than `max_line_bytes` is yielded once, cut,
    with `overlong=True`, and memory stays bounded. A last line without a newline is yielded only when
    `final` (the file is complete); otherwise it is left for the next read."""
    for block in iter_blocks(fh, start, max_line_bytes, final):
        starts = accumulate(block.lengths, initial=block.offset)
        yield from map(_new_line, zip(starts, block.texts, block.lengths, repeat(block.overlong),
                                      repeat(block.terminated)))
