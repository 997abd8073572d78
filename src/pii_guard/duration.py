"""Durations as config and policy files write them: 90s, 15m, 1h, 1d, 2w (a bare integer is seconds)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNIT_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000, "w": 604_800_000_000}


def duration_us(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 1_000_000
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return int(m.group(1)) * _UNIT_US[m.group(2)]
    raise ValueError(f"{value!r} is not a duration (write e.g. 90s, 15m, 1h, 1d, 2w)")


DurationUs = Annotated[int, BeforeValidator(duration_us)]
