"""Unusual activity in a period: honeytoken accesses, accesses outside a role's categories or hours, off-hours
access, new client IPs or zones per user, the largest exports and the exports of unknown volume, users far above
their own baseline, dormant accounts that came back, accounts the directory does not know and accounts it marks
disabled (or left). Each check is a function of the period's aggregates."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from pii_guard.reports.model import Finding
from pii_guard.reports.period import Period, from_us
from pii_guard.reports.queries import EventFacts, HoneytokenUse, ObjectUse, OffHours, Place, Seen, Usage

if TYPE_CHECKING:
    from pii_guard.reports.build import RoleCheck, Settings

DAY_US = 86_400_000_000
MIN_HISTORY_DAYS = 3
INACTIVE_STATUSES = ("disabled", "left")  # directory statuses (enrich/directory.py) of accounts nobody should use
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Context:
    period: Period
    settings: Settings
    roles: RoleCheck
    name_of: Callable[[str | None], str]

    def when(self, time_us: int) -> str:
        return from_us(time_us, self.period.tz).strftime("%Y-%m-%d %H:%M")

    def describe(self) -> dict[str, str]:
        s = self.settings
        start, end = s.work_hours
        return {
            "working hours": f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d} "
                             f"{', '.join(s.work_days)}",
            "lookback": f"{s.lookback_us // DAY_US} days before the period",
            "dormant after": f"{s.dormant_after_us // DAY_US} days without access",
            "far above baseline": f"a day over {s.baseline_factor:g}x the user's median day (lookback) and at "
                                  f"least {s.baseline_min_events} events",
            "time zone": self.period.timezone,
        }


@dataclass
class _Acc:
    events: int = 0
    rows: int = 0
    first_us: int = 1 << 62
    last_us: int = 0
    cats: set[str] = field(default_factory=set)
    days: set[int] = field(default_factory=set)
    example: str = ""
    failures: int = 0
    objects: set[str] = field(default_factory=set)

    def add(self, events: int, rows: int, first_us: int, cats: tuple[str, ...] | set[str]) -> None:
        self.events += events
        self.rows += rows
        self.first_us = min(self.first_us, first_us)
        self.cats.update(cats)


class _Tally(Generic[K]):
    def __init__(self) -> None:
        self.items: dict[K, _Acc] = {}

    def __getitem__(self, key: K) -> _Acc:
        acc = self.items.get(key)
        if acc is None:
            acc = self.items[key] = _Acc()
        return acc

    def biggest(self) -> list[tuple[K, _Acc]]:
        return sorted(self.items.items(), key=lambda kv: (-kv[1].events, kv[1].first_us, str(kv[0])))

    def earliest(self) -> list[tuple[K, _Acc]]:
        return sorted(self.items.items(), key=lambda kv: (kv[1].first_us, str(kv[0])))


def _cats(values: set[str] | tuple[str, ...]) -> str:
    return ", ".join(sorted(values))


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def outside_role_categories(ctx: Context, usage: list[Usage]) -> list[Finding]:
    """Views of categories none of the user's roles may view (what the role_access detector alerts on)."""
    if not ctx.roles.active:
        return []
    tally: _Tally[tuple[str | None, str]] = _Tally()
    for u in usage:
        if u.action not in ctx.roles.view_actions or not u.known or not u.categories:
            continue
        denied = ctx.roles.denied(u.roles, u.categories)
        if denied:
            tally[(u.user, u.roles)].add(u.events, u.rows, u.first_us, denied)
    return [Finding("outside_role_category", ctx.name_of(user), ctx.when(acc.first_us),
                    f"viewed {_cats(acc.cats)} data; roles {roles or '(none)'} may not", acc.events, acc.rows,
                    _cats(acc.cats))
            for (user, roles), acc in tally.biggest()]


def off_hours(ctx: Context, rows: list[OffHours]) -> list[Finding]:
    """Off-hours access (outside the configured working hours) and access outside the role's hours."""
    out = []
    for kind in ("off_hours", "outside_role_hours"):
        tally: _Tally[tuple[str | None, str]] = _Tally()
        for r in rows:
            if (r.off_work if kind == "off_hours" else r.off_role):
                acc = tally[(r.user, r.roles)]
                acc.add(r.events, 0, r.first_us, r.categories)
                acc.days.add(r.day)
        for (user, roles), acc in tally.biggest():
            outside = "working hours" if kind == "off_hours" else f"the hours of role {roles}"
            out.append(Finding(kind, ctx.name_of(user), ctx.when(acc.first_us),
                               f"{_cats(acc.cats)} data outside {outside} on {_plural(len(acc.days), 'day')}",
                               acc.events, 0, _cats(acc.cats)))
    return out


