"""Bulk writes against the fake cluster: what is sent, and that nothing is lost or stored twice whatever the
cluster answers (per-item 201/409/429/503/400, 429 storms, 503s, timeouts)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import orjson
import pytest

from pii_guard.errors import StoreError
from pii_guard.model import ecs_document
from pii_guard.store import elastic as elastic_module
from pii_guard.store.base import DeadLetter
from pii_guard.store.sqlite import SqliteEventStore
from tests.store_es.conftest import StoreFactory
from tests.store_es.fake_es import FakeElasticsearch, Fault
from tests.store_es.helpers import event


def bulk_bodies(fake: FakeElasticsearch) -> list[list[object]]:
    return [r.ndjson() for r in fake.requests_to("/_bulk")]


def ids_sent(body: list[object]) -> list[str]:
    return [line["create"]["_id"] for line in body[::2]]  # type: ignore[index]


def test_bulk_body_is_ndjson_of_create_with_the_event_id(make_store: StoreFactory, fake_es: FakeElasticsearch) -> None:
    store = make_store()
    batch = [event(i) for i in range(3)] + [event(0, day=1)]
    assert store.write(batch, []) == (4, 0, 0)
    (request,) = fake_es.requests_to("/_bulk")
    assert request.body.endswith(b"\n")
    assert "x-ndjson" in request.headers["content-type"]
    lines = request.ndjson()
    assert len(lines) == 8
    for item, (action, doc) in zip(batch, zip(lines[::2], lines[1::2], strict=True), strict=True):
        assert action == {"create": {"_index": store.index_for(item.event.time_us), "_id": item.event.id}}
        assert doc == orjson.loads(orjson.dumps(ecs_document(item)))  # exactly the ECS document, nothing more
    assert lines[0]["create"]["_index"] == "pii-guard-events-2026.11.18"
    assert lines[6]["create"]["_index"] == "pii-guard-events-2026.11.19"
    assert set(fake_es.indices) == {"pii-guard-events-2026.11.18", "pii-guard-events-2026.11.19"}
    # only the per-item results come back
    assert request.query["filter_path"] == "errors,items.*.status,items.*.error"


def test_a_replayed_batch_stores_nothing_twice(make_store: StoreFactory, fake_es: FakeElasticsearch) -> None:
    store = make_store()
    batch = [event(i) for i in range(50)]
    assert store.write(batch, []) == (50, 0, 0)
    assert store.write(batch, []) == (0, 50, 0)  # 409 version_conflict_engine_exception = already stored
    assert store.write([*batch[:10], event(50)], []) == (1, 10, 0)
    assert len(fake_es.documents()) == 51
    store.refresh()
    assert store.count_events() == 51


def test_the_same_event_twice_in_one_batch_is_stored_once(make_store: StoreFactory) -> None:
    store = make_store()
    assert store.write([event(1), event(2), event(1)], []) == (2, 1, 0)


def test_items_answered_429_or_503_are_retried_alone_until_stored(make_store: StoreFactory,
                                                                  fake_es: FakeElasticsearch) -> None:
    store = make_store()
    batch = [event(i) for i in range(10)]
    fake_es.fail_item(batch[3].event.id, 429, 429)
    fake_es.fail_item(batch[7].event.id, 503)
    assert store.write(batch, []) == (10, 0, 0)
    bodies = bulk_bodies(fake_es)
    assert [ids_sent(b) for b in bodies[1:]] == [[batch[3].event.id, batch[7].event.id], [batch[3].event.id]]
    assert len(fake_es.documents()) == 10
    assert len(make_store.sleeps) == 2
    assert make_store.sleeps[0] <= 0.1
    assert 0.1 <= make_store.sleeps[1] <= 0.2


def test_rejected_documents_go_to_the_dead_letters_and_the_rest_is_stored(
        make_store: StoreFactory, fake_es: FakeElasticsearch, caplog: pytest.LogCaptureFixture) -> None:
    store = make_store()
    batch = [event(i) for i in range(6)]
    batch[2] = event(2, ip="not-an-ip")
    with caplog.at_level(logging.WARNING, logger="pii_guard"):
        assert store.write(batch, []) == (5, 0, 1)
    assert "rejected 1 document(s), kept in the dead-letter file" in caplog.text
    assert "not-an-ip" not in caplog.text  # field values stay out of the log
    assert len(fake_es.documents()) == 5
    conn = sqlite3.connect(make_store.dead_letters)
    rows = conn.execute("SELECT source, fingerprint, offset, format, reason, text FROM dead_letters").fetchall()
    (source, fingerprint, offset, fmt, reason, text), = rows
    assert (source, fingerprint, offset, fmt) == ("elasticsearch:pii-guard-events-2026.11.18", batch[2].event.id,
                                                  200, "ecs")
    assert "document_parsing_exception" in reason
    assert "[source.ip] of type [ip]" in reason
    assert "'not-an-ip' is not an IP string literal" in reason
    assert orjson.loads(text) == orjson.loads(orjson.dumps(ecs_document(batch[2])))  # kept whole, re-indexable
    # a replay stores nothing twice and dead-letters nothing twice
    assert store.write(batch, []) == (0, 5, 0)
    assert store.count_dead_letters() == 1


def test_the_older_mapper_parsing_exception_is_a_rejection_too(make_store: StoreFactory,
                                                               fake_es: FakeElasticsearch) -> None:
    fake_es.parse_error = "mapper_parsing_exception"  # Elasticsearch before 8.8
    store = make_store()
    fake_es.fail_item("ev-0-000001", 400)
    assert store.write([event(0), event(1)], []) == (1, 0, 1)
    reason = sqlite3.connect(make_store.dead_letters).execute("SELECT reason FROM dead_letters").fetchone()[0]
    assert reason.startswith("Elasticsearch rejected the document: mapper_parsing_exception")


def test_parse_failures_are_kept_in_the_local_dead_letter_file(make_store: StoreFactory,
                                                               fake_es: FakeElasticsearch) -> None:
    store = make_store()
    dead = DeadLetter("/var/log/postgresql/x.log", "ab12", 42, "pgaudit", "no AUDIT prefix", "garbage", 1)
    assert store.write([], [dead]) == (0, 0, 1)
    assert store.write([event(1)], [dead]) == (1, 0, 0)
    assert store.count_dead_letters() == 1
    assert len(fake_es.requests_to("/_bulk")) == 1  # unparsed lines never go to the cluster


def test_the_dead_letter_table_has_the_sqlite_stores_shape(make_store: StoreFactory, tmp_path: Path) -> None:
    make_store()
    SqliteEventStore(tmp_path / "events.db").close()
    shape = "SELECT sql FROM sqlite_master WHERE name = 'dead_letters'"
    ours = sqlite3.connect(make_store.dead_letters).execute(shape).fetchone()[0]
    theirs = sqlite3.connect(tmp_path / "events.db").execute(shape).fetchone()[0]
    assert " ".join(ours.split()) == " ".join(theirs.split())


def test_a_429_storm_is_retried_with_backoff_then_succeeds(make_store: StoreFactory,
                                                           fake_es: FakeElasticsearch) -> None:
    store = make_store()
    fake_es.fail(Fault(429), times=5)
    assert store.write([event(i) for i in range(20)], []) == (20, 0, 0)
    assert len(fake_es.requests_to("/_bulk")) == 6
    assert [r.status for r in fake_es.requests_to("/_bulk")] == [429] * 5 + [200]
    caps = [min(2.0, 0.1 * 2**k) for k in range(5)]
    assert all(cap / 2 <= s <= cap for s, cap in zip(make_store.sleeps, caps, strict=True))


def test_503_and_502_are_retried(make_store: StoreFactory, fake_es: FakeElasticsearch) -> None:
    store = make_store()
    fake_es.fail(Fault(503), times=2)
    fake_es.fail(Fault(502), times=1)
    assert store.write([event(i) for i in range(5)], []) == (5, 0, 0)
    assert [r.status for r in fake_es.requests_to("/_bulk")] == [503, 503, 502, 200]


def test_a_storm_that_never_stops_raises_and_the_later_retry_counts_each_event_once(
        make_store: StoreFactory, fake_es: FakeElasticsearch) -> None:
    store = make_store(max_retries=3)
    batch = [event(i) for i in range(10)]
    fake_es.fail_item(batch[4].event.id, *[429] * 50)
    with pytest.raises(StoreError, match=r"did not take 1 of 10 events after 4 attempt\(s\): 429 "
                                         r"es_rejected_execution_exception") as err:
        store.write(batch, [])
    assert err.value.hint is not None
    assert "no checkpoint advances" in err.value.hint
    assert len(fake_es.documents()) == 9
    fake_es.clear_faults()
    # the daemon retries the same batch: the 9 already there were stored by the failed attempt, not replays
    assert store.write(batch, []) == (10, 0, 0)
    assert len(fake_es.documents()) == 10
    assert store.write(batch, []) == (0, 10, 0)


def test_a_cluster_that_stays_unavailable_raises_and_then_recovers(make_store: StoreFactory,
                                                                   fake_es: FakeElasticsearch) -> None:
    store = make_store(max_retries=2)
    fake_es.fail(Fault(503), times=None)
    with pytest.raises(StoreError, match="503 cluster_block_exception"):
        store.write([event(i) for i in range(3)], [])
    assert fake_es.documents() == {}
    fake_es.clear_faults()
    assert store.write([event(i) for i in range(3)], []) == (3, 0, 0)


def test_after_a_failed_write_the_store_cools_down_before_asking_again(make_store: StoreFactory,
                                                                       fake_es: FakeElasticsearch) -> None:
    store = make_store(max_retries=0)
    store.cooldown_base_s = 30.0
    fake_es.fail(Fault(503), times=None)
    with pytest.raises(StoreError):
        store.write([event(1)], [])
    sent = len(fake_es.requests)
    fake_es.clear_faults()
    with pytest.raises(StoreError, match=r"backing off after 1 failed attempt\(s\), next attempt in"):
        store.write([event(1)], [])
    assert len(fake_es.requests) == sent  # the cluster was left alone
    store._resume_at = 0.0
    assert store.write([event(1)], []) == (1, 0, 0)


def test_a_timed_out_bulk_is_retried(make_store: StoreFactory, fake_es: FakeElasticsearch) -> None:
    store = make_store(request_timeout_s=0.3)
    fake_es.fail(Fault(None, hang_s=1.5))  # answered too late, not applied
    assert store.write([event(i) for i in range(4)], []) == (4, 0, 0)
    assert len(fake_es.requests_to("/_bulk")) == 2


def test_a_bulk_applied_but_answered_too_late_is_not_stored_twice(make_store: StoreFactory,
                                                                  fake_es: FakeElasticsearch) -> None:
    store = make_store(request_timeout_s=0.3)
    fake_es.fail(Fault(None, hang_s=1.5, apply=True))  # the work is done, the answer lost
    result = store.write([event(i) for i in range(4)], [])
    assert result.stored + result.duplicates == 4  # the retry finds them there (409): resolved, not lost
    assert len(fake_es.documents()) == 4


def test_a_cluster_that_never_answers_makes_the_write_fail_within_its_budget(make_store: StoreFactory,
                                                                             fake_es: FakeElasticsearch) -> None:
    store = make_store(request_timeout_s=0.2)
    store.write_budget_s = 0.5
    fake_es.fail(Fault(None, hang_s=3), times=None)
    with pytest.raises(StoreError, match="no answer in time"):
        store.write([event(1)], [])


def test_a_request_too_large_is_split(make_store: StoreFactory, fake_es: FakeElasticsearch) -> None:
    store = make_store()
    fake_es.fail(Fault(413))
    assert store.write([event(i) for i in range(8)], []) == (8, 0, 0)
    assert [len(ids_sent(b)) for b in bulk_bodies(fake_es)] == [8, 4, 4]


def test_batches_are_cut_by_count_and_size(make_store: StoreFactory, fake_es: FakeElasticsearch,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(batch_size=4)
    assert store.write([event(i) for i in range(10)], []) == (10, 0, 0)
    assert [len(ids_sent(b)) for b in bulk_bodies(fake_es)] == [4, 4, 2]
    monkeypatch.setattr(elastic_module, "MAX_BULK_BYTES", 3000)
    fake_es.requests.clear()
    assert store.write([event(i) for i in range(10, 16)], []) == (6, 0, 0)
    assert all(len(r.body) <= 3000 for r in fake_es.requests_to("/_bulk"))
    assert len(fake_es.requests_to("/_bulk")) > 1


def test_an_item_refused_for_privileges_fails_the_write_without_dead_letters(make_store: StoreFactory,
                                                                             fake_es: FakeElasticsearch) -> None:
    store = make_store()
    fake_es.fail_item("ev-0-000002", 403)
    with pytest.raises(StoreError, match="403 security_exception") as err:
        store.write([event(i) for i in range(4)], [])
    assert err.value.hint is not None
    assert "create_doc" in err.value.hint
    assert store.count_dead_letters() == 0


def test_indices_that_cannot_be_created_fail_the_write(make_store: StoreFactory, fake_es: FakeElasticsearch) -> None:
    store = make_store()
    fake_es.auto_create_index = False
    with pytest.raises(StoreError, match="index_not_found_exception") as err:
        store.write([event(1)], [])
    assert err.value.hint is not None
    assert "action.auto_create_index" in err.value.hint


def test_an_empty_batch_sends_nothing(make_store: StoreFactory, fake_es: FakeElasticsearch) -> None:
    store = make_store()
    assert store.write([], []) == (0, 0, 0)
    assert fake_es.requests_to("/_bulk") == []


def test_counting_when_the_cluster_is_gone_is_a_store_error(make_store: StoreFactory,
                                                            fake_es: FakeElasticsearch) -> None:
    store = make_store()
    fake_es.stop()
    with pytest.raises(StoreError, match="cannot count events in pii-guard-events-"):
        store.count_events()
    with pytest.raises(StoreError, match="did not take 1 of 1 events"):
        store.write([event(1)], [])
