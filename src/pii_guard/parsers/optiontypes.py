"""Types that parser options share (pydantic, kept out of the compiled parser modules)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator


def split_commas(value: object) -> object:
    """`--set key=a,b` on the command line gives one string: its comma-separated items."""
    return tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else value


# a list of strings, given in YAML as a list or on the command line as `a,b`
CommaSeparated = Annotated[tuple[str, ...], BeforeValidator(split_commas)]
