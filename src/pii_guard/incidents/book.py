"""Grouping matches into incidents, inside the state database's batch transaction.

A match joins the open incident of its key (default: rule + user) when its event time is within the grouping
window of that incident's latest evidence; a resolved incident of the same key that was closed within the
reopen period is reopened instead of opening a twin; a false positive of the same key in that period takes
the evidence without a new alert. Replays are harmless: the caller passes only matches that were new to the
matches table, and evidence rows are keyed by event id."""

from __future__ import annotations

import fnmatch
import itertools
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

from pii_guard.config.models import IncidentsConfig
from pii_guard.incidents import records
from pii_guard.incidents.facts import raised_severity, severity_rank
from pii_guard.incidents.outbox import Target, enqueue
from pii_guard.incidents.records import IncidentRecord
from pii_guard.model import Match
from pii_guard.notify.base import Change

AUTO = "pii-guard"
_GROUP_FIELDS: dict[str, Callable[[Match], str | None]] = {
    "rule": lambda m: m.rule_id,
    "user": lambda m: m.user,
    "object": lambda m: m.object,
    "source_ip": lambda m: m.source_ip,
    "zone": lambda m: m.zone,
    "kind": lambda m: m.kind,
}
GROUP_FIELDS: tuple[str, ...] = tuple(_GROUP_FIELDS)


# incident kinds whose matches mean data left even when the log says no volume (COPY ... TO of a whole table)
_UNKNOWN_VOLUME_EXPOSES: Final = frozenset({"bulk_export", "honeytoken"})


@dataclass(frozen=True)
class Silence:
    id: int
    rule_id: str
    key: str  # glob over the incident key without the rule, e.g. "bob" or "svc-*"

    def covers(self, rule_id: str, key: str) -> bool:
        return (self.rule_id in ("*", rule_id)) and fnmatch.fnmatchcase(key, self.key)


def active_silences(conn: sqlite3.Connection, now_us: int) -> list[Silence]:
    rows = conn.execute(
        "SELECT id, rule_id, key FROM silences WHERE until_us > ? AND expired_us IS NULL ORDER BY id", (now_us,)
    ).fetchall()
    return [Silence(int(i), str(r), str(k)) for i, r, k in rows]


@dataclass
class _Touched:
    record: IncidentRecord
    new: bool = False
    reopened: bool = False
    quiet: bool = False  # a false positive taking evidence: recorded, not announced
    severity_before: str = ""
    categories_before: int = 0
    evidence_before: int = 0
    units_before: int = 0
    silenced_by: int | None = None
    first_match: Match | None = None
    matches: list[Match] = field(default_factory=list)
    evidence: list[tuple[int, str, str, int]] = field(default_factory=list)  # rows for incident_evidence
    events: set[str] = field(default_factory=set)  # triggering events whose own volume is counted


def _silence_of(silences: list[Silence], rule_id: str, key: str) -> int | None:
    return next((s.id for s in silences if s.covers(rule_id, key)), None)


def _linkable(item: _Touched) -> bool:
    record = item.record
    return record.is_open and not item.quiet and item.silenced_by is None and record.silence_id is None


