"""Every request passes here: who is asking (session cookie, or SSO headers from a trusted proxy), the CSRF
token of every POST, the permission the page needs. Pages are plain functions of (context, visit) run in a
worker thread; they raise `Refused` for a clean error page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pii_guard.errors import PiiGuardError
from pii_guard.web.accounts import ROLES
from pii_guard.web.context import WebContext
from pii_guard.web.roles import Permission, Principal
from pii_guard.web.sessions import Session, csrf_matches, password_tag

MAX_FORM_BYTES = 256 * 1024


class Refused(Exception):
    """A request that cannot be served as asked: shown as an error page with this status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Visit:
    request: Request
    session: Session
    principal: Principal | None
    address: str
    form: dict[str, str] = field(default_factory=dict)
    new_session: bool = False

    @property
    def who(self) -> Principal:
        assert self.principal is not None, "guarded pages always have a principal"
        return self.principal

    def field(self, name: str, limit: int = 20_000) -> str:
        value = self.form.get(name, "")
        if len(value) > limit:
            raise Refused(413, f"the field {name!r} is too long (at most {limit:,} characters)")
        return value


def _peer(request: Request) -> str | None:
    return request.client.host if request.client else None


def identify(ctx: WebContext, request: Request) -> Visit:
    """Resolve the session and the person. SSO headers count only from a trusted proxy address."""
    peer = _peer(request)
    address = ctx.proxy.client_address(peer, request.headers)
    session = ctx.codec.decode(request.cookies.get(cookie_name(ctx)))
    sso = ctx.proxy.identity(peer, request.headers)
    if sso is not None:
        user, header_role = sso[0][:200], sso[1]
        account = ctx.accounts.get(user)
        role = header_role if header_role in ROLES else (account.role if account else ctx.config.web.proxy_default_role)
        principal = Principal(user, role, "proxy")
        if session is not None and session.user == user and session.via == "proxy":
            return Visit(request, session, principal, address)
        return Visit(request, ctx.codec.signed_in(user, "proxy"), principal, address, new_session=True)
    if session is not None and session.user is not None and session.via == "password":
        account = ctx.accounts.get(session.user)
        if account is not None and password_tag(account.password_hash) == session.tag:
            return Visit(request, session, Principal(account.name, account.role, "password"), address)
    if session is not None and session.user is None:
        return Visit(request, session, None, address)
    return Visit(request, ctx.codec.anonymous(), None, address, new_session=True)


def cookie_name(ctx: WebContext) -> str:
    return "__Host-pii-guard" if ctx.config.web.cookie_secure else "pii-guard-session"


def set_session(ctx: WebContext, response: Response, session: Session) -> None:
    response.set_cookie(cookie_name(ctx), ctx.codec.encode(session), max_age=ctx.codec.max_age_s(session), path="/",
                        secure=ctx.config.web.cookie_secure, httponly=True, samesite="strict")


async def read_form(request: Request) -> dict[str, str]:
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > MAX_FORM_BYTES:
        raise Refused(413, "the form is too large or has no length")
    form = await request.form(max_files=0, max_fields=100)
    try:
        return {k: v for k, v in form.multi_items() if isinstance(v, str)}
    finally:
        await form.close()


Page = Callable[[WebContext, Visit], Response]


def guarded(need: Permission = Permission.READ) -> Callable[[Page], Callable[[Request], Awaitable[Response]]]:
    """A page or action for signed-in people with `need`; POSTs must carry the session's CSRF token."""

    def wrap(page: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            ctx: WebContext = request.app.state.ctx
            visit = identify(ctx, request)
            try:
                if request.method == "POST":
                    visit.form = await read_form(request)
                    if not csrf_matches(visit.session, visit.form.get("csrf")):
                        raise Refused(403, "the form's security token is missing or stale: reload the page and "
                                           "try again")
                if visit.principal is None:
                    if request.method != "GET":
                        raise Refused(401, "sign in first")
                    response: Response = RedirectResponse("/login", status_code=303)
                elif not visit.principal.may(need):
                    raise Refused(403, f"your role ({visit.principal.role}) may not {need.describe}")
                else:
                    response = await run_in_threadpool(_run, page, ctx, visit)
            except Refused as refused:
                response = error_page(ctx, visit, refused)
            if visit.new_session:
                set_session(ctx, response, visit.session)
            return response

        endpoint.__name__ = page.__name__
        return endpoint

    return wrap


def _run(page: Page, ctx: WebContext, visit: Visit) -> Response:
    try:
        return page(ctx, visit)
    except PiiGuardError as exc:  # a bad query, an incident action its status forbids, no store yet ...
        raise Refused(400, str(exc)) from None


def error_page(ctx: WebContext, visit: Visit, refused: Refused) -> Response:
    response = ctx.pages.html("error.html.j2", status=refused.status, visit=visit, nav="", title="Error",
                              status_code=refused.status, message=refused.message)
    response.headers.update(refused.headers)
    return response
