"""Searches for the fake Elasticsearch: the query DSL subset pii-guard compiles to, evaluated on stored documents
with each index's mapping, plus sort / from / size / search_after / track_total_hits and terms aggregations with
metric sub-aggregations.

Queries are built per index against its mapping, as Elasticsearch builds them per shard, so a query the mapping
cannot run fails with Elasticsearch's error (a wildcard on a number, sorting or aggregating on a text field, an
unknown query) even when no document would match. Unmapped fields match nothing; fields kept only in _source
(`dynamic: false`) are not searchable.

Supported: bool (filter, must, should + minimum_should_match, must_not), term, terms, wildcard and prefix (with
case_insensitive), range (gte/gt/lte/lt on numbers, dates with date math, IPs, strings), exists, match_phrase,
match, match_all, match_none, ids. Aggregations: terms (size, order by _count / _key / a sub-aggregation,
min_doc_count, missing) and sum, min, max, avg, value_count, cardinality.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.store_es.fake_es_mapping import (
    DATE_TYPES,
    FLOAT_TYPES,
    INT_TYPES,
    KEYWORD_TYPES,
    LONG_MAX,
    LONG_MIN,
    NUMERIC_TYPES,
    TEXT_TYPES,
    FakeMapping,
    ValueProblem,
    convert,
    format_date_ns,
    ip_key,
    ip_range,
    ip_text,
    parse_date_ns,
    tokens,
)

MAX_RESULT_WINDOW = 10_000
DEFAULT_TRACK_TOTAL = 10_000


class SearchError(Exception):
    """An error Elasticsearch answers for a search: status, type and reason."""

    def __init__(self, status: int, kind: str, reason: str, *, shard: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.kind = kind
        self.reason = reason
        self.shard = shard  # raised while building the query on a shard: wrapped in all-shards-failed

    def body(self) -> dict[str, Any]:
        cause = {"type": self.kind, "reason": self.reason}
        if not self.shard:
            return {"error": {"root_cause": [cause], **cause}, "status": self.status}
        return {"error": {"root_cause": [cause], "type": "search_phase_execution_exception",
                          "reason": "all shards failed", "phase": "query", "grouped": True,
                          "failed_shards": [{"shard": 0, "index": "", "reason": cause}], "caused_by": cause},
                "status": self.status}


def _parsing(reason: str) -> SearchError:
    return SearchError(400, "parsing_exception", reason)


def _shard(reason: str, kind: str = "query_shard_exception") -> SearchError:
    return SearchError(400, kind, reason, shard=True)


@dataclass
class StoredDoc:
    index: str
    id: str
    source: dict[str, Any]
    values: dict[str, list[Any]]
    seq: int


Predicate = Callable[[StoredDoc], bool]


# -- queries ------------------------------------------------------------------------------------------------------


def _one(query: Any, what: str = "query") -> tuple[str, Any]:
    if not isinstance(query, dict) or not query:
        raise _parsing(f"[{what}] malformed query, expected an object with one query")
    keys = [k for k in query if k not in ("boost", "_name")]
    if len(keys) != 1:
        raise _parsing(f"[{what}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]")
    return keys[0], query[keys[0]]


def _field_and_params(kind: str, body: Any, value_key: str, allowed: set[str]) -> tuple[str, dict[str, Any]]:
    if not isinstance(body, dict):
        raise _parsing(f"[{kind}] query malformed, no start_object after query name")
    fields = [k for k in body if k not in ("boost", "_name")]
    if len(fields) != 1:
        if not fields:
            raise _parsing(f"[{kind}] query malformed, no field")
        raise _parsing(f"[{kind}] query doesn't support multiple fields, found [{fields[0]}] and [{fields[1]}]")
    name = fields[0]
    params = body[name]
    if not isinstance(params, dict):
        params = {value_key: params}
    for key in params:
        if key not in allowed | {value_key, "boost", "_name"}:
            raise _parsing(f"[{kind}] query does not support [{key}]")
    if value_key not in params:
        raise _parsing(f"[{kind}] query malformed, no [{value_key}]")
    return name, params


def _spec(mapping: FakeMapping, name: str) -> dict[str, Any] | None:
    spec = mapping.field(name)
    if spec is not None and spec.get("index", True) is False:
        raise _shard(f"Cannot search on field [{name}] since it is not indexed.", "illegal_argument_exception")
    return spec


def _typed(spec: dict[str, Any], name: str, value: Any) -> Any:
    if isinstance(value, dict | list):
        raise _parsing(f"[{name}] query value must be a scalar")
    try:
        return convert(spec.get("type", "keyword"), value)
    except ValueProblem as exc:
        raise _shard(f"failed to create query: {exc.reason}") from None


def compile_query(query: Any, mapping: FakeMapping, now_ns: int) -> Predicate:
    kind, body = _one(query)
    if kind == "match_all":
        return lambda d: True
    if kind == "match_none":
        return lambda d: False
    if kind == "bool":
        return _bool(body, mapping, now_ns)
    if kind == "ids":
        values = set(map(str, (body or {}).get("values", [])))
        return lambda d: d.id in values
    if kind == "term":
        name, params = _field_and_params("term", body, "value", {"case_insensitive"})
        return _term(name, params["value"], bool(params.get("case_insensitive")), mapping)
    if kind == "terms":
        if not isinstance(body, dict):
            raise _parsing("[terms] query malformed")
        fields = [k for k in body if k not in ("boost", "_name")]
        if len(fields) != 1 or not isinstance(body[fields[0]], list):
            raise _parsing("[terms] query requires one field with an array of values")
        preds = [_term(fields[0], v, False, mapping) for v in body[fields[0]]]
        return lambda d: any(p(d) for p in preds)
    if kind in ("wildcard", "prefix"):
        value_key = "value"
        if isinstance(body, dict) and len(body) == 1:
            inner = next(iter(body.values()))
            if isinstance(inner, dict) and "wildcard" in inner and kind == "wildcard":
                value_key = "wildcard"
        name, params = _field_and_params(kind, body, value_key, {"case_insensitive", "rewrite"})
        return _pattern(kind, name, str(params[value_key]), bool(params.get("case_insensitive")), mapping)
    if kind == "range":
        name, params = _range_params(body)
        return _range(name, params, mapping, now_ns)
    if kind == "exists":
        if not isinstance(body, dict) or "field" not in body:
            raise _parsing("[exists] must be provided with a [field]")
        return _exists(str(body["field"]), mapping)
    if kind in ("match_phrase", "match"):
        allowed = {"slop", "analyzer", "zero_terms_query"} if kind == "match_phrase" else {
            "operator", "analyzer", "zero_terms_query", "lenient", "fuzziness", "minimum_should_match"}
        name, params = _field_and_params(kind, body, "query", allowed)
        return _match(kind, name, params, mapping)
    raise _parsing(f"unknown query [{kind}]")


def _clauses(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _bool(body: Any, mapping: FakeMapping, now_ns: int) -> Predicate:
    if not isinstance(body, dict):
        raise _parsing("[bool] query malformed")
    for key in body:
        if key not in ("must", "filter", "should", "must_not", "minimum_should_match", "boost", "_name"):
            raise _parsing(f"[bool] query does not support [{key}]")
    must = [compile_query(q, mapping, now_ns) for k in ("must", "filter") for q in _clauses(body.get(k))]
    should = [compile_query(q, mapping, now_ns) for q in _clauses(body.get("should"))]
    must_not = [compile_query(q, mapping, now_ns) for q in _clauses(body.get("must_not"))]
    msm = body.get("minimum_should_match")
    need = _minimum_should_match(msm, len(should)) if msm is not None else (1 if should and not must else 0)

    def pred(d: StoredDoc) -> bool:
        if not all(p(d) for p in must) or any(p(d) for p in must_not):
            return False
        if need <= 0:
            return True
        return sum(1 for p in should if p(d)) >= need

    return pred


def _minimum_should_match(value: Any, clauses: int) -> int:
    text = str(value).strip()
    try:
        if text.endswith("%"):
            pct = int(text[:-1])
            n = clauses * abs(pct) // 100
            return n if pct >= 0 else clauses - n
        n = int(text)
    except ValueError:
        raise _parsing(f"[bool] minimum_should_match [{value}] is not a number or percentage") from None
    return n if n >= 0 else clauses + n


def _term(name: str, value: Any, case_insensitive: bool, mapping: FakeMapping) -> Predicate:
    if name == "_id":
        return lambda d: d.id == str(value)
    if name == "_index":
        return lambda d: d.index == str(value)
    spec = _spec(mapping, name)
    if spec is None:
        return lambda d: False
    ftype = spec.get("type", "keyword")
    if ftype in TEXT_TYPES:
        want = str(value)
        return lambda d: any(want in tokens(v) for v in d.values.get(name, ()))
    if ftype == "ip" and isinstance(value, str) and "/" in value:
        try:
            low, high = ip_range(value)
        except ValueError:
            raise _shard(f"failed to create query: '{value}' is not an IP string literal.") from None
        return lambda d: any(low <= v <= high for v in d.values.get(name, ()))
    if ftype in INT_TYPES and isinstance(value, float) and not value.is_integer():
        return lambda d: False
    typed = _typed(spec, name, value)
    if ftype in KEYWORD_TYPES and case_insensitive:
        low_text = str(typed).lower()
        return lambda d: any(str(v).lower() == low_text for v in d.values.get(name, ()))
    return lambda d: typed in d.values.get(name, ())


def _wildcard_regex(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if case_insensitive else 0))


def _pattern(kind: str, name: str, value: str, case_insensitive: bool, mapping: FakeMapping) -> Predicate:
    spec = _spec(mapping, name)
    if spec is None:
        if name == "_id":
            rx = _wildcard_regex(value if kind == "wildcard" else _escape(value) + "*", case_insensitive)
            return lambda d: rx.fullmatch(d.id) is not None
        return lambda d: False
    ftype = spec.get("type", "keyword")
    if ftype not in KEYWORD_TYPES and ftype not in TEXT_TYPES:
        raise _shard(f"Can only use {kind} queries on keyword and text fields - not on [{name}] which is of type "
                     f"[{ftype}]")
    source = value if kind == "wildcard" else _escape(value) + "*"
    if ftype in TEXT_TYPES:  # matched against each token, the pattern normalized like the tokens
        rx = _wildcard_regex(source.lower(), case_insensitive)
        return lambda d: any(rx.fullmatch(t) for v in d.values.get(name, ()) for t in tokens(v))
    rx = _wildcard_regex(source, case_insensitive)
    return lambda d: any(rx.fullmatch(str(v)) is not None for v in d.values.get(name, ()))


def _escape(text: str) -> str:
    return "".join("\\" + c if c in "*?\\" else c for c in text)


def _range_params(body: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(body, dict):
        raise _parsing("[range] query malformed")
    fields = [k for k in body if k not in ("boost", "_name")]
    if len(fields) != 1 or not isinstance(body[fields[0]], dict):
        raise _parsing("[range] query malformed, expected one field with an object of bounds")
    params = body[fields[0]]
    for key in params:
        if key not in ("gte", "gt", "lte", "lt", "format", "time_zone", "relation", "boost"):
            raise _parsing(f"[range] query does not support [{key}]")
    return fields[0], params


_UNIT_NS = {"s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000, "H": 3_600_000_000_000,
            "d": 86_400_000_000_000, "w": 7 * 86_400_000_000_000}


def _add_months(nanos: int, months: int) -> int:
    seconds, rest = divmod(nanos, 1_000_000_000)
    dt = datetime.fromtimestamp(seconds, tz=UTC)
    total = dt.year * 12 + dt.month - 1 + months
    year, month = divmod(total, 12)
    day = min(dt.day, calendar.monthrange(year, month + 1)[1])
    moved = dt.replace(year=year, month=month + 1, day=day)
    return int(moved.timestamp()) * 1_000_000_000 + rest


def _round_down(nanos: int, unit: str) -> int:
    seconds = nanos // 1_000_000_000
    dt = datetime.fromtimestamp(seconds, tz=UTC)
    if unit == "y":
        dt = dt.replace(month=1, day=1, hour=0, minute=0, second=0)
    elif unit == "M":
        dt = dt.replace(day=1, hour=0, minute=0, second=0)
    elif unit == "w":
        dt = (dt - timedelta(days=dt.weekday())).replace(hour=0, minute=0, second=0)
    else:
        size = _UNIT_NS[unit]
        return nanos - nanos % size
    return int(dt.timestamp()) * 1_000_000_000


def _next_unit(nanos: int, unit: str) -> int:
    if unit == "y":
        return _add_months(nanos, 12)
    if unit == "M":
        return _add_months(nanos, 1)
    return nanos + _UNIT_NS[unit]


def date_bound(value: Any, ftype: str, *, up: bool, now_ns: int, fmt: str | None = None,
               time_zone: str | None = None) -> int:
    """A range bound of a date field in nanoseconds: ISO text, epoch millis (or seconds with that format),
    `now` or `<date>||` with date math (+1d, -2h, /d; rounding up for gt and lte, as Elasticsearch does)."""
    text = str(value)
    math = ""
    if text.startswith("now"):
        anchor, math = now_ns, text[3:]
    else:
        head, sep, tail = text.partition("||")
        math = tail if sep else ""
        if fmt and "epoch_second" in fmt and re.fullmatch(r"-?\d+(\.\d+)?", head):
            anchor = int(float(head) * 1_000_000_000)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            anchor = int(value * 1_000_000)
        else:
            try:
                anchor = parse_date_ns(head)
            except ValueProblem as exc:
                raise _shard(f"failed to parse date field [{head}] with format "
                             f"[{fmt or 'strict_date_optional_time||epoch_millis'}]: {exc.reason}",
                             "parse_exception") from None
            if time_zone and not re.search(r"(Z|[+-]\d{2}(:?\d{2})?)$", head) and not re.fullmatch(r"\d+", head):
                anchor -= _zone_offset_ns(time_zone, anchor)
    for op, amount, unit in re.findall(r"([+\-/])(\d*)([yMwdhHms])", math):
        if op == "/":
            down = _round_down(anchor, unit)
            anchor = (_next_unit(down, unit) - (1 if ftype == "date_nanos" else 1_000_000)) if up else down
        elif unit in ("y", "M"):
            anchor = _add_months(anchor, (int(amount or 1) * (12 if unit == "y" else 1)) * (-1 if op == "-" else 1))
        else:
            anchor += int(amount or 1) * _UNIT_NS[unit] * (-1 if op == "-" else 1)
    if ftype == "date":
        anchor -= anchor % 1_000_000
    return anchor


def _zone_offset_ns(zone: str, at_ns: int) -> int:
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", zone)
    if m:
        sign = -1 if m.group(1) == "-" else 1
        return sign * (int(m.group(2)) * 3600 + int(m.group(3)) * 60) * 1_000_000_000
    offset = datetime.fromtimestamp(at_ns // 1_000_000_000, tz=ZoneInfo(zone)).utcoffset()
    return int(offset.total_seconds()) * 1_000_000_000 if offset else 0


def _range(name: str, params: dict[str, Any], mapping: FakeMapping, now_ns: int) -> Predicate:
    spec = _spec(mapping, name)
    if spec is None:
        return lambda d: False
    ftype = spec.get("type", "keyword")
    bounds: list[tuple[str, Any]] = []
    for op in ("gte", "gt", "lte", "lt"):
        if params.get(op) is None:
            continue
        raw = params[op]
        if ftype in DATE_TYPES:
            bound: Any = date_bound(raw, ftype, up=op in ("gt", "lte"), now_ns=now_ns, fmt=params.get("format"),
                                    time_zone=params.get("time_zone"))
        elif ftype == "ip":
            try:
                bound = ip_key(raw)
            except ValueProblem as exc:
                raise _shard(f"failed to create query: {exc.reason}") from None
        elif ftype in NUMERIC_TYPES:
            try:
                bound = float(raw)
            except (TypeError, ValueError):
                raise _shard(f'failed to create query: For input string: "{raw}"') from None
        elif ftype == "boolean":
            bound = _typed(spec, name, raw)
        else:
            bound = str(raw)
        bounds.append((op, bound))

    def ok(v: Any) -> bool:
        for op, b in bounds:
            if (op == "gte" and not v >= b) or (op == "gt" and not v > b) or (op == "lte" and not v <= b) or (
                    op == "lt" and not v < b):
                return False
        return True

    if ftype in TEXT_TYPES:
        return lambda d: any(ok(t) for v in d.values.get(name, ()) for t in tokens(v))
    return lambda d: any(ok(v) for v in d.values.get(name, ()))


def _exists(name: str, mapping: FakeMapping) -> Predicate:
    if name in ("_id", "_index"):
        return lambda d: True
    if mapping.field(name) is not None:
        return lambda d: bool(d.values.get(name))
    if mapping.is_object_path(name):
        prefix = name + "."
        return lambda d: any(k.startswith(prefix) and v for k, v in d.values.items())
    return lambda d: False


def _match(kind: str, name: str, params: dict[str, Any], mapping: FakeMapping) -> Predicate:
    spec = _spec(mapping, name)
    if spec is None:
        return lambda d: False
    ftype = spec.get("type", "keyword")
    query = params["query"]
    if ftype not in TEXT_TYPES:
        if ftype in KEYWORD_TYPES:
            want = str(query)
            return lambda d: want in d.values.get(name, ())
        return _term(name, query, False, mapping)
    wanted = tokens(str(query))
    if not wanted:
        return lambda d: False
    if kind == "match":
        need_all = str(params.get("operator", "or")).lower() == "and"

        def any_token(d: StoredDoc) -> bool:
            have = {t for v in d.values.get(name, ()) for t in tokens(v)}
            return all(t in have for t in wanted) if need_all else any(t in have for t in wanted)

        return any_token
    slop = int(params.get("slop", 0))

    def phrase(d: StoredDoc) -> bool:
        return any(_has_phrase(tokens(v), wanted, slop) for v in d.values.get(name, ()))

    return phrase


def _has_phrase(have: list[str], want: list[str], slop: int) -> bool:
    n = len(want)
    for start in range(len(have) - n + 1):
        if have[start:start + n] == want:
            return True
    if slop <= 0:
        return False
    positions = [[i for i, t in enumerate(have) if t == w] for w in want]
    for first in positions[0]:
        at = first
        for later in positions[1:]:
            nxt = [p for p in later if at < p <= at + 1 + slop]
            if not nxt:
                break
            at = nxt[0]
        else:
            return True
    return False


# -- sorting --------------------------------------------------------------------------------------------------------


@dataclass
class SortSpec:
    field: str
    descending: bool
    missing_first: bool
    ftype: str | None  # None: _score or _doc


def parse_sort(sort: Any, mappings: Sequence[FakeMapping]) -> list[SortSpec]:
    specs: list[SortSpec] = []
    for item in sort if isinstance(sort, list) else [sort]:
        if isinstance(item, str):
            name, opts = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, raw = next(iter(item.items()))
            opts = {"order": raw} if isinstance(raw, str) else dict(raw)
        else:
            raise _parsing("[sort] malformed sort entry")
        order = str(opts.get("order", "desc" if name == "_score" else "asc")).lower()
        if order not in ("asc", "desc"):
            raise _parsing(f"[sort] unknown order [{order}]")
        missing = str(opts.get("missing", "_last"))
        if name in ("_score", "_doc"):
            specs.append(SortSpec(name, order == "desc", False, None))
            continue
        types = {s.get("type", "keyword") for m in mappings if (s := m.field(name)) is not None}
        if not types:
            unmapped = opts.get("unmapped_type")
            if unmapped is None:
                raise _shard(f"No mapping found for [{name}] in order to sort on")
            types = {str(unmapped)}
        ftype = sorted(types)[0]
        if ftype in TEXT_TYPES:
            raise _shard(_fielddata(name), "illegal_argument_exception")
        specs.append(SortSpec(name, order == "desc", missing == "_first", ftype))
    return specs


def _fielddata(name: str) -> str:
    return (f"Fielddata is disabled on [{name}] in [index]. Text fields are not optimised for operations that "
            "require per-document field data like aggregations and sorting, so these operations are disabled by "
            "default. Please use a keyword field instead. Alternatively, set fielddata=true on "
            f"[{name}] in order to load field data by uninverting the inverted index. Note that this can use "
            "significant memory.")


def _sort_value(spec: SortSpec, doc: StoredDoc, score: float) -> Any:
    """The value returned in a hit's `sort` (and accepted back in search_after)."""
    if spec.field == "_score":
        return score
    if spec.field == "_doc":
        return doc.seq
    values = doc.values.get(spec.field, [])
    ftype = spec.ftype or "keyword"
    if not values:
        if ftype in NUMERIC_TYPES or ftype in DATE_TYPES or ftype == "boolean":
            last = not spec.missing_first
            return (LONG_MIN if last else LONG_MAX) if spec.descending else (LONG_MAX if last else LONG_MIN)
        return None
    value = max(values) if spec.descending else min(values)
    if ftype == "date":
        return value // 1_000_000
    if ftype == "boolean":
        return 1 if value else 0
    if ftype == "ip":
        return ip_text(value)
    return value


