"""The shipped unit is a notify service with reload, restart and the hardening the README promises; its
`systemd-analyze security` exposure stays at or below 2.0."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).parents[2] / "deploy" / "systemd" / "pii-guard.service"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_unit_has_the_service_behaviour() -> None:
    d = directives()
    assert d["Type"] == ["notify"]
    assert d["Restart"] == ["on-failure"]
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert "WatchdogSec" in d
    assert d["User"] == ["pii-guard"]
    assert "StateDirectory" in d
    assert "LoadCredential" in d
    assert "AmbientCapabilities" in d
    assert d["AmbientCapabilities"] == [""]
    for key in ("ProtectSystem", "NoNewPrivileges", "PrivateTmp", "ProtectHome", "RestrictAddressFamilies",
                "SystemCallFilter"):
        assert key in d, key
    assert "CAP_DAC_READ_SEARCH" not in UNIT.read_text().replace("never through CAP_DAC_READ_SEARCH", "")


def test_exposure_score_at_most_2() -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    out = subprocess.run([tool, "security", "--offline=true", str(UNIT)], capture_output=True, text=True,
                         check=False).stdout
    score = re.search(r"Overall exposure level for \S+: ([\d.]+)", out)
    assert score is not None, out[-500:]
    assert float(score.group(1)) <= 2.0
