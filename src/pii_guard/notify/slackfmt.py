"""Slack message text and Block Kit for incidents: pure functions, no I/O.

Every string in an IncidentView or Change is untrusted (user and object names come from logs), so it only
ever reaches a message through `escape()`:

* `&`, `<`, `>` become entities. That defuses `<!channel>`, `<!here>`, `<@U123>` and `<https://evil|click>`,
  which Slack would otherwise turn into mentions and disguised links.
* C0/C1 control characters and Unicode bidi controls are dropped (line breaks become spaces), so a name cannot
  reorder or hide the text around it.
* The value is put into an inline code span, with any backtick in it replaced by U+02CB (ˋ). Slack formats
  nothing inside a code span, so `*x*`, `_x_`, `~x~` and `:emoji:` show literally and the characters stay the
  ones from the log (a responder can copy a user name into a query). Lookalike substitutes would change the
  name; zero-width characters next to `*` are unreliable (Slack even uses them as a word boundary that
  *enables* formatting) and would poison copy-paste.
* The result, backticks and entities included, is at most `limit` characters, cut with an ellipsis.

`plain()` is for plain_text objects (the header): Slack parses neither mrkdwn nor mentions there, so it only
drops control characters and caps the length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pii_guard.notify.base import Change, Exposure, IncidentView
from pii_guard.sizes import human_bytes

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_SECTION = 3000  # section text, and any text object in mrkdwn
MAX_FIELD = 2000  # one section field
MAX_FIELDS = 10
MAX_HEADER = 150  # header plain_text
MAX_FALLBACK = 3000  # the `text` fallback we send (Slack truncates at 40,000)
ELLIPSIS = "…"

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))


def _cleaning_table() -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for code in (*range(0x20), *range(0x7F, 0xA0)):
        table[code] = None
    for code in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029):
        table[code] = " "
    for code in _BIDI:
        table[code] = None
    return table


_CLEAN = _cleaning_table()


def clean(text: str) -> str:
    """Drop control and bidi characters, turn line breaks into spaces, trim."""
    return text.translate(_CLEAN).strip()


def _fit(pieces: Sequence[str], budget: int) -> str:
    """Join pieces (entities count whole), cut to `budget` characters with an ellipsis."""
    if sum(len(p) for p in pieces) <= budget:
        return "".join(pieces)
    out: list[str] = []
    used = 0
    for piece in pieces:
        if used + len(piece) > budget - 1:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out).rstrip() + ELLIPSIS


def escape(text: str, limit: int = MAX_SECTION) -> str:
    """Untrusted text as a safe mrkdwn code span of at most `limit` characters ("" for empty text)."""
    value = clean(text).replace("`", "ˋ")
    if not value or limit < 4:
        return ""
    return "`" + _fit([_ENTITIES.get(c, c) for c in value], limit - 2) + "`"


def plain(text: str, limit: int = MAX_HEADER) -> str:
    """Text for a plain_text object: no mrkdwn or mentions are parsed there; only clean and cap it."""
    value = clean(text)
    return _fit(list(value), limit) if limit > 0 else ""


def cap(mrkdwn: str, limit: int) -> str:
    """Cap safe mrkdwn built here to `limit` characters: never ends inside an entity, and a code span that was
    cut into is closed again."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = mrkdwn[: max(0, limit - 2)]  # room for the ellipsis and a closing backtick
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS + ("`" if cut.count("`") % 2 else "")


# -- small pieces ------------------------------------------------------------------------------------------

_SEVERITY = {
    "low": (":large_blue_circle:", "LOW"),
    "medium": (":large_yellow_circle:", "MEDIUM"),
    "high": (":large_orange_circle:", "HIGH"),
    "critical": (":red_circle:", "CRITICAL"),
}
_STATUS = {
    "open": ":rotating_light: open",
    "acknowledged": ":eyes: acknowledged",
    "resolved": ":white_check_mark: resolved",
    "false_positive": ":no_entry_sign: false positive",
}


def severity_label(severity: str) -> str:
    """":red_circle: CRITICAL" — emoji shortcode and label (valid in mrkdwn and in plain_text with emoji)."""
    # An unknown severity keeps only letters, digits, "-" and "_": safe in mrkdwn and plain_text alike.
    emoji, label = _SEVERITY.get(severity, (":white_circle:", re.sub(r"[^A-Z0-9_-]", "", severity.upper())[:20]))
    return f"{emoji} {label}"


def status_label(status: str) -> str:
    return _STATUS.get(status, escape(status, 40))


