"""The query language's errors point at the offending token; hostile queries give clear errors or safe,
bounded searches, never a traceback."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pii_guard.search.query import (
    MAX_TERMS,
    And,
    Between,
    Cidr,
    Exists,
    MatchAll,
    Negate,
    QueryError,
    Term,
    Wildcard,
    parse_query,
)

ERRORS = [
    ('user.name:"bob', 'query error at position 10: Illegal character \'"bob\'\n  user.name:"bob\n            ^'),
    ("usr.name:bob", "query error at position 0: unknown field 'usr.name'\n  usr.name:bob\n  ^"),
    ("bob", "query error at position 0: 'bob' has no field\n  bob\n  ^"),
    ("pii.rows:many", "query error at position 9: pii.rows is a number, not 'many'\n  pii.rows:many\n           ^"),
    ("user.name:bob)", "query error at position 13: unexpected ')'\n  user.name:bob)\n               ^"),
    ("user.name:bob~1",
     "query error at position 10: fuzzy queries are not supported\n  user.name:bob~1\n            ^"),
    ("user.name:/b.*/",
     "query error at position 10: regex queries are not supported\n  user.name:/b.*/\n            ^"),
    ("source.ip:10.300.0.1", "query error at position 10: '10.300.0.1' is not an IP address or network\n"
                             "  source.ip:10.300.0.1\n            ^"),
    ("pii.rows:1*", "query error at position 9: wildcards work on keyword fields, not on number field 'pii.rows'\n"
                    "  pii.rows:1*\n           ^"),
    ("pii.statement:sel*", "query error at position 14: wildcards work on keyword fields, not on text field "
                           "'pii.statement'\n  pii.statement:sel*\n                ^"),
    ("@timestamp:2026-13-45", "query error at position 11: '2026-13-45' is not a date (write 2026-11-27 or "
                              "2026-11-27T10:15:00Z)\n  @timestamp:2026-13-45\n             ^"),
    ("@timestamp:[yesterday TO *]", "query error at position 11: 'yesterday' is not a date (write 2026-11-27 or "
                                    "2026-11-27T10:15:00Z)\n  @timestamp:[yesterday TO *]\n             ^"),
]


@pytest.mark.parametrize(("query", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_point_at_the_token(query: str, message: str) -> None:
    with pytest.raises(QueryError) as err:
        parse_query(query)
    assert err.value.message == message


def test_too_many_terms_and_too_long_queries_are_refused() -> None:
    many = " OR ".join(f"user.name:u{i}" for i in range(MAX_TERMS + 1))
    with pytest.raises(QueryError, match="1,001 terms; at most 1,000"):
        parse_query(many)
    with pytest.raises(QueryError, match="characters long"):
        parse_query(" OR ".join(f"user.name:u{i}" for i in range(10_000)))


def test_the_shapes_queries_become() -> None:
    assert isinstance(parse_query(""), MatchAll)
    assert isinstance(parse_query("*"), MatchAll)
    assert isinstance(parse_query("user.name:*"), Exists)
    assert isinstance(parse_query("source.ip:10.0.0.0/8"), Cidr)
    node = parse_query("user.name:a* -event.action:read pii.rows:[1 TO 5]")
    assert isinstance(node, And)
    wild, negated, between = node.items
    assert isinstance(wild, Wildcard)
    assert isinstance(negated, Negate)
    assert isinstance(negated.item, Term)
    assert between == Between(between.field, 1, 5, True, True)  # type: ignore[union-attr]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('user.nam:bob*?"()[]{} TOANDORNOT\\/~^!+-&|=\'%;0123456789')),
               max_size=60))
def test_any_text_is_a_query_or_a_query_error(text: str) -> None:
    message = "query error"
    try:
        parse_query(text)
    except QueryError as exc:  # anything else fails the test
        message = exc.message
    assert message.startswith("query error")


def test_a_bare_word_on_a_text_field_is_a_phrase_on_every_backend() -> None:
    from pii_guard.search.es_search import compile_query
    from pii_guard.search.fields import FIELDS
    from pii_guard.search.query import Phrase_

    for query, field, text in (("pii.statement:select", "pii.statement", "select"),
                               ("event.original:customers", "event.original", "customers"),
                               ('pii.statement:"SELECT"', "pii.statement", "SELECT")):
        node = parse_query(query)
        assert node == Phrase_(FIELDS[field], text)
        assert compile_query(node) == {"match_phrase": {field: text}}  # the Elasticsearch query DSL
    with pytest.raises(QueryError) as err:
        parse_query("pii.statement:sel*")
    assert err.value.hint is not None
    assert "pii.statement:select" in err.value.hint


def test_a_bare_day_on_the_time_field_is_that_whole_utc_day() -> None:
    from pii_guard.search.es_search import compile_query

    day = parse_query("@timestamp:2026-11-27")
    start = 1_795_737_600_000_000  # 2026-11-27T00:00:00Z
    assert day == Between(day.field, start, start + 86_400_000_000 - 1, True, True)  # type: ignore[union-attr]
    assert parse_query('@timestamp:"2026-11-27"') == day
    assert compile_query(day) == {"range": {"@timestamp": {"gte": "2026-11-27T00:00:00.000000Z",
                                                           "lte": "2026-11-27T23:59:59.999999Z"}}}
    exact = parse_query("@timestamp:2026-11-27T10\\:15\\:00Z")
    assert isinstance(exact, Term)
