"""The access-review reports: the index with each report's review status, one report's record and sign-offs,
the report itself (its own self-contained HTML, served sandboxed under a CSP of its own: inline CSS, no
script), and the sign-off, which checks the file's SHA-256 against the one recorded when it was written
(`pii-guard review sign`)."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

from starlette.responses import FileResponse, RedirectResponse, Response

from pii_guard.reports.deliver import write_index
from pii_guard.reports.period import from_us
from pii_guard.reports.signoff import Registered, file_sha256, registered, review_states, sign, signoffs
from pii_guard.web.context import WebContext
from pii_guard.web.guard import Refused, Visit, guarded
from pii_guard.web.roles import Permission
from pii_guard.web.security import REPORT_CSP

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def _when(us: int, tz: ZoneInfo) -> str:
    return f"{from_us(us, tz):%Y-%m-%d %H:%M %Z}"


def _report(ctx: WebContext, visit: Visit) -> Registered:
    name = str(visit.request.path_params["name"])
    if not _NAME.match(name):
        raise Refused(404, "no such report")
    with ctx.state() as state:
        found = registered(state.connection, name)
    if not found:
        raise Refused(404, "no such report")
    return found[0]


@guarded()
def reports_page(ctx: WebContext, visit: Visit) -> Response:
    reports = ctx.config.reports
    tz = ZoneInfo(reports.timezone)
    with ctx.state() as state:
        states = review_states(state.connection, ctx.now_us(), reports.review_due)
    rows = [{"name": s.report.name, "kind": s.report.kind, "status": s.status, "overdue": s.overdue,
             "period": f"{from_us(s.report.start_us, tz):%Y-%m-%d} to {from_us(s.report.end_us - 1, tz):%Y-%m-%d}",
             "made": _when(s.report.created_us, tz), "headline": s.report.headline,
             "reviewer": s.signed[-1].reviewer if s.signed else ""} for s in states]
    return ctx.pages.html("reports.html.j2", visit=visit, nav="reports", title="Reports", rows=rows)


@guarded()
def report_page(ctx: WebContext, visit: Visit) -> Response:
    report = _report(ctx, visit)
    tz = ZoneInfo(ctx.config.reports.timezone)
    with ctx.state() as state:
        signed = list(signoffs(state.connection, report.name))
    path = Path(report.path)
    intact = path.is_file() and file_sha256(path) == report.sha256
    rows = [{"reviewer": s.reviewer, "when": _when(s.signed_us, tz), "note": s.note,
             "current": s.sha256 == report.sha256} for s in signed]
    return ctx.pages.html("report.html.j2", visit=visit, nav="reports", title=report.name, report=report,
                          period=f"{from_us(report.start_us, tz):%Y-%m-%d %H:%M} to "
                                 f"{from_us(report.end_us, tz):%Y-%m-%d %H:%M %Z}",
                          made=_when(report.created_us, tz), intact=intact, exists=path.is_file(), signoffs=rows)


@guarded()
def report_file(ctx: WebContext, visit: Visit) -> Response:
    report = _report(ctx, visit)
    path = Path(report.path)
    if not path.is_file():
        raise Refused(404, "the report file is gone from the reports directory")
    ctx.record(visit.who, "web-report", {"report": report.name}, None)
    return FileResponse(path, media_type="text/html; charset=utf-8",
                        headers={"content-security-policy": REPORT_CSP, "cache-control": "no-store"})


@guarded(Permission.ACT)
def report_sign(ctx: WebContext, visit: Visit) -> Response:
    report = _report(ctx, visit)
    note = visit.field("note", 4000)
    reports = ctx.config.reports
    now = ctx.now_us()
    path = Path(report.path)
    with ctx.state() as state:
        sign(state.connection, path, visit.who.actor, note, now)
        write_index(path.parent, state.connection, now, reports.review_due, reports.timezone)
    return RedirectResponse(f"/reports/{report.name}", status_code=303)
