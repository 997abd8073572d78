"""Every golden sample parses exactly to its expected events; every parser has at least one sample."""

from __future__ import annotations

import pytest

from pii_guard.parsers.base import ParseFailure
from pii_guard.parsers.registry import format_names
from tests.goldens import UPDATE, Case, all_cases, parse_case, render

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
