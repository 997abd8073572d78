"""The stores under test, filled with the same corpus: every search test runs against each of them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pii_guard.search.es_search import ElasticSearch
from pii_guard.search.request import SearchBackend
from pii_guard.search.sqlite_search import SqliteSearch
from pii_guard.store.elastic import ElasticsearchEventStore
from pii_guard.store.sqlite import SqliteEventStore
from tests.search.corpus import corpus
from tests.store_es.fake_es import FakeElasticsearch
from tests.store_es.helpers import es_config

BACKENDS = ["sqlite", "elasticsearch"]


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
    if kind == "elasticsearch":
        fake = FakeElasticsearch().start()
        try:
            store = ElasticsearchEventStore(es_config(fake.url), api_key=None, password=None, ca_certs=None,
                                            dead_letters=tmp / "dead-letters.db")
            store.write(corpus(), [])
            store.refresh()
            backend_es = ElasticSearch(store)
            try:
                yield backend_es
            finally:
                backend_es.close()
        finally:
            fake.stop()
        return
    raise AssertionError(kind)
