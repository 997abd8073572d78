"""Framing of PostgreSQL's three log destinations into `ServerRecord`s, and the server's timestamps turned
into epoch microseconds.

The stderr layout is whatever `log_line_prefix` says, so the prefix is compiled once into an anchored regex
whose groups are looked up by position (a `groups()` tuple and fixed indexes: no name lookups per line).
A record is one header line plus the TAB-led lines that continue its message, plus the DETAIL / HINT /
CONTEXT / STATEMENT lines that PostgreSQL writes with the same message (one `write()`, so they are adjacent).
csvlog records may span lines (quoted newlines); jsonlog is one object per line. `pgaudit.py` turns the
records into events, whatever wrote them.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from functools import partial
from typing import Any, Final, NamedTuple

import orjson

from pii_guard.parsers.base import ParseFailure
from pii_guard.parsers.timeparse import EpochCache, TimestampError, fraction_us, zoned_epoch

DEBIAN_PREFIX: Final = "%m [%p] %q%u@%d "
STDERR: Final = "stderr"
CSVLOG: Final = "csvlog"
JSONLOG: Final = "jsonlog"
SYSLOG: Final = "syslog"

_STAMP: Final = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)"
_ZONE: Final = r"([A-Za-z][A-Za-z0-9_/+-]*|[+-]\d\d(?::?\d\d)?)"
# Names match lazily and are bounded (PostgreSQL cuts them to NAMEDATALEN-1 = 63 bytes), so that a line that
# does not match fails fast instead of backtracking for minutes. User and database names are taken to have
# no whitespace (pgbadger's assumption too): with several free-text escapes side by side (%a %i %b) the
# possible splits multiply, and these two are the most common.
_NAME: Final = r"(\S{0,63}?)"
_GREEDY_NAME: Final = r"(\S{0,63})"
_TEXT: Final = r"(.{0,63}?)"  # application names often hold spaces (`pgAdmin 4 - DB:crm`)

# escape -> (regex, roles of its capturing groups in order). Escapes not listed print nothing in PostgreSQL
# (its "format error - ignore it"), so they match nothing here either.
_ESCAPES: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "m": (_STAMP + r"(\.\d+) " + _ZONE, ("stamp", "frac", "zone")),
    "t": (_STAMP + " " + _ZONE, ("stamp", "zone")),
    "n": (r"(\d+)(?:\.(\d+))?", ("epoch", "frac")),
    "s": (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+", ()),
    "p": (r"(\d+)", ("pid",)),
    "P": (r"\d*", ()),
    "l": (r"\d+", ()),
    "c": (r"[0-9a-f]+\.([0-9a-f]+)", ("session_pid",)),  # session id: start time and pid, in hex
    "e": (r"([0-9A-Z]{5})", ("sqlstate",)),
    "x": (r"\d*", ()),
    "v": (r"[0-9/]*", ()),
    "Q": (r"-?\d*", ()),
    "u": (_NAME, ("user",)),
    "d": (_NAME, ("database",)),
    "a": (_TEXT, ("application",)),
    "i": (r".{0,63}?", ()),
    "b": (r".{0,63}?", ()),
    "h": (r"(\S{0,255}?)", ("host",)),
    "r": (r"(\S{0,262}?)", ("remote",)),
    "L": (r"\S{0,63}?", ()),
}
_ESCAPE_TOKEN: Final = re.compile(r"%(-?\d+)?(.)|%\Z", re.S)
_LEVEL: Final = r"(?P<level>[A-Z]+[0-9]?):  "
# `log_error_verbosity = verbose` writes the SQLSTATE after the level (`LOG:  00000: AUDIT: ...`). A class
# code starts with a digit but for F0, HV, P0 and XX, so a message's own first word (`AUDIT:`) is never one.
# Looked for after the prefix's match (`StderrFraming.push`): a group of the prefix's regex cost every line more.
_STATE_FIRST: Final = frozenset("0123456789FHPX")
_VERBOSE_STATE: Final = re.compile(r"(?:[0-9][0-9A-Z]|F0|HV|P0|XX)[0-9A-Z]{3}: ")
ROLES: Final = (
    "stamp", "frac", "zone", "epoch", "pid", "sqlstate", "user", "database", "application", "host", "remote",
    "session_pid",
)  # fmt: skip
# Lines that PostgreSQL writes as part of the message before them (same elog call, same write).
SUBSIDIARY_LEVELS: Final = frozenset({"DETAIL", "HINT", "QUERY", "CONTEXT", "STATEMENT", "LOCATION"})


class CompiledPrefix:
    """One `log_line_prefix`, as a regex that matches a whole header up to and including `LEVEL:  `.

    `index[role]` is the position of that role's group in `match.groups()`, or -1 when the prefix lacks it;
    `layout` is the same in `ROLES` order, for one tuple unpack per line instead of a dict lookup per role.
    A repeated escape prints the same text again, so it matches as a backreference to its first occurrence:
    no new way to split the line, no extra backtracking.
    """

    __slots__ = ("index", "layout", "level", "padded", "pid_at", "regex", "session_pid_at", "text", "timed")

    def __init__(self, text: str, timed: bool = True) -> None:
        """`timed`: the prefix must give the time (a syslog line has its own, so it need not there)."""
        self.text = text
        parts: list[str] = []
        providers: dict[str, str] = {}  # role -> name of the first group that captures it
        seen: set[str] = set()
        tokens = list(_ESCAPE_TOKEN.finditer(text))
        repeated = {k for k in (t.group(2) for t in tokens) if k and sum(t.group(2) == k for t in tokens) > 1}
        optional_from: int | None = None
        pos = 0
        for m in tokens:
            parts.append(re.escape(text[pos : m.start()]))
            pos = m.end()
            key = m.group(2)
            if key is None or key == "%":
                parts.append("%" if key else "")
                continue
            if key == "q":  # non-session processes stop printing the prefix here
                optional_from = optional_from if optional_from is not None else len(parts)
                continue
            pattern, group_roles = _ESCAPES.get(key, ("", ()))
            if key == "u" and text.startswith("@", pos):  # `%u@%d`: a role may be `svc@corp.example`, so
                pattern = _GREEDY_NAME  # the user runs to the last `@` (a database name with one is rarer)
            if not pattern:
                continue
            outer = f"x_{ord(key)}"
            if key in seen:
                piece = f"(?P={outer})"
            else:
                seen.add(key)
                piece = _named(pattern, key, group_roles)
                if key in repeated:  # the later occurrences refer to this one
                    piece = f"(?P<{outer}>{piece})"
                for role in group_roles:
                    providers.setdefault(role, f"{role}_{ord(key)}")
            parts.append(f" *{piece} *" if m.group(1) else piece)  # %-10u / %10u pad with spaces
        parts.append(re.escape(text[pos:]))
        if optional_from is not None:
            parts[optional_from:] = ["(?:" + "".join(parts[optional_from:]) + ")?"]
        self.regex = re.compile("".join(parts) + _LEVEL)
        groups = self.regex.groupindex
        self.index = {role: groups[providers[role]] - 1 if role in providers else -1 for role in ROLES}
        self.layout = tuple(self.index[role] for role in ROLES)
        self.pid_at, self.session_pid_at = self.index["pid"], self.index["session_pid"]
        self.level = groups["level"] - 1
        self.padded = any(m.group(1) for m in tokens)
        self.timed = self.index["stamp"] >= 0 or self.index["epoch"] >= 0
        if timed and not self.timed:
            raise ValueError(f"log_line_prefix {text!r} has no timestamp (%m, %t or %n); without one, only a log "
                             "written through syslog can be read: set destination: syslog")


def _named(pattern: str, key: str, roles: tuple[str, ...]) -> str:
    """Give the capturing groups of an escape's pattern their role names (`stamp_109` for %m's stamp)."""
    names = iter(roles)
    return re.sub(r"\((?!\?)", lambda _: f"(?P<{next(names)}_{ord(key)}>", pattern)


class ServerRecord(NamedTuple):
    """One server log record, whatever the destination wrote it as."""

    offset: int  # byte offset of its first line
    text: str  # the record as written (lines joined with "\n")
    time_us: int
    pid: int | None
    user: str | None
    database: str | None
    host: str | None  # as logged: an IP, a host name, or "[local]"
    port: int | None
    application: str | None
    level: str  # LOG, ERROR, FATAL ...
    sqlstate: str | None
    message: str
    statement: str | None  # the STATEMENT line / csv `query` / json `statement`
    kind: str = STDERR  # the destination that wrote it
    spans: tuple[int, int, int, int] | None = None  # stderr: message and statement (start, end) in `text`
    json: dict[str, Any] | None = None  # jsonlog: the decoded object
    # DETAIL, QUERY (internal_query) and CONTEXT, as (OTHER_PARTS key, text) in the record's order; None: none
    others: tuple[tuple[str, str], ...] | None = None


# The parts of a record besides its message and statement that may hold personal data (a unique violation's
# key values, the SQL text of a function's statement): stderr level -> csvlog column index and jsonlog key.
OTHER_PARTS: Final = {"DETAIL": (14, "detail"), "QUERY": (16, "internal_query"), "CONTEXT": (18, "context")}


_CONTINUATION: Final[tuple[int, str | None]] = (1, None)  # (text start, level) of a TAB-led line

# A ServerRecord from a tuple of all its fields, without NamedTuple's Python-level __new__ (one per record).
_new_record: Final[Callable[[tuple[Any, ...]], ServerRecord]] = partial(tuple.__new__, ServerRecord)


class PgClock:
    """PostgreSQL stamps (`2026-11-27 16:20:40.910 UTC`) to epoch microseconds.

    The zone is an abbreviation in log_timezone; `zoned_epoch` resolves it with the source's zone. Seconds
    are memoized on their text (with a one-entry fast path, since a log's stamps mostly repeat), the
    fraction is added arithmetically: no strptime per line.
    """

    __slots__ = ("_cache", "_tz", "last", "last_stamp", "last_us", "last_zone")

    def __init__(self, tz: tzinfo | None) -> None:
        self._tz = tz
        self._cache = EpochCache(self._convert)
        # the stamp converted last, its seconds and microseconds (callers that convert many compare first)
        self.last_stamp = ""
        self.last_zone = ""
        self.last = 0
        self.last_us = 0

    def seconds(self, stamp: str, zone: str) -> int:
        """`stamp` is `YYYY-MM-DD HH:MM:SS`, `zone` an abbreviation or a numeric offset."""
        if stamp == self.last_stamp and zone == self.last_zone:
            return self.last
        value = self._cache(stamp + " " + zone)
        self.last_stamp, self.last_zone, self.last, self.last_us = stamp, zone, value, value * 1_000_000
        return value

    def parse(self, text: str) -> int:
        """A whole csvlog/jsonlog stamp, with or without milliseconds."""
        if len(text) < 21 or text[19] not in ". ":
            raise TimestampError(f"not a PostgreSQL timestamp: {text[:40]!r}")
        space = text.find(" ", 19)
        if text[19] == ".":
            if space < 0:
                raise TimestampError(f"not a PostgreSQL timestamp: {text[:40]!r}")
            return self.seconds(text[:19], text[space + 1 :]) * 1_000_000 + fraction_us(text[19:space])
        return self.seconds(text[:19], text[20:]) * 1_000_000

    def _convert(self, key: str) -> int:
        try:
            naive = datetime(
                int(key[0:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]), int(key[14:16]), int(key[17:19])
            )
        except ValueError as exc:
            raise TimestampError(f"bad timestamp {key[:19]!r}: {exc}") from None
        return zoned_epoch(naive, key[20:], self._tz)


def split_remote(text: str) -> tuple[str | None, int | None]:
    """`%r` is `host(port)`, `[local]`, or empty for non-session processes."""
    if not text:
        return None, None
    if text[-1] == ")":
        host, _, port = text[:-1].rpartition("(")
        if host and port.isdecimal():
            return host, int(port)
    return text, None


NO_RECORDS: Final[tuple[ServerRecord | ParseFailure, ...]] = ()
_MILLIS_US: Final = {f".{ms:03d}": ms * 1000 for ms in range(1000)}
MAX_RECORD: Final = 1 << 20  # characters of one record; a longer one is given up as a failure


# (level, header line, where its message starts) -> whether the record is worth converting
Wanted = Callable[[str, str, int], bool]


class StderrFraming:
    """Turns stderr lines into `ServerRecord`s. A record is complete when the next header line arrives (or on
    `take()`), so exactly one record is buffered at a time. Records that `wanted` declines (checkpoints,
    `statement:` lines ...) are dropped before their fields are converted: they are a large share of a busy
    log and produce nothing. A prefix without a time (syslog's lines, `pgaudit_syslog`) gives records the
    time `fallback_us` holds when they are taken; none (-1) makes such a record a failure."""

    __slots__ = (
        "_clock", "_first", "_groups", "_keep", "_lines", "_main", "_marks", "_msg_start", "_offset", "_others",
        "_pids", "_prefix", "_size", "_state", "_wanted", "fallback_us",
    )  # fmt: skip

    def __init__(self, prefixes: Sequence[CompiledPrefix], clock: PgClock, wanted: Wanted | None = None) -> None:
        self._main, *others = prefixes
        self._others = tuple(others)
        self._clock = clock
        self._wanted = wanted
        self._offset: int | None = None
        self._first = ""
        self._prefix = self._main
        self._groups: tuple[str | Any, ...] = ()
        self._msg_start = 0
        self._state: str | None = None  # the SQLSTATE `log_error_verbosity = verbose` wrote before the message
        self._keep = True  # what `wanted` said of the buffered record
        self._lines: list[str] | None = None  # the lines after the first
        # the DETAIL, STATEMENT ... lines among them: (index in `_lines`, where its message starts, level)
        self._marks: list[tuple[int, int, str]] | None = None
        self._size = 0  # characters buffered, bounded by MAX_RECORD
        self._pids: dict[str, int] = {}  # %p as written -> its value: int() of a str costs more than a lookup
        self.fallback_us = -1

    @property
    def pending_offset(self) -> int | None:
        return self._offset

    def push(self, offset: int, line: str) -> Sequence[ServerRecord | ParseFailure]:
        """Consume one physical line; return the record it completes and/or a failure for the line itself."""
        if line[:1] == "\t":
            if self._offset is None:
                return (ParseFailure(offset, "continuation line (TAB) without a record before it", line),)
            self._size += len(line) + 1
            if self._size <= MAX_RECORD:  # else the record will fail: what it holds is enough to show why
                if self._lines is None:
                    self._lines = [line]
                else:
                    self._lines.append(line)
            return NO_RECORDS
        prefix = self._main
        m = prefix.regex.match(line)
        if m is None:
            for prefix in self._others:  # the configured prefix first, then the extra ones, in order
                m = prefix.regex.match(line)
                if m is not None:
                    break
            else:
                failure = ParseFailure(offset, "line matches no configured log_line_prefix", line)
                return (*self.take(), failure) if self._offset is not None else (failure,)
        groups = m.groups()
        level = groups[prefix.level]
        done: Sequence[ServerRecord | ParseFailure] = NO_RECORDS
        if self._offset is not None:
            if level in SUBSIDIARY_LEVELS and self._same_backend(prefix, groups):
                self._add(line, m.end(), level)
                return NO_RECORDS
            done = self._complete(self._offset)
        start = m.end()
        state = None
        if line.startswith(": ", start + 5) and line[start] in _STATE_FIRST and _VERBOSE_STATE.match(line, start):
            state, start = line[start : start + 5], start + 7
        self._state = state
        wanted = self._wanted
        self._keep = wanted is None or wanted(level, line, start)
        self._offset, self._first, self._prefix, self._groups = offset, line, prefix, groups
        self._msg_start, self._size = start, len(line)
        return done

    def take(self) -> Sequence[ServerRecord | ParseFailure]:
        """Complete and return the buffered record, if any."""
        offset = self._offset
        return NO_RECORDS if offset is None else self._complete(offset)

    def _complete(self, offset: int) -> Sequence[ServerRecord | ParseFailure]:
        """`take` of the record buffered at `offset`."""
        self._offset = None
        lines, marks, self._lines, self._marks = self._lines, self._marks, None, None
        if self._size > MAX_RECORD:
            text = "\n".join([self._first, *(lines or ())])
            return (ParseFailure(offset, f"stderr record longer than {MAX_RECORD} characters", text[:MAX_RECORD]),)
        if not self._keep:
            return NO_RECORDS
        try:
            return (self._record(offset, lines, marks),)
        except TimestampError as exc:
            text = self._first if lines is None else "\n".join([self._first, *lines])
            return (ParseFailure(offset, str(exc), text),)

    def _add(self, line: str, msg_start: int, level: str) -> None:
        """A DETAIL, STATEMENT ... line of the buffered record."""
        self._size += len(line) + 1
        if self._size > MAX_RECORD:
            return  # the record will fail; what it holds so far is enough to show why
        if self._lines is None:
            self._lines = []
        if self._marks is None:
            self._marks = []
        self._marks.append((len(self._lines), msg_start, level))
        self._lines.append(line)

    def _pid_value(self, text: str) -> int:
        """The pid that `%p` wrote as `text`, remembered (bounded: a log has few backends at a time)."""
        pids = self._pids
        if len(pids) >= 4096:
            pids.clear()
        pid = pids[text] = int(text)
        return pid

    def _same_backend(self, prefix: CompiledPrefix, groups: tuple[str | Any, ...]) -> bool:
        pid, own = _pid(prefix, groups), _pid(self._prefix, self._groups)
        return pid is None or own is None or pid == own

    def _record(self, offset: int, lines: list[str] | None, marks: list[tuple[int, int, str]] | None) -> ServerRecord:
        g, prefix, first = self._groups, self._prefix, self._first
        si, fi, zi, ei, pi, qi, ui, di, ai, hi, ri, _ = prefix.layout
        if si >= 0:
            clock, stamp, zone = self._clock, g[si], g[zi]
            if stamp == clock.last_stamp and zone == clock.last_zone:  # a log's stamps mostly repeat
                time_us = clock.last_us
            else:
                time_us = clock.seconds(stamp, zone) * 1_000_000
            frac = g[fi] if fi >= 0 else None
            if frac:
                ms = _MILLIS_US.get(frac)  # %m writes milliseconds: a lookup instead of int()
                time_us += ms if ms is not None else int(frac[1:]) * 1000 if len(frac) == 4 else fraction_us(frac)
        elif ei >= 0:
            frac = g[fi]
            time_us = int(g[ei]) * 1_000_000 + (fraction_us(frac) if frac else 0)
        else:
            time_us = self.fallback_us
            if time_us < 0:
                raise TimestampError(f"log_line_prefix {prefix.text!r} has no time: a stderr record needs one")
        if ri >= 0:
            host, port = split_remote(g[ri] or "")
        else:
            host, port = (g[hi] or None) if hi >= 0 else None, None
        user = g[ui] if ui >= 0 else None
        database = g[di] if di >= 0 else None
        application = g[ai] if ai >= 0 else None
        if prefix.padded:
            user, database, application = (x.strip() if x else x for x in (user, database, application))
        others = None
        if lines is None:
            message, text, statement, spans = first[self._msg_start :], first, None, None
        else:
            text, message, statement, spans, others = _assemble(first, self._msg_start, lines, marks)
        return _new_record((
            offset, text, time_us,
            (self._pids.get(g[pi]) or self._pid_value(g[pi])) if pi >= 0 and g[pi] else _pid(prefix, g),
            None if not user or user == "[unknown]" else user,  # `[unknown]` before authentication
            None if not database or database == "[unknown]" else database,
            host, port,
            None if not application or application == "[unknown]" else application,
            g[prefix.level], g[qi] if qi >= 0 else self._state, message, statement, STDERR, spans, None, others,
        ))  # fmt: skip


def _pid(prefix: CompiledPrefix, groups: tuple[str | Any, ...]) -> int | None:
    """The backend's pid: `%p`, else the pid that `%c` (the session id) holds in hex. A prefix without
    either leaves the session to be known by what else it has (`pgaudit.PgAuditParser._pidless`)."""
    at, session_at = prefix.pid_at, prefix.session_pid_at
    if at >= 0 and groups[at]:
        return int(groups[at])
    return int(groups[session_at], 16) if session_at >= 0 and groups[session_at] else None


def _assemble(
    first: str, msg_start: int, lines: list[str], marks: list[tuple[int, int, str]] | None
) -> tuple[str, str, str | None, tuple[int, int, int, int], tuple[tuple[str, str], ...] | None]:
    """Join a multi-line record: continuation lines lose their leading TAB in the message; the STATEMENT
    line's text (with its own continuations) becomes the statement. Spans locate both in the joined text.
    DETAIL, QUERY and CONTEXT lines (with their continuations) are the record's `others`. `marks` are
    the lines among `lines` that are no continuation: (index, where its text starts, level)."""
    text = "\n".join([first, *lines])
    if marks is None:  # continuation lines only: every line break of the text is one followed by a TAB
        return text, text[msg_start:].replace("\n\t", "\n"), None, (msg_start, len(text), -1, -1), None
    levels: dict[int, tuple[int, str | None]] = {at: (start, level) for at, start, level in marks}
    message_parts = [first[msg_start:]]
    statement_parts: list[str] | None = None
    others: list[tuple[str, list[str]]] | None = None
    current: list[str] | None = message_parts
    pos = len(first) + 1
    msg_end = len(first)
    stmt_start = stmt_end = -1
    for i, line in enumerate(lines):
        start, level = levels.get(i, _CONTINUATION)
        if level is None:
            if current is not None:
                current.append(line[1:])
            if current is not None and current is statement_parts:
                stmt_end = pos + len(line)
            elif current is message_parts:
                msg_end = pos + len(line)
        elif level == "STATEMENT" and statement_parts is None:
            statement_parts = [line[start:]]
            current = statement_parts
            stmt_start, stmt_end = pos + start, pos + len(line)
        elif level in OTHER_PARTS:
            current = [line[start:]]
            if others is None:
                others = []
            others.append((OTHER_PARTS[level][1], current))
        else:
            current = None
        pos += len(line) + 1
    statement = "\n".join(statement_parts) if statement_parts is not None else None
    found = tuple((key, "\n".join(parts)) for key, parts in others) if others is not None else None
    return text, "\n".join(message_parts), statement, (msg_start, msg_end, stmt_start, stmt_end), found


# ---- csvlog and jsonlog ----------------------------------------------------------------------------------

# A csvlog record starts with `%m`-style log_time and a comma; a stderr prefix never has a comma there.
CSV_HEAD: Final = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? [A-Za-z0-9_/+:-]+,")


# A syslog line of a process that logs its pid, as rsyslog writes it (RFC 3339 or traditional stamp).
SYSLOG_HEAD: Final = re.compile(
    r"(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)\S* \S+ [^\s:\[]+\[\d+\]: "
)


def destination_of(line: str) -> str:
    """`auto`: which destination wrote this record's first line (Filebeat decides the same way for csv).

    Called for every line: the checks before each regex only skip it where it cannot match (a stderr line
    with a `%m` or `%t` prefix would otherwise pay for both)."""
    first = line[:1]
    if first == "{":
        return JSONLOG
    if first == "\t":
        return STDERR
    if _maybe_csv(line) and CSV_HEAD.match(line):
        return CSVLOG
    # SYSLOG_HEAD begins with an RFC 3339 stamp (its date's T at index 10) or a month's capital
    if (line[10:11] == "T" or "A" <= first <= "Z") and SYSLOG_HEAD.match(line):
        return SYSLOG
    return STDERR


def _maybe_csv(line: str) -> bool:
    """False only where CSV_HEAD cannot match: after the date's space, the time, then a space and a zone whose
    end is a comma. The first space from index 11 on is the one before the zone (the time holds none), and
    the zone holds no space: so a space before the first comma after it rules csvlog out."""
    if line[10:11] != " ":
        return False
    zone_at = line.find(" ", 11)
    if zone_at < 0:
        return False
    comma = line.find(",", zone_at)
    if comma < 0:
        return False
    space = line.find(" ", zone_at + 1)
    return space < 0 or space > comma


class CsvReader:
    """Feeds one string at a time to a long-lived `csv.reader`: building a reader per line costs a third of
    the parse. It yields each string once, so a record with an unclosed quote ends instead of looping."""

    __slots__ = ("_reader", "_value")

    def __init__(self) -> None:
        self._value: str | None = None
        self._reader = csv.reader(self)

    def __iter__(self) -> CsvReader:
        return self

    def __next__(self) -> str:
        value, self._value = self._value, None
        if value is None:
            raise StopIteration
        return value

    def parse(self, text: str) -> list[str]:
        """The fields of one CSV record (which may hold newlines); [] if it is not one."""
        self._value = text
        try:
            return next(self._reader)
        except (csv.Error, StopIteration):
            return []
        finally:
            self._value = None


class CsvFraming:
    """csvlog records from lines. A quoted field may hold newlines, so a record whose quotes are still open
    continues on the next line; it is given up past MAX_RECORD characters, or when a line that starts like a
    new record arrives first (the open one was cut short: crash, full disk)."""

    __slots__ = ("_clock", "_lines", "_odd", "_offset", "_reader", "_size")

    def __init__(self, clock: PgClock, reader: CsvReader) -> None:
        self._clock = clock
        self._reader = reader
        self._lines: list[str] | None = None  # the lines of a record whose quotes are still open
        self._offset = 0
        self._size = 0
        self._odd = False  # an odd number of `"` so far: inside a quoted field

    @property
    def pending_offset(self) -> int | None:
        return self._offset if self._lines is not None else None

    def push(self, offset: int, line: str) -> Sequence[ServerRecord | ParseFailure]:
        lines = self._lines
        if lines is None:
            if line.count('"') & 1:
                self._lines, self._offset, self._size, self._odd = [line], offset, len(line), True
                return NO_RECORDS
            return (self._record(offset, line),)
        if CSV_HEAD.match(line):
            return (self._give_up("csvlog record cut short (quotes never closed)"), *self.push(offset, line))
        lines.append(line)
        self._size += len(line) + 1
        if line.count('"') & 1:
            self._odd = not self._odd
        if not self._odd:
            self._lines = None
            return (self._record(self._offset, "\n".join(lines)),)
        if self._size > MAX_RECORD:
            return (self._give_up(f"csvlog record longer than {MAX_RECORD} characters"),)
        return NO_RECORDS

    def take(self) -> Sequence[ServerRecord | ParseFailure]:
        """End of input: a record whose quotes never closed is a failure."""
        if self._lines is None:
            return NO_RECORDS
        return (self._give_up("csvlog record ends inside a quoted field"),)

    def _give_up(self, reason: str) -> ParseFailure:
        lines, self._lines = self._lines or [], None
        return ParseFailure(self._offset, reason, "\n".join(lines)[:MAX_RECORD])

    def _record(self, offset: int, text: str) -> ServerRecord | ParseFailure:
        """Columns by position: PG ≤12 writes 23, PG13 adds backend_type, PG14+ leader_pid and query_id."""
        row = self._reader.parse(text)
        if len(row) < 23:
            return ParseFailure(offset, "csvlog record with fewer than 23 columns", text)
        try:
            time_us = self._clock.parse(row[0])
        except TimestampError as exc:
            return ParseFailure(offset, str(exc), text)
        host, port = _split_address(row[4])
        pid = row[3]
        others = None
        if row[14] or row[16] or row[18]:
            others = tuple((key, row[i]) for i, key in OTHER_PARTS.values() if row[i])
        return ServerRecord(
            offset, text, time_us, int(pid) if pid.isdecimal() else None, row[1] or None, row[2] or None,
            host, port, row[22] or None, row[11], row[12] or None, row[13], row[19] or None, CSVLOG, None, None,
            others,
        )  # fmt: skip


def _split_address(text: str) -> tuple[str | None, int | None]:
    """csvlog `connection_from`: `ip:port`, `[local]`, or empty."""
    if not text:
        return None, None
    host, sep, port = text.rpartition(":")
    if sep and port.isdecimal() and host:
        return host, int(port)
    return text, None


def json_record(offset: int, line: str, clock: PgClock) -> ServerRecord | ParseFailure:
    """One jsonlog line (PG15+). Keys with empty values are left out, so every one is optional."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return ParseFailure(offset, "not a JSON object", line)
    if not isinstance(obj, dict):
        return ParseFailure(offset, "not a JSON object", line)
    stamp, message = obj.get("timestamp"), obj.get("message")
    if not isinstance(stamp, str) or not isinstance(message, str):
        return ParseFailure(offset, "jsonlog record without timestamp or message", line)
    try:
        time_us = clock.parse(stamp)
    except TimestampError as exc:
        return ParseFailure(offset, str(exc), line)
    pid, port = obj.get("pid"), obj.get("remote_port")
    others = None
    if "detail" in obj or "internal_query" in obj or "context" in obj:
        others = tuple((key, value) for _, key in OTHER_PARTS.values() if isinstance(value := obj.get(key), str))
    return ServerRecord(
        offset, line, time_us, pid if isinstance(pid, int) else None, _str(obj.get("user")),
        _str(obj.get("dbname")), _str(obj.get("remote_host")), port if isinstance(port, int) else None,
        _str(obj.get("application_name")), _str(obj.get("error_severity")) or "LOG",
        _str(obj.get("state_code")), message, _str(obj.get("statement")), JSONLOG, None, obj, others or None,
    )  # fmt: skip


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
