"""Format detection: every golden sample is recognised, with the options it needs; `parse --format auto`;
`check` warns when a source's files do not look like its format."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.detect import (
    PG_PREFIXES,
    compression_of_file,
    describe,
    format_warnings,
    guess_file,
    guess_lines,
    head_lines,
)
from pii_guard.parsers.registry import parser_class
from pii_guard.sources.compressed import open_log
from pii_guard.sources.files import file_fingerprint, iter_lines
from tests.goldens import Case, all_cases

ROOT = Path(__file__).parents[2]
SAMPLES = ROOT / "tests" / "samples"
# Samples in a web server's own LogFormat / log_format, or in a PostgreSQL log_line_prefix not among the common
# ones, are left out: that format is the server's config, which no guess can make up (`parse --format apache
# --set log_format=...`, `--set log_line_prefix=...`).
CASES = [c for c in all_cases() if "log_format" not in c.options
         and c.options.get("log_line_prefix", PG_PREFIXES[0]) in PG_PREFIXES]

# The confidence each sample is recognised with, at least: a sample with a broken record on purpose, or
# with lines of other programs, loses some; plain JSON lines of an application (jsonl) are only ever "some JSON".
LOWER_CONFIDENCE = {
    "jsonl/crm-audit.log": 0.15,
    "percona-audit/json-sessions.log": 0.6,
    "s3-access/handwritten-objects.log": 0.75,
    "apache/apache-combined-escaping.log": 0.8,  # 2 of 15 user fields hold a space: not the combined signature
    "sftp/internal-sftp-long-name-truncated.log": 0.4,  # half its lines are cut short: failures by design
    "pgaudit/pg15-pgaudit17-role-names.log": 0.7,  # 4 of 17 lines hold a %u with a space: failures by design
}
# Combined lines with no quote or backslash in any field: nginx and Apache write them byte for byte alike, so
# either is the right guess, at the confidence that says so (0.6), the other one offered beside it.
EITHER_WEB_SERVER = {"apache/apache-webdav.log"}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pii_guard", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_golden_sample_is_recognised(case: Case) -> None:
    guesses = guess_file(case.log)
    assert guesses, describe(guesses)
    best = guesses[0]
    if case.id in EITHER_WEB_SERVER:
        assert {g.format for g in guesses[:2]} == {"nginx", "apache"}, describe(guesses)
        assert [g.confidence for g in guesses[:2]] == [0.6, 0.6], describe(guesses)
        return
    assert best.format == case.format, describe(guesses)
    assert best.confidence >= LOWER_CONFIDENCE.get(case.id, 0.9), describe(guesses)


@pytest.mark.parametrize("case", [c for c in CASES if c.format != "jsonl"],
                         ids=[c.id for c in CASES if c.format != "jsonl"])
def test_the_guessed_options_parse_the_sample_as_its_case_does(case: Case) -> None:
    """(An application's JSON lines need a field mapping that no guess can make up.)"""
    best = guess_file(case.log)[0]
    cls = parser_class(best.format)
    raw, fh = open_log(case.log)
    with raw, fh:
        parser = cls(SourceContext(fingerprint=file_fingerprint(fh), path=str(case.log)),
                     cls.Options.model_validate(best.options))
        out = [o for line in iter_lines(fh) for o in parser.feed(line.offset, line.text)]
        out.extend(parser.flush())
    failures = [o for o in out if isinstance(o, ParseFailure)]
    expected = 0 if case.log.suffix == ".gz" else case.expect_failures  # decompressed, the .gz sample parses
    assert len(failures) == expected, [f.reason for f in failures]


def test_suggested_options() -> None:
    stderr = guess_file(SAMPLES / "pgaudit" / "pg15-pgaudit17-stderr.log")[0]
    assert stderr.options == {"destination": "stderr", "log_line_prefix": "%m [%p] %q%u@%d ",
                              "extra_prefixes": ["%t [%p]: user=%u,db=%d,app=%a,client=%h "]}
    assert guess_file(SAMPLES / "samba-full-audit" / "smbd-auth_audit.log")[0].options == {"log": "auth_audit"}
    assert guess_file(SAMPLES / "samba-full-audit" / "samba-rfc3339.log")[0].options == {"prefix": "%u|%I|%m|%S"}
    assert guess_file(SAMPLES / "sftp" / "sshd-E-verbose.log")[0].options == {"layout": "bare"}
    two_field = ["2026-11-27T16:23:22.436959+00:00 vm smbd_audit: alice|10.0.0.5|create_file|ok|0x120089|file|open|/x"]
    assert guess_lines(two_field)[0].options == {"prefix": "%u|%I"}


@pytest.mark.parametrize(
    ("lines", "prefix"),
    [
        # real lines (Samba 4.17.12; paths and user names renamed) of `full_audit:prefix = %u|%I|%S`: the share,
        # not the machine, is the third field, as `connect` shows
        (["2026-11-30T03:45:46.300580+00:00 vm smbd_audit: alice|127.0.0.1|hr|connect|ok|hr",
          "2026-11-30T03:45:46.309412+00:00 vm smbd_audit: alice|127.0.0.1|hr|create_file|ok|0x120089|file|open|"
          "/srv/samba/hr/reports/customers.csv"], "%u|%I|%S"),
        # `%u|%I|%m|%P|%S`: five fields, the share's directory (%P) among them
        (["2026-11-30T03:45:55.532590+00:00 vm smbd_audit: alice|127.0.0.1|vm|/srv/samba/hr|hr|connect|ok|hr",
          "2026-11-30T03:45:55.540804+00:00 vm smbd_audit: alice|127.0.0.1|vm|/srv/samba/hr|hr|create_file|ok|"
          "0x120089|file|open|/srv/samba/hr/reports/customers.csv"], "%u|%I|%m|%P|%S"),
        # smbd's log file with `debug syslog format = yes`
        (["2026-11-30T04:48:03.042295+01:00 vm smbd[26302]:   alice|127.0.0.1|vm|hr|connect|ok|hr",
          "2026-11-30T04:48:03.048978+01:00 vm smbd[26302]:   alice|127.0.0.1|vm|hr|create_file|ok|0x120089|file|"
          "open|/srv/samba/hr/reports/customers.csv"], "%u|%I|%m|%S"),
    ],
)  # fmt: skip
def test_samba_prefix_guessed_from_the_records(lines: list[str], prefix: str) -> None:
    """Finding 12: the guess reads the records it recognises (one read, one login each here)."""
    best = guess_lines(lines)[0]
    assert (best.format, best.options, best.confidence >= 0.9) == ("samba-full-audit", {"prefix": prefix}, True)
    trial = parser_class(best.format)(SourceContext(b"t", "t"), parser_class(best.format).Options(**best.options))
    outs = [o for i, line in enumerate(lines) for o in trial.feed(i, line)]
    assert [getattr(o, "action", None) for o in outs] == ["login", "read"]


def test_postgresql_through_syslog_with_a_prefix_without_time() -> None:
    for name in ("pg15-pgaudit17-syslog.log", "pg15-pgaudit17-syslog-traditional.log"):
        best = guess_file(SAMPLES / "pgaudit" / name)[0]
        assert (best.format, best.options) == (
            "pgaudit", {"destination": "syslog", "log_line_prefix": "[%p] user=%u,db=%d,app=%a,client=%h "}
        ), name  # fmt: skip
        assert best.confidence > 0.9


def test_nginx_and_apache_cannot_be_told_apart_without_an_escape() -> None:
    lines = ['127.0.0.1 - alice [27/Nov/2026:16:24:33 +0000] "GET /a.csv HTTP/1.1" 200 26 "-" "curl/7.88.1"'] * 3
    guesses = guess_lines(lines)
    assert {g.format for g in guesses[:2]} == {"nginx", "apache"}
    assert guesses[0].confidence == guesses[1].confidence == 0.6
    assert "no escaping here tells them apart" in guesses[0].reason


def test_combined_lines_with_a_spaced_user_or_a_virtual_host_are_web_lines() -> None:
    """Apache writes a Basic-auth user as sent (`John Doe`), and Debian's other_vhosts_access.log
    (vhost_combined) puts `%v:%p` first: both are still combined lines."""
    lines = ['10.0.0.5 - John Doe [27/Nov/2026:16:24:33 +0000] "GET /hr/a.csv HTTP/1.1" 200 26 "-" "curl/7.88.1"',
             'intranet.example:443 10.0.0.5 - - [27/Nov/2026:16:24:34 +0000] "GET / HTTP/1.1" 200 26 "-" "curl/7.88.1"']
    for line in lines:
        assert {g.format for g in guess_lines([line] * 3)[:2]} == {"nginx", "apache"}, line


def test_a_syslog_file_of_many_programs() -> None:
    lines = [
        "Nov 27 16:23:15 vm smbd_audit: alice|10.0.0.5|vm|hr|connect|ok|hr",
        "Nov 27 16:23:16 vm CRON[12]: (root) CMD (true)",
        "Nov 27 16:23:17 vm sftp-server[33]: session opened for local user bob from [10.0.0.6]",
        "Nov 27 16:23:18 vm smbd_audit: alice|10.0.0.5|vm|hr|disconnect|ok|hr",
    ]
    best, second = guess_lines(lines)[:2]
    assert (best.format, second.format) == ("samba-full-audit", "sftp")
    assert best.confidence == pytest.approx(0.97 * 2 / 4, abs=0.01)
    assert "CRON" in best.reason


def test_long_json_document_is_guessed_from_its_keys(tmp_path: Path) -> None:
    records = [{"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "userIdentity": {"type": "IAMUser"},
                "eventTime": "2026-11-27T09:15:02Z", "padding": "x" * 2000}] * 1000
    path = tmp_path / "big.json"
    path.write_bytes(orjson.dumps({"Records": records}, option=orjson.OPT_INDENT_2))
    best = guess_file(path, max_bytes=64 << 10)[0]
    assert (best.format, best.confidence) == ("cloudtrail", 0.75)
    assert "longer than" in best.reason


def test_gzip_heads_and_decompressed_reading(tmp_path: Path) -> None:
    plain = SAMPLES / "vsftpd" / "xferlog"
    packed = tmp_path / "xferlog.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert compression_of_file(packed) == "gzip"
    assert compression_of_file(plain) is None
    assert head_lines(packed) == head_lines(plain)
    for path in (packed, plain):
        raw, text = open_log(path)
        with raw, text:
            assert text.read() == plain.read_bytes()
            assert (text is raw) == (path == plain)
    broken = tmp_path / "broken.gz"
    broken.write_bytes(gzip.compress(b"x" * 100)[:20])
    assert head_lines(broken) == ([], True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=20))
