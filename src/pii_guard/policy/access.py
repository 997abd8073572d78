"""Stateless policy detectors: where from (zones), who may view what (roles, hours), honeytokens."""

from __future__ import annotations

from typing import NamedTuple

from pii_guard.model import EnrichedEvent, Match
from pii_guard.policy.context import PolicyContext, make_match, verb, who
from pii_guard.policy.models import Exception_, Honeytoken, RolePolicy, RoleZone, ZoneRestriction
from pii_guard.rules.matchers import GlobSet
from pii_guard.rules.windows import KeyedWindows


class _Stateless:
    def __init__(self) -> None:
        self.exercised: set[str] = set()

    def expire(self, watermark_us: int) -> None:
        return None

    def windows(self) -> dict[str, KeyedWindows]:  # type: ignore[type-arg]
        return {}

    def restore(self, store: str, key: str, state: list[object]) -> None:
        return None


def _what(item: EnrichedEvent, categories: tuple[str, ...]) -> str:
    cats = ", ".join(categories) if categories else "unclassified"
    obj = item.event.object or "an unnamed object"
    return f"{cats} data ({obj})"


class _ZoneRule(_Stateless):
    """What both zone detectors share: a rule with an id and positive exceptions."""

    rule: ZoneRestriction | RoleZone
    ctx: PolicyContext

    def branches(self) -> set[str]:
        return {self.rule.id} | {f"{self.rule.id}:exception:{i}" for i in range(len(self.rule.exceptions))}

    def _excepted(self, item: EnrichedEvent, record: bool) -> Exception_ | None:
        """The exception covering this event; with `record`, note that its branch was exercised."""
        exc = self.ctx.excepted(self.rule.exceptions, item)
        if exc is not None and record:
            self.exercised.add(f"{self.rule.id}:exception:{self.rule.exceptions.index(exc)}")
        return exc

    def _why_excepted(self, item: EnrichedEvent) -> str | None:
        zone = self.ctx.zone(item)
        if zone in self.rule.allow_zones:
            return f"zone {zone} is allowed"
        exc = self._excepted(item, record=False)
        return f"exception: {exc.reason}" if exc is not None else None


class ZoneRestrictionDetector(_ZoneRule):
    """Personal data reached from a zone that may not reach it."""

    kind = "ip_restriction"

    def __init__(self, rule: ZoneRestriction, ctx: PolicyContext) -> None:
        super().__init__()
        self.rule = rule
        self.ctx = ctx
        self._cats = frozenset(rule.categories)
        self._objects = GlobSet(rule.objects)
        self._hosts = GlobSet(rule.hosts)
        self._allowed = frozenset(rule.allow_zones)

    @staticmethod
    def prefilter_key(item: EnrichedEvent) -> object:
        """What `prefilter` reads of an event (the engine decides all zone restrictions of one key together)."""
        return item.data.classified, item.data.categories, item.zone

    def prefilter(self, item: EnrichedEvent) -> bool:
        cats = item.data.categories if item.data.classified else self.ctx.unclassified  # ctx.categories(item)
        if (self._cats and self._cats.isdisjoint(cats)) or (not self._cats and not cats):
            return False
        return self.ctx.zone(item) not in self._allowed

    def accepts_object(self, obj: str | None) -> bool:
        """Whether the rule's `objects` admit `obj`; the engine routes only such events here (an event on any
        other object is out of scope: no match, nothing recorded)."""
        return not self._objects or self._objects(obj)

    def _in_scope(self, item: EnrichedEvent) -> bool:
        cats = self.ctx.categories(item)
        if (self._cats and self._cats.isdisjoint(cats)) or (not self._cats and not cats):
            return False
        if self._objects and not self._objects(item.event.object):
            return False
        return not (self._hosts and not self._hosts(item.event.host))

    def why_not(self, item: EnrichedEvent) -> str | None:
        if not self._in_scope(item):
            return None
        return self._why_excepted(item)

    def observe(self, item: EnrichedEvent) -> list[Match]:
        ctx = self.ctx
        zone = ctx.zone(item)
        if zone in self._allowed or not self._in_scope(item):
            return []
        cats = ctx.categories(item)
        if self._excepted(item, record=True) is not None:
            return []
        self.exercised.add(self.rule.id)
        ip = item.event.source_ip or "no client IP"
        sentence = (f"{who(item)} {verb(item)} {_what(item, cats)} from zone {zone} ({ip}); "
                    f"allowed: {', '.join(self.rule.allow_zones)}")
        return [make_match(item, ctx, rule_id=self.rule.id, kind=self.kind, severity=self.rule.severity,
                           sentence=sentence)]


