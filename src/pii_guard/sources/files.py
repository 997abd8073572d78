"""Reading log files as (offset, line) pairs, and identifying a file by its first line."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
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


def iter_lines(
    fh: BinaryIO, start: int = 0, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, final: bool = True
) -> Iterator[Line]:
    """Yield the lines of `fh` from byte `start`. A line longer than `max_line_bytes` is yielded once, cut,
    with `overlong=True`, and memory stays bounded. A last line without a newline is yielded only when
    `final` (the file is complete); otherwise it is left for the next read."""
    fh.seek(start)
    offset = start
    pending = b""
    skipping = False  # inside an overlong line whose beginning was already yielded
    while True:
        chunk = fh.read(_CHUNK)
        if not chunk:
            break
        data = pending + chunk if pending else chunk
        pieces = data.split(b"\n")
        pending = pieces.pop()
        for raw in pieces:
            length = len(raw) + 1
            if skipping:
                skipping = False
                offset += length
                continue
            if length > max_line_bytes:
                yield Line(offset, _decode(raw[:max_line_bytes]), length, True, True)
            else:
                yield Line(offset, _decode(raw), length, False, True)
            offset += length
        if len(pending) > max_line_bytes:
            if not skipping:
                yield Line(offset, _decode(pending[:max_line_bytes]), len(pending), True, False)
                skipping = True
            offset += len(pending)
            pending = b""
    if pending and final and not skipping:
        yield Line(offset, _decode(pending), len(pending), len(pending) > max_line_bytes, False)
