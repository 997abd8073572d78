"""Replay: historical logs through the whole path (parse → enrich → detect → store), in event-time order
across files, resuming each file at its checkpoint so a second replay of the same logs counts nothing twice.

Sessions span files and runs as they do in the daemon: the rotations of one log (pg.log.2.gz, pg.log.1, pg.log)
are read oldest first, each starting with what the one before knew of open sessions (`Parser.carry_over`), and
a file resumed at its checkpoint gets back the parser state saved with it."""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from pii_guard.clock import Clock
from pii_guard.detection.engine import DetectionEngine
from pii_guard.enrich.enricher import Enricher
from pii_guard.errors import SourceError
from pii_guard.model import AccessEvent, EnrichedEvent, Match
from pii_guard.parsers.base import ParseFailure, Parser, SourceContext
from pii_guard.pipeline import FileSpec, RunStats, dead_letter
from pii_guard.sources.compressed import open_log
from pii_guard.sources.files import file_fingerprint, iter_lines, overlong_reason
from pii_guard.sources.series import log_family, mtime_of, rotation_series
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
        self._parsers: dict[str, Parser] = {}  # by fingerprint: the files being read, whose state is saved
        self._done: dict[str, Parser] = {}  # files read to their end since the last commit
        self._series: dict[str, Any] = {}  # `series:<format>:<log>` -> what the log's next rotation starts with
        engine.restore(state.load_windows(), state.load_engine(), state.load_buffer())

    def run(self, files: list[tuple[Path, FileSpec]]) -> ReplayResult:
        result = ReplayResult(RunStats())
        dead: list[DeadLetter] = []
        streams = [self._chain(series, result, dead) for series in rotation_series(files, lambda spec: spec.parser)]
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
        parser_states = {fp: st for fp, parser in (*self._done.items(), *self._parsers.items())
                         if (st := parser.snapshot()) is not None}
        parser_states.update(self._series)
        self._series.clear()
        self._done.clear()
        result.new_matches += self._state.commit(changes, matches, checkpoints.values(),
                                                 int(self._clock.now() * 1_000_000), parser_states)
        if self._on_match is not None:
            for match, _ in matches:
                self._on_match(match)
        dead.clear()

    def _chain(
        self, series: list[tuple[int, Path, FileSpec]], result: ReplayResult, dead: list[DeadLetter]
    ) -> Iterator[_Item]:
        """The files of one rotation series in turn, each parser starting with its predecessor's sessions; the
        first with what the last file of the series knew in an earlier run, unless that file is newer."""
        key = f"series:{series[0][2].parser.name}:{log_family(str(series[0][1].resolve()))}"
        carried = None
        saved = self._state.parser_state(key)
        if isinstance(saved, dict) and mtime_of(series[0][1]) >= saved.get("mtime", float("inf")):
            carried = saved.get("state")
        for n, (index, path, spec) in enumerate(series):
            last = n == len(series) - 1  # only the last file's open sessions end with the input
            carried = yield from self._stream(index, path, spec, result, dead, carried, last)
            self._series[key] = {"mtime": mtime_of(path), "state": carried}

    def _stream(
        self, index: int, path: Path, spec: FileSpec, result: ReplayResult, dead: list[DeadLetter],
        carried: Any = None, last: bool = True,
    ) -> Generator[_Item, None, Any]:  # returns what the next file of the series starts with
        try:
            raw, fh = open_log(path)
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror}") from None
        with raw, fh:
            fp = file_fingerprint(fh)
            fp_hex = fp.hex()
            result.sources.append(fp_hex)
            start = self._state.checkpoint(fp_hex)
            size = os.fstat(raw.fileno()).st_size
            result.skipped_bytes += min(start, size) if fh is raw else start
            context = SourceContext(fp, str(path), spec.host, spec.tz, os.fstat(raw.fileno()).st_mtime,
                                    spec.mask_literals)
            parser = spec.parser(context, spec.options)
            saved = self._state.parser_state(fp_hex) if start else None
            if saved is not None or (carried is not None and not start):
                parser.restore(saved if saved is not None else carried)
            self._parsers[fp_hex] = parser
            stats = result.stats
            since = stats.mark()
            seq = 0
            last_time = 0
            offset = start
            for line in iter_lines(fh, start, spec.max_line_bytes):
                stats.lines += 1
                offset = line.offset + line.length
                if line.overlong:
                    outcomes: tuple[AccessEvent | ParseFailure, ...] | list[AccessEvent | ParseFailure] = (
                        ParseFailure(line.offset, overlong_reason(spec.max_line_bytes), line.text),)
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
            for out in parser.finish() if last else parser.flush():
                if isinstance(out, ParseFailure):
                    stats.failures[out.reason] += 1
                    dead.append(dead_letter(parser, out, int(self._clock.now() * 1_000_000)))
                    continue
                stats.events += 1
                seq += 1
                last_time = out.time_us
                yield _Item(out.time_us, index, seq, out, Checkpoint(fp_hex, str(path), offset))
            stats.file_read(path, spec.parser, since)
            yield _Item(max(last_time, 0), index, seq + 1, None, Checkpoint(fp_hex, str(path), offset))
        # read to its end: its state after the end (saved with the next commit) is what a later run resumes with
        self._done[fp_hex] = self._parsers.pop(fp_hex, parser)
        return parser.carry_over()
