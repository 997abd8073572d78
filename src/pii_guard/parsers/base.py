"""What every parser is: a pure function of records to access events, with bounded private state.

A parser is fed one physical line at a time (without its line terminator) together with the byte offset
where the line starts. It returns the events and failures that became complete with this line: usually one
event or nothing, but a multi-line format returns the previous record's event when the next record begins.
Lines that are valid but not accesses (server start-up, checkpoints ...) return nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from pii_guard.model import AccessEvent
from pii_guard.parsers.eventids import EventIds


class ParseFailure(NamedTuple):
    """A line (or record) that could not be understood. It goes to the dead-letter table."""

    offset: int
    reason: str
    text: str


Outcome = AccessEvent | ParseFailure
NOTHING: Sequence[Outcome] = ()


class NoOptions(BaseModel):
    """Options of a parser that takes none."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What a parser knows about where its lines come from."""

    fingerprint: bytes  # identity of the file: digest of its first line
    path: str
    host: str | None = None  # host.name when the format does not carry it
    tz: tzinfo | None = None  # zone of formats that write local time without a zone
    reference_time: float = 0.0  # epoch seconds near the end of the log (for year-less syslog stamps)
    mask_literals: bool = True


@runtime_checkable
class Elapsing(Protocol):
    """A parser whose state can wait too long for lines (an sftp transfer open without its close): the daemon
    moves its event time on by its own clock (live.py). Here, not in live.py, since a compiled module (setup.py)
    cannot define a runtime-checkable protocol."""

    def elapse(self, silent_us: int) -> Sequence[Outcome]: ...


class Parser(ABC):
    """Base of every log-format parser. Subclasses set the class attributes and implement `feed`."""

    name: ClassVar[str]  # the format name used in config and on the command line
    dataset: ClassVar[str]  # event.dataset of the events it produces
    description: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = NoOptions
    needs_timezone: ClassVar[bool] = False  # writes local time without a zone
    # When following a live file that has gone quiet this long, a buffered record is taken as complete
    # (`flush`). None: never on idle (the format's next line always comes, e.g. a QUERY row after its tables).
    idle_flush_s: ClassVar[float | None] = 0.01

    def __init__(self, context: SourceContext, options: BaseModel | None = None) -> None:
        self.context = context
        self.options = options if options is not None else self.Options()
        self.ids = EventIds(context.fingerprint)

    @abstractmethod
    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        """Consume one physical line; return what it completes."""

    def flush(self) -> Sequence[Outcome]:
        """The log went quiet (or its input ended): return what is still buffered. The daemon calls it on
        idle, so it must not close what later lines may still continue (a transfer under way)."""
        return NOTHING

    def finish(self) -> Sequence[Outcome]:
        """End of input: no line of this file will follow (parse, ingest, replay, detection of a whole
        file). What `flush` returns, plus what waited for lines that will now never come; by default `flush`."""
        return self.flush()

    def pending_offset(self) -> int | None:
        """Offset of the earliest line still buffered, so a checkpoint never skips past it."""
        return None

    def snapshot(self) -> Any:
        """State that joins lines (sessions by pid ...), saved with the checkpoint so a restart that resumes
        mid-file still knows who a session belongs to. JSON-compatible; None for stateless formats."""
        return None

    def restore(self, state: Any) -> None:
        """Take back what `snapshot` returned (from an earlier run of the same file), or what `carry_over`
        returned from the file that had this file's path before a rotation."""
        return

    hints_unread: ClassVar[bool] = False  # whether `unread_hint` may say something (a file's head is read for it)

    @classmethod
    def unread_hint(cls, head: Sequence[str]) -> str | None:
        """Why a file whose lines this format passed over, none an event nor a failure, may still be its
        server's log, and what to do, read from its first lines (`head`); None if there is nothing to say
        beyond the general warning (a log_line_prefix, a syslog ident ... that does not match)."""
        return None

    def carry_over(self) -> Any:
        """What the next file at this file's path needs after a rotation, for `restore`: the joins of
        sessions that go on writing there (by default the whole `snapshot`). Nothing that this file's own
        lines still have to complete: that would be reported twice."""
        return self.snapshot()
