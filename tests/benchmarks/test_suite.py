"""The suite refuses to start when it could not finish: a missing chart library is said before any stage."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks import chart, suite


def test_missing_matplotlib_is_refused_before_any_stage(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what importing it finds when it is not installed
    ran: list[str] = []
    monkeypatch.setattr(suite, "run_stage", lambda name, settings: ran.append(name) or [])
    with pytest.raises(SystemExit) as exit_:
        suite.main(["--quick", "--only", "parse", "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert "pip install -e '.[bench]'" in capsys.readouterr().err
    assert ran == []
    assert list(tmp_path.iterdir()) == []


def test_chart_library_present_is_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", sys.modules["sys"])  # any imported module stands for it
    assert chart.missing() is None