def new_places(ctx: Context, places: list[Place], history: list[Seen]) -> list[Finding]:
    """Zones and client IPs a user worked from in the period but not in the lookback before it (users with
    no history at all are left to the dormant and unknown-account checks)."""
    zones: dict[str, set[str | None]] = defaultdict(set)
    ips: dict[str, set[str | None]] = defaultdict(set)
    for s in history:
        zones[s.user].add(s.zone)
        ips[s.user].add(s.ip)
    new_zone: _Tally[tuple[str, str | None]] = _Tally()
    new_ip: _Tally[tuple[str, str | None]] = _Tally()
    for p in places:
        if p.user is None or p.user not in zones:
            continue
        if p.zone not in zones[p.user]:
            acc = new_zone[(p.user, p.zone)]
            if not acc.example or p.first_us < acc.first_us:
                acc.example = p.ip or "no client IP"
        elif p.ip not in ips[p.user]:
            acc = new_ip[(p.user, p.ip)]
            acc.example = p.zone or "-"
        else:
            continue
        acc.add(p.events, p.rows, p.first_us, p.categories)
    out = [Finding("new_zone", ctx.name_of(user), ctx.when(acc.first_us),
                   f"first access from zone {zone or '-'} (e.g. {acc.example})", acc.events, acc.rows,
                   _cats(acc.cats))
           for (user, zone), acc in new_zone.earliest()]
    out += [Finding("new_ip", ctx.name_of(user), ctx.when(acc.first_us),
                    f"new client IP {ip or '-'} in zone {acc.example}", acc.events, acc.rows, _cats(acc.cats))
            for (user, ip), acc in new_ip.earliest()]
    return out


def largest_exports(ctx: Context, facts: EventFacts, objects: list[ObjectUse]) -> list[Finding]:
    """The biggest single exports of classified data, by rows (or bytes where a format logs no rows)."""
    exports = [o for o in objects if o.action == "export" and o.categories and (o.max_rows or o.max_bytes)]
    exports.sort(key=lambda o: (-o.max_rows, -o.max_bytes, o.object, str(o.user)))
    out = []
    for o in exports[: ctx.settings.top]:
        found = facts.export_detail(o)
        if found is None:
            continue
        size = f"{o.max_rows:,} rows" if o.max_rows else f"{o.max_bytes:,} bytes"
        out.append(Finding("largest_export", ctx.name_of(o.user), ctx.when(found.time_us),
                           f"{size} of {o.object} from zone {found.zone or '-'} ({found.ip or 'no client IP'})",
                           1, o.max_rows or o.max_bytes, _cats(o.categories)))
    return out


def above_baseline(ctx: Context, usage: list[Usage], history: list[Seen]) -> list[Finding]:
    """Days on which a user's accesses were far above their median day in the lookback."""
    s = ctx.settings
    past: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for h in history:
        past[h.user][h.day] += h.events
    days: _Tally[tuple[str, int]] = _Tally()
    for u in usage:
        if u.user is not None and u.categories and u.user in past:
            days[(u.user, u.day)].add(u.events, u.rows, u.first_us, u.categories)
    out = []
    for (user, _day), acc in days.biggest():
        history_days = past[user]
        if len(history_days) < MIN_HISTORY_DAYS or acc.events < s.baseline_min_events:
            continue
        median = statistics.median(history_days.values())
        if acc.events > s.baseline_factor * median:
            out.append(Finding("above_baseline", ctx.name_of(user), ctx.when(acc.first_us),
                               f"{acc.events:,} accesses in a day, {acc.events / median:.0f}x the median day "
                               f"({median:g}) of {_plural(len(history_days), 'active day')} before",
                               acc.events, acc.rows, _cats(acc.cats)))
    return out


def dormant_returned(ctx: Context, usage: list[Usage], last_before: dict[str, int]) -> list[Finding]:
    """Users silent for `dormant_after` or longer who then accessed data: before the period (their last event
    before it) or inside it (a gap between two active days)."""
    gap_us = ctx.settings.dormant_after_us
    days: dict[str, dict[int, _Acc]] = defaultdict(dict)
    for u in usage:
        if u.user is None:
            continue
        acc = days[u.user].get(u.day)
        if acc is None:
            acc = days[u.user][u.day] = _Acc()
        acc.add(u.events, u.rows, u.first_us, u.categories)
        acc.last_us = max(acc.last_us, u.last_us)
    out = []
    for user in sorted(days):
        active = sorted(days[user].items())
        previous_us = last_before.get(user)
        for day, acc in active:
            if previous_us is not None and acc.first_us - previous_us >= gap_us:
                silent = (acc.first_us - previous_us) // DAY_US
                returned = [a for d, a in active if d >= day]
                out.append(Finding("dormant_returned", ctx.name_of(user), ctx.when(acc.first_us),
                                   f"first access after {silent} days without any (last before: "
                                   f"{ctx.when(previous_us)})", sum(a.events for a in returned),
                                   sum(a.rows for a in returned), _cats(set().union(*(a.cats for a in returned)))))
            previous_us = max(acc.last_us, previous_us or 0)
    return out


