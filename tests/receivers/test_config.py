"""`receivers:` in the config: the plans it makes (a source per route, following the spool file) and the exact
errors for what is wrong, with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pii_guard.config.load import load_config
from pii_guard.errors import ConfigError

GOOD = """\
state_dir: state
sources:
  - {path: logs/*.log, format: nginx}
receivers:
  syslog:
    - name: edge
      tcp: 127.0.0.1:6514
      udp: null
      timezone: Europe/Berlin
      routes:
        - {tags: [smbd_audit], format: samba-full-audit, options: {prefix: "%u|%I"}}
        - {tags: [sftp-server, internal-sftp, sshd], format: sftp, name: ssh}
  journal:
    - {}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pii-guard.yaml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return str(info.value).replace(str(tmp_path) + "/", "")


def test_receivers_become_sources_that_follow_their_spool_files(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, GOOD))
    assert [p.config.name for p in loaded.sources] == [
        None, "edge/samba-full-audit", "edge/ssh", "journal/samba-full-audit", "journal/sftp",
        "journal/mariadb-audit", "journal/percona-audit"]
    edge, journal = loaded.receivers
    assert edge.spool_dir == tmp_path / "state" / "spool" / "edge"
    assert loaded.sources[2].config.path == f"{tmp_path}/state/spool/edge/ssh.log*"
    assert loaded.sources[1].options.prefix == "%u|%I"  # type: ignore[attr-defined]
    assert edge.tag_routes() == {"smbd_audit": "samba-full-audit", "sftp-server": "ssh", "internal-sftp": "ssh",
                                 "sshd": "ssh"}
    assert str(edge.tz) == "Europe/Berlin"
    assert journal.tag_routes()["mysql-server_auditing"] == "mariadb-audit"  # the default routes


def test_a_config_without_receivers_is_unchanged(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, "sources:\n  - {path: a.log, format: nginx}\n"))
    assert loaded.receivers == ()
    assert len(loaded.sources) == 1


@pytest.mark.parametrize(("change", "message"), [
    (("udp: null", "udp: null\n      tcpp: 1"),
     "pii-guard.yaml:9: unknown key 'receivers.syslog.0.tcpp' (did you mean 'tcp'?)"),
    (("tcp: 127.0.0.1:6514", "tcp: localhost"),
     "pii-guard.yaml:7: tcp: 'localhost' is not host:port (e.g. 127.0.0.1:5140, [::1]:5140)"),
    (("tcp: 127.0.0.1:6514", "tcp: null"), "pii-guard.yaml:6: a syslog receiver needs tcp:, udp: or both "
                                           "(e.g. tcp: 127.0.0.1:5140)"),
    (("format: sftp,", "format: sftpp,"), "pii-guard.yaml:12: unknown log format 'sftpp' (did you mean 'sftp'?)"),
    (('prefix: "%u|%I"', 'prefix: "%I"'), "pii-guard.yaml:11: route 'samba-full-audit' options: prefix: Value "
                                          "error, full_audit prefix must contain %u as a field of its own "
                                          "(e.g. '%u|%I')"),
    (("[sftp-server, internal-sftp, sshd]", "[smbd_audit]"),
     "pii-guard.yaml:12: program 'smbd_audit' is routed twice (routes 0 and 1) (route each program once)"),
    ((", name: ssh}", ", name: unrouted}"),
     "pii-guard.yaml:12: route name 'unrouted' is taken (by unrouted messages) (give the route a `name:` of its own)"),
    (("    - {}", "    - {name: edge}"),
     "pii-guard.yaml:14: receivers.journal[0].name: 'edge' is already the name of receivers.syslog[0] (each "
     "receiver needs a name of its own (its spool directory))"),
    (("timezone: Europe/Berlin", "timezone: Mars/Base"),
     "pii-guard.yaml:9: unknown time zone 'Mars/Base' (use an IANA name such as Europe/Berlin or UTC)"),
    (("udp: null", "udp: null\n      tls: {cert: c.pem, key: k.pem}"),
     "pii-guard.yaml:9: tls.cert: file 'c.pem' not found (looked at c.pem) (paths are relative to the config "
     "file's directory)"),
    (("name: edge", "name: ../x"),
     "pii-guard.yaml:6: receivers.syslog.0.name: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]*$'"),
])  # fmt: skip
def test_errors_name_the_line(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    assert change[0] in GOOD
    assert error_of(tmp_path, GOOD.replace(change[0], change[1], 1)) == message
