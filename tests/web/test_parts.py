"""The console's small parts on their own: histogram buckets and budget, session cookies, the login limiter,
handles and what is believed of a proxy."""

from __future__ import annotations

import itertools
from typing import Any

from starlette.datastructures import Headers

from pii_guard.clock import FixedClock
from pii_guard.config.secrets import Secret
from pii_guard.search.query import MatchAll
from pii_guard.search.request import SearchRequest, TopRow
from pii_guard.web import histogram
from pii_guard.web.handles import Handles
from pii_guard.web.ratelimit import LoginLimiter
from pii_guard.web.security import ProxyTrust, networks
from pii_guard.web.sessions import SessionCodec, csrf_matches

HOUR = 3_600_000_000
DAY = 24 * HOUR
T0 = 1_795_824_000_000_000  # 2026-11-28T00:00Z


class SlowCounts:
    """A backend whose count takes `cost` seconds of the fixed clock and finds one event a minute."""

    def __init__(self, clock: FixedClock, cost: float) -> None:
        self.clock, self.cost, self.asked = clock, cost, 0

    def count(self, request: SearchRequest) -> int:
        self.asked += 1
        self.clock.advance(self.cost)
        return (request.until_us - request.since_us) // 60_000_000

    def search(self, request: SearchRequest) -> list[dict[str, Any]]:
        return []

    def top(self, request: SearchRequest, field: str, by: str | None, size: int) -> list[TopRow]:
        return []

    def close(self) -> None:
        pass


def test_buckets_are_round_and_cover_the_range() -> None:
    step, edges = histogram.plan(T0 - 7 * DAY + 5, T0 + 1)
    assert step == 3 * HOUR
    assert edges[0][0] == T0 - 7 * DAY + 5
    assert edges[-1][1] == T0 + 1
    assert all(a[1] == b[0] for a, b in itertools.pairwise(edges))
    assert len(edges) <= 60
    assert histogram.plan(T0, T0 + 30 * 60_000_000)[0] == 60_000_000


def test_counting_stops_at_the_budget_newest_first() -> None:
    clock = FixedClock()
    backend = SlowCounts(clock, cost=0.05)
    hist = histogram.count(backend, MatchAll(), T0 - DAY, T0, clock, budget_s=0.2)
    assert not hist.complete
    counted = [b.count is not None for b in hist.buckets]
    assert counted[-5:] == [True] * 5
    assert not any(counted[:-5])
    full = histogram.count(backend, MatchAll(), T0 - DAY, T0, clock, budget_s=60)
    assert full.complete
    assert full.total == 24 * 60
    bars = full.bars()
    assert len(bars) == 48
    assert all(b.height > 0 for b in bars)
    assert bars[0].label == "11-27 00:00: 30 event(s)"
    assert full.step_text == "30 minutes"


def test_session_cookies_are_signed_and_expire() -> None:
    clock = FixedClock(1_795_824_000.0)
    codec = SessionCodec(Secret("k" * 32), clock, max_age_us=HOUR)
    session = codec.signed_in("rita", "password", "tag")
    cookie = codec.encode(session)
    assert codec.decode(cookie) == session
    assert SessionCodec(Secret("another key"), clock, HOUR).decode(cookie) is None
    assert codec.decode(cookie[:-1] + ("A" if cookie[-1] != "A" else "B")) is None
    assert codec.decode("garbage") is None
    assert codec.decode(None) is None
    assert csrf_matches(session, session.csrf)
    assert not csrf_matches(session, "")
    assert not csrf_matches(session, None)
    clock.advance(3601)
    assert codec.decode(cookie) is None


def test_login_limiter_counts_per_address_and_account_and_forgets() -> None:
    clock = FixedClock()
    limiter = LoginLimiter(2, 60_000_000, clock)
    assert limiter.retry_after("1.2.3.4", "rita") is None
    limiter.failed("1.2.3.4", "rita")
    clock.advance(10)
    limiter.failed("1.2.3.4", "Rita")
    assert limiter.retry_after("1.2.3.4", "other") == 50  # the address
    assert limiter.retry_after("5.6.7.8", "RITA") == 50  # the account, any case
    assert limiter.retry_after("5.6.7.8", "other") is None
    clock.advance(51)
    assert limiter.retry_after("1.2.3.4", "rita") is None


def test_handles_expire_and_belong_to_their_owner() -> None:
    clock = FixedClock()
    handles: Handles[object] = Handles(clock, ttl_s=60)
    token = handles.put("rita", "search", "user.name:bob")
    assert handles.get("rita", "search", token) == "user.name:bob"
    assert handles.get("dana", "search", token) is None
    assert handles.get("rita", "who", token) is None
    clock.advance(61)
    assert handles.get("rita", "search", token) is None


def test_proxy_trust() -> None:
    trust = ProxyTrust(networks(["10.0.0.0/24", "::1"]), "X-Forwarded-For", "X-User", "X-Role")
    headers = Headers({"x-forwarded-for": "203.0.113.9, 10.0.0.7", "x-user": "sam", "x-role": "Admin"})
    assert trust.client_address("10.0.0.5", headers) == "203.0.113.9"
    assert trust.client_address("192.0.2.1", headers) == "192.0.2.1"
    assert trust.identity("10.0.0.5", headers) == ("sam", "admin")
    assert trust.identity("::1", headers) == ("sam", "admin")
    assert trust.identity("192.0.2.1", headers) is None
    assert trust.identity("::ffff:10.0.0.9", headers) == ("sam", "admin")
    assert ProxyTrust((), "X-Forwarded-For", None, None).identity("10.0.0.5", headers) is None
