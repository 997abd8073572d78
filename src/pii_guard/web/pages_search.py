"""Event search: the CLI's Lucene-style query language, a time range, a time histogram, paging and CSV export.
The query is posted and kept under a handle; every page of results, the histogram and each export is recorded
in the monitor's audit before it is shown. Staff names are pseudonyms for roles that may not see them."""

from __future__ import annotations

import csv
import io
from typing import Any

from starlette.responses import RedirectResponse, Response

from pii_guard.errors import PiiGuardError
from pii_guard.search.request import MAX_LIMIT, SearchRequest
from pii_guard.web import histogram
from pii_guard.web.context import WebContext
from pii_guard.web.guard import Refused, Visit, guarded
from pii_guard.web.search_form import RANGES, SORTS, SearchSpec, search_spec, ts_of

COLUMNS = ["@timestamp", "user.name", "user.roles", "event.action", "event.outcome", "pii.object", "pii.rows",
           "pii.bytes", "pii.categories", "source.ip", "source.zone", "host.name", "event.dataset", "event.id"]


def _spec(ctx: WebContext, visit: Visit) -> tuple[str, SearchSpec]:
    token = str(visit.request.path_params["handle"])
    spec = ctx.handles.get(visit.who.name, "search", token)
    if not isinstance(spec, SearchSpec):
        raise Refused(404, "this search has expired or is not yours: run it again")
    return token, spec


def _form(ctx: WebContext, visit: Visit, status: int = 200, message: str = "", query: str = "") -> Response:
    return ctx.pages.html("search.html.j2", status=status, visit=visit, nav="search", title="Search", message=message,
                          query=query, ranges=RANGES, sorts=SORTS, spec=None)


@guarded()
def search_page(ctx: WebContext, visit: Visit) -> Response:
    return _form(ctx, visit)


@guarded()
def search_post(ctx: WebContext, visit: Visit) -> Response:
    try:
        spec = search_spec(visit.form, ctx.now_us())
    except Refused as refused:
        return _form(ctx, visit, refused.status, refused.message, visit.field("query"))
    except PiiGuardError as exc:  # a QueryError: shown beside the query, which stays in the box
        return _form(ctx, visit, 400, str(exc), visit.field("query"))
    token = ctx.handles.put(visit.who.name, "search", spec)
    return RedirectResponse(f"/search/{token}", status_code=303)


def _page(visit: Visit, size: int) -> int:
    raw = visit.request.query_params.get("page", "1")
    page = int(raw) if raw.isdigit() and int(raw) > 0 else 1
    return min(page, MAX_LIMIT // size)


@guarded()
def search_results(ctx: WebContext, visit: Visit) -> Response:
    token, spec = _spec(ctx, visit)
    size = ctx.config.web.page_size
    page = _page(visit, size)
    node = spec.node()
    backend = ctx.backends.get()
    request = SearchRequest(node, spec.window.since_us, spec.window.until_us, spec.sorts(), min(page * size + 1,
                                                                                                  MAX_LIMIT))
    docs = backend.search(request)
    shown = docs[(page - 1) * size: page * size]
    hist = histogram.count(backend, node, spec.window.since_us, spec.window.until_us, ctx.clock, ctx.inline_budget_s)
    ctx.record(visit.who, "web-search", _detail(spec, page=page), len(shown))
    names = ctx.names_for(visit.who)
    rows = [{"doc": names.doc(d), "ts": ts_of(d)} for d in shown]
    return ctx.pages.html("search.html.j2", visit=visit, nav="search", title="Search", message="", query=spec.query,
                          ranges=RANGES, sorts=SORTS, spec=spec, token=token, rows=rows, page=page,
                          more=len(docs) > page * size and page * size < MAX_LIMIT, hist=hist, final=False, oob=False,
                          first=(page - 1) * size + 1, names_revealed=names.revealed)


@guarded()
def search_histogram(ctx: WebContext, visit: Visit) -> Response:
    token, spec = _spec(ctx, visit)
    hist = histogram.count(ctx.backends.get(), spec.node(), spec.window.since_us, spec.window.until_us, ctx.clock,
                           ctx.full_budget_s)
    ctx.record(visit.who, "web-search-histogram", _detail(spec), hist.total)
    fragment = visit.request.headers.get("hx-request") == "true"
    return ctx.pages.html("histogram.html.j2" if fragment else "histogram_page.html.j2", visit=visit, nav="search",
                          title="Histogram", hist=hist, token=token, spec=spec, final=True,
                          oob=fragment and hist.complete)


@guarded()
def search_csv(ctx: WebContext, visit: Visit) -> Response:
    _, spec = _spec(ctx, visit)
    request = SearchRequest(spec.node(), spec.window.since_us, spec.window.until_us, spec.sorts(), MAX_LIMIT)
    docs = ctx.backends.get().search(request)
    ctx.record(visit.who, "web-search-csv", _detail(spec), len(docs))
    names = ctx.names_for(visit.who)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for doc in docs:
        shown = names.doc(doc)
        writer.writerow([csv_safe(shown.get(c)) for c in COLUMNS])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": 'attachment; filename="pii-guard-search.csv"'})


def _detail(spec: SearchSpec, **more: object) -> dict[str, object]:
    return {"query": spec.query, "from": spec.window.since_us, "to": spec.window.until_us, "sort": spec.sort, **more}


def csv_safe(value: Any) -> str:
    """Spreadsheets run cells that start with = + - @ (or a tab or CR): log text is untrusted, so such cells
    get a leading quote (as `pii-guard search --csv`)."""
    if value is None:
        return ""
    text = " ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
