"""`rules test` and `rules lint` on Sigma rules, and Sigma rules from the config in `replay`, as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from pii_guard.config.load import load_config
from pii_guard.detection.build import policy_for
from pii_guard.enrich.enricher import Enricher
from pii_guard.sigma.detector import CorrelationDetector, SigmaDetector

ROOT = Path(__file__).parents[2]
PACK = ROOT / "rules" / "sigma"
PREFIX = "%t [%p]: user=%u,db=%d,app=%a,client=%h "
FMT = ("--format", "pgaudit", "--set", f"log_line_prefix={PREFIX}")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pii_guard", *args], capture_output=True, text=True, timeout=300)


def config(tmp: Path, extra: str = "") -> Path:
    path = tmp / "pii-guard.yaml"
    path.write_text(f"""\
state_dir: state
sources:
  - path: "*.log"
    format: pgaudit
    options: {{log_line_prefix: "{PREFIX}"}}
    expect_every: 30m
policy:
  zones: {ROOT}/rules/zones.yaml
  data_map: {ROOT}/rules/data-map.yaml
  directory: {PACK}/golden-directory.yaml
  access: {ROOT}/rules/access-policy.yaml
{extra}""")
    return path


def test_config_keys_and_build_wiring(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"  sigma: [{PACK}]\n")
    loaded = load_config(cfg)
    assert loaded.config.sources[0].expect_every == 30 * 60_000_000
    policy = policy_for(loaded.config, Enricher.from_config(loaded.config))
    kinds = [type(d) for d in policy.detectors]
    assert kinds[-2:] == [SigmaDetector, CorrelationDetector]
    assert len(policy.detectors) > 2  # the policy's own detectors come first


def test_rules_test_on_a_sigma_rule(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    out = cli("rules", "test", "--config", str(cfg), *FMT, "-v", str(PACK / "disabled_account_access.yml"),
              str(PACK / "disabled_account_access.pgaudit.log"))
    assert out.returncode == 1, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"rules {PACK}/disabled_account_access.yml, sample ")
    assert "  line 1: sigma:disabled-account-access [sigma, high] Access by an account the directory marks disabled " \
           "or gone: dave (support) logged in db:crm from 10.20.0.8 [attack.persistence, attack.t1078]" in lines
    assert "    no    sigma:disabled-account-access: condition `selection` false: selection no" in lines
    assert any(line.startswith("  sigma:disabled-account-access  3 match(es)") for line in lines)


def test_rules_test_json_on_a_correlation(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    out = cli("rules", "test", "--config", str(cfg), *FMT, "--json", str(PACK / "brute_force_then_bulk_read.yml"),
              str(PACK / "brute_force_then_bulk_read.pgaudit.log"))
    assert out.returncode == 1, out.stderr
    [doc] = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert doc["rule"] == {"id": "sigma:brute-force-then-bulk-read", "kind": "sigma"}
    assert doc["severity"] == "critical"
    assert doc["line"] == 14  # the bulk read that completed the sequence


def test_rules_test_policy_file_unchanged(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    out = cli("rules", "test", "--config", str(cfg), *FMT, str(ROOT / "rules" / "access-policy.yaml"),
              str(PACK / "disabled_account_access.pgaudit.log"))
    assert out.stdout.startswith("policy ")


def test_rules_lint_exit_codes_and_messages(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"  sigma: [{PACK}]\n")
    clean = cli("rules", "lint", "--config", str(cfg))
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "no problems found\n")
    bad = tmp_path / "bad.yml"
    bad.write_text("title: t\nlogsource: {product: pii-guard}\ndetection:\n  sel: {user.nme: x}\n"
                   "  a: {pii.rows|gt: 5}\n  b: {pii.rows|lt: 2}\n  condition: sel and a and b\n")
    out = cli("rules", "lint", "--config", str(cfg), str(bad))
    assert out.returncode == 1
    assert out.stdout.splitlines() == [
        f"{bad}:4: warning: unknown field 'user.nme' for pii-guard: no pii-guard event has it (did you mean "
        "'user.name'?)",
        f"{bad}:7: error: can never match: no number is in the range required of pii.rows",
    ]
    assert out.stderr == "1 warning(s), 1 error(s)\n"


def test_replay_with_sigma_rules_from_the_config(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"  sigma: [{PACK}]\n")
    log = tmp_path / "pg.log"
    log.write_text((PACK / "audit_logging_reduced.pgaudit.log").read_text())
    out = cli("replay", "--config", str(cfg), "--fresh", "--json", str(log))
    assert out.returncode == 1, out.stderr
    rules = [orjson.loads(line)["rule"]["id"] for line in out.stdout.splitlines()]
    assert rules.count("sigma:audit-logging-reduced") == 3


def test_a_bad_sigma_rule_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("title: t\nlogsource: {product: pii-guard}\ndetection:\n  sel:\n    user.name|nope: x\n"
                   "  condition: sel\n")
    cfg = config(tmp_path, f"  sigma: [{bad}]\n")
    out = cli("replay", "--config", str(cfg), "--fresh", *FMT[:2], str(PACK / "audit_logging_reduced.pgaudit.log"))
    assert out.returncode == 2
    assert out.stderr == f"pii-guard: error: {bad}:5: Sigma: Unknown modifier 'nope'\n"


def test_the_readme_commands_for_sigma_rules_work_as_written() -> None:
    """`rules lint PATHS` needs no config; `rules test --format auto` guesses the sample's format and prefix."""
    lint = subprocess.run([sys.executable, "-m", "pii_guard", "rules", "lint", "rules/sigma"], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)  # fmt: skip
    assert lint.returncode == 0, lint.stderr
    assert lint.stderr.strip() == "no problems found"
    test = subprocess.run([sys.executable, "-m", "pii_guard", "rules", "test", "--config", "examples/quickstart.yaml",
                           "--format", "auto", "-v", "rules/sigma/new_client_ip.yml",
                           "rules/sigma/new_client_ip.pgaudit.log"], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)  # fmt: skip
    assert test.returncode == 1, test.stderr
    assert "    MATCH sigma:new-client-ip: " in test.stdout
    assert "format pgaudit (confidence" in test.stderr


def test_check_counts_the_sigma_rules_and_warns_of_a_misspelled_field(tmp_path: Path) -> None:
    """A rule on `user.nmae` loads but never fires: `check` (the unit's ExecStartPre) says so."""
    rules = tmp_path / "sigma"
    rules.mkdir()
    (rules / "typo.yml").write_text("title: alice reads\nname: typo\nlevel: high\n"
                                    "logsource: {product: pii-guard, category: database_access}\n"
                                    "detection:\n  sel: {user.nmae: alice}\n  condition: sel\n")
    cfg = config(tmp_path, f"  sigma: [{PACK}, {rules}]\n")
    out = cli("check", "--config", str(cfg))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    counted = next(line for line in lines if line.startswith("  Sigma: "))
    assert counted.endswith("correlation(s)")
    assert not counted.startswith("  Sigma: 0 ")
    assert any("warning:" in line and "user.nmae" in line and "user.name" in line for line in lines), out.stdout
    doc = orjson.loads(cli("check", "--config", str(cfg), "--json").stdout)
    assert any("user.nmae" in w for w in doc["sigma"]["warnings"])
