"""JSON lines written by applications: one audit record per line, ECS field names unless mapped.

Applications are the only place that knows *which* records a user looked at (a CRM's "view customer 4711"),
so their audit logs carry `pii.record_ids`, which database and file logs cannot. Every application names its
keys differently; `fields` maps each event attribute to a dotted path in the record, and `action_map` maps the
application's verbs to pii-guard's (`view` -> read, `download` -> export). A dotted path matches nested objects
(`{"user": {"name": ...}}`), dotted keys (`{"user.name": ...}`, as ecs-logging writes them) and mixtures.

Example source options::

    format: jsonl
    options:
      dataset: crm.audit
      object_prefix: "crm:"
      fields: {timestamp: ts, user: actor.login, source_ip: ip, action: op, outcome: result,
               object: resource, rows: count, record_ids: subject_ids}
      action_map: {view: read, search: read, download: export, update: write}

Privacy: when the source masks literals (`privacy.mask_literals`, the default), a record's SQL statement
(`pii.statement`) has its literals masked (`sqlmask`, MySQL dialect: '…', "…", numbers), and URLs have their
query values masked (`weblog.mask_url`: the object, `url.original`, `url.full`, `http.request.referrer`, and
`url.query`), at their ECS paths and at the paths `extra` copies into those ECS names; `event.original` is then
the record re-serialised with the masked values, never the raw line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pii_guard.model import ACTIONS, FAILURE, OTHER, SUCCESS, UNKNOWN
from pii_guard.model import AccessEvent as Event
from pii_guard.parsers.base import NOTHING, Outcome, ParseFailure, Parser, SourceContext
from pii_guard.parsers.normalize import int_of, text_of
from pii_guard.parsers.sqlmask import SqlMasker
from pii_guard.parsers.timeparse import EpochCache, TimestampError, fraction_us
from pii_guard.parsers.verbs import verb_action
from pii_guard.parsers.weblog import mask_query, mask_url

_MISSING: Final = object()
_SUCCESS_WORDS: Final = frozenset({"success", "succeeded", "ok", "allowed", "allow", "granted", "passed", "true"})
_FAILURE_WORDS: Final = frozenset(
    {"failure", "failed", "fail", "denied", "deny", "error", "forbidden", "unauthorized", "rejected", "false"}
)
# ECS names whose values are masked (see the module docstring): statement, URLs, a bare query string
_STATEMENT_NAMES: Final = frozenset({"pii.statement"})
_URL_NAMES: Final = frozenset({"url.original", "url.full", "http.request.referrer"})
_QUERY_NAMES: Final = frozenset({"url.query"})
_ISO: Final = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)([.,]\d+)?(Z|[+-]\d\d(?::?\d\d)?)?\Z", re.I)


class FieldMap(BaseModel):
    """Where each event attribute is in a record (dotted paths). Defaults are the ECS names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timestamp: str = "@timestamp"
    user: str = "user.name"
    source_ip: str = "source.ip"
    source_port: str = "source.port"
    host: str = "host.name"
    action: str = "event.action"
    outcome: str = "event.outcome"
    object: str = "pii.object"
    rows: str = "pii.rows"
    bytes: str = "pii.bytes"
    record_ids: str = "pii.record_ids"
    error_code: str = "error.code"


