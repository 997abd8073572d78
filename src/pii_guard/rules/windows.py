"""Keyed event-time windows with bounded memory.

A sliding sum is kept in a fixed number of buckets per key (not a list of events), so its memory is bounded
whatever the traffic; idle keys are evicted, and a cap on keys evicts the least recently used with a count.
Every change marks its key dirty so the state can be saved incrementally with each batch."""

from __future__ import annotations

import hashlib
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, Generic, Protocol, TypeVar

EVIDENCE_KEPT = 16  # most recent event ids kept per key (16 bytes each)


@lru_cache(maxsize=1024)  # one event usually lands in several windows (quotas of each of the user's roles)
def id_bytes(event_id: str) -> bytes:
    """Event ids are 32 hex digits; keep them as 16 bytes. Other ids are hashed (and then not shown back)."""
    try:
        return bytes.fromhex(event_id)[:16].ljust(16, b"\0")
    except ValueError:
        return hashlib.blake2b(event_id.encode(), digest_size=16).digest()


def evidence_ids(blob: bytes) -> tuple[str, ...]:
    return tuple(blob[i : i + 16].hex() for i in range(0, len(blob), 16))


class SlidingSum:
    """Sum of amounts over the last `width_us`, in `buckets` buckets. Late events land in their own bucket."""

    __slots__ = ("evidence", "fired", "idx", "last_us", "sums", "total")

    def __init__(self) -> None:
        self.idx = array("q")
        self.sums = array("d")
        self.total = 0.0
        self.evidence = b""
        # crossed its limit and not yet fallen back below: 0 no; n, the step of the episode last reported (a
        # quota's volume doubling, `policy.volume.escalation`); a boolean in the state of older versions
        self.fired = 0
        self.last_us = 0

    def add(self, time_us: int, amount: float, bucket_us: int, buckets: int, event_id: str) -> bool:
        """Count `amount` at `time_us`; False if the event is older than the window already is."""
        b = time_us // bucket_us
        idx = self.idx
        if idx:
            newest = idx[-1] if idx[-1] > b else b
            if idx[0] <= newest - buckets:
                self.expire(newest, buckets)
        else:
            newest = b
        if b <= newest - buckets:
            return False
        if idx and idx[-1] == b:  # the usual case: the newest bucket
            self.sums[-1] += amount
        else:
            pos = len(idx) - 1
            while pos >= 0 and idx[pos] > b:
                pos -= 1
            if pos >= 0 and idx[pos] == b:
                self.sums[pos] += amount
            else:
                idx.insert(pos + 1, b)
                self.sums.insert(pos + 1, amount)
        self.total += amount
        if time_us > self.last_us:
            self.last_us = time_us
        self.evidence = (self.evidence + id_bytes(event_id))[-16 * EVIDENCE_KEPT :]
        return True

    def expire(self, newest_bucket: int, buckets: int) -> None:
        """Drop buckets that left the window ending at `newest_bucket`."""
        cut = newest_bucket - buckets
        drop = 0
        while drop < len(self.idx) and self.idx[drop] <= cut:
            self.total -= self.sums[drop]
            drop += 1
        if drop:
            del self.idx[:drop]
            del self.sums[:drop]
            if not self.idx:
                self.total = 0.0

    def window_start_us(self, bucket_us: int) -> int:
        return self.idx[0] * bucket_us if self.idx else self.last_us

    def to_state(self) -> list[Any]:
        return [list(self.idx), list(self.sums), self.total, self.evidence.hex(), self.fired, self.last_us]

    @classmethod
    def from_state(cls, state: list[Any]) -> SlidingSum:
        item = cls()
        item.idx = array("q", state[0])
        item.sums = array("d", state[1])
        item.total = float(state[2])
        item.evidence = bytes.fromhex(state[3])
        item.fired = int(state[4])
        item.last_us = int(state[5])
        return item


