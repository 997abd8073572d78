"""What every page needs, built once per console: the config, the clock, accounts, sessions, the login limit,
handles, the search backends, and the two writes every page view of events or people makes: the monitor's
hash-chained audit row (written before the answer is shown) and nothing else."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pii_guard.clock import Clock
from pii_guard.config.models import Config
from pii_guard.config.secrets import Secret, resolve_secret
from pii_guard.search import audit
from pii_guard.search.pseudonym import Pseudonyms
from pii_guard.store.state import StateStore
from pii_guard.web.accounts import Accounts
from pii_guard.web.backend import Backends
from pii_guard.web.handles import Handles
from pii_guard.web.policy_rules import PolicyRules
from pii_guard.web.ratelimit import LoginLimiter
from pii_guard.web.render import Renderer
from pii_guard.web.roles import Principal
from pii_guard.web.security import ProxyTrust, networks
from pii_guard.web.sessions import SessionCodec

log = logging.getLogger("pii_guard.web")


def configured_session_secret(config: Config) -> Secret | None:
    """web.session_secret, _file or _env; None when none is set. A file or variable that is named but cannot
    be read is an error."""
    web = config.web
    path = config.resolve_file(web.session_secret_file, "web.session_secret_file")
    return resolve_secret("web session_secret", web.session_secret, path, web.session_secret_env)


def session_secret(config: Config) -> Secret:
    """The configured secret, or a random one for this process (sessions then end when it stops)."""
    found = configured_session_secret(config)
    if found is None:
        log.info("web.session_secret not set: a random key for this process, logins end when it stops")
        return Secret(secrets.token_urlsafe(48))
    return found


def accounts_path(config: Config) -> Path:
    """The local accounts file: web.accounts, relative to the state directory."""
    path = Path(config.web.accounts).expanduser()
    return path if path.is_absolute() else config.state_path / path


@dataclass
class WebContext:
    config: Config
    clock: Clock
    accounts: Accounts
    codec: SessionCodec
    limiter: LoginLimiter
    proxy: ProxyTrust
    backends: Backends
    handles: Handles[object]
    pages: Renderer
    policy_rules: PolicyRules = field(default_factory=PolicyRules)
    inline_budget_s: float = 0.12  # histogram counting inside a search page; the rest on its own request
    full_budget_s: float = 20.0
    _pseudonyms: Pseudonyms | None = field(default=None, repr=False)

    @classmethod
    def build(cls, config: Config, clock: Clock, secret: Secret | None = None) -> WebContext:
        web = config.web
        return cls(
            config=config, clock=clock, accounts=Accounts(accounts_path(config)),
            codec=SessionCodec(secret or session_secret(config), clock, web.session_max_age),
            limiter=LoginLimiter(web.login_attempts, web.login_window, clock),
            proxy=ProxyTrust(networks(web.trusted_proxies), web.forwarded_for_header, web.proxy_user_header,
                             web.proxy_role_header),
            backends=Backends(config), handles=Handles(clock), pages=Renderer(),
        )

    @property
    def state_db(self) -> Path:
        return self.config.state_path / "state.db"

    def now_us(self) -> int:
        return int(self.clock.now() * 1_000_000)

    @contextmanager
    def state(self) -> Iterator[StateStore]:
        state = StateStore(self.state_db)
        try:
            yield state
        finally:
            state.close()

    def pseudonyms(self) -> Pseudonyms:
        if self._pseudonyms is None:
            self._pseudonyms = Pseudonyms.for_state(self.config.state_path)
        return self._pseudonyms

    def names_for(self, principal: Principal) -> Names:
        return Names(None if principal.may_reveal else self.pseudonyms())

    def record(self, principal: Principal, command: str, detail: dict[str, Any], results: int | None) -> None:
        """One row of the monitor's hash-chained audit (what `pii-guard audit` lists), before the page shows."""
        audit.record(self.state_db, f"web:{principal.actor}", command, detail, results, self.now_us())

    def close(self) -> None:
        self.backends.close()


class Names:
    """Staff names as the viewer may see them: as they are, or as stable pseudonyms (staff-3f9a1c02de)."""

    def __init__(self, pseudonyms: Pseudonyms | None) -> None:
        self._pseudonyms = pseudonyms

    @property
    def revealed(self) -> bool:
        return self._pseudonyms is None

    def name(self, user: str | None) -> str | None:
        return user if self._pseudonyms is None or user is None else self._pseudonyms(user)

    def scrub(self, text: str, *users: str | None) -> str:
        """`text` with each of `users` replaced by their pseudonym (an incident's title names its user)."""
        if self._pseudonyms is None:
            return text
        for user in sorted({u for u in users if u and len(u) > 1}, key=len, reverse=True):
            text = text.replace(user, self._pseudonyms(user) or "")
        return text

    def doc(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A search result with its user pseudonymized (also where the log line or statement names them)."""
        if self._pseudonyms is None or "user.name" not in doc:
            return doc
        user = str(doc["user.name"])
        out = dict(doc)
        out["user.name"] = self._pseudonyms(user)
        for key in ("event.original", "pii.statement"):
            if isinstance(out.get(key), str):
                out[key] = self.scrub(out[key], user)
        return out
