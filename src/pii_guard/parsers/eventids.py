"""Deterministic event ids: what makes replaying a file store nothing twice (DESIGN.md section 4).

A module of its own so that the compiled build compiles it (setup.py): every event of every format makes one
id, and as interpreted Python the call cost about as much as the hashing."""

from __future__ import annotations

import hashlib
from typing import Any


class EventIds:
    """A keyed hash of source fingerprint, byte offset and the record's text, as 32 hex digits."""

    __slots__ = ("_base",)

    def __init__(self, fingerprint: bytes) -> None:
        self._base: Any = hashlib.blake2b(key=fingerprint[:64], digest_size=16)

    def make(self, offset: int, record: str) -> str:
        h = self._base.copy()
        h.update(offset.to_bytes(8, "little"))
        h.update(record.encode("utf-8", "surrogatepass"))
        digest: str = h.hexdigest()
        return digest
