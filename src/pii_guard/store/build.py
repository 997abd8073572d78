"""The event store the config asks for. Callers get an EventStore and never learn which one it is."""

from __future__ import annotations

from pii_guard.config.models import Config, SqliteStoreConfig
from pii_guard.config.secrets import resolve_secret
from pii_guard.store.base import EventStore


def open_event_store(config: Config) -> EventStore:
    store = config.store
    if isinstance(store, SqliteStoreConfig):
        from pii_guard.store.sqlite import SqliteEventStore

        return SqliteEventStore(config.store_path, store.synchronous, store.max_size_mb)
    from pii_guard.store.elastic import ElasticsearchEventStore

    file = config.resolve_file
    api_key = resolve_secret("store api_key", store.api_key, file(store.api_key_file, "store.api_key_file"),
                             store.api_key_env)
    password = resolve_secret("store password", store.password, file(store.password_file, "store.password_file"),
                              store.password_env)
    ca_certs = config.resolve_file(store.ca_certs, "store.ca_certs")
    return ElasticsearchEventStore(store, api_key=api_key, password=password, ca_certs=ca_certs,
                                   dead_letters=config.store_path)
