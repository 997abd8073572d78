"""Search over the embedded SQLite event store: the query tree compiled to parameterized SQL on a read-only
connection. User text only ever travels as a bound parameter (GLOB patterns are escaped, never spliced)."""

from __future__ import annotations

import ipaddress
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pii_guard.errors import StoreError
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
from pii_guard.store.sqlite import event_key, open_readonly

_OUTPUT = list(FIELDS.values())
_SELECT = ", ".join(f"e.{f.column}" for f in _OUTPUT)
_LISTS_AS_TEXT = {"user.roles", "pii.categories", "pii.record_ids"}  # space-separated in the events row


def _ip_key(text: object) -> bytes | None:
    """A sortable key for IPv4 and IPv6 addresses (v4 mapped into v6), for ranges and CIDR."""
    if not isinstance(text, str):
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv4Address):
        ip = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + ip.packed)
    return ip.packed


def _in_network(text: object, network: str) -> int:
    if not isinstance(text, str):
        return 0
    try:
        return 1 if ipaddress.ip_address(text) in ipaddress.ip_network(network) else 0
    except ValueError:
        return 0


def _glob(parts: tuple[object, ...]) -> str:
    out = []
    for part in parts:
        if part is ANY:
            out.append("*")
        elif part is ONE:
            out.append("?")
        else:
            out.append("".join(f"[{c}]" if c in "*?[" else c for c in str(part)))
    return "".join(out)


DAY_US = 86_400_000_000


def _whole_days(since_us: int, until_us: int) -> tuple[int, int] | None:
    """(first, end): the UTC days wholly inside [since, until), when there are at least two of them."""
    if since_us < 0:
        return None
    first, end = -(-since_us // DAY_US), until_us // DAY_US
    return (first, end) if end - first >= 2 else None


class _Compiler:
    def __init__(self, since_us: int, until_us: int) -> None:
        self.params: list[object] = []
        self.window = (since_us, until_us)

    def side(self, field: Field, condition: str, *values: object) -> str:
        """A list field kept in a side table keyed (value, ts, event_id). Record ids are rare values: read the
        side table's range for the value and time window first. Categories are few and common: probe the side
        table's primary key once per candidate event, which other terms usually narrow."""
        probe = f"EXISTS (SELECT 1 FROM {field.table} s WHERE {condition} AND s.ts = e.ts AND s.event_id = e.id)"
        if field.name == "pii.record_ids":
            # the side table's (value, ts) range gives the few event times; the events' time index finds them
            self.params.extend([*values, *self.window, *values])
            return (f"(e.ts IN (SELECT s.ts FROM {field.table} s WHERE {condition} AND s.ts >= ? AND s.ts < ?)"
                    f" AND {probe})")
        self.params.extend(values)
        return probe

    def sql(self, node: Node) -> str:
        if isinstance(node, MatchAll):
            return "1"
        if isinstance(node, And):
            return "(" + " AND ".join(self.sql(n) for n in node.items) + ")"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.sql(n) for n in node.items) + ")"
        if isinstance(node, Negate):
            return f"NOT coalesce({self.sql(node.item)}, 0)"  # like must_not: events without the field match
        field = node.field
        column = f"e.{field.column}"
        if isinstance(node, Term):
            if field.table is not None:
                key = "category" if field.table == "event_categories" else "record_id"
                return self.side(field, f"s.{key} = ?", node.value)
            if field.kind == "list":
                self.params.append(f" {node.value} ")
                return f"instr(' ' || {column} || ' ', ?) > 0"
            if field.column == "id" and isinstance(node.value, str):
                # the id is not indexed; its 64-bit key is (NULL for the rare event whose key collided)
                self.params.extend([event_key(node.value), node.value])
                return "((e.id_key = ? OR e.id_key IS NULL) AND e.id = ?)"
            self.params.append(int(node.value) if isinstance(node.value, bool) else node.value)
            return f"{column} = ?"
        if isinstance(node, Cidr):
            self.params.append(node.network)
            return f"pii_in_network({column}, ?)"
        if isinstance(node, Wildcard):
            pattern = _glob(node.parts)
            if field.table is not None:
                key = "category" if field.table == "event_categories" else "record_id"
                return self.side(field, f"s.{key} GLOB ?", pattern)
            if field.kind == "list":
                self.params.append(f"* {pattern} *")
                return f"(' ' || {column} || ' ') GLOB ?"
            self.params.append(pattern)
            return f"{column} GLOB ?"
        if isinstance(node, Phrase_):
            self.params.append(node.text.lower())
            return f"instr(lower({column}), ?) > 0"
        if isinstance(node, Exists):
            if field.table is not None:
                return self.side(field, "1")
            return f"{column} IS NOT NULL"
        assert isinstance(node, Between)
        conditions = []
        target = f"pii_ip_key({column})" if field.kind == "ip" else column
        for bound, inclusive, low in ((node.low, node.include_low, True), (node.high, node.include_high, False)):
            if bound is None:
                continue
            op = (">=" if inclusive else ">") if low else ("<=" if inclusive else "<")
            if field.kind == "ip":
                conditions.append(f"{target} {op} pii_ip_key(?)")
            else:
                conditions.append(f"{target} {op} ?")
            self.params.append(bound)
        return "(" + " AND ".join(conditions or ["1"]) + ")"


