"""The fake's search side, through the official client: the query subset, sorting and paging, aggregations and
the errors Elasticsearch gives, on documents the store wrote. The search code of pii-guard is tested against
this fake, so it has to answer like Elasticsearch does."""

from __future__ import annotations

from typing import Any

import pytest
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError

from pii_guard.store.elastic import ElasticsearchEventStore
from tests.store_es.conftest import StoreFactory
from tests.store_es.fake_es import FakeElasticsearch
from tests.store_es.helpers import event

PATTERN = "pii-guard-events-*"


@pytest.fixture
def store(make_store: StoreFactory) -> ElasticsearchEventStore:
    store = make_store()
    batch = [
        event(1, user="alice", rows=10, ip="10.0.4.17", categories=("contact",)),
        event(2, user="alice", rows=5000, ip="10.0.4.18", categories=("contact", "financial")),
        event(3, user="bob", rows=20, ip="192.168.1.9", categories=("health",),
              statement="COPY (SELECT * FROM patients) TO STDOUT", obj="db:his.public.patients"),
        event(4, user="Bob", rows=1, ip="2001:db8::7", statement=None, categories=()),
        event(5, user="carol", rows=300, ip=None, day=1, categories=("financial",), obj="file:/srv/exports/q3*.csv"),
    ]
    assert store.write(batch, []) == (5, 0, 0)
    store.refresh()
    return store


def ids(answer: Any) -> list[str]:
    return [h["_id"] for h in answer["hits"]["hits"]]


def search(store: ElasticsearchEventStore, query: dict[str, Any], **kw: Any) -> list[str]:
    kw.setdefault("sort", [{"@timestamp": "asc"}])
    return ids(store.client.search(index=store.search_index, query=query, **kw))


def n(i: int, day: int = 0) -> str:
    return f"ev-{day}-{i:06d}"


def test_documents_are_searchable_after_a_refresh_only(make_store: StoreFactory) -> None:
    store = make_store()
    store.write([event(1)], [])
    assert store.count_events() == 0
    store.refresh()
    assert store.count_events() == 1


def test_term_terms_and_case(store: ElasticsearchEventStore) -> None:
    assert search(store, {"term": {"user.name": "bob"}}) == [n(3)]
    assert search(store, {"term": {"user.name": {"value": "bob", "case_insensitive": True}}}) == [n(3), n(4)]
    assert search(store, {"terms": {"user.name": ["alice", "carol"]}}) == [n(1), n(2), n(5, 1)]
    assert search(store, {"term": {"pii.categories": "financial"}}) == [n(2), n(5, 1)]
    assert search(store, {"term": {"pii.rows": 20}}) == [n(3)]
    assert search(store, {"term": {"pii.honeytoken": False}}) == []  # not written when false
    assert search(store, {"term": {"pii.classified": True}}) == [n(1), n(2), n(3), n(4), n(5, 1)]
    assert search(store, {"term": {"no.such.field": "x"}}) == []


def test_dotted_names_resolve_against_nested_and_dotted_documents(fake_es: FakeElasticsearch,
                                                                  store: ElasticsearchEventStore) -> None:
    client: Elasticsearch = store.client
    index = store.index_for(event(9).event.time_us)
    client.index(index=index, id="dotted", document={"@timestamp": "2026-11-18T12:00:00Z", "user.name": "dora",
                                                     "source": {"ip": "10.9.9.9"}, "pii.rows": 3})
    client.indices.refresh(index=index)
    assert search(store, {"term": {"user.name": "dora"}}) == ["dotted"]
    assert search(store, {"term": {"source.ip": "10.9.9.9"}}) == ["dotted"]
    assert search(store, {"range": {"pii.rows": {"lte": 3}}}) == [n(4), "dotted"]


def test_wildcard_and_prefix(store: ElasticsearchEventStore) -> None:
    assert search(store, {"wildcard": {"pii.object": {"value": "db:crm.*"}}}) == [n(1), n(2), n(4)]
    assert search(store, {"wildcard": {"user.name": {"value": "B?b", "case_insensitive": False}}}) == [n(4)]
    assert search(store, {"wildcard": {"user.name": {"value": "b*", "case_insensitive": True}}}) == [n(3), n(4)]
    assert search(store, {"wildcard": {"pii.object": {"value": "file:/srv/exports/q3\\*.csv"}}}) == [n(5, 1)]
    assert search(store, {"wildcard": {"pii.statement.keyword": "COPY *"}}) == [n(3)]
    assert search(store, {"wildcard": {"pii.statement": "pat*"}}) == [n(3)]  # a text field: per token
    assert search(store, {"prefix": {"pii.object": "db:his"}}) == [n(3)]
    assert search(store, {"prefix": {"user.name": {"value": "AL", "case_insensitive": True}}}) == [n(1), n(2)]


