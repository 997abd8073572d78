"""The console's Starlette application: routes, static files (htmx and the stylesheet, served from the package:
no CDN, no build step), the security headers and the error pages. URLs carry incident labels, report names,
event ids and opaque handles, never a search query, a name or a record id."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from pii_guard.clock import Clock
from pii_guard.config.models import Config
from pii_guard.config.secrets import Secret
from pii_guard.web import pages_auth, pages_incidents, pages_reports, pages_search, pages_status, pages_who
from pii_guard.web.context import WebContext
from pii_guard.web.guard import Refused, error_page, identify, set_session
from pii_guard.web.incident_actions import incident_action
from pii_guard.web.security import SecurityHeaders

STATIC = Path(__file__).parent / "static"


async def _home(request: Request) -> Response:
    return RedirectResponse("/incidents", status_code=303)


async def _http_error(request: Request, exc: Exception) -> Response:
    ctx: WebContext = request.app.state.ctx
    visit = identify(ctx, request)
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {404: "no such page", 405: "this page does not take that method"}.get(status, "something went wrong")
    response = error_page(ctx, visit, Refused(status, message))
    if visit.new_session:
        set_session(ctx, response, visit.session)
    return response


def routes() -> list[Route | Mount]:
    inc, srch, who, rep = pages_incidents, pages_search, pages_who, pages_reports
    return [
        Route("/", _home),
        Route("/login", pages_auth.login, methods=["GET", "POST"]),
        Route("/logout", pages_auth.logout, methods=["POST"]),
        Route("/incidents", inc.incidents_page, methods=["GET"]),
        Route("/incidents", inc.incidents_filter, methods=["POST"]),
        Route("/incidents/{label}", inc.incident_page, methods=["GET"]),
        Route("/incidents/{label}/{action}", incident_action, methods=["POST"]),
        Route("/events/{ts:int}/{event_id}", pages_status.event_page, methods=["GET"]),
        Route("/search", srch.search_page, methods=["GET"]),
        Route("/search", srch.search_post, methods=["POST"]),
        Route("/search/{handle}", srch.search_results, methods=["GET"]),
        Route("/search/{handle}/histogram", srch.search_histogram, methods=["GET"]),
        Route("/search/{handle}/csv", srch.search_csv, methods=["GET"]),
        Route("/who-accessed", who.who_page, methods=["GET"]),
        Route("/who-accessed", who.who_post, methods=["POST"]),
        Route("/who-accessed/{handle}", who.who_results, methods=["GET"]),
        Route("/who-accessed/{handle}/reveal", who.who_reveal, methods=["POST"]),
        Route("/reports", rep.reports_page, methods=["GET"]),
        Route("/reports/{name}", rep.report_page, methods=["GET"]),
        Route("/reports/{name}/file", rep.report_file, methods=["GET"]),
        Route("/reports/{name}/sign", rep.report_sign, methods=["POST"]),
        Route("/status", pages_status.status_page, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def create_app(config: Config, clock: Clock, *, secret: Secret | None = None) -> Starlette:
    """The console over `config`'s state directory and event store. `secret` overrides web.session_secret*."""
    ctx = WebContext.build(config, clock, secret)
    app = Starlette(routes=routes(), middleware=[Middleware(SecurityHeaders)],
                    exception_handlers={404: _http_error, 405: _http_error, 500: _http_error})
    app.state.ctx = ctx
    return app
