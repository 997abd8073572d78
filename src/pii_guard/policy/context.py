"""What every policy detector shares: the policy's defaults and clock-free calendar math, match building."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

from pii_guard.model import FAILURE, EnrichedEvent, Match
from pii_guard.policy.models import DAYS, Defaults, Exception_, HourRange
from pii_guard.rules.windows import KeyedWindows

_VERBS = {"read": "read", "export": "exported", "write": "wrote", "delete": "deleted", "rename": "renamed",
          "create": "created", "login": "logged in", "logout": "logged out", "ddl": "changed the schema of",
          "permission": "changed permissions on", "execute": "executed", "other": "touched"}


class Detector(Protocol):
    """What the detection engine calls. Optional, for speed (the engine looks them up and does without):
    `prefilter_key(item)`, a static method: the part of the signature `prefilter` reads, shared by the whole
    class, so the engine decides many rules of one class per key at once; `accepts_object(obj)`: False only
    when `observe` would neither match nor record anything for events on `obj`, so the engine skips the
    detector for them; `observe_routed(item)`: `observe` for an event `prefilter` admitted."""

    kind: str

    def observe(self, item: EnrichedEvent) -> list[Match]:
        """Look at one event, in event-time order; return what it violates."""
        ...

    def expire(self, watermark_us: int) -> None:
        """Forget state that no window can need after `watermark_us`."""
        ...

    def windows(self) -> dict[str, KeyedWindows]:  # type: ignore[type-arg]
        """Named window stores, for persistence; empty for stateless detectors."""
        ...

    def restore(self, store: str, key: str, state: list[object]) -> None: ...

    def branches(self) -> set[str]:
        """Labels of every branch of its rules (each rule, each exception ...) a sample should exercise."""
        ...

    @property
    def exercised(self) -> set[str]:
        """The branch labels seen so far (for `rules test` and the shipped-policy coverage test)."""
        ...

    def why_not(self, item: EnrichedEvent) -> str | None:
        """For an event in this detector's scope that did not match: why. None when out of scope."""
        ...

    def prefilter(self, item: EnrichedEvent) -> bool:
        """Could this event match at all? Must depend only on the fields of `signature(item)`: the engine
        caches the answer per signature, so an event meets only the detectors that can match it."""
        ...


def signature(item: EnrichedEvent) -> tuple[object, ...]:
    """The fields prefilters may look at. Few distinct values, so answers cache well."""
    ev = item.event
    user = item.user
    obj = ev.object
    return (
        ev.action, ev.outcome, item.data.categories, item.data.classified, item.data.honeytoken,
        user.roles if user is not None else None, user.known if user is not None else None,
        item.zone, ev.rows is not None, ev.bytes is not None, obj[:4] if obj else None, bool(ev.record_ids),
    )  # fmt: skip


class PolicyContext:
    """Calendar (minute of day, weekday, day number in the policy's zone) and defaults."""

    def __init__(self, timezone: str, defaults: Defaults) -> None:
        self.tz = ZoneInfo(timezone)
        self.defaults = defaults
        self._minute_cache: dict[int, tuple[int, int, int]] = {}
        self.unclassified = tuple(sorted(defaults.unclassified_categories))

    def local(self, time_us: int) -> tuple[int, int, int]:
        """(minute of day, weekday 0=mon, ordinal day) of an event time, in the policy's zone."""
        minute = time_us // 60_000_000
        hit = self._minute_cache.get(minute)
        if hit is None:
            dt = datetime.fromtimestamp(minute * 60, tz=UTC).astimezone(self.tz)
            hit = (dt.hour * 60 + dt.minute, dt.weekday(), dt.toordinal())
            if len(self._minute_cache) > 100_000:
                self._minute_cache.clear()
            self._minute_cache[minute] = hit
        return hit

    def categories(self, item: EnrichedEvent) -> tuple[str, ...]:
        return item.data.categories if item.data.classified else self.unclassified

    def zone(self, item: EnrichedEvent) -> str:
        return item.zone if item.zone is not None else self.defaults.no_ip_zone

    def roles(self, item: EnrichedEvent) -> tuple[str, ...]:
        return item.user.roles if item.user is not None else ()

    def excepted(self, exceptions: Iterable[Exception_], item: EnrichedEvent) -> Exception_ | None:
        """The first exception that covers this event, if any. Every listed condition must hold."""
        for exc in exceptions:
            if exc.users and item.event.user not in exc.users:
                continue
            if exc.roles and not set(exc.roles).intersection(self.roles(item)):
                continue
            if exc.zones and self.zone(item) not in exc.zones:
                continue
            minute, weekday, ordinal = self.local(item.event.time_us)
            if exc.hours is not None and not exc.hours.contains(minute):
                continue
            if exc.days and DAYS[weekday] not in exc.days:
                continue
            if exc.until is not None and ordinal > exc.until.toordinal():
                continue
            return exc
        return None

    def in_hours(self, hours: HourRange | None, days: list[str], time_us: int) -> bool:
        minute, weekday, _ = self.local(time_us)
        if hours is not None and not hours.contains(minute):
            return False
        return not (days and DAYS[weekday] not in days)


def who(item: EnrichedEvent) -> str:
    name = item.event.user or "an unnamed user"
    if item.user is None or not item.user.known:
        return f"{name} (not in the directory)"
    return f"{name} ({', '.join(item.user.roles) or 'no role'})"


def verb(item: EnrichedEvent) -> str:
    if item.event.outcome == FAILURE:
        return f"tried to {item.event.action}"
    return _VERBS.get(item.event.action, item.event.action)


def count(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def span(width_us: int) -> str:
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("min", 60_000_000), ("s", 1_000_000)):
        if width_us % size == 0:
            return f"{width_us // size} {unit}"
    return f"{width_us / 1_000_000:g} s"


# A match is made for every violation (a flood of them in a leak): `Match(...)` with keywords runs the
# NamedTuple's interpreted __new__; the tuple is built directly instead, as the parsers build their events.
_new_match: Final[Callable[[tuple[Any, ...]], Match]] = partial(tuple.__new__, Match)


def make_match(
    item: EnrichedEvent,
    ctx: PolicyContext,
    *,
    rule_id: str,
    kind: str,
    severity: str,
    sentence: str,
    categories: tuple[str, ...] | None = None,
    key: str = "",
    volume: float | None = None,
    unit: str | None = None,
    limit: float | None = None,
    window: tuple[int, int] | None = None,
    evidence: tuple[str, ...] | None = None,
    attempt_keeps_severity: bool = False,
) -> Match:
    """A refused attempt takes the policy's `attempt_severity`, unless `attempt_keeps_severity` (Sigma rules
    say their own level for it)."""
    ev = item.event
    attempt = ev.outcome == FAILURE
    digest = hashlib.blake2b(f"{rule_id}\0{key}\0{ev.id}".encode(), digest_size=16).hexdigest()
    # every field of Match, in its order (tests/policy/test_detectors.py checks each against its name)
    return _new_match((
        digest, rule_id, kind, ctx.defaults.attempt_severity if attempt and not attempt_keeps_severity else severity,
        ev.time_us, ev.user, ctx.roles(item), ev.object,
        categories if categories is not None else ctx.categories(item), volume, unit, limit,
        window[0] if window else None, window[1] if window else None, evidence if evidence is not None else (ev.id,),
        sentence, attempt, ev.source_ip, ctx.zone(item), ev.rows, ev.bytes, len(ev.record_ids), ev.id,
    ))  # fmt: skip
