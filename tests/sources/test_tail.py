"""The tailer on its own: which bytes it reads under which file identity."""

from __future__ import annotations

import shutil
from pathlib import Path

from pii_guard.sources.tail import GlobTailer


def _lines(first: int, n: int) -> str:
    return "".join(f"line {i:04d} of the log\n" for i in range(first, first + n))


def test_a_file_rewritten_before_anything_was_read_is_a_new_file(tmp_path: Path) -> None:
    """Identified (first line known) but not read yet, then copytruncated and refilled: the new lines belong
    to a new identity, and the copy is read from the start under the old one. Each line once."""
    log = tmp_path / "app.log"
    log.write_text(_lines(0, 11))
    tailer = GlobTailer(str(tmp_path / "app.log*"))
    checkpoints: dict[str, int] = {}
    tailer.scan(checkpoints.get, 0.0)
    (old_key,) = tailer.files
    checkpoints[old_key] = 0
    shutil.copyfile(log, tmp_path / "app.log.1")
    log.write_text(_lines(100, 32))  # truncated, then written again (longer than before)

    seen = [(tracked.key, line.text) for tracked, line in tailer.read(1000)]
    assert seen == []  # nothing of the new content under the old identity
    tailer.scan(checkpoints.get, 1.0)
    seen = [(tracked.key, line.text) for tracked, line in tailer.read(1000)]
    texts = sorted(text for _, text in seen)
    assert texts == sorted(_lines(0, 11).splitlines() + _lines(100, 32).splitlines())
    assert {text for key, text in seen if key == old_key} == set(_lines(0, 11).splitlines())
    tailer.close()


def test_a_file_shrunk_below_its_first_line_is_not_followed_on(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(_lines(0, 3))
    tailer = GlobTailer(str(log))
    tailer.scan(lambda key: None, 0.0)
    log.write_text("x")  # truncated and a partial new line
    assert list(tailer.read(10)) == []
    assert tailer.files == {}
    assert [e.kind for e in tailer.events] == ["opened", "truncated"]
    tailer.close()
