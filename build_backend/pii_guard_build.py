"""pii-guard's PEP 517 build backend: setuptools, plus what the compiled build needs when it is asked for.

`PII_GUARD_COMPILE=1 pip install .` compiles the modules listed in setup.py with mypyc. mypyc type-checks the
code it compiles, so the isolated build environment then needs mypy, the runtime dependencies (their types
decide how the compiled code treats their values) and the stubs the type check uses. Without the variable the
build is the plain setuptools one and none of that is downloaded.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (the PEP 517 hooks this module does not override)

COMPILE_ENV = "PII_GUARD_COMPILE"


def compile_requested() -> bool:
    return os.environ.get(COMPILE_ENV, "") == "1"


def _compile_requires() -> list[str]:
    if not compile_requested():
        return []
    pyproject = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))
    compiler: list[str] = pyproject["tool"]["pii-guard"]["compile-requires"]
    return [*compiler, *pyproject["project"]["dependencies"]]


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    return [*_setuptools.get_requires_for_build_wheel(config_settings), *_compile_requires()]


def get_requires_for_build_editable(config_settings: dict[str, Any] | None = None) -> list[str]:
    if compile_requested():
        raise SystemExit(
            f"{COMPILE_ENV}=1 builds a wheel to install (pip install .), not an editable install: compiled modules "
            f"would shadow the sources being edited. Drop -e, or unset {COMPILE_ENV}."
        )
    return list(_setuptools.get_requires_for_build_editable(config_settings))
