"""PostgreSQL's `log_destination = 'syslog'`: the syslog daemon's lines put back together into the messages
the server wrote, as the lines the stderr destination would have written for them (`pgaudit_prefix`'s
`StderrFraming` then reads them, prefix and all).

What the server sends (`write_syslog` in elog.c, PostgreSQL 15), one `syslog()` call per chunk:
- The message is the stderr text: log_line_prefix, `LEVEL:  `, the message with a TAB after each newline,
  then DETAIL / HINT / STATEMENT ... lines with their own prefix, each line ended by a newline.
- `syslog_split_messages = on` (the default): the message is cut at each newline (dropped) and into pieces of
  at most 900 bytes (PG_SYSLOG_LIMIT), at a whitespace when the piece has one (the whitespace then starts the
  next piece), else mid-word (at a character boundary). Since every message ends with a newline, every
  message is split: `[N-M] piece` with `syslog_sequence_numbers = on` (N counts the process's messages and
  is inherited from the postmaster at fork, so it is only unique per pid; M counts the pieces from 1), or
  `[M] piece` with it off.
- `syslog_split_messages = off`: one line per message, `[N] message` (or the bare message with sequence
  numbers off); its newlines reach the file escaped (`#012`).
- rsyslog escapes control characters on reception (Debian 12's defaults, both file layouts): a TAB is
  `#011`. They are unescaped here, so the TAB-led continuation lines come back.

Pieces of one message are consecutive for their process but other processes' lines may come in between, so
a message is gathered per (host, pid). Nothing says which piece is the last: a message is complete when its
process starts another one, when a line arrives more than `_QUIET_US` after its last piece (the pieces are
sent in one loop, microseconds apart), when `_MAX_OPEN` messages are open, or at `take()` (end of input, or
the daemon's flush of a quiet file). A piece is glued to the line before it when PostgreSQL's length split
explains the cut (`_length_split`), else it starts a line of its own (a newline was there).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final, NamedTuple

from pii_guard.parsers.base import ParseFailure
from pii_guard.parsers.pgaudit_prefix import MAX_RECORD
from pii_guard.parsers.syslog import SyslogFraming
from pii_guard.parsers.timeparse import TimestampError

PG_SYSLOG_LIMIT: Final = 900  # bytes of one piece (elog.c)
# a length split cuts at most this many bytes in: 900, less up to 3 of a multibyte character cut off
_FULL_PIECE: Final = PG_SYSLOG_LIMIT - 3
_QUIET_US: Final = 5_000_000  # a message with no piece for this long (by the syslog clock) is complete
_MAX_OPEN: Final = 10_000  # messages gathered at once (one per process that logged lately)
_SEQUENCE: Final = re.compile(r"\[(\d+)(?:-(\d+))?\] ")
_ESCAPED: Final = re.compile(r"#(0[0-3][0-7]|177)")  # rsyslog's `#ooo` for a control character
_C_SPACE: Final = frozenset(" \t\n\v\f\r")  # C's isspace(), where PostgreSQL cuts a long line
_NEXT_SPACE: Final = re.compile(r"[ \t\n\v\f\r]")


class SyslogMessage(NamedTuple):
    """One server message: its lines as the stderr destination writes them."""

    offset: int  # byte offset of its first piece's line
    time_us: int  # the syslog stamp of its first piece
    pid: int | None
    lines: list[str]


class _Open:
    """A message whose pieces are still coming."""

    __slots__ = ("last", "last_bytes", "last_us", "lines", "offset", "piece", "seq", "size", "time_us")

    def __init__(self, offset: int, time_us: int, seq: int | None, text: str) -> None:
        self.offset = offset
        self.time_us = self.last_us = time_us
        self.seq = seq
        self.piece = 1
        self.lines = [text]
        self.last = text  # the last piece
        self.last_bytes = _bytes(text)
        self.size = len(text)


def _bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _unescape(text: str) -> str:
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 8)), text) if "#" in text else text


def _length_split(before: str, before_bytes: int, piece: str) -> bool:
    """Whether PostgreSQL cut a line between `before` (the previous piece, `before_bytes` long) and `piece`
    for length, rather than at a newline. A length cut is made in a line longer than 900 bytes: at a
    whitespace, which then starts `piece`, and after which the 900 bytes held no other whitespace (or right
    at byte 900 if it was one); or, when the 900 bytes had no whitespace at all, after them, mid-word."""
    if piece[:1] in _C_SPACE:
        found = _NEXT_SPACE.search(piece, 1)
        run = _bytes(piece[: found.start()]) if found is not None else _bytes(piece)
        return before_bytes + run >= _FULL_PIECE
    return before_bytes >= _FULL_PIECE and _NEXT_SPACE.search(before, 1) is None


class SyslogAssembler:
    """Syslog lines of PostgreSQL in, complete `SyslogMessage`s out (see the module docstring)."""

    __slots__ = ("_framing", "_ident", "_open", "_sequence_numbers", "_split")

    def __init__(self, framing: SyslogFraming, ident: str, sequence_numbers: bool, split_messages: bool) -> None:
        self._framing = framing
        self._ident = ident
        self._sequence_numbers = sequence_numbers
        self._split = split_messages
        self._open: dict[tuple[str, int | None], _Open] = {}  # by the time of their last piece, oldest first

    @property
    def pending_offset(self) -> int | None:
        return min((o.offset for o in self._open.values()), default=None)

    def push(self, offset: int, line: str) -> Sequence[SyslogMessage | ParseFailure]:
        try:
            head = self._framing.split(line)
        except (TimestampError, ValueError, OverflowError) as exc:
            return (ParseFailure(offset, f"pgaudit syslog: {exc}", line),)
        out: list[SyslogMessage | ParseFailure] = []
        if self._open:
            self._expire(head.time_us, out)
        if self._ident and head.tag != self._ident:
            return out  # another program's line in a shared file
        text = _unescape(head.message)
        key = (head.host, head.pid)
        m = _SEQUENCE.match(text) if self._sequence_numbers or self._split else None
        if m is None or (m.group(2) is None and self._sequence_numbers):
            # one line per message: `syslog_split_messages = off` ([N] or nothing), or not PostgreSQL's
            self._close(key, out)
            lines = [x for x in (text[m.end() :] if m is not None else text).split("\n") if x]
            out.append(SyslogMessage(offset, head.time_us, head.pid, lines or [""]))
            return out
        piece_text = text[m.end() :]
        seq = int(m.group(1)) if m.group(2) is not None else None
        piece = int(m.group(2) or m.group(1))
        if piece == 1:
            self._close(key, out)
            self._open[key] = _Open(offset, head.time_us, seq, piece_text)
            if len(self._open) > _MAX_OPEN:
                self._close(next(iter(self._open)), out)
            return out
        current = self._open.get(key)
        if current is None or current.piece != piece - 1 or current.seq != seq:
            self._close(key, out)
            label = f"[{seq}-{piece}]" if seq is not None else f"[{piece}]"
            out.append(ParseFailure(offset, f"pgaudit syslog: piece {label} without the piece before it", line))
            return out
        current.size += len(piece_text) + 1
        if current.size > MAX_RECORD:
            del self._open[key]
            out.append(ParseFailure(current.offset, f"syslog message longer than {MAX_RECORD} characters",
                                    "\n".join(current.lines)[:MAX_RECORD]))  # fmt: skip
            return out
        lines = current.lines
        if _length_split(current.last, current.last_bytes, piece_text):
            lines[-1] += piece_text
        else:
            lines.append(piece_text)
        current.piece, current.last, current.last_bytes, current.last_us = (
            piece, piece_text, _bytes(piece_text), head.time_us)  # fmt: skip
        del self._open[key]  # to the end: the most recently active
        self._open[key] = current
        return out

    def take(self) -> Sequence[SyslogMessage | ParseFailure]:
        """Every message still open, complete as it is (end of input, or a quiet file), in file order."""
        opened = sorted(self._open.items(), key=lambda item: item[1].offset)
        self._open.clear()
        return [SyslogMessage(o.offset, o.time_us, key[1], o.lines) for key, o in opened]

    def _close(self, key: tuple[str, int | None], out: list[SyslogMessage | ParseFailure]) -> None:
        current = self._open.pop(key, None)
        if current is not None:
            out.append(SyslogMessage(current.offset, current.time_us, key[1], current.lines))

    def _expire(self, now_us: int, out: list[SyslogMessage | ParseFailure]) -> None:
        """Close the messages whose process has been quiet for `_QUIET_US` (oldest activity first)."""
        opened = self._open
        while opened:
            key, current = next(iter(opened.items()))
            if now_us - current.last_us <= _QUIET_US:
                return
            self._close(key, out)
