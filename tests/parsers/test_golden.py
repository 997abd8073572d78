"""Every golden sample parses exactly to its expected events; every parser has at least one sample."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest

from pii_guard.model import AccessEvent
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.registry import format_names, parser_class
from tests.goldens import UPDATE, Case, all_cases, parse_case, render
from tests.parsers.feeding import run

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_golden_sample(case: Case) -> None:
    items = parse_case(case)
    failures = [i for i in items if isinstance(i, ParseFailure)]
    assert len(failures) == case.expect_failures, [f.reason for f in failures]
    got = render(items)
    if UPDATE:
        case.expected.write_bytes(got)
    assert case.expected.exists(), f"no golden file {case.expected.name}: run with PII_GUARD_UPDATE_GOLDEN=1"
    assert got.decode().splitlines() == case.expected.read_text().splitlines()


def test_every_parser_has_a_golden_sample() -> None:
    covered = {c.format for c in CASES}
    missing = set(format_names()) - covered
    assert not missing, f"parsers without a golden sample: {sorted(missing)}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_event_says_where_its_record_starts(case: Case) -> None:
    """`log.offset` points at the first byte of the record the event came from (evidence, `rules test`)."""
    data = case.log.read_bytes()
    starts = {0} | {i + 1 for i, byte in enumerate(data) if byte == 0x0A}
    events = [i for i in parse_case(case) if not isinstance(i, ParseFailure)]
    assert all(e.offset in starts for e in events), [e.offset for e in events if e.offset not in starts][:5]


# Characters str.isdigit() accepts but int() refuses (superscripts, circled digits), and decimal digits of other
# scripts, which int() reads: a parser must neither crash on the first kind nor misread the second.
_MANGLERS = {"superscript": str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"),
             "circled": str.maketrans("123456789", "①②③④⑤⑥⑦⑧⑨"),
             "arabic-indic": str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")}


def _nth_run_mangled(line: str, n: int, table: dict[int, int]) -> str:
    """`line` with its n-th run of ASCII digits translated (the rest still parses, so the field is reached)."""
    runs = list(re.finditer(r"[0-9]+", line))
    if n >= len(runs):
        return line
    m = runs[n]
    return line[: m.start()] + m.group().translate(table) + line[m.end() :]


@pytest.mark.parametrize("mangler", sorted(_MANGLERS))
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_digits_of_other_kinds_are_dead_letters_not_crashes(case: Case, mangler: str) -> None:
    """The sample read again with the n-th run of digits of every line replaced, for each n: the parser
    never raises, each outcome is an event or a parse failure."""
    cls = parser_class(case.format)
    table = _MANGLERS[mangler]
    lines = case.log.read_text(errors="replace").splitlines()
    for n in range(min(40, max((len(re.findall(r"[0-9]+", line)) for line in lines), default=0))):
        parser = cls(SourceContext(b"\x00" * 16, str(case.log), case.host,
                                   ZoneInfo(case.timezone) if case.timezone else None, case.reference_time),
                     cls.Options.model_validate(case.options))
        out = run(parser, [_nth_run_mangled(line, n, table) for line in lines])
        assert all(isinstance(item, (ParseFailure, AccessEvent)) for item in out)
