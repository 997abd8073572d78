"""The report as data: what the HTML shows and the CSV files hold, already pseudonymized where asked.

Nothing here carries personal data: user (or pseudonym), role, department, object, category, zone, client IP,
counts and times. Statements, record ids and log lines never reach a report."""

from __future__ import annotations

from dataclasses import dataclass, field

from pii_guard.reports.period import Period

FINDING_KINDS: dict[str, str] = {
    "honeytoken_access": "Honeytoken accessed",
    "outside_role_category": "Outside the role's categories",
    "outside_role_hours": "Outside the role's hours",
    "off_hours": "Off-hours access",
    "new_zone": "New network zone for the user",
    "new_ip": "New client IP for the user",
    "largest_export": "Largest exports",
    "export_unknown_volume": "Exports of unknown volume",
    "above_baseline": "Far above the user's baseline",
    "dormant_returned": "Dormant account came back",
    "unknown_account": "Account not in the directory",
    "disabled_account": "Account disabled in the directory",
}


@dataclass(frozen=True)
class Figure:
    """One headline number, with the previous period's for comparison."""

    label: str
    current: int
    previous: int

    @property
    def change(self) -> str:
        if self.previous == 0:
            return "new" if self.current else "-"
        pct = (self.current - self.previous) * 100.0 / self.previous
        return f"{pct:+.0f}%"


@dataclass(frozen=True)
class Accessor:
    """A user's access to one category in the period."""

    category: str
    user: str
    roles: str
    department: str
    known: bool
    events: int
    rows: int
    bytes: int
    objects: int
    zones: str
    first_time: bool  # no access to this category in the lookback before the period
    outside_role: int  # of these events, how many the user's roles may not view


@dataclass(frozen=True)
class ObjectRow:
    category: str
    object: str
    events: int
    users: int
    rows: int
    bytes: int


@dataclass(frozen=True)
class ZoneRow:
    category: str
    zone: str
    events: int
    users: int


@dataclass(frozen=True)
class Finding:
    """One line of unusual activity."""

    kind: str  # a key of FINDING_KINDS
    user: str
    when: str  # local time of the first event it covers
    detail: str
    events: int
    volume: int | None  # rows (or bytes where the format has no rows); None: the log does not say
    categories: str = ""

    @property
    def title(self) -> str:
        return FINDING_KINDS.get(self.kind, self.kind)


@dataclass(frozen=True)
class CategorySection:
    name: str
    events: int
    users: int
    objects: int
    rows: int
    bytes: int
    accessors: list[Accessor]
    object_rows: list[ObjectRow]  # every object of the category, the most used first
    zones: list[ZoneRow]
    outside_role: list[Finding]
    first_time: list[Accessor]
    top_users: list[Accessor]


@dataclass(frozen=True)
class DriftRow:
    role: str
    users: int
    granted: str  # as the policy says: categories, or "*"
    touched: str
    beyond: str  # touched although no role of the user grants it
    unused: str  # granted but not touched in the period
    in_policy: bool


@dataclass(frozen=True)
class IncidentRow:
    id: str
    severity: str
    status: str
    rule: str
    title: str
    user: str
    first_event: str  # local time of the event that opened it: the period it is counted in
    opened: str  # when the incident was recorded (a replay records old events late); ack and resolve count from it
    acknowledged_after: str
    resolved_after: str


@dataclass(frozen=True)
class DayRow:
    day: str  # ISO date
    category: str
    events: int
    users: int


@dataclass(frozen=True)
class UserVolume:
    user: str
    roles: str
    department: str
    events: int
    rows: int
    bytes: int
    categories: str


@dataclass
class Report:
    period: Period
    previous: Period
    generated: str  # local time the report was made
    pseudonymized: bool
    summary: list[Figure]
    categories: list[CategorySection]
    findings: list[Finding]
    drift: list[DriftRow]
    incidents: list[IncidentRow]
    days: list[DayRow]
    heatmap: list[list[int]]  # [weekday 0=mon][local hour] classified events
    top_users: list[UserVolume]
    top: int = 10  # rows shown of the long tables (the CSV files have them all)
    notes: list[str] = field(default_factory=list)  # what the report could not check, and why
    settings: dict[str, str] = field(default_factory=dict)  # thresholds the findings used

    @property
    def name(self) -> str:
        return self.period.name

    def figure(self, label: str) -> Figure:
        return next(f for f in self.summary if f.label == label)

    @property
    def headline(self) -> str:
        """One sentence for Slack and the index page."""
        events = self.figure("events").current
        users = self.figure("users").current
        cats = ", ".join(c.name for c in self.categories) or "no personal data"
        opened = self.figure("incidents opened").current
        return (f"{self.period.label}: {events:,} accesses by {users:,} users ({cats}); "
                f"{len(self.findings):,} unusual findings; {opened:,} incidents opened")

    def findings_of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]
