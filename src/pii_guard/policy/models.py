"""The policy file's schema, in words a security officer can read. Field names are the YAML keys."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from pii_guard.duration import DurationUs

Severity = Literal["low", "medium", "high", "critical"]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_HOURS = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HourRange(Strict):
    """A daily range 'HH:MM-HH:MM' in the policy's time zone; may wrap past midnight."""

    start_min: int
    end_min: int

    @classmethod
    def parse(cls, text: str) -> HourRange:
        m = _HOURS.match(text.strip())
        if not m:
            raise ValueError(f"{text!r} is not an hour range (write e.g. 07:00-19:00)")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 24 or h2 > 24 or m1 > 59 or m2 > 59:
            raise ValueError(f"{text!r} is not an hour range (hours 00-24, minutes 00-59)")
        return cls(start_min=h1 * 60 + m1, end_min=h2 * 60 + m2)

    def contains(self, minute_of_day: int) -> bool:
        if self.start_min <= self.end_min:
            return self.start_min <= minute_of_day < self.end_min
        return minute_of_day >= self.start_min or minute_of_day < self.end_min


def _hours(value: object) -> object:
    return HourRange.parse(value) if isinstance(value, str) else value


Hours = Annotated[HourRange, BeforeValidator(_hours)]


class Exception_(Strict):
    """An allowed case, written as a positive entry (never as a negation of the rule)."""

    reason: str = Field(description="why this is allowed; shown in `rules test`")
    users: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    hours: Hours | None = None
    days: list[Day] = Field(default_factory=list)
    until: date | None = Field(default=None, description="the exception ends at the end of this day")

    @model_validator(mode="after")
    def _something(self) -> Exception_:
        if not (self.users or self.roles or self.zones or self.hours or self.days):
            raise ValueError("an exception needs at least one of users, roles, zones, hours, days")
        return self


class ZoneRestriction(Strict):
    """Which zones may reach which categories (optionally only some objects or hosts)."""

    id: str
    description: str = ""
    categories: list[str] = Field(default_factory=list, description="any of these categories; empty = any")
    objects: list[str] = Field(default_factory=list, description="object globs; empty = any")
    hosts: list[str] = Field(default_factory=list, description="host.name globs; empty = any")
    allow_zones: list[str]
    severity: Severity = "high"
    exceptions: list[Exception_] = Field(default_factory=list)


class RoleZone(Strict):
    """From which zones a role may work at all (every event, logins included)."""

    id: str
    description: str = ""
    roles: list[str]
    allow_zones: list[str]
    severity: Severity = "high"
    exceptions: list[Exception_] = Field(default_factory=list)


Measure = Literal["records", "rows", "bytes", "events", "distinct_objects"]


class Quota(Strict):
    id: str
    description: str = ""
    categories: list[str] = Field(default_factory=list)
    objects: list[str] = Field(default_factory=list)
    measure: Measure = "records"
    max: Annotated[float, Field(gt=0)]
    per: DurationUs
    severity: Severity = "medium"


class RolePolicy(Strict):
    may_view: list[str] = Field(default_factory=list, description="categories; '*' for all")
    hours: Hours | None = None
    days: list[Day] = Field(default_factory=list)
    quotas: list[Quota] = Field(default_factory=list)
    severity: Severity = "high"


class BulkRule(Strict):
    id: str
    description: str = ""
    kind: Literal["per_access", "cumulative", "baseline"]
    measure: Literal["rows", "bytes"] = "rows"
    categories: list[str] = Field(default_factory=list)
    max: Annotated[float, Field(gt=0)] | None = None
    per: DurationUs | None = None
    factor: Annotated[float, Field(gt=1)] | None = None
    history: DurationUs = 14 * 86_400_000_000
    min_history_days: Annotated[int, Field(ge=1)] = 7
    min_volume: Annotated[float, Field(ge=0)] = 0
    on_unknown_volume: Literal["alert", "ignore"] = Field(
        default="alert", description="per_access: an export whose volume the log does not say (COPY t TO, INTO OUTFILE)"
    )
    severity: Severity = "high"
    exceptions: list[Exception_] = Field(
        default_factory=list, description="exports that are allowed (a backup job's nightly dump); not counted"
    )

    @model_validator(mode="after")
    def _shape(self) -> BulkRule:
        need = {"per_access": ("max",), "cumulative": ("max", "per"), "baseline": ("factor",)}[self.kind]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"bulk rule {self.id!r} of kind {self.kind} needs {', '.join(missing)}")
        return self


class BulkExport(Strict):
    export_weight: Annotated[float, Field(ge=0)] = 1.0
    read_weight: Annotated[float, Field(ge=0)] = Field(
        default=0.0, description="weight of plain reads (downloads and COPY TO count as exports)"
    )
    rules: list[BulkRule] = Field(default_factory=list)


class Honeytoken(Strict):
    id: str
    description: str = ""
    objects: list[str] = Field(default_factory=list)
    records: list[str] = Field(default_factory=list)
    severity: Severity = "critical"

    @model_validator(mode="after")
    def _something(self) -> Honeytoken:
        if not (self.objects or self.records):
            raise ValueError(f"honeytoken {self.id!r} needs objects or records")
        return self


class Defaults(Strict):
    unknown_user: Literal["alert", "allow"] = Field(
        default="alert", description="access to classified data by a user not in the directory"
    )
    unknown_user_severity: Severity = "medium"
    unclassified_categories: list[str] = Field(
        default_factory=list, description="categories assumed for objects not in the data map"
    )
    attempt_severity: Severity = Field(default="low", description="severity of refused attempts")
    no_ip_zone: str = Field(default="local", description="zone of events without a client IP (unix sockets)")
    view_actions: list[str] = Field(default_factory=lambda: ["read", "export"])


class Policy(Strict):
    timezone: str = "UTC"
    lateness: DurationUs = 5_000_000
    defaults: Defaults = Field(default_factory=Defaults)
    zone_restrictions: list[ZoneRestriction] = Field(default_factory=list)
    role_zones: list[RoleZone] = Field(default_factory=list)
    roles: dict[str, RolePolicy] = Field(default_factory=dict)
    bulk_export: BulkExport = Field(default_factory=BulkExport)
    honeytokens: list[Honeytoken] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> Policy:
        ids: list[str] = [r.id for r in self.zone_restrictions] + [r.id for r in self.role_zones]
        ids += [q.id for role in self.roles.values() for q in role.quotas]
        ids += [r.id for r in self.bulk_export.rules] + [h.id for h in self.honeytokens]
        seen: set[str] = set()
        for rule_id in ids:
            if rule_id in seen:
                raise ValueError(f"rule id {rule_id!r} is used twice")
            seen.add(rule_id)
        return self

    def rule_ids(self) -> list[str]:
        ids = [r.id for r in self.zone_restrictions] + [r.id for r in self.role_zones]
        ids += [f"role-access:{name}" for name, role in self.roles.items()
                if "*" not in role.may_view or role.hours is not None or role.days]
        if self.defaults.unknown_user == "alert":
            ids.append("role-access:unknown-user")
        ids += [q.id for role in self.roles.values() for q in role.quotas]
        ids += [r.id for r in self.bulk_export.rules] + [h.id for h in self.honeytokens]
        return ids
