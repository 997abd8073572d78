"""`pii-guard rules test` on the access policy, as a user runs it on a shipped sample."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_each_honeytoken_is_a_rule_of_the_summary_with_its_matches() -> None:
    """The Matches section shows the decoy's match: the Rules section counts it under that honeytoken."""
    out = subprocess.run(
        [sys.executable, "-m", "pii_guard", "rules", "test", "--config", str(ROOT / "examples" / "quickstart.yaml"),
         "--format", "samba-full-audit", str(ROOT / "rules" / "access-policy.yaml"),
         str(ROOT / "tests" / "samples" / "policy" / "samba-hr.log")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr  # matches found
    lines = out.stdout.splitlines()
    assert any(line.startswith("  line 52: honeytoken-decoy-files [honeytoken, critical]") for line in lines)
    rules = lines[lines.index("Rules:") + 1 :]
    counts = {line.split()[0]: line.split()[1] for line in rules if line.startswith("  ") and "match(es)" in line}
    assert counts["honeytoken-decoy-files"] == "1"
    assert counts["honeytoken-decoy-record"] == counts["honeytoken-decoy-table"] == "0"
    assert "honeytokens" not in counts
    branches = next(line for line in lines if line.startswith("Branches never exercised by this sample"))
    assert "honeytoken-decoy-record" in branches
    assert "honeytoken-decoy-files" not in branches.split(": ", 1)[1].split(", ")


def test_verbose_events_show_the_zone_the_policy_judged() -> None:
    """A unix-socket session has no client IP: its zone is the policy's no_ip_zone, as the verdicts say."""
    out = subprocess.run(
        [sys.executable, "-m", "pii_guard", "rules", "test", "--config", str(ROOT / "examples" / "quickstart.yaml"),
         "-v", str(ROOT / "rules" / "access-policy.yaml"), str(ROOT / "examples" / "logs" / "postgresql-15-main.log")],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode in (0, 1), out.stderr
    events = [line for line in out.stdout.splitlines() if line.startswith("  line ")]
    assert events
    assert not any(" zone - " in line for line in events)
    assert any(" zone local " in line for line in events)
