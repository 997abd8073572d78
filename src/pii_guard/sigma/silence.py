"""Silent sources: Sigma has no word for absence, yet switched-off auditing looks exactly like silence.

A source configured with `expect_every: 30m` that writes nothing for longer raises one match per silence
(rule `silent-source`, kind `silent_source`); when it writes again the next silence can raise another. The
class is pure: the caller says when a source wrote and the injected clock says what time it is now; it keeps
no thread and reads no file. Its state (last write and the silence already reported, per source) is a small
dict to save with the daemon's state, so a restart neither forgets a silence nor reports it twice: the match
id is derived from the source and the time of its last write, so a repeat is the same match.

    silent = SilentSources({"pg": 30 * 60_000_000}, clock)
    silent.wrote("pg", time_us)        # whenever the source's file grew (or an event of it was read)
    matches = silent.check()           # on the daemon's idle tick: the sources silent for too long
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from pii_guard.clock import Clock
from pii_guard.model import Match
from pii_guard.policy.context import span

RULE_ID = "silent-source"
KIND = "silent_source"


class SilentSources:
    def __init__(self, expect_every_us: Mapping[str, int], clock: Clock, *, severity: str = "high",
                 rule_id: str = RULE_ID) -> None:
        self.expect = {name: int(us) for name, us in expect_every_us.items() if us and us > 0}
        self.clock = clock
        self.severity = severity
        self.rule_id = rule_id
        self.started_us = self._now()
        self.last_us: dict[str, int] = {}  # source → time of its last write
        self.reported: dict[str, int] = {}  # source → the last-write time whose silence was reported

    def _now(self) -> int:
        return int(self.clock.now() * 1_000_000)

    def wrote(self, source: str, time_us: int | None = None) -> None:
        """The source wrote (at `time_us`, default now). Unknown sources are ignored."""
        if source not in self.expect:
            return
        t = self._now() if time_us is None else time_us
        if t > self.last_us.get(source, -1):
            self.last_us[source] = t

    def silent_for(self, source: str) -> int:
        """Microseconds since the source last wrote (or since this watch began, if it has not)."""
        return self._now() - self.last_us.get(source, self.started_us)

    def check(self) -> list[Match]:
        """A match for each source silent for longer than it is expected to be, once per silence."""
        now = self._now()
        out: list[Match] = []
        for source, expect in sorted(self.expect.items()):
            last = self.last_us.get(source, self.started_us)
            if now - last <= expect or self.reported.get(source) == last:
                continue
            self.reported[source] = last
            out.append(self._match(source, last, now, expect))
        return out

    def _match(self, source: str, last: int, now: int, expect: int) -> Match:
        digest = hashlib.blake2b(f"{self.rule_id}\0{source}\0{last}".encode(), digest_size=16).hexdigest()
        since = "wrote nothing" if source in self.last_us else "has written nothing since it was first watched"
        silence = (now - last) // 1_000_000 * 1_000_000
        sentence = (f"source {source} {since} for {span(max(silence, 1_000_000))} (expected at least every "
                    f"{span(expect)}): auditing may have been switched off")
        return Match(
            id=digest, rule_id=self.rule_id, kind=KIND, severity=self.severity, time_us=now, user=None, roles=(),
            object=source, categories=(), volume=(now - last) / 1_000_000, unit="seconds",
            limit=expect / 1_000_000, window_start_us=last, window_end_us=now, evidence=(), sentence=sentence,
        )

    def state(self) -> dict[str, Any]:
        return {"started_us": self.started_us, "last_us": dict(self.last_us), "reported": dict(self.reported)}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Take back a saved state (sources no longer configured are dropped)."""
        self.started_us = int(state.get("started_us", self.started_us))
        self.last_us = {k: int(v) for k, v in dict(state.get("last_us", {})).items() if k in self.expect}
        self.reported = {k: int(v) for k, v in dict(state.get("reported", {})).items() if k in self.expect}

    @classmethod
    def from_sources(cls, sources: Mapping[str, int | None], clock: Clock, **kwargs: Any) -> SilentSources:
        """From (label → expect_every or None) as the config gives them; sources without one are not watched."""
        return cls({name: us for name, us in sources.items() if us}, clock, **kwargs)
