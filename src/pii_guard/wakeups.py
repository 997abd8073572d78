"""What wakes the sleeping daemon when a followed log changes: watchdog's watches on the logs' directories.

watchdog's `Observer` hands each event through three threads (inotify's reader, the watch's emitter, the
dispatcher) before a handler sees it: about 70 µs of CPU an event here. PostgreSQL and nginx write a log a line
at a time, so that is one event per line, and at 5,000 lines/s it cost the daemon more than its parsing. The
daemon needs only to know that something changed, not what: on Linux the emitter calls `wake` itself and the
dispatcher has nothing to do. Only changes that can bring lines or files are watched (writes, creations,
renames, deletions), not opens and closes without a write (the daemon's own reads, an operator's `tail`).
The periodic rescan stays the safety net for anything missed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from watchdog.events import (
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, EventEmitter

CHANGES: list[type[FileSystemEvent]] = [FileModifiedEvent, FileCreatedEvent, FileMovedEvent, FileDeletedEvent]


class _Wake(FileSystemEventHandler):
    """The portable path: watchdog's own dispatch, then `wake` (platforms without inotify)."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        self._wake()


def _inotify_emitter(wake: Callable[[], None]) -> type[EventEmitter] | None:
    try:
        from watchdog.observers.inotify import InotifyEmitter
    except ImportError:  # not Linux
        return None

    class WakeEmitter(InotifyEmitter):
        def queue_event(self, event: FileSystemEvent) -> None:
            wake()

    return WakeEmitter


def watch(directories: Iterable[str], wake: Callable[[], None]) -> BaseObserver:
    """Start watching `directories` (those that exist; each once); `wake` is called from watchdog's thread."""
    emitter = _inotify_emitter(wake)
    observer = BaseObserver(emitter_class=emitter) if emitter is not None else Observer()
    handler = FileSystemEventHandler() if emitter is not None else _Wake(wake)
    for directory in sorted(set(directories)):
        if os.path.isdir(directory):
            observer.schedule(handler, directory, recursive=False, event_filter=CHANGES)
    observer.daemon = True
    observer.start()
    return observer
