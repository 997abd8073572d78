"""Signing in and out. Failed logins are limited per address and per account; the password is checked only
when neither limit is reached. A login starts a fresh session (new CSRF token): nothing of the anonymous
session before it carries over."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pii_guard.web.accounts import MAX_PASSWORD
from pii_guard.web.context import WebContext
from pii_guard.web.guard import Refused, Visit, error_page, identify, read_form, set_session
from pii_guard.web.sessions import csrf_matches, password_tag

log = logging.getLogger("pii_guard.web")


def _login_form(ctx: WebContext, visit: Visit, status: int = 200, message: str = "", account: str = "") -> Response:
    response = ctx.pages.html("login.html.j2", status=status, visit=visit, nav="", title="Sign in", message=message,
                              account=account)
    if visit.new_session:
        set_session(ctx, response, visit.session)
    return response


async def login(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    visit = identify(ctx, request)
    if visit.principal is not None:
        response: Response = RedirectResponse("/incidents", status_code=303)
        if visit.new_session:
            set_session(ctx, response, visit.session)
        return response
    if request.method == "GET":
        return _login_form(ctx, visit)
    try:
        visit.form = await read_form(request)
        if not csrf_matches(visit.session, visit.form.get("csrf")):
            raise Refused(403, "the sign-in form's security token is missing or stale: reload the page")
        return await run_in_threadpool(_check, ctx, visit)
    except Refused as refused:
        response = error_page(ctx, visit, refused)
        if visit.new_session:
            set_session(ctx, response, visit.session)
        return response


def _check(ctx: WebContext, visit: Visit) -> Response:
    account_name = visit.form.get("account", "").strip()[:64]
    password = visit.form.get("password", "")[: MAX_PASSWORD + 1]
    wait = ctx.limiter.retry_after(visit.address, account_name)
    if wait is not None:
        log.warning("login refused: too many failures", extra={"client": visit.address, "retry_after_s": wait})
        response = _login_form(ctx, visit, 429, f"Too many failed sign-ins. Try again in {wait} seconds.",
                               account_name)
        response.headers["retry-after"] = str(wait)
        return response
    account = ctx.accounts.verify(account_name, password) if account_name and password else None
    if account is None:
        ctx.limiter.failed(visit.address, account_name)
        log.warning("login failed", extra={"client": visit.address})
        return _login_form(ctx, visit, 401, "Wrong account name or password.", account_name)
    ctx.limiter.succeeded(visit.address, account_name)
    log.info("login", extra={"client": visit.address, "role": account.role})
    response = RedirectResponse("/incidents", status_code=303)
    set_session(ctx, response, ctx.codec.signed_in(account.name, "password", password_tag(account.password_hash)))
    return response


async def logout(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    visit = identify(ctx, request)
    try:
        visit.form = await read_form(request)
        if not csrf_matches(visit.session, visit.form.get("csrf")):
            raise Refused(403, "the form's security token is missing or stale: reload the page")
    except Refused as refused:
        return error_page(ctx, visit, refused)
    response = RedirectResponse("/login", status_code=303)
    set_session(ctx, response, ctx.codec.anonymous())
    return response