def test_range_on_numbers_dates_and_ips(store: ElasticsearchEventStore) -> None:
    assert search(store, {"range": {"pii.rows": {"gte": 20, "lt": 5000}}}) == [n(3), n(5, 1)]
    first, second = event(1).event.time_us, event(2).event.time_us
    from pii_guard.model import format_timestamp

    # microseconds count: date_nanos keeps them
    assert search(store, {"range": {"@timestamp": {"gte": format_timestamp(first),
                                                   "lte": format_timestamp(first)}}}) == [n(1)]
    assert search(store, {"range": {"@timestamp": {"gt": format_timestamp(first),
                                                   "lt": format_timestamp(second + 1)}}}) == [n(2)]
    assert search(store, {"range": {"@timestamp": {"gte": "2026-11-19", "lt": "2026-11-20"}}}) == [n(5, 1)]
    assert search(store, {"range": {"@timestamp": {"gte": "2026-11-18T13:00:00+01:00"}}}) == [n(5, 1)]
    assert search(store, {"range": {"@timestamp": {"gte": "2026-11-19||/d", "lte": "2026-11-19||/d"}}}) == [n(5, 1)]
    assert search(store, {"range": {"@timestamp": {"gte": "now-100y", "lte": "now+100y"}}}) == [
        n(1), n(2), n(3), n(4), n(5, 1)]
    assert search(store, {"range": {"source.ip": {"gte": "10.0.0.0", "lte": "10.255.255.255"}}}) == [n(1), n(2)]
    assert search(store, {"term": {"source.ip": "10.0.4.0/24"}}) == [n(1), n(2)]
    assert search(store, {"term": {"source.ip": "2001:db8::/32"}}) == [n(4)]


def test_exists_match_phrase_and_bool(store: ElasticsearchEventStore) -> None:
    assert search(store, {"exists": {"field": "source.ip"}}) == [n(1), n(2), n(3), n(4)]
    assert search(store, {"exists": {"field": "pii.statement"}}) == [n(1), n(2), n(3), n(5, 1)]
    assert search(store, {"exists": {"field": "source"}}) == [n(1), n(2), n(3), n(4), n(5, 1)]  # an object
    assert search(store, {"match_phrase": {"pii.statement": "from patients"}}) == [n(3)]
    assert search(store, {"match_phrase": {"pii.statement": "patients from"}}) == []
    assert search(store, {"match_phrase": {"event.original": "AUDIT: SESSION"}}) == [n(1), n(2), n(3), n(4), n(5, 1)]
    assert search(store, {"match_phrase": {"user.name": "alice"}}) == [n(1), n(2)]  # keyword: the whole value
    query = {"bool": {"filter": [{"term": {"pii.categories": "contact"}}],
                      "must_not": [{"term": {"source.ip": "10.0.4.18"}}]}}
    assert search(store, query) == [n(1)]
    query = {"bool": {"should": [{"term": {"user.name": "bob"}}, {"term": {"user.name": "carol"}},
                                 {"range": {"pii.rows": {"gte": 300}}}], "minimum_should_match": 2}}
    assert search(store, query) == [n(5, 1)]
    query = {"bool": {"filter": [{"match_all": {}}], "should": [{"term": {"user.name": "bob"}}]}}
    assert len(search(store, query)) == 5  # should is optional beside a filter
    assert search(store, {"bool": {"must_not": [{"exists": {"field": "pii.categories"}}]}}) == [n(4)]


def test_sort_paging_and_search_after(store: ElasticsearchEventStore) -> None:
    sort = [{"user.name": {"order": "asc"}}, {"event.id": "desc"}]
    answer = store.client.search(index=PATTERN, sort=sort, size=2)
    assert ids(answer) == [n(4), n(2)]  # "Bob" < "alice": byte order
    assert answer["hits"]["hits"][0]["sort"] == ["Bob", n(4)]
    seen: list[str] = []
    after = None
    while True:
        kw: dict[str, Any] = {"search_after": after} if after else {}
        page = store.client.search(index=PATTERN, sort=sort, size=2, **kw)["hits"]["hits"]
        if not page:
            break
        seen += [h["_id"] for h in page]
        after = page[-1]["sort"]
    assert seen == [n(4), n(2), n(1), n(3), n(5, 1)]
    assert ids(store.client.search(index=PATTERN, sort=sort, from_=3, size=5)) == [n(3), n(5, 1)]
    by_time = store.client.search(index=PATTERN, sort=[{"@timestamp": "desc"}], size=1)
    assert by_time["hits"]["hits"][0]["sort"] == [event(5, day=1).event.time_us * 1000]  # date_nanos: ns
    by_ip = store.client.search(index=PATTERN, sort=[{"source.ip": "asc"}], size=5)
    assert ids(by_ip) == [n(1), n(2), n(3), n(4), n(5, 1)]  # IPv4 before IPv6, missing last


