"""Silent sources: one match per silence longer than the source's expected interval, time from the clock."""

from __future__ import annotations

from pii_guard.clock import FixedClock
from pii_guard.sigma.silence import SilentSources

MIN = 60_000_000


def test_silence_longer_than_expected_raises_one_match_per_silence() -> None:
    clock = FixedClock(1_800_000_000)
    silent = SilentSources({"pg": 30 * MIN, "smb": 60 * MIN}, clock)
    silent.wrote("pg")
    silent.wrote("smb")
    clock.advance(29 * 60)
    assert silent.check() == []
    clock.advance(2 * 60)
    [m] = silent.check()
    assert (m.rule_id, m.kind, m.object, m.severity) == ("silent-source", "silent_source", "pg", "high")
    assert m.sentence == "source pg wrote nothing for 31 min (expected at least every 30 min): auditing may have " \
                         "been switched off"
    assert (m.volume, m.limit) == (31 * 60, 30 * 60)
    clock.advance(10 * 60)
    assert silent.check() == []  # the same silence is reported once
    silent.wrote("pg")
    clock.advance(31 * 60)
    assert [x.object for x in silent.check()] == ["pg", "smb"]


def test_a_source_that_never_writes_counts_from_the_start() -> None:
    clock = FixedClock(1_800_000_000)
    silent = SilentSources.from_sources({"pg": 5 * MIN, "web": None}, clock)
    clock.advance(6 * 60)
    [m] = silent.check()
    assert "has written nothing since it was first watched" in m.sentence
    silent.wrote("web")  # not watched: ignored
    assert set(silent.state()["last_us"]) == set()


def test_state_survives_a_restart_without_a_second_report() -> None:
    clock = FixedClock(1_800_000_000)
    silent = SilentSources({"pg": 5 * MIN}, clock)
    silent.wrote("pg")
    clock.advance(6 * 60)
    [first] = silent.check()
    again = SilentSources({"pg": 5 * MIN}, clock)
    again.restore(silent.state())
    assert again.check() == []
    fresh = SilentSources({"pg": 5 * MIN}, clock)
    fresh.restore({"started_us": silent.started_us, "last_us": silent.state()["last_us"]})
    [repeat] = fresh.check()
    assert repeat.id == first.id  # a lost report is the same match, stored once


def test_late_write_times_do_not_move_back() -> None:
    clock = FixedClock(1_800_000_000)
    silent = SilentSources({"pg": 5 * MIN}, clock)
    silent.wrote("pg", 1_800_000_000_000_000 + 4 * MIN)
    silent.wrote("pg", 1_800_000_000_000_000)
    clock.advance(8 * 60)
    assert silent.check() == []
