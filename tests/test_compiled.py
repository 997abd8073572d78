"""Which build is running: the pure-Python package or the one compiled with mypyc (setup.py)."""

from __future__ import annotations

import ast
import os
import re
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from click.testing import CliRunner

from pii_guard.cli import main
from pii_guard.compiled import compiled_modules, describe_build

ROOT = Path(__file__).resolve().parents[1]


def _setup_list() -> list[str]:
    """The COMPILED list of setup.py, read without running setup()."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "COMPILED" for t in node.targets):
            paths: list[str] = ast.literal_eval(node.value)
            return paths
    raise AssertionError("setup.py has no COMPILED list")


def _module(path: str) -> str:
    return path.removeprefix("src/").removesuffix(".py").replace("/", ".")


def test_extensions_are_named_by_their_place_in_the_package(tmp_path: Path) -> None:
    suffix = EXTENSION_SUFFIXES[0]
    (tmp_path / "sigma").mkdir()
    (tmp_path / "sigma" / f"index{suffix}").write_bytes(b"")
    (tmp_path / "sigma" / "index.py").write_text("")
    (tmp_path / f"model{suffix}").write_bytes(b"")
    (tmp_path / f"__init__{suffix}").write_bytes(b"")  # a package's own extension is not a module of it
    (tmp_path / "cli.py").write_text("")
    assert compiled_modules([str(tmp_path)]) == ["pii_guard.model", "pii_guard.sigma.index"]
    assert describe_build([str(tmp_path)]) == "compiled with mypyc: 2 modules"
    assert describe_build([str(tmp_path / "sigma" / "none")]) == "pure Python"


def test_version_says_which_build_runs() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"pii-guard, version \S+ \((pure Python|compiled with mypyc: \d+ modules)\)\n", result.output)
    assert f"({describe_build()})" in result.output


def test_the_compile_list_names_existing_modules_without_what_mypyc_cannot_compile() -> None:
    """mypyc cannot compile pydantic models (Field defaults, validators) or runtime-checkable protocols: they
    stay in interpreted modules."""
    paths = _setup_list()
    assert paths == sorted(set(paths), key=paths.index)  # no module twice
    for path in paths:
        source = (ROOT / path).read_text()
        assert "BaseModel)" not in source, f"{path} defines a pydantic model; move it to a module of its own"
        assert "@runtime_checkable" not in source, f"{path} defines a runtime-checkable protocol; move it"


def test_the_build_under_test_is_the_one_expected() -> None:
    """.ci/run sets PII_GUARD_EXPECT_COMPILED=1 when it runs the suite on the compiled build: then every listed
    module must be compiled. Otherwise none may be: an extension left in src/ would shadow the source edited."""
    compiled = os.environ.get("PII_GUARD_EXPECT_COMPILED") == "1"
    assert compiled_modules() == (sorted(_module(p) for p in _setup_list()) if compiled else [])
