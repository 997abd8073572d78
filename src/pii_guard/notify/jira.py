"""Jira (REST API v2, Cloud and Data Center): "opened" creates an issue, every later change is a comment on
it, and "resolved" / "false_positive" also move it through the configured transition.

Idempotency: an issue carries the label `pii-guard-delivery-<outbox id>`, a comment ends with the line
`[pii-guard delivery <outbox id>]`; `find_delivered` looks for those after a crash. Every string from an
incident is untrusted and is escaped for Jira wiki markup (descriptions and comments); the summary is plain
text in Jira, so it is only stripped of control characters and capped."""

from __future__ import annotations

import base64
import html
import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from pii_guard.config.models import JiraConfig
from pii_guard.config.secrets import Secret
from pii_guard.incidents.facts import severity_rank
from pii_guard.notify.base import Delivered, Exposure, Failed, IncidentView, Notification, Outcome, Retry
from pii_guard.notify.http import Response, Unreachable, clean, peer, request, retry_after_s, rfc3339

log = logging.getLogger("pii_guard.notify.jira")

SUMMARY_MAX = 255  # Jira's limit, in UTF-16 code units (Java string length)
TEXT_MAX = 10_000  # characters of one comment/reason text put into Jira
_COMMENT_PAGES = 20  # x 100 comments searched by find_delivered

# -- Jira wiki markup ---------------------------------------------------------------------------------------

# The characters Jira's renderer lets a backslash escape (BackslashEscapeRendererComponent); a backslash
# before any other character is shown as is.
WIKI_SPECIAL = frozenset("-#*_+?^~|%{}[]()!@")
_LINE_MARKUP = re.compile(r"^(\s*)(h[1-6]\.|bq\.)", re.IGNORECASE)  # headings and quotes at line start
_EMOTICON_AFTER = frozenset(")(PpDd")
_UNESCAPE = re.compile(r"\\([-#*_+?^~|%{}\[\]()!@])")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f]")


def _escape_line(line: str) -> str:
    out: list[str] = []
    for i, c in enumerate(line):
        nxt = line[i + 1: i + 2]
        if c == "\\":
            out.append("&#92;")  # "\\" is a line break and "\{" an escape: a literal backslash needs the entity
        elif c == "&":
            out.append("&amp;")  # or "&lt;" in the text would render as "<"
        elif c in WIKI_SPECIAL:
            out.append("\\" + c)
        elif c == ":" and (nxt == "/" or nxt in _EMOTICON_AFTER or line[max(0, i - 6): i].lower() == "mailto"):
            out.append("&#58;")  # no auto-link (http://, file:/, mailto:) and no :) :P :D emoticons
        elif c == ";" and nxt in _EMOTICON_AFTER:
            out.append("&#59;")
        else:
            out.append(c)
    escaped = "".join(out)
    m = _LINE_MARKUP.match(escaped)
    if m:  # "h1. x" / "bq. x" at a line start: break the keyword with an entity for its first letter
        start = m.end(1)
        escaped = escaped[:start] + f"&#{ord(escaped[start])};" + escaped[start + 1:]
    return escaped


