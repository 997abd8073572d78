"""Rewrites the README's performance table from a results file (by default benchmarks/results/latest.md).

    python benchmarks/readme.py [RESULTS.md]

The table sits between the markers `<!-- benchmarks:start -->` and `<!-- benchmarks:end -->` in README.md;
everything else in the README is left alone.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
START: Final = "<!-- benchmarks:start -->"
END: Final = "<!-- benchmarks:end -->"


def section(results_md: str) -> str:
    """What goes between the markers: the results file without its title, its headings one level down."""
    lines = results_md.strip().splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(("#" + line) if line.startswith("#") else line for line in lines).strip()


def update(results_md: Path, readme: Path = ROOT / "README.md") -> None:
    text = readme.read_text()
    head, sep, rest = text.partition(START)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"{readme}: the markers {START} and {END} are missing")
    body = section(results_md.read_text())
    readme.write_text(f"{head}{START}\n{body}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0]) if args else ROOT / "benchmarks" / "results" / "latest.md"
    update(source)
    print(f"README.md: performance table rewritten from {source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
