"""Write tests that hold on any Elasticsearch 8/9 cluster: run against the fake (test_contract_fake.py) and
against a real cluster when PII_GUARD_ES_URL is set (test_real_cluster.py). They use only the store and the
official client, no scripting of the server."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import orjson

from pii_guard.model import ecs_document, format_timestamp
from pii_guard.store import elastic_mapping as em
from pii_guard.store.elastic import ElasticsearchEventStore
from tests.store_es.helpers import event

OpenStore = Callable[..., ElasticsearchEventStore]


class WriteContract:
    """Subclasses provide the `open_store` fixture: a store on a fresh index prefix, `retention` passed on."""

    def test_writes_replays_and_counts(self, open_store: OpenStore) -> None:
        store = open_store()
        batch = [event(i) for i in range(25)] + [event(i, day=1) for i in range(5)]
        assert store.write(batch, []) == (30, 0, 0)
        assert store.write(batch, []) == (0, 30, 0)
        store.refresh()
        assert store.count_events() == 30

    def test_documents_are_the_ecs_documents_under_the_event_id(self, open_store: OpenStore) -> None:
        store = open_store()
        item = event(7)
        store.write([item], [])
        got = store.client.get(index=store.index_for(item.event.time_us), id=item.event.id)
        assert got["_source"] == orjson.loads(orjson.dumps(ecs_document(item)))

    def test_template_and_index_mapping(self, open_store: OpenStore) -> None:
        store = open_store(retention="30d")
        prefix = store.config.index_prefix
        got = store.client.indices.get_index_template(name=em.template_name(prefix))["index_templates"][0]
        assert got["index_template"]["index_patterns"] == [em.index_pattern(prefix)]
        store.write([event(1)], [])
        index = store.index_for(event(1).event.time_us)
        props = store.client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
        assert props["@timestamp"]["type"] == "date_nanos"
        assert props["source"]["properties"]["ip"]["type"] == "ip"
        assert props["pii"]["properties"]["statement"]["fields"]["keyword"]["type"] == "keyword"
        policy = store.client.ilm.get_lifecycle(name=em.policy_name(prefix))[em.policy_name(prefix)]
        assert policy["policy"]["phases"]["delete"]["min_age"] == "31d"

    def test_a_rejected_document_is_dead_lettered_and_the_rest_stored(self, open_store: OpenStore,
                                                                       tmp_path: Path) -> None:
        store = open_store()
        batch = [event(1), event(2, ip="not-an-ip"), event(3)]
        assert store.write(batch, []) == (2, 0, 1)
        assert store.write(batch, []) == (0, 2, 0)
        reason = sqlite3.connect(store._dead.path).execute("SELECT reason FROM dead_letters").fetchone()[0]
        assert "source.ip" in reason
        assert "not-an-ip" in reason

    def test_searches_by_term_range_and_phrase(self, open_store: OpenStore) -> None:
        store = open_store()
        store.write([event(1, user="alice", rows=10), event(2, user="bob", rows=500, statement="DELETE FROM x"),
                     event(3, user="alice", rows=900)], [])
        store.refresh()

        def ids(query: dict[str, object]) -> list[str]:
            answer = store.client.search(index=store.search_index, query=query, sort=[{"@timestamp": "asc"}])
            return [h["_id"] for h in answer["hits"]["hits"]]

        assert ids({"term": {"user.name": "alice"}}) == ["ev-0-000001", "ev-0-000003"]
        assert ids({"range": {"pii.rows": {"gte": 500}}}) == ["ev-0-000002", "ev-0-000003"]
        assert ids({"match_phrase": {"pii.statement": "delete from"}}) == ["ev-0-000002"]
        stamp = format_timestamp(event(2).event.time_us)
        assert ids({"range": {"@timestamp": {"gte": stamp, "lte": stamp}}}) == ["ev-0-000002"]
