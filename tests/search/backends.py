"""The stores under test, filled with the same corpus: every search test runs against each of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pii_guard.search.request import SearchBackend
from pii_guard.search.sqlite_search import SqliteSearch
from pii_guard.store.sqlite import SqliteEventStore
from tests.search.corpus import corpus

BACKENDS = ["sqlite"]


@contextmanager
def filled(kind: str, tmp: Path) -> Iterator[SearchBackend]:
    if kind == "sqlite":
        store = SqliteEventStore(tmp / "events.db")
        store.write(corpus(), [])
        store.close()
        backend = SqliteSearch(tmp / "events.db")
        try:
            yield backend
        finally:
            backend.close()
        return
    raise AssertionError(kind)