def iso_utc(us: int) -> str:
    """Event time as UTC ISO 8601, to the second."""
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def deadline_text(us: int) -> str:
    return "notify by " + datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def exposure_text(exposure: Exposure) -> str:
    """"5,000 rows · 1.2 MiB · 12 events · 3 refused attempts" — only what is non-zero, events always."""
    parts = []
    for count, what in ((exposure.rows, "rows"), (exposure.records, "records"), (exposure.files, "files")):
        if count:
            parts.append(f"{count:,} {what}")
    if exposure.bytes:
        parts.append(human_bytes(exposure.bytes))
    parts.append(f"{exposure.events:,} event{'s' if exposure.events != 1 else ''}")
    if exposure.objects:
        parts.append(f"{exposure.objects:,} object{'s' if exposure.objects != 1 else ''}")
    if exposure.attempts:
        parts.append(f"{exposure.attempts:,} refused attempt{'s' if exposure.attempts != 1 else ''}")
    if exposure.honeytoken:
        parts.append(":honey_pot: honeytoken touched")
    return " · ".join(parts)


def escape_list(values: Iterable[str], *, shown: int, total: int | None = None, each: int = 200,
                limit: int = MAX_FIELD) -> str:
    """Up to `shown` escaped values joined by ", ", then "+k more" (k from `total` when larger)."""
    items = list(values)
    total = max(len(items), total or 0)
    parts: list[str] = []
    used = 0
    for value in items[:shown]:
        part = escape(value, each)
        if not part:
            continue
        if used + len(part) + 2 > limit - 16:  # room for ", " and "+k more"
            break
        parts.append(part)
        used += len(part) + 2
    more = total - len(parts)
    if not parts:
        return f"— ({more:,} not shown)" if more > 0 else "—"
    return ", ".join(parts) + (f" +{more:,} more" if more > 0 else "")


def _value(text: str | None, limit: int = 200) -> str:
    return (escape(text, limit) if text else "") or "—"


# -- messages ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlackMessage:
    text: str  # the escaped plain fallback (notifications, screen readers, clients without blocks)
    blocks: list[Block]


def _mrkdwn(text: str, limit: int = MAX_SECTION) -> dict[str, str]:
    return {"type": "mrkdwn", "text": cap(text, limit)}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text)}


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": plain(text, MAX_HEADER) or "pii-guard",
                                       "emoji": True}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def header_text(view: IncidentView) -> str:
    prefix = ""
    if view.status in ("resolved", "false_positive"):
        prefix = "[RESOLVED] " if view.status == "resolved" else "[FALSE POSITIVE] "
    return f"{prefix}{severity_label(view.severity)} · {clean(view.id)} · {clean(view.rule_id)}"


def parent_message(view: IncidentView, *, max_objects: int = 5) -> SlackMessage:
    """The incident's parent message: who, what, how much, from where, when, status and how to inspect it."""
    who = _value(view.user, 200)
    if view.roles:
        who += "\nroles: " + escape_list(view.roles, shown=8, each=80, limit=900)
    if view.department:
        who += "\ndepartment: " + _value(view.department, 120)
    status = status_label(view.status)
    status += "\nassignee: " + _value(view.assignee, 120)
    where = "IPs: " + escape_list(view.source_ips, shown=5, each=60, limit=900)
    if view.zones:
        where += "\nzones: " + escape_list(view.zones, shown=5, each=80, limit=900)
    rule = f"*Rule*\n{_value(view.rule_id, 200)} ({_value(view.rule_kind, 80)})"
    also = [r for r in view.rules if r != view.rule_id]
    if also:
        rule += "\nalso: " + escape_list(also, shown=5, each=120, limit=700)
    fields = [
        rule,
        f"*Severity*\n{severity_label(view.severity)}",
        f"*User*\n{who}",
        f"*Status*\n{status}",
        f"*How much*\n{exposure_text(view.exposure)}",
        f"*From where*\n{where}",
        f"*When (UTC)*\nfirst {iso_utc(view.first_us)}\nlast {iso_utc(view.last_us)}",
        f"*Incident*\n{_value(view.id, 80)}\nevidence: {view.evidence_count:,}",
    ]
    touched = ("*What was touched*\ncategories: " + escape_list(view.categories, shown=12, each=80, limit=1200)
               + "\nobjects: " + escape_list(view.objects, shown=max_objects, total=view.exposure.objects,
                                             each=300, limit=1700))
    blocks: list[Block] = [
        _header(header_text(view)),
        _section(_value(view.title, 1500)),
        {"type": "section", "fields": [_mrkdwn(f, MAX_FIELD) for f in fields[:MAX_FIELDS]]},
        _section(touched),
    ]
    if view.deadline_us is not None:
        blocks.append(_section(f":alarm_clock: *{deadline_text(view.deadline_us)}*"))
    blocks.append(_context("Inspect: " + _value(view.inspect, 400)))
    fallback = (f"{severity_label(view.severity)} incident {_value(view.id, 80)}: {_value(view.title, 800)}"
                f" — user {who.splitlines()[0]} — {exposure_text(view.exposure)}")
    if view.deadline_us is not None:
        fallback += f" — {deadline_text(view.deadline_us)}"
    fallback += f" — inspect: {_value(view.inspect, 400)}"
    return SlackMessage(cap(fallback, MAX_FALLBACK), blocks)


