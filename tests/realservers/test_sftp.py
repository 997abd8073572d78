"""A private sshd with internal-sftp (FORMATS.md §5, §11), driven by `sftp -b`; its logs are parsed and the
accesses, failures and logins are checked.

Where the logs go, found by running it: `sshd -D -E file` writes sshd's own messages to the file (no stamp,
host or tag: the parser's `layout: bare`), but internal-sftp's file lines still go to syslog, i.e. to
/dev/log, which this machine does not have (and which belongs to the host where it has). So the test user is
chrooted (`ChrootDirectory`, the usual setup for sftp-only accounts) and a private rsyslogd listens on the
chroot's /dev/log, where internal-sftp connects after the chroot (OpenSSH opens the log per message). Its
file is the syslog layout in the Debian default template and in the traditional one.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from pii_guard.model import AccessEvent
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.sftp import SftpOptions, SftpParser
from pii_guard.sources.files import file_fingerprint, iter_lines
from tests.conftest import IN_CI, require_binaries

pytestmark = pytest.mark.realserver

SSHD = "/usr/sbin/sshd"
RSYSLOGD = "/usr/sbin/rsyslogd" if os.access("/usr/sbin/rsyslogd", os.X_OK) else "rsyslogd"
DATA = os.urandom(5000)
UPLOAD = b"uploaded by the pii-guard real-server test\n"


@dataclass
class Lab:
    work: Path  # keys, configs, logs; the client's side of transfers
    jail: Path  # the user's chroot: root-owned up to /, as sshd demands
    user: str
    port: int
    sftp: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _jail_base() -> str:
    """A parent for the chroot whose every component is root-owned and not group/other-writable (/tmp is
    world-writable, so sshd refuses a chroot under it)."""
    for base in ("/run", "/var/lib", "/srv"):
        path = Path(base).resolve()
        if all(p.stat().st_uid == 0 and not p.stat().st_mode & 0o022 for p in (path, *path.parents)):
            return str(path)
    pytest.fail("no root-owned, non-writable directory to put a chroot under")


def _wait_for(check: Callable[[], bool], what: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _has_line(path: Path, text: str) -> bool:
    return path.exists() and text in path.read_text()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _write_configs(lab: Lab) -> None:
    w = lab.work
    (w / "rsyslog.conf").write_text(
        f'global(workDirectory="{w}")\n'
        'module(load="imuxsock" SysSock.Use="off")\n'
        f'input(type="imuxsock" Socket="{lab.jail}/dev/log" CreatePath="on")\n'
        f"*.* {w}/sftp.log\n"
        f"*.* {w}/sftp-traditional.log;RSYSLOG_TraditionalFileFormat\n"
    )
    (w / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {lab.port}\nHostKey {w}/host_key\nPidFile {w}/sshd.pid\n"
        "LogLevel VERBOSE\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"PubkeyAuthentication yes\nAuthorizedKeysFile {w}/authorized_keys\nStrictModes no\n"
        "Subsystem sftp internal-sftp -l INFO\n"
        f"Match User {lab.user}\n    ChrootDirectory {lab.jail}\n    ForceCommand internal-sftp -l INFO\n"
    )


def _prepare(lab: Lab, keygen: str) -> None:
    """Keys, the user's files in the jail, and a file and a directory the user may not use."""
    for name in ("host_key", "client_key", "other_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(lab.work / name)], check=True)
    shutil.copy(lab.work / "client_key.pub", lab.work / "authorized_keys")
    os.chmod(lab.work, 0o755)  # sshd reads authorized_keys as the user
    uid, gid = pwd.getpwnam(lab.user).pw_uid, pwd.getpwnam(lab.user).pw_gid
    files = lab.jail / "files"
    (files / "ro").mkdir(parents=True)
    (files / "data.bin").write_bytes(DATA)
    (files / "secret.csv").write_text("ssn\n000000001\n")
    os.chmod(files / "secret.csv", 0o600)  # root's
    for path in (files, files / "data.bin", files / "ro"):
        os.chown(path, uid, gid)
    os.chmod(files / "ro", 0o555)
    (lab.work / "up.txt").write_bytes(UPLOAD)


@pytest.fixture
def lab() -> Iterator[Lab]:
    found = require_binaries(SSHD, "sftp", "ssh-keygen", RSYSLOGD, "useradd", "userdel")
    if os.geteuid() != 0:
        reason = "the sftp real-server test runs as root (sshd, chroot, a test user)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    user = "piig" + uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="pii-guard-sftp-"))
    jail = Path(tempfile.mkdtemp(prefix="pii-guard-sftp-jail-", dir=_jail_base()))
    os.chmod(jail, 0o755)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # No home outside the jail; '*' rather than the default '!': a locked account is refused (UsePAM no).
        subprocess.run([found["useradd"], "-M", "-d", "/files", "-s", "/usr/sbin/nologin", "-p", "*", user], check=True)
        lab = Lab(work, jail, user, _free_port(), found["sftp"])
        _prepare(lab, found["ssh-keygen"])
        _write_configs(lab)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        procs.append(
            subprocess.Popen(
                [found[RSYSLOGD], "-n", "-f", str(work / "rsyslog.conf"), "-i", str(work / "rsyslogd.pid")]
            )
        )
        _wait_for((jail / "dev" / "log").exists, "rsyslogd's socket", time.monotonic() + 10)
        procs.append(
            subprocess.Popen([found[SSHD], "-D", "-E", str(work / "sshd.log"), "-f", str(work / "sshd_config")])
        )
        _wait_for(lambda: _port_open(lab.port), "sshd", time.monotonic() + 10)
        yield lab
    finally:
        for proc in reversed(procs):
            _stop(proc)
        subprocess.run([found["userdel"], user], check=False)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(jail, ignore_errors=True)


def _sftp_args(lab: Lab, batch: str, key: str = "client_key", user: str | None = None) -> list[str]:
    (lab.work / "batch").write_text(batch)
    args = [lab.sftp, "-F", "/dev/null", "-P", str(lab.port), "-i", str(lab.work / key), "-b", str(lab.work / "batch")]
    args += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes"]
    args += ["-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", f"{user or lab.user}@127.0.0.1"]
    return args


def _sftp(lab: Lab, batch: str, key: str = "client_key", user: str | None = None) -> tuple[int, str]:
    args = _sftp_args(lab, batch, key, user)
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False, cwd=lab.work)
    return done.returncode, done.stderr


