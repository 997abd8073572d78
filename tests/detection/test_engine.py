"""Event-time correctness and state that survives: reordering within lateness, batch splits and restarts
give the same matches as one ordered run."""

from __future__ import annotations

import itertools
import random
import tempfile
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pii_guard.detection.engine import DetectionEngine, Observe
from pii_guard.model import AccessEvent, EnrichedEvent, Match
from pii_guard.policy.compile import CompiledPolicy, compile_policy
from pii_guard.policy.models import Policy
from pii_guard.store.state import StateStore
from tests.policy.events import RULES, at, enricher, ev, run, shipped_policy


def _workload(seed: int, n: int = 400) -> list[AccessEvent]:
    rnd = random.Random(seed)
    t = at("2026-11-27 06:50:00")
    events = []
    for _ in range(n):
        t += rnd.randint(0, 40_000_000)
        user = rnd.choice(["bob", "alice", "smbalice", "mallory", "postgres"])
        action = rnd.choice(["read", "read", "read", "export"])
        obj = rnd.choice(["db:crm.public.customers", "db:crm.public.orders", "file:/srv/share/hr/a.pdf",
                          "file:/srv/share/hr/b.pdf", "db:crm.public.audit"])
        ip = rnd.choice(["10.20.0.5", "10.10.0.1", "203.0.113.7", "10.30.0.2", None])
        # volumes as logs give them: rows (a database), bytes (a file server), neither, or a whole-table COPY's 0
        rows = rnd.choice([None, 0, rnd.randint(1, 120)]) if obj.startswith("db:") else None
        nbytes = rnd.choice([None, rnd.randint(1, 40_000_000)]) if obj.startswith("file:") else None
        events.append(ev(t, user=user, action=action, obj=obj, ip=ip, rows=rows, nbytes=nbytes))
    return events


def _keys(matches: list[Match]) -> list[tuple[str, str, int]]:
    return sorted((m.id, m.rule_id, m.time_us) for m in matches)


def _run_split(events: list[AccessEvent], cuts: list[int]) -> list[Match]:
    """Run with a save to a real state database and a fresh engine (a restart) at every cut."""
    policy = shipped_policy()
    enrich = enricher()
    out: list[Match] = []
    with tempfile.TemporaryDirectory() as tmp:
        state_path = Path(tmp) / "state.db"
        bounds = [0, *sorted(set(cuts)), len(events)]
        for lo, hi in itertools.pairwise(bounds):
            fresh = shipped_policy()
            engine = DetectionEngine(fresh.detectors, policy.policy.lateness)
            store = StateStore(state_path)
            engine.restore(store.load_windows(), store.load_engine(), store.load_buffer())
            found = [m for e in events[lo:hi] for m, _ in engine.process(enrich(e), "src")]
            if hi == len(events):
                found += [m for m, _ in engine.drain()]
            store.commit(engine.take_changes(), [(m, "src") for m in found], [], 0)
            store.close()
            out.extend(found)
    return out


def test_workload_raises_something_to_compare() -> None:
    assert len(run(_workload(1))) > 5


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.integers(1, 399), max_size=6))
def test_same_matches_in_any_batch_split_with_restarts(seed: int, cuts: list[int]) -> None:
    events = _workload(seed)
    assert _keys(_run_split(events, cuts)) == _keys(run(events))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_out_of_order_within_lateness_gives_live_order_matches(seed: int) -> None:
    events = _workload(seed)
    rnd = random.Random(seed)
    shuffled = list(events)
    # swap neighbours whose times differ by less than the 5 s lateness
    for i in range(len(shuffled) - 1):
        if shuffled[i + 1].time_us - shuffled[i].time_us < 4_000_000 and rnd.random() < 0.5:
            shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    assert _keys(run(shuffled)) == _keys(run(events))


def test_midnight_and_dst_change_use_the_policy_zone() -> None:
    # Berlin leaves DST on 2026-10-25 at 03:00 CEST -> 02:00 CET. Support hours are 07:00-20:00 local.
    before = run([ev("2026-10-24 05:30:00", user="bob", ip="10.20.0.5", rows=1)])  # 07:30 CEST: allowed
    after = run([ev("2026-10-26 05:30:00", user="bob", ip="10.20.0.5", rows=1)])  # 06:30 CET: outside
    assert before == []
    assert [m.rule_id for m in after] == ["role-access:support"]
    # a quota window spanning midnight keeps counting across it
    start = at("2026-11-27 22:40:00")
    events = [ev(start + i * 300_000_000, user="bob", ip="10.20.0.5", rows=60) for i in range(5)]
    policy_hours_free = [m for m in run(events) if m.rule_id == "support-personal-hourly"]
    assert len(policy_hours_free) == 1


def test_week_old_logs_replay_like_live() -> None:
    live = _workload(7)
    week_ago = [e._replace(time_us=e.time_us - 7 * 86_400_000_000) for e in live]
    assert [(m.rule_id, m.user) for m in run(week_ago)] == [(m.rule_id, m.user) for m in run(live)]


class _Unrouted(DetectionEngine):
    """Every event to every detector's own `observe`: no prefilter, no object narrowing, no routed entry."""

    def _route(self, item: EnrichedEvent) -> tuple[tuple[Observe, ...], tuple[Observe, ...]]:
        return tuple(d.observe for d in self.immediate), tuple(d.observe for d in self.ordered)


def _scoped_policy() -> CompiledPolicy:
    """The shipped policy plus rules limited to some objects, of both kinds (stateless and windowed)."""
    data = yaml.safe_load((RULES / "access-policy.yaml").read_text())
    data["zone_restrictions"] += [
        {"id": "customers-datacenter", "objects": ["db:crm.public.customers"], "categories": ["personal"],
         "allow_zones": ["datacenter"]},
        {"id": "hr-files-office", "objects": ["file:/srv/share/hr/*"], "allow_zones": ["office"]},
        {"id": "never-seen", "objects": ["db:crm.public.nothing_*"], "allow_zones": ["datacenter"]},
    ]  # fmt: skip
    for role in ("support", "analyst", "hr"):
        data["roles"].setdefault(role, {"may_view": ["personal"]}).setdefault("quotas", []).append(
            {"id": f"{role}-orders", "objects": ["db:crm.public.orders"], "categories": ["personal"],
             "measure": "records", "max": 150, "per": "1h"})  # fmt: skip
    return compile_policy(Policy.model_validate(data))


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000))
def test_routing_gives_the_matches_of_every_detector_seeing_every_event(seed: int) -> None:
    policy = _scoped_policy()
    enrich = enricher()
    items = [enrich(e) for e in _workload(seed)]
    found = []
    for engine_class in (DetectionEngine, _Unrouted):
        compiled = _scoped_policy()
        engine = engine_class(compiled.detectors, policy.policy.lateness)
        matches = [m for item in items for m, _ in engine.process(item, "src")] + [m for m, _ in engine.drain()]
        found.append(matches)
    assert found[0] == found[1]
    assert len(found[0]) > 5
