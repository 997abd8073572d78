"""One event in full (from an incident's evidence or a search result) and the monitor's status page."""

from __future__ import annotations

import re

from starlette.responses import Response

from pii_guard.incidents.evidence import fetch_event
from pii_guard.search.fields import FIELDS
from pii_guard.web.context import WebContext
from pii_guard.web.guard import Refused, Visit, guarded
from pii_guard.web.status_data import gather

_EVENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


@guarded()
def event_page(ctx: WebContext, visit: Visit) -> Response:
    params = visit.request.path_params
    ts, event_id = int(params["ts"]), str(params["event_id"])
    if not _EVENT_ID.match(event_id):
        raise Refused(404, "no such event")
    found = fetch_event(ctx.backends.get(), event_id, ts)
    ctx.record(visit.who, "web-event", {"event": event_id, "ts": ts}, 1 if found else 0)
    if found is None:
        raise Refused(404, "no such event in the store (retention may have removed it)")
    doc = ctx.names_for(visit.who).doc(found)
    fields = [(name, doc[name]) for name in FIELDS if name in doc]
    return ctx.pages.html("event.html.j2", visit=visit, nav="search", title="Event", doc=doc, fields=fields, ts=ts)


@guarded()
def status_page(ctx: WebContext, visit: Visit) -> Response:
    with_text = visit.who.may_admin
    data = gather(ctx, with_text)
    if with_text and data["store"].dead_recent:
        ctx.record(visit.who, "web-dead-letters", {"shown": len(data["store"].dead_recent)},
                   len(data["store"].dead_recent))
    return ctx.pages.html("status.html.j2", visit=visit, nav="status", title="Status", **data)