def test_detection_never_raises(lines: list[str]) -> None:
    for guess in guess_lines(lines):
        assert 0.0 <= guess.confidence <= 1.0


def test_parse_auto_says_its_guess_and_parses_gzip(tmp_path: Path) -> None:
    result = cli("parse", "--format", "auto", str(SAMPLES / "cloudtrail" / "delivered-document.json.gz"),
                 str(SAMPLES / "vsftpd" / "xferlog"))
    assert result.returncode == 0, result.stderr
    assert "delivered-document.json.gz: format cloudtrail (confidence 0.97, high)" in result.stderr
    assert "xferlog: format vsftpd (confidence 0.97, high)" in result.stderr
    docs = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(docs) == 8 + 5
    assert docs[0]["pii"]["object"] == "s3:hr-exports/payroll/payroll 2024.xlsx"
    assert docs[-1]["event"]["dataset"] == "vsftpd.log"


def test_parse_auto_uses_the_suggested_options_and_set_overrides_them() -> None:
    log = str(SAMPLES / "sftp" / "sshd-E-verbose.log")
    auto = cli("parse", "--format", "auto", log)
    assert auto.returncode == 0, auto.stderr
    assert '{"layout":"bare"}' in auto.stderr
    assert len(auto.stdout.splitlines()) == 3
    forced = cli("parse", "--format", "auto", "--set", "layout=syslog", log)
    assert forced.stdout == ""
    assert "record(s) not parsed" in forced.stderr