class JsonLinesOptions(BaseModel):
    """`extra` copies further values into the event's ECS fields: {ECS name: path in the record}.
    `max_record_ids` bounds the ids kept per event (an export may list thousands); `pii.rows` still counts
    them all when the record has no row count of its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "app.audit"
    fields: FieldMap = FieldMap()
    action_map: dict[str, str] = Field(default_factory=dict)
    object_prefix: str = "app:"
    extra: dict[str, str] = Field(default_factory=dict)
    max_record_ids: int = Field(default=1000, ge=1)

    @field_validator("action_map")
    @classmethod
    def _known_actions(cls, value: dict[str, str]) -> dict[str, str]:
        for verb, action in value.items():
            if action not in ACTIONS:
                raise ValueError(f"action_map: {verb!r} -> {action!r}: not one of {', '.join(sorted(ACTIONS))}")
        return value


def lookup(doc: dict[str, Any], path: str) -> Any:
    """The value at a dotted path, through nested objects or dotted keys; `_MISSING` if absent."""
    value = doc.get(path, _MISSING)
    if value is not _MISSING:
        return value
    head, dot, rest = path.partition(".")
    while dot:
        sub = doc.get(head)
        if isinstance(sub, dict):
            value = lookup(sub, rest)
            if value is not _MISSING:
                return value
        part, dot, rest = rest.partition(".")
        head = head + "." + part
    return _MISSING


def replace_at(doc: dict[str, Any], path: str, new: str) -> None:
    """Replace the value at a dotted path, where `lookup` finds it."""
    if path in doc:
        doc[path] = new
        return
    head, dot, rest = path.partition(".")
    while dot:
        sub = doc.get(head)
        if isinstance(sub, dict) and lookup(sub, rest) is not _MISSING:
            replace_at(sub, rest, new)
            return
        part, dot, rest = rest.partition(".")
        head = head + "." + part


def _query_masked(text: str) -> str:
    return "?" + mask_query(text[1:]) if text.startswith("?") else mask_query(text)


def outcome_of(value: Any) -> str:
    """`success`/`failure` and their usual synonyms, booleans, HTTP-like status numbers."""
    if value is _MISSING or value is None:
        return UNKNOWN
    if isinstance(value, bool):
        return SUCCESS if value else FAILURE
    if isinstance(value, int):
        return FAILURE if value >= 400 else SUCCESS
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _SUCCESS_WORDS:
            return SUCCESS
        if word in _FAILURE_WORDS:
            return FAILURE
    return UNKNOWN


class JsonLinesParser(Parser):
    """Application audit logs as JSON lines; see the module docstring for the options."""

    name = "jsonl"
    dataset = "app.audit"
    description = "JSON lines from applications (ECS names, or a field mapping)"
    Options = JsonLinesOptions

    def __init__(self, context: SourceContext, options: BaseModel | None = None) -> None:
        super().__init__(context, options)
        opts = self.options
        assert isinstance(opts, JsonLinesOptions)
        self._opts = opts
        self._map = opts.fields
        self._tz = context.tz or UTC
        self._seconds = EpochCache(self._iso_seconds)
        self._verbs: dict[str, str] = {}  # verb -> action (`verb_action`), cleared past 4096 verbs
        # (path, how to mask its text) for each masked value, None when the source does not mask
        self._masked: tuple[tuple[str, Callable[[str], str]], ...] | None = None
        if context.mask_literals:
            sql = SqlMasker("mysql")  # '…', "…" and numbers alike: an application may log either dialect
            masks: dict[str, Callable[[str], str]] = {"pii.statement": sql, self._map.object: mask_url}
            masks.update((name, mask_url) for name in _URL_NAMES)
            masks.update((name, _query_masked) for name in _QUERY_NAMES)
            for target, path in opts.extra.items():
                if target in _STATEMENT_NAMES:
                    masks[path] = sql
                elif target in _URL_NAMES:
                    masks[path] = mask_url
                elif target in _QUERY_NAMES:
                    masks[path] = _query_masked
            self._masked = tuple(masks.items())

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        if not line.strip():
            return NOTHING
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            return (ParseFailure(offset, f"invalid JSON: {exc}", line),)
        if not isinstance(doc, dict):
            return (ParseFailure(offset, f"a JSON {type(doc).__name__}, not an object", line),)
        fm = self._map
        stamp = lookup(doc, fm.timestamp)
        if stamp is _MISSING or stamp is None:
            return (ParseFailure(offset, f"no timestamp: key {fm.timestamp!r} (option fields.timestamp)", line),)
        try:
            time_us = self.time_us(stamp)
        except (TimestampError, ValueError, OverflowError) as exc:
            return (ParseFailure(offset, f"timestamp at {fm.timestamp!r} (option fields.timestamp): {exc}", line),)
        original = line
        if self._masked is not None:
            original = self._mask(doc, line)
        return (self._event(offset, line, doc, time_us, original),)

    def _mask(self, doc: dict[str, Any], line: str) -> str:
        """Mask the record's statement and URLs in place; the record re-serialised if any changed."""
        changed = False
        for path, mask in self._masked or ():
            value = lookup(doc, path)
            if isinstance(value, str):
                masked = mask(value)
                if masked != value:
                    replace_at(doc, path, masked)
                    changed = True
        return orjson.dumps(doc).decode() if changed else line

    def _event(self, offset: int, line: str, doc: dict[str, Any], time_us: int, original: str) -> Event:
        fm, opts = self._map, self._opts
        verb = text_of(lookup(doc, fm.action))
        action = OTHER
        if verb is not None:
            action = opts.action_map.get(verb) or self._verbs.get(verb) or self._learn(verb)
        record_ids = self._record_ids(lookup(doc, fm.record_ids))
        rows = int_of(lookup(doc, fm.rows))
        if rows is None and record_ids:
            rows = len(record_ids[1])
        obj = text_of(lookup(doc, fm.object))
        fields: dict[str, Any] = {}
        for target, path in opts.extra.items():
            value = lookup(doc, path)
            if value is not _MISSING:
                fields[target] = value
        return Event(
            id=self.ids.make(offset, line),
            time_us=time_us,
            dataset=opts.dataset,
            action=action,
            outcome=outcome_of(lookup(doc, fm.outcome)),
            user=text_of(lookup(doc, fm.user)),
            source_ip=text_of(lookup(doc, fm.source_ip)),
            source_port=int_of(lookup(doc, fm.source_port)),
            host=text_of(lookup(doc, fm.host)) or self.context.host,
            object=opts.object_prefix + obj if obj is not None else None,
            rows=rows,
            bytes=int_of(lookup(doc, fm.bytes)),
            command=verb,
            original=original,
            error_code=text_of(lookup(doc, fm.error_code)),
            record_ids=record_ids[0] if record_ids else (),
            fields=fields,
            offset=offset,
        )

    def _learn(self, verb: str) -> str:
        if len(self._verbs) >= 4096:
            self._verbs.clear()
        action = self._verbs[verb] = verb_action(verb)
        return action

    def _record_ids(self, value: Any) -> tuple[tuple[str, ...], list[str]] | None:
        """(the ids kept, all ids) from a list or a single value; None when there are none."""
        if value is _MISSING or value is None:
            return None
        items = value if isinstance(value, list) else [value]
        ids = [text for text in map(text_of, items) if text is not None]
        if not ids:
            return None
        return tuple(ids[: self._opts.max_record_ids]), ids

    def time_us(self, value: Any) -> int:
        """ISO 8601 text (zone-less: the source's zone, UTC if unset) or epoch seconds / milliseconds /
        microseconds as a number or digit string, told apart by magnitude (1e11 s is the year 5138)."""
        if isinstance(value, bool):
            raise TimestampError("a boolean is not a time")
        if isinstance(value, str) and value.replace(".", "", 1).isdecimal():
            value = float(value) if "." in value else int(value)
        if isinstance(value, int | float):
            magnitude = abs(value)
            scale = 1_000_000 if magnitude < 1e11 else 1_000 if magnitude < 1e14 else 1 if magnitude < 1e17 else 0
            return int(value * scale) if scale else int(value // 1_000)
        if not isinstance(value, str):
            raise TimestampError(f"a JSON {type(value).__name__} is not a time")
        m = _ISO.match(value)
        if m is None:
            when = datetime.fromisoformat(value)  # other ISO 8601 forms; ValueError names the text
            when = when if when.tzinfo else when.replace(tzinfo=self._tz)
            return int(when.timestamp()) * 1_000_000 + when.microsecond
        return self._seconds(m.group(1) + (m.group(3) or "")) * 1_000_000 + fraction_us(m.group(2) or "")

    def _iso_seconds(self, key: str) -> int:
        """'2026-11-27T16:23:32+01:00' (fraction removed) -> epoch seconds; memoized by the caller."""
        naive = datetime.fromisoformat(key[:19].replace(" ", "T"))
        zone = key[19:]
        if not zone:
            return int(naive.replace(tzinfo=self._tz).timestamp())
        if zone in ("Z", "z"):
            return int(naive.replace(tzinfo=UTC).timestamp())
        digits = zone[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) == 4 else 0)
        offset = timedelta(minutes=-minutes if zone[0] == "-" else minutes)
        return int(naive.replace(tzinfo=timezone(offset)).timestamp())
