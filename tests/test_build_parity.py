"""The dump that .ci/run compares between the interpreted and the compiled build (tests/build_parity.py)."""

from __future__ import annotations

import orjson

from tests.build_parity import dump


def test_the_dump_is_deterministic_and_holds_every_kind_of_match_in_full() -> None:
    first = dump()
    assert first == dump()
    docs = [orjson.loads(line) for line in first.splitlines()]
    sources = {d["source"] for d in docs}
    assert sources == {"policy", "sigma"}
    kinds = {d["match"]["rule"]["kind"] for d in docs}
    assert {"quota", "honeytoken", "sigma"} <= kinds
    # the fields where the builds could differ are there, with numbers among them
    assert any(isinstance(d["match"]["volume"], int | float) for d in docs)
    assert all(d["match"]["sentence"] for d in docs)
