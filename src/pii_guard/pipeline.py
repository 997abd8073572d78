"""The ingest path for whole files: read → parse → enrich → store in batches.

The daemon's tailing path (issue 4) feeds the same `Batcher`; this module owns what both share.
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel

from pii_guard.clock import Clock
from pii_guard.enrich.enricher import Enricher
from pii_guard.errors import SourceError
from pii_guard.model import AccessEvent, EnrichedEvent
from pii_guard.parsers.base import ParseFailure, Parser, SourceContext
from pii_guard.parsers.detect import head_lines
from pii_guard.parsers.sqlmask import SqlMasker
from pii_guard.sources.compressed import DECOMPRESS_ERRORS, open_log
from pii_guard.sources.files import file_fingerprint, iter_blocks, overlong_reason
from pii_guard.store.base import DeadLetter, EventStore, PipelinedEventStore, WriteResult
from pii_guard.unparsed import mask_unparsed


def dead_letter(parser: Parser, failure: ParseFailure, now_us: int) -> DeadLetter:
    """A record that did not parse, as kept in the dead-letter table: where it came from, why, and its text
    with quoted values and numbers masked (it may hold bind values or e-mails) but for its timestamps and IP
    addresses (`mask_unparsed`), unless masking is off."""
    ctx = parser.context
    # the MySQL dialect masks '…', "…" and numbers alike: whatever a line that did not parse may hide
    text = mask_unparsed(failure.text, SqlMasker("mysql")) if ctx.mask_literals else failure.text
    return DeadLetter(ctx.path, ctx.fingerprint.hex(), failure.offset, parser.name, failure.reason, text, now_us)


@dataclass
class RunStats:
    """What one ingest run did, for the summary and for tests."""

    files: int = 0
    lines: int = 0
    bytes_read: int = 0
    events: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    unterminated: list[str] = field(default_factory=list)
    hints: dict[str, None] = field(default_factory=dict)  # what files' formats saw passed over (`file_read`)

    def mark(self) -> int:
        """Lines so far, for `file_read`."""
        return self.lines

    def file_read(self, path: Path, parser: type[Parser], since: int) -> None:
        """One more file read; if it had lines (after `since`), what its format can tell of those it passed
        over (`Parser.unread_hint`: a PostgreSQL log with statement lines but no pgAudit line, say)."""
        self.files += 1
        if self.lines > since and parser.hints_unread:
            hint = parser.unread_hint(head_lines(path, max_bytes=1 << 16)[0])  # gone since: no head, no hint
            if hint is not None:
                self.hints[f"{path}: {hint}"] = None

    def warnings(self) -> list[str]:
        """What the end of a run says besides its counts: files that gave nothing, and the formats' hints."""
        return ([self.nothing_read_warning()] if self.nothing_read else []) + list(self.hints)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def nothing_read(self) -> bool:
        """Lines were read, and none gave an event or failed: the format skipped them all as no records of
        its own, which a wrong option (a log_line_prefix, a syslog ident, a full_audit prefix) also does."""
        return self.lines > 0 and self.events == 0 and not self.failures

    def nothing_read_warning(self) -> str:
        return (f"none of the {self.lines:,} lines gave an event, and none failed: the format skipped them all "
                "as no records of its own. If these files do hold accesses, the source's format or options do "
                "not match how the server writes them (a log_line_prefix, a syslog ident, a full_audit prefix): "
                "`pii-guard check` compares a source's files with its format")

    def add_write(self, result: WriteResult) -> None:
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.dead_letters += result.dead_letters


@dataclass(frozen=True)
class FileSpec:
    """How to read one file: its parser, options and context knobs."""

    parser: type[Parser]
    options: BaseModel
    tz: tzinfo | None = None
    host: str | None = None
    max_line_bytes: int = 1 << 20
    mask_literals: bool = True


class Batcher:
    """Collects enriched events and dead letters and hands them to the store a batch at a time.

    Whole files are read as fast as the disk allows, so a batch closes on size only (closing on time while
    reading a backlog made batches of ~1,000 events and spent a third of `ingest` in commits); the live
    loop, which waits for lines, also closes on time.

    A store that can commit in the background (`PipelinedEventStore`) gets each batch through `submit`, so it
    commits one batch while the next is parsed; `flush` waits until everything handed over is committed."""

    def __init__(self, store: EventStore | None, stats: RunStats, batch_size: int = 10_000) -> None:
        self._store = store
        self._stats = stats
        self._size = batch_size
        self._events: list[EnrichedEvent] = []
        self._dead: list[DeadLetter] = []
        self._pending: deque[Future[WriteResult]] = deque()

    def add(self, event: EnrichedEvent) -> None:
        self._events.append(event)
        if len(self._events) >= self._size:
            self._hand_over()

    def add_dead(self, dead: DeadLetter) -> None:
        self._dead.append(dead)

    def flush(self) -> None:
        """Store what is collected; return once everything handed over is committed."""
        self._hand_over()
        self._collect(wait=True)

    def _hand_over(self) -> None:
        store = self._store
        if store is not None and (self._events or self._dead):
            if isinstance(store, PipelinedEventStore):
                self._collect(wait=False)
                self._pending.append(store.submit(self._events, self._dead))
            else:
                self._stats.add_write(store.write(self._events, self._dead))
        self._events = []
        self._dead = []

    def _collect(self, wait: bool) -> None:
        """Count the committed batches, in order; raise the first failure once none is left in flight."""
        pending = self._pending
        while pending and (wait or pending[0].done()):
            try:
                self._stats.add_write(pending[0].result())
            except BaseException:
                for later in pending:
                    later.exception()  # wait: nothing is left writing behind the error
                pending.clear()
                raise
            pending.popleft()


