"""Server-side handles for what must not appear in a URL: a search query, a who-accessed subject, a user
filter. A form posts the text; the server keeps it under a random token bound to the person who posted it and
redirects to a URL carrying only the token, so paging, reloading and the back button work without personal
data in addresses, logs or browser history. Handles live in memory for `ttl_s` (bounded in number)."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

from pii_guard.clock import Clock

T = TypeVar("T")


@dataclass(frozen=True)
class _Entry(Generic[T]):
    owner: str
    kind: str
    value: T
    expires: float


class Handles(Generic[T]):
    def __init__(self, clock: Clock, ttl_s: float = 8 * 3600, max_entries: int = 20_000) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()

    def put(self, owner: str, kind: str, value: T) -> str:
        token = secrets.token_urlsafe(18)
        now = self._clock.monotonic()
        with self._lock:
            self._entries[token] = _Entry(owner, kind, value, now + self._ttl_s)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return token

    def get(self, owner: str, kind: str, token: str) -> T | None:
        """The value, if the token exists, is of this kind, belongs to `owner` and has not expired."""
        now = self._clock.monotonic()
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            if entry.expires <= now:
                del self._entries[token]
                return None
            if entry.owner != owner or entry.kind != kind:
                return None
            return entry.value
