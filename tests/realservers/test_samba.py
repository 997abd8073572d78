"""A private smbd with vfs_full_audit (FORMATS.md §4, §11) behind a private rsyslogd, driven by smbclient;
the syslog files and smbd's auth_audit log are parsed and the collapsed events checked.

Where the lines go: vfs_full_audit calls syslog(3), which always writes to /dev/log. This machine has no
/dev/log, and where one exists it is the host's. So smbd runs in a private mount namespace (`unshare -m`)
whose /dev is a directory of symlinks to the real device nodes plus `log` -> the socket of a private
rsyslogd (imuxsock on a path in the temp dir, `SysSock.Use="off"` so it never creates /dev/log). Nothing
outside the namespace changes. rsyslogd writes both the Debian default (RFC 3339) and the traditional
layout, as in shared/samples/syslog-combined/generator/rsyslog.conf.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

import pytest

from pii_guard.model import AccessEvent
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.samba import SambaFullAuditParser, SambaOptions
from pii_guard.sources.files import file_fingerprint, iter_lines
from tests.conftest import IN_CI, require_binaries

pytestmark = pytest.mark.realserver


def _sbin(name: str) -> str:
    path = f"/usr/sbin/{name}"
    return path if os.access(path, os.X_OK) else name


SMBD, RSYSLOGD = _sbin("smbd"), _sbin("rsyslogd")
PASSWORD = "pii-guard-Smb-pw1"
CUSTOMERS = b"id,name,email\n1,Customer 1,c1@example.com\n"


@dataclass
class Lab:
    work: Path
    share: Path
    user: str
    port: int
    smbclient: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _live_members(pgid: int) -> list[int]:
    """Processes of a process group that have not exited (zombies waiting for init do not count)."""
    live = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                live.append(int(entry.name))
    return live


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started in its own session, with the children it forked (smbd's per-client and
    helper processes), and wait until none of them can still write into the temp dir."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    deadline = time.monotonic() + 10
    while _live_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _live_members(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)


def _skip(reason: str) -> None:
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def _write_configs(lab: Lab) -> None:
    w = lab.work
    (w / "rsyslog.conf").write_text(
        f'global(workDirectory="{w}/rsyslog")\n'
        'module(load="imuxsock" SysSock.Use="off")\n'
        f'input(type="imuxsock" Socket="{w}/log.sock" CreatePath="on")\n'
        f"*.* {w}/messages.log\n"
        f"*.* {w}/messages-traditional.log;RSYSLOG_TraditionalFileFormat\n"
    )
    dirs = {k: w / k for k in ("private", "lock", "state", "cache", "pid", "ncalrpc", "log")}
    for path in dirs.values():
        path.mkdir()
    (w / "smb.conf").write_text(
        "[global]\n  server role = standalone server\n  interfaces = 127.0.0.1\n  bind interfaces only = yes\n"
        f"  smb ports = {lab.port}\n  disable netbios = yes\n"
        + "".join(f"  {key} {'directory' if key != 'private' else 'dir'} = {path}\n" for key, path in dirs.items()
                  if key not in ("ncalrpc", "log"))
        + f"  ncalrpc dir = {dirs['ncalrpc']}\n  log file = {dirs['log']}/smbd.log\n"
        "  log level = 1 auth_audit:3 auth_json_audit:3\n"
        f"  passdb backend = tdbsam:{dirs['private']}/passdb.tdb\n  map to guest = never\n"
        "  load printers = no\n  printing = bsd\n  printcap name = /dev/null\n  disable spoolss = yes\n"
        f"[hr]\n  path = {lab.share}\n  read only = no\n  vfs objects = full_audit\n"
        "  full_audit:prefix = %u|%I|%m|%S\n"
        "  full_audit:success = connect disconnect create_file openat close pread_recv pwrite_recv sendfile "
        "renameat unlinkat mkdirat\n"
        "  full_audit:failure = connect create_file openat renameat unlinkat\n"
        "  full_audit:facility = LOCAL5\n  full_audit:priority = NOTICE\n"
        # the same directory as a share whose records go to smbd's own log file, not to syslog
        f"[hrlog]\n  path = {lab.share}\n  read only = no\n  vfs objects = full_audit\n"
        "  full_audit:prefix = %u|%I|%m|%S\n  full_audit:success = connect disconnect create_file\n"
        "  full_audit:failure = connect create_file\n  full_audit:syslog = false\n"
    )  # fmt: skip
    # smbd's view of /dev: the real nodes, plus `log` -> the private rsyslogd's socket
    (w / "run-smbd.sh").write_text(
        "set -e\nmount --make-rprivate /\n"
        f"mkdir -p {w}/hostdev {w}/newdev\nmount --rbind /dev {w}/hostdev\n"
        f'for n in $(ls -A /dev); do ln -s "{w}/hostdev/$n" "{w}/newdev/$n"; done\n'
        f"ln -sf {w}/log.sock {w}/newdev/log\nmount --bind {w}/newdev /dev\n"
        f'exec {SMBD} -F --no-process-group -s {w}/smb.conf\n'
    )


def _prepare_share(lab: Lab) -> None:
    """A share the user owns, one readable file, and a root-only file the user must be refused."""
    reports = lab.share / "reports"
    reports.mkdir(parents=True)
    (reports / "customers.csv").write_bytes(CUSTOMERS)
    (reports / "payroll.xlsx").write_bytes(b"ssn\n000000001\n")
    os.chmod(reports / "payroll.xlsx", 0o600)
    for path in (lab.share, reports, reports / "customers.csv"):
        shutil.chown(path, lab.user)
    (lab.work / "up.txt").write_bytes(b"uploaded by the pii-guard real-server test\n")


@pytest.fixture
def lab() -> Iterator[Lab]:
    found = require_binaries(SMBD, "smbclient", RSYSLOGD, "smbpasswd", "unshare", "useradd", "userdel")
    if os.geteuid() != 0:
        _skip("the Samba real-server test runs as root (smbd, a mount namespace, a test user)")
    if subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False).returncode != 0:
        _skip("the Samba real-server test needs a private mount namespace (unshare -m) for smbd's /dev/log")
    user = "piis" + uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="pii-guard-samba-"))
    os.chmod(work, 0o755)  # smbd works as the user under the share path
    (work / "rsyslog").mkdir()
    lab = Lab(work, work / "share", user, _free_port(), found["smbclient"])
    procs: list[subprocess.Popen[bytes]] = []
    subprocess.run([found["useradd"], "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", user], check=True)
    try:
        _prepare_share(lab)
        _write_configs(lab)
        subprocess.run(
            [found["smbpasswd"], "-c", str(work / "smb.conf"), "-s", "-a", user],
            input=f"{PASSWORD}\n{PASSWORD}\n".encode(),
            capture_output=True,
            check=True,
        )
        rsyslog = [found[RSYSLOGD], "-n", "-f", str(work / "rsyslog.conf"), "-i", str(work / "rsyslogd.pid")]
        # own sessions: smbd signals its whole process group when it stops, which must not be pytest's
        procs.append(subprocess.Popen(rsyslog, start_new_session=True))
        _wait_for((work / "log.sock").exists, "rsyslogd's socket")
        with (work / "smbd.out").open("wb") as out:
            smbd = ["unshare", "-m", "sh", str(work / "run-smbd.sh")]
            procs.append(subprocess.Popen(smbd, stdout=out, stderr=out, start_new_session=True))
        _wait_for(lambda: _port_open(lab.port), "smbd")
        yield lab
    finally:
        for proc in reversed(procs):
            _stop(proc)
        subprocess.run([found["userdel"], user], check=False)
        shutil.rmtree(work, ignore_errors=True)


def _has_text(path: Path, text: str) -> Callable[[], bool]:
    """rsyslogd writes asynchronously: poll its file for the last line a session writes."""
    return lambda: path.exists() and text in path.read_text()


def _smbclient(lab: Lab, password: str, commands: str, share: str = "hr") -> subprocess.CompletedProcess[str]:
    args = [lab.smbclient, f"//127.0.0.1/{share}", "-p", str(lab.port), "-U", f"{lab.user}%{password}", "-m", "SMB3"]
    return subprocess.run([*args, "-c", commands], capture_output=True, text=True, timeout=60, cwd=lab.work)


def _parse(path: Path, tz: tzinfo | None = None, **options: object) -> list[AccessEvent]:
    with path.open("rb") as fh:
        context = SourceContext(file_fingerprint(fh), str(path), tz=tz, reference_time=time.time())
        parser = SambaFullAuditParser(context, SambaOptions.model_validate(options))
        out = [o for line in iter_lines(fh) for o in parser.feed(line.offset, line.text)]
        out.extend(parser.finish())
    assert [o for o in out if isinstance(o, ParseFailure)] == []
    return [o for o in out if isinstance(o, AccessEvent)]


def test_samba_full_audit_of_a_real_smbd(lab: Lab) -> None:
    started = time.time()
    done = _smbclient(
        lab,
        PASSWORD,
        "cd reports; get customers.csv dl.csv; put up.txt upload.txt; rename upload.txt renamed.txt; "
        "del renamed.txt; mkdir newdir; get payroll.xlsx payroll.xlsx",
    )
    assert (lab.work / "dl.csv").read_bytes() == CUSTOMERS, done.stdout + done.stderr
    assert "NT_STATUS_ACCESS_DENIED" in done.stdout + done.stderr
    refused = _smbclient(lab, "wrong-password", "ls")
    assert "NT_STATUS_LOGON_FAILURE" in refused.stdout + refused.stderr
    for name in ("messages.log", "messages-traditional.log"):
        _wait_for(_has_text(lab.work / name, "|disconnect|ok|"), f"the disconnect line in {name}")

    got = _parse(lab.work / "messages.log")
    assert all(abs(e.time_us / 1e6 - started) < 120 for e in got)
    reports = f"file:{lab.share}/reports"
    u = lab.user
    seen = [(e.action, e.outcome, e.user, e.source_ip, e.object, e.command) for e in got]
    assert seen == [
        ("login", "success", u, "127.0.0.1", None, "connect"),
        ("read", "success", u, "127.0.0.1", f"{reports}/customers.csv", "create_file"),
        ("write", "success", u, "127.0.0.1", f"{reports}/upload.txt", "create_file"),
        ("rename", "success", u, "127.0.0.1", f"{reports}/upload.txt", "renameat"),
        ("delete", "success", u, "127.0.0.1", f"{reports}/renamed.txt", "unlinkat"),
        ("create", "success", u, "127.0.0.1", f"{reports}/newdir", "mkdirat"),
        ("read", "failure", u, "127.0.0.1", f"{reports}/payroll.xlsx", "create_file"),
        ("logout", "success", u, "127.0.0.1", None, "disconnect"),
    ]
    assert got[3].fields["file.target_path"] == f"{lab.share}/reports/renamed.txt"
    assert got[6].error_code  # whatever stale errno smbd printed: the client saw ACCESS_DENIED
    assert all(e.fields.get("samba.share") == "hr" for e in got)
    traditional = _parse(lab.work / "messages-traditional.log")
    assert [(e.action, e.outcome, e.object) for e in traditional] == [(s[0], s[1], s[4]) for s in seen]
    assert all(a.time_us // 1_000_000 == b.time_us // 1_000_000 for a, b in zip(got, traditional, strict=True))

    logins = _parse(lab.work / "log" / "smbd.log", log="auth_audit")
    assert [(e.action, e.outcome, e.user, e.source_ip, e.error_code) for e in logins] == [
        ("login", "success", u, "127.0.0.1", None),
        ("login", "failure", u, "127.0.0.1", "NT_STATUS_WRONG_PASSWORD"),
    ]
    assert all(e.source_port for e in logins)


def test_samba_full_audit_to_smbd_log_file(lab: Lab) -> None:
    """`full_audit:syslog = false`: the records are in smbd's own log, beside its auth_audit lines, each as a
    `[date, level] vfs_full_audit.c:...(do_log)` header and the record; the header's time is smbd's local time."""
    started = time.time()
    name = "naïve é.csv"
    (lab.share / "reports" / name).write_bytes(CUSTOMERS)
    done = _smbclient(lab, PASSWORD, f'cd reports; get customers.csv dl.csv; get "{name}" dl2.csv', share="hrlog")
    assert (lab.work / "dl2.csv").read_bytes() == CUSTOMERS, done.stdout + done.stderr
    smbd_log = lab.work / "log" / "smbd.log"
    _wait_for(_has_text(smbd_log, "|hrlog|disconnect|ok|"), "the disconnect record in smbd.log")

    local = datetime.now().astimezone().tzinfo  # smbd's headers are in this machine's local time
    got = _parse(smbd_log, tz=local)
    assert all(abs(e.time_us / 1e6 - started) < 120 for e in got)
    reports = f"file:{lab.share}/reports"
    assert [(e.action, e.outcome, e.user, e.source_ip, e.object) for e in got] == [
        ("login", "success", lab.user, "127.0.0.1", None),
        ("read", "success", lab.user, "127.0.0.1", f"{reports}/customers.csv"),
        ("read", "success", lab.user, "127.0.0.1", f"{reports}/{name}"),
        ("logout", "success", lab.user, "127.0.0.1", None),
    ]
    assert {e.fields["samba.share"] for e in got} == {"hrlog"}
    syslog = lab.work / "messages.log"  # smbd's level-0 start-up lines (`syslog = 1`), no full_audit record
    assert not syslog.exists() or not _parse(syslog)
    logins = _parse(smbd_log, log="auth_audit")  # the auth_audit reader of the same file skips the records
    assert [(e.action, e.outcome, e.user) for e in logins] == [("login", "success", lab.user)]
