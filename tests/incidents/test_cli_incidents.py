"""`pii-guard incidents ...` and the secrets in `check`, as a responder runs them (real subprocesses)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import ROOT, cli, pg_lines

SECRET = "xoxb-123456789012-SUPERSECRET-do-not-print"


def _config(tmp: Path, notify: str = "") -> Path:
    # bob reading the decoy table: every line is a honeytoken match, all of them one incident
    (tmp / "app.log").write_text(pg_lines(5).replace("public.customers", "public.customers_archive_2019"))
    path = tmp / "pii-guard.yaml"
    path.write_text(f"""\
state_dir: state
sources:
  - path: "*.log"
    format: pgaudit
    options: {{log_line_prefix: "%t [%p]: user=%u,db=%d,app=%a,client=%h "}}
policy:
  zones: {ROOT}/rules/zones.yaml
  data_map: {ROOT}/rules/data-map.yaml
  directory: {ROOT}/rules/directory.yaml
  access: {ROOT}/rules/access-policy.yaml
{notify}""")
    return path


def test_a_replay_opens_incidents_that_responders_work_from_the_command_line(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    replay = cli("replay", "--config", config, str(tmp_path / "app.log"))
    assert replay.returncode == 1, replay.stderr
    assert "incident(s) in the state database" in replay.stderr
    listed = [json.loads(line) for line in cli("incidents", "list", "--config", config, "--json").stdout.splitlines()]
    assert listed, "the replay's matches opened incidents"
    first = listed[0]["id"]
    assert "open incidents: 1 critical" in cli("status", "--config", config).stdout
    assert [(item["user"], item["rule"], item["severity"], item["evidence"]) for item in listed] == [
        ("bob", "honeytoken-decoy-table", "critical", 5)]
    table = cli("incidents", "list", "--config", config)
    assert table.stdout.splitlines()[0].split()[:3] == ["ID", "SEVERITY", "STATUS"]
    assert cli("incidents", "ack", "--config", config, "--as", "alice", first).stdout.strip() == \
        f"{first} acknowledged by alice"
    assert cli("incidents", "comment", "--config", config, "--as", "alice", first, "asked bob").returncode == 0
    refused = cli("incidents", "resolve", "--config", config, first)
    assert refused.returncode == 2
    assert "--reason" in refused.stderr
    assert cli("incidents", "resolve", "--config", config, "--as", "alice", first, "--reason", "ok").returncode == 0
    shown = json.loads(cli("incidents", "show", "--config", config, "--json", first).stdout)
    assert shown["status"] == "resolved"
    assert [(t["actor"], t["kind"]) for t in shown["timeline"]][-3:] == [
        ("alice", "acknowledged"), ("alice", "comment"), ("alice", "resolved")]
    assert shown["evidence_ids"]
    text = cli("incidents", "show", "--config", config, first).stdout
    assert "timeline:" in text
    assert "asked bob" in text
    assert cli("incidents", "list", "--config", config, "--status", "resolved", "--json").stdout.count(first) == 1
    missing = cli("incidents", "ack", "--config", config, "INC-999")
    assert (missing.returncode, missing.stderr.strip()) == (
        2, "pii-guard: error: no incident 'INC-999' (see `pii-guard incidents list`)")


def test_silences_are_listed_and_end(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    made = cli("incidents", "silence", "--config", config, "--as", "carol", "--for", "2h", "--reason", "migration",
               "support-personal-hourly", "svc-*")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("silence S-1 on support-personal-hourly svc-* until ")
    [active] = [json.loads(x) for x in cli("incidents", "silences", "--config", config, "--json").stdout.splitlines()]
    assert (active["active"], active["by"], active["reason"]) == (True, "carol", "migration")
    assert cli("incidents", "unsilence", "--config", config, "S-1").returncode == 0
    [ended] = [json.loads(x) for x in cli("incidents", "silences", "--config", config, "--json").stdout.splitlines()]
    assert ended["active"] is False
    assert ended["state"] == "ended"
    assert ended["created"] <= ended["ended"] < ended["until"]  # ended now, well before the 2 h were up
    listed = cli("incidents", "silences", "--config", config).stdout.strip()
    assert listed.startswith(f"S-1  ended    support-personal-hourly svc-*  ended {ended['ended'][:16]}Z (was until "
                             f"{ended['until'][:16]}Z)  by carol: migration")
    bad = cli("incidents", "silence", "--config", config, "--for", "soon", "--reason", "x", "r", "k")
    assert bad.returncode == 2
    assert "is not a duration" in bad.stderr


def test_the_slack_token_never_appears_in_check_output_or_errors(tmp_path: Path) -> None:
    inline = _config(tmp_path, f"notify:\n  slack:\n    token: {SECRET}\n    channel: C0SECURITY\n")
    for args in (("check",), ("check", "--json")):
        done = cli(*args, "--config", str(inline))
        assert done.returncode == 0, done.stderr
        assert SECRET not in done.stdout + done.stderr
        assert "slack" in done.stdout
    (tmp_path / "token").write_text(SECRET)
    no_channel = _config(tmp_path, "notify:\n  slack:\n    token_file: token\n")
    done = cli("check", "--config", str(no_channel))
    assert done.returncode == 2
    assert "needs a channel" in done.stderr
    assert SECRET not in done.stdout + done.stderr
    wrong_type = _config(tmp_path, f"notify:\n  slack:\n    token: [{SECRET}]\n")
    done = cli("check", "--config", str(wrong_type))
    assert done.returncode == 2
    assert SECRET not in done.stdout + done.stderr
    missing = _config(tmp_path, "notify:\n  slack:\n    token_file: ${CREDENTIALS_DIRECTORY}/slack-token\n"
                                "    channel: C0SECURITY\n")
    done = cli("check", "--config", str(missing))
    assert done.returncode == 2
    assert ("notify.slack.token_file: '${CREDENTIALS_DIRECTORY}/slack-token' names the environment variable "
            "CREDENTIALS_DIRECTORY, which is not set") in done.stderr


def test_a_silence_for_a_rule_that_does_not_exist_is_refused_with_the_nearest_ids(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    typo = cli("incidents", "silence", "--config", config, "--for", "2h", "--reason", "x", "support-personal-quota",
               "svc-*")
    assert typo.returncode == 2
    assert typo.stderr.strip() == ("pii-guard: error: no rule 'support-personal-quota' in the loaded policy or Sigma "
                                   "rules (did you mean 'support-personal-hourly'?)")
    unknown = cli("incidents", "silence", "--config", config, "--for", "2h", "--reason", "x", "no-such-rule", "svc-*")
    assert unknown.returncode == 2
    assert "known rule ids: " in unknown.stderr
    assert "or * for every rule" in unknown.stderr
    assert cli("incidents", "silences", "--config", config).stdout.strip() == "no silences"
    for rule in ("role-access:analyst", "honeytoken-decoy-table", "*"):  # a role's rule, a honeytoken, every rule
        made = cli("incidents", "silence", "--config", config, "--for", "1h", "--reason", "x", rule, "bob")
        assert made.returncode == 0, made.stderr


def test_a_silence_may_name_a_sigma_rule(tmp_path: Path) -> None:
    path = _config(tmp_path)
    path.write_text(path.read_text().replace("policy:\n", f"policy:\n  sigma: [{ROOT}/rules/sigma]\n"))
    config = str(path)
    made = cli("incidents", "silence", "--config", config, "--for", "1h", "--reason", "x", "sigma:new-client-ip",
               "bob")
    assert made.returncode == 0, made.stderr
    typo = cli("incidents", "silence", "--config", config, "--for", "1h", "--reason", "x", "sigma:new-client-i",
               "bob")
    assert typo.returncode == 2
    assert "did you mean 'sigma:new-client-ip'" in typo.stderr


def test_list_status_all_is_valid_and_named_in_the_hint(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    assert cli("replay", "--config", config, str(tmp_path / "app.log")).returncode == 1
    bogus = cli("incidents", "list", "--config", config, "--status", "bogus")
    assert bogus.returncode == 2
    assert bogus.stderr.strip() == ("pii-guard: error: unknown status 'bogus' (use one of open, acknowledged, "
                                    "resolved, false_positive or all)")
    assert cli("incidents", "list", "--config", config, "--status", "all", "--status", "bogus").returncode == 2
    everything = cli("incidents", "list", "--config", config, "--status", "all", "--json").stdout.splitlines()
    assert len(everything) == 1
