"""What an incident has gathered: exposure counters and the distinct who/what/where, bounded in size.

Exposure counts only what the servers allowed; refused attempts are counted apart. For windowed rules the
match carries the window's total (`volume` in `unit`), which covers events before the threshold was crossed:
the estimate per unit is the larger of the triggering events' sum and the largest window total seen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pii_guard.model import Match
from pii_guard.notify.base import Exposure

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
_KEEP_OBJECTS = 200  # distinct objects listed; beyond this only the count grows
_KEEP_SMALL = 20  # distinct IPs, zones, rules listed


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


@dataclass
class Facts:
    events: int = 0
    rows: int = 0
    records: int = 0
    bytes: int = 0
    attempts: int = 0
    honeytoken: bool = False
    peaks: dict[str, float] = field(default_factory=dict)  # unit -> largest window total
    objects: list[str] = field(default_factory=list)
    objects_total: int = 0
    files: int = 0
    ips: list[str] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    department: str | None = None

    def add(self, match: Match, department: str | None = None, *, event_counted: bool = False) -> None:
        """Fold a match in; `event_counted`: its event is already in (another rule's match of it), so neither
        the event nor its volume is counted again."""
        if not event_counted:
            self.events += 1
        if match.attempt:
            if not event_counted:
                self.attempts += 1
        else:
            if not event_counted:
                self.rows += match.event_rows or 0
                self.bytes += match.event_bytes or 0
                self.records += match.event_records
            if match.volume is not None and match.unit is not None and match.window_start_us is not None:
                self.peaks[match.unit] = max(self.peaks.get(match.unit, 0.0), float(match.volume))
            if match.kind == "honeytoken":
                self.honeytoken = True
            if match.object is not None and match.object not in self.objects:
                self.objects_total += 1
                if match.object.startswith("file:"):
                    self.files += 1
                if len(self.objects) < _KEEP_OBJECTS:
                    self.objects.append(match.object)
            for category in match.categories:
                if category not in self.categories:
                    self.categories.append(category)
        _add_small(self.ips, match.source_ip)
        _add_small(self.zones, match.zone)
        _add_small(self.rules, match.rule_id)
        for role in match.roles:
            _add_small(self.roles, role)
        if department is not None:
            self.department = department

    def exposure(self) -> Exposure:
        return Exposure(
            events=self.events,
            rows=max(self.rows, int(self.peaks.get("rows", 0))),
            records=max(self.records, int(self.peaks.get("records", 0))),
            files=max(self.files, int(self.peaks.get("files", 0))),
            bytes=max(self.bytes, int(self.peaks.get("bytes", 0))),
            objects=self.objects_total,
            attempts=self.attempts,
            honeytoken=self.honeytoken,
        )

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Facts:
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _add_small(values: list[str], value: str | None) -> None:
    if value is not None and value not in values and len(values) < _KEEP_SMALL:
        values.append(value)


def raised_severity(base: str, exposure: Exposure, categories: list[str], sensitive: frozenset[str]) -> str:
    """Severity from the rule, raised as evidence grows: any honeytoken access is critical; 100,000 units
    (rows + records + files) or 10 GiB is critical; 1,000 units, 100 MiB or a sensitive category is at
    least high."""
    rank = severity_rank(base)
    units = exposure.rows + exposure.records + exposure.files
    if exposure.honeytoken or units >= 100_000 or exposure.bytes >= 10 << 30:
        rank = 3
    elif units >= 1_000 or exposure.bytes >= 100 << 20 or sensitive.intersection(categories):
        rank = max(rank, 2)
    return SEVERITIES[rank]
