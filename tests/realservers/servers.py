"""Private real servers for end-to-end tests, as context managers that start them in temp dirs and always
stop them (and remove their test users and files), whatever happens in between.

- `postgres()`: PostgreSQL 15 + pgAudit, stderr log with a `client=%h` prefix (FORMATS.md §1.6).
- `mariadb()`: MariaDB + server_audit, file output (FORMATS.md §2).
- `sftp_server(...)`: sshd with chrooted internal-sftp behind a private rsyslogd listening on the chroot's
  /dev/log (FORMATS.md §5, §11).
- `samba(...)`: smbd with vfs_full_audit in a private mount namespace whose /dev/log points at a private
  rsyslogd (FORMATS.md §4, §11).

Each yields the live log file(s) the server writes and a way to run the real client against it (psql,
mariadb, `sftp -b`, smbclient). The start-up logic is that of tests/realservers/test_{postgresql,mariadb,
sftp,samba}.py, copied so that the end-to-end tests stand on their own. Binaries that are missing skip the
caller (and fail it in CI) through `require_binaries`; so does not being root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

from tests.conftest import IN_CI, require_binaries

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PGAUDIT_SO = Path("/usr/lib/postgresql/15/lib/pgaudit.so")
PG_PREFIX = "%m [%p] user=%u,db=%d,app=%a,client=%h "
SAMBA_PREFIX = "%u|%I|%m|%S"


def _sbin(name: str) -> str:
    path = f"/usr/sbin/{name}"
    return path if os.access(path, os.X_OK) else name


MARIADBD, SSHD, SMBD, RSYSLOGD = _sbin("mariadbd"), "/usr/sbin/sshd", _sbin("smbd"), _sbin("rsyslogd")


# -- shared helpers ----------------------------------------------------------------------------------------


def skip_or_fail(reason: str) -> NoReturn:
    """Skip on a developer machine, fail in CI (where .ci/run must have made the test runnable)."""
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        skip_or_fail(f"the {what} real-server fixture runs as root (server users, private dirs)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def has_text(path: Path, text: str) -> Callable[[], bool]:
    """Servers behind rsyslogd write asynchronously: poll the file for a line."""
    return lambda: path.exists() and text in path.read_text(errors="replace")


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


def stop_session(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started in its own session (start_new_session=True) with every process it forked, and
    wait until none of them can still write into the temp dir."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
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


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop servers in the reverse order of their start (the syslog daemon last: it must take their lines)."""
    for proc in reversed(procs):
        stop_session(proc)


def _test_user(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:8]


@contextmanager
def system_users(names: Sequence[str], home: str = "/nonexistent") -> Iterator[list[str]]:
    """Create Unix users for a test (no home, no shell, a '*' password: not locked, no password login)
    and remove them afterwards."""
    found = require_binaries("useradd", "userdel")
    made: list[str] = []
    try:
        for name in names:
            subprocess.run([found["useradd"], "-M", "-d", home, "-s", "/usr/sbin/nologin", "-p", "*", name],
                           check=True, capture_output=True)  # fmt: skip
            made.append(name)
        yield made
    finally:
        for name in made:
            subprocess.run([found["userdel"], name], check=False, capture_output=True)


# -- PostgreSQL + pgAudit --------------------------------------------------------------------------------


@dataclass
class Postgres:
    root: Path
    port: int
    psql_bin: str

    @property
    def log(self) -> Path:
        """The stderr log the logging collector writes (one file, never rotated during a test)."""
        return self.root / "log" / "postgresql.log"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    def psql(self, sql: str, user: str = "postgres", db: str = "crm", password: str | None = None,
             app: str = "pii-guard-e2e") -> subprocess.CompletedProcess[str]:  # fmt: skip
        """Run SQL through psql: over TCP 127.0.0.1 with a password when one is given, else over the unix
        socket (trusted). psql goes on after a failed statement (no ON_ERROR_STOP), as a person's would."""
        host = "127.0.0.1" if password is not None else str(self.socket_dir)
        env = {**os.environ, "PGPASSWORD": password or "", "PGAPPNAME": app, "PGCONNECT_TIMEOUT": "10"}
        args = [self.psql_bin, "-X", "-q", "-h", host, "-p", str(self.port), "-U", user, "-d", db, "-o", os.devnull]
        return subprocess.run([*args, "-f", "-"], input=sql, env=env, capture_output=True, text=True, timeout=60,
                              check=False)  # fmt: skip


