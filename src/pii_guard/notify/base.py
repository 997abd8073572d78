"""What a notifier receives and what it answers. The outbox worker owns retries, ordering and rate limits;
a notifier only makes one attempt and says whether a failure is worth retrying (Alertmanager's split)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

ChangeKind = Literal[
    "opened",  # a new incident: the parent message / the ticket
    "evidence",  # more matches joined it (volume, categories grew)
    "severity",  # severity was raised by new evidence
    "acknowledged",
    "assigned",
    "comment",
    "resolved",
    "false_positive",
    "reopened",  # new evidence after it was resolved, within the reopen period
]

STATUS_CHANGES: frozenset[str] = frozenset({"acknowledged", "resolved", "false_positive", "reopened"})


@dataclass(frozen=True, slots=True)
class Exposure:
    """How much may have leaked. Counts only what the servers allowed (refused attempts are not exposure)."""

    events: int = 0
    rows: int = 0
    records: int = 0
    files: int = 0
    bytes: int = 0
    objects: int = 0  # distinct objects touched
    attempts: int = 0  # refused accesses among the evidence
    honeytoken: bool = False


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident as notifiers show it: who, what, how much, from where, when. Never record contents or SQL
    literals; every string here is still UNTRUSTED (user and object names come from logs) and must be escaped
    by the notifier for its medium."""

    id: str  # "INC-42"
    title: str  # the first match's sentence
    rule_id: str
    rule_kind: str
    severity: str  # low, medium, high, critical
    status: str  # open, acknowledged, resolved, false_positive
    assignee: str | None
    user: str | None
    roles: tuple[str, ...]
    department: str | None
    source_ips: tuple[str, ...]  # the first few
    zones: tuple[str, ...]
    objects: tuple[str, ...]  # the first few, e.g. "db:crm.public.customers", "file:/srv/share/hr/x.xlsx"
    categories: tuple[str, ...]
    exposure: Exposure
    first_us: int  # event time of the first evidence (microseconds since the epoch, UTC)
    last_us: int
    opened_us: int  # wall time the incident was opened
    deadline_us: int | None  # notification deadline (regulator / data subjects), when exposure is above the bar
    evidence_count: int
    inspect: str  # the command that shows it: "pii-guard incidents show INC-42"
    rules: tuple[str, ...] = ()  # every rule whose matches it holds, the first one first (one act, several rules)


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    at_us: int  # wall time of the change
    actor: str  # "pii-guard" for automatic changes, else the responder's name
    text: str = ""  # comment text or reason (untrusted: escape it)
    previous: str | None = None  # previous severity or status, where it applies


@dataclass(frozen=True, slots=True)
class Notification:
    """One outbox row handed to one notifier."""

    outbox_id: int  # unique and stable across restarts: use it as the idempotency key
    target: str  # configured notifier name
    route: str  # Slack channel ID / name; empty for notifiers without routing
    incident: IncidentView
    change: Change


@dataclass(frozen=True, slots=True)
class Delivered:
    ref: str | None = None  # where it landed (Slack "CHANNEL:ts", Jira issue key) for later thread replies/edits


@dataclass(frozen=True, slots=True)
class Retry:
    reason: str
    after_s: float | None = None  # the peer's Retry-After, when it gave one


@dataclass(frozen=True, slots=True)
class Failed:
    """Permanent: retrying cannot help (bad token, unknown channel, 4xx). Kept in the outbox, shown in status."""

    reason: str


Outcome = Delivered | Retry | Failed


class Notifier(Protocol):
    name: str
    per_second: float  # sustained rate the peer accepts per route (Slack: about 1 message/s per channel)
    digest_after: int | None  # when this many incidents wait to be opened on one route, send one digest instead

    def send(self, note: Notification, ref: str | None) -> Outcome:
        """Deliver one change. `ref` is what the incident's "opened" delivery returned on this route (thread
        parent / ticket key), None for the "opened" change itself. Must never raise for peer or network
        failures: those are Retry or Failed with a reason free of secrets."""
        ...

    def digest(self, notes: Sequence[Notification]) -> Outcome:
        """Open many incidents with one message (all "opened", same route). Delivered.ref becomes every
        incident's ref on this route."""
        ...

    def find_delivered(self, note: Notification, ref: str | None = None) -> str | None:
        """After a crash between sending and recording, ask the peer whether `note` already landed (by its
        outbox id); return its ref if so. `ref` is the incident's ref on this route (thread parent, ticket key)
        for changes other than "opened". Peers that cannot be asked return None (at-least-once)."""
        ...
