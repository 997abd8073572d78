"""From the store's aggregates to the report model: per-category sections, role drift, incidents, summary.
The unusual-activity findings are in findings.py."""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pii_guard.incidents import records
from pii_guard.incidents.records import IncidentRecord
from pii_guard.policy.models import DAYS, Policy, RolePolicy
from pii_guard.reports import findings as find
from pii_guard.reports.model import (
    Accessor,
    CategorySection,
    DayRow,
    DriftRow,
    Figure,
    Finding,
    IncidentRow,
    ObjectRow,
    Report,
    UserVolume,
    ZoneRow,
)
from pii_guard.reports.period import Period, from_us
from pii_guard.reports.queries import EPOCH_ORDINAL, EventFacts, Hours, ObjectUse, Place, Totals, Usage

Namer = Callable[[str | None], str]
StatusOf = Callable[[str], str]  # a login name's status in the directory (enrich/directory.py)


@dataclass(frozen=True)
class Settings:
    """The thresholds of one report (from ReportsConfig)."""

    lookback_us: int = 30 * 86_400_000_000
    dormant_after_us: int = 14 * 86_400_000_000
    baseline_factor: float = 5.0
    baseline_min_events: int = 50
    work_hours: tuple[int, int] = (7 * 60, 19 * 60)
    work_days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    top: int = 10
    pseudonymize: bool = False


def day_of(local_day: int) -> date:
    return date.fromordinal(EPOCH_ORDINAL + local_day)


class RoleCheck:
    """What the access policy lets a set of roles view (the role_access detector's rule, memoized)."""

    def __init__(self, policy: Policy | None) -> None:
        self.policy = policy
        self.active = policy is not None and bool(policy.roles)
        self.view_actions: tuple[str, ...] = tuple(policy.defaults.view_actions) if policy else ("read", "export")
        self._memo: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}

    def policies(self, roles: str) -> list[tuple[str, RolePolicy]]:
        if self.policy is None:
            return []
        return [(name, self.policy.roles[name]) for name in roles.split() if name in self.policy.roles]

    def denied(self, roles: str, categories: tuple[str, ...]) -> tuple[str, ...]:
        """The categories of an access these roles may not view (nothing without a role policy)."""
        if not self.active:
            return ()
        key = (roles, categories)
        hit = self._memo.get(key)
        if hit is None:
            allowed = {c for _, r in self.policies(roles) for c in r.may_view}
            hit = () if "*" in allowed else tuple(c for c in categories if c not in allowed)
            self._memo[key] = hit
        return hit

    def hours(self, roles: str) -> list[Hours]:
        """The hours of the roles that have hours or days; empty when none of them is limited in time."""
        out = []
        for _, role in self.policies(roles):
            if role.hours is None and not role.days:
                continue
            start, end = (role.hours.start_min, role.hours.end_min) if role.hours else (0, 1440)
            days = frozenset(DAYS.index(d) for d in role.days) if role.days else frozenset(range(7))
            out.append(Hours(start, end, days))
        return out


