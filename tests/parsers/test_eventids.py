"""Event ids are what de-duplicates a replay, so they must not change between builds or releases: a keyed
BLAKE2b (key: the file's fingerprint) of the offset (8 bytes, little-endian) and the record's UTF-8 text."""

from __future__ import annotations

import hashlib

import pytest

from pii_guard.parsers.eventids import EventIds
from pii_guard.sources.files import fingerprint_of

FINGERPRINT = fingerprint_of(b"2026-11-27 00:00:00.000 UTC [20039] LOG:  database system is ready\n")


@pytest.mark.parametrize(("offset", "record"), [
    (0, ""),
    (123_456, '10.0.0.1 - - [27/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl"'),
    (1 << 40, "caf\u00e9 \u20ac \\xff"),
    (7, "lone surrogate \udcff from invalid bytes"),
    (99, "x" * 1000),
])  # fmt: skip
def test_an_id_is_the_keyed_digest_of_offset_and_text(offset: int, record: str) -> None:
    expected = hashlib.blake2b(offset.to_bytes(8, "little") + record.encode("utf-8", "surrogatepass"),
                               key=FINGERPRINT, digest_size=16).hexdigest()  # fmt: skip
    ids = EventIds(FINGERPRINT)
    assert ids.make(offset, record) == expected
    assert ids.make(offset, record) == expected  # the keyed state is copied, never used up


def test_another_file_or_offset_gives_another_id() -> None:
    ids, other = EventIds(FINGERPRINT), EventIds(fingerprint_of(b"another first line\n"))
    assert len({ids.make(0, "same"), ids.make(1, "same"), other.make(0, "same")}) == 3
    assert ids.make(5, "a") == "cd77b420c8c14de300eb5d209c7e0ffb"  # as every release so far has made it
