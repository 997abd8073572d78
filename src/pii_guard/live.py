"""The live path: tail the configured sources, parse, enrich, detect, and commit in batches that close on
size or time. Commit order per batch: events first (idempotent), then one state transaction with windows,
the reorder buffer, matches, parser state and checkpoints. A crash anywhere replays from the last checkpoint
and gives the same result."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from mypy_extensions import mypyc_attr

from pii_guard.clock import Clock
from pii_guard.config.load import SourcePlan
from pii_guard.detection.engine import DetectionEngine, EngineChanges
from pii_guard.enrich.enricher import Enricher
from pii_guard.errors import StoreError
from pii_guard.model import EnrichedEvent, Match
from pii_guard.parsers.base import Elapsing, ParseFailure, Parser, SourceContext
from pii_guard.pipeline import dead_letter
from pii_guard.sigma.silence import SilentSources
from pii_guard.sources.files import overlong_reason
from pii_guard.sources.series import log_family
from pii_guard.sources.tail import GlobTailer, TrackedFile, rotations_beside
from pii_guard.store.base import DeadLetter, EventStore, PipelinedEventStore, WriteResult
from pii_guard.store.state import Checkpoint, StateStore

log = logging.getLogger("pii_guard.live")
_SILENT_STATE = "silent_sources"  # the silent-source watch's state, saved with the engine's
_ELAPSE_EVERY_S = 60.0  # how often a carried-over state no file has taken is moved on in time


@mypyc_attr(allow_interpreted_subclasses=True)  # compiled (setup.py): metrics.PrometheusMetrics extends it
class Metrics:
    """What the loop reports; the daemon binds it to Prometheus. The no-op default keeps tests light."""

    def lines(self, source: str, n: int) -> None: ...
    def parsed(self, source: str, n: int) -> None: ...
    def failed(self, source: str, n: int) -> None: ...
    def stored(self, source: str, n: int) -> None: ...
    def matched(self, rule: str) -> None: ...
    def batch_seconds(self, seconds: float) -> None: ...
    def file_lag(self, path: str, lag_bytes: int, lag_seconds: float) -> None: ...
    def store_full(self, paused: bool) -> None: ...


@dataclass
class _Source:
    plan: SourcePlan
    name: str
    tailer: GlobTailer
    parsers: dict[str, Parser] = field(default_factory=dict)  # by file fingerprint
    last_event_us: dict[str, int] = field(default_factory=dict)
    last_read: dict[str, float] = field(default_factory=dict)  # monotonic time of the last line, by file
    # Rotation hands the join state (sessions by pid ...) of a path's old file to its new file: a backend or
    # an sftp session opened before logrotate goes on writing into the new file.
    fresh: set[str] = field(default_factory=set)  # files whose parser has no saved state and read nothing yet
    inherited: dict[str, Any] = field(default_factory=dict)  # log family -> carry-over of its last retired parser
    inherited_changed: set[str] = field(default_factory=set)  # families to save (or delete) with the next commit
    inherited_since: dict[str, float] = field(default_factory=dict)  # family -> monotonic time its state last moved on


@dataclass
class _Batch:
    events: list[EnrichedEvent] = field(default_factory=list)
    stored: Counter[str] = field(default_factory=Counter)  # events per source name, for metrics
    dead: list[DeadLetter] = field(default_factory=list)
    matches: list[tuple[Match, str]] = field(default_factory=list)
    opened: float | None = None  # monotonic time the first item arrived

    def __bool__(self) -> bool:
        return bool(self.events or self.dead or self.matches)


@dataclass
class _Sealed:
    """A closed batch with everything its state transaction needs, taken when it closed: the engine's changes,
    the checkpoints and the parser states of that moment (reading goes on meanwhile)."""

    batch: _Batch
    changes: EngineChanges
    checkpoints: list[Checkpoint]
    parser_states: dict[str, Any]
    sealed_at: float  # perf_counter, for the batch latency metric
    future: Future[WriteResult] | None = None  # the events' commit in the store's writer thread
    events_done: bool = False  # the events are committed; only the state transaction is left


class LiveLoop:
    def __init__(
        self,
        plans: Sequence[SourcePlan],
        enricher: Enricher,
        engine: DetectionEngine,
        events: EventStore,
        state: StateStore,
        clock: Clock,
        *,
        resolve: Callable[[str], str],
        mask_literals: bool = True,
        batch_size: int = 10_000,
        batch_ms: int = 20,
        rescan_s: float = 1.0,
        metrics: Metrics | None = None,
        on_match: Callable[[Sequence[Match]], None] | None = None,  # the matches of each committed batch
        wake: Callable[[], None] | None = None,  # called from the store's thread when a batch's events are in
    ) -> None:
        self.enricher = enricher
        self.engine = engine
        self._events = events
        self._state = state
        self._clock = clock
        self._mask = mask_literals
        self._batch_size = batch_size
        self._batch_s = batch_ms / 1000.0
        self._rescan_s = rescan_s
        self.metrics = metrics or Metrics()
        self._on_match = on_match
        self._wake = wake
        self._batch = _Batch()
        self._sealed: _Sealed | None = None  # closed, its events handed to the store, its state not yet saved
        self._counts: Counter[tuple[str, str]] = Counter()
        self._fed: set[str] = set()  # files whose parser read lines since the last commit
        self._last_scan = -1e9
        self._last_arrival = clock.monotonic()
        self.paused_since: float | None = None  # the store refused a write (disk full ...): reading waits
        # the last step read all there was (fewer lines than its budget): another one now would find nothing
        # new unless a write came since, and a write wakes the daemon; so it may sleep (`next_wait`) at once
        self.drained = True
        self.sources = [
            _Source(plan, plan.config.name or plan.config.path,
                    GlobTailer(resolve(plan.config.path), plan.config.start_at, plan.config.include_compressed,
                               plan.config.max_line_bytes))
            for plan in plans
        ]
        for source in self.sources:
            rotations = rotations_beside(source.tailer.pattern)
            if rotations:  # what `check` says too: a rotation renamed again before it was opened is never read
                log.warning("source %s follows one file, but %d rotation(s) of it lie beside it: a rotation renamed "
                            "again before it was opened is never read; follow them too with a glob (path: '%s*')",
                            source.name, len(rotations), source.plan.config.path,
                            extra={"source": source.name, "rotations": len(rotations)})  # fmt: skip
        for source in self.sources:  # handed over by a file retired before the last stop, its successor not seen yet
            source.inherited.update(state.parser_states_under(_inherited_key(source.name, "")))
            source.inherited_since.update(dict.fromkeys(source.inherited, clock.monotonic()))
        saved = state.load_engine()
        engine.restore(state.load_windows(), saved, state.load_buffer())
        # switched-off auditing looks like silence: sources with `expect_every` raise a match when quiet too long
        self._silent = SilentSources.from_sources({s.name: s.plan.config.expect_every for s in self.sources}, clock)
        self._silent.restore(saved.get(_SILENT_STATE) or {})
        self._wrote: set[str] = set()  # sources that read lines in this step

    # -- one turn of the loop ------------------------------------------------------------------------------

    def step(self) -> int:
        """Scan if due, read what is there (bounded), commit if due. Returns the number of lines read."""
        now = self._clock.monotonic()
        self.drained = True
        if self.paused_since is not None:
            self._try_commit(now)
            return 0
        self._settle(now, block=False)
        if now - self._last_scan >= self._rescan_s:
            self.scan(now)
        read = 0
        budget = self._batch_size
        for source in self.sources:
            read += self._read_source(source, budget - read)
            if read >= budget:
                break
        self.drained = read < budget
        for name in self._wrote:
            self._silent.wrote(name)
        self._wrote.clear()
        if self._silent.expect:
            self._collect([(m, m.object or "") for m in self._silent.check()])
        for source in self.sources:
            for done in source.tailer.close_finished(now):
                self._finish_file(source, done)
            self._flush_idle(source, now)
        if read:
            self._last_arrival = now
        elif self.engine.pending:
            idle_us = int((now - self._last_arrival) * 1_000_000)
            self._collect(self.engine.advance(self.engine.newest_us - self.engine.lateness_us + idle_us))
        # A batch closes when full, when `batch_ms` old, or at once when it holds a match (a match never waits
        # for events to accumulate). A quiet log alone does not close it: the loop sleeps until it is due
        # (`next_wait`), so a slow trickle of lines is not one transaction every few lines. A closed batch's
        # events are committed by the store's writer thread while the next batch is read; its state
        # transaction follows once they are in (`_settle`). One batch at most is in flight: while it is, the
        # next one goes on filling unless it is full (then reading waits: backpressure), so under load the
        # batches grow to what a commit takes and a match waits for one commit at most.
        batch = self._batch
        if batch:
            full = len(batch.events) >= self._batch_size
            due = full or batch.matches or now - (now if batch.opened is None else batch.opened) >= self._batch_s
            if due and self._settle(now, block=full):
                self._seal()
        return read

    def scan(self, now: float) -> None:
        self._last_scan = now
        opened = False
        for source in self.sources:
            source.tailer.scan(self._state.find_checkpoint, now)  # monotonic, as close_finished
            opened = opened or any(e.kind == "opened" for e in source.tailer.events)
            for event in source.tailer.events:
                log.info("file %s", event.kind, extra={"path": event.path, "detail": event.detail,
                                                        "source": source.name})
            source.tailer.events.clear()
            for key in [k for k in source.parsers if k not in source.tailer.files]:
                self._retire(source, key)  # truncated or closed: its identity is gone
            for key, tracked in source.tailer.files.items():
                if key not in source.parsers:
                    source.parsers[key] = self._new_parser(source, tracked)
            self._elapse_inherited(source, now)
        if opened:
            # a file's starting position (its end, with `start_at: end`) must be saved before any crash,
            # or a restart would start at the end again and skip what was written in between
            self._try_commit(now)

    def _flush_idle(self, source: _Source, now: float) -> None:
        """A record held back for continuation lines is complete once its file has been quiet a moment."""
        for key, parser in source.parsers.items():
            wait = parser.idle_flush_s
            if wait is None or parser.pending_offset() is None:
                continue
            tracked = source.tailer.files.get(key)
            if tracked is not None and now - source.last_read.get(key, 0.0) >= wait:
                self._take(source, key, parser, parser.flush())

    def _new_parser(self, source: _Source, tracked: TrackedFile) -> Parser:
        plan = source.plan
        context = SourceContext(tracked.fingerprint, tracked.path, plan.config.host, plan.tz, self._clock.now(),
                                self._mask)
        parser = plan.parser(context, plan.options)
        saved = self._state.parser_state(tracked.key)
        if saved is not None:
            parser.restore(saved)
        else:
            source.fresh.add(tracked.key)
        return parser

    def _retire(self, source: _Source, key: str) -> Parser | None:
        """Drop a file's parser, keeping what it knew of sessions for the next file of its log."""
        parser = source.parsers.pop(key, None)
        source.fresh.discard(key)
        if parser is not None:
            state = parser.carry_over()
            if state is not None:
                family = log_family(parser.context.path)
                source.inherited[family] = state
                source.inherited_changed.add(family)
                source.inherited_since[family] = self._clock.monotonic()
        return parser

    def _elapse_inherited(self, source: _Source, now: float) -> None:
        """A retired file's state that no later file of its log has taken (the server stopped writing there)
        has no line to tell the time by: the daemon's clock moves its event time on instead, at most once a
        minute, so that what must not wait forever (an sftp transfer whose close never came) is reported, from
        a parser of its own. The state moved on replaces the waiting one and is saved with the next batch."""
        plan = source.plan
        if not issubclass(plan.parser, Elapsing):
            return  # the format has nothing that waits too long
        for family, since in list(source.inherited_since.items()):
            if now - since < _ELAPSE_EVERY_S:
                continue
            fingerprint = _inherited_key(source.name, family).encode()  # the event ids of this log's orphans
            parser = plan.parser(SourceContext(fingerprint, family, plan.config.host, plan.tz, self._clock.now(),
                                               self._mask), plan.options)
            parser.restore(source.inherited[family])
            out = parser.elapse(int((now - since) * 1_000_000))
            source.inherited[family] = parser.carry_over()
            source.inherited_changed.add(family)
            source.inherited_since[family] = now
            if out:
                self._take(source, family, parser, out)

    def _inherit(self, source: _Source, tracked: TrackedFile, parser: Parser) -> None:
        """A new file of a log starts its first line knowing the sessions of the file before it: after a
        rename or copytruncate the file that had its path (still read until finished; older files are read
        first), or, where the server names its files by date (`postgresql-%Y-%m-%d.log`, `-%a.log`), the
        latest file of the same name family not newer than this one; else the last one retired."""
        source.fresh.discard(tracked.key)
        family = log_family(tracked.path)
        state = source.inherited.pop(family, None)
        source.inherited_since.pop(family, None)
        if state is not None:
            source.inherited_changed.add(family)
        own = _mtime(tracked)
        best: tuple[tuple[bool, float], Parser] | None = None
        for other in source.tailer.files.values():
            if other.key == tracked.key or log_family(other.path) != family:
                continue
            previous = source.parsers.get(other.key)
            mtime = _mtime(other)
            if previous is None or mtime > own:
                continue
            rank = (other.path == tracked.path and other.detached_at is not None, mtime)
            if best is None or rank > best[0]:
                best = (rank, previous)
        if best is not None:
            state = best[1].carry_over()
        if state is not None:
            parser.restore(state)

    def _read_source(self, source: _Source, budget: int) -> int:
        """Feed up to `budget` lines of one source to their files' parsers. The per-line path is only the
        parser's `feed`; the bookkeeping (counters, which files were read and when) is done per file run."""
        read = 0
        current: TrackedFile | None = None
        parser: Parser | None = None
        feed: Callable[[int, str], Sequence[Any]] | None = None
        touched: list[str] = []
        for tracked, block in source.tailer.read_blocks(budget):
            if tracked is not current:
                current = tracked
                parser = self._parser_of(source, tracked)
                if tracked.key in source.fresh:
                    self._inherit(source, tracked, parser)
                feed = parser.feed
                touched.append(tracked.key)
            offset = block.offset
            texts, lengths = block.texts, block.lengths
            count = len(texts)
            read += count
            overlong = block.overlong
            for i in range(count):
                length = lengths[i]
                tracked.offset = offset + length  # taken: a commit from here on starts after it
                if overlong:
                    out: Sequence[Any] = (ParseFailure(offset, overlong_reason(source.plan.config.max_line_bytes),
                                                       texts[i]),)
                else:
                    out = feed(offset, texts[i])  # type: ignore[misc]  # set with `current`
                if out:
                    self._take(source, tracked.key, parser, out)  # type: ignore[arg-type]  # set with `current`
                offset += length
        if read:
            self._counts["lines", source.name] += read
            self._wrote.add(source.name)
            now = self._clock.monotonic()
            for key in touched:
                source.last_read[key] = now
                self._fed.add(key)
        return read

    def _parser_of(self, source: _Source, tracked: TrackedFile) -> Parser:
        parser = source.parsers.get(tracked.key)
        if parser is None:
            parser = source.parsers[tracked.key] = self._new_parser(source, tracked)
        return parser

    def _take(self, source: _Source, key: str, parser: Parser, out: Sequence[Any]) -> None:
        batch = self._batch
        if batch.opened is None:
            batch.opened = self._clock.monotonic()
        enrich, process, append = self.enricher, self.engine.process, batch.events.append
        parsed = last_us = 0
        for item in out:
            if isinstance(item, ParseFailure):
                self._counts["failed", source.name] += 1
                batch.dead.append(dead_letter(parser, item, int(self._clock.now() * 1_000_000)))
                continue
            parsed += 1
            enriched = enrich(item)
            append(enriched)
            last_us = item.time_us
            found = process(enriched, key)
            if found:
                self._collect(found)
        if parsed:
            self._counts["parsed", source.name] += parsed
            batch.stored[source.name] += parsed
            source.last_event_us[key] = last_us

    def _collect(self, found: list[tuple[Match, str]]) -> None:
        if found:
            if self._batch.opened is None:
                self._batch.opened = self._clock.monotonic()
            self._batch.matches.extend(found)

    def _finish_file(self, source: _Source, tracked: TrackedFile) -> None:
        parser = source.parsers.get(tracked.key)
        if parser is not None:
            self._take(source, tracked.key, parser, parser.flush())
            self._retire(source, tracked.key)
        self._try_commit(self._clock.monotonic(), extra=[self._checkpoint(source, tracked, None)])

    def next_wait(self, longest: float) -> float:
        """How long the caller may sleep before something is due: a held record to flush, a batch to close,
        the reorder buffer to advance; otherwise `longest` (a write wakes it earlier anyway)."""
        now = self._clock.monotonic()
        wait = longest
        if self.paused_since is not None:
            return min(wait, 1.0)
        sealed = self._sealed
        if sealed is not None:
            if sealed.future is None and not sealed.events_done:
                return 0.0  # a store without a writer thread: the next step writes it
            # `wake` ends the wait when its events are in; without it, poll. The batch being filled cannot be
            # sealed before then, so its being due is no reason to turn the loop (that spun until the commit).
            wait = min(wait, 0.05 if self._wake is not None else 0.001)
        elif self._batch:
            opened = now if self._batch.opened is None else self._batch.opened
            wait = min(wait, max(0.0, opened + self._batch_s - now))
        engine = self.engine
        if engine.pending:
            # quiet time counts as event time passing (`step`): the oldest held event is released once the log
            # has been quiet for what separates it from the watermark. Polling for it kept an idle daemon
            # turning 20 times a second for `lateness` after every line.
            behind_us = engine.oldest_pending_us - (engine.newest_us - engine.lateness_us)
            wait = min(wait, max(0.0, self._last_arrival + behind_us / 1e6 + 0.001 - now))
        for source in self.sources:
            for key, parser in source.parsers.items():
                if parser.idle_flush_s is not None and parser.pending_offset() is not None:
                    wait = min(wait, max(0.0, source.last_read.get(key, 0.0) + parser.idle_flush_s - now))
        return wait

    # -- commits -------------------------------------------------------------------------------------------

    def _checkpoint(self, source: _Source, tracked: TrackedFile, parser: Parser | None) -> Checkpoint:
        pending = parser.pending_offset() if parser is not None else None
        safe = pending if pending is not None else tracked.offset
        return Checkpoint(tracked.key, tracked.path, safe, tracked.size, source.last_event_us.get(tracked.key, 0),
                          source.name)

    def checkpoints(self) -> list[Checkpoint]:
        out = []
        for source in self.sources:
            for key, tracked in source.tailer.files.items():
                out.append(self._checkpoint(source, tracked, source.parsers.get(key)))
        return out

    def _try_commit(self, now: float, extra: list[Checkpoint] | None = None) -> bool:
        """Close the batch (even an empty one: the checkpoints are saved) and commit it before returning. On a
        store error the batch is kept, reading pauses, and the commit is retried on the next step."""
        if not self._settle(now, block=True):
            return False
        self._seal(extra)
        return self._settle(now, block=True)

    def settle(self) -> bool:
        """Wait for the batch in flight, if any, and save its state (False: the store refused; it is retried)."""
        return self._settle(self._clock.monotonic(), block=True)

    def _seal(self, extra: list[Checkpoint] | None = None) -> None:
        """Close the current batch: take what its state transaction needs now, hand its events to the store."""
        batch = self._batch
        changes = self.engine.take_changes()
        if self._silent.expect:
            changes.engine[_SILENT_STATE] = self._silent.state()
        # only parsers that read lines since the last commit can have changed their state
        parser_states = {key: st for src in self.sources for key, p in src.parsers.items()
                         if key in self._fed and (st := p.snapshot()) is not None}
        for src in self.sources:
            for family in src.inherited_changed:  # None: taken by its successor, deleted
                parser_states[_inherited_key(src.name, family)] = src.inherited.get(family)
            src.inherited_changed.clear()
        sealed = _Sealed(batch, changes, [*self.checkpoints(), *(extra or [])], parser_states, time.perf_counter())
        self._batch = _Batch()
        self._fed.clear()
        self._sealed = sealed
        self._submit(sealed)

    def _submit(self, sealed: _Sealed) -> None:
        if isinstance(self._events, PipelinedEventStore):
            sealed.future = self._events.submit(sealed.batch.events, sealed.batch.dead)
            if self._wake is not None:
                wake = self._wake
                sealed.future.add_done_callback(lambda _: wake())

    def _settle(self, now: float, *, block: bool) -> bool:
        """Finish the sealed batch: wait for its events (unless `block` is false and they are not in yet),
        then save its state, matches and checkpoints in one transaction. False while it is not done."""
        sealed = self._sealed
        if sealed is None:
            return True
        batch = sealed.batch
        try:
            if not sealed.events_done:
                if sealed.future is None:
                    self._events.write(sealed.batch.events, sealed.batch.dead)
                elif not block and not sealed.future.done():
                    return False
                else:
                    future, sealed.future = sealed.future, None  # a failed write is retried with `write`
                    future.result()
                sealed.events_done = True
            self._state.commit(sealed.changes, batch.matches, sealed.checkpoints, int(self._clock.now() * 1_000_000),
                               sealed.parser_states)
        except StoreError as exc:
            if self.paused_since is None:
                log.error("store refused a write, ingestion paused until it accepts again: %s", exc)
                self.metrics.store_full(True)
            self.paused_since = now
            return False  # retried by `_try_commit`: the events written again (idempotent), then the state
        if self.paused_since is not None:
            log.info("store accepts writes again, ingestion resumed")
            self.metrics.store_full(False)
            self.paused_since = None
        self._sealed = None
        for name, n in batch.stored.items():
            self.metrics.stored(name, n)
        self._flush_counts()
        for match, _ in batch.matches:
            self.metrics.matched(match.rule_id)
        if self._on_match is not None and batch.matches:
            self._on_match([match for match, _ in batch.matches])
        self.metrics.batch_seconds(time.perf_counter() - sealed.sealed_at)
        self._report_lag()
        return True

    def _flush_counts(self) -> None:
        """Hand the per-source counters to the metrics once per batch, not once per line."""
        report = {"lines": self.metrics.lines, "parsed": self.metrics.parsed, "failed": self.metrics.failed}
        for (kind, name), n in self._counts.items():
            report[kind](name, n)
        self._counts.clear()

    def _report_lag(self) -> None:
        now_us = int(self._clock.now() * 1_000_000)
        for source in self.sources:
            for key, tracked in source.tailer.files.items():
                last = source.last_event_us.get(key, 0)
                lag_s = max(0.0, (now_us - last) / 1e6) if last and tracked.offset < tracked.size else 0.0
                self.metrics.file_lag(tracked.path, max(0, tracked.size - tracked.offset), lag_s)

    def shutdown(self) -> None:
        """Commit what is read (the reorder buffer is saved, not drained) and close the files."""
        self._try_commit(self._clock.monotonic())
        for source in self.sources:
            source.tailer.close()


def _mtime(tracked: TrackedFile) -> float:
    try:
        return os.fstat((tracked.raw or tracked.fh).fileno()).st_mtime
    except (OSError, ValueError):  # closed
        return 0.0


def _inherited_key(source: str, family: str) -> str:
    """Where a retired file's carry-over waits in the state database (beside parser states by fingerprint)."""
    return f"inherited\x1f{source}\x1f{family}"
