"""Replay: historical logs through the whole path (parse → enrich → detect → store), in event-time order
across files, resuming each file at its checkpoint so a second replay of the same logs counts nothing twice."""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from pii_guard.clock import Clock
from pii_guard.detection.engine import DetectionEngine
from pii_guard.enrich.enricher import Enricher
from pii_guard.errors import SourceError
from pii_guard.model import AccessEvent, EnrichedEvent, Match
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.pipeline import FileSpec, RunStats, dead_letter
from pii_guard.sources.files import file_fingerprint, iter_lines
from pii_guard.store.base import DeadLetter, EventStore
from pii_guard.store.state import Checkpoint, StateStore


class _Item(NamedTuple):
    time_us: int
    order: int  # file index, then sequence: ties keep file order
    seq: int
    event: AccessEvent | None  # None: end of file
    checkpoint: Checkpoint


@dataclass
class ReplayResult:
    stats: RunStats
    sources: list[str] = field(default_factory=list)  # fingerprints of the files replayed
    new_matches: int = 0
    skipped_bytes: int = 0  # already processed in an earlier run


class Replayer:
    def __init__(
        self,
        enricher: Enricher,
        engine: DetectionEngine,
        events: EventStore,
        state: StateStore,
        clock: Clock,
        batch_size: int = 10_000,
        on_match: Callable[[Match], None] | None = None,
    ) -> None:
        self._enrich = enricher
        self._engine = engine
        self._events = events
        self._state = state
        self._clock = clock
        self._batch_size = batch_size
        self._on_match = on_match
        engine.restore(state.load_windows(), state.load_engine(), state.load_buffer())

    def run(self, files: list[tuple[Path, FileSpec]]) -> ReplayResult:
        result = ReplayResult(RunStats())
        dead: list[DeadLetter] = []
        streams = [self._stream(i, path, spec, result, dead) for i, (path, spec) in enumerate(files)]
        batch: list[EnrichedEvent] = []
        matches: list[tuple[Match, str]] = []
        checkpoints: dict[str, Checkpoint] = {}
        for item in heapq.merge(*streams):
            checkpoints[item.checkpoint.fingerprint] = item.checkpoint
            if item.event is None:
                continue
            enriched = self._enrich(item.event)
            batch.append(enriched)
            found = self._engine.process(enriched, item.checkpoint.fingerprint)
            if found:
                matches.extend(found)
            if len(batch) >= self._batch_size:
                self._commit(batch, dead, matches, checkpoints, result)
                batch, dead, matches, checkpoints = [], [], [], {}
        matches.extend(self._engine.drain())
        self._commit(batch, dead, matches, checkpoints, result)
        return result

    def _commit(
        self,
        batch: list[EnrichedEvent],
        dead: list[DeadLetter],
        matches: list[tuple[Match, str]],
        checkpoints: dict[str, Checkpoint],
        result: ReplayResult,
    ) -> None:
        """Events first (idempotent), then one state transaction with windows, matches and checkpoints."""
        result.stats.add_write(self._events.write(batch, dead))
        changes = self._engine.take_changes()
        result.new_matches += self._state.commit(changes, matches, checkpoints.values(),
                                                 int(self._clock.now() * 1_000_000))
        if self._on_match is not None:
            for match, _ in matches:
                self._on_match(match)
        dead.clear()

    def _stream(
        self, index: int, path: Path, spec: FileSpec, result: ReplayResult, dead: list[DeadLetter]
    ) -> Iterator[_Item]:
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror}") from None
        with fh:
            fp = file_fingerprint(fh)
            fp_hex = fp.hex()
            result.sources.append(fp_hex)
            start = self._state.checkpoint(fp_hex)
            size = os.fstat(fh.fileno()).st_size
            result.skipped_bytes += min(start, size)
            context = SourceContext(fp, str(path), spec.host, spec.tz, os.fstat(fh.fileno()).st_mtime,
                                    spec.mask_literals)
            parser = spec.parser(context, spec.options)
            stats = result.stats
            seq = 0
            last_time = 0
            offset = start
            for line in iter_lines(fh, start, spec.max_line_bytes):
                stats.lines += 1
                offset = line.offset + line.length
                if line.overlong:
                    outcomes: tuple[AccessEvent | ParseFailure, ...] | list[AccessEvent | ParseFailure] = (
                        ParseFailure(line.offset, f"line longer than {spec.max_line_bytes} bytes", line.text),)
                else:
                    outcomes = list(parser.feed(line.offset, line.text))
                pending = parser.pending_offset()
                safe = pending if pending is not None else offset
                for out in outcomes:
                    if isinstance(out, ParseFailure):
                        stats.failures[out.reason] += 1
                        dead.append(dead_letter(parser, out, int(self._clock.now() * 1_000_000)))
                        continue
                    stats.events += 1
                    seq += 1
                    last_time = out.time_us
                    yield _Item(out.time_us, index, seq, out, Checkpoint(fp_hex, str(path), safe))
            for out in parser.finish():
                if isinstance(out, ParseFailure):
                    stats.failures[out.reason] += 1
                    dead.append(dead_letter(parser, out, int(self._clock.now() * 1_000_000)))
                    continue
                stats.events += 1
                seq += 1
                last_time = out.time_us
                yield _Item(out.time_us, index, seq, out, Checkpoint(fp_hex, str(path), offset))
            stats.files += 1
            yield _Item(max(last_time, 0), index, seq + 1, None, Checkpoint(fp_hex, str(path), offset))