def _parse(path: Path, **options: object) -> list[AccessEvent]:
    with path.open("rb") as fh:
        context = SourceContext(file_fingerprint(fh), str(path), reference_time=path.stat().st_mtime)
        parser = SftpParser(context, SftpOptions.model_validate(options))
        out = [o for line in iter_lines(fh) for o in parser.feed(line.offset, line.text)]
        out.extend(parser.finish())
    assert [o for o in out if isinstance(o, ParseFailure)] == []
    return [o for o in out if isinstance(o, AccessEvent)]


def test_sftp_session_of_a_real_sshd(lab: Lab) -> None:
    started = time.time()
    batch = (
        "get /files/data.bin dl.bin\n"
        "-get /files/secret.csv secret.csv\n"
        "-put up.txt /files/ro/up.txt\n"
        "put up.txt /files/up.txt\n"
        "rename /files/up.txt /files/up2.txt\n"
        "rm /files/up2.txt\n"
        "mkdir /files/newdir\n"
    )
    code, stderr = _sftp(lab, batch)
    assert code == 0, stderr + (lab.work / "sshd.log").read_text()
    assert (lab.work / "dl.bin").read_bytes() == DATA
    assert _sftp(lab, "ls\n", key="other_key")[0] != 0
    assert _sftp(lab, "ls\n", user="nosuchuser" + lab.user[4:])[0] != 0
    for name in ("sftp.log", "sftp-traditional.log"):  # rsyslogd writes on its own schedule
        _wait_for(partial(_has_line, lab.work / name, "session closed"), name, time.monotonic() + 10)

    got = _parse(lab.work / "sftp.log")
    assert all(abs(e.time_us / 1e6 - started) < 120 for e in got)
    seen = [(e.action, e.outcome, e.user, e.source_ip, e.object, e.bytes, e.error_code) for e in got]
    u = lab.user
    assert seen == [
        ("read", "success", u, "127.0.0.1", "file:/files/data.bin", len(DATA), None),
        ("read", "failure", u, "127.0.0.1", "file:/files/secret.csv", None, "Permission denied"),
        ("write", "failure", u, "127.0.0.1", "file:/files/ro/up.txt", None, "Permission denied"),
        ("write", "success", u, "127.0.0.1", "file:/files/up.txt", len(UPLOAD), None),
        ("rename", "success", u, "127.0.0.1", "file:/files/up.txt", None, None),
        ("delete", "success", u, "127.0.0.1", "file:/files/up2.txt", None, None),
        ("create", "success", u, "127.0.0.1", "file:/files/newdir", None, None),
    ]
    assert got[4].fields["file.target_path"] == "/files/up2.txt"
    traditional = _parse(lab.work / "sftp-traditional.log", layout="syslog")
    assert [(e.action, e.outcome, e.object, e.bytes) for e in traditional] == [s[:2] + s[4:6] for s in seen]

    logins = _parse(lab.work / "sshd.log", layout="bare")
    assert [(e.action, e.outcome, e.user, e.source_ip, e.error_code) for e in logins] == [
        ("login", "success", u, "127.0.0.1", None),
        ("login", "failure", u, "127.0.0.1", "bad publickey"),
        ("login", "failure", "nosuchuser" + u[4:], "127.0.0.1", "invalid user"),
    ]
    assert all(e.source_port for e in logins)


