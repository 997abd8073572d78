"""A search as both stores run it: the query tree, a time range that always bounds it, sorting, a limit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pii_guard.search.fields import FIELDS, SORTABLE
from pii_guard.search.query import Node, QueryError

MAX_LIMIT = 10_000
TOP_BY: frozenset[str] = frozenset({"pii.rows", "pii.bytes"})


@dataclass(frozen=True)
class Sort:
    field: str
    descending: bool

    @classmethod
    def parse(cls, text: str) -> Sort:
        """`-@timestamp` (newest first), `user.name`, `+pii.rows`."""
        name = text.lstrip("+-")
        if name not in SORTABLE:
            raise QueryError(f"cannot sort by {name!r}", text, None, hint="sortable: " + ", ".join(sorted(SORTABLE)))
        return cls(name, text.startswith("-"))


@dataclass(frozen=True)
class SearchRequest:
    query: Node
    since_us: int
    until_us: int  # exclusive
    sort: tuple[Sort, ...] = (Sort("@timestamp", True),)
    limit: int = 100


@dataclass(frozen=True)
class TopRow:
    value: str | int | None
    events: int
    volume: int  # the sum of `by` (0 without it)


class SearchBackend(Protocol):
    def search(self, request: SearchRequest) -> list[dict[str, Any]]:
        """Matching events as flat dicts keyed by the ECS names of search/fields.py, in the requested order."""
        ...

    def count(self, request: SearchRequest) -> int: ...

    def top(self, request: SearchRequest, field: str, by: str | None, size: int) -> list[TopRow]:
        """The most frequent values of `field` (by events, or by the sum of `by`), largest first."""
        ...

    def close(self) -> None: ...


def check_top(field: str, by: str | None) -> None:
    spec = FIELDS.get(field)
    if spec is None or spec.kind in ("text",):
        raise QueryError(f"cannot aggregate on {field!r}", field, None, hint="use a keyword field such as user.name")
    if by is not None and by not in TOP_BY:
        raise QueryError(f"--by takes {' or '.join(sorted(TOP_BY))}, not {by!r}", by, None)
