"""The tailer on its own: which bytes it reads under which file identity."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
from pathlib import Path

import pytest

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


def _read_all(tailer: GlobTailer, checkpoints: dict[str, int], now: float, budget: int = 1000) -> list[str]:
    tailer.scan(checkpoints.get, now)
    texts = []
    for tracked, line in tailer.read(budget):
        texts.append(line.text)
        checkpoints[tracked.key] = tracked.offset
    for done in tailer.close_finished(now):
        checkpoints[done.key] = done.offset
    return texts


@pytest.mark.parametrize("suffix", [".gz", ".xz", ".bz2"])
def test_compressed_rotations_are_read_once_whole_and_not_again(tmp_path: Path, suffix: str) -> None:
    packers = {".gz": gzip.compress, ".xz": lzma.compress, ".bz2": bz2.compress}
    (tmp_path / f"app.log.2{suffix}").write_bytes(packers[suffix](_lines(0, 2000).encode() + b"unterminated"))
    tailer = GlobTailer(str(tmp_path / "app.log*"), include_compressed=True)
    checkpoints: dict[str, int] = {}
    texts: list[str] = []
    for step in range(10):  # a small budget: the reader carries on where it stopped
        texts += _read_all(tailer, checkpoints, float(step), budget=700)
    assert texts == [*_lines(0, 2000).splitlines(), "unterminated"]
    assert tailer.files == {}
    assert [e.kind for e in tailer.events] == ["opened", "closed"]
    tailer.close()


def test_a_rotation_read_plain_is_not_read_again_once_compressed(tmp_path: Path) -> None:
    log = tmp_path / "app.log.1"
    log.write_text(_lines(0, 50))
    tailer = GlobTailer(str(tmp_path / "app.log*"), include_compressed=True)
    checkpoints: dict[str, int] = {}
    assert len(_read_all(tailer, checkpoints, 0.0)) == 50
    (tmp_path / "app.log.1.gz").write_bytes(gzip.compress(log.read_bytes()))
    log.unlink()
    assert _read_all(tailer, checkpoints, 10.0) == []
    assert _read_all(tailer, checkpoints, 20.0) == []
    tailer.close()


def test_a_compressed_file_still_being_written_is_finished_when_it_grows(tmp_path: Path) -> None:
    packed = gzip.compress(_lines(0, 3000).encode())
    target = tmp_path / "app.log.1.gz"
    target.write_bytes(packed[: len(packed) // 2])
    tailer = GlobTailer(str(tmp_path / "app.log*"), include_compressed=True)
    checkpoints: dict[str, int] = {}
    first = _read_all(tailer, checkpoints, 0.0, budget=10_000)  # what decompressed before the cut, if any
    assert len(first) < 3000
    assert _read_all(tailer, checkpoints, 1.0) == []  # unchanged: not tried again
    assert [e.kind for e in tailer.events] == ["opened", "skipped", "closed"]
    target.write_bytes(packed)
    rest = _read_all(tailer, checkpoints, 2.0, budget=10_000)
    assert first + rest == _lines(0, 3000).splitlines()
    tailer.close()


def test_unreadable_compression_is_said_once_and_passed_over(tmp_path: Path) -> None:
    (tmp_path / "app.log.1.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 40)
    tailer = GlobTailer(str(tmp_path / "app.log*"), include_compressed=True)
    assert _read_all(tailer, {}, 0.0) == []
    assert _read_all(tailer, {}, 1.0) == []
    assert [(e.kind, Path(e.path).name) for e in tailer.events] == [("skipped", "app.log.1.zst")]
    tailer.close()


def test_blocks_stop_at_the_budget_and_resume_after_the_last_line_taken(tmp_path: Path) -> None:
    """`read_blocks` leaves the offset to its caller: lines not taken (the budget's cut, or a caller that
    stopped in the middle of a block) are read again next time, and none twice once taken."""
    log = tmp_path / "app.log"
    log.write_text(_lines(0, 50) + "partial")
    tailer = GlobTailer(str(log))
    tailer.scan(lambda key: 0, 0.0)
    taken: list[str] = []

    def take(budget: int, stop_after: int | None = None) -> int:
        blocks = 0
        for tracked, block in tailer.read_blocks(budget):
            blocks += 1
            offset = block.offset
            for text, length in zip(block.texts, block.lengths, strict=True):
                if stop_after is not None and len(taken) == stop_after:
                    return blocks
                taken.append(text)
                offset += length
                tracked.offset = offset
        return blocks

    assert take(7) == 1
    assert taken == _lines(0, 7).splitlines()
    take(1000, stop_after=20)  # stops within a block of 43 lines: the other 30 stay unread
    assert taken == _lines(0, 20).splitlines()
    take(1000)
    assert taken == _lines(0, 50).splitlines()  # the partial last line waits for its newline
    (tracked,) = tailer.files.values()
    assert tracked.offset == len(_lines(0, 50))
    tailer.close()


def test_a_line_over_the_limit_written_in_pieces_is_taken_once_whole(tmp_path: Path) -> None:
    """A line longer than max_line_bytes still being written is left like any unfinished line: the file's
    offset never stops inside it (the byte before it would not be a line end, and the file would be taken for
    rewritten), and once its newline is there it is taken once, cut, with its whole length."""
    log = tmp_path / "app.log"
    log.write_bytes(b"first line\n" + b"y" * (3 << 20))
    tailer = GlobTailer(str(log), max_line_bytes=1 << 20)
    tailer.scan(lambda key: 0, 0.0)
    seen = [(line.offset, line.text[:3], line.length, line.overlong) for _, line in tailer.read(100)]
    assert seen == [(0, "fir", 11, False)]
    with log.open("ab") as out:
        out.write(b"y" * (2 << 20) + b"\nnext\n")
    tailer.scan(lambda key: 0, 1.0)
    seen = [(line.offset, line.text[:3], line.length, line.overlong) for _, line in tailer.read(100)]
    assert [e.kind for e in tailer.events] == ["opened"]  # not "truncated"
    assert seen == [(11, "yyy", (5 << 20) + 1, True), ((5 << 20) + 12, "nex", 5, False)]
    (tracked,) = tailer.files.values()
    assert tracked.offset == log.stat().st_size
    tailer.close()
