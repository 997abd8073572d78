"""Build hook for the compiled build: `PII_GUARD_COMPILE=1 pip install .` compiles the modules below with mypyc.

Everything else about the package is in pyproject.toml. The listed modules are the per-event path (parse,
enrich, detect, encode); they are type-checked with the project's mypy settings and turned into C extensions
beside the pure-Python package, which stays in the wheel. Compiled modules must not define pydantic models
(their `Field` defaults and validators do not survive compilation): those live in modules of their own, such as
parsers/pgaudit_options.py. The build backend (build_backend/pii_guard_build.py) refuses an editable compiled
install, whose extensions would shadow the sources being edited.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

COMPILED = [
    # parse
    "src/pii_guard/parsers/timeparse.py",
    "src/pii_guard/parsers/normalize.py",
    "src/pii_guard/parsers/eventids.py",
    "src/pii_guard/parsers/syslog.py",
    "src/pii_guard/parsers/sqlmask.py",
    "src/pii_guard/parsers/pgaudit_prefix.py",
    "src/pii_guard/parsers/pgaudit_syslog.py",
    # (not pgrelations.py: compiled, its pglast Visitor subclass found no relation; it runs only for statements
    # logged without them, pgaudit.log_relation = off)
    "src/pii_guard/parsers/pgaudit.py",
    "src/pii_guard/parsers/weblog.py",
    # enrich
    "src/pii_guard/enrich/directory.py",
    "src/pii_guard/enrich/zones.py",
    "src/pii_guard/enrich/datamap.py",
    "src/pii_guard/enrich/enricher.py",
    # detect
    "src/pii_guard/rules/matchers.py",
    "src/pii_guard/rules/windows.py",
    "src/pii_guard/policy/context.py",
    "src/pii_guard/policy/access.py",
    "src/pii_guard/policy/volume.py",
    "src/pii_guard/detection/codec.py",
    "src/pii_guard/detection/engine.py",
    "src/pii_guard/sigma/getters.py",
    "src/pii_guard/sigma/compile.py",
    "src/pii_guard/sigma/values.py",
    "src/pii_guard/sigma/index.py",
    "src/pii_guard/sigma/detector.py",
    "src/pii_guard/sigma/correlate.py",
    # read, stage, store
    "src/pii_guard/sources/tail.py",
    "src/pii_guard/pipeline.py",
    "src/pii_guard/store/sqlite.py",
    "src/pii_guard/live.py",
]


def ext_modules() -> list[object]:
    # egg_info, dist_info: what the build needs (before mypyc is installed for it), the metadata
    if os.environ.get("PII_GUARD_COMPILE", "") != "1" or {"egg_info", "dist_info"} & set(sys.argv[1:]):
        return []
    from mypyc.build import mypycify

    return list(mypycify(COMPILED, opt_level="3", group_name="pii_guard_native"))


setup(ext_modules=ext_modules())