class IncidentBook:
    def __init__(self, config: IncidentsConfig, targets: Sequence[Target] = (),
                 department_of: Callable[[str], str | None] | None = None) -> None:
        self.config = config
        self.targets = tuple(targets)
        self._fields = [(name, _GROUP_FIELDS[name]) for name in config.group_by]
        self._department_of = department_of
        self._sensitive = frozenset(config.sensitive_categories)

    def key_of(self, match: Match) -> tuple[str, str]:
        """(group key, silence key): e.g. ("rule=x user=bob", "bob")."""
        parts = [(name, get(match) or "-") for name, get in self._fields]
        group = " ".join(f"{name}={value}" for name, value in parts)
        silence = "|".join(value for name, value in parts if name != "rule") or "-"
        return group, silence

    def apply(self, conn: sqlite3.Connection, matches: Sequence[Match], now_us: int) -> list[int]:
        """Fold new matches into incidents; write timeline entries and outbox rows. Runs inside the caller's
        transaction. Returns the ids of the incidents touched.

        The matches of one event are taken together: those whose key has an incident to join join it; the
        others (with `join_same_event`) join the incident that event already went to, so one act opens one
        incident however many rules it breaks, and each joining rule's key then leads to that incident too."""
        if not matches:
            return []
        silences = active_silences(conn, now_us)
        by_group: dict[str, _Touched] = {}
        by_id: dict[int, _Touched] = {}
        by_event: dict[str, _Touched] = {}
        ordered = sorted(matches, key=lambda m: (m.time_us, m.event_id, -severity_rank(m.severity), m.id))
        for _, same_event in itertools.groupby(ordered, key=lambda m: (m.time_us, m.event_id)):
            unplaced: list[tuple[Match, str, str]] = []
            for match in same_event:
                group, skey = self.key_of(match)
                item = by_group.get(group)
                if item is None or not self._joins(item.record, match, now_us):
                    item = self._existing(conn, group, match, now_us, by_id)
                    if item is None:
                        unplaced.append((match, group, skey))
                        continue
                    by_group[group] = by_id[item.record.id] = item
                    item.silenced_by = _silence_of(silences, match.rule_id, skey)
                self._place(conn, item, match, by_event)
            for match, group, skey in unplaced:  # the most severe first: it opens the incident the others join
                item = by_group.get(group)  # opened just now by another match of the same key
                if item is None or not self._joins(item.record, match, now_us):
                    item = self._linked(conn, match, by_event, by_id)
                    if item is not None:
                        records.add_key(conn, group, item.record.id, match.rule_id)
                    else:
                        item = self._open(conn, group, skey, match, now_us)
                        item.silenced_by = _silence_of(silences, match.rule_id, skey)
                by_group[group] = by_id[item.record.id] = item
                self._place(conn, item, match, by_event)
        for item in by_id.values():
            self._finish(conn, item, now_us)
        return list(by_id)

    # -- grouping -----------------------------------------------------------------------------------------

    def _joins(self, record: IncidentRecord, match: Match, now_us: int) -> bool:
        if record.is_open:
            return match.time_us >= record.last_us - self.config.group_window and \
                match.time_us <= record.last_us + self.config.group_window
        return record.closed_us is not None and now_us - record.closed_us <= self.config.reopen_within

    def _existing(self, conn: sqlite3.Connection, group: str, match: Match, now_us: int,
                  seen: dict[int, _Touched]) -> _Touched | None:
        """The incident of this key the match joins (reopening a recently resolved one), or None."""
        record = records.latest_for_key(conn, group)
        if record is not None and record.id in seen:
            record = seen[record.id].record  # touched earlier in this batch: its row is not saved yet
        if record is None or not self._joins(record, match, now_us):
            return None
        if record.id in seen:
            return seen[record.id]
        item = self._touch(record)
        if record.status == "resolved":
            item.reopened = True
            previous = record.status
            record.status, record.closed_us = "open", None
            records.add_timeline(conn, record.id, now_us, AUTO, "reopened",
                                 "new evidence after it was resolved", previous)
        elif record.status == "false_positive":
            item.quiet = True
        return item

    def _linked(self, conn: sqlite3.Connection, match: Match, by_event: dict[str, _Touched],
                seen: dict[int, _Touched]) -> _Touched | None:
        """The open incident the match's event already went to (in this batch, or an earlier one: a windowed
        rule's match may come a batch later), if a match may join it: never a silenced incident or one marked
        false positive, which would hush another rule's alert."""
        if not self.config.join_same_event or not match.event_id:
            return None
        item = by_event.get(match.event_id)
        if item is None:
            record = records.open_holding(conn, match.event_id)
            if record is None:
                return None
            item = seen.get(record.id) or self._touch(record)
        return item if _linkable(item) else None

    def _open(self, conn: sqlite3.Connection, group: str, skey: str, match: Match, now_us: int) -> _Touched:
        record = IncidentRecord(
            id=0, group_key=group, silence_key=skey, rule_id=match.rule_id, kind=match.kind,
            severity=match.severity, status="open", assignee=None, title=match.sentence, user=match.user,
            opened_us=now_us, updated_us=now_us, acknowledged_us=None, closed_us=None, first_us=match.time_us,
            last_us=match.time_us, deadline_us=None, evidence_count=0, silence_id=None,
        )
        records.insert(conn, record)
        records.add_timeline(conn, record.id, now_us, AUTO, "opened", match.sentence)
        item = self._touch(record)
        item.new = True
        return item

    def _place(self, conn: sqlite3.Connection, item: _Touched, match: Match, by_event: dict[str, _Touched]) -> None:
        self._add(conn, item, match)
        if match.event_id and _linkable(item):
            by_event.setdefault(match.event_id, item)

    @staticmethod
    def _counted(conn: sqlite3.Connection, item: _Touched, event_id: str) -> bool:
        """Has the incident already counted this event's own volume (another rule's match of it)? Then a
        second rule firing on the same COPY does not double its rows."""
        if not event_id:
            return False
        if event_id in item.events:
            return True
        item.events.add(event_id)
        return item.record.id != 0 and conn.execute(
            "SELECT 1 FROM incident_evidence WHERE incident_id=? AND event_id=?", (item.record.id, event_id)
        ).fetchone() is not None

    @staticmethod
    def _touch(record: IncidentRecord) -> _Touched:
        exposure = record.facts.exposure()
        return _Touched(record=record, severity_before=record.severity,
                        categories_before=len(record.facts.categories), evidence_before=record.evidence_count,
                        units_before=exposure.rows + exposure.records + exposure.files)

    def _add(self, conn: sqlite3.Connection, item: _Touched, match: Match) -> None:
        record = item.record
        item.evidence += [(record.id, event_id, match.id, match.time_us) for event_id in match.evidence]
        department = self._department_of(match.user) if self._department_of and match.user else None
        record.facts.add(match, department, event_counted=self._counted(conn, item, match.event_id))
        record.first_us = min(record.first_us, match.time_us)
        record.last_us = max(record.last_us, match.time_us)
        if severity_rank(match.severity) > severity_rank(record.severity):
            record.severity = match.severity
        item.matches.append(match)

    # -- after the batch's matches: severity, clock, timeline, notifications ------------------------------

    def _finish(self, conn: sqlite3.Connection, item: _Touched, now_us: int) -> None:
        record = item.record
        config = self.config
        before = conn.total_changes  # the evidence of all its matches in one statement; what was new counts
        conn.executemany("INSERT OR IGNORE INTO incident_evidence (incident_id, event_id, match_id, ts) "
                         "VALUES (?,?,?,?)", item.evidence)
        record.evidence_count += conn.total_changes - before
        exposure = record.facts.exposure()
        if config.raise_severity:
            record.severity = raised_severity(record.severity, exposure, record.facts.categories, self._sensitive)
        units = exposure.rows + exposure.records + exposure.files
        # a whole-table export the log gives no volume for, or a decoy read, exposed data all the same
        unknown = units == 0 and exposure.objects > 0 and record.kind in _UNKNOWN_VOLUME_EXPOSES
        if record.deadline_us is None and record.severity in config.deadline_severities and \
                ((units >= config.deadline_min_records and units > 0) or unknown):
            record.deadline_us = record.opened_us + config.notify_deadline
            what = "of unknown volume" if unknown else f"of {units} rows/records/files"
            records.add_timeline(conn, record.id, now_us, AUTO, "deadline",
                                 f"exposure {what}: notification clock started")
        if item.silenced_by is not None and record.silence_id != item.silenced_by:
            record.silence_id = item.silenced_by
            records.add_timeline(conn, record.id, now_us, AUTO, "silenced", f"silence S-{item.silenced_by}")
        record.updated_us = now_us
        records.save(conn, record)

        changes: list[Change] = []
        if item.new:
            changes.append(Change("opened", now_us, AUTO))
        elif item.reopened:
            changes.append(Change("reopened", now_us, AUTO, "new evidence after it was resolved", "resolved"))
        else:
            if severity_rank(record.severity) > severity_rank(item.severity_before):
                records.add_timeline(conn, record.id, now_us, AUTO, "severity", record.severity,
                                     item.severity_before)
                changes.append(Change("severity", now_us, AUTO, record.severity, item.severity_before))
            elif self._notable(item, record, units):  # a severity change already says the evidence grew
                records.add_timeline(conn, record.id, now_us, AUTO, "evidence",
                                     f"{record.evidence_count} events of evidence")
                changes.append(Change("evidence", now_us, AUTO, f"{record.evidence_count} events of evidence"))
        if item.quiet:
            records.add_timeline(conn, record.id, now_us, AUTO, "evidence",
                                 f"{len(item.matches)} more match(es) on an incident marked false positive")
            return
        if item.silenced_by is not None:
            return
        for change in changes:
            enqueue(conn, record, change, self.targets, now_us)

    @staticmethod
    def _notable(item: _Touched, record: IncidentRecord, units: int) -> bool:
        """Evidence worth a thread reply: a new category, or counts crossing a power of ten. 500 matches of
        one export give a handful of replies, not 500."""
        if len(record.facts.categories) > item.categories_before:
            return True
        if len(str(record.evidence_count)) > len(str(item.evidence_before)) and record.evidence_count >= 10:
            return True
        return units >= 10 and len(str(units)) > len(str(item.units_before))