class RoleZoneDetector(_ZoneRule):
    """A role working from a zone it may not work from (logins included)."""

    kind = "ip_restriction"

    def __init__(self, rule: RoleZone, ctx: PolicyContext) -> None:
        super().__init__()
        self.rule = rule
        self.ctx = ctx
        self._roles = frozenset(rule.roles)
        self._allowed = frozenset(rule.allow_zones)

    def prefilter(self, item: EnrichedEvent) -> bool:
        if item.user is None or self._roles.isdisjoint(item.user.roles):
            return False
        return self.ctx.zone(item) not in self._allowed

    def why_not(self, item: EnrichedEvent) -> str | None:
        if item.user is None or self._roles.isdisjoint(item.user.roles):
            return None
        return self._why_excepted(item)

    def observe(self, item: EnrichedEvent) -> list[Match]:
        ctx = self.ctx
        if item.user is None or self._roles.isdisjoint(item.user.roles):
            return []
        zone = ctx.zone(item)
        if zone in self._allowed:
            return []
        if self._excepted(item, record=True) is not None:
            return []
        self.exercised.add(self.rule.id)
        role = ", ".join(sorted(self._roles.intersection(item.user.roles)))
        target = f" {item.event.object}" if item.event.object else ""
        sentence = (f"{who(item)} {verb(item)}{target} from zone {zone} "
                    f"({item.event.source_ip or 'no client IP'}); role {role} may work only from "
                    f"{', '.join(self.rule.allow_zones)}")
        return [make_match(item, ctx, rule_id=self.rule.id, kind=self.kind, severity=self.rule.severity,
                           sentence=sentence)]


class _Verdict(NamedTuple):
    """What a user's roles say about some categories (the same for every event with these roles and categories)."""

    denied: tuple[str, ...]  # categories none of the roles may view
    timed: list[tuple[str, RolePolicy]]  # the roles' policies limited to some hours or days
    rule: str  # the role named in a category match
    may: str  # what the roles may view, for the sentence
    severity: str  # of a category match


class RoleAccessDetector(_Stateless):
    """Categories a user's roles may not view, outside allowed hours, or a user not in the directory."""

    kind = "role_access"

    def __init__(self, roles: dict[str, RolePolicy], ctx: PolicyContext) -> None:
        super().__init__()
        self._verdicts: dict[tuple[tuple[str, ...], tuple[str, ...]], _Verdict] = {}
        self.roles = roles
        self.ctx = ctx
        self._actions = frozenset(ctx.defaults.view_actions)

    def observe(self, item: EnrichedEvent) -> list[Match]:
        ctx = self.ctx
        if item.event.action not in self._actions or item.user is None:
            return []
        cats = item.data.categories if item.data.classified else ctx.unclassified  # ctx.categories(item)
        if not cats:
            return []
        if not item.user.known:
            if ctx.defaults.unknown_user == "allow":
                return []
            sentence = f"{who(item)} {verb(item)} {_what(item, cats)}"
            self.exercised.add("role-access:unknown-user")
            return [make_match(item, ctx, rule_id="role-access:unknown-user", kind=self.kind,
                               severity=ctx.defaults.unknown_user_severity, sentence=sentence)]
        verdict = self._verdict(item.user.roles, cats)
        denied, timed = verdict.denied, verdict.timed
        if denied:
            rule = verdict.rule
            sentence = f"{who(item)} {verb(item)} {_what(item, denied)}; their roles may view {verdict.may}"
            self.exercised.add(f"role-access:{rule}:category")
            return [make_match(item, ctx, rule_id=f"role-access:{rule}", kind=self.kind,
                               severity=verdict.severity, sentence=sentence, categories=denied)]
        if timed and not any(ctx.in_hours(r.hours, list(r.days), item.event.time_us) for _, r in timed):
            name, role = timed[0]
            hours = role.hours
            when = (f"{hours.start_min // 60:02d}:{hours.start_min % 60:02d}-"
                    f"{hours.end_min // 60:02d}:{hours.end_min % 60:02d}") if hours else "any time"
            days = f" on {', '.join(role.days)}" if role.days else ""
            sentence = f"{who(item)} {verb(item)} {_what(item, cats)} outside {name} hours ({when}{days})"
            self.exercised.add(f"role-access:{name}:hours")
            return [make_match(item, ctx, rule_id=f"role-access:{name}", kind=self.kind,
                               severity=role.severity, sentence=sentence)]
        return []

    def prefilter(self, item: EnrichedEvent) -> bool:
        if item.event.action not in self._actions or item.user is None:
            return False
        cats = self.ctx.categories(item)
        if not cats:
            return False
        if not item.user.known:
            return self.ctx.defaults.unknown_user == "alert"
        verdict = self._verdict(item.user.roles, cats)
        return bool(verdict.denied) or bool(verdict.timed)

    def _verdict(self, roles: tuple[str, ...], cats: tuple[str, ...]) -> _Verdict:
        """What the roles say about the categories; memoized per roles+categories."""
        key = (roles, cats)
        hit = self._verdicts.get(key)
        if hit is None:
            policies = [(name, self.roles[name]) for name in roles if name in self.roles]
            allowed = {c for _, r in policies for c in r.may_view}
            hit = _Verdict(
                () if "*" in allowed else tuple(c for c in cats if c not in allowed),
                [(name, r) for name, r in policies if r.hours is not None or r.days],
                policies[0][0] if policies else (roles[0] if roles else "no-role"),
                ", ".join(sorted({c for _, r in policies for c in r.may_view})) or "nothing",
                max((r.severity for _, r in policies), key=_rank, default="high"),
            )
            self._verdicts[key] = hit
        return hit

    def branches(self) -> set[str]:
        labels = {f"role-access:{name}:category" for name, r in self.roles.items() if "*" not in r.may_view}
        labels |= {f"role-access:{name}:hours" for name, r in self.roles.items() if r.hours or r.days}
        if self.ctx.defaults.unknown_user == "alert":
            labels.add("role-access:unknown-user")
        return labels

    def why_not(self, item: EnrichedEvent) -> str | None:
        if item.event.action not in self._actions or item.user is None or not self.ctx.categories(item):
            return None
        if not item.user.known:
            return "unknown users are allowed (defaults.unknown_user)"
        allowed = sorted({c for name in item.user.roles if name in self.roles for c in self.roles[name].may_view})
        return f"roles {', '.join(item.user.roles) or '(none)'} may view {', '.join(allowed) or 'nothing'}"


