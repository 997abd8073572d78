"""Search over the Elasticsearch store: the query tree compiled to a bool query of term, wildcard, range,
exists and match_phrase clauses. User text is only ever a clause's value, never a `query_string`."""

from __future__ import annotations

from typing import Any, Protocol

from pii_guard.model import format_timestamp
from pii_guard.search.fields import FIELDS, Field
from pii_guard.search.query import (
    ANY,
    ONE,
    And,
    Between,
    Cidr,
    Exists,
    MatchAll,
    Negate,
    Node,
    Or,
    Phrase_,
    Term,
    Wildcard,
)
from pii_guard.search.request import SearchRequest, TopRow


class _Store(Protocol):
    @property
    def client(self) -> Any: ...

    @property
    def search_index(self) -> str: ...

    def close(self) -> None: ...


def _name(field: Field) -> str:
    return field.es or field.name


def _value(field: Field, value: object) -> object:
    return format_timestamp(value) if field.kind == "date" and isinstance(value, int) else value


def _wildcard(parts: tuple[object, ...]) -> str:
    out = []
    for part in parts:
        if part is ANY:
            out.append("*")
        elif part is ONE:
            out.append("?")
        else:
            out.append("".join("\\" + c if c in "*?\\" else c for c in str(part)))
    return "".join(out)


def compile_query(node: Node) -> dict[str, Any]:
    if isinstance(node, MatchAll):
        return {"match_all": {}}
    if isinstance(node, And):
        return {"bool": {"filter": [compile_query(n) for n in node.items]}}
    if isinstance(node, Or):
        return {"bool": {"should": [compile_query(n) for n in node.items], "minimum_should_match": 1}}
    if isinstance(node, Negate):
        return {"bool": {"must_not": [compile_query(node.item)]}}
    field = node.field
    name = _name(field)
    if isinstance(node, Term):
        if field.kind == "date":
            stamp = _value(field, node.value)
            return {"range": {name: {"gte": stamp, "lte": stamp}}}
        return {"term": {name: {"value": node.value}}}
    if isinstance(node, Cidr):
        return {"term": {name: {"value": node.network}}}
    if isinstance(node, Wildcard):
        return {"wildcard": {name: {"value": _wildcard(node.parts), "case_insensitive": False}}}
    if isinstance(node, Phrase_):
        return {"match_phrase": {name: node.text}}
    if isinstance(node, Exists):
        return {"exists": {"field": name}}
    assert isinstance(node, Between)
    bounds: dict[str, object] = {}
    if node.low is not None:
        bounds["gte" if node.include_low else "gt"] = _value(field, node.low)
    if node.high is not None:
        bounds["lte" if node.include_high else "lt"] = _value(field, node.high)
    return {"range": {name: bounds}} if bounds else {"exists": {"field": name}}


class ElasticSearch:
    def __init__(self, store: _Store) -> None:
        self._store = store

    def _query(self, request: SearchRequest) -> dict[str, Any]:
        window = {"range": {"@timestamp": {"gte": format_timestamp(request.since_us),
                                           "lt": format_timestamp(request.until_us)}}}
        return {"bool": {"filter": [window, compile_query(request.query)]}}

    def search(self, request: SearchRequest) -> list[dict[str, Any]]:
        sort: list[dict[str, Any]] = [{_name(FIELDS[s.field]): {"order": "desc" if s.descending else "asc"}}
                                      for s in request.sort]
        sort.append({"event.id": {"order": "asc"}})
        answer = self._store.client.search(index=self._store.search_index, query=self._query(request), sort=sort,
                                           size=request.limit, track_total_hits=False)
        return [_flat(hit["_source"]) for hit in answer["hits"]["hits"]]

    def count(self, request: SearchRequest) -> int:
        answer = self._store.client.count(index=self._store.search_index, query=self._query(request))
        return int(answer["count"])

    def top(self, request: SearchRequest, field: str, by: str | None, size: int) -> list[TopRow]:
        name = _name(FIELDS[field])
        terms: dict[str, Any] = {"field": name, "size": size}
        aggs: dict[str, Any] = {"top": {"terms": terms}}
        if by is not None:
            terms["order"] = [{"volume": "desc"}, {"_count": "desc"}, {"_key": "asc"}]
            aggs["top"]["aggs"] = {"volume": {"sum": {"field": _name(FIELDS[by])}}}
        else:
            terms["order"] = [{"_count": "desc"}, {"_key": "asc"}]
        answer = self._store.client.search(index=self._store.search_index, query=self._query(request), size=0,
                                           aggs=aggs)
        return [TopRow(b["key"], int(b["doc_count"]), int(b.get("volume", {}).get("value") or 0))
                for b in answer["aggregations"]["top"]["buckets"]]

    def close(self) -> None:
        self._store.close()


def _flat(source: dict[str, Any]) -> dict[str, Any]:
    """The stored ECS document as the flat dict both stores return (the fields of search/fields.py)."""
    doc: dict[str, Any] = {}
    for name, field in FIELDS.items():
        value = _lookup(source, name)
        if value is None:
            continue
        if field.kind == "list" and not isinstance(value, list):
            value = [value]
        doc[name] = value
    return doc


def _lookup(source: dict[str, Any], dotted: str) -> Any:
    if dotted in source:
        return source[dotted]
    node: Any = source
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
