"""The incidents list (filtered by status, severity, rule and user; the most urgent first: a running
notification clock, then severity) and one incident in full: what happened, exposure, timeline, evidence with
the query that finds it, deliveries, and the actions the viewer's role allows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote_plus

from starlette.responses import RedirectResponse, Response

from pii_guard.incidents import query, records
from pii_guard.incidents.evidence import evidence_queries, evidence_refs, fetch_events
from pii_guard.incidents.facts import SEVERITIES, severity_rank
from pii_guard.incidents.records import STATUSES, IncidentRecord
from pii_guard.web.context import Names, WebContext
from pii_guard.web.guard import Refused, Visit, guarded

_STATUS_CHOICES = ("active", "all", *STATUSES)  # active: open and acknowledged
MAX_PAGES = 200


@dataclass(frozen=True)
class IncidentFilter:
    status: str = "active"
    severity: str = ""  # this or higher
    rule: str = ""
    user: str = ""  # only through a handle: a name is personal data, never in a URL

    def statuses(self) -> list[str]:
        if self.status == "all":
            return []
        return ["open", "acknowledged"] if self.status == "active" else [self.status]


def _filter(values: dict[str, str], user: str = "") -> IncidentFilter:
    status = values.get("status") or "active"
    severity = values.get("severity") or ""
    if status not in _STATUS_CHOICES:
        raise Refused(400, f"unknown status {status!r}")
    if severity and severity not in SEVERITIES:
        raise Refused(400, f"unknown severity {severity!r}")
    return IncidentFilter(status, severity, (values.get("rule") or "").strip()[:200], user.strip()[:200])


def _page_number(visit: Visit, name: str = "page") -> int:
    raw = visit.request.query_params.get(name, "1")
    return min(int(raw), MAX_PAGES) if raw.isdigit() and int(raw) > 0 else 1


def _users_matching(names: Names, conn: Any, typed: str) -> list[str]:
    """A viewer who sees pseudonyms filters by pseudonym: find the names behind it."""
    if names.revealed:
        return [typed]
    rows = conn.execute("SELECT DISTINCT user_name FROM incidents WHERE user_name IS NOT NULL").fetchall()
    return [str(r[0]) for r in rows if names.name(str(r[0])) == typed or str(r[0]) == typed]


@guarded()
def incidents_page(ctx: WebContext, visit: Visit) -> Response:
    params = dict(visit.request.query_params)
    view = params.get("view")
    chosen: object = ctx.handles.get(visit.who.name, "incidents", view) if view else None
    if view and not isinstance(chosen, IncidentFilter):
        raise Refused(404, "this filter has expired: set it again")
    flt = chosen if isinstance(chosen, IncidentFilter) else _filter(params)
    page, size = _page_number(visit), ctx.config.web.page_size
    names = ctx.names_for(visit.who)
    clauses: list[str] = []
    values: list[object] = []
    if flt.statuses():
        clauses.append(f"status IN ({','.join('?' * len(flt.statuses()))})")
        values.extend(flt.statuses())
    if flt.severity:
        allowed = [s for s in SEVERITIES if severity_rank(s) >= severity_rank(flt.severity)]
        clauses.append(f"severity IN ({','.join('?' * len(allowed))})")
        values.extend(allowed)
    if flt.rule:
        clauses.append("(rule_id = ? OR id IN (SELECT incident_id FROM incident_keys WHERE rule_id = ?))")
        values.extend((flt.rule, flt.rule))
    with ctx.state() as state:
        conn = state.connection
        if flt.user:
            users = _users_matching(names, conn, flt.user) or ["\0no such user"]
            clauses.append(f"user_name IN ({','.join('?' * len(users))})")
            values.extend(users)
        found = records.select(conn, " AND ".join(clauses), values, page * size + 1)
        rules = [str(r[0]) for r in conn.execute(
            "SELECT rule_id FROM incidents UNION SELECT rule_id FROM incident_keys ORDER BY 1")]
    now = ctx.now_us()
    shown = found[(page - 1) * size: page * size]
    ctx.record(visit.who, "web-incidents", {**asdict(flt), "page": page}, len(shown))
    rows = [_row(r, names, now) for r in shown]
    return ctx.pages.html("incidents.html.j2", visit=visit, nav="incidents", title="Incidents", rows=rows, flt=flt,
                          view=view or "", page=page, more=len(found) > page * size, rules=rules,
                          statuses=_STATUS_CHOICES, severities=SEVERITIES, names_revealed=names.revealed)


@guarded()
def incidents_filter(ctx: WebContext, visit: Visit) -> Response:
    flt = _filter(visit.form, visit.field("user", 200))
    if not flt.user:  # nothing personal: a plain link will do
        qs = "&".join(f"{k}={quote_plus(v)}" for k, v in (("status", flt.status), ("severity", flt.severity),
                                                             ("rule", flt.rule)) if v)
        return RedirectResponse(f"/incidents?{qs}", status_code=303)
    token = ctx.handles.put(visit.who.name, "incidents", flt)
    return RedirectResponse(f"/incidents?view={token}", status_code=303)


def _row(record: IncidentRecord, names: Names, now_us: int) -> dict[str, Any]:
    return {"label": record.label, "severity": record.severity, "status": record.status, "rule": record.rule_id,
            "user": names.name(record.user) or "-", "exposure": query.exposure_text(record),
            "opened_us": record.opened_us, "deadline": query.deadline_text(record, now_us),
            "overdue": record.deadline_us is not None and record.is_open and record.deadline_us < now_us,
            "assignee": record.assignee or "-",
            "title": names.scrub(record.title, record.user)}


@guarded()
def incident_page(ctx: WebContext, visit: Visit) -> Response:
    label = str(visit.request.path_params["label"])
    page, size = _page_number(visit, "evidence"), ctx.config.web.page_size
    names = ctx.names_for(visit.who)
    now = ctx.now_us()
    with ctx.state() as state:
        conn = state.connection
        record = query.load_incident(conn, label)
        timeline = query.timeline(conn, record.id)
        refs = evidence_refs(conn, record.id, size, (page - 1) * size)
        deliveries = query.deliveries(conn, record.id)
    events = fetch_events(ctx.backends.get(), refs) if refs else []
    ctx.record(visit.who, "web-incident", {"incident": record.label, "evidence_page": page}, len(events))
    doc = query.to_json(record, now)
    for item in timeline:
        item["text"] = names.scrub(str(item["text"] or ""), record.user)
    evidence = [{"ref": ref, "doc": names.doc(found) if found else None} for ref, found in events]
    return ctx.pages.html(
        "incident.html.j2", visit=visit, nav="incidents", title=record.label, r=record, doc=doc,
        user=names.name(record.user) or "-", title_text=names.scrub(record.title, record.user),
        exposure=query.exposure_text(record), deadline=query.deadline_text(record, now), timeline=timeline,
        evidence=evidence, page=page, pages=max(1, -(-record.evidence_count // size)),
        queries=evidence_queries(refs, record.user if names.revealed else None, record.first_us, record.last_us),
        deliveries=deliveries, silence_key=record.silence_key if names.revealed else "",
        durations=("1h", "4h", "12h", "1d", "3d", "7d"))
