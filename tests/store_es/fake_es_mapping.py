"""Mappings for the fake Elasticsearch: how a document is checked against its index's mapping at index time
and what it leaves in the index (typed values per dotted field), the way Elasticsearch 8/9 does it.

Dotted keys in a document (`{"user.name": "bob"}`) and nested objects (`{"user": {"name": "bob"}}`) index the
same field. `dynamic` is honoured per object (`strict` rejects, `false` and `runtime` keep unknown fields in
_source only, `true` maps them from the first value). Values are coerced and checked per type; a value the type
cannot take rejects the whole document with the error Elasticsearch answers (400).
"""

from __future__ import annotations

import copy
import ipaddress
import math
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

KEYWORD_TYPES = frozenset({"keyword", "constant_keyword", "wildcard", "version"})
TEXT_TYPES = frozenset({"text", "match_only_text"})
INT_TYPES = frozenset({"long", "integer", "short", "byte", "unsigned_long"})
FLOAT_TYPES = frozenset({"double", "float", "half_float", "scaled_float"})
DATE_TYPES = frozenset({"date", "date_nanos"})
NUMERIC_TYPES = INT_TYPES | FLOAT_TYPES
_INT_RANGES = {"integer": (-(2**31), 2**31 - 1), "short": (-(2**15), 2**15 - 1), "byte": (-128, 127),
               "long": (-(2**63), 2**63 - 1), "unsigned_long": (0, 2**64 - 1)}
LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)

_ISO = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?)?)?)?"
    r"(Z|[+-]\d{2}(?::?\d{2})?)?"
)
_TOKEN = re.compile(r"\w+(?:(?:[.'’]|(?<=[^\W\d_]):(?=[^\W\d_])|(?<=\d)[,;](?=\d))\w+)*")


class DocumentError(Exception):
    """A document the mapping refuses: Elasticsearch's error type, reason and cause."""

    def __init__(self, kind: str, reason: str, caused_by: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.caused_by = caused_by

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "reason": self.reason}
        if self.caused_by is not None:
            out["caused_by"] = self.caused_by
        return out