class FileIngest:
    """Runs whole files through a parser and hands each event and failure on.

    `on_event` is usually `enrich → batch` (see `storing`); `parse` prints instead."""

    def __init__(
        self,
        on_event: Callable[[AccessEvent], object],
        on_dead: Callable[[DeadLetter], None],
        stats: RunStats,
        clock: Clock,
        on_file_done: Callable[[], None] | None = None,
    ) -> None:
        self._on_event = on_event
        self._on_dead = on_dead
        self._on_file_done = on_file_done
        self.stats = stats
        self._clock = clock

    @classmethod
    def storing(cls, enricher: Enricher, batcher: Batcher, stats: RunStats, clock: Clock) -> FileIngest:
        def on_event(event: AccessEvent) -> None:
            batcher.add(enricher(event))

        return cls(on_event, batcher.add_dead, stats, clock, batcher.flush)

    def run(
        self, path: Path, spec: FileSpec, progress: Callable[[int], None] | None = None, carried: Any = None,
        last: bool = True,
    ) -> Any:
        """Read one whole file. `carried` is what the rotation before it left (`Parser.carry_over`); the
        return value is what the next rotation of the same log starts with. `last`: no rotation follows, so
        what waits for lines (an sftp transfer never closed) is settled now; otherwise the next file has it."""
        try:
            raw, fh = open_log(path)
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror}") from None
        since = self.stats.mark()
        with raw, fh:
            try:
                fingerprint = file_fingerprint(fh)
                context = SourceContext(
                    fingerprint=fingerprint,
                    path=str(path),
                    host=spec.host,
                    tz=spec.tz,
                    reference_time=os.fstat(raw.fileno()).st_mtime,
                    mask_literals=spec.mask_literals,
                )
                parser = spec.parser(context, spec.options)
                if carried is not None:
                    parser.restore(carried)
                self._run_lines(parser, fh, spec, progress, fingerprint.hex())
            except BrokenPipeError:  # the reader of our output went away (`| head`): not the log's fault
                raise
            except DECOMPRESS_ERRORS as exc:
                if fh is raw:
                    raise SourceError(f"cannot read {path}: {exc}") from None
                # what was read before the damage is kept (and a rerun stores it once)
                raise SourceError(f"cannot decompress {path} past what was read: {exc}",
                                  hint="the archive is damaged or still being written") from None
            self._take(parser.finish() if last else parser.flush(), parser, fingerprint.hex())
        self.stats.file_read(path, spec.parser, since)
        if self._on_file_done is not None:
            self._on_file_done()
        return parser.carry_over()

    def _run_lines(
        self, parser: Parser, fh: BinaryIO, spec: FileSpec, progress: Callable[[int], None] | None, fp: str
    ) -> None:
        stats = self.stats
        feed = parser.feed
        take = self._take
        limit = spec.max_line_bytes
        done = 0
        for block in iter_blocks(fh, 0, limit):  # a loop over lists, not a `Line` per line
            offset = block.offset
            texts = block.texts
            lengths = block.lengths
            count = len(texts)
            if block.overlong:
                reason = overlong_reason(limit)
                for i in range(count):
                    take((ParseFailure(offset, reason, texts[i]),), parser, fp)
                    offset += lengths[i]
            else:
                if not block.terminated:
                    stats.unterminated.append(parser.context.path)
                for i in range(count):
                    out = feed(offset, texts[i])
                    if out:
                        take(out, parser, fp)
                    offset += lengths[i]
            stats.lines += count
            size = offset - block.offset
            stats.bytes_read += size
            if progress is not None:
                done += size
                if done >= 1 << 20:
                    progress(done)
                    done = 0
        if progress is not None and done:
            progress(done)

    def _take(self, outcomes: Sequence[AccessEvent | ParseFailure], parser: Parser, fp: str) -> None:
        for item in outcomes:
            if isinstance(item, ParseFailure):
                self.stats.failures[item.reason] += 1
                self._on_dead(dead_letter(parser, item, int(self._clock.now() * 1_000_000)))
            else:
                self.stats.events += 1
                self._on_event(item)
