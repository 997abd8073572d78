"""Everything the golden samples make the detectors say, in full, for comparing the two builds.

The golden tests compare matches by rule and user; a match also carries a volume, a limit, a window, evidence
and a sentence, where the compiled build (setup.py) could differ from the interpreted one (mypyc turns an int
into a float where the annotation says float). `.ci/run` runs `python -m tests.build_parity FILE` in the venv
of each build and compares the two files byte for byte.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import orjson

from pii_guard.model import Match
from pii_guard.policy.compile import load_policy
from pii_guard.policy.context import PolicyContext
from pii_guard.sigma.ruleset import load_ruleset
from tests.policy.test_shipped_policy import EXPECTED, replay_sample
from tests.sigma.helpers import PACK, RULES, golden_cases, golden_events, run


def _lines(source: str, name: str, found: list[Match]) -> list[bytes]:
    docs = sorted((m.to_json() for m in found), key=lambda d: (d["@timestamp"], d["id"]))
    return [orjson.dumps({"source": source, "sample": name, "match": doc}, option=orjson.OPT_SORT_KEYS)
            for doc in docs]


def dump() -> bytes:
    """One JSON line per match of every policy and rule-pack golden sample, in a fixed order."""
    from tests.policy.events import shipped_policy

    out: list[bytes] = []
    policy = shipped_policy()
    for name in sorted(EXPECTED):
        with tempfile.TemporaryDirectory() as tmp:
            out += _lines("policy", name, replay_sample(name, policy, Path(tmp)))
    shipped = load_policy(RULES / "access-policy.yaml").policy
    ctx = PolicyContext(shipped.timezone, shipped.defaults)
    cases = golden_cases()
    for name in sorted(cases):
        out += _lines("sigma", name, run(load_ruleset([PACK]), golden_events(cases[name]), ctx))
    return b"\n".join(out) + b"\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.build_parity FILE", file=sys.stderr)
        return 2
    Path(argv[0]).write_bytes(dump())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
