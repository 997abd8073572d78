"""The peers' equivalent rules (benchmarks/peers/) match exactly the lines where pii-guard raises
personal-not-from-internet on a generated nginx sample."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from benchmarks.detect import shipped_policy
from benchmarks.generate import write_log, write_policy
from benchmarks.harness import parse_file
from benchmarks.peers import ALLOWED_NETS, PEERS, PEERS_DIR, PERSONAL_PATH, RULE, expected_matches

from pii_guard.detection.engine import DetectionEngine
from pii_guard.enrich.datamap import DataMap
from pii_guard.enrich.directory import Directory
from pii_guard.enrich.enricher import Enricher
from pii_guard.enrich.zones import Zones
from pii_guard.model import AccessEvent
from pii_guard.policy.compile import compile_policy

LINES = 3_000
SEED = 7


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[int]]:
    """The sample log, and the byte offsets of the lines where pii-guard raises the rule."""
    tmp = tmp_path_factory.mktemp("peers")
    log = tmp / "nginx.log"
    write_log("nginx", LINES, SEED, log)
    policy_files = write_policy(tmp / "policy", SEED)
    # the rule needs zones and the data map only: an empty directory keeps the test fast
    enricher = Enricher(Directory({}), DataMap.from_file(policy_files["data_map"]),
                        Zones.from_file(policy_files["zones"]))  # fmt: skip
    policy = shipped_policy(0)
    engine = DetectionEngine(list(compile_policy(policy).detectors), policy.lateness)
    offsets: dict[str, int] = {}
    found: set[int] = set()

    def on_event(event: AccessEvent) -> None:
        offsets[event.id] = event.offset
        for match, _ in engine.process(enricher(event), "test"):
            if match.rule_id == RULE:
                found.update(offsets[e] for e in match.evidence)

    parse_file("nginx", log, on_event)
    for match, _ in engine.drain():
        if match.rule_id == RULE:
            found.update(offsets[e] for e in match.evidence)
    assert len(found) > 20  # the sample has something to find
    return log, found


def lines_where(log: Path, matches: Callable[[str], bool]) -> set[int]:
    out = set()
    offset = 0
    with log.open("rb") as fh:
        for raw in fh:
            if matches(raw.decode("utf-8", "backslashreplace").rstrip("\n")):
                out.add(offset)
            offset += len(raw)
    return out


def test_the_rule_in_python(sample: tuple[Path, set[int]]) -> None:
    log, found = sample
    line = re.compile(r'^(\S+) \S+ \S+ \[[^\]]*\] "[A-Z]+ ([^ ?"]*)')

    def rule(text: str) -> bool:
        m = line.match(text)
        return bool(m and PERSONAL_PATH.match(m.group(2)) and not ALLOWED_NETS.match(m.group(1)))

    assert lines_where(log, rule) == found
    assert expected_matches(log) == len(found)


def test_fail2ban_filter(sample: tuple[Path, set[int]]) -> None:
    """The failregex as fail2ban applies it: <HOST> an address group, the timestamp cut out of the line."""
    log, found = sample
    conf = (PEERS_DIR / "fail2ban" / "pii-guard-nginx.conf").read_text()
    failregex = re.search(r"^failregex = (.+)$", conf, re.M)
    assert failregex is not None
    pattern = re.compile(failregex.group(1).replace("<HOST>", r"(?P<host>\S+)"))
    date = re.compile(r"(?<=\[)[^\]]+(?=\])")
    assert lines_where(log, lambda text: pattern.search(date.sub("", text, count=1)) is not None) == found


def test_sec_rule(sample: tuple[Path, set[int]]) -> None:
    """SEC's first rule (Perl regex; this one is also valid in Python)."""
    log, found = sample
    rules = (PEERS_DIR / "sec" / "pii-guard-nginx.sec").read_text()
    first = re.search(r"^pattern=(.+)$", rules, re.M)
    assert first is not None
    pattern = re.compile(first.group(1))
    assert lines_where(log, lambda text: pattern.search(text) is not None) == found


def test_every_peer_config_is_there() -> None:
    for peer in PEERS:
        assert peer.name
        assert peer.package
        assert peer.work
    for path in ("fail2ban/pii-guard-nginx.conf", "sec/pii-guard-nginx.sec", "mtail/pii-guard-nginx.mtail",
                 "crowdsec/config.yaml", "crowdsec/scenarios.yaml", "crowdsec/non-syslog.yaml", "README.md"):
        assert (PEERS_DIR / path).is_file(), path


@pytest.mark.peers
@pytest.mark.parametrize("name", ["fail2ban-regex", "SEC", "mtail"])
def test_real_peer_counts_the_same(name: str, sample: tuple[Path, set[int]], tmp_path: Path) -> None:
    peer = next(p for p in PEERS if p.name == name)
    missing = peer.missing()
    if missing:
        pytest.skip(missing)
    assert all(shutil.which(b) for b in peer.binaries)
    log, found = sample
    run = peer.run(log, tmp_path)
    assert run.matches[RULE] == len(found)