class ValueProblem(Exception):
    """A value a field type cannot take (the `caused_by` of a parsing error)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def tokens(text: str) -> list[str]:
    """The standard analyzer, closely enough: Unicode word boundaries (UAX#29: `example.com`, `o'neil`,
    `db:crm`, `1,000` stay one token), lowercased."""
    return [m.group(0).lower() for m in _TOKEN.finditer(text)]


# -- values per type ------------------------------------------------------------------------------------------


def parse_date_ns(value: Any, what: str = "date") -> int:
    """strict_date_optional_time||epoch_millis, to nanoseconds since the epoch."""
    if isinstance(value, bool):
        raise ValueProblem("illegal_argument_exception", f"failed to parse date field [{value}]")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueProblem("illegal_argument_exception", f"failed to parse date field [{value}]")
        return round(value * 1_000_000)
    text = str(value)
    if re.fullmatch(r"-?\d+(\.\d+)?", text) and len(text.split(".")[0].lstrip("-")) != 4:
        return round(float(text) * 1_000_000)
    m = _ISO.fullmatch(text)
    if m is None:
        raise ValueProblem("illegal_argument_exception", f"failed to parse date field [{text}] with format "
                           "[strict_date_optional_time||epoch_millis]")
    year, month, day, hour, minute, second, frac, zone = m.groups()
    tz: timezone = UTC
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))
    try:
        stamp = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                         int(second or 0), tzinfo=tz)
    except ValueError as exc:
        raise ValueProblem("illegal_argument_exception", f"failed to parse date field [{text}]: {exc}") from None
    delta = stamp - datetime(1970, 1, 1, tzinfo=UTC)
    nanos = (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    return nanos + int((frac or "0").ljust(9, "0"))


def format_date_ns(nanos: int, kind: str = "date_nanos") -> str:
    seconds, rest = divmod(nanos, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if kind == "date":
        return f"{base}.{rest // 1_000_000:03d}Z"
    frac = f"{rest:09d}".rstrip("0")
    return f"{base}.{frac or '000'}Z" if len(frac) > 3 else f"{base}.{rest // 1_000_000:03d}Z"


def ip_key(value: Any) -> int:
    """An address as Elasticsearch orders them: IPv4 mapped into IPv6."""
    try:
        addr = ipaddress.ip_address(str(value).strip("[]"))
    except ValueError:
        raise ValueProblem("illegal_argument_exception", f"'{value}' is not an IP string literal.") from None
    if isinstance(addr, ipaddress.IPv4Address):
        return (0xFFFF << 32) | int(addr)
    return int(addr)


def ip_text(key: int) -> str:
    addr = ipaddress.IPv6Address(key)
    return str(addr.ipv4_mapped) if addr.ipv4_mapped is not None else str(addr)


def ip_range(text: str) -> tuple[int, int]:
    """The first and last address of a CIDR block, as ip_key values."""
    net = ipaddress.ip_network(text, strict=False)
    if isinstance(net, ipaddress.IPv4Network):
        base = 0xFFFF << 32
        return base | int(net.network_address), base | int(net.broadcast_address)
    return int(net.network_address), int(net.broadcast_address)


def convert(ftype: str, value: Any) -> Any:
    """The value a field of this type indexes, or ValueProblem."""
    if ftype in KEYWORD_TYPES or ftype in TEXT_TYPES:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            return repr(value)
        return str(value)
    if ftype in INT_TYPES:
        if isinstance(value, bool):
            raise ValueProblem("illegal_argument_exception", f"Current token ({str(value).upper()}) not numeric")
        try:
            number = float(value) if not isinstance(value, int) else value
        except (TypeError, ValueError):
            raise ValueProblem("illegal_argument_exception", f'For input string: "{value}"') from None
        if isinstance(number, float):
            if not math.isfinite(number):
                raise ValueProblem("illegal_argument_exception", f'For input string: "{value}"')
            number = int(number)  # coerce: 1.7 -> 1
        low, high = _INT_RANGES.get(ftype, _INT_RANGES["long"])
        if not low <= number <= high:
            raise ValueProblem("illegal_argument_exception",
                               f"Value [{value}] is out of range for {'a long' if ftype == 'long' else ftype}")
        return number
    if ftype in FLOAT_TYPES:
        if isinstance(value, bool):
            raise ValueProblem("illegal_argument_exception", f"Current token ({str(value).upper()}) not numeric")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueProblem("number_format_exception", f'For input string: "{value}"') from None
        if not math.isfinite(number):
            raise ValueProblem("illegal_argument_exception", f"[{ftype}] supports only finite values")
        return number
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if value in ("true", "false", ""):
            return value == "true"
        raise ValueProblem("illegal_argument_exception",
                           f"Failed to parse value [{value}] as only [true] or [false] are allowed.")
    if ftype in DATE_TYPES:
        nanos = parse_date_ns(value)
        if ftype == "date_nanos" and nanos < 0:
            raise ValueProblem("illegal_argument_exception",
                               f"date[{value}] is before the epoch in 1970 and cannot be stored in nanosecond "
                               "resolution")
        return nanos if ftype == "date_nanos" else nanos - nanos % 1_000_000
    if ftype == "ip":
        return ip_key(value)
    return str(value)


# -- the mapping of one index -------------------------------------------------------------------------------


def is_object(spec: dict[str, Any]) -> bool:
    return "properties" in spec or spec.get("type", "object") in ("object", "nested")


def expand(props: dict[str, Any]) -> dict[str, Any]:
    """Dotted property names (`"source.ip": {...}`) as the nested objects Elasticsearch stores them as."""
    out: dict[str, Any] = {}
    for name, spec in props.items():
        spec = dict(spec)
        if "properties" in spec:
            spec["properties"] = expand(spec["properties"])
        parts = name.split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {"properties": {}}).setdefault("properties", {})
        if parts[-1] in node and "properties" in node[parts[-1]] and "properties" in spec:
            node[parts[-1]]["properties"].update(spec["properties"])
        else:
            node[parts[-1]] = spec
    return out


def _dynamic(value: Any, inherited: str) -> str:
    return inherited if value is None else str(value).lower()


class FakeMapping:
    def __init__(self, mappings: dict[str, Any] | None = None, parse_error: str = "document_parsing_exception"):
        mappings = copy.deepcopy(mappings or {})
        self.dynamic = _dynamic(mappings.get("dynamic"), "true")
        self.date_detection = mappings.get("date_detection", True)
        self.meta = mappings.get("_meta")
        self.properties: dict[str, Any] = expand(mappings.get("properties", {}))
        self.parse_error = parse_error

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dynamic": self.dynamic, "properties": copy.deepcopy(self.properties)}
        if self.meta is not None:
            out["_meta"] = self.meta
        if not self.date_detection:
            out["date_detection"] = False
        return out

    def field(self, path: str) -> dict[str, Any] | None:
        """The leaf (or multi-field) spec of a dotted path; objects are not leaves."""
        spec = self.node(path)
        if spec is not None and not is_object(spec):
            return spec
        head, _, sub = path.rpartition(".")
        parent = self.node(head) if head else None
        if parent is not None and not is_object(parent):
            found = parent.get("fields", {}).get(sub)
            return dict(found) if found is not None else None
        return None

    def node(self, path: str) -> dict[str, Any] | None:
        props = self.properties
        parts = path.split(".") if path != "@timestamp" else [path]
        spec: dict[str, Any] | None = None
        for i, part in enumerate(parts):
            spec = props.get(part)
            if spec is None:
                return None
            if i < len(parts) - 1:
                props = spec.get("properties", {})
        return spec

    def is_object_path(self, path: str) -> bool:
        spec = self.node(path)
        return spec is not None and is_object(spec)

    def leaves(self) -> dict[str, str]:
        out: dict[str, str] = {}

        def walk(props: dict[str, Any], prefix: str) -> None:
            for name, spec in props.items():
                if is_object(spec):
                    walk(spec.get("properties", {}), f"{prefix}{name}.")
                else:
                    out[prefix + name] = spec.get("type", "object")
                    for sub, subspec in spec.get("fields", {}).items():
                        out[f"{prefix}{name}.{sub}"] = subspec.get("type", "keyword")
        walk(self.properties, "")
        return out

    # -- indexing ------------------------------------------------------------------------------------------

    def parse(self, doc: dict[str, Any], doc_id: str) -> dict[str, list[Any]]:
        """Check a document and return what it indexes: dotted field -> typed values."""
        out: dict[str, list[Any]] = defaultdict(list)
        source = repr(doc)
        self._walk(self.properties, self.dynamic, doc, "", out, doc_id, source)
        return dict(out)

    def _col(self, source: str, name: str) -> str:
        at = source.find(repr(name))
        return f"[1:{(at if at >= 0 else 0) + len(name) + 3}]"

    def _walk(self, props: dict[str, Any], dynamic: str, obj: dict[str, Any], prefix: str,
              out: dict[str, list[Any]], doc_id: str, source: str) -> None:
        for key, value in obj.items():
            parts = key.split(".") if key != "@timestamp" else [key]
            cur_props, cur_dynamic, cur_prefix = props, dynamic, prefix
            skipped = False
            for part in parts[:-1]:
                spec = cur_props.get(part)
                path = cur_prefix + part
                if spec is None:
                    if cur_dynamic == "strict":
                        raise self._strict(part, cur_prefix, source)
                    if cur_dynamic != "true":
                        skipped = True
                        break
                    spec = cur_props[part] = {"properties": {}}
                elif not is_object(spec):
                    raise DocumentError(self.parse_error, f"{self._col(source, part)} Could not dynamically add "
                                        f"mapping for field [{cur_prefix}{key}]. Existing mapping for [{path}] must "
                                        f"be of type object but found [{spec.get('type')}].")
                cur_dynamic = _dynamic(spec.get("dynamic"), cur_dynamic)
                cur_props = spec.setdefault("properties", {})
                cur_prefix = path + "."
            if not skipped:
                self._value(cur_props, cur_dynamic, parts[-1], value, cur_prefix, out, doc_id, source)

    def _strict(self, name: str, prefix: str, source: str) -> DocumentError:
        within = prefix[:-1] if prefix else "_doc"
        return DocumentError("strict_dynamic_mapping_exception", f"{self._col(source, name)} mapping set to strict, "
                             f"dynamic introduction of [{name}] within [{within}] is not allowed")

    def _value(self, props: dict[str, Any], dynamic: str, name: str, value: Any, prefix: str,
               out: dict[str, list[Any]], doc_id: str, source: str) -> None:
        path = prefix + name
        if value is None:
            return
        spec = props.get(name)
        if spec is None:
            if dynamic == "strict":
                raise self._strict(name, prefix, source)
            if dynamic != "true":
                return
            spec = self._infer(value)
            if spec is None:
                return
            props[name] = spec
        if is_object(spec):
            if spec.get("enabled") is False:
                return
            for item in value if isinstance(value, list) else [value]:
                if item is None:
                    continue
                if not isinstance(item, dict):
                    raise DocumentError(self.parse_error, f"{self._col(source, name)} object mapping for [{path}] "
                                        f"tried to parse field [{name}] as object, but found a concrete value")
                self._walk(spec.setdefault("properties", {}), _dynamic(spec.get("dynamic"), dynamic), item,
                           path + ".", out, doc_id, source)
            return
        ftype = spec.get("type", "keyword")
        for item in _flatten(value):
            if item is None:
                continue
            if isinstance(item, dict):
                raise DocumentError(
                    self.parse_error,
                    f"{self._col(source, name)} failed to parse field [{path}] of type [{ftype}] in document with "
                    f"id '{doc_id}'. Preview of field's value: '{_preview(item)}'",
                    {"type": "illegal_state_exception", "reason": "Can't get text on a START_OBJECT"},
                )
            try:
                typed = convert(ftype, item)
            except ValueProblem as exc:
                if spec.get("ignore_malformed"):
                    continue
                raise DocumentError(
                    self.parse_error,
                    f"{self._col(source, name)} failed to parse field [{path}] of type [{ftype}] in document with "
                    f"id '{doc_id}'. Preview of field's value: '{_preview(item)}'",
                    {"type": exc.kind, "reason": exc.reason},
                ) from None
            if spec.get("index", True) is not False and _fits(spec, typed):
                out[path].append(typed)
            for sub, subspec in spec.get("fields", {}).items():
                try:
                    subtyped = convert(subspec.get("type", "keyword"), item)
                except ValueProblem:
                    continue
                if _fits(subspec, subtyped):
                    out[f"{path}.{sub}"].append(subtyped)

    def _infer(self, value: Any) -> dict[str, Any] | None:
        sample = next((v for v in _flatten(value) if v is not None), None) if isinstance(value, list) else value
        if sample is None:
            return None
        if isinstance(sample, dict):
            return {"properties": {}}
        if isinstance(sample, bool):
            return {"type": "boolean"}
        if isinstance(sample, int):
            return {"type": "long"}
        if isinstance(sample, float):
            return {"type": "float"}
        if self.date_detection and isinstance(sample, str) and _ISO.fullmatch(sample) and len(sample) >= 10:
            return {"type": "date"}
        return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}


def _fits(spec: dict[str, Any], typed: Any) -> bool:
    limit = spec.get("ignore_above")
    return not (limit is not None and isinstance(typed, str) and len(typed) > int(limit))


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            out.extend(_flatten(item))
        return out
    return [value]


def _preview(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    return str(value)
