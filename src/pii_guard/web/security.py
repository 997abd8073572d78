"""Response headers every page gets (a strict Content-Security-Policy: scripts and styles from our own static
files only, no inline code; no framing; no sniffing; no referrer; no caching of pages with personal data), and
what is believed about the client: its address and SSO identity come from proxy headers only when the peer is
one of the configured trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
# A review report is one self-contained HTML file with inline CSS and SVG and no script: shown sandboxed
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'none'; sandbox")
_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)


class SecurityHeaders:
    """ASGI middleware: the headers above on every response; `Cache-Control: no-store` unless the route set
    its own (static files may be cached)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["content-security-policy"] = CSP
                for name, value in _HEADERS:
                    headers[name] = value
                if "cache-control" not in headers:
                    static = str(scope.get("path", "")).startswith("/static/")
                    headers["cache-control"] = "public, max-age=86400" if static else "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(values: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@dataclass(frozen=True)
class ProxyTrust:
    trusted: tuple[Network, ...]
    forwarded_for: str
    user_header: str | None
    role_header: str | None

    def is_trusted(self, peer: str | None) -> bool:
        ip = _address(peer) if peer else None
        return ip is not None and any(ip in net for net in self.trusted)

    def client_address(self, peer: str | None, headers: Headers) -> str:
        """The peer, or (behind a trusted proxy) the right-most forwarded address that is not a trusted proxy."""
        if not peer:
            return "unknown"
        if not self.is_trusted(peer):
            return peer
        hops = [h.strip() for h in ",".join(headers.getlist(self.forwarded_for)).split(",") if h.strip()]
        for hop in reversed(hops):
            ip = _address(hop)
            if ip is None:
                break
            if not any(ip in net for net in self.trusted):
                return str(ip)
        return peer

    def identity(self, peer: str | None, headers: Headers) -> tuple[str, str | None] | None:
        """(user, role or None) from the SSO headers, only when the request comes from a trusted proxy."""
        if self.user_header is None or not self.is_trusted(peer):
            return None
        user = headers.get(self.user_header, "").strip()
        if not user:
            return None
        role = headers.get(self.role_header, "").strip().lower() if self.role_header else ""
        return user, role or None