def build_report(facts: EventFacts, period: Period, settings: Settings, policy: Policy | None,
                 state: sqlite3.Connection | None, name_of: Namer, now_us: int,
                 status_of: StatusOf | None = None) -> Report:
    tz = period.timezone
    roll = facts.rollup(period.start_us, period.end_us, tz)
    usage, objects = roll.usage, roll.objects
    history = facts.history(period.start_us - settings.lookback_us, period.start_us, tz)
    roles = RoleCheck(policy)
    role_hours = {r: h for r in sorted({u.roles for u in usage if u.known}) if (h := roles.hours(r))}
    work = Hours(settings.work_hours[0], settings.work_hours[1],
                 frozenset(DAYS.index(d) for d in settings.work_days))
    off = facts.off_hours(period.start_us, period.end_us, tz, work, policy.timezone if policy else "UTC",
                          role_hours, roles.view_actions)
    previous = period.previous()
    before = facts.totals(previous.start_us, previous.end_us)

    seen_cats: dict[str, set[str]] = defaultdict(set)
    for s in history:
        seen_cats[s.user].update(s.categories)
    ctx = find.Context(period, settings, roles, name_of)
    findings: list[Finding] = []
    findings += find.honeytoken_access(ctx, facts, objects)
    findings += find.outside_role_categories(ctx, usage)
    findings += find.off_hours(ctx, off)
    findings += find.new_places(ctx, roll.places, history)
    findings += find.largest_exports(ctx, facts, objects)
    findings += find.exports_of_unknown_volume(ctx, objects)
    findings += find.above_baseline(ctx, usage, history)
    users = {u.user for u in usage if u.user is not None}
    findings += find.dormant_returned(ctx, usage, facts.last_seen_before(sorted(users), period.start_us))
    findings += find.unknown_accounts(ctx, usage, roll.places)
    if status_of is not None:
        findings += find.disabled_accounts(ctx, usage, objects, status_of)

    incidents = _incidents(state, period) if state is not None else []
    incidents_before = _incidents(state, previous) if state is not None else []
    sections = _sections(usage, roll.places, objects, seen_cats, roles, findings, settings, name_of)
    notes = []
    if not roles.active:
        notes.append("No access policy with roles is configured: accesses outside a role's categories or hours "
                     "and role drift are not checked.")
    if status_of is None:
        notes.append("No user directory: accounts disabled in it are not checked.")
    if state is None:
        notes.append("No state database: incidents are not shown.")
    return Report(
        period=period,
        previous=previous,
        generated=from_us(now_us, period.tz).strftime("%Y-%m-%d %H:%M %Z"),
        pseudonymized=settings.pseudonymize,
        summary=_summary(usage, objects, before, incidents, incidents_before, period, previous),
        categories=sections,
        findings=findings,
        drift=_drift(usage, roles),
        incidents=[_incident_row(r, name_of, period) for r in incidents],
        days=_days(usage, roll.hours),
        heatmap=_heatmap(roll.hours),
        top_users=_top_users(usage, settings.top, name_of),
        top=settings.top,
        notes=notes,
        settings=_described(ctx, status_of is not None),
    )


def _described(ctx: find.Context, directory: bool) -> dict[str, str]:
    out = ctx.describe()
    if directory:
        out["account status"] = ("as the directory has it when the report is made; accounts "
                                  f"{' or '.join(find.INACTIVE_STATUSES)} are findings")
    return out


def _summary(usage: list[Usage], objects: list[ObjectUse], before: Totals, incidents: list[IncidentRecord],
             incidents_before: list[IncidentRecord], period: Period, previous: Period) -> list[Figure]:
    cats = {c for u in usage for c in u.categories}

    def opened(found: list[IncidentRecord], p: Period) -> int:
        """Incidents are dated by the event that opened them (their first match's event time), not by when they
        were recorded: a replay of last week's logs counts in last week's periods."""
        return sum(1 for r in found if p.start_us <= r.first_us < p.end_us)

    def resolved(found: list[IncidentRecord], p: Period) -> int:
        return sum(1 for r in found
                   if not r.is_open and r.closed_us is not None and p.start_us <= r.closed_us < p.end_us)

    return [
        Figure("events", sum(u.events for u in usage), before.events),
        Figure("users", len({u.user for u in usage if u.user is not None}), before.users),
        Figure("objects", len({o.object for o in objects}), before.objects),
        Figure("categories touched", len(cats), len(before.categories)),
        Figure("rows", sum(u.rows for u in usage), before.rows),
        Figure("bytes", sum(u.bytes for u in usage), before.bytes),
        Figure("incidents opened", opened(incidents, period), opened(incidents_before, previous)),
        Figure("incidents resolved", resolved(incidents, period), resolved(incidents_before, previous)),
    ]