_CHANGE_EMOJI = {
    "opened": ":rotating_light:",
    "evidence": ":heavy_plus_sign:",
    "severity": ":arrow_up:",
    "acknowledged": ":eyes:",
    "assigned": ":bust_in_silhouette:",
    "comment": ":speech_balloon:",
    "resolved": ":white_check_mark:",
    "false_positive": ":no_entry_sign:",
    "reopened": ":repeat:",
}


def change_line(view: IncidentView, change: Change) -> str:
    """One mrkdwn sentence saying what changed (untrusted parts escaped)."""
    actor = _value(change.actor, 120)
    reason = escape(change.text, 2000)
    kind = change.kind
    if kind == "opened":
        line = f"Incident opened: {_value(view.title, 1000)}"
    elif kind == "evidence":
        line = (f"More evidence: {view.evidence_count:,} in all — {exposure_text(view.exposure)}; categories "
                + escape_list(view.categories, shown=12, each=80, limit=900))
    elif kind == "severity":
        before = severity_label(change.previous) if change.previous else "—"
        line = f"Severity raised: {before} → {severity_label(view.severity)}"
    elif kind == "acknowledged":
        line = f"Acknowledged by {actor}"
    elif kind == "assigned":
        line = f"Assigned to {_value(view.assignee, 120)} by {actor}"
    elif kind == "comment":
        line = f"{actor} commented: {reason or '—'}"
    elif kind == "resolved":
        line = f"*Resolved* by {actor}" + (f": {reason}" if reason else "")
    elif kind == "false_positive":
        line = f"*Marked false positive* by {actor}" + (f": {reason}" if reason else "")
    elif kind == "reopened":
        line = f"*Reopened*: new evidence after it was closed — {exposure_text(view.exposure)}"
        if change.previous:
            line += f" (was {status_label(change.previous)})"
    else:  # a kind added later: say so rather than drop it
        line = f"{escape(str(kind), 40)} by {actor}" + (f": {reason}" if reason else "")
    return f"{_CHANGE_EMOJI.get(kind, ':information_source:')} {line}"


def change_message(view: IncidentView, change: Change, *, standalone: bool = False) -> SlackMessage:
    """A thread reply for a change; `standalone` (webhook mode, no thread) also names the incident."""
    line = change_line(view, change)
    blocks: list[Block] = []
    name = f"{severity_label(view.severity)} {_value(view.id, 80)} · {_value(view.rule_id, 200)}"
    if standalone:
        blocks.append(_context(f"{name} — {_value(view.title, 1000)}"))
    blocks.append(_section(line))
    if change.kind in ("resolved", "false_positive", "reopened", "severity") or standalone:
        blocks.append(_context(f"Status: {status_label(view.status)} · inspect: {_value(view.inspect, 400)}"))
    fallback = f"{name}: {line}" if standalone else f"{_value(view.id, 80)}: {line}"
    return SlackMessage(cap(fallback, MAX_FALLBACK), blocks)


def digest_line(view: IncidentView) -> str:
    return (f"{severity_label(view.severity)} {_value(view.id, 60)} · {_value(view.rule_id, 100)}"
            f" · user {_value(view.user, 100)} · {exposure_text(view.exposure)}")


def digest_message(views: Sequence[IncidentView], *, max_blocks: int = MAX_BLOCKS) -> SlackMessage:
    """Many new incidents in one message, one line each, packed into sections of at most 3000 characters,
    at most `max_blocks` blocks in all; what does not fit is counted in a last "+k more" line."""
    blocks: list[Block] = [_header(f"{len(views):,} new pii-guard incident{'s' if len(views) != 1 else ''}")]
    room = max(1, max_blocks - 2)  # sections left beside the header and the closing context
    sections: list[str] = []
    chunk: list[str] = []
    listed = 0
    for view in views:
        line = cap(digest_line(view), 1000)
        if chunk and len("\n".join(chunk)) + 1 + len(line) > MAX_SECTION:
            sections.append("\n".join(chunk))
            chunk = []
        if len(sections) >= room:
            break
        chunk.append(line)
        listed += 1
    if chunk:
        sections.append("\n".join(chunk))
    blocks.extend(_section(text) for text in sections)
    more = len(views) - listed
    footer = "Inspect one with `pii-guard incidents show &lt;id&gt;`"
    if more > 0:
        footer = f"+{more:,} more not listed here. " + footer
    blocks.append(_context(footer))
    ids = ", ".join(_value(v.id, 40) for v in views[:100])
    if len(views) > 100:
        ids += f" +{len(views) - 100:,} more"
    fallback = f"{len(views):,} new pii-guard incidents: {ids}"
    return SlackMessage(cap(fallback, MAX_FALLBACK), blocks)