def _comparable(spec: SortSpec, value: Any) -> Any:
    """A sort value (from a hit or search_after) in the form the field compares in."""
    if value is None:
        return None
    ftype = spec.ftype or ""
    if ftype == "ip" and isinstance(value, str):
        return ip_key(value)
    if ftype == "date" and isinstance(value, str):
        return parse_date_ns(value) // 1_000_000
    if ftype == "date_nanos" and isinstance(value, str):
        return parse_date_ns(value)
    if ftype in FLOAT_TYPES | INT_TYPES and isinstance(value, str):
        return float(value)
    return value


def _compare(specs: Sequence[SortSpec], a: Sequence[Any], b: Sequence[Any]) -> int:
    for spec, x, y in zip(specs, a, b, strict=True):
        x, y = _comparable(spec, x), _comparable(spec, y)
        if x == y:
            continue
        if x is None or y is None:  # missing keyword values: last unless missing is _first
            first = (x is None) == spec.missing_first
            return -1 if first else 1
        less = x < y
        return (1 if less else -1) if spec.descending else (-1 if less else 1)
    return 0


# -- aggregations -----------------------------------------------------------------------------------------------


_METRICS = ("sum", "min", "max", "avg", "value_count", "cardinality")


def _field_type(mappings: Sequence[FakeMapping], name: str) -> str | None:
    for m in mappings:
        spec = m.field(name)
        if spec is not None:
            return str(spec.get("type", "keyword"))
    return None


