"""The `peers` marker: tests that run the peer tools themselves (fail2ban-regex, sec, mtail). They skip, with
the reason, where a tool is not installed, except in CI, which installs them (`.ci/run`) and fails such a skip
(tests/conftest.py). The benchmarks themselves never run in CI."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "peers: runs a peer tool of the benchmark suite; skipped when absent")
