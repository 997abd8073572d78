from __future__ import annotations

import pytest

from pii_guard.sources.compressed import compression_of, rotated_from


@pytest.mark.parametrize(("name", "before"), [
    ("pg.log.2.gz", ["pg.log.2", "pg.log"]),
    ("pg.log-20261127.gz", ["pg.log-20261127", "pg.log"]),
    ("access.log-2026-11-27.xz", ["access.log-2026-11-27", "access.log"]),
    ("pg.log.1", ["pg.log"]),
    ("trail.json.gz", ["trail.json"]),
    ("pg.log", []),
])
def test_the_name_a_rotated_file_had(name: str, before: list[str]) -> None:
    assert rotated_from(name) == before


def test_compression_is_told_by_content() -> None:
    assert compression_of(b"\x1f\x8b\x08\x00") == "gzip"
    assert compression_of(b"\xfd7zXZ\x00\x00") == "xz"
    assert compression_of(b"BZh91AY") == "bzip2"
    assert compression_of(b"2026-11-27 09:00:00 UTC") is None