def _as_owner(args: list[str], owner: pwd.struct_passwd | None) -> None:
    """Run a PostgreSQL server command as the cluster's owner (`postgres` when we are root)."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC"}
    if owner is not None:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False,
                              user=owner.pw_uid, group=owner.pw_gid, extra_groups=[])  # fmt: skip
    else:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{args[0]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")


def _pg_config(root: Path, port: int) -> str:
    return f"""
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{root / "sock"}'
shared_preload_libraries = 'pgaudit'
fsync = off
shared_buffers = 16MB
logging_collector = on
log_destination = 'stderr'
log_directory = '{root / "log"}'
log_filename = 'postgresql.log'
log_rotation_age = 0
log_rotation_size = 0
log_line_prefix = '{PG_PREFIX}'
log_connections = on
log_disconnections = on
log_timezone = 'UTC'
pgaudit.log = 'read,write,ddl,role'
pgaudit.log_catalog = off
pgaudit.log_relation = on
pgaudit.log_rows = on
"""


@contextmanager
def postgres() -> Iterator[Postgres]:
    """A private cluster: initdb as `postgres` in a temp dir it owns, unix socket there, TCP on 127.0.0.1 at a
    free port, pg_hba: trust on the socket, scram-sha-256 passwords from 127.0.0.1."""
    found = require_binaries(str(PG_BIN / "initdb"), str(PG_BIN / "pg_ctl"), "psql")
    if not PGAUDIT_SO.exists():
        skip_or_fail(f"real-server test needs {PGAUDIT_SO} (Debian package postgresql-15-pgaudit)")
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="piig-pg-"))  # short: unix socket paths are limited to 107 bytes
    data = root / "data"
    started = False
    try:
        for sub in ("sock", "log"):
            (root / sub).mkdir()
        if owner is not None:
            for path in (root, root / "sock", root / "log"):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        _as_owner([found[str(PG_BIN / "initdb")], "-D", str(data), "-U", "postgres", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"], owner)  # fmt: skip
        port = free_port()
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(_pg_config(root, port))
        started = True  # from here on, a half-started server is stopped too
        _as_owner([found[str(PG_BIN / "pg_ctl")], "-D", str(data), "-l", str(root / "pg_ctl.out"), "-w", "-t", "60",
                   "start"], owner)  # fmt: skip
        yield Postgres(root, port, found["psql"])
    finally:
        if started and (data / "postmaster.pid").exists():
            _as_owner([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], owner)
        shutil.rmtree(root, ignore_errors=True)


# -- MariaDB + server_audit ------------------------------------------------------------------------------


@dataclass
class MariaDb:
    root: Path
    port: int
    client: str

    @property
    def audit_log(self) -> Path:
        return self.root / "server_audit.log"

    @property
    def socket(self) -> Path:
        return self.root / "mysqld.sock"

    def sql(self, sql: str, user: str = "root", password: str | None = None, tcp: bool = True,
            db: str | None = "crm") -> subprocess.CompletedProcess[str]:  # fmt: skip
        """Run SQL with the mariadb client: root over the unix socket (socket auth), others over TCP
        127.0.0.1 (their accounts are user@127.0.0.1) or, with tcp=False, the socket (user@localhost)."""
        if user == "root":
            args = [self.client, f"--defaults-file={self.root / 'my.cnf'}", "-uroot"]
        elif tcp:
            args = [self.client, "--no-defaults", "--protocol=TCP", "-h", "127.0.0.1", "-P", str(self.port)]
            args += [f"-u{user}", f"-p{password}"]
        else:
            args = [self.client, "--no-defaults", "--protocol=SOCKET", "-S", str(self.socket)]
            args += [f"-u{user}", f"-p{password}"]
        if db is not None:
            args.append(db)
        return subprocess.run(args, input=sql, capture_output=True, text=True, timeout=60, check=False)


@contextmanager
def mariadb() -> Iterator[MariaDb]:
    """A private mariadbd run by `mysql` from a temp dir it owns, TZ=UTC, unix socket there, TCP on
    127.0.0.1 at a free port. server_audit is loaded on the command line (file output, CONNECT,QUERY,TABLE)
    so that mariadb-install-db's bootstrap is not audited."""
    found = require_binaries(MARIADBD, "mariadb", "mariadb-install-db")
    require_root("MariaDB")
    owner = pwd.getpwnam("mysql")  # created by the mariadb-server package
    root = Path(tempfile.mkdtemp(prefix="piig-maria-"))  # short: the socket path limit is 108 bytes
    proc: subprocess.Popen[bytes] | None = None
    try:
        port = free_port()
        (root / "my.cnf").write_text(
            f"[client]\nsocket = {root}/mysqld.sock\n"
            f"[mariadbd]\nuser = mysql\ndatadir = {root}/data\nsocket = {root}/mysqld.sock\n"
            f"pid-file = {root}/mysqld.pid\nlog-error = {root}/error.log\nbind-address = 127.0.0.1\n"
            f"port = {port}\nskip-name-resolve\nskip-networking = 0\ninnodb_buffer_pool_size = 16M\n"
            f"secure-file-priv = {root}\n"
        )
        os.chown(root, owner.pw_uid, owner.pw_gid)
        install = [found["mariadb-install-db"], f"--defaults-file={root / 'my.cnf'}", "--skip-test-db",
                   "--auth-root-authentication-method=socket"]  # fmt: skip
        subprocess.run(install, capture_output=True, check=True, timeout=60)
        server = MariaDb(root, port, found["mariadb"])
        proc = subprocess.Popen(
            [found[MARIADBD], f"--defaults-file={root / 'my.cnf'}", "--plugin-load-add=server_audit",
             "--server-audit-logging=ON", "--server-audit-events=CONNECT,QUERY,TABLE",
             "--server-audit-output-type=file", f"--server-audit-file-path={server.audit_log}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "TZ": "UTC"},
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if server.socket.exists() and server.sql("SELECT 1", db=None).returncode == 0:
                break
            time.sleep(0.1)
        else:
            error_log = root / "error.log"
            detail = error_log.read_text(errors="replace")[-2000:] if error_log.exists() else "(no error log)"
            raise AssertionError(f"mariadbd did not come up: {detail}")
        yield server
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


# -- sshd + chrooted internal-sftp -----------------------------------------------------------------------


@dataclass
class Sftp:
    work: Path  # keys, configs, sshd's log; the client's side of transfers
    jail: Path  # the users' chroot: root-owned up to /, as sshd demands; paths in the log are inside it
    users: list[str]
    port: int
    sftp_bin: str

    @property
    def log(self) -> Path:
        """internal-sftp's lines, through the private rsyslogd (Debian's RFC 3339 layout)."""
        return self.work / "sftp.log"

    @property
    def sshd_log(self) -> Path:
        """sshd's own messages (`sshd -E`: no stamp, host or tag; the sftp parser's `layout: bare`)."""
        return self.work / "sshd.log"

    def sftp(self, user: str, batch: str) -> subprocess.CompletedProcess[str]:
        """Run an `sftp -b` batch as `user` (public-key login), from the work dir."""
        batch_file = self.work / f"batch-{uuid.uuid4().hex[:6]}"
        batch_file.write_text(batch)
        args = [self.sftp_bin, "-F", "/dev/null", "-P", str(self.port), "-i", str(self.work / "client_key")]
        args += ["-b", str(batch_file), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        args += ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", f"{user}@127.0.0.1"]
        try:
            return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, cwd=self.work)
        finally:
            batch_file.unlink()


def _jail_base() -> str:
    """A parent for the chroot whose every component is root-owned and not group/other-writable (/tmp is
    world-writable, so sshd refuses a chroot under it)."""
    for base in ("/run", "/var/lib", "/srv"):
        path = Path(base).resolve()
        if all(p.stat().st_uid == 0 and not p.stat().st_mode & 0o022 for p in (path, *path.parents)):
            return str(path)
    pytest.fail("no root-owned, non-writable directory to put a chroot under")


def _sftp_configs(work: Path, jail: Path, users: Sequence[str], port: int) -> None:
    (work / "rsyslog.conf").write_text(
        f'global(workDirectory="{work}")\n'
        'module(load="imuxsock" SysSock.Use="off")\n'
        f'input(type="imuxsock" Socket="{jail}/dev/log" CreatePath="on")\n'
        f"*.* {work}/sftp.log\n"
    )
    (work / "sshd_config").write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {work}/host_key\nPidFile {work}/sshd.pid\n"
        "LogLevel VERBOSE\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        f"PubkeyAuthentication yes\nAuthorizedKeysFile {work}/authorized_keys\nStrictModes no\n"
        "MaxStartups 50\nSubsystem sftp internal-sftp -l INFO\n"
        f"Match User {','.join(users)}\n    ChrootDirectory {jail}\n    ForceCommand internal-sftp -l INFO\n"
    )


@contextmanager
def sftp_server(n_users: int = 2) -> Iterator[Sftp]:
    """sshd on 127.0.0.1 at a free port; `n_users` fresh users share one chroot (the jail, empty but for
    /dev/log: the test puts its files there) and log in with one key; internal-sftp logs at INFO to a
    private rsyslogd listening on the jail's /dev/log."""
    found = require_binaries(SSHD, "sftp", "ssh-keygen", RSYSLOGD, "useradd", "userdel")
    require_root("sftp")
    names = [_test_user("piig") for _ in range(n_users)]
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="piig-sftp-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        jail = Path(tempfile.mkdtemp(prefix="piig-sftp-jail-", dir=_jail_base()))
        stack.callback(shutil.rmtree, jail, ignore_errors=True)
        os.chmod(jail, 0o755)
        os.chmod(work, 0o755)  # sshd reads authorized_keys as the user
        users = stack.enter_context(system_users(names, home="/"))
        for name in ("host_key", "client_key"):
            subprocess.run([found["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-f", str(work / name)], check=True)
        shutil.copy(work / "client_key.pub", work / "authorized_keys")
        port = free_port()
        _sftp_configs(work, jail, users, port)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        rsyslog = [found[RSYSLOGD], "-n", "-f", str(work / "rsyslog.conf"), "-i", str(work / "rsyslogd.pid")]
        procs: list[subprocess.Popen[bytes]] = []
        stack.callback(stop_all, procs)
        procs.append(subprocess.Popen(rsyslog, start_new_session=True))
        wait_for((jail / "dev" / "log").exists, "rsyslogd's socket in the jail")
        sshd = [found[SSHD], "-D", "-E", str(work / "sshd.log"), "-f", str(work / "sshd_config")]
        procs.append(subprocess.Popen(sshd, start_new_session=True))
        wait_for(lambda: port_open(port), "sshd")
        yield Sftp(work, jail, users, port, found["sftp"])


# -- Samba + vfs_full_audit ------------------------------------------------------------------------------


@dataclass
class Samba:
    work: Path
    base: Path  # the shares live here, one directory per share (under /srv, as a real file server's)
    users: list[str]
    password: str
    port: int
    smbclient_bin: str
    shares: list[str] = field(default_factory=list)

    @property
    def log(self) -> Path:
        """vfs_full_audit's lines, through the private rsyslogd (Debian's RFC 3339 layout)."""
        return self.work / "messages.log"

    @property
    def auth_log(self) -> Path:
        """smbd's own log with auth_audit lines (the samba parser's `log: auth_audit`)."""
        return self.work / "log" / "smbd.log"

    def share(self, name: str) -> Path:
        return self.base / name

    def smbclient(self, user: str, share: str, commands: str,
                  password: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """One smbclient session (SMB3) running `commands` (`;`-separated), from the work dir."""
        args = [self.smbclient_bin, f"//127.0.0.1/{share}", "-p", str(self.port), "-m", "SMB3"]
        args += ["-U", f"{user}%{password if password is not None else self.password}", "-c", commands]
        return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, cwd=self.work)


def _samba_configs(lab: Samba) -> None:
    w = lab.work
    (w / "rsyslog.conf").write_text(
        f'global(workDirectory="{w}/rsyslog")\n'
        'module(load="imuxsock" SysSock.Use="off")\n'
        f'input(type="imuxsock" Socket="{w}/log.sock" CreatePath="on")\n'
        f"*.* {w}/messages.log\n"
    )
    dirs = {k: w / k for k in ("private", "lock", "state", "cache", "pid", "ncalrpc", "log")}
    for path in dirs.values():
        path.mkdir()
    shares = "".join(
        f"[{name}]\n  path = {lab.share(name)}\n  read only = no\n  vfs objects = full_audit\n"
        f"  full_audit:prefix = {SAMBA_PREFIX}\n"
        "  full_audit:success = connect disconnect create_file openat close pread_recv pwrite_recv sendfile "
        "renameat unlinkat mkdirat\n"
        "  full_audit:failure = connect create_file openat renameat unlinkat\n"
        "  full_audit:facility = LOCAL5\n  full_audit:priority = NOTICE\n"
        for name in lab.shares
    )
    (w / "smb.conf").write_text(
        "[global]\n  server role = standalone server\n  interfaces = 127.0.0.1\n  bind interfaces only = yes\n"
        f"  smb ports = {lab.port}\n  disable netbios = yes\n"
        + "".join(f"  {key} {'directory' if key != 'private' else 'dir'} = {path}\n" for key, path in dirs.items()
                  if key not in ("ncalrpc", "log"))
        + f"  ncalrpc dir = {dirs['ncalrpc']}\n  log file = {dirs['log']}/smbd.log\n"
        "  log level = 1 auth_audit:3 auth_json_audit:3\n"
        f"  passdb backend = tdbsam:{dirs['private']}/passdb.tdb\n  map to guest = never\n"
        "  load printers = no\n  printing = bsd\n  printcap name = /dev/null\n  disable spoolss = yes\n"
        + shares
    )  # fmt: skip
    # smbd's view of /dev: the real nodes, plus `log` -> the private rsyslogd's socket. Nothing outside the
    # mount namespace changes.
    (w / "run-smbd.sh").write_text(
        "set -e\nmount --make-rprivate /\n"
        f"mkdir -p {w}/hostdev {w}/newdev\nmount --rbind /dev {w}/hostdev\n"
        f'for n in $(ls -A /dev); do ln -s "{w}/hostdev/$n" "{w}/newdev/$n"; done\n'
        f"ln -sf {w}/log.sock {w}/newdev/log\nmount --bind {w}/newdev /dev\n"
        f"exec {SMBD} -F --no-process-group -s {w}/smb.conf\n"
    )


def _srv_base() -> Path:
    """Shares live under /srv (the data map's `file:/srv/**/hr/**`); a fresh directory per test."""
    srv = Path("/srv")
    srv.mkdir(mode=0o755, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="piig-e2e-", dir=srv))
    os.chmod(base, 0o755)
    return base


@contextmanager
def samba(shares: Sequence[str], n_users: int = 2) -> Iterator[Samba]:
    """smbd on 127.0.0.1 at a free port with `shares` (empty directories under a fresh /srv/piig-e2e-*/, for
    the test to fill) audited by vfs_full_audit, and `n_users` fresh users with one password. smbd and
    rsyslogd run in their own sessions: `smbd --no-process-group` signals its whole process group on exit."""
    found = require_binaries(SMBD, "smbclient", RSYSLOGD, "smbpasswd", "unshare", "useradd", "userdel")
    require_root("Samba")
    if subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False).returncode != 0:
        skip_or_fail("the Samba real-server fixture needs a private mount namespace (unshare -m) for /dev/log")
    names = [_test_user("piis") for _ in range(n_users)]
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="piig-samba-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        os.chmod(work, 0o755)
        (work / "rsyslog").mkdir()
        base = _srv_base()
        stack.callback(shutil.rmtree, base, ignore_errors=True)
        users = stack.enter_context(system_users(names))
        lab = Samba(work, base, users, "pii-guard-Smb-pw1", free_port(), found["smbclient"], list(shares))
        for name in shares:
            lab.share(name).mkdir(mode=0o755)
        _samba_configs(lab)
        passwords = f"{lab.password}\n{lab.password}\n".encode()
        for user in users:
            smbpasswd = [found["smbpasswd"], "-c", str(work / "smb.conf"), "-s", "-a", user]
            subprocess.run(smbpasswd, input=passwords, capture_output=True, check=True)
        procs: list[subprocess.Popen[bytes]] = []
        stack.callback(stop_all, procs)
        rsyslog = [found[RSYSLOGD], "-n", "-f", str(work / "rsyslog.conf"), "-i", str(work / "rsyslogd.pid")]
        procs.append(subprocess.Popen(rsyslog, start_new_session=True))
        wait_for((work / "log.sock").exists, "rsyslogd's socket")
        with (work / "smbd.out").open("wb") as out:
            smbd = [found["unshare"], "-m", "sh", str(work / "run-smbd.sh")]
            procs.append(subprocess.Popen(smbd, stdout=out, stderr=out, start_new_session=True))
        wait_for(lambda: port_open(lab.port), "smbd")
        yield lab