def test_sftp_names_outside_printable_ascii(lab: Lab) -> None:
    """OpenSSH logs names through strnvis: `na\\303\\257ve` for `naïve`, `\\\\` for a backslash, `\\t` for
    a tab; the events carry the names themselves, so data-map globs and honeytokens match them."""
    names = ["naïve file é.csv", "back\\slash.txt", "tab\tname.txt"]
    for name in names:
        (lab.jail / "files" / name).write_bytes(DATA[:100])
        shutil.chown(lab.jail / "files" / name, lab.user)
    (lab.work / "up é.txt").write_bytes(UPLOAD)
    batch = 'get "/files/naïve file é.csv" dl1\nget /files/back* dl2\nget /files/tab* dl3\n'
    code, stderr = _sftp(lab, batch + 'put "up é.txt" "/files/up ü.txt"\nrm "/files/up ü.txt"\n')
    assert code == 0, stderr
    _wait_for(partial(_has_line, lab.work / "sftp.log", "session closed"), "sftp.log", time.monotonic() + 10)
    assert "\\303\\257" in (lab.work / "sftp.log").read_text()  # as OpenSSH wrote it

    got = _parse(lab.work / "sftp.log")
    assert [(e.action, e.object, e.bytes) for e in got] == [
        *(("read", f"file:/files/{name}", 100) for name in names),
        ("write", "file:/files/up ü.txt", len(UPLOAD)),
        ("delete", "file:/files/up ü.txt", None),
    ]


def test_sftp_download_of_a_killed_client_is_reported(lab: Lab) -> None:
    """The client dies mid-transfer: sftp-server logs no `close` but a `forced close` with the bytes sent."""
    (lab.jail / "files" / "big.bin").write_bytes(DATA * 200)  # 1 MB at 100 KB/s (sftp -l 800)
    args = _sftp_args(lab, "get /files/big.bin big.bin\n")
    args[1:1] = ["-l", "800"]
    proc = subprocess.Popen(args, cwd=lab.work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        log = lab.work / "sftp.log"
        _wait_for(partial(_has_line, log, 'open "/files/big.bin"'), "the open", time.monotonic() + 10)
        time.sleep(0.3)
    finally:
        proc.kill()
        proc.wait()
    _wait_for(partial(_has_line, log, "session closed"), "the session's end", time.monotonic() + 10)

    (ev,) = _parse(log)
    assert (ev.action, ev.outcome, ev.user, ev.object, ev.command) == (
        "read", "success", lab.user, "file:/files/big.bin", "forced close"
    )  # fmt: skip
    assert ev.bytes is not None
    assert 0 < ev.bytes < len(DATA) * 200
