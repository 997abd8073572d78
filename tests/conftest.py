"""Shared fixtures. Real-server tests call `require_binaries`: absent binaries skip the test on a
developer machine and fail it in CI (CI=true), where `.ci/run` must have installed them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_binaries(*paths: str) -> dict[str, str]:
    """Resolve each binary (a name on PATH or an absolute path); skip, or fail in CI, if one is missing."""
    found: dict[str, str] = {}
    missing = []
    for name in paths:
        resolved = name if os.path.isabs(name) and os.access(name, os.X_OK) else shutil.which(name)
        if resolved is None:
            missing.append(name)
        else:
            found[name] = resolved
    if missing:
        reason = f"real-server test needs {', '.join(missing)} (Debian packages; .ci/run installs them)"
        if IN_CI:
            pytest.fail(reason + ": missing in CI")
        pytest.skip(reason)
    return found


@pytest.fixture
def samples_dir() -> Path:
    return Path(__file__).parent / "samples"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """In CI a skipped real-server (or benchmark-peer) test is a failure, whatever made it skip: `.ci/run`
    installs them all."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    needs_install = item.get_closest_marker("realserver") or item.get_closest_marker("peers")
    if IN_CI and report.skipped and needs_install is not None:
        report.outcome = "failed"
        report.longrepr = f"real-server test skipped in CI: {report.longrepr}"
    return None