def test_total_hits(store: ElasticsearchEventStore) -> None:
    answer = store.client.search(index=PATTERN, size=0)
    assert answer["hits"]["total"] == {"value": 5, "relation": "eq"}
    assert "total" not in store.client.search(index=PATTERN, size=0, track_total_hits=False)["hits"]
    assert store.client.search(index=PATTERN, size=0, track_total_hits=3)["hits"]["total"] == {
        "value": 3, "relation": "gte"}


def test_terms_aggregation_with_a_sum(store: ElasticsearchEventStore) -> None:
    aggs = {"top": {"terms": {"field": "user.name", "size": 2, "order": [{"volume": "desc"}, {"_count": "desc"}]},
                    "aggs": {"volume": {"sum": {"field": "pii.rows"}}}}}
    answer = store.client.search(index=PATTERN, size=0, aggs=aggs)
    top = answer["aggregations"]["top"]
    assert [(b["key"], b["doc_count"], b["volume"]["value"]) for b in top["buckets"]] == [
        ("alice", 2, 5010.0), ("carol", 1, 300.0)]
    assert top["sum_other_doc_count"] == 2
    by_count = store.client.search(index=PATTERN, size=0, query={"exists": {"field": "source.ip"}},
                                   aggs={"users": {"terms": {"field": "pii.categories"}}})
    assert [(b["key"], b["doc_count"]) for b in by_count["aggregations"]["users"]["buckets"]] == [
        ("contact", 2), ("financial", 1), ("health", 1)]  # ties by key


def test_errors_are_elasticsearchs(store: ElasticsearchEventStore) -> None:
    with pytest.raises(BadRequestError, match="parsing_exception"):
        store.client.search(index=PATTERN, query={"query_string": {"query": "user.name:bob"}} | {"x": {}})
    with pytest.raises(BadRequestError) as err:
        store.client.search(index=PATTERN, query={"fuzzy": {"user.name": "bob"}})
    assert err.value.body["error"]["reason"] == "unknown query [fuzzy]"
    with pytest.raises(BadRequestError) as err:
        store.client.search(index=PATTERN, sort=[{"pii.statement": "asc"}])
    assert "Fielddata is disabled on [pii.statement]" in err.value.body["error"]["caused_by"]["reason"]
    with pytest.raises(BadRequestError) as err:
        store.client.search(index=PATTERN, query={"wildcard": {"pii.rows": "1*"}})
    assert "Can only use wildcard queries on keyword and text fields" in str(err.value.body)
    with pytest.raises(BadRequestError, match="search_phase_execution_exception"):
        store.client.search(index=PATTERN, query={"term": {"pii.rows": "many"}})
    with pytest.raises(BadRequestError):
        store.client.search(index=PATTERN, aggs={"t": {"terms": {"field": "event.original"}}})
    with pytest.raises(BadRequestError, match="No mapping found"):
        store.client.search(index=PATTERN, sort=[{"aws.s3access.bucket": "asc"}])
    with pytest.raises(BadRequestError, match="Result window is too large"):
        store.client.search(index=PATTERN, from_=9_999, size=2)
    with pytest.raises(NotFoundError):
        store.client.search(index="pii-guard-events-1999.01.01")


def test_fields_only_in_source_are_returned_but_not_searchable(make_store: StoreFactory) -> None:
    store = make_store()
    store.write([event(1, fields={"aws.s3access.bucket": "payroll"})], [])
    store.refresh()
    assert search(store, {"term": {"aws.s3access.bucket": "payroll"}}) == []
    (hit,) = store.client.search(index=PATTERN)["hits"]["hits"]
    assert hit["_source"]["aws"] == {"s3access": {"bucket": "payroll"}}


def test_every_request_is_recorded(fake_es: FakeElasticsearch, store: ElasticsearchEventStore) -> None:
    store.client.search(index=PATTERN, query={"term": {"user.name": "bob"}})
    last = fake_es.requests[-1]
    assert (last.method, last.path) == ("POST", "/pii-guard-events-*/_search")
    assert last.json() == {"query": {"term": {"user.name": "bob"}}}
    assert "compatible-with" in last.headers["accept"]