def run_aggs(aggs: Any, docs: Sequence[StoredDoc], mappings: Sequence[FakeMapping]) -> dict[str, Any]:
    if not isinstance(aggs, dict):
        raise _parsing("[aggs] must be an object")
    out: dict[str, Any] = {}
    for name, spec in aggs.items():
        if not isinstance(spec, dict):
            raise _parsing(f"[{name}] aggregation must be an object")
        subs = spec.get("aggs", spec.get("aggregations"))
        kinds = [k for k in spec if k not in ("aggs", "aggregations", "meta")]
        if len(kinds) != 1:
            raise _parsing(f"Expected [START_OBJECT] under [{name}]: one aggregation type per name")
        kind = kinds[0]
        body = spec[kind]
        if kind == "terms":
            out[name] = _terms(name, body, subs, docs, mappings)
        elif kind in _METRICS:
            if subs:
                raise _parsing(f"Aggregator [{name}] of type [{kind}] cannot accept sub-aggregations")
            out[name] = _metric(kind, body, docs, mappings)
        else:
            raise _parsing(f"Unknown aggregation type [{kind}]")
    return out


def _metric(kind: str, body: Any, docs: Sequence[StoredDoc], mappings: Sequence[FakeMapping]) -> dict[str, Any]:
    field = str(body.get("field")) if isinstance(body, dict) else ""
    ftype = _field_type(mappings, field)
    if ftype in TEXT_TYPES:
        raise _shard(_fielddata(field), "illegal_argument_exception")
    values = [v for d in docs for v in d.values.get(field, ())]
    if kind == "value_count":
        return {"value": len(values)}
    if kind == "cardinality":
        return {"value": len(set(values))}
    if ftype is not None and ftype not in NUMERIC_TYPES and ftype not in DATE_TYPES and ftype != "boolean":
        raise _shard(f"Field [{field}] of type [{ftype}] is not supported for aggregation [{kind}]",
                     "illegal_argument_exception")
    nums = [float(v) / (1_000_000 if ftype in DATE_TYPES else 1) for v in values]
    if kind == "sum":
        return {"value": float(sum(nums))}
    if kind == "avg":
        return {"value": sum(nums) / len(nums) if nums else None}
    if not nums:
        return {"value": None}
    found = min(nums) if kind == "min" else max(nums)
    result: dict[str, Any] = {"value": found}
    if ftype in DATE_TYPES:
        result["value_as_string"] = format_date_ns(int(found * 1_000_000), "date")
    return result