def test_parse_auto_refuses_an_unknown_file(tmp_path: Path) -> None:
    log = tmp_path / "notes.txt"
    log.write_text("dear diary\ntoday nothing happened\n")
    result = cli("parse", "--format", "auto", str(log))
    assert result.returncode == 2
    assert f"{log}: cannot tell its format" in result.stderr


def test_parse_reports_failures_under_the_name_given(tmp_path: Path) -> None:
    packed = tmp_path / "trail.json.gz"
    packed.write_bytes(gzip.compress(b'{"Records": [{"eventSource": "s3.amazonaws.com"}]}\n'))
    result = cli("parse", "--format", "cloudtrail", str(packed))
    assert f"pii-guard: {packed} offset 0: record 0: no eventTime or eventName" in result.stderr


def test_parse_refuses_a_broken_gzip_cleanly(tmp_path: Path) -> None:
    broken = tmp_path / "trail.json.gz"
    broken.write_bytes(gzip.compress(b'{"Records": []}\n' * 100)[:30])
    result = cli("parse", "--format", "cloudtrail", str(broken))
    assert result.returncode == 2
    assert f"pii-guard: error: cannot decompress {broken}" in result.stderr
    assert "Traceback" not in result.stderr


def _config(tmp: Path, sources: str) -> Path:
    path = tmp / "pii-guard.yaml"
    path.write_text(f"""\
state_dir: state
sources:
{sources}
policy:
  zones: {ROOT}/rules/zones.yaml
  data_map: {ROOT}/rules/data-map.yaml
  directory: {ROOT}/rules/directory.yaml
""")
    return path


