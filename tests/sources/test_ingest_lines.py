"""`FileIngest` reads a file in blocks of lines (`iter_blocks`): every line must reach the parser, or the
dead-letter table when overlong, with the byte offset and text that reading it line by line gives."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pii_guard.clock import FixedClock
from pii_guard.parsers.base import NoOptions, Outcome, Parser, SourceContext
from pii_guard.pipeline import FileIngest, FileSpec, RunStats
from pii_guard.sources import files
from pii_guard.store.base import DeadLetter
from tests.sources.test_files import _PIECES, reference_lines


class Recorder(Parser):
    """Takes every line it is fed, in order, and makes nothing of it."""

    name: ClassVar[str] = "recorder"
    dataset: ClassVar[str] = "test.recorder"
    description: ClassVar[str] = "records what it is fed"
    fed: ClassVar[list[tuple[int, str]]] = []

    def __init__(self, context: SourceContext, options: NoOptions | None = None) -> None:
        super().__init__(context, options)

    def feed(self, offset: int, line: str) -> Sequence[Outcome]:
        Recorder.fed.append((offset, line))
        return ()


def ingest(path: Path, chunk: int, max_line_bytes: int) -> tuple[list[tuple[int, str]], list[DeadLetter], RunStats,
                                                                  list[int]]:
    Recorder.fed = []
    dead: list[DeadLetter] = []
    stats = RunStats()
    progress: list[int] = []
    spec = FileSpec(Recorder, NoOptions(), max_line_bytes=max_line_bytes, mask_literals=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(files, "_CHUNK", chunk)
        FileIngest(lambda event: None, dead.append, stats, FixedClock(1_800_000_000)).run(path, spec, progress.append)
    return Recorder.fed, dead, stats, progress


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from([*_PIECES, b"x" * 9]), max_size=40), st.sampled_from([1, 3, 7, 64, 1 << 20]),
       st.sampled_from([5, 12, 1 << 20]))  # fmt: skip
def test_every_line_reaches_the_parser_or_the_dead_letters_at_its_offset(
    tmp_path: Path, pieces: list[bytes], chunk: int, max_line_bytes: int
) -> None:
    data = b"".join(pieces)
    path = tmp_path / "access.log"
    path.write_bytes(data)
    fed, dead, stats, progress = ingest(path, chunk, max_line_bytes)
    expected = reference_lines(data, 0, max_line_bytes, True)
    assert fed == [(offset, text) for offset, text, _, overlong, _ in expected if not overlong]
    assert [(d.offset, d.text, d.reason) for d in dead] == [
        (offset, text, f"line longer than {max_line_bytes} bytes (max_line_bytes)")
        for offset, text, _, overlong, _ in expected if overlong
    ]  # fmt: skip
    assert stats.lines == len(expected)
    assert stats.bytes_read == sum(length for _, _, length, _, _ in expected) == len(data)
    assert stats.unterminated == [str(path)] * sum(not term and not over for _, _, _, over, term in expected)
    assert sum(progress) == stats.bytes_read


def test_lines_of_many_blocks_keep_their_byte_offsets(tmp_path: Path) -> None:
    lines = [f"{i} caf\u00e9 \u20ac{'y' * (i % 13)}".encode() for i in range(500)]
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / "access.log"
    path.write_bytes(data)
    fed, dead, stats, _ = ingest(path, 97, 1 << 20)
    assert not dead
    assert [text for _, text in fed] == [line.decode() for line in lines]
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    assert [offset for offset, _ in fed] == starts
    assert stats.lines == 500


def test_a_file_gone_before_its_hint_is_read_ends_the_file_quietly(tmp_path: Path) -> None:
    """`RunStats.file_read` reads a file's head again for its format's hint: a file a rotation removed in the
    meantime has none, and the run goes on."""
    from pii_guard.parsers.pgaudit import PgAuditParser

    stats = RunStats()
    since = stats.mark()
    stats.lines += 3
    stats.file_read(tmp_path / "gone.log", PgAuditParser, since)
    assert (stats.files, stats.hints) == (1, {})
