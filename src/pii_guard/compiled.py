"""Which of pii-guard's modules run compiled.

`PII_GUARD_COMPILE=1 pip install .` (setup.py) turns the per-event modules into C extensions with mypyc and
installs them beside their sources; Python imports an extension before a source of the same name. What
`--version` prints and what the benchmarks record, so that a figure says which build produced it.
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path


def compiled_modules(package_dirs: list[str] | None = None) -> list[str]:
    """Dotted names of the modules of the package that are C extensions, sorted."""
    if package_dirs is None:
        import pii_guard

        package_dirs = list(pii_guard.__path__)
    found: set[str] = set()
    for top in map(Path, package_dirs):
        for path in top.rglob("*.*"):
            suffix = next((s for s in EXTENSION_SUFFIXES if path.name.endswith(s)), None)
            if suffix is None or path.name == "__init__" + suffix:
                continue
            parts = path.relative_to(top).parent.parts
            found.add(".".join(("pii_guard", *parts, path.name[: -len(suffix)])))
    return sorted(found)


def describe_build(package_dirs: list[str] | None = None) -> str:
    names = compiled_modules(package_dirs)
    return f"compiled with mypyc: {len(names)} modules" if names else "pure Python"
