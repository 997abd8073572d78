"""Session cookies: a small JSON payload (who, role at login, CSRF token, when) signed with HMAC-SHA256 under
the configured session secret. Nothing else is kept on the server, so the console served by the daemon and
`pii-guard web` accept each other's sessions. A password change ends the account's sessions (the payload
carries a tag of the password hash); the current role is read from the accounts file on every request.
Expiry is checked against the injected clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from pii_guard.clock import Clock
from pii_guard.config.secrets import Secret

ANONYMOUS_MAX_AGE_S = 3600  # a login form's CSRF token lasts this long
_MAX_COOKIE = 4000


@dataclass(frozen=True)
class Session:
    user: str | None  # None: not signed in (the session only carries the login form's CSRF token)
    via: str  # "password", "proxy" or "" (anonymous)
    csrf: str
    issued_us: int
    tag: str = ""  # of the password hash at login

    @property
    def signed_in(self) -> bool:
        return self.user is not None


def password_tag(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class SessionCodec:
    def __init__(self, secret: Secret, clock: Clock, max_age_us: int) -> None:
        self._key = hashlib.sha256(b"pii-guard web session\x00" + secret.reveal().encode()).digest()
        self._clock = clock
        self._max_age_us = max_age_us

    def _now_us(self) -> int:
        return int(self._clock.now() * 1_000_000)

    def anonymous(self) -> Session:
        return Session(None, "", secrets.token_urlsafe(32), self._now_us())

    def signed_in(self, user: str, via: str, tag: str = "") -> Session:
        """A fresh session (and CSRF token) at login: nothing of the anonymous session carries over."""
        return Session(user, via, secrets.token_urlsafe(32), self._now_us(), tag)

    def max_age_s(self, session: Session) -> int:
        return self._max_age_us // 1_000_000 if session.signed_in else ANONYMOUS_MAX_AGE_S

    def encode(self, session: Session) -> str:
        body = base64.urlsafe_b64encode(orjson.dumps({"u": session.user, "v": session.via, "c": session.csrf,
                                                      "i": session.issued_us, "t": session.tag})).rstrip(b"=")
        mac = base64.urlsafe_b64encode(hmac.new(self._key, body, hashlib.sha256).digest()).rstrip(b"=")
        return (body + b"." + mac).decode()

    def decode(self, cookie: str | None) -> Session | None:
        """The session if the cookie is ours, untouched and not expired; None otherwise."""
        if not cookie or len(cookie) > _MAX_COOKIE or "." not in cookie:
            return None
        body, _, mac = cookie.encode().partition(b".")
        expected = base64.urlsafe_b64encode(hmac.new(self._key, body, hashlib.sha256).digest()).rstrip(b"=")
        if not hmac.compare_digest(mac, expected):
            return None
        try:
            data: Any = orjson.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
            session = Session(data["u"], str(data["v"]), str(data["c"]), int(data["i"]), str(data.get("t", "")))
        except (ValueError, KeyError, TypeError):
            return None
        age = self._now_us() - session.issued_us
        limit = self._max_age_us if session.signed_in else ANONYMOUS_MAX_AGE_S * 1_000_000
        if age < -60_000_000 or age > limit:
            return None
        return session


def csrf_matches(session: Session, submitted: object) -> bool:
    return isinstance(submitted, str) and bool(submitted) and hmac.compare_digest(session.csrf.encode(),
                                                                                  submitted.encode())
