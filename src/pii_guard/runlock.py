"""One daemon per state directory: two would read the same logs into the same state, doubling every alert.

`pii-guard run` holds an exclusive `flock` on `<state_dir>/daemon.lock` for its whole life; the kernel drops
it when the process ends, however it ends (a `kill -9` leaves no stale lock). The file holds the holder's
pid, for the message a second daemon gets."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from pii_guard.errors import StoreError

LOCK_NAME = "daemon.lock"


class StateLock:
    """The exclusive lock of a state directory; `acquire` raises StoreError if another process holds it."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> StateLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create {self.path}: {exc.strerror}",
                             hint="the state_dir must be writable by the daemon's user") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(f"state directory {self.path.parent} is in use by another pii-guard run (pid {holder})",
                             hint="stop that one, or give this one a state_dir of its own") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> StateLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
