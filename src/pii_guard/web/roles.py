"""Who is looking, and what their role lets them do. Declared once, used by every page and action.

| role      | read pages | act on incidents, sign reports | staff names, reveal in who-accessed | dead letters |
|-----------|------------|--------------------------------|-------------------------------------|--------------|
| viewer    | yes        | no                             | no (pseudonyms)                     | counts       |
| responder | yes        | yes                            | yes (recorded)                      | counts       |
| admin     | yes        | yes                            | yes (recorded)                      | their text   |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Permission(Enum):
    READ = "read"
    ACT = "act"  # acknowledge, assign, comment, resolve, false positive, silence; sign off reports
    REVEAL = "reveal"  # staff names instead of pseudonyms
    ADMIN = "admin"  # dead letters' text (raw log lines)

    @property
    def describe(self) -> str:
        return {"read": "read", "act": "act on incidents and reports", "reveal": "see staff names",
                "admin": "administer the monitor"}[self.value]


_GRANTS: dict[str, frozenset[Permission]] = {
    "viewer": frozenset({Permission.READ}),
    "responder": frozenset({Permission.READ, Permission.ACT, Permission.REVEAL}),
    "admin": frozenset(Permission),
}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    via: str  # "password" or "proxy"

    def may(self, permission: Permission) -> bool:
        return permission in _GRANTS.get(self.role, frozenset())

    @property
    def may_act(self) -> bool:
        return self.may(Permission.ACT)

    @property
    def may_reveal(self) -> bool:
        return self.may(Permission.REVEAL)

    @property
    def may_admin(self) -> bool:
        return self.may(Permission.ADMIN)

    @property
    def actor(self) -> str:
        """How the person appears in timelines, sign-offs and the monitor's audit."""
        return self.name