# -- PostgreSQL + pgAudit through syslog -----------------------------------------------------------------

PG_SYSLOG_PREFIX = "[%p] user=%u,db=%d,app=%a,client=%h "


@dataclass
class PostgresSyslog(Postgres):
    """A cluster with `log_destination = 'syslog'`: its lines go through /dev/log to a private rsyslogd
    that writes them twice, in Debian's RFC 3339 layout and in the traditional one."""

    @property
    def syslog(self) -> Path:
        """rsyslog's default file layout on Debian 12 (RSYSLOG_FileFormat)."""
        return self.root / "postgresql.log"

    @property
    def traditional_syslog(self) -> Path:
        """The same lines in RSYSLOG_TraditionalFileFormat (`Nov 29 05:31:02 host tag[pid]: ...`)."""
        return self.root / "postgresql-traditional.log"


def _pg_syslog_config(root: Path, port: int, prefix: str, settings: str) -> str:
    return f"""
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{root / "sock"}'
shared_preload_libraries = 'pgaudit'
fsync = off
shared_buffers = 16MB
logging_collector = off
log_destination = 'syslog'
syslog_facility = 'LOCAL0'
syslog_ident = 'postgres'
log_line_prefix = '{prefix}'
log_connections = on
log_disconnections = on
log_timezone = 'UTC'
pgaudit.log = 'read,write,ddl,role'
pgaudit.log_catalog = off
pgaudit.log_relation = on
pgaudit.log_rows = on
{settings}
"""


