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

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

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


# -- each way the lines can be logged: who logs the sftp lines, and how sshd logs its own ----------------
#
# Found by running each setup (Debian 12, OpenSSH 9.2p1): the sftp code always logs by itself through
# syslog(3), escaped once with strnvis, under its own name: `internal-sftp[pid]` (also when chrooted: the
# session child calls log_init again, which drops the privilege-separation log handler, so nothing goes
# through the monitor, and without a /dev/log in the chroot the lines are lost), `sftp-server[pid]` for the
# external binary. `sshd -E` at INFO or VERBOSE never holds a sftp line. So `\\303\\251` in a path is a real
# backslash followed by digits, never a doubly escaped `é`.


@dataclass(frozen=True)
class Setup:
    chroot: bool  # `internal-sftp -l INFO` in a ChrootDirectory; else `sftp-server -l INFO` without one
    sshd_to_file: bool  # `sshd -E file`; else sshd too logs to syslog (a private /dev/log)
    level: str  # sshd's LogLevel


SETUPS = {
    "internal-sftp-chroot-sshd-syslog": Setup(True, False, "INFO"),
    "internal-sftp-chroot-sshd-E-info": Setup(True, True, "INFO"),
    "internal-sftp-chroot-sshd-E-verbose": Setup(True, True, "VERBOSE"),
    "sftp-server-sshd-syslog": Setup(False, False, "INFO"),
    "sftp-server-sshd-E-verbose": Setup(False, True, "VERBOSE"),
}
# Names the client fetches, as they are on disk: UTF-8, a space, a quote, backslashes (one followed by
# digits, as a doubly escaped `é` would be), a tab, a newline, and the open line's own suffix.
ODD_NAMES = [
    "é space.txt",
    'quo"te.txt',
    "back\\slash.txt",
    "back\\303\\251.txt",
    "tab\tname.txt",
    'x" flags READ mode 0666.txt',
    "nl\nname.txt",  # last: fetched by a glob, as a batch cannot quote a newline
]
UP_NAME = 'up é\\1"q.txt'
RENAMED = "ren \\303\\251 é.txt"


@dataclass
class SetupLab:
    lab: Lab
    base: str  # the files' directory as the sftp code logs it (inside the chroot: `/files`)
    setup: Setup

    @property
    def syslog(self) -> Path:
        return self.lab.work / "syslog.log"


def _setup_configs(setup_lab: SetupLab) -> None:
    lab, s = setup_lab.lab, setup_lab.setup
    w, jail = lab.work, lab.jail
    jail_input = f'input(type="imuxsock" Socket="{jail}/dev/log" CreatePath="on")\n' if s.chroot else ""
    (w / "rsyslog.conf").write_text(
        f'global(workDirectory="{w}")\nmodule(load="imuxsock" SysSock.Use="off")\n'
        f'{jail_input}input(type="imuxsock" Socket="{w}/log.sock")\n*.* {setup_lab.syslog}\n'
    )
    subsystem = "internal-sftp -l INFO" if s.chroot else "/usr/lib/openssh/sftp-server -l INFO"
    config = (
        f"ListenAddress 127.0.0.1\nPort {lab.port}\nHostKey {w}/host_key\nPidFile {w}/sshd.pid\n"
        f"LogLevel {s.level}\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"PubkeyAuthentication yes\nAuthorizedKeysFile {w}/authorized_keys\nStrictModes no\n"
        f"Subsystem sftp {subsystem}\n"
    )
    if s.chroot:
        config += f"Match User {lab.user}\n    ChrootDirectory {jail}\n    ForceCommand internal-sftp -l INFO\n"
    (w / "sshd_config").write_text(config)
    sshd = f"{SSHD} -D -f {w}/sshd_config" + (f" -E {w}/sshd.log" if s.sshd_to_file else "")
    # sshd's (and sftp-server's) view of /dev: the real nodes, plus `log` -> the private rsyslogd's socket
    (w / "run-sshd.sh").write_text(
        "set -e\nmount --make-rprivate /\n"
        f"mkdir -p {w}/hostdev {w}/newdev\nmount --rbind /dev {w}/hostdev\n"
        f'for n in $(ls -A /dev); do ln -s "{w}/hostdev/$n" "{w}/newdev/$n"; done\n'
        f"ln -sf {w}/log.sock {w}/newdev/log\nmount --bind {w}/newdev /dev\nexec {sshd}\n"
    )