def test_no_format_warning_for_a_log_the_configured_options_read(tmp_path: Path) -> None:
    """A real PostgreSQL log with a prefix the guesser does not try (`< %m %r %u %d >`): the source's own
    options read it, so `check` does not call it unknown."""
    log = SAMPLES / "pgaudit" / "pg15-pgaudit17-no-pid-relation-off.log"
    assert format_warnings("pgaudit", [str(log)]) != []  # the guess alone does not know it
    assert format_warnings("pgaudit", [str(log)], options={"log_line_prefix": "< %m %r %u %d >"}) == []
    assert format_warnings("pgaudit", [str(log)], options={"log_line_prefix": "%t [%p]: "}) != []  # wrong prefix


def test_check_warns_when_the_files_do_not_look_like_the_configured_format(tmp_path: Path) -> None:
    shutil.copy(SAMPLES / "vsftpd" / "vsftpd.log", tmp_path / "ftp.log")
    shutil.copy(SAMPLES / "nginx" / "nginx-access.log", tmp_path / "web.log")
    shutil.copy(SAMPLES / "cloudtrail" / "delivered-document.json", tmp_path / "trail.json")
    cfg = _config(tmp_path, """\
  - path: "ftp.log"
    format: nginx
  - path: "web.log"
    format: nginx
  - path: "trail.json"
    format: cloudtrail
""")
    text = cli("check", "--config", str(cfg))
    assert text.returncode == 0, text.stderr
    assert "warning: " in text.stdout
    assert "ftp.log looks like vsftpd (confidence 0.97), not like nginx" in text.stdout
    assert "web.log" not in "".join(line for line in text.stdout.splitlines() if "warning" in line)
    assert "trail.json" not in "".join(line for line in text.stdout.splitlines() if "warning" in line)
    report = orjson.loads(cli("check", "--config", str(cfg), "--json").stdout)
    ftp, web, trail = report["sources"]
    assert len(ftp["warnings"]) == 1
    assert "warnings" not in web
    assert "warnings" not in trail
    small = _config(tmp_path, """\
  - path: "trail.json"
    format: cloudtrail
    max_line_bytes: 4096
""")
    (only,) = orjson.loads(cli("check", "--config", str(small), "--json").stdout)["sources"]
    assert only["warnings"] == [f"{tmp_path / 'trail.json'}: its first line is longer than max_line_bytes (4096) "
                                "(a delivered CloudTrail document is one line): it would be cut and kept as a dead "
                                "letter; raise max_line_bytes for this source"]