def _bucket_key(ftype: str | None, value: Any) -> tuple[Any, str | None]:
    if ftype in DATE_TYPES:
        return value // 1_000_000, format_date_ns(value - value % 1_000_000, "date")
    if ftype == "boolean":
        return (1 if value else 0), ("true" if value else "false")
    if ftype == "ip":
        return ip_text(value), None
    return value, None


def _terms(name: str, body: Any, subs: Any, docs: Sequence[StoredDoc],
           mappings: Sequence[FakeMapping]) -> dict[str, Any]:
    if not isinstance(body, dict) or "field" not in body:
        raise _parsing(f"[terms] aggregation [{name}] needs a field")
    field = str(body["field"])
    ftype = _field_type(mappings, field)
    if ftype in TEXT_TYPES:
        raise _shard(_fielddata(field), "illegal_argument_exception")
    size = int(body.get("size", 10))
    if size < 1:
        raise _parsing(f"[size] must be greater than 0. Found [{size}] in [{name}]")
    min_doc_count = int(body.get("min_doc_count", 1))
    missing = body.get("missing")
    groups: dict[Any, list[StoredDoc]] = {}
    for doc in docs:
        values = set(doc.values.get(field, ()))
        if not values and missing is not None:
            values = {convert(ftype or "keyword", missing)}
        for value in values:
            groups.setdefault(value, []).append(doc)
    buckets: list[dict[str, Any]] = []
    for value, members in groups.items():
        if len(members) < min_doc_count:
            continue
        key, key_text = _bucket_key(ftype, value)
        bucket: dict[str, Any] = {"key": key}
        if key_text is not None:
            bucket["key_as_string"] = key_text
        bucket["doc_count"] = len(members)
        if subs:
            bucket.update(run_aggs(subs, members, mappings))
        buckets.append(bucket)
    order = body.get("order", [{"_count": "desc"}])
    orders = order if isinstance(order, list) else [order]
    keys: list[tuple[str, bool]] = []
    for entry in orders:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise _parsing(f"[order] of terms aggregation [{name}] must be objects of one key")
        (path, direction), = entry.items()
        if path not in ("_count", "_key") and (not subs or path.split(".")[0] not in subs):
            raise SearchError(400, "aggregation_execution_exception",
                              f"Invalid aggregation order path [{path}]. The provided aggregation [{path}] "
                              "either does not exist, or is a pipeline aggregation and cannot be used to sort "
                              "the buckets.")
        keys.append((path, str(direction).lower() == "desc"))
    if not any(p == "_key" for p, _ in keys):
        keys.append(("_key", False))

    def order_value(bucket: dict[str, Any], path: str) -> Any:
        if path == "_count":
            return bucket["doc_count"]
        if path == "_key":
            return bucket["key"]
        agg, _, metric = path.partition(".")
        value = bucket[agg].get(metric or "value")
        return float("-inf") if value is None else value

    def cmp(a: dict[str, Any], b: dict[str, Any]) -> int:
        for path, desc in keys:
            x, y = order_value(a, path), order_value(b, path)
            if x != y:
                return (1 if x < y else -1) if desc else (-1 if x < y else 1)
        return 0

    buckets.sort(key=functools.cmp_to_key(cmp))
    shown, rest = buckets[:size], buckets[size:]
    return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": sum(b["doc_count"] for b in rest),
            "buckets": shown}


