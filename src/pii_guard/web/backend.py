"""The search backend for the pages, as the CLI builds it: SQLite through read-only connections (one per worker
thread, kept, so its page cache stays warm; sqlite3 connections belong to the thread that made them), or the
Elasticsearch client (thread-safe, one for all)."""

from __future__ import annotations

import contextlib
import threading

from pii_guard.config.models import Config, SqliteStoreConfig
from pii_guard.search.request import SearchBackend


class Backends:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[SearchBackend] = []
        self._shared: SearchBackend | None = None

    @property
    def is_sqlite(self) -> bool:
        return isinstance(self._config.store, SqliteStoreConfig)

    def get(self) -> SearchBackend:
        """This thread's backend (opened on first use; StoreError if there is no event store yet)."""
        if not self.is_sqlite:
            with self._lock:
                if self._shared is None:
                    self._shared = self._remember(self._elastic())
                return self._shared
        found: SearchBackend | None = getattr(self._local, "backend", None)
        if found is None:
            from pii_guard.search.sqlite_search import SqliteSearch

            found = self._remember(SqliteSearch(self._config.store_path))
            self._local.backend = found
        return found

    def _elastic(self) -> SearchBackend:
        from pii_guard.search.es_search import ElasticSearch
        from pii_guard.store.build import open_event_store
        from pii_guard.store.elastic import ElasticsearchEventStore

        store = open_event_store(self._config)
        assert isinstance(store, ElasticsearchEventStore)
        return ElasticSearch(store)

    def _remember(self, backend: SearchBackend) -> SearchBackend:
        with self._lock:
            self._opened.append(backend)
        return backend

    def close(self) -> None:
        """At shutdown. SQLite connections made in other threads are closed from here, which sqlite3 refuses
        for thread-bound connections: those are dropped with their threads instead."""
        with self._lock:
            opened, self._opened, self._shared = self._opened, [], None
        for backend in opened:
            with contextlib.suppress(Exception):  # a connection of another thread refuses: dropped with it
                backend.close()
