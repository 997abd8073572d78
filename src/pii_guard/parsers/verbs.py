"""An application's own verb for what a user did (`customer.viewed`, `exportReport`, `file-downloaded`,
`user_role_granted`) → pii-guard's action, for audit logs whose verbs no `action_map` names.

The verb is split into words (at punctuation, spaces and camelCase) and each word looked up in a small
vocabulary of the verbs applications use; where several words are known, the one that says most about a
possible leak wins (`read-and-export` is an export, `role-update` a permission change). A verb with no known
word stays `other`, its text kept as `pii.command`."""

from __future__ import annotations

import re
from typing import Final

from pii_guard.model import ACTIONS, CREATE, DELETE, EXPORT, LOGIN, LOGOUT, OTHER, PERMISSION, READ, RENAME, WRITE

_WORDS: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_VOCABULARY: Final[dict[str, tuple[str, ...]]] = {
    EXPORT: ("export", "exported", "exporting", "download", "downloaded", "dump", "dumped", "extract",
             "extracted", "print", "printed"),
    DELETE: ("delete", "deleted", "remove", "removed", "purge", "purged", "erase", "erased", "destroy",
             "destroyed", "wipe", "wiped", "anonymize", "anonymized", "anonymise", "anonymised"),
    PERMISSION: ("grant", "granted", "revoke", "revoked", "role", "roles", "permission", "permissions",
                 "privilege", "privileges", "acl", "share", "shared", "impersonate", "impersonated"),
    LOGIN: ("login", "logon", "signin", "authenticate", "authenticated", "authentication", "auth"),
    LOGOUT: ("logout", "logoff", "signout"),
    RENAME: ("rename", "renamed", "move", "moved"),
    CREATE: ("create", "created", "add", "added", "register", "registered", "insert", "inserted"),
    WRITE: ("update", "updated", "edit", "edited", "modify", "modified", "change", "changed", "write", "wrote",
            "save", "saved", "upload", "uploaded", "import", "imported", "patch", "patched", "set", "merge",
            "merged", "correct", "corrected"),
    READ: ("read", "view", "viewed", "get", "search", "searched", "list", "listed", "query", "queried", "lookup",
           "open", "opened", "access", "accessed", "show", "showed", "shown", "fetch", "fetched", "retrieve",
           "retrieved", "select", "selected", "browse", "browsed", "display", "displayed", "find", "found"),
}
_ACTION_OF: Final = {word: action for action, words in _VOCABULARY.items() for word in words}
_RANK: Final = {action: rank for rank, action in enumerate(_VOCABULARY)}  # the order above: most telling first
_JOINED: Final = {"sign in": LOGIN, "log in": LOGIN, "log on": LOGIN, "sign on": LOGIN, "sign out": LOGOUT,
                  "log out": LOGOUT, "log off": LOGOUT, "look up": READ}


def verb_action(verb: str) -> str:
    """The action an application's verb names, `other` when none of its words is known."""
    if verb.lower() in ACTIONS:  # already one of pii-guard's (`read`, `DDL`, `execute`)
        return verb.lower()
    words = [w.lower() for w in _WORDS.findall(verb)]
    found = [_ACTION_OF[w] for w in words if w in _ACTION_OF]
    found += [action for pair, action in _JOINED.items() if pair in " ".join(words)]
    return min(found, key=_RANK.__getitem__) if found else OTHER
