"""Private vsftpd and Apache httpd for the real-server tests, as context managers that start them in temp dirs
and always stop them (and remove their test users and files), whatever happens in between.

- `vsftpd(...)`: vsftpd 3 on 127.0.0.1 at a free port, local users through the package's PAM service and an
  anonymous area, writing xferlog and vsftpd.log at once (`xferlog_std_format=YES`, `dual_log_enable=YES`),
  optionally with `log_ftp_protocol=YES`, in a given TZ (its stamps are local time without a zone; FORMATS.md §7).
- `apache(...)`: apache2 in the foreground from a minimal config of its own (no /etc/apache2): Basic auth on
  /exports/, Debian's `combined` and any further LogFormats, each to its own file (FORMATS.md §6).

`parse_with_cli` runs `pii-guard parse` on a live log, as a user would, and returns its ECS documents.
Missing binaries skip the caller (and fail it in CI) through `require_binaries`; so does not being root.
"""

from __future__ import annotations

import base64
import ftplib
import hashlib
import http.client
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tests.conftest import require_binaries
from tests.realservers.servers import (
    free_port,
    port_open,
    require_root,
    skip_or_fail,
    stop_all,
    system_users,
    wait_for,
)

VSFTPD = "/usr/sbin/vsftpd"
APACHE = "/usr/sbin/apache2"
APACHE_MODULES = Path("/usr/lib/apache2/modules")
VSFTPD_PAM = Path("/etc/pam.d/vsftpd")  # Debian's: pam_shells, then common-auth (pam_unix)
APACHE_COMBINED = r'%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"'  # Debian's apache2.conf