class _Tally:
    """A user's (or an object's) running totals within one category."""

    def __init__(self) -> None:
        self.events = self.rows = self.bytes = self.outside = 0
        self.zones: dict[str, int] = {}
        self.objects: set[str] = set()
        self.users: set[str | None] = set()
        self.cats: set[str] = set()
        self.roles = ""
        self.department = ""
        self.known = True

    def add(self, u: Usage | ObjectUse) -> None:
        self.events += u.events
        self.rows += u.rows
        self.bytes += u.bytes
        self.users.add(u.user)


def _sections(usage: list[Usage], places: list[Place], objects: list[ObjectUse], seen_cats: dict[str, set[str]],
              roles: RoleCheck, findings: list[Finding], settings: Settings, name_of: Namer) -> list[CategorySection]:
    per: dict[str, dict[str | None, _Tally]] = defaultdict(dict)
    zones: dict[str, dict[str, _Tally]] = defaultdict(dict)
    for u in usage:
        denied = roles.denied(u.roles, u.categories) if u.action in roles.view_actions and u.known else ()
        for c in u.categories:
            t = per[c].get(u.user)
            if t is None:
                t = per[c][u.user] = _Tally()
            t.add(u)
            if c in denied:
                t.outside += u.events
            t.roles, t.department, t.known = u.roles, u.department or "", u.known is not False
    for pl in places:
        zone = pl.zone or "-"
        for c in pl.categories:
            t = per[c][pl.user]
            t.zones[zone] = t.zones.get(zone, 0) + pl.events
            z = zones[c].get(zone)
            if z is None:
                z = zones[c][zone] = _Tally()
            z.events += pl.events
            z.users.add(pl.user)
    per_object: dict[str, dict[str, _Tally]] = defaultdict(dict)
    for o in objects:
        for c in o.categories:
            t = per[c].get(o.user)
            if t is not None:
                t.objects.add(o.object)
            s = per_object[c].get(o.object)
            if s is None:
                s = per_object[c][o.object] = _Tally()
            s.add(o)
    sections = []
    for cat in sorted(per):
        accessors = [_accessor(cat, user, t, seen_cats, name_of) for user, t in per[cat].items()]
        accessors.sort(key=lambda a: (-a.events, -a.rows, a.user))
        cat_objects = sorted((ObjectRow(cat, obj, s.events, len(s.users), s.rows, s.bytes)
                              for obj, s in per_object[cat].items()), key=lambda r: (-r.events, r.object))
        cat_zones = sorted((ZoneRow(cat, zone, z.events, len(z.users)) for zone, z in zones[cat].items()),
                           key=lambda r: (-r.events, r.zone))
        sections.append(CategorySection(
            name=cat, events=sum(a.events for a in accessors), users=sum(1 for u in per[cat] if u is not None),
            objects=len(cat_objects), rows=sum(a.rows for a in accessors), bytes=sum(a.bytes for a in accessors),
            accessors=accessors, object_rows=cat_objects, zones=cat_zones,
            outside_role=[f for f in findings if f.kind in ("outside_role_category", "outside_role_hours")
                          and cat in f.categories.split(", ")],
            first_time=[a for a in accessors if a.first_time],
            top_users=sorted(accessors, key=lambda a: (-(a.rows or a.events), -a.events, a.user))[: settings.top]))
    return sections


def _accessor(cat: str, user: str | None, t: _Tally, seen_cats: dict[str, set[str]], name_of: Namer) -> Accessor:
    top_zones = sorted(t.zones.items(), key=lambda kv: (-kv[1], kv[0]))
    return Accessor(category=cat, user=name_of(user), roles=t.roles, department=t.department, known=t.known,
                    events=t.events, rows=t.rows, bytes=t.bytes, objects=len(t.objects),
                    zones=", ".join(z for z, _ in top_zones),
                    first_time=user is not None and cat not in seen_cats.get(user, ()), outside_role=t.outside)


