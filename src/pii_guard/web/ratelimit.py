"""Failed logins are limited per client address and per account name: after `attempts` failures within
`window`, further tries are refused without checking the password until the oldest failure ages out. Time
comes from the injected clock; memory is bounded (the stalest keys are dropped first)."""

from __future__ import annotations

import threading
from collections import OrderedDict, deque

from pii_guard.clock import Clock

_MAX_KEYS = 100_000


class LoginLimiter:
    def __init__(self, attempts: int, window_us: int, clock: Clock) -> None:
        self._attempts = attempts
        self._window_s = window_us / 1_000_000
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def _keys(address: str, account: str) -> tuple[str, str]:
        return f"addr:{address}", f"user:{account.casefold()}"

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self._window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, address: str, account: str) -> int | None:
        """Seconds until a try is allowed again, or None if it is allowed now."""
        now = self._clock.monotonic()
        wait = 0.0
        with self._lock:
            for key in self._keys(address, account):
                times = self._recent(key, now)
                if times is not None and len(times) >= self._attempts:
                    wait = max(wait, times[0] + self._window_s - now)
        return max(1, int(wait + 0.999)) if wait > 0 else None

    def failed(self, address: str, account: str) -> None:
        now = self._clock.monotonic()
        with self._lock:
            for key in self._keys(address, account):
                times = self._recent(key, now) or deque()
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > _MAX_KEYS:
                self._failures.popitem(last=False)

    def succeeded(self, address: str, account: str) -> None:
        """A right password clears the account's count (not the address's: one known password must not
        reset a guessing run from that address against other accounts)."""
        with self._lock:
            self._failures.pop(self._keys(address, account)[1], None)