class SqliteSearch:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn = open_readonly(path)
        self._conn.create_function("pii_ip_key", 1, _ip_key, deterministic=True)
        self._conn.create_function("pii_in_network", 2, _in_network, deterministic=True)
        self._user_days: bool | None = None  # whether the store keeps per-day user totals (schema 3 on)

    def _run(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        """A read on the read-only connection; SQLite's errors (unreadable file, not a database) become a
        StoreError that says what to check."""
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the event store {self._path}: {exc}",
                             hint="check that it is an event store pii-guard wrote and that you may read it and "
                                  "its -wal and -shm files") from None

    def _where(self, request: SearchRequest) -> tuple[str, list[object]]:
        compiler = _Compiler(request.since_us, request.until_us)
        condition = compiler.sql(request.query)
        return f"e.ts >= ? AND e.ts < ? AND {condition}", [request.since_us, request.until_us, *compiler.params]

    def search(self, request: SearchRequest) -> list[dict[str, Any]]:
        where, params = self._where(request)
        order = [f"e.{FIELDS[s.field].column} {'DESC' if s.descending else 'ASC'}" for s in request.sort]
        sql = f"SELECT {_SELECT} FROM events e WHERE {where} ORDER BY {', '.join([*order, 'e.id'])} LIMIT ?"
        rows = self._run(sql, [*params, request.limit]).fetchall()
        return [_document(tuple(row)) for row in rows]

    def count(self, request: SearchRequest) -> int:
        where, params = self._where(request)
        return int(self._run(f"SELECT count(*) FROM events e WHERE {where}", params).fetchone()[0])

    def top(self, request: SearchRequest, field: str, by: str | None, size: int) -> list[TopRow]:
        days = _whole_days(request.since_us, request.until_us)
        if field == "user.name" and isinstance(request.query, MatchAll) and days is not None and self._has_days():
            return self._top_users_by_day(request, by, size, *days)
        return self._top(request, field, by, size)

    def _has_days(self) -> bool:
        if self._user_days is None:
            found = self._run("SELECT 1 FROM sqlite_master WHERE name = 'user_days'").fetchone()
            self._user_days = found is not None
        return self._user_days

    def _top_users_by_day(self, request: SearchRequest, by: str | None, size: int, first: int, end: int) -> list[
            TopRow]:  # fmt: skip
        """Whole UTC days from the per-day totals, the partial days at either end from the events."""
        volume = {None: "0", "pii.rows": "sum(rows)", "pii.bytes": "sum(bytes)"}[by]
        totals: dict[str, list[int]] = {}
        for value, events, vol in self._run(
            f"SELECT user_name, sum(events), {volume} FROM user_days WHERE day >= ? AND day < ? GROUP BY user_name",
            (first, end),
        ):
            totals[value] = [int(events), int(vol or 0)]
        edges = ((request.since_us, first * DAY_US), (end * DAY_US, request.until_us))
        for since, until in edges:
            if since < until:
                part = SearchRequest(request.query, since, until, (), request.limit)
                for row in self._top(part, "user.name", by, None):
                    total = totals.setdefault(str(row.value), [0, 0])
                    total[0] += row.events
                    total[1] += row.volume
        ranked = sorted(totals.items(), key=(lambda kv: (-kv[1][1], -kv[1][0], kv[0])) if by else
                        (lambda kv: (-kv[1][0], -kv[1][1], kv[0])))
        return [TopRow(value, events, vol) for value, (events, vol) in ranked[:size]]

    def _top(self, request: SearchRequest, field: str, by: str | None, size: int | None) -> list[TopRow]:
        spec = FIELDS[field]
        where, params = self._where(request)
        volume = f"sum(coalesce(e.{FIELDS[by].column}, 0))" if by else "0"
        order = "volume DESC, events DESC" if by else "events DESC, volume DESC"
        if spec.table is not None:
            key = "category" if spec.table == "event_categories" else "record_id"
            sql = (f"SELECT t.{key} AS value, count(*) AS events, {volume} AS volume FROM events e "
                   f"JOIN {spec.table} t ON t.event_id = e.id AND t.ts = e.ts WHERE {where} "
                   f"GROUP BY t.{key} ORDER BY {order}, value LIMIT ?")
        else:
            # NULLs are dropped after grouping: a NOT NULL filter would let SQLite pick the column's partial
            # index and scan every event instead of the time range
            sql = (f"SELECT e.{spec.column} AS value, count(*) AS events, {volume} AS volume FROM events e "
                   f"WHERE {where} GROUP BY e.{spec.column} HAVING value IS NOT NULL "
                   f"ORDER BY {order}, value LIMIT ?")
        rows = self._run(sql, [*params, -1 if size is None else size]).fetchall()
        return [TopRow(r[0], int(r[1]), int(r[2] or 0)) for r in rows]

    def close(self) -> None:
        self._conn.close()


def _document(row: tuple[Any, ...]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for field, value in zip(_OUTPUT, row, strict=True):
        if value is None:
            continue
        if field.name == "@timestamp":
            doc[field.name] = format_timestamp(int(value))
        elif field.name in _LISTS_AS_TEXT:
            doc[field.name] = str(value).split()
        elif field.kind == "bool":
            doc[field.name] = bool(value)
        else:
            doc[field.name] = value
    return doc