# -- the search itself ------------------------------------------------------------------------------------------


def _source_filter(source: dict[str, Any], spec: Any) -> dict[str, Any] | None:
    if spec is None or spec is True:
        return source
    if spec is False:
        return None
    includes: list[str]
    excludes: list[str] = []
    if isinstance(spec, str):
        includes = [spec]
    elif isinstance(spec, list):
        includes = [str(s) for s in spec]
    else:
        includes = [str(s) for s in _clauses(spec.get("includes", spec.get("include")))]
        excludes = [str(s) for s in _clauses(spec.get("excludes", spec.get("exclude")))]

    def keep(path: str, is_leaf: bool) -> bool | None:
        if any(_wildcard_regex(p, False).fullmatch(path) for p in excludes):
            return False
        if not includes:
            return True
        if any(_wildcard_regex(p, False).fullmatch(path) or path.startswith(p + ".") for p in includes):
            return True
        return None if not is_leaf and any(p.startswith(path + ".") or "*" in p for p in includes) else False

    def walk(node: dict[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            path = prefix + key
            decision = keep(path, not isinstance(value, dict))
            if decision is True and not (excludes and isinstance(value, dict)):
                out[key] = value
            elif isinstance(value, dict) and decision is not False:
                inner = walk(value, path + ".")
                if inner:
                    out[key] = inner
        return out

    return walk(source, "")


def search(docs: Sequence[StoredDoc], mappings: dict[str, FakeMapping], body: dict[str, Any],
           now_ns: int) -> dict[str, Any]:
    """A _search over the given documents (already limited to the target indices and to what a refresh made
    visible). `mappings`: index name -> mapping of every target index, documents or not."""
    allowed = {"query", "size", "from", "sort", "search_after", "track_total_hits", "aggs", "aggregations",
               "_source", "timeout", "track_scores", "runtime_mappings", "fields", "stored_fields", "version",
               "seq_no_primary_term", "profile", "explain", "min_score", "terminate_after", "post_filter"}
    for key in body:
        if key not in allowed:
            raise _parsing(f"Unknown key for a START_OBJECT in [{key}].")
    query = body.get("query", {"match_all": {}})
    predicates = {name: compile_query(query, m, now_ns) for name, m in mappings.items()}
    if not predicates:
        compile_query(query, FakeMapping(), now_ns)  # still reject malformed queries
    filtered = any(k in ("bool",) and not (query["bool"].get("must") or query["bool"].get("should"))
                   for k in query) if isinstance(query, dict) else False
    score = 0.0 if filtered or "match_all" in query else 1.0
    matched = [d for d in docs if predicates[d.index](d)]
    size = int(body.get("size", 10))
    start = int(body.get("from", 0))
    if size < 0 or start < 0:
        raise _parsing("[from] and [size] must be non-negative")
    if start + size > MAX_RESULT_WINDOW:
        raise _shard(f"Result window is too large, from + size must be less than or equal to: "
                     f"[{MAX_RESULT_WINDOW}] but was [{start + size}]. See the scroll api for a more efficient way "
                     "to request large data sets. This limit can be set by changing the "
                     "[index.max_result_window] index level setting.", "illegal_argument_exception")
    sort = body.get("sort")
    specs = parse_sort(sort, list(mappings.values())) if sort is not None else []
    ordered = sorted(matched, key=lambda d: (d.index, d.seq))
    keyed = [(d, [_sort_value(s, d, score) for s in specs]) for d in ordered]
    if specs:
        keyed.sort(key=functools.cmp_to_key(lambda a, b: _compare(specs, a[1], b[1])))
    after = body.get("search_after")
    if after is not None:
        if not specs:
            raise _parsing("Sort must contain at least one field when search_after is used")
        if start:
            raise _parsing("[from] parameter must be set to 0 when [search_after] is used")
        if not isinstance(after, list) or len(after) != len(specs):
            raise _parsing(f"search_after has {len(after) if isinstance(after, list) else 1} value(s) but sort has "
                           f"{len(specs)}.")
        keyed = [(d, v) for d, v in keyed if _compare(specs, v, after) > 0]
    page = keyed[start:start + size]
    hits = []
    for doc, values in page:
        hit: dict[str, Any] = {"_index": doc.index, "_id": doc.id,
                               "_score": None if specs and not body.get("track_scores") else score}
        src = _source_filter(doc.source, body.get("_source"))
        if src is not None:
            hit["_source"] = src
        if specs:
            hit["sort"] = values
        hits.append(hit)
    total = len(matched)
    hits_out: dict[str, Any] = {}
    track = body.get("track_total_hits", DEFAULT_TRACK_TOTAL)
    if track is True:
        hits_out["total"] = {"value": total, "relation": "eq"}
    elif track is not False:
        cap = int(track)
        hits_out["total"] = {"value": min(total, cap), "relation": "gte" if total > cap else "eq"}
    hits_out["max_score"] = None if specs or not page else score
    hits_out["hits"] = hits
    answer: dict[str, Any] = {"took": 1, "timed_out": False,
                              "_shards": {"total": len(mappings), "successful": len(mappings), "skipped": 0,
                                          "failed": 0},
                              "hits": hits_out}
    aggs = body.get("aggs", body.get("aggregations"))
    if aggs is not None:
        answer["aggregations"] = run_aggs(aggs, matched, list(mappings.values()))
    return answer


def count(docs: Sequence[StoredDoc], mappings: dict[str, FakeMapping], body: dict[str, Any],
          now_ns: int) -> dict[str, Any]:
    for key in body:
        if key != "query":
            raise _parsing(f"request does not support [{key}]")
    query = body.get("query", {"match_all": {}})
    predicates = {name: compile_query(query, m, now_ns) for name, m in mappings.items()}
    if not predicates:
        compile_query(query, FakeMapping(), now_ns)
    n = sum(1 for d in docs if predicates[d.index](d))
    return {"count": n, "_shards": {"total": len(mappings), "successful": len(mappings), "skipped": 0, "failed": 0}}