_RANKS = {"low": 0, "medium": 1, "high": 2, "critical": 3}


def _rank(severity: str) -> int:
    return _RANKS[severity]


class HoneytokenDetector(_Stateless):
    """Any access to a decoy object or record, or to an object the data map marks as a honeytoken."""

    kind = "honeytoken"

    def __init__(self, tokens: list[Honeytoken], ctx: PolicyContext) -> None:
        super().__init__()
        self.tokens = [(t, GlobSet(t.objects), frozenset(t.records)) for t in tokens]
        self.ctx = ctx
        self._by_object: dict[str, Honeytoken | None] = {}
        self._records = {r: t for t, _, records in self.tokens for r in records}
        # every decoy object in one alternation: most objects are new (ids in a URL) and none of them a decoy
        self._any_object = GlobSet(pattern for t in tokens for pattern in t.objects)

    def _token_for_object(self, obj: str | None) -> Honeytoken | None:
        if obj is None:
            return None
        by_object = self._by_object
        if obj in by_object:  # not try/except: a miss, the usual case, would raise
            return by_object[obj]
        token: Honeytoken | None = None
        if self._any_object(obj):
            for candidate, objects, _ in self.tokens:
                if objects(obj):
                    token = candidate
                    break
        if len(by_object) >= 200_000:
            by_object.clear()
        by_object[obj] = token
        return token

    def observe(self, item: EnrichedEvent) -> list[Match]:
        ev = item.event
        if ev.action in ("login", "logout"):
            return []
        token = self._token_for_object(ev.object)
        what = ev.object
        if token is None and ev.record_ids and self._records:
            hits = sorted(r for r in ev.record_ids if r in self._records)
            if hits:
                token = self._records[hits[0]]
                what = f"record(s) {', '.join(hits)}"
        if token is not None:
            sentence = f"{who(item)} {verb(item)} honeytoken {what}"
            self.exercised.add(token.id)
            return [make_match(item, self.ctx, rule_id=token.id, kind=self.kind, severity=token.severity,
                               sentence=sentence)]
        if item.data.honeytoken:
            sentence = f"{who(item)} {verb(item)} honeytoken {ev.object} (marked in the data map)"
            self.exercised.add("honeytoken:data-map")
            return [make_match(item, self.ctx, rule_id="honeytoken:data-map", kind=self.kind,
                               severity="critical", sentence=sentence)]
        return []

    def prefilter(self, item: EnrichedEvent) -> bool:
        return item.event.action not in ("login", "logout")

    def branches(self) -> set[str]:
        return {token.id for token, _, _ in self.tokens}

    def why_not(self, item: EnrichedEvent) -> str | None:
        return None
