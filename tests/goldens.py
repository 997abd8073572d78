"""Golden-sample cases: a real log beside a `.case.yaml` (how to parse it) and a `.expected.jsonl` (what
every event must be). Regenerate after a deliberate parser change with PII_GUARD_UPDATE_GOLDEN=1, then read
the diff: the golden file is the review."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import yaml

from pii_guard.model import AccessEvent, format_timestamp
from pii_guard.parsers.base import Outcome, ParseFailure, SourceContext
from pii_guard.parsers.registry import parser_class
from pii_guard.sources.files import file_fingerprint, iter_lines

SAMPLES = Path(__file__).parent / "samples"
UPDATE = os.environ.get("PII_GUARD_UPDATE_GOLDEN") == "1"


@dataclass
class Case:
    path: Path  # the .case.yaml
    log: Path
    format: str
    options: dict[str, Any] = field(default_factory=dict)
    timezone: str | None = None
    host: str | None = None
    reference_time: float = 0.0
    expect_failures: int = 0

    @property
    def expected(self) -> Path:
        return self.log.with_name(self.log.name + ".expected.jsonl")

    @property
    def id(self) -> str:
        return f"{self.path.parent.name}/{self.log.name}"


def all_cases() -> list[Case]:
    cases = []
    for spec_path in sorted(SAMPLES.glob("*/*.case.yaml")):
        spec = yaml.safe_load(spec_path.read_text())
        ref = spec.get("reference_time")
        cases.append(
            Case(
                path=spec_path,
                log=spec_path.with_name(spec["file"]),
                format=spec["format"],
                options=spec.get("options") or {},
                timezone=spec.get("timezone"),
                host=spec.get("host"),
                reference_time=datetime.fromisoformat(ref).timestamp() if ref else 0.0,
                expect_failures=spec.get("expect_failures", 0),
            )
        )
    return cases


def parse_case(case: Case) -> list[Outcome]:
    cls = parser_class(case.format)
    options = cls.Options.model_validate(case.options)
    with case.log.open("rb") as fh:
        context = SourceContext(
            fingerprint=file_fingerprint(fh),
            path=str(case.log),
            host=case.host,
            tz=ZoneInfo(case.timezone) if case.timezone else None,
            reference_time=case.reference_time,
        )
        parser = cls(context, options)
        out: list[Outcome] = []
        for line in iter_lines(fh):
            out.extend(parser.feed(line.offset, line.text))
        out.extend(parser.finish())
    return out


def project(item: Outcome) -> dict[str, Any]:
    """The pinned part of an event: what detection and responders depend on."""
    if isinstance(item, ParseFailure):
        return {"failure": item.reason, "offset": item.offset}
    ev: AccessEvent = item
    return {
        "@timestamp": format_timestamp(ev.time_us),
        "event.action": ev.action,
        "event.outcome": ev.outcome,
        "user.name": ev.user,
        "source.ip": ev.source_ip,
        "pii.object": ev.object,
        "pii.rows": ev.rows,
        "pii.bytes": ev.bytes,
        "pii.command": ev.command,
    }


def render(items: list[Outcome]) -> bytes:
    return b"".join(orjson.dumps(project(i), option=orjson.OPT_SORT_KEYS) + b"\n" for i in items)
