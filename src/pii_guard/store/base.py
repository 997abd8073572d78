"""The interface every event store implements; the rest of the code does not know which one it talks to."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import NamedTuple, Protocol, runtime_checkable

from pii_guard.model import EnrichedEvent


class DeadLetter(NamedTuple):
    """A record that could not be parsed, kept with where it came from and why."""

    source: str  # file path
    fingerprint: str  # hex identity of the file
    offset: int
    format: str
    reason: str
    text: str  # the record, cut to MAX_DEAD_LETTER_CHARS
    time_us: int  # when it was seen (wall clock)


MAX_DEAD_LETTER_CHARS = 65_536


class WriteResult(NamedTuple):
    stored: int  # new events
    duplicates: int  # events already stored (replays)
    dead_letters: int


class EventStore(Protocol):
    def write(self, events: Sequence[EnrichedEvent], dead: Sequence[DeadLetter]) -> WriteResult:
        """Store one batch atomically: all of it or none of it."""
        ...

    def count_events(self) -> int: ...

    def count_dead_letters(self) -> int: ...

    def close(self) -> None: ...


@runtime_checkable
class PipelinedEventStore(EventStore, Protocol):
    """A store that can take a batch and commit it in the background while the caller reads on."""

    def submit(self, events: Sequence[EnrichedEvent], dead: Sequence[DeadLetter]) -> Future[WriteResult]:
        """Queue one batch; the future holds its WriteResult once the batch is committed (durable as the
        store's synchronous setting makes it), or the StoreError that stopped it. Batches are committed in
        the order submitted. `write` is `submit(...).result()`."""
        ...
