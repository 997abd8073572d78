"""Following live log files: globs, rename rotation, copytruncate, deletion while open, inode reuse.

A file's identity is the fingerprint of its first line, never the inode alone (inodes are reused). The tailer
only reads bytes and says where they came from; checkpoints are committed by the caller after the events of
those bytes are stored, and `position` is where reading resumes after a restart.

The file system is polled (`poll`), and watchdog only shortens the wait between polls: inotify drops and
merges events, so it is a wake-up signal, never the source of truth.

Compressed rotations (`include_compressed`) are read once, whole, through a decompressing reader: their
identity and offsets are those of the decompressed text, so a rotation read while plain is not read again once
compressed. A compressed file that cannot be decompressed to its end (gzip still writing it, or damaged) is
read up to there and tried again when its size changes.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from pii_guard.sources.compressed import DECOMPRESS_ERRORS, UNSUPPORTED_SUFFIXES, compression_of, open_decompressed
from pii_guard.sources.files import FINGERPRINT_BYTES, Line, LineBlock, fingerprint_of, iter_blocks, iter_lines

COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip")
# A file whose path now names another file (rotated away or deleted) is kept open this long after its last
# growth, so a writer still holding it can finish its last lines.
ROTATED_GRACE_S = 5.0


@dataclass
class TrackedFile:
    """One open file being followed."""

    path: str
    fh: BinaryIO
    dev: int
    ino: int
    fingerprint: bytes
    offset: int  # next byte to read
    first_line: bytes  # what the fingerprint was made of, to recognise a rewrite
    detached_at: float | None = None  # monotonic time the path stopped naming this file
    last_growth: float = 0.0
    size: int = 0
    raw: BinaryIO | None = None  # a compressed file: the file itself (`fh` decompresses it)
    lines: Iterator[Line] | None = None  # a compressed file: the reader, kept between reads (no re-seeking)
    done: bool = False  # a compressed file read to its end
    key: str = field(init=False)  # the fingerprint in hex: the file's name in checkpoints and parser state

    def __post_init__(self) -> None:
        self.key = self.fingerprint.hex()


@dataclass
class TailEvent:
    """Something that happened to a file, for the log and the metrics."""

    kind: str  # opened, rotated, truncated, closed, skipped
    path: str
    detail: str = ""


@dataclass
class GlobTailer:
    """Follows every file matching one glob."""

    pattern: str
    start_at: str = "beginning"  # for files with no checkpoint when first seen at start-up
    include_compressed: bool = False
    max_line_bytes: int = 1 << 20
    files: dict[str, TrackedFile] = field(default_factory=dict)  # by fingerprint hex
    events: list[TailEvent] = field(default_factory=list)
    _started: bool = False
    _unidentified: dict[str, float] = field(default_factory=dict)  # path -> when seen without a full first line
    # compressed files read to the end, or that failed to decompress: (dev, ino) -> (size, mtime) then
    _finished: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    _refused: set[str] = field(default_factory=set)  # compressed paths of a kind that cannot be read (said once)

    def scan(self, checkpoint: Callable[[str], int | None], now: float) -> None:
        """Find new files (and new files under old names), detect truncation and rotation."""
        by_inode = {(t.dev, t.ino): t for t in self.files.values()}
        seen_paths: set[str] = set()
        finished = {}
        for path in sorted(glob.glob(self.pattern)):
            if path.endswith(COMPRESSED) and (not self.include_compressed or self._refuse(path)):
                continue
            try:
                st = os.stat(path)
            except OSError:
                continue
            seen_paths.add(path)
            inode, stamp = (st.st_dev, st.st_ino), (st.st_size, st.st_mtime_ns)
            if self._finished.get(inode) == stamp:
                finished[inode] = stamp
                continue
            tracked = by_inode.get((st.st_dev, st.st_ino))
            if tracked is not None:
                if tracked.path != path:
                    self.events.append(TailEvent("rotated", tracked.path, f"renamed to {path}"))
                    tracked.path = path
                self._check_truncation(tracked)
                continue
            self._open(path, checkpoint, now)
        self._finished = finished  # forget files that are gone
        for tracked in self.files.values():
            if tracked.detached_at is None and tracked.path not in seen_paths:
                tracked.detached_at = now
            elif tracked.detached_at is None:
                try:
                    st = os.stat(tracked.path)
                    if (st.st_dev, st.st_ino) != (tracked.dev, tracked.ino):
                        tracked.detached_at = now
                except OSError:
                    tracked.detached_at = now
        self._started = True

    def _refuse(self, path: str) -> bool:
        """A compressed file of a kind the standard library cannot read: said once, then passed over."""
        if not path.endswith(UNSUPPORTED_SUFFIXES):
            return False
        if path not in self._refused:
            self._refused.add(path)
            self.events.append(TailEvent("skipped", path, "zstd, lz4 and zip files cannot be read: decompress "
                                         "them, or rotate with gzip, xz or bzip2"))
        return True

    def _open(self, path: str, checkpoint: Callable[[str], int | None], now: float) -> None:
        try:
            fh: BinaryIO = open(path, "rb")  # noqa: SIM115 - kept open while the file is followed
            head = fh.read(FINGERPRINT_BYTES)
        except OSError as exc:
            self.events.append(TailEvent("skipped", path, exc.strerror or str(exc)))
            return
        raw = None
        kind = compression_of(head) if self.include_compressed else None
        if kind is not None:
            raw, fh = fh, open_decompressed(fh, kind)
            try:
                head = fh.read(FINGERPRINT_BYTES)
            except DECOMPRESS_ERRORS:
                head = b""  # not even its first line decompresses yet
        newline = head.find(b"\n")
        if newline < 0 and len(head) < FINGERPRINT_BYTES:
            fh.close()  # the first line is not complete yet: its identity is not known
            if raw is not None:
                raw.close()
            self._unidentified.setdefault(path, now)
            return
        self._unidentified.pop(path, None)
        first = head[: newline + 1] if newline >= 0 else head
        fp = fingerprint_of(head)
        st = os.fstat((raw or fh).fileno())
        if fp.hex() in self.files:
            fh.close()  # the same content under a second name (a copy, a compressed rotation): read once
            if raw is not None:
                raw.close()
            return
        stored = checkpoint(fp.hex())
        if stored is not None:
            offset = stored
        elif not self._started and self.start_at == "end" and raw is None:
            offset = _last_line_end(fh, st.st_size)
        else:
            offset = 0
        tracked = TrackedFile(path, fh, st.st_dev, st.st_ino, fp, offset, first, None, now, st.st_size, raw)
        self.files[fp.hex()] = tracked
        self.events.append(TailEvent("opened", path, f"at offset {offset}"))

    def _check_truncation(self, tracked: TrackedFile) -> None:
        """copytruncate: the file shrank, or was rewritten (its first line changed, or the byte before our
        position is no longer a line end), even to the same size."""
        if tracked.raw is not None:
            return  # compressed: written once, never appended to
        try:
            st = os.fstat(tracked.fh.fileno())
        except OSError:
            return
        tracked.size = st.st_size
        # the first line was complete when the file was identified, so a file now shorter than it, or starting
        # with another line, is another file under the same inode, even if nothing of it was read yet
        rewritten = st.st_size < max(tracked.offset, len(tracked.first_line))
        if not rewritten:
            head = os.pread(tracked.fh.fileno(), len(tracked.first_line), 0)
            rewritten = head != tracked.first_line
        if not rewritten and tracked.offset > 0:
            before = os.pread(tracked.fh.fileno(), 1, tracked.offset - 1)
            rewritten = before not in (b"\n", b"")
        if rewritten:
            del self.files[tracked.key]
            self.events.append(TailEvent("truncated", tracked.path, f"was at {tracked.offset}, size {st.st_size}"))
            tracked.fh.close()

    def read(self, budget: int) -> Iterator[tuple[TrackedFile, Line]]:
        """Complete lines from every file, at most about `budget` lines in all (backpressure): `read_blocks`
        line by line, each file's offset moved past a line as it is yielded."""
        for tracked, block in self.read_blocks(budget):
            offset = block.offset
            texts, lengths = block.texts, block.lengths
            for i in range(len(texts)):
                length = lengths[i]
                tracked.offset = offset + length
                yield tracked, Line(offset, texts[i], length, block.overlong, block.terminated)
                offset += length

    def read_blocks(self, budget: int) -> Iterator[tuple[TrackedFile, LineBlock]]:
        """Complete lines from every file, in blocks, at most `budget` lines in all (backpressure). The caller
        moves `tracked.offset` past each line as it takes it, so the offset never runs ahead of what was taken.

        Files are read oldest-modified first, so the rest of a rotated file (older lines) comes before the new
        file's lines and event time stays in order across a rotation. A file whose size changed since it was
        last looked at is checked for truncation first: a file truncated and rewritten past our position
        between two scans must not be read on from the old offset."""
        ready: list[tuple[int, TrackedFile]] = []
        for tracked in list(self.files.values()):
            try:
                st = os.fstat((tracked.raw or tracked.fh).fileno())
            except OSError:
                continue
            if tracked.raw is not None:
                if not tracked.done:
                    ready.append((st.st_mtime_ns, tracked))
                continue
            if st.st_size == tracked.offset and st.st_size == tracked.size:
                continue
            if st.st_size != tracked.size or tracked.offset == 0:  # nothing read yet: is it still that file?
                self._check_truncation(tracked)
                if tracked.key not in self.files:
                    continue
            ready.append((st.st_mtime_ns, tracked))
        ready.sort(key=lambda item: item[0])
        for _, tracked in ready:
            if budget <= 0:
                return
            if tracked.raw is not None:
                for line in self._read_compressed(tracked, budget):
                    yield tracked, LineBlock(line.offset, [line.text], [line.length], line.overlong, line.terminated)
                    budget -= 1
                continue
            for block in iter_blocks(tracked.fh, tracked.offset, self.max_line_bytes, final=False):
                count = len(block.texts)
                if count > budget:  # the rest is read again next time, from where the caller's offset is
                    block = LineBlock(block.offset, block.texts[:budget], block.lengths[:budget], block.overlong,
                                      block.terminated)  # fmt: skip
                    count = budget
                yield tracked, block
                budget -= count
                if budget <= 0:
                    return

    def _read_compressed(self, tracked: TrackedFile, budget: int) -> Iterator[Line]:
        """Up to `budget` lines of a compressed file, its last line too (the file is complete); `done` at its
        end, or where it stops decompressing (retried once the file changes). The file's size is the end of
        the last line handed out (its offset is the caller's to move)."""
        if tracked.lines is None:
            tracked.lines = iter_lines(tracked.fh, tracked.offset, self.max_line_bytes, final=True)
        while budget > 0:
            try:
                line = next(tracked.lines)
            except StopIteration:
                tracked.done = True
                return
            except DECOMPRESS_ERRORS as exc:
                tracked.done = True
                self.events.append(TailEvent("skipped", tracked.path, f"decompressed up to offset {tracked.offset}, "
                                             f"then: {exc}; read on when the file changes"))
                return
            tracked.size = line.offset + line.length
            budget -= 1
            yield line

    def close_finished(self, now: float) -> list[TrackedFile]:
        """Close files that were rotated away or deleted, once read to the end and quiet for a while, and
        compressed files once read."""
        done = []
        for key, tracked in list(self.files.items()):
            if tracked.raw is not None:
                if tracked.done:
                    st = os.fstat(tracked.raw.fileno())
                    self._finished[(tracked.dev, tracked.ino)] = (st.st_size, st.st_mtime_ns)
                    self._close(tracked)
                    del self.files[key]
                    self.events.append(TailEvent("closed", tracked.path, f"decompressed and read ({tracked.offset} "
                                                 "bytes)"))
                    done.append(tracked)
                continue
            if tracked.detached_at is None:
                continue
            size = os.fstat(tracked.fh.fileno()).st_size
            if size > tracked.size:
                tracked.size = size
                tracked.last_growth = now
            if tracked.offset >= size and now - max(tracked.detached_at, tracked.last_growth) >= ROTATED_GRACE_S:
                tracked.fh.close()
                del self.files[key]
                self.events.append(TailEvent("closed", tracked.path, f"read to the end ({tracked.offset} bytes)"))
                done.append(tracked)
        return done

    def close(self) -> None:
        for tracked in self.files.values():
            self._close(tracked)
        self.files.clear()

    @staticmethod
    def _close(tracked: TrackedFile) -> None:
        tracked.fh.close()
        if tracked.raw is not None:
            tracked.raw.close()


def rotations_beside(path: str) -> list[str]:
    """For a source that names one file (no glob): its rotations in the same directory (`server_audit.log.1`,
    `postgresql.log.2.gz`, `access.log-20261130`), which a tailer of that one name reads only if it had
    the file open when it was renamed."""
    if glob.has_magic(path):
        return []
    base = glob.escape(path)
    return sorted({*glob.glob(base + ".*"), *glob.glob(base + "-*")})


def _last_line_end(fh: BinaryIO, size: int) -> int:
    """The offset just after the last complete line (start reading at the end without a partial line)."""
    if size == 0:
        return 0
    chunk = min(size, 1 << 16)
    data = os.pread(fh.fileno(), chunk, size - chunk)
    newline = data.rfind(b"\n")
    return size - chunk + newline + 1 if newline >= 0 else 0
