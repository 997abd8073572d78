"""Who accessed one person's data (a record id, an object or a file path): when, who, with what action, role
and from where. Staff are pseudonyms; a role that may reveal names does so with a reason, and the reveal is
recorded in the monitor's audit (as `pii-guard who-accessed --reveal --reason`) before the names are shown."""

from __future__ import annotations

from dataclasses import replace

from starlette.responses import RedirectResponse, Response

from pii_guard.search.request import SearchRequest, Sort
from pii_guard.web.context import Names, WebContext
from pii_guard.web.guard import Refused, Visit, guarded
from pii_guard.web.roles import Permission
from pii_guard.web.search_form import RANGES, WHO_KINDS, WhoSpec, ts_of, who_spec

LIMIT = 1000  # as the CLI's default


def _form(ctx: WebContext, visit: Visit, status: int = 200, message: str = "") -> Response:
    return ctx.pages.html("who.html.j2", status=status, visit=visit, nav="who", title="Who accessed", message=message,
                          kinds=WHO_KINDS, ranges=RANGES, spec=None, subject=visit.form.get("subject", ""),
                          kind=visit.form.get("kind", "record"))


@guarded()
def who_page(ctx: WebContext, visit: Visit) -> Response:
    return _form(ctx, visit)


@guarded()
def who_post(ctx: WebContext, visit: Visit) -> Response:
    try:
        spec = who_spec(visit.form, ctx.now_us())
    except Refused as refused:
        return _form(ctx, visit, refused.status, refused.message)
    token = ctx.handles.put(visit.who.name, "who", spec)
    return RedirectResponse(f"/who-accessed/{token}", status_code=303)


def _spec(ctx: WebContext, visit: Visit) -> tuple[str, WhoSpec]:
    token = str(visit.request.path_params["handle"])
    spec = ctx.handles.get(visit.who.name, "who", token)
    if not isinstance(spec, WhoSpec):
        raise Refused(404, "this question has expired or is not yours: ask it again")
    return token, spec


@guarded()
def who_results(ctx: WebContext, visit: Visit) -> Response:
    token, spec = _spec(ctx, visit)
    reveal = spec.reveal and visit.who.may_reveal
    size = ctx.config.web.page_size
    raw = visit.request.query_params.get("page", "1")
    page = min(int(raw), LIMIT // size + 1) if raw.isdigit() and int(raw) > 0 else 1
    request = SearchRequest(spec.node(), spec.window.since_us, spec.window.until_us, (Sort("@timestamp", False),),
                            LIMIT)
    docs = ctx.backends.get().search(request)
    detail = {"record": spec.subject if spec.kind == "record" else None,
              "object": spec.subject if spec.kind == "object" else None,
              "path": spec.subject if spec.kind == "path" else None,
              "from": spec.window.since_us, "to": spec.window.until_us, "reveal": reveal,
              "reason": spec.reason if reveal else None, "page": page}
    ctx.record(visit.who, "web-who-accessed", detail, len(docs))  # recorded before anything is shown
    names = Names(None if reveal else ctx.pseudonyms())
    shown = docs[(page - 1) * size: page * size]
    rows = [{"doc": names.doc(d), "ts": ts_of(d)} for d in shown]
    people = len({d.get("user.name") for d in docs})
    return ctx.pages.html("who.html.j2", visit=visit, nav="who", title="Who accessed", message="", kinds=WHO_KINDS,
                          ranges=RANGES, spec=spec, subject=spec.subject, kind=spec.kind, token=token, rows=rows,
                          total=len(docs), people=people, page=page, more=len(docs) > page * size, reveal=reveal,
                          limit=LIMIT, first=(page - 1) * size + 1)


@guarded(Permission.REVEAL)
def who_reveal(ctx: WebContext, visit: Visit) -> Response:
    _, spec = _spec(ctx, visit)
    reason = visit.field("reason", 500).strip()
    if not reason:
        raise Refused(400, "say why the names are needed (e.g. the data-subject request's reference)")
    token = ctx.handles.put(visit.who.name, "who", replace(spec, reveal=True, reason=reason))
    return RedirectResponse(f"/who-accessed/{token}", status_code=303)
