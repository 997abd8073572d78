"""The suite's result rows: verdicts against the issue's targets, and the Markdown the README quotes."""

from __future__ import annotations

from pathlib import Path

from benchmarks.readme import END, START, update
from benchmarks.results import NOT_INSTALLED, Row, load, write


def test_verdicts() -> None:
    assert Row("s", "rate", "events/s", [1.0, 3.0, 2.0], goal=2.0).verdict == "pass"
    assert Row("s", "rate", "events/s", [1.0, 1.5, 2.0], goal=2.0).verdict == "miss"
    assert Row("s", "latency", "ms", [4.0, 6.0, 5.0], goal=5.0, higher_is_better=False).verdict == "pass"
    both = Row("s", "rate", "events/s", [3.0], ratios=[0.3], goal=2.0, ratio_goal=0.4)
    assert both.verdict == "miss"
    assert Row("s", "rate", "events/s", [3.0]).verdict == ""
    assert Row("s", "peer", "lines/s", status=NOT_INSTALLED, goal=1.0).verdict == ""


def test_markdown_and_json_round_trip(tmp_path: Path) -> None:
    rows = [
        Row("parse", "parse + enrich, nginx", "events/s", [10.0, 30.0, 20.0], [25.0], [0.1, 0.3, 0.2],
            "re.match loop", "≥ 200,000", 200_000.0),
        Row("peers", "SEC, equivalent rules", "lines/s", status=NOT_INSTALLED, note="sec not found"),
    ]  # fmt: skip
    doc = {"mode": "quick", "command": "python -m benchmarks --quick", "machine": {"cpu": "x", "cpus": 2},
           "runs": 3, "started": "2026-01-01 00:00", "finished": "2026-01-01 00:05"}  # fmt: skip
    md = write(doc, rows, tmp_path)
    text = md.read_text()
    assert "| parse: parse + enrich, nginx | 20.0 | 10.0 | 30.0 | events/s | 25.0 | 0.200 | re.match loop |" in text
    assert "**miss**" in text
    assert "| peers: SEC, equivalent rules | not installed (sec not found) |" in text
    _, loaded = load(tmp_path / "latest.json")
    assert [r.to_json() for r in loaded] == [r.to_json() for r in rows]


def test_readme_section_is_replaced_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    page.write_text(f"intro\n{START}\nold table\n{END}\nafter\n")
    source = tmp_path / "latest.md"
    source.write_text("# title\n\n- command: x\n\n| a |\n|---|\n")
    update(source, page)
    assert page.read_text() == f"intro\n{START}\n- command: x\n\n| a |\n|---|\n{END}\nafter\n"