@pytest.fixture(params=list(SETUPS))
def setup_lab(request: pytest.FixtureRequest) -> Iterator[SetupLab]:
    setup = SETUPS[request.param]
    found = require_binaries(SSHD, "sftp", "ssh-keygen", RSYSLOGD, "useradd", "userdel", "unshare")
    if os.geteuid() != 0 or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        reason = "the sftp real-server test runs as root, with a private mount namespace (unshare -m)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    user = "piig" + uuid.uuid4().hex[:8]
    work = Path(tempfile.mkdtemp(prefix="pii-guard-sftp-"))
    jail = Path(tempfile.mkdtemp(prefix="pii-guard-sftp-jail-", dir=_jail_base()))
    os.chmod(jail, 0o755)
    os.chmod(work, 0o755)  # sshd reads authorized_keys as the user
    files = jail / "files"
    base = "/files" if setup.chroot else str(files)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        home = ["-d", base, "-s", "/usr/sbin/nologin"] if setup.chroot else ["-d", base, "-s", "/bin/sh"]
        subprocess.run([found["useradd"], "-M", *home, "-p", "*", user], check=True)
        lab = Lab(work, jail, user, _free_port(), found["sftp"])
        for name in ("host_key", "client_key"):
            subprocess.run([found["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-f", str(work / name)], check=True)
        shutil.copy(work / "client_key.pub", work / "authorized_keys")
        files.mkdir()
        for name in ODD_NAMES:
            (files / name).write_bytes(DATA[:100])
        for path in (files, *files.iterdir()):
            shutil.chown(path, user)
        (work / "up.txt").write_bytes(UPLOAD)
        (work / "data.bin").write_bytes(DATA)
        _setup_configs(SetupLab(lab, base, setup))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        rsyslog = [found[RSYSLOGD], "-n", "-f", str(work / "rsyslog.conf"), "-i", str(work / "rsyslogd.pid")]
        procs.append(subprocess.Popen(rsyslog))
        _wait_for((work / "log.sock").exists, "rsyslogd's socket", time.monotonic() + 10)
        procs.append(subprocess.Popen([found["unshare"], "-m", "sh", str(work / "run-sshd.sh")]))
        _wait_for(lambda: _port_open(lab.port), "sshd", time.monotonic() + 10)
        yield SetupLab(lab, base, setup)
    finally:
        for proc in reversed(procs):
            _stop(proc)
        subprocess.run([found["userdel"], user], check=False)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(jail, ignore_errors=True)


def _quoted(path: str) -> str:
    """A path as an argument of an sftp batch command."""
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cli_events(path: Path, *options: str) -> tuple[list[dict[str, Any]], str]:
    """`pii-guard parse --format sftp`: its ECS documents and its stderr (the failures)."""
    args = [sys.executable, "-m", "pii_guard", "parse", "--format", "sftp", *options, str(path)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def _row(doc: dict[str, Any]) -> tuple[Any, ...]:
    pii = doc.get("pii", {})
    return (
        doc["event"]["action"],
        doc["event"]["outcome"],
        doc.get("user", {}).get("name"),
        doc.get("source", {}).get("ip"),
        pii.get("object"),
        pii.get("bytes"),
        doc.get("file", {}).get("target_path"),
    )


def test_sftp_odd_names_in_each_logging_setup(setup_lab: SetupLab) -> None:
    """Downloads, an upload, a rename and a remove of names full of escapes, in each setup: the events
    carry the names as they are on disk, with the session's user and IP and the bytes moved. Then an upload
    whose `close` message OpenSSH cuts at 500 characters, inside its byte count: the volume is unknown."""
    lab, b, setup = setup_lab.lab, setup_lab.base, setup_lab.setup
    gets = [f"get {_quoted(f'{b}/{n}')} dl{i}" for i, n in enumerate(ODD_NAMES) if "\n" not in n]
    gets.append(f"get {b}/nl* dl-nl")
    up, renamed = f"{b}/{UP_NAME}", f"{b}/{RENAMED}"
    # `close "<path>" bytes read 0 written 5000` is 502 characters: syslog gets `... written 50`
    long_dir = f"{b}/{'d' * 230}"
    long_file = f"{long_dir}/{'f' * (502 - len(str(len(DATA))) - 30 - len(long_dir) - 1)}"
    assert len(f'close "{long_file}" bytes read 0 written {len(DATA)}') == 502
    batch = [*gets, f"put up.txt {_quoted(up)}", f"rename {_quoted(up)} {_quoted(renamed)}", f"rm {_quoted(renamed)}"]
    batch += [f"mkdir {long_dir}", f"put data.bin {long_file}", f"rm {long_file}", f"rmdir {long_dir}"]
    code, stderr = _sftp(lab, "\n".join(batch) + "\n")
    assert code == 0, stderr
    _wait_for(partial(_has_line, setup_lab.syslog, "session closed"), "the session's end", time.monotonic() + 10)
    text = setup_lab.syslog.read_text()
    tag = "internal-sftp[" if setup.chroot else "sftp-server["
    # escaped once, by the sftp code itself: a backslash doubled, `é` in octal
    assert tag in text
    assert "back\\\\303\\\\251" in text
    assert "\\303\\251 space" in text
    assert f'close "{long_file}" bytes read 0 written 50\n' in text
    if setup.sshd_to_file:
        sshd_log = lab.work / "sshd.log"
        _wait_for(partial(_has_line, sshd_log, "Disconnected from"), "sshd.log", time.monotonic() + 10)
        sftp_words = ("session opened", "open ", "close ", "posix-rename ", "remove ")
        assert [line for line in sshd_log.read_text().splitlines() if line.startswith(sftp_words)] == []

    docs, failures = _cli_events(setup_lab.syslog)
    assert failures.count("cut short") == 1  # the upload's open line, cut too
    assert "'open'" in failures
    u, ip = lab.user, "127.0.0.1"
    expected = [("read", "success", u, ip, f"file:{b}/{n}", 100, None) for n in ODD_NAMES]
    expected += [
        ("write", "success", u, ip, f"file:{up}", len(UPLOAD), None),
        ("rename", "success", u, ip, f"file:{up}", None, renamed),
        ("delete", "success", u, ip, f"file:{renamed}", None, None),
        # `put` stats its target next: its `sent status No such file` may be the mkdir's (INFO logs no stat)
        ("create", "unknown", u, ip, f"file:{long_dir}", None, None),
        ("write", "success", u, ip, f"file:{long_file}", None, None),
        ("delete", "success", u, ip, f"file:{long_file}", None, None),
        ("delete", "success", u, ip, f"file:{long_dir}", None, None),
    ]
    logins = [("login", "success", u, ip, None, None, None)]
    assert [_row(d) for d in docs] == (expected if setup.sshd_to_file else logins + expected)
    assert docs[-3]["pii"]["bytes_at_least"] == 50
    if setup.sshd_to_file:
        docs, failures = _cli_events(lab.work / "sshd.log", "--set", "layout=bare")
        assert (failures, [_row(d) for d in docs]) == ("", logins)
