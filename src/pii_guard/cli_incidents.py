"""`pii-guard incidents ...`: the responders' side of the embedded ticket system."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import orjson

from pii_guard.cli_search import search_backend
from pii_guard.clock import SystemClock
from pii_guard.config.load import DEFAULT_CONFIG, LoadedConfig, load_config
from pii_guard.duration import duration_us
from pii_guard.errors import StoreError, UsageError
from pii_guard.incidents import query
from pii_guard.incidents.actions import Responder
from pii_guard.incidents.evidence import EvidenceRef, evidence_refs, fetch_events
from pii_guard.incidents.records import IncidentRecord
from pii_guard.model import format_timestamp
from pii_guard.notify.build import targets_for
from pii_guard.search import audit
from pii_guard.store.state import StateStore
from pii_guard.terminal import printable

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=None,
    help=f"config file (default {DEFAULT_CONFIG})",
)
actor_option = click.option("--as", "actor", default=None, metavar="NAME",
                            help="who is acting (default: the sudo user or login name)")
EVIDENCE_SHOWN = 20  # evidence events `incidents show` fetches and lists unless --evidence asks for more
EVIDENCE_MAX = 1000  # as many as `--json` lists ids of
Evidence = list[tuple[EvidenceRef, dict[str, Any] | None]]  # each piece with its event (None: no longer stored)


def _now_us() -> int:
    return int(SystemClock().now() * 1_000_000)


def _duration(text: str, flag: str) -> int:
    try:
        return duration_us(text)
    except ValueError as exc:
        raise UsageError(f"{flag} {text!r}: {exc}") from None


@contextmanager
def _state(config_path: Path | None) -> Iterator[tuple[LoadedConfig, StateStore]]:
    loaded = load_config(config_path or DEFAULT_CONFIG)
    state = StateStore(loaded.config.state_path / "state.db")
    try:
        yield loaded, state
    finally:
        state.close()


def _responder(loaded: LoadedConfig, state: StateStore, actor: str | None) -> Responder:
    who = actor or os.environ.get("SUDO_USER") or getpass.getuser()
    return Responder(state.connection, targets_for(loaded.config), who)


@click.group()
def incidents() -> None:
    """List, inspect and work incidents (acknowledge, comment, resolve, silence)."""


@incidents.command("list")
@config_option
@click.option("--status", "statuses", multiple=True,
              help="open, acknowledged, resolved, false_positive or all (default: open and acknowledged)")
@click.option("--severity", type=click.Choice(["low", "medium", "high", "critical"]), default=None,
              help="this severity or higher")
@click.option("--since", default=None, metavar="DURATION", help="opened in the last DURATION (24h, 7d ...)")
@click.option("--limit", type=int, default=None)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def list_cmd(config_path: Path | None, statuses: tuple[str, ...], severity: str | None, since: str | None,
             limit: int | None, as_json: bool) -> None:
    """Incidents, the most urgent first (a running notification clock, then severity)."""
    now = _now_us()
    wanted = list(statuses) or ["open", "acknowledged"]
    since_us = now - _duration(since, "--since") if since else None
    with _state(config_path) as (_, state):
        found = query.list_incidents(state.connection, statuses=wanted, min_severity=severity, since_us=since_us,
                                     limit=limit)
    if as_json:
        for record in found:
            click.echo(orjson.dumps(query.to_json(record, now)).decode())
        return
    if not found:
        click.echo("no incidents")
        return
    rows = [("ID", "SEVERITY", "STATUS", "RULE", "USER", "EXPOSURE", "OPENED", "NOTIFY BY", "ASSIGNEE")]
    for r in found:
        rows.append((r.label, r.severity, r.status, r.rule_id, r.user or "-", query.exposure_text(r),
                     format_timestamp(r.opened_us)[:16].replace("T", " "), query.deadline_text(r, now),
                     r.assignee or "-"))
    shown = [[printable(cell) for cell in row] for row in rows]  # a user name from a log: one line, no escapes
    widths = [max(len(row[i]) for row in shown) for i in range(len(shown[0]))]
    for row in shown:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@incidents.command("show")
@config_option
@click.option("--evidence", "shown", type=click.IntRange(0, EVIDENCE_MAX), default=EVIDENCE_SHOWN,
              show_default=True, metavar="N",
              help="list the first N evidence events, in time order, from the event store (0: none)")
@click.option("--json", "as_json", is_flag=True, help="with the listed events under evidence_events")
@click.argument("incident")
def show(config_path: Path | None, shown: int, as_json: bool, incident: str) -> None:
    """One incident: what happened, exposure, timeline, evidence events, deliveries."""
    now = _now_us()
    with _state(config_path) as (loaded, state):
        conn = state.connection
        record = query.load_incident(conn, incident)
        doc = query.to_json(record, now)
        doc["timeline"] = query.timeline(conn, record.id)
        doc["evidence_ids"] = query.evidence_ids(conn, record.id)
        doc["deliveries"] = query.deliveries(conn, record.id)
        refs = evidence_refs(conn, record.id, shown, 0)
    events, unreadable = _fetch_evidence(loaded, refs)
    if events:  # events from the store were looked at: accountable, as `search` and the web page are
        audit.record(loaded.config.state_path / "state.db", os.environ.get("SUDO_USER") or getpass.getuser(),
                     "incidents-show", {"incident": record.label, "evidence": len(refs)}, len(events), now)
    doc["evidence_events"] = None if unreadable else [query.evidence_document(ref.event_id, ref.ts, found)
                                                      for ref, found in events]
    if unreadable:
        doc["evidence_error"] = unreadable
    if as_json:
        click.echo(orjson.dumps(doc).decode())
        return
    _print_incident(record, doc, now)
    _print_evidence(record, refs, events, unreadable)
    _print_deliveries(doc)


def _fetch_evidence(loaded: LoadedConfig, refs: list[EvidenceRef]) -> tuple[Evidence, str | None]:
    """The evidence events from the configured event store (SQLite or Elasticsearch), each by its id within its
    own microsecond; an event store that cannot be read is said, not fatal: the incident is still shown."""
    if not refs:
        return [], None
    try:
        with search_backend(loaded) as backend:
            return fetch_events(backend, refs), None
    except StoreError as exc:
        return [], str(exc)


def _print_incident(record: IncidentRecord, doc: dict[str, object], now: int) -> None:
    def echo(line: str) -> None:  # every line holds text from logs (users, objects, comments): one line each
        click.echo(printable(line))

    echo(f"{record.label}  {record.severity.upper()}  {record.status}  {record.title}")
    echo(f"  rule        {record.rule_id} ({record.kind})")
    also = [r for r in record.facts.rules if r != record.rule_id]
    if also:
        echo(f"  also broken {', '.join(also)}")
    echo(f"  user        {record.user or '-'}  roles: {', '.join(record.facts.roles) or '-'}")
    echo(f"  assignee    {record.assignee or '-'}")
    echo(f"  exposure    {query.exposure_text(record)}; {record.facts.exposure().objects} object(s)")
    echo(f"  categories  {', '.join(record.facts.categories) or '-'}")
    echo(f"  objects     {', '.join(record.facts.objects[:10]) or '-'}"
         f"{' (+' + str(len(record.facts.objects) - 10) + ' more)' if len(record.facts.objects) > 10 else ''}")
    echo(f"  from        {', '.join(record.facts.ips) or '-'}  zones: {', '.join(record.facts.zones) or '-'}")
    echo(f"  events      {format_timestamp(record.first_us)} .. {format_timestamp(record.last_us)}")
    echo(f"  opened      {format_timestamp(record.opened_us)}")
    echo(f"  notify by   {query.deadline_text(record, now)}")
    if record.silence_id is not None:
        echo(f"  silenced    S-{record.silence_id}")
    echo("timeline:")
    for item in doc["timeline"]:  # type: ignore[attr-defined]
        text = f": {item['text']}" if item["text"] else ""
        echo(f"  {item['at'][:19].replace('T', ' ')}  {item['actor']:<12} {item['kind']}{text}")


def _print_evidence(record: IncidentRecord, refs: list[EvidenceRef], events: Evidence, unreadable: str | None) -> None:
    """One line per evidence event, oldest first, as the timeline reads: when, who, did what to which object,
    how much, from where, and its event id (in full in --json)."""
    count = record.evidence_count
    which = f"; the first {len(refs)}, oldest first" if 0 < len(refs) < count else ", oldest first" if refs else ""
    click.echo(f"evidence: {count:,} event(s){which}")
    if unreadable:
        click.echo(printable(f"  the event store cannot be read: {unreadable}"))
        for ref in refs:
            click.echo(f"  {_second(ref.ts)}  {printable(ref.event_id)}")
    elif events:
        for line in _evidence_table(events):
            click.echo(f"  {line}".rstrip())
    if len(refs) < count:
        how = (f"`pii-guard incidents show {record.label} --evidence {min(count, EVIDENCE_MAX)}`"
               if len(refs) < EVIDENCE_MAX else "`pii-guard search` finds them in the event store")
        click.echo(f"  ... {count - len(refs):,} not listed: {how}")


_EVIDENCE_HEADER = ("TIME", "USER", "ACTION", "OUTCOME", "OBJECT", "VOLUME", "CLIENT", "ZONE", "EVENT")
_GONE = "(no longer in the event store)"


def _evidence_table(events: Evidence) -> list[str]:
    """Aligned columns; an event that retention has removed is its time, full id and the words that say so."""
    rows = [[printable(cell) for cell in _evidence_cells(ref, found)] for ref, found in events if found is not None]
    widths = [max(len(row[i]) for row in [list(_EVIDENCE_HEADER), *rows]) for i in range(len(_EVIDENCE_HEADER))]
    found_rows = iter(rows)
    lines = ["  ".join(c.ljust(w) for c, w in zip(_EVIDENCE_HEADER, widths, strict=True))]
    for ref, found in events:
        if found is None:
            lines.append(f"{_second(ref.ts).ljust(widths[0])}  {printable(ref.event_id)} {_GONE}")
        else:
            lines.append("  ".join(c.ljust(w) for c, w in zip(next(found_rows), widths, strict=True)))
    return lines


def _evidence_cells(ref: EvidenceRef, doc: dict[str, Any]) -> list[str]:
    """The columns of _EVIDENCE_HEADER from the stored (already masked) event; never `event.original`."""
    obj = str(doc.get("pii.object") or "-")
    volume = query.volume_text(doc.get("pii.rows"), doc.get("pii.bytes"), len(doc.get("pii.record_ids") or ()))
    return [_second(ref.ts), str(doc.get("user.name") or "-"), str(doc.get("event.action") or "-"),
            str(doc.get("event.outcome") or "-"), obj if len(obj) <= 60 else obj[:59] + "…", volume,
            str(doc.get("source.ip") or "-"), str(doc.get("source.zone") or "-"), ref.event_id[:12]]


def _second(ts: int) -> str:
    """ISO time in UTC to the second: 2026-11-27T09:00:00Z."""
    return format_timestamp(ts)[:19] + "Z"


def _print_deliveries(doc: dict[str, object]) -> None:
    deliveries = doc["deliveries"]
    assert isinstance(deliveries, list)
    if deliveries:
        click.echo("notifications:")
        for d in deliveries:
            click.echo(printable(f"  {d['target']:<8} {d['state']:<8} attempts {d['attempts']}"
                                 f"{'  ' + d['error'] if d['error'] else ''}"))


@incidents.command("ack")
@config_option
@actor_option
@click.argument("incident")
def ack(config_path: Path | None, actor: str | None, incident: str) -> None:
    """Acknowledge: someone is on it (and becomes the assignee if there is none)."""
    with _state(config_path) as (loaded, state):
        record = _responder(loaded, state, actor).acknowledge(incident, _now_us())
    click.echo(f"{record.label} acknowledged by {record.assignee}")


@incidents.command("assign")
@config_option
@actor_option
@click.argument("incident")
@click.argument("assignee")
def assign(config_path: Path | None, actor: str | None, incident: str, assignee: str) -> None:
    """Hand the incident to ASSIGNEE."""
    with _state(config_path) as (loaded, state):
        record = _responder(loaded, state, actor).assign(incident, assignee, _now_us())
    click.echo(f"{record.label} assigned to {record.assignee}")


@incidents.command("comment")
@config_option
@actor_option
@click.argument("incident")
@click.argument("text")
def comment(config_path: Path | None, actor: str | None, incident: str, text: str) -> None:
    """Add a comment to the timeline (and the Slack thread)."""
    with _state(config_path) as (loaded, state):
        record = _responder(loaded, state, actor).comment(incident, text, _now_us())
    click.echo(f"comment added to {record.label}")


@incidents.command("resolve")
@config_option
@actor_option
@click.option("--reason", required=True, help="what was found and done")
@click.argument("incident")
def resolve(config_path: Path | None, actor: str | None, reason: str, incident: str) -> None:
    """Close the incident as dealt with."""
    with _state(config_path) as (loaded, state):
        record = _responder(loaded, state, actor).resolve(incident, reason, _now_us())
    click.echo(f"{record.label} resolved")


@incidents.command("false-positive")
@config_option
@actor_option
@click.option("--reason", required=True, help="why this was not a leak")
@click.argument("incident")
def false_positive(config_path: Path | None, actor: str | None, reason: str, incident: str) -> None:
    """Close the incident as a false positive (more of the same is recorded, not announced)."""
    with _state(config_path) as (loaded, state):
        record = _responder(loaded, state, actor).resolve(incident, reason, _now_us(), false_positive=True)
    click.echo(f"{record.label} marked false positive")


@incidents.command("silence")
@config_option
@actor_option
@click.option("--for", "duration", required=True, metavar="DURATION", help="how long (2h, 1d ...)")
@click.option("--reason", required=True, help="why (shown with every silenced incident)")
@click.argument("rule")
@click.argument("key")
def silence(config_path: Path | None, actor: str | None, duration: str, reason: str, rule: str, key: str) -> None:
    """Hold back notifications for RULE (or *) and KEY (the incident key without the rule, e.g. the user
    name; a glob) for a while. Incidents are still opened and recorded."""
    span = _duration(duration, "--for")
    with _state(config_path) as (loaded, state):
        known = _rule_ids(loaded)
        number = _responder(loaded, state, actor).silence(rule, key, span, reason, _now_us(), known_rules=known)
    click.echo(f"silence S-{number} on {rule} {key} until {format_timestamp(_now_us() + span)[:16]}Z")


def _rule_ids(loaded: LoadedConfig) -> list[str]:
    """The rule ids matches can carry: the access policy's, the Sigma rules' (sigma:<name>) and the built-in
    ones (a data-map honeytoken, a source gone silent)."""
    from pii_guard.detection.build import policy_for, sigma_for
    from pii_guard.enrich.enricher import Enricher
    from pii_guard.sigma.silence import RULE_ID as SILENT_SOURCE

    config = loaded.config
    ids = ["honeytoken:data-map", SILENT_SOURCE]
    if config.policy.access:
        access = config.resolve(config.policy.access)
        ids += policy_for(config, Enricher.from_config(config), override=access).policy.rule_ids()
    if config.policy.sigma:
        ids += sigma_for(config).labels
    return ids


@incidents.command("silences")
@config_option
@click.option("--json", "as_json", is_flag=True)
def silences(config_path: Path | None, as_json: bool) -> None:
    """Silences, active and past."""
    with _state(config_path) as (_, state):
        found = query.silences(state.connection, _now_us())
    for item in found:
        if as_json:
            click.echo(orjson.dumps(item).decode())
        else:
            when = (f"ended {item['ended'][:16]}Z (was until {item['until'][:16]}Z)" if item["ended"] else
                    f"until {item['until'][:16]}Z")
            click.echo(printable(f"{item['id']}  {item['state']:<7}  {item['rule']} {item['key']}  {when}  "
                                 f"by {item['by']}: {item['reason']}"))
    if not found and not as_json:
        click.echo("no silences")


@incidents.command("unsilence")
@config_option
@actor_option
@click.argument("silence_id")
def unsilence(config_path: Path | None, actor: str | None, silence_id: str) -> None:
    """End a silence now."""
    raw = silence_id.upper().removeprefix("S-")
    if not raw.isdecimal():
        raise UsageError(f"{silence_id!r} is not a silence id (S-3)")
    with _state(config_path) as (loaded, state):
        _responder(loaded, state, actor).expire_silence(int(raw), _now_us())
    click.echo(f"silence S-{raw} ended")