def wiki_escape(text: str) -> str:
    """Untrusted text as literal Jira wiki markup on one line (table cells, headlines): control characters
    and line breaks become spaces, every markup character is escaped."""
    text = _CONTROL.sub(" ", text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ").replace("\t", " "))
    return _escape_line(text[:TEXT_MAX])


def wiki_block(text: str) -> str:
    """Untrusted multi-line text as literal Jira wiki markup: lines kept, each one escaped."""
    text = text[:TEXT_MAX].replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return "\n".join(_escape_line(_CONTROL.sub(" ", line)) for line in text.split("\n"))


def wiki_plain(markup: str) -> str:
    """The text a reader sees for markup made by `wiki_escape` (for finding our own markers again)."""
    return html.unescape(_UNESCAPE.sub(r"\1", markup))


def _cap_utf16(text: str, limit: int) -> str:
    if len(text.encode("utf-16-le")) // 2 <= limit:
        return text
    out: list[str] = []
    used = 1  # the ellipsis
    for c in text:
        units = 2 if ord(c) > 0xFFFF else 1
        if used + units > limit:
            break
        out.append(c)
        used += units
    return "".join(out).rstrip() + "…"


def summary_for(view: IncidentView) -> str:
    """`[pii-guard] INC-42 high: <title>`: plain text (Jira does not render markup in summaries), one line,
    no control characters, at most 255 UTF-16 code units."""
    return _cap_utf16(clean(f"[pii-guard] {view.id} {view.severity}: {view.title}", 10 * SUMMARY_MAX), SUMMARY_MAX)


def delivery_label(outbox_id: int) -> str:
    return f"pii-guard-delivery-{outbox_id}"


def labels_for(note: Notification) -> list[str]:
    return ["pii-guard", _label(f"pii-guard-{note.incident.id}"), delivery_label(note.outbox_id)]


def _label(text: str) -> str:
    return re.sub(r"\s+", "-", clean(text, 255))  # labels may not contain spaces


def marker(outbox_id: int) -> str:
    """The last line of every comment pii-guard writes, as the reader sees it."""
    return f"[pii-guard delivery {outbox_id}]"


def _exposure_text(e: Exposure) -> str:
    parts = [f"{value} {name}" for name, value in (("events", e.events), ("rows", e.rows), ("records", e.records),
                                                  ("files", e.files), ("bytes", e.bytes), ("objects", e.objects))
             if value]
    if e.attempts:
        parts.append(f"{e.attempts} refused attempts")
    if e.honeytoken:
        parts.append("honeytoken touched")
    return ", ".join(parts) or "none counted"


def _many(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "—"


def description_for(view: IncidentView) -> str:
    e = wiki_escape
    rows = [
        ("Rule", f"{view.rule_id} ({view.rule_kind})"),
        ("Also broken", _many([r for r in view.rules if r != view.rule_id])),
        ("Severity", view.severity),
        ("Status", view.status),
        ("User", view.user or "—"),
        ("Roles", _many(view.roles)),
        ("Department", view.department or "—"),
        ("Source IPs", _many(view.source_ips)),
        ("Zones", _many(view.zones)),
        ("Objects", _many(view.objects)),
        ("Categories", _many(view.categories)),
        ("Exposure", _exposure_text(view.exposure)),
        ("First evidence", rfc3339(view.first_us)),
        ("Last evidence", rfc3339(view.last_us)),
        ("Opened", rfc3339(view.opened_us)),
        ("Notification deadline", rfc3339(view.deadline_us) if view.deadline_us is not None else "none"),
        ("Evidence", f"{view.evidence_count} matches"),
    ]
    lines = [f"*pii-guard incident {e(view.id)}* (severity *{e(view.severity)}*)", "", e(view.title), "",
             "||Field||Value||"]
    lines += [f"|{name}|{e(value)}|" for name, value in rows]
    lines += ["", f"Inspect it with: {{{{{e(view.inspect)}}}}}"]
    return "\n".join(lines)


def digest_description(notes: Sequence[Notification]) -> str:
    e = wiki_escape
    lines = [f"*pii-guard opened {len(notes)} incidents*", "", "||Incident||Severity||Title||User||Inspect||"]
    lines += [f"|{e(n.incident.id)}|{e(n.incident.severity)}|{e(n.incident.title)}|{e(n.incident.user or '—')}|"
              f"{{{{{e(n.incident.inspect)}}}}}|" for n in notes]
    return "\n".join(lines)


_HEADLINES = {
    "opened": "Opened",
    "evidence": "More evidence",
    "severity": "Severity raised",
    "acknowledged": "Acknowledged",
    "assigned": "Assigned",
    "comment": "Comment",
    "resolved": "Resolved",
    "false_positive": "Marked as a false positive",
    "reopened": "Reopened",
}


def comment_for(note: Notification) -> str:
    e = wiki_escape
    change, view = note.change, note.incident
    head = f"*{_HEADLINES.get(change.kind, e(change.kind))}* by {e(change.actor)} at {e(rfc3339(change.at_us))}"
    details: list[str] = []
    if change.kind == "severity":
        details.append(f"Severity {e(change.previous or '?')} → *{e(view.severity)}*")
    elif change.kind == "assigned":
        details.append(f"Assignee: {e(view.assignee or '—')}")
    elif change.kind == "evidence":
        details.append(f"{view.evidence_count} matches in total; exposure: {e(_exposure_text(view.exposure))}")
    elif change.kind == "reopened":
        details.append("New evidence arrived after it was resolved.")
    elif change.previous and change.kind in ("acknowledged", "resolved", "false_positive"):
        details.append(f"Status {e(change.previous)} → {e(view.status)}")
    lines = [head, *details]
    if change.text.strip():
        lines += ["{quote}", wiki_block(change.text.strip()), "{quote}"]
    lines.append(f"Incident {e(view.id)}, severity {e(view.severity)}, status {e(view.status)}: "
                 f"{{{{{e(view.inspect)}}}}}")
    lines.append(wiki_escape(marker(note.outbox_id)))  # always the last line: find_delivered relies on it
    return "\n".join(lines)


# -- the notifier -------------------------------------------------------------------------------------------

class JiraNotifier:
    per_second = 2.0
    digest_after: int | None = None  # one ticket per incident: a shared ticket would muddle who tracks what

    def __init__(self, config: JiraConfig, token: Secret | None, *, name: str = "jira",
                 priorities: Mapping[str, str] | None = None) -> None:
        """`priorities` maps a severity to a Jira priority name; without an entry no priority is set (names
        differ between Jira instances and an unknown one is refused)."""
        self.name = name
        self._config = config
        self._token = token
        self._priorities = dict(priorities or {})
        self._base = config.url.rstrip("/")

    # -- the Notifier protocol ----------------------------------------------------------------------------

    def send(self, note: Notification, ref: str | None) -> Outcome:
        if note.change.kind == "opened":
            return self._create([note])
        if ref is None:
            return Failed(f"jira: no issue is recorded for {note.incident.id}, so there is nothing to comment on")
        if note.change.kind in ("resolved", "false_positive"):
            problem = self._resolve(ref)
            if problem is not None:
                return problem
        return self._comment(ref, note)

    def digest(self, notes: Sequence[Notification]) -> Outcome:
        """One issue for many opened incidents, labelled for each of them and each delivery."""
        if not notes:
            return Delivered()
        return self._create(list(notes))

    def find_delivered(self, note: Notification, ref: str | None = None) -> str | None:
        """The issue key if `note` already landed: for "opened" by its delivery label, for other changes by
        the marker line among the comments of issue `ref` (without `ref` they cannot be found: None)."""
        if note.change.kind == "opened":
            return self._search_label(delivery_label(note.outbox_id))
        if ref is None:
            return None
        want = marker(note.outbox_id)
        start = 0
        for _ in range(_COMMENT_PAGES):
            result = self._call("GET", f"/rest/api/2/issue/{quote(ref, safe='')}/comment",
                                query={"startAt": start, "maxResults": 100})
            doc = result.json() if isinstance(result, Response) and result.status == 200 else None
            if not isinstance(doc, dict):
                self._log_lookup_failure(result, f"reading the comments of {ref}")
                return None
            comments = doc.get("comments") or []
            for comment in comments:
                body = comment.get("body") if isinstance(comment, dict) else None
                if isinstance(body, str) and _last_line(wiki_plain(body)) == want:
                    return ref
            start += len(comments)
            if not comments or start >= int(doc.get("total", 0)):
                return None
        return None

    # -- the requests -------------------------------------------------------------------------------------

    def _create(self, notes: list[Notification]) -> Outcome:
        if len(notes) == 1:
            view = notes[0].incident
            summary, description = summary_for(view), description_for(view)
            labels = labels_for(notes[0])
            priority = self._priorities.get(view.severity)
        else:
            ids = ", ".join(n.incident.id for n in notes)
            summary = _cap_utf16(clean(f"[pii-guard] {len(notes)} incidents opened: {ids}", 4096), SUMMARY_MAX)
            description = digest_description(notes)
            labels = list(dict.fromkeys(label for n in notes for label in labels_for(n)))
            worst = max((n.incident.severity for n in notes), key=severity_rank)
            priority = self._priorities.get(worst)
        fields: dict[str, Any] = {
            "project": {"key": self._config.project},
            "issuetype": {"name": self._config.issue_type},
            "summary": summary,
            "description": description,
            "labels": labels,
        }
        if priority:
            fields["priority"] = {"name": priority}
        result = self._call("POST", "/rest/api/2/issue", {"fields": fields})
        if isinstance(result, Response) and result.status in (200, 201):
            doc = result.json()
            key = doc.get("key") if isinstance(doc, dict) else None
            if not isinstance(key, str) or not key:
                key = self._search_label(delivery_label(notes[0].outbox_id))
            if key is None:
                return Retry("jira created the issue but its answer had no key and the label search found none")
            log.debug("jira issue %s created", key, extra={"target": self.name})
            return Delivered(key)
        return self._failure(result, "creating the issue")

    def _comment(self, key: str, note: Notification) -> Outcome:
        result = self._call("POST", f"/rest/api/2/issue/{quote(key, safe='')}/comment", {"body": comment_for(note)})
        if isinstance(result, Response) and result.status in (200, 201):
            return Delivered(key)
        return self._failure(result, f"commenting on {key}", issue=key)

    def _resolve(self, key: str) -> Outcome | None:
        """Move the issue through the configured transition; None when done (or it already was)."""
        path = f"/rest/api/2/issue/{quote(key, safe='')}/transitions"
        result = self._call("GET", path)
        if not (isinstance(result, Response) and result.status == 200):
            return self._failure(result, f"listing the transitions of {key}", issue=key)
        doc = result.json()
        transitions = doc.get("transitions") if isinstance(doc, dict) else None
        available = [t for t in transitions or [] if isinstance(t, dict) and isinstance(t.get("name"), str)]
        wanted = self._config.resolve_transition.casefold()
        match = next((t for t in available if t["name"].casefold() == wanted), None)
        if match is None:
            if self._already_done(key):
                return None  # resolved by hand, or by our attempt whose comment did not land: go on
            names = ", ".join(repr(clean(t["name"], 60)) for t in available[:20]) or "none"
            return Failed(f"jira: {key} has no transition named {self._config.resolve_transition!r}; "
                          f"available: {names} (set notify.jira.resolve_transition)")
        result = self._call("POST", path, {"transition": {"id": str(match.get("id"))}})
        if isinstance(result, Response) and result.status in (200, 204):
            return None
        return self._failure(result, f"moving {key} through {self._config.resolve_transition!r}", issue=key)

    def _already_done(self, key: str) -> bool:
        result = self._call("GET", f"/rest/api/2/issue/{quote(key, safe='')}", query={"fields": "status"})
        doc = result.json() if isinstance(result, Response) and result.status == 200 else None
        try:
            return bool(doc["fields"]["status"]["statusCategory"]["key"] == "done")  # type: ignore[index]
        except (KeyError, TypeError):
            return False

    def _search_label(self, label: str) -> str | None:
        query = {"jql": f'labels = "{label}"', "fields": "summary", "maxResults": 5}
        result = self._call("GET", "/rest/api/2/search", query=query)
        if isinstance(result, Response) and result.status in (404, 410):  # Cloud retired it for /search/jql
            result = self._call("GET", "/rest/api/2/search/jql", query=query)
        doc = result.json() if isinstance(result, Response) and result.status == 200 else None
        if not isinstance(doc, dict):
            self._log_lookup_failure(result, f"searching for label {label}")
            return None
        for issue in doc.get("issues") or []:
            if isinstance(issue, dict) and isinstance(issue.get("key"), str):
                return str(issue["key"])
        return None

    def _call(self, method: str, path: str, payload: dict[str, Any] | None = None,
              query: Mapping[str, Any] | None = None) -> Response | Unreachable:
        url = self._base + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        auth = self._authorization()
        if auth is not None:
            headers["Authorization"] = auth
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8") if payload is not None else None
        return request(method, url, headers=headers, body=body, timeout_s=self._config.timeout_s)

    def _authorization(self) -> str | None:
        if self._token is None:
            return None
        if self._config.user:
            pair = f"{self._config.user}:{self._token.reveal()}".encode()
            return "Basic " + base64.b64encode(pair).decode("ascii")
        return "Bearer " + self._token.reveal()

    # -- outcomes -----------------------------------------------------------------------------------------

    def _failure(self, result: Response | Unreachable, doing: str, issue: str | None = None) -> Retry | Failed:
        if isinstance(result, Unreachable):
            reason = f"jira {doing}: {result.reason}"
            return Failed(reason) if result.kind == "invalid" else Retry(reason)
        status = result.status
        said = self._errors(result)
        detail = f": {said}" if said else ""
        if status in (401, 403):
            captcha = "AUTHENTICATION_DENIED" in (result.header("X-Seraph-LoginReason") or "")
            hint = " (Jira wants a CAPTCHA after failed logins: log in once in a browser)" if captcha else ""
            return Failed(f"jira {doing}: authentication refused (HTTP {status}){hint}: check notify.jira user, "
                          f"token and the account's permissions in project {self._config.project}{detail}")
        if status in (408, 429) or status >= 500:
            return Retry(f"jira {doing}: HTTP {status}{detail}", retry_after_s(result.header("Retry-After")))
        if status == 404:
            what = (f"issue {issue} does not exist any more or is not visible to the account" if issue
                    else f"no Jira REST API at {peer(self._base)}: check notify.jira url")
            return Failed(f"jira {doing}: HTTP 404, {what}{detail}")
        if 300 <= status < 400:
            return Failed(f"jira {doing}: HTTP {status} (a redirect, not followed): check notify.jira url")
        return Failed(f"jira {doing}: HTTP {status}{detail}")

    def _errors(self, result: Response) -> str:
        """Jira's `errorMessages` and `errors`, or the start of a non-JSON body: cleaned, capped, scrubbed."""
        doc = result.json()
        parts: list[str] = []
        if isinstance(doc, dict):
            messages = doc.get("errorMessages")
            if isinstance(messages, list):
                parts += [str(m) for m in messages[:10]]
            errors = doc.get("errors")
            if isinstance(errors, dict):
                parts += [f"{k}: {v}" for k, v in list(errors.items())[:10]]
            text = "; ".join(parts)
        elif result.body.lstrip()[:1] == b"<":
            text = ""  # an HTML error page: its status says enough
        else:
            text = result.body[:400].decode("utf-8", "replace")
        return clean(self._scrub(text), 300)

    def _scrub(self, text: str) -> str:
        if self._token is None or not self._token.reveal():
            return text
        auth = self._authorization() or ""
        for secret in (auth, auth.split(" ", 1)[-1], self._token.reveal()):
            if secret:
                text = text.replace(secret, "<secret>")
        return text

    def _log_lookup_failure(self, result: Response | Unreachable, doing: str) -> None:
        why = result.reason if isinstance(result, Unreachable) else f"HTTP {result.status}"
        log.warning("jira lookup failed, the change may be sent again", extra={
            "target": self.name, "doing": doing, "reason": self._scrub(why)})


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""