def parse_with_cli(fmt: str, log: Path, *options: str) -> tuple[list[dict[str, Any]], str]:
    """`pii-guard parse --format FMT [OPTIONS] LOG`: the ECS documents it prints, and its stderr."""
    done = subprocess.run([sys.executable, "-m", "pii_guard", "parse", "--format", fmt, *options, str(log)],
                          capture_output=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return [orjson.loads(line) for line in done.stdout.splitlines()], done.stderr.decode(errors="replace")


def wait_for_lines(path: Path, count: int, what: str) -> None:
    """Servers write a line once the client has its answer (Apache) or once a session ends (vsftpd)."""

    def enough() -> bool:
        return path.exists() and path.read_bytes().count(b"\n") >= count

    wait_for(enough, f"{count} lines in {what}")


# -- vsftpd -----------------------------------------------------------------------------------------------


@dataclass
class Vsftpd:
    work: Path  # config, logs, the secure_chroot_dir
    home: Path  # the local users' home (no chroot: vsftpd logs absolute paths below it)
    anon_root: Path  # what anonymous sessions see as "/"
    users: list[str]  # local users, one password
    anon_user: str  # ftp_username: the Unix user anonymous sessions run as (and vsftpd.log names)
    password: str
    port: int

    @property
    def xferlog(self) -> Path:
        return self.work / "xferlog"

    @property
    def vsftpd_log(self) -> Path:
        return self.work / "vsftpd.log"

    def connect(self) -> ftplib.FTP:
        ftp = ftplib.FTP(timeout=10)
        ftp.connect("127.0.0.1", self.port)
        return ftp

    def login(self, user: str, password: str | None = None) -> ftplib.FTP:
        ftp = self.connect()
        ftp.login(user, self.password if password is None else password)
        return ftp

    def refused_login(self, user: str, password: str = "wrong-password") -> None:
        """A login that must fail (PAM delays the answer by about 2 s)."""
        ftp = self.connect()
        try:
            ftp.login(user, password)
        except ftplib.error_perm as exc:
            refused = str(exc)
        else:
            refused = "accepted"
        finally:
            ftp.close()
        if not refused.startswith("530"):
            raise AssertionError(f"vsftpd answered {refused!r} to {user!r}")


def _vsftpd_config(lab: Vsftpd, log_ftp_protocol: bool) -> str:
    return (
        f"listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={lab.port}\nbackground=NO\n"
        # containers refuse the seccomp filter and the network namespaces vsftpd would create per session
        "seccomp_sandbox=NO\nisolate=NO\nisolate_network=NO\n"
        f"secure_chroot_dir={lab.work / 'empty'}\npam_service_name=vsftpd\n"
        "local_enable=YES\nwrite_enable=YES\nchmod_enable=YES\n"
        f"anonymous_enable=YES\nanon_root={lab.anon_root}\nftp_username={lab.anon_user}\nno_anon_password=NO\n"
        f"xferlog_enable=YES\nxferlog_std_format=YES\nxferlog_file={lab.xferlog}\n"
        f"dual_log_enable=YES\nvsftpd_log_file={lab.vsftpd_log}\n"
        f"log_ftp_protocol={'YES' if log_ftp_protocol else 'NO'}\n"
    )


@contextmanager
def vsftpd(n_users: int = 1, log_ftp_protocol: bool = False, tz: str = "UTC") -> Iterator[Vsftpd]:
    """vsftpd with `n_users` fresh local users (home: one shared directory they own, for the test to fill)
    and an anonymous area (empty, root-owned: the test puts world-readable files there), started with TZ=`tz`.
    The users get /bin/sh and a password, which Debian's PAM service for vsftpd needs (pam_shells, pam_unix);
    they are removed afterwards."""
    found = require_binaries(VSFTPD, "useradd", "userdel", "usermod", "chpasswd")
    require_root("vsftpd")
    if not VSFTPD_PAM.exists():
        skip_or_fail(f"the vsftpd real-server fixture logs in through {VSFTPD_PAM} (Debian package vsftpd)")
    names = [f"piif{uuid.uuid4().hex[:8]}" for _ in range(n_users + 1)]
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="piig-ftp-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        home, anon_root, empty = work / "home", work / "anon", work / "empty"
        for path in (work, home, anon_root, empty):
            path.mkdir(exist_ok=True)
            os.chmod(path, 0o755)
        users = stack.enter_context(system_users(names, home=str(home)))
        lab = Vsftpd(work, home, anon_root, users[1:], users[0], "pii-guard-Ftp-pw1", free_port())
        for user in lab.users:
            subprocess.run([found["usermod"], "-s", "/bin/sh", user], check=True, capture_output=True)
        passwords = "".join(f"{user}:{lab.password}\n" for user in lab.users)
        subprocess.run([found["chpasswd"]], input=passwords.encode(), check=True, capture_output=True)
        owner = pwd.getpwnam(lab.users[0])
        os.chown(home, owner.pw_uid, owner.pw_gid)
        (work / "vsftpd.conf").write_text(_vsftpd_config(lab, log_ftp_protocol))
        procs: list[subprocess.Popen[bytes]] = []
        stack.callback(stop_all, procs)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TZ": tz}
        with (work / "vsftpd.out").open("wb") as out:
            procs.append(subprocess.Popen([found[VSFTPD], str(work / "vsftpd.conf")], stdout=out, stderr=out,
                                          env=env, start_new_session=True))  # fmt: skip
        wait_for(lambda: port_open(lab.port) or procs[0].poll() is not None, "vsftpd")
        if procs[0].poll() is not None:
            raise AssertionError(f"vsftpd exited: {(work / 'vsftpd.out').read_text(errors='replace')}")
        yield lab


# -- Apache httpd -----------------------------------------------------------------------------------------


@dataclass
class Apache:
    work: Path
    docroot: Path
    port: int
    passwords: dict[str, str]

    def log(self, name: str) -> Path:
        """The file of the LogFormat `name` (`combined`, or a name given to `apache()`)."""
        return self.work / f"{name}.log"

    def request(self, method: str, path: str, user: str | None = None, password: str | None = None,
                headers: Sequence[tuple[str, str | bytes]] = (), body: bytes | None = None) -> int:  # fmt: skip
        """One request over http.client (path and header values sent as given: bytes stay raw); the status."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            if user is not None:
                secret = f"{user}:{self.passwords.get(user, '') if password is None else password}"
                conn.putheader("Authorization", b"Basic " + base64.b64encode(secret.encode()))
            for name, value in headers:
                conn.putheader(name, value)
            conn.endheaders(body)
            response = conn.getresponse()
            response.read()
            status: int = response.status
            return status
        finally:
            conn.close()

    def raw(self, data: bytes) -> bytes:
        """Send bytes as they are (a malformed request) and return the status line Apache answered, if any."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=15) as sock:
            sock.sendall(data)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return answer.partition(b"\r\n")[0]


def _htpasswd(passwords: dict[str, str]) -> str:
    """{SHA} entries (Apache reads them; no htpasswd tool needed). Names may hold spaces and UTF-8."""
    return "".join(f"{user}:{{SHA}}{base64.b64encode(hashlib.sha1(pw.encode()).digest()).decode()}\n"
                   for user, pw in passwords.items())  # fmt: skip


def _apache_config(lab: Apache, formats: dict[str, str], run_as: str) -> str:
    modules = ("mpm_event", "authn_core", "authn_file", "authz_core", "authz_user", "auth_basic", "dav", "dav_fs")
    w = lab.work
    logs = {"combined": APACHE_COMBINED, **formats}
    return (
        f"ServerRoot {w}\nPidFile {w}/httpd.pid\nListen 127.0.0.1:{lab.port}\nServerName localhost\n"
        + "".join(f"LoadModule {m}_module {APACHE_MODULES}/mod_{m}.so\n" for m in modules)
        + f"User {run_as}\nGroup {run_as}\nErrorLog {w}/error.log\nLogLevel warn\n"
        # a connection that never sends a request line is logged ("-" 408) after Timeout
        "Timeout 2\n"
        f"DocumentRoot {lab.docroot}\n<Directory {lab.docroot}>\n  Require all granted\n</Directory>\n"
        f"<Location /exports/>\n  AuthType Basic\n  AuthName exports\n  AuthUserFile {w}/htpasswd\n"
        "  Require valid-user\n</Location>\n"
        # a WebDAV share (mod_dav on a folder the server's user owns), behind the same Basic auth
        f"DavLockDB {w}/davlock/lockdb\n<Location /dav/>\n  Dav On\n  AuthType Basic\n  AuthName dav\n"
        f"  AuthUserFile {w}/htpasswd\n  Require valid-user\n</Location>\n"
        + "".join(f'LogFormat "{fmt}" {name}\nCustomLog {w}/{name}.log {name}\n' for name, fmt in logs.items())
    )


@contextmanager
def apache(passwords: dict[str, str], formats: dict[str, str] | None = None) -> Iterator[Apache]:
    """apache2 -DFOREGROUND (event MPM) on 127.0.0.1 at a free port, document root in a temp dir (empty but
    for /exports/, Basic auth with `passwords`, and a WebDAV share /dav/ behind the same), one log file per
    LogFormat: Debian's `combined` plus `formats` (name -> LogFormat text as written in apache2.conf).
    Children run as www-data (else nobody)."""
    found = require_binaries(APACHE)
    require_root("Apache")
    if not (APACHE_MODULES / "mod_auth_basic.so").exists():
        skip_or_fail(f"real-server test needs the Apache modules in {APACHE_MODULES} (Debian package apache2)")
    run_as = "www-data"
    try:
        pwd.getpwnam(run_as)
    except KeyError:
        run_as = "nobody"
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="piig-httpd-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        lab = Apache(work, work / "html", free_port(), dict(passwords))
        (lab.docroot / "exports").mkdir(parents=True)
        for shared in (lab.docroot / "dav", work / "davlock"):  # written by the server's user
            shared.mkdir()
            shutil.chown(shared, run_as, run_as)
        for path in (work, lab.docroot, lab.docroot / "exports"):
            os.chmod(path, 0o755)
        (work / "htpasswd").write_text(_htpasswd(lab.passwords))
        os.chmod(work / "htpasswd", 0o644)
        (work / "httpd.conf").write_text(_apache_config(lab, formats or {}, run_as))
        procs: list[subprocess.Popen[bytes]] = []
        stack.callback(stop_all, procs)
        args = [found[APACHE], "-f", str(work / "httpd.conf"), "-DFOREGROUND"]
        procs.append(subprocess.Popen(args, start_new_session=True, env={"PATH": "/usr/sbin:/usr/bin:/bin"}))
        wait_for(lambda: port_open(lab.port) or procs[0].poll() is not None, "apache2")
        if procs[0].poll() is not None:
            error_log = work / "error.log"
            detail = error_log.read_text(errors="replace") if error_log.exists() else "(no error log)"
            raise AssertionError(f"apache2 exited: {detail[-2000:]}")
        yield lab


def publish(path: Path, data: bytes) -> Path:
    """A world-readable file (servers read it as their unprivileged user)."""
    path.write_bytes(data)
    os.chmod(path, 0o644)
    return path