@contextmanager
def postgres_syslog(prefix: str = PG_SYSLOG_PREFIX, settings: str = "") -> Iterator[PostgresSyslog]:
    """PostgreSQL 15 + pgAudit logging to syslog (facility LOCAL0, ident `postgres`), run by `postgres` in a
    private mount namespace whose /dev/log is a private rsyslogd's socket (as `samba()` does for smbd). The
    postmaster runs in the foreground in its own session; `settings` are extra postgresql.conf lines."""
    found = require_binaries(str(PG_BIN / "initdb"), str(PG_BIN / "postgres"), "psql", RSYSLOGD, "unshare",
                             "setpriv")  # fmt: skip
    require_root("PostgreSQL syslog")
    if not PGAUDIT_SO.exists():
        skip_or_fail(f"real-server test needs {PGAUDIT_SO} (Debian package postgresql-15-pgaudit)")
    if subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False).returncode != 0:
        skip_or_fail("the PostgreSQL syslog fixture needs a private mount namespace (unshare -m) for /dev/log")
    owner = pwd.getpwnam("postgres")
    with ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="piig-pgsys-"))  # short: unix socket paths are limited to 107 bytes
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        os.chmod(work, 0o755)
        for sub in ("sock", "data", "rsyslog"):
            (work / sub).mkdir()
        for sub in ("sock", "data"):
            os.chown(work / sub, owner.pw_uid, owner.pw_gid)
        _as_owner([found[str(PG_BIN / "initdb")], "-D", str(work / "data"), "-U", "postgres", "--auth-local=trust",
                   "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"], owner)  # fmt: skip
        port = free_port()
        with (work / "data" / "postgresql.conf").open("a") as conf:
            conf.write(_pg_syslog_config(work, port, prefix, settings))
        (work / "rsyslog.conf").write_text(
            f'global(workDirectory="{work}/rsyslog")\n'
            'module(load="imuxsock" SysSock.Use="off")\n'
            f'input(type="imuxsock" Socket="{work}/log.sock" CreatePath="on")\n'
            f'local0.* action(type="omfile" file="{work}/postgresql.log")\n'
            f'local0.* action(type="omfile" file="{work}/postgresql-traditional.log" '
            'template="RSYSLOG_TraditionalFileFormat")\n'
        )
        (work / "run-postgres.sh").write_text(
            "set -e\nmount --make-rprivate /\n"
            f"mkdir -p {work}/hostdev {work}/newdev\nmount --rbind /dev {work}/hostdev\n"
            f'for n in $(ls -A /dev); do ln -s "{work}/hostdev/$n" "{work}/newdev/$n"; done\n'
            f"ln -sf {work}/log.sock {work}/newdev/log\nmount --bind {work}/newdev /dev\n"
            f"exec {found['setpriv']} --reuid={owner.pw_uid} --regid={owner.pw_gid} --clear-groups "
            f"env -i PATH=/usr/bin:/bin LANG=C.UTF-8 TZ=UTC {found[str(PG_BIN / 'postgres')]} -D {work}/data\n"
        )
        procs: list[subprocess.Popen[bytes]] = []
        stack.callback(stop_all, procs)
        rsyslog = [found[RSYSLOGD], "-n", "-f", str(work / "rsyslog.conf"), "-i", str(work / "rsyslogd.pid")]
        procs.append(subprocess.Popen(rsyslog, start_new_session=True))
        wait_for((work / "log.sock").exists, "rsyslogd's socket")
        with (work / "postgres.out").open("wb") as out:
            server = [found["unshare"], "-m", "sh", str(work / "run-postgres.sh")]
            procs.append(subprocess.Popen(server, stdout=out, stderr=out, start_new_session=True))
        lab = PostgresSyslog(work, port, found["psql"])
        # up when it says so (a test connection would add its own lines to the log)
        wait_for(has_text(lab.syslog, "database system is ready to accept connections"), "postgres", timeout=60)
        yield lab
