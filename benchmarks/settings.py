"""How big each measurement of the suite is, in quick and full mode."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

from benchmarks.generate import DEFAULT_SEED

PARSE_FORMATS: Final = ("pgaudit-stderr", "pgaudit-jsonlog", "mariadb", "samba", "sftp", "nginx")


@dataclass(frozen=True)
class Settings:
    mode: str  # quick or full
    runs: int = 3
    seed: int = DEFAULT_SEED
    lines: int = 200_000  # per generated file: parse, detect, ingest
    daemon_lines: int = 200_000  # appended at once to the file the daemon follows
    peer_lines: int = 100_000  # the nginx file every peer reads
    sigma: int = 200  # Sigma rules on top of the shipped policy
    latency_seconds: float = 10.0  # of writing, per rate and run
    rates: tuple[int, ...] = (1_000, 5_000, 20_000)
    idle_seconds: float = 10.0
    window_users: int = 100_000  # active users in the windowed rules of the memory figure
    window_rules: int = 5
    search_events: int = 10_000_000
    report_events: int = 10_000_000
    report_users: int = 2_000
    formats: tuple[str, ...] = PARSE_FORMATS

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Settings:
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in doc.items()}
        return cls(**values)


FULL: Final = Settings("full")
QUICK: Final = Settings("quick", lines=20_000, daemon_lines=20_000, peer_lines=20_000, latency_seconds=3.0,
                        idle_seconds=3.0, search_events=200_000, report_events=200_000, report_users=200)  # fmt: skip