def _drift(usage: list[Usage], roles: RoleCheck) -> list[DriftRow]:
    if not roles.active or roles.policy is None:
        return []
    touched: dict[str, set[str]] = defaultdict(set)
    beyond: dict[str, set[str]] = defaultdict(set)
    members: dict[str, set[str | None]] = defaultdict(set)
    for u in usage:
        if not u.known or not u.categories:
            continue
        for role in u.roles.split():
            members[role].add(u.user)
        if u.action not in roles.view_actions:
            continue
        denied = roles.denied(u.roles, u.categories)
        for role in u.roles.split():
            touched[role].update(u.categories)
            beyond[role].update(denied)
    out = []
    for role in sorted(set(roles.policy.roles) | set(members)):
        policy = roles.policy.roles.get(role)
        granted = sorted(policy.may_view) if policy is not None else []
        unused = [] if "*" in granted else [c for c in granted if c not in touched[role]]
        out.append(DriftRow(role, len(members[role]), ", ".join(granted) or "-",
                            ", ".join(sorted(touched[role])) or "-", ", ".join(sorted(beyond[role])),
                            ", ".join(unused), policy is not None))
    return out


def _days(usage: list[Usage], hours: dict[tuple[int, int], int]) -> list[DayRow]:
    events: dict[tuple[int, str], int] = defaultdict(int)
    users: dict[tuple[int, str], set[str | None]] = defaultdict(set)
    for u in usage:
        for c in u.categories:
            events[(u.day, c)] += u.events
            users[(u.day, c)].add(u.user)
    return [DayRow(day_of(d).isoformat(), c, n, len(users[(d, c)])) for (d, c), n in sorted(events.items())]


def _heatmap(hours: dict[tuple[int, int], int]) -> list[list[int]]:
    grid = [[0] * 24 for _ in range(7)]
    for (day, hour), n in hours.items():
        grid[(day + 3) % 7][hour] += n
    return grid


def _top_users(usage: list[Usage], top: int, name_of: Namer) -> list[UserVolume]:
    tally: dict[str | None, _Tally] = {}
    for u in usage:
        if not u.categories:
            continue
        t = tally.get(u.user)
        if t is None:
            t = tally[u.user] = _Tally()
        t.add(u)
        t.cats.update(u.categories)
        t.roles, t.department = u.roles, u.department or ""
    rows = [UserVolume(name_of(user), t.roles, t.department, t.events, t.rows, t.bytes, ", ".join(sorted(t.cats)))
            for user, t in tally.items()]
    rows.sort(key=lambda r: (-r.events, -r.rows, r.user))
    return rows[:top]


def _incidents(state: sqlite3.Connection, period: Period) -> list[IncidentRecord]:
    """The incidents whose first event falls in the period, and those resolved in it."""
    found = records.select(state, "(first_us >= ? AND first_us < ?) OR (closed_us >= ? AND closed_us < ?)",
                           [period.start_us, period.end_us, period.start_us, period.end_us])
    return sorted(found, key=lambda r: (r.first_us, r.opened_us))


def _after(start_us: int, end_us: int | None) -> str:
    if end_us is None:
        return "-"
    minutes = max(0, end_us - start_us) // 60_000_000
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return f"{days}d {hours}h" if days else (f"{hours}h {mins:02d}m" if hours else f"{mins}m")


def _incident_row(record: IncidentRecord, name_of: Namer, period: Period) -> IncidentRow:
    title = record.title
    user = name_of(record.user) if record.user else "-"
    if record.user and user != record.user:
        title = title.replace(record.user, user)
    def local(us: int) -> str:
        return datetime.fromtimestamp(us / 1e6, UTC).astimezone(period.tz).strftime("%Y-%m-%d %H:%M")

    return IncidentRow(record.label, record.severity, record.status, record.rule_id, title, user,
                       local(record.first_us), local(record.opened_us),
                       _after(record.opened_us, record.acknowledged_us),
                       _after(record.opened_us, record.closed_us if not record.is_open else None))