class DistinctSet:
    """Distinct values seen in the last `width_us`, value → last time; bounded to `cap` values."""

    __slots__ = ("evidence", "fired", "last_us", "seen")

    def __init__(self) -> None:
        self.seen: OrderedDict[str, int] = OrderedDict()
        self.evidence = b""
        self.fired = 0  # as SlidingSum.fired
        self.last_us = 0

    def add(self, time_us: int, value: str, width_us: int, cap: int, event_id: str) -> None:
        self.seen[value] = max(time_us, self.seen.get(value, 0))
        self.seen.move_to_end(value)
        self.last_us = max(self.last_us, time_us)
        self.expire(self.last_us - width_us)
        while len(self.seen) > cap:
            self.seen.popitem(last=False)
        self.evidence = (self.evidence + id_bytes(event_id))[-16 * EVIDENCE_KEPT :]

    def expire(self, cutoff_us: int) -> None:
        for value, seen in list(self.seen.items()):
            if seen > cutoff_us:
                break
            del self.seen[value]

    @property
    def total(self) -> float:
        return float(len(self.seen))

    def window_start_us(self, bucket_us: int) -> int:
        return next(iter(self.seen.values()), self.last_us)

    def to_state(self) -> list[Any]:
        return [list(self.seen.items()), self.evidence.hex(), self.fired, self.last_us]

    @classmethod
    def from_state(cls, state: list[Any]) -> DistinctSet:
        item = cls()
        item.restore(state)
        return item

    def restore(self, state: list[Any]) -> None:
        """Take back what `to_state` gave. (A subclass's `from_state` builds on this, not on super(): compiled
        with mypyc, super() in a classmethod does not reach the base's classmethod.)"""
        self.seen = OrderedDict((str(k), int(v)) for k, v in state[0])
        self.evidence = bytes.fromhex(state[1])
        self.fired = int(state[2])
        self.last_us = int(state[3])


class WindowState(Protocol):
    last_us: int

    def to_state(self) -> list[Any]: ...


W = TypeVar("W", bound=WindowState)
FULL_SWEEP_EVERY = 16  # every 16th `evict_idle` looks at every key, not only at the idle ones in front


class KeyedWindows(Generic[W]):
    """key → window state, least recently used first; bounded, with dirty tracking for persistence."""

    def __init__(self, max_keys: int = 200_000) -> None:
        self._items: OrderedDict[str, W] = OrderedDict()
        self.max_keys = max_keys
        self.overflow = 0  # keys evicted because of the cap (their state was lost)
        self._sweeps = 0  # `evict_idle` calls since the last one that looked at every key
        self.dirty: set[str] = set()
        self.deleted: set[str] = set()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> W | None:
        return self._items.get(key)

    def put(self, key: str, item: W) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        self.dirty.add(key)
        self.deleted.discard(key)
        while len(self._items) > self.max_keys:
            old, _ = self._items.popitem(last=False)
            self.overflow += 1
            self._forget(old)

    def touch(self, key: str) -> None:
        self._items.move_to_end(key)
        self.dirty.add(key)

    def get_or_add(self, key: str, factory: Callable[[], W]) -> W:
        """The state of `key`, touched; a new `factory()` one, put, if there is none."""
        item = self._items.get(key)
        if item is None:
            item = factory()
            self.put(key, item)
        else:
            self._items.move_to_end(key)
            self.dirty.add(key)
        return item

    def evict_idle(self, cutoff_us: int) -> int:
        """Drop keys whose last event is older than `cutoff_us`; their windows are empty by then.

        Keys are kept least recently touched first, and events reach the windows in time order but for late
        ones, so the idle keys are at the front: a sweep stops at the first key still in use, and costs what it
        evicts rather than what it tracks (every 4,096 events, 200 ns a key: 100,000 keys cost 5 µs an
        event). A key that a late event touched, or that was restored out of order, can wait behind a newer
        one; every FULL_SWEEP_EVERY-th sweep looks at every key for them."""
        self._sweeps += 1
        items = self._items
        if self._sweeps >= FULL_SWEEP_EVERY:
            self._sweeps = 0
            idle = [k for k, item in items.items() if item.last_us < cutoff_us]
        else:
            idle = []
            for key, item in items.items():
                if item.last_us >= cutoff_us:
                    break
                idle.append(key)
        for key in idle:
            del self._items[key]
            self._forget(key)
        return len(idle)

    def _forget(self, key: str) -> None:
        self.dirty.discard(key)
        self.deleted.add(key)

    def items(self) -> Iterator[tuple[str, W]]:
        return iter(self._items.items())

    def take_changes(self) -> tuple[dict[str, list[Any]], set[str]]:
        """The states changed and the keys deleted since the last call."""
        changed = {k: self._items[k].to_state() for k in self.dirty if k in self._items}
        deleted = self.deleted
        self.dirty = set()
        self.deleted = set()
        return changed, deleted

    def load(self, key: str, item: W) -> None:
        self._items[key] = item
