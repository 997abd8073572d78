"""Reading rotated logs that were compressed (logrotate's `compress`, CloudTrail's `.json.gz`).

The format is told by the file's first bytes, not its name. Only what the standard library decompresses is
read (gzip, xz, bzip2); a zstd or lz4 file is reported as unreadable rather than parsed as garbage. Offsets and
fingerprints of a compressed file are those of its decompressed text, so a rotated file that was read while
plain has the same identity once compressed, and is not read twice."""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import zlib
from pathlib import Path
from typing import BinaryIO, Final

_MAGIC: Final = ((b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"BZh", "bzip2"))
# what a decompressing reader raises on a damaged or unfinished file (gzip still writing it)
DECOMPRESS_ERRORS: Final = (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile, OSError)
UNSUPPORTED_SUFFIXES: Final = (".zst", ".lz4", ".zip")
# what logrotate appends: a compression suffix, before it a number or a date (dateext)
_COMPRESSION_SUFFIX: Final = re.compile(r"\.(?:gz|xz|bz2|zst|lz4|zip)$")
_ROTATION_SUFFIX: Final = re.compile(r"[.-](?:\d{1,4}|\d{8}(?:\d{2})?|\d{4}-\d{2}-\d{2})$")


def rotated_from(name: str) -> list[str]:
    """The names a rotated file had before: 'pg.log.2.gz' -> ['pg.log.2', 'pg.log'] (most specific first)."""
    out = []
    for suffix in (_COMPRESSION_SUFFIX, _ROTATION_SUFFIX):
        shorter = suffix.sub("", name)
        if shorter != name:
            out.append(shorter)
            name = shorter
    return out


def compression_of(head: bytes) -> str | None:
    """'gzip', 'xz', 'bzip2' or None, from the first bytes of a file."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def open_decompressed(raw: BinaryIO, kind: str) -> BinaryIO:
    """A reader of the decompressed bytes of `raw` (an open binary file, positioned anywhere)."""
    raw.seek(0)
    if kind == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(raw, "rb")  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.BZ2File(raw, "rb")  # type: ignore[return-value]
    raise ValueError(f"unknown compression {kind!r}")


def open_log(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(`raw`, `text`): the file as opened, and what to read lines from (the same object for a plain file,
    a decompressing reader over it for a compressed one). The caller closes both."""
    raw = path.open("rb")
    try:
        kind = compression_of(raw.read(6))
        raw.seek(0)
    except OSError:
        raw.close()
        raise
    return raw, (raw if kind is None else open_decompressed(raw, kind))
