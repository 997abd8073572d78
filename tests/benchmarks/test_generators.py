"""The benchmark generators stay honest: deterministic, and parsed by the real parsers without failures."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
import yaml
from benchmarks.generate import FORMATS, lines_of, write_log, write_policy
from benchmarks.harness import build_enricher, parse_file
from benchmarks.population import DATA_MAP_SIZE, IP_COUNT, UNKNOWN_ZONE, USER_COUNT, Population
from benchmarks.timeline import Clock

LINES = 1_000
ALL = sorted(FORMATS)


@pytest.mark.parametrize("fmt", ALL)
def test_same_seed_gives_same_bytes(fmt: str) -> None:
    first = "\n".join(lines_of(fmt, LINES, seed=7))
    assert "\n".join(lines_of(fmt, LINES, seed=7)) == first
    assert "\n".join(lines_of(fmt, LINES, seed=8)) != first


@pytest.mark.parametrize("fmt", ALL)
def test_exactly_the_lines_asked_for(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    write_log(fmt, 777, 3, path)
    assert path.read_bytes().count(b"\n") == 777


@pytest.mark.parametrize("fmt", ALL)
def test_real_parser_reads_every_line(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"{fmt}.log"
    write_log(fmt, LINES, 7, path)
    result = parse_file(fmt, path)
    assert result.lines == LINES
    assert dict(result.failures) == {}
    assert result.events > LINES // 20


def test_clock_only_moves_forward() -> None:
    clock = Clock(random.Random(1))
    stamps = [clock.tick() for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert stamps[-1] - stamps[0] < 10_000_000  # many lines per second


def test_population_matches_the_policy_files(tmp_path: Path) -> None:
    pop = Population(5)
    assert len(pop.users) == USER_COUNT == len({u.name for u in pop.users})
    assert len(pop.ips) == IP_COUNT == len({ip for ip, _ in pop.ips})
    paths = write_policy(tmp_path, 5)
    data_map = yaml.safe_load(paths["data_map"].read_text())
    assert len(data_map["objects"]) == DATA_MAP_SIZE
    enricher = build_enricher(paths)  # the product's own loaders accept the files
    assert len(enricher.directory) == USER_COUNT
    for ip, zone in pop.ips:
        assert enricher.zones.lookup(ip) == (zone if zone != "internet" else UNKNOWN_ZONE)
    assert enricher.data_map.lookup("db:crm.public.customers").categories == ("contact", "personal")
    assert enricher.data_map.lookup("file:/srv/samba/hr/.old/passwords.xlsx").honeytoken
