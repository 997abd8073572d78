"""What the search and who-accessed forms post, checked and turned into what the backends run. The text stays
on the server under a handle (see handles.py); URLs carry only the handle."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from pii_guard.duration import duration_us
from pii_guard.search.fields import FIELDS
from pii_guard.search.query import Node, Term, glob_node, parse_instant, parse_query
from pii_guard.search.request import Sort
from pii_guard.web.guard import Refused

RANGES: Final[tuple[str, ...]] = ("1h", "24h", "7d", "30d", "90d", "365d")
SORTS: Final[dict[str, tuple[str, str]]] = {
    "newest": ("-@timestamp", "newest first"), "oldest": ("@timestamp", "oldest first"),
    "rows": ("-pii.rows", "most rows first"), "bytes": ("-pii.bytes", "most bytes first"),
}
WHO_KINDS: Final[dict[str, str]] = {"record": "record id", "object": "object", "path": "file path"}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    since_us: int
    until_us: int
    label: str  # "7d" or "custom"


@dataclass(frozen=True)
class SearchSpec:
    query: str
    window: Window
    sort: str = "newest"

    def node(self) -> Node:
        return parse_query(self.query)

    def sorts(self) -> tuple[Sort, ...]:
        return (Sort.parse(SORTS[self.sort][0]),) if self.sort != "newest" else (Sort("@timestamp", True),)


@dataclass(frozen=True)
class WhoSpec:
    kind: str  # record, object, path
    subject: str
    window: Window
    reveal: bool = False
    reason: str = ""

    def node(self) -> Node:
        if self.kind == "record":
            return Term(FIELDS["pii.record_ids"], self.subject)
        return glob_node("pii.object", self.subject if self.kind == "object" else "file:" + self.subject)


def window_from(form: dict[str, str], now_us: int, default: str) -> Window:
    """The form's range (1h ... 365d), or its from/to times when given (ISO, UTC without a zone)."""
    start, end = form.get("from", "").strip(), form.get("to", "").strip()
    if start or end:
        try:
            since = parse_instant(start) if start else now_us - duration_us(default)
            until = parse_instant(end, upper=True) + (1 if len(end) == 10 else 0) if end else now_us + 1
        except ValueError:
            raise Refused(400, "from/to: write a time as 2026-11-27 or 2026-11-27T10:15:00Z") from None
        if since >= until:
            raise Refused(400, "the time range is empty: 'from' must come before 'to'")
        return Window(since, until, "custom")
    label = form.get("range") or default
    if label not in RANGES:
        raise Refused(400, f"unknown range {label!r}")
    return Window(now_us + 1 - duration_us(label), now_us + 1, label)


def search_spec(form: dict[str, str], now_us: int) -> SearchSpec:
    text = form.get("query", "").strip() or "*"
    sort = form.get("sort") or "newest"
    if sort not in SORTS:
        raise Refused(400, f"unknown sort {sort!r}")
    spec = SearchSpec(text, window_from(form, now_us, "7d"), sort)
    spec.node()  # a bad query is refused now, with the position of the offending token
    return spec


def who_spec(form: dict[str, str], now_us: int) -> WhoSpec:
    kind = form.get("kind", "")
    subject = form.get("subject", "").strip()
    if kind not in WHO_KINDS:
        raise Refused(400, "choose what to look for: a record id, an object or a file path")
    if not subject:
        raise Refused(400, f"give the {WHO_KINDS[kind]} to look for")
    return WhoSpec(kind, subject, window_from(form, now_us, "365d"))


def ts_of(doc: dict[str, Any]) -> int:
    """A search result's @timestamp back in µs, exactly (for the link to the event's own page)."""
    when = datetime.fromisoformat(str(doc["@timestamp"]).replace("Z", "+00:00"))
    return (when - _EPOCH) // timedelta(microseconds=1)
