"""Window invariants, by property: never negative, never drops an in-window event, bounded."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pii_guard.rules.windows import FULL_SWEEP_EVERY, DistinctSet, KeyedWindows, SlidingSum, evidence_ids

BUCKETS = 20
BUCKET_US = 3_000_000  # a 60 s window

steps = st.lists(st.tuples(st.integers(0, 120_000_000), st.integers(0, 1000)), min_size=1, max_size=200)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_sliding_sum_is_exact_per_bucket_and_never_negative(deltas: list[tuple[int, int]]) -> None:
    window = SlidingSum()
    t = 0
    seen: list[tuple[int, int]] = []
    for delta, amount in deltas:
        t += delta
        window.add(t, float(amount), BUCKET_US, BUCKETS, f"{t:032x}")
        seen.append((t, amount))
        newest = t // BUCKET_US
        expected = sum(a for ts, a in seen if ts // BUCKET_US > newest - BUCKETS)
        assert window.total >= 0
        assert window.total == expected
        # every event younger than the window minus one bucket is still counted
        assert window.total >= sum(a for ts, a in seen if ts > t - (BUCKETS - 1) * BUCKET_US)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-5_000_000, 30_000_000), st.integers(1, 50)), min_size=1, max_size=100))
def test_late_events_land_in_their_bucket_or_are_refused(steps_: list[tuple[int, int]]) -> None:
    window = SlidingSum()
    t = 100_000_000
    newest = 0
    accepted: list[tuple[int, int]] = []
    for delta, amount in steps_:
        t = max(0, t + delta)  # negative deltas: out-of-order events
        if window.add(t, float(amount), BUCKET_US, BUCKETS, "x" * 32):
            accepted.append((t, amount))
        newest = max(newest, t // BUCKET_US)
        expected = sum(a for ts, a in accepted if ts // BUCKET_US > newest - BUCKETS)
        assert window.total == expected
        assert window.total >= 0
        assert len(window.idx) <= BUCKETS


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000_000), st.sampled_from("abcdefghij")), min_size=1, max_size=100))
def test_distinct_set_counts_distinct_values_in_window(steps_: list[tuple[int, str]]) -> None:
    window = DistinctSet()
    t = 0
    seen: dict[str, int] = {}
    width = 30_000_000
    for delta, value in steps_:
        t += delta
        window.add(t, value, width, 1000, "y" * 32)
        seen[value] = t
        assert window.total == len([v for v, ts in seen.items() if ts > t - width])


def test_state_round_trips() -> None:
    window = SlidingSum()
    for i in range(30):
        window.add(i * 2_000_000, 3.0, BUCKET_US, BUCKETS, f"{i:032x}")
    copy = SlidingSum.from_state(window.to_state())
    assert (list(copy.idx), list(copy.sums), copy.total, copy.evidence) == (
        list(window.idx), list(window.sums), window.total, window.evidence)


def test_keyed_windows_cap_evicts_least_recent_and_counts() -> None:
    keyed: KeyedWindows[SlidingSum] = KeyedWindows(max_keys=3)
    for key in "abcd":
        keyed.put(key, SlidingSum())
    assert len(keyed) == 3
    assert keyed.overflow == 1
    assert keyed.get("a") is None
    changed, deleted = keyed.take_changes()
    assert set(changed) == {"b", "c", "d"}
    assert deleted == {"a"}


def test_idle_keys_are_evicted() -> None:
    keyed: KeyedWindows[SlidingSum] = KeyedWindows()
    old, new = SlidingSum(), SlidingSum()
    old.add(1_000_000, 1.0, BUCKET_US, BUCKETS, "a" * 32)
    new.add(90_000_000, 1.0, BUCKET_US, BUCKETS, "b" * 32)
    keyed.put("old", old)
    keyed.put("new", new)
    assert keyed.evict_idle(30_000_000) == 1
    assert keyed.get("new") is new


class _Probe:
    """A window state that counts how often a sweep reads its time."""

    reads = 0

    def __init__(self, last_us: int) -> None:
        self._last_us = last_us

    @property
    def last_us(self) -> int:
        _Probe.reads += 1
        return self._last_us

    def to_state(self) -> list[object]:
        return [self._last_us]


def test_a_sweep_reads_the_idle_keys_in_front_and_stops_at_the_first_in_use() -> None:
    keyed: KeyedWindows[_Probe] = KeyedWindows()
    for i in range(1_000):  # touched in time order: key i last used at i s
        keyed.put(f"k{i}", _Probe(i * 1_000_000))
    _Probe.reads = 0
    assert keyed.evict_idle(10_000_000) == 10  # k0 ... k9
    assert _Probe.reads == 11  # not 1,000
    assert keyed.get("k9") is None
    assert keyed.get("k10") is not None
    _Probe.reads = 0
    assert keyed.evict_idle(10_000_000) == 0
    assert _Probe.reads == 1


def test_a_key_behind_a_newer_one_is_evicted_by_the_next_full_sweep() -> None:
    """A late event touches a key without making it newer; restored keys come in any order."""
    keyed: KeyedWindows[_Probe] = KeyedWindows()
    keyed.put("busy", _Probe(100_000_000))
    keyed.put("late", _Probe(1_000_000))  # behind "busy", idle at the cutoff below
    evicted = [keyed.evict_idle(50_000_000) for _ in range(FULL_SWEEP_EVERY)]
    assert evicted == [0] * (FULL_SWEEP_EVERY - 1) + [1]
    assert keyed.get("late") is None
    assert keyed.get("busy") is not None
    assert "late" in keyed.take_changes()[1]


def test_memory_per_tracked_window_is_under_1kb() -> None:
    """Bucketed state: even a key with every bucket used and full evidence stays small."""
    import sys

    window = SlidingSum()
    for i in range(BUCKETS * 3):
        window.add(i * BUCKET_US, 1.0, BUCKET_US, BUCKETS, f"{i:032x}")
    size = sys.getsizeof(window) + sys.getsizeof(window.idx) + sys.getsizeof(window.sums) + \
        sys.getsizeof(window.evidence)
    assert size < 1024, size


def test_get_or_add_creates_once_then_touches() -> None:
    keyed: KeyedWindows[SlidingSum] = KeyedWindows(max_keys=2)
    first = keyed.get_or_add("a", SlidingSum)
    keyed.put("b", SlidingSum())
    assert keyed.get_or_add("a", SlidingSum) is first  # touched: now the most recently used
    keyed.put("c", SlidingSum())
    assert keyed.get("b") is None
    assert keyed.get("a") is first
    changed, deleted = keyed.take_changes()
    assert set(changed) == {"a", "c"}
    assert deleted == {"b"}


def test_evidence_keeps_the_latest_ids_in_order() -> None:
    window = SlidingSum()
    ids = [f"{i:032x}" for i in range(20)] + ["not-hex"]
    for i, event_id in enumerate(ids):
        window.add(i * BUCKET_US, 1.0, BUCKET_US, BUCKETS, event_id)
    assert evidence_ids(window.evidence)[:-1] == tuple(ids[-16:-1])
    assert len(window.evidence) == 16 * 16
