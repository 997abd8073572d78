"""What a query means, the same on every store: one shared suite, run against each backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pii_guard.search.query import parse_query
from pii_guard.search.request import SearchBackend, SearchRequest, Sort, TopRow
from tests.search.backends import BACKENDS, filled
from tests.search.corpus import SINCE, UNTIL


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchBackend]:
    with filled(request.param, tmp_path) as found:
        yield found


def hits(backend: SearchBackend, query: str, **kw: object) -> list[tuple[str | None, str, str]]:
    request = SearchRequest(parse_query(query), SINCE, UNTIL, (Sort("@timestamp", False),), 100)
    docs = backend.search(request)
    assert backend.count(request) == len(docs)
    return [(d.get("user.name"), d["event.action"], d.get("pii.object", "")) for d in docs]


def users(backend: SearchBackend, query: str) -> list[str | None]:
    return [u for u, _, _ in hits(backend, query)]


CASES = [
    ("user.name:alice", ["alice", "alice", "alice"]),
    ("user.name:alice AND event.action:export", ["alice"]),
    ("user.name:bob OR user.name:carol", ["bob", "bob", "carol", "carol"]),
    ("event.action:(write OR export)", ["alice", "carol"]),
    ("pii.categories:sensitive", ["alice", "carol", "carol"]),  # ssn in the statement; HR files
    ("NOT user.name:*", [None]),
    ("NOT user.name:alice AND pii.object:db\\:*", ["bob", "bob"]),
    ("pii.object:db\\:crm.public.cust*", ["alice", "alice", "bob", "alice"]),
    ("pii.object:db\\:crm.public.order?", ["bob"]),
    ('pii.object:"file:/srv/share/hr/[draft] review*.docx"', ["carol"]),  # brackets and * taken literally
    ("pii.object:file\\:/srv/share/hr/\\[draft\\]*", ["carol"]),
    ("pii.rows:[20 TO *]", ["alice", "alice"]),
    ("pii.rows:{5 TO 20]", ["alice"]),
    ("pii.bytes:[* TO 1000]", ["carol"]),
    ("source.ip:10.20.0.0/16", ["bob", "bob"]),
    ("source.ip:10.10.0.5", ["alice", "alice", "alice"]),
    ("source.ip:[10.0.0.0 TO 10.255.255.255]", ["alice", "alice", "bob", "bob", "alice"]),
    ("source.ip:2001\\:db8\\:\\:/32", ["dave", "dave"]),
    ("pii.record_ids:cust-42", ["dave", "dave"]),
    ("pii.record_ids:cust-7", ["dave"]),
    ("event.outcome:failure", ["bob", None]),
    ('pii.statement:"select email"', ["alice"]),  # phrases on text fields ignore case
    ("pii.statement:select", ["alice"]),  # a bare word on a text field is that word as a phrase, not nothing
    ("pii.statement:SSN AND user.name:alice", ["alice"]),
    ("@timestamp:2026-11-21", ["alice"]),  # a bare day is that whole UTC day
    ("@timestamp:2026-11-20 AND user.name:bob", ["bob", "bob"]),
    ('@timestamp:"2026-11-21"', ["alice"]),
    ("NOT @timestamp:2026-11-20", ["alice"]),
    ("@timestamp:[2026-11-21 TO *]", ["alice"]),
    ("@timestamp:[2026-11-20T12\\:00\\:00Z TO 2026-11-20T13\\:00\\:00Z}", ["carol", "carol"]),
    ("user.roles:analyst AND NOT source.zone:office", ["alice", "alice", "alice"]),
    ("*", ["alice", "alice", "bob", "bob", "carol", "carol", None, "dave", "dave", "alice"]),
    ("user.name:ALICE", []),  # keywords are exact
    ("user.name:\"'; DROP TABLE events; --\"", []),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[c[0] for c in CASES])
def test_query_means_the_same_on_every_store(backend: SearchBackend, query: str, expected: list[str | None]) -> None:
    assert users(backend, query) == expected


def test_sorting_and_limits(backend: SearchBackend) -> None:
    request = SearchRequest(parse_query("pii.rows:*"), SINCE, UNTIL, (Sort("pii.rows", True),), 2)
    assert [d["pii.rows"] for d in backend.search(request)] == [12000, 20]
    newest = SearchRequest(parse_query("*"), SINCE, UNTIL, (Sort("@timestamp", True),), 1)
    assert [d["@timestamp"] for d in backend.search(newest)] == ["2026-11-21T08:00:00.000000Z"]


def test_the_time_range_always_bounds_the_search(backend: SearchBackend) -> None:
    day = SearchRequest(parse_query("*"), SINCE, SINCE + 86_400_000_000 * 2, (Sort("@timestamp", False),), 100)
    assert len(backend.search(day)) == 9


def test_top_users_by_events_and_by_volume(backend: SearchBackend) -> None:
    request = SearchRequest(parse_query("user.name:*"), SINCE, UNTIL, (), 10)
    assert backend.top(request, "user.name", None, 2) == [TopRow("alice", 3, 0), TopRow("bob", 2, 0)]
    assert backend.top(request, "user.name", "pii.rows", 2) == [TopRow("alice", 3, 12021), TopRow("bob", 2, 5)]
    assert backend.top(request, "pii.categories", None, 1)[0].value == "personal"


def test_documents_carry_the_ecs_fields(backend: SearchBackend) -> None:
    request = SearchRequest(parse_query("event.action:export"), SINCE, UNTIL, (), 10)
    [doc] = backend.search(request)
    assert doc["user.name"] == "alice"
    assert doc["user.roles"] == ["analyst"]
    assert doc["source.ip"] == "10.10.0.5"
    assert doc["pii.rows"] == 12000
    assert "sensitive" in doc["pii.categories"]
    assert doc["@timestamp"] == "2026-11-20T09:05:00.000000Z"
    assert doc["pii.statement"] == "COPY (SELECT email, ssn FROM public.customers) TO STDOUT"


def test_an_event_is_found_by_its_id(backend: SearchBackend) -> None:
    everything = SearchRequest(parse_query("*"), SINCE, UNTIL, (Sort("@timestamp", False),), 100)
    wanted = [d["event.id"] for d in backend.search(everything)][3:5]
    request = SearchRequest(parse_query(f"event.id:{wanted[0]} OR event.id:{wanted[1]}"), SINCE, UNTIL,
                            (Sort("@timestamp", False),), 10)
    assert [d["event.id"] for d in backend.search(request)] == wanted
    missing = SearchRequest(parse_query("event.id:" + "f" * 32), SINCE, UNTIL, (), 10)
    assert backend.search(missing) == []
