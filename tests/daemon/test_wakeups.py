"""The daemon's wake-ups (`wakeups.watch`): every change that can bring lines or files wakes it, straight from
watchdog's emitter; opens and reads without a write do not."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watchdog.observers.api import BaseObserver

from pii_guard.wakeups import watch


class Wakes:
    def __init__(self) -> None:
        self.count = 0
        self.event = threading.Event()
        self.threads: set[threading.Thread] = set()

    def __call__(self) -> None:
        self.count += 1
        self.threads.add(threading.current_thread())
        self.event.set()

    def after(self, change: Callable[[], None], within: float = 5.0) -> bool:
        """Whether `change` woke the watcher within `within` seconds."""
        self.event.clear()
        change()
        return self.event.wait(within)


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, Wakes, BaseObserver]]:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "pg.log").write_text("first\n")
    wakes = Wakes()
    observer = watch([str(logs), str(logs), str(tmp_path / "missing")], wakes)
    try:
        yield logs, wakes, observer
    finally:
        observer.stop()
        observer.join(5)


def _append(path: Path, text: str) -> None:
    with path.open("a") as fh:
        fh.write(text)


def test_writes_creations_renames_and_deletions_wake_the_daemon(watched: tuple[Path, Wakes, BaseObserver]) -> None:
    logs, wakes, observer = watched
    log = logs / "pg.log"
    assert wakes.after(lambda: _append(log, "a line\n"))
    assert wakes.threads == set(observer.emitters)  # from the emitter itself: no hop through the dispatcher
    assert wakes.after(lambda: log.rename(logs / "pg.log.1"))
    assert wakes.after(lambda: log.write_text(""))  # the new file, as after a rename rotation
    assert wakes.after(lambda: os.truncate(log, 0))  # copytruncate
    assert wakes.after(lambda: (logs / "pg.log.1").unlink())


def test_reading_a_log_does_not_wake_the_daemon(watched: tuple[Path, Wakes, BaseObserver]) -> None:
    logs, wakes, _ = watched
    log = logs / "pg.log"
    assert not wakes.after(lambda: [log.read_text() for _ in range(20)], 1.0)  # opens, closes, no write
    assert wakes.count == 0
    assert wakes.after(lambda: _append(log, "a line\n"))  # the watch is alive


def test_each_directory_is_watched_once_and_a_missing_one_is_skipped(
    watched: tuple[Path, Wakes, BaseObserver],
) -> None:
    logs, _, observer = watched
    assert [emitter.watch.path for emitter in observer.emitters] == [str(logs)]