def unknown_accounts(ctx: Context, usage: list[Usage], places: list[Place]) -> list[Finding]:
    tally: _Tally[str] = _Tally()
    for u in usage:
        if u.user is not None and u.known is False:
            acc = tally[u.user]
            acc.add(u.events, u.rows, u.first_us, u.categories)
            acc.days.add(u.day)
    zones: dict[str, set[str]] = defaultdict(set)
    for p in places:
        if p.user in tally.items and p.zone:
            zones[p.user].add(p.zone)
    return [Finding("unknown_account", ctx.name_of(user), ctx.when(acc.first_us),
                    f"not in the directory; {_plural(acc.events, 'access', 'accesses')} on "
                    f"{_plural(len(acc.days), 'day')} (zones {_cats(zones[user]) or '-'})",
                    acc.events, acc.rows, _cats(acc.cats) or "unclassified")
            for user, acc in tally.biggest()]


def honeytoken_access(ctx: Context, facts: EventFacts, objects: list[ObjectUse]) -> list[Finding]:
    """Every access to an object the data map marks as a honeytoken, per user and object; refused attempts apart."""
    cats: dict[str, set[str]] = defaultdict(set)
    for o in objects:
        if o.honeytoken:
            cats[o.object].update(o.categories)
    if not cats:
        return []
    found = facts.honeytoken_access(cats, ctx.period.start_us, ctx.period.end_us)
    found.sort(key=lambda h: (h.first_us, h.object, str(h.user), h.refused))
    return [Finding("honeytoken_access", ctx.name_of(h.user), ctx.when(h.first_us), _honeytoken_detail(h), h.events,
                    h.rows, _cats(cats[h.object]) or "unclassified")
            for h in found]


def _honeytoken_detail(h: HoneytokenUse) -> str:
    what = "attempt on" if h.refused else "access to"
    outcome = "refused" if h.refused else "went through"
    return (f"{what} honeytoken {h.object} ({', '.join(h.actions)}): {outcome}; first from zone {h.zone or '-'} "
            f"({h.ip or 'no client IP'})")


def exports_of_unknown_volume(ctx: Context, objects: list[ObjectUse]) -> list[Finding]:
    """Exports of classified data whose log gives neither rows nor bytes (pgAudit's COPY table TO, INTO OUTFILE):
    `largest_exports` cannot rank them, and a whole table may have left. Per user and object."""
    tally: _Tally[tuple[str | None, str]] = _Tally()
    for o in objects:
        if o.action == "export" and o.categories and o.unknown_volume and o.unknown_first_us is not None:
            tally[(o.user, o.object)].add(o.unknown_volume, 0, o.unknown_first_us, o.categories)
    return [Finding("export_unknown_volume", ctx.name_of(user), ctx.when(acc.first_us),
                    f"{_plural(acc.events, 'export')} of {obj}, volume unknown (the log gives no row or byte count)",
                    acc.events, None, _cats(acc.cats))
            for (user, obj), acc in tally.biggest()]


def disabled_accounts(ctx: Context, usage: list[Usage], objects: list[ObjectUse],
                      status_of: Callable[[str], str]) -> list[Finding]:
    """Accounts the directory marks disabled (or left) that were used in the period. The status is the
    directory's when the report is made: the events do not keep it."""
    status = {user: status_of(user) for user in {u.user for u in usage if u.user is not None and u.known is not False}}
    tally: _Tally[str] = _Tally()
    for u in usage:
        if u.user is not None and status.get(u.user) in INACTIVE_STATUSES:
            acc = tally[u.user]
            acc.add(u.events, u.rows, u.first_us, u.categories)
            acc.days.add(u.day)
            acc.failures += u.failures
    for o in objects:
        if o.user is not None and o.user in tally.items:
            tally[o.user].objects.add(o.object)
    return [Finding("disabled_account", ctx.name_of(user), ctx.when(acc.first_us), _disabled_detail(status[user], acc),
                    acc.events, acc.rows, _cats(acc.cats) or "unclassified")
            for user, acc in tally.biggest()]


def _disabled_detail(status: str, acc: _Acc) -> str:
    refused = f" ({acc.failures:,} refused)" if acc.failures else ""
    return (f"directory status {status}, yet {_plural(acc.events, 'access', 'accesses')}{refused} on "
            f"{_plural(len(acc.days), 'day')} to {_plural(len(acc.objects), 'object')}")
