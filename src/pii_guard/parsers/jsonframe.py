"""Framing JSON records out of a line stream, as the JSON-writing servers and shippers lay them out:

- one object per line (JSON lines: Winlogbeat's file output, CloudWatch/EventBridge exports, Percona);
- one JSON *array* spread over lines, one element per line with a trailing comma, the `[` and `]` on lines of
  their own or on the first and last element's line (MySQL Enterprise Audit's JSON file, Percona's
  audit_log_filter "JSONL");
- a pretty-printed object or array element spanning many lines (`jq .` output, test fixtures), which is
  complete when its braces balance;
- a whole array on one line.

A record whose first line parses is decoded with no scanning at all. Only an object that does not parse on
its first line is buffered, with a brace/bracket depth count that ignores brackets inside strings, until it
closes or grows past the bounds (then it is a `ParseFailure`, never unbounded memory). A record cut short (a
crash mid-write) must not swallow the records after it: while one is open, a line that opens a value at the
open record's indentation or less starts a new record (inside a well-formed pretty-printed record every line
but the closing one is indented deeper), and the cut one becomes a `ParseFailure`. Unwrapping documents
(`{"Records": [...]}`, `{"events": [...]}`) is the format's business: the framer yields whole JSON values.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import orjson

from pii_guard.parsers.base import ParseFailure

_PUNCTUATION: Final = frozenset({"[", "]", ",", "],", "[,"})


class Framed(NamedTuple):
    offset: int  # byte offset of the record's first line
    text: str  # the record's text (its lines joined by newlines, array punctuation removed)
    value: Any  # the decoded JSON value


def _scan(text: str, depth: int, in_string: bool) -> tuple[int, bool, int]:
    """Depth and in-string state after `text`; the index just past the point where depth fell back to
    zero (-1 if it did not). A negative depth is reported as is (malformed input)."""
    escape = False
    for i, ch in enumerate(text):
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth <= 0:
                return depth, in_string, i + 1
    return depth, in_string, -1


def _lead(s: str) -> str:
    """A stripped line without the array punctuation before its record: a leading `[` or `,`."""
    if s[:1] in ("[", ",") and s[1:].lstrip()[:1] == "{":
        return s[1:].lstrip()
    return s


def _core(lead: str) -> str:
    """`_lead` without the punctuation after a one-line record: a trailing `,` or the array's `]`."""
    s = lead
    while s[-1:] in (",", "]"):
        s = s[:-1].rstrip()
    return s


class JsonRecordFramer:
    """Feeds physical lines, yields `Framed` records and `ParseFailure`s; see the module docstring."""

    __slots__ = ("_buf", "_chars", "_depth", "_indent", "_start", "max_chars", "max_lines")

    def __init__(self, max_lines: int = 100_000, max_chars: int = 64 << 20) -> None:
        self.max_lines = max_lines
        self.max_chars = max_chars
        self._buf: list[str] | None = None
        self._start = 0
        self._depth = 0
        self._chars = 0
        self._indent = 0

    def pending_offset(self) -> int | None:
        return self._start if self._buf is not None else None

    def feed(self, offset: int, line: str) -> list[Framed | ParseFailure]:
        if self._buf is not None:
            body = line.lstrip()
            if body[:1] in ("{", "[") and len(line) - len(body) <= self._indent:  # the open record was cut short
                out: list[Framed | ParseFailure] = [*self._drop("JSON record cut short (a new record starts first)")]
                return out + self.feed(offset, line)
            return self._continue(line)
        s = line.strip().lstrip("\ufeff")  # a byte-order mark that Windows tools write before the first line
        if not s or s in _PUNCTUATION:
            return []
        if s[0] == "[":  # a whole array on one line, or its first element
            try:
                value = orjson.loads(s.rstrip(","))
            except orjson.JSONDecodeError:
                pass
            else:
                if isinstance(value, list):  # each element is a record of its own, with its own text
                    return [Framed(offset, orjson.dumps(v).decode(), v) for v in value]
        lead = _lead(s)
        if lead[0] != "{":
            return [ParseFailure(offset, "not a JSON object", line)]
        try:
            return [Framed(offset, core, orjson.loads(core))] if (core := _core(lead)) else []
        except orjson.JSONDecodeError as exc:
            depth, in_string, end = _scan(lead, 0, False)
            # an object that goes on over the next lines; a line that ends inside a string was cut instead
            # (a JSON string cannot hold a raw line break)
            if depth > 0 and end < 0 and not in_string:
                self._buf = [lead]
                self._indent = len(line) - len(line.lstrip())
                self._start = offset
                self._depth = depth
                self._chars = len(lead)
                return []
            return [ParseFailure(offset, f"invalid JSON: {exc}", line)]

    def flush(self) -> list[ParseFailure]:
        """End of input: a record still open is cut short."""
        return self._drop("JSON record not complete at the end of the file")

    def _drop(self, reason: str) -> list[ParseFailure]:
        if self._buf is None:
            return []
        text = "\n".join(self._buf[:200])
        start = self._start
        self._buf = None
        return [ParseFailure(start, reason, text[:4096])]

    def _continue(self, line: str) -> list[Framed | ParseFailure]:
        buf = self._buf
        assert buf is not None
        depth, in_string, end = _scan(line, self._depth, False)
        if end >= 0:
            buf.append(line[:end])
            text = "\n".join(buf)
            start = self._start
            self._buf = None
            if depth < 0:
                return [ParseFailure(start, "unbalanced JSON brackets", text[:4096])]
            try:
                return [Framed(start, text, orjson.loads(text))]
            except orjson.JSONDecodeError as exc:
                return [ParseFailure(start, f"invalid JSON: {exc}", text[:4096])]
        buf.append(line)
        self._depth = depth
        self._chars += len(line) + 1
        reason = None
        if in_string:
            reason = "JSON record cut short (a line ends inside a string)"
        elif len(buf) > self.max_lines or self._chars > self.max_chars:
            reason = f"JSON record longer than {self.max_lines} lines or {self.max_chars} characters"
        return [*self._drop(reason)] if reason is not None else []