def test_format_warnings_for_gzip_and_unknown_content(tmp_path: Path) -> None:
    packed = tmp_path / "x.log"
    packed.write_bytes(gzip.compress(b"hello\n"))
    unknown = tmp_path / "y.log"
    unknown.write_text("dear diary\n")
    empty = tmp_path / "z.log"
    empty.write_text("")
    warnings = format_warnings("vsftpd", [str(packed), str(unknown), str(empty)])
    assert len(warnings) == 2
    assert "gzip-compressed" in warnings[0]
    assert "look like no known format, not like vsftpd" in warnings[1]


def test_a_compressed_file_is_checked_as_its_text_when_the_source_decompresses(tmp_path: Path) -> None:
    packed = tmp_path / "xferlog.1.gz"
    packed.write_bytes(gzip.compress((SAMPLES / "vsftpd" / "xferlog").read_bytes()))
    assert format_warnings("vsftpd", [str(packed)]) == []  # not followed without include_compressed
    hidden = tmp_path / "xferlog"  # compressed under a plain name: followed, and read as text
    hidden.write_bytes(packed.read_bytes())
    assert "gzip-compressed" in format_warnings("vsftpd", [str(hidden)])[0]
    assert format_warnings("vsftpd", [str(packed), str(hidden)], include_compressed=True) == []
    assert "not like nginx" in format_warnings("nginx", [str(packed)], include_compressed=True)[0]


def test_check_warns_when_the_format_is_right_but_its_options_read_nothing(tmp_path: Path) -> None:
    """A share that sets no full_audit:prefix logs Samba's default `%u|%I`; a source configured with the prefix
    of another share (`%u|%I|%m|%S`) reads none of its records: `check` says so, why, and what reads them."""
    shutil.copy(SAMPLES / "samba-full-audit" / "samba-default-prefix.log", tmp_path / "smb.log")
    right = format_warnings("samba-full-audit", [str(tmp_path / "smb.log")], options={})
    assert right == []
    [warning] = format_warnings("samba-full-audit", [str(tmp_path / "smb.log")], options={"prefix": "%u|%I|%m|%S"})
    assert warning.startswith(f"{tmp_path / 'smb.log'} looks like samba-full-audit, but the source's options do not "
                              "read it (")
    assert "prefix mismatch: the record's operation 'connect' follows 2 '|' fields, but the prefix '%u|%I|%m|%S' " \
        "has 4" in warning
    assert warning.endswith('; its lines read with options: {prefix: "%u|%I"}')


def test_sshd_session_and_sshd_auth_lines_are_sftp_sources() -> None:
    """OpenSSH 9.8+ tags sshd's per-connection messages `sshd-session`, 10.0 its pre-authentication ones
    `sshd-auth` (a real 9.2 log, its tags renamed)."""
    lines = (SAMPLES / "sftp" / "internal-sftp-info-request-then-upload-rfc3339.log").read_text().splitlines()
    for tag in ("sshd-session", "sshd-auth"):
        best = guess_lines([line.replace(" sshd[", f" {tag}[") for line in lines])[0]
        assert (best.format, best.confidence >= 0.9) == ("sftp", True), best


def test_amazon_rds_postgresql_lines_are_recognised_with_their_prefix() -> None:
    """Amazon RDS and Aurora PostgreSQL write every line with the fixed prefix `%t:%r:%u@%d:[%p]:` (AWS's
    documentation; lines written here after its examples, no RDS instance can be run here)."""
    lines = [
        "2026-11-30 04:00:00 UTC:10.0.1.25(51234):alice@crm:[1234]:LOG:  AUDIT: SESSION,1,1,READ,SELECT,TABLE,"
        'public.customers,"SELECT email FROM customers WHERE id = 42",<not logged>',
        "2026-11-30 04:00:01 UTC:[local]:postgres@postgres:[1235]:LOG:  connection authorized: user=postgres "
        "database=postgres",
        "2026-11-30 04:00:02 UTC::@:[567]:LOG:  checkpoint starting: time",
    ]  # fmt: skip
    best = guess_lines(lines)[0]
    assert (best.format, best.options["log_line_prefix"], best.confidence >= 0.9) == (
        "pgaudit", "%t:%r:%u@%d:[%p]:", True), best
