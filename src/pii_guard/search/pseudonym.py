"""Stable pseudonyms for staff in who-accessed answers: an HMAC of the user name under a key kept in the
state directory, so the same person has the same id in every answer and nobody can reverse it without the key."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path


class Pseudonyms:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def for_state(cls, state_dir: Path) -> Pseudonyms:
        path = state_dir / "pseudonym.key"
        if not path.exists():
            state_dir.mkdir(parents=True, exist_ok=True)
            fresh = path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
            try:
                os.link(fresh, path)  # atomic and never replaces a key another process made first
            except FileExistsError:
                pass
            finally:
                fresh.unlink()
        return cls(path.read_bytes())

    def __call__(self, user: str | None) -> str | None:
        if user is None:
            return None
        return "staff-" + hmac.new(self._key, user.encode(), hashlib.sha256).hexdigest()[:10]
