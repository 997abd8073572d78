"""File-server and web logs: Samba full_audit and sftp-server via rsyslog, nginx and Apache combined.

Layouts follow the real lines in shared/samples (FORMATS.md §4, §5, §6, §11).
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Iterator
from typing import Final

from benchmarks.population import EXPORT_URLS, SAMBA_ROOT, SFTP_ROOT, SHARES, Population
from benchmarks.timeline import Clock, interleave, take

SAMBA_HOST: Final = "fs1"
SFTP_HOST: Final = "sftp1"
SFTP_SERVER_IP: Final = "10.10.0.20"

_SHARE_OF_ROLE: Final = {
    "hr": "hr", "finance": "finance", "analyst": "finance", "sales": "sales", "engineer": "engineering",
    "legal": "legal", "support": "exports", "marketing": "sales", "manager": "finance",
}  # fmt: skip


def _samba_path(rng: random.Random, share: str, user: str) -> str:
    root = f"{SAMBA_ROOT}/{share}"
    n = rng.randrange(1, 3000)
    mm = rng.randrange(1, 13)
    if share == "hr":
        return rng.choice((f"{root}/contracts/{user}.pdf", f"{root}/reviews/2025/{user}.docx",
                           f"{root}/medical/{user}-sick-note.pdf", f"{root}/payroll-2025-{mm:02d}.xlsx",
                           f"{root}/Onboarding checklist {n}.docx"))  # fmt: skip
    if share == "finance":
        return rng.choice((f"{root}/invoices/2025/INV-{n:06d}.pdf", f"{root}/payroll/2025-{mm:02d}.xlsx",
                           f"{root}/reports/q{mm % 4 + 1}-{2018 + n % 8}.xlsx",
                           f"{root}/Q{mm % 4 + 1} board pack.pdf"))  # fmt: skip
    if share == "sales":
        return rng.choice((f"{root}/leads/leads-2025-{mm:02d}.csv", f"{root}/contracts/cust{n}/contract.pdf",
                           f"{root}/decks/pitch-{n}.pptx"))  # fmt: skip
    if share == "engineering":
        return rng.choice((f"{root}/src/app/module{n}.py", f"{root}/docs/design-{n}.md"))
    if share == "exports":
        return f"{root}/customers-2025-{mm:02d}-{n % 28 + 1:02d}.csv"
    if share == "legal":
        return rng.choice((f"{root}/gdpr/requests/DSR-{n}.pdf", f"{root}/nda/vendor-{n % 40}.pdf"))
    return rng.choice((f"{root}/handbook.pdf", f"{root}/menu-week{n % 52 + 1}.pdf", f"{root}/logo.png"))


def samba(pop: Population, seed: int, lines: int) -> Iterator[str]:
    """`lines` lines of vfs_full_audit (prefix %u|%I|%m|%S) as rsyslog writes them (RFC 3339)."""
    rng = random.Random(f"samba:{seed}")
    clock = Clock(rng, mean_gap_us=100)

    def session() -> Iterator[list[str]]:
        login = pop.login(rng)
        user = pop.by_name.get(login)
        ip = pop.ip_for(rng, login)
        machine = f"ws-{int(hashlib.md5(ip.encode()).hexdigest()[:4], 16) % 2000:04d}"
        share = _SHARE_OF_ROLE.get(user.roles[0], "public") if user is not None else "public"
        if rng.random() < 0.15:
            share = rng.choice(SHARES)
        prefix = f"{login}|{ip}|{machine}|{share}|"
        root = f"{SAMBA_ROOT}/{share}"

        def line(op: str, status: str, args: str) -> list[str]:
            clock.tick()
            return [f"{clock.rfc3339()} {SAMBA_HOST} smbd_audit: {prefix}{op}|{status}|{args}"]

        yield line("connect", "ok", share)
        for _ in range(min(int(rng.expovariate(1 / 6)) + 1, 60)):
            path = _samba_path(rng, share, login)
            if rng.random() < 0.0005:
                path = f"{SAMBA_ROOT}/hr/.old/passwords.xlsx"
            folder = path.rsplit("/", 1)[0]
            yield line("openat", "ok", f"r|{root}")
            yield line("create_file", "ok", f"0x80|dir|open|{folder}")
            yield line("close", "ok", folder)
            r = rng.random()
            if r < 0.55:
                yield line("create_file", "ok", f"0x120089|file|open|{path}")
                for _ in range(rng.randrange(1, 12)):
                    yield line("pread_recv", "ok", path)
                yield line("close", "ok", path)
            elif r < 0.70:
                yield line("create_file", "ok", f"0x12019f|file|overwrite_if|{path}")
                for _ in range(rng.randrange(1, 6)):
                    yield line("pwrite_recv", "ok", path)
                yield line("close", "ok", path)
            elif r < 0.76:
                new = f"{folder}/renamed-{rng.randrange(1000)}.{path.rsplit('.', 1)[-1]}"
                yield line("create_file", "ok", f"0x10000|file|open|{path}")
                yield line("renameat", "ok", f"{path}|{new}")
                yield line("close", "ok", new)
            elif r < 0.80:
                yield line("create_file", "ok", f"0x10000|file|open|{path}")
                yield line("unlinkat", "ok", path)
                yield line("close", "ok", path)
            elif r < 0.82:
                yield line("mkdirat", "ok", f"{folder}/new-{rng.randrange(1000)}")
            elif r < 0.90:
                yield line("create_file", "fail (No such file or directory)", f"0x120089|file|open|{path}")
            else:
                yield line("create_file", "ok", f"0x81|dir|open|{folder}")
                yield line("openat", "ok", f"r|{path}")
                yield line("close", "ok", folder)
        yield line("disconnect", "ok", share)

    def filler() -> Iterator[str]:
        while True:
            clock.tick()
            yield f"{clock.rfc3339()} {SAMBA_HOST} smbd_audit: backup|10.10.0.9|bk1|public|openat|ok|r|{SAMBA_ROOT}"

    return take(interleave(rng, session, 12), lines, filler())


def _fingerprint(login: str) -> str:
    """The SHA256 fingerprint sshd prints for the user's key: unpadded base64, 43 characters."""
    return base64.b64encode(hashlib.sha256(login.encode()).digest()).decode()[:43]


def _sftp_path(rng: random.Random, pop: Population, login: str) -> str:
    r = rng.random()
    day = f"2025{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
    if r < 0.45:
        return f"{SFTP_ROOT}/home/{login}/exports/customers-{day}.csv"
    if r < 0.65:
        return f"{SFTP_ROOT}/partners/{rng.choice(pop.partners)}/outbox/customers-{day}.csv"
    if r < 0.80:
        return f"{SFTP_ROOT}/partners/{rng.choice(pop.partners)}/inbox/orders-{rng.randrange(10_000)}.xml"
    return f"{SFTP_ROOT}/home/{login}/uploads/report {day}.pdf"


def sftp(pop: Population, seed: int, lines: int) -> Iterator[str]:
    """`lines` lines of sshd + sftp-server (`-l INFO`) / internal-sftp (`-l VERBOSE`) via rsyslog."""
    rng = random.Random(f"sftp:{seed}")
    clock = Clock(rng, mean_gap_us=200)
    pids = [30_000]

    def session() -> Iterator[list[str]]:
        pids[0] += rng.randrange(4, 30)
        pid = pids[0]
        login = pop.login(rng)
        ip = pop.ip_for(rng, login)
        port = rng.randrange(32768, 61000)

        def sshd(p: int, text: str) -> list[str]:
            clock.tick()
            return [f"{clock.rfc3339()} {SFTP_HOST} sshd[{p}]: {text}"]

        yield sshd(pid, f'Connection from {ip} port {port} on {SFTP_SERVER_IP} port 22 rdomain ""')
        fp = f"SHA256:{_fingerprint(login)}"
        r = rng.random()
        if r < 0.04:
            yield sshd(pid, f"Failed password for {login} from {ip} port {port} ssh2")
            yield sshd(pid, f"Connection closed by authenticating user {login} {ip} port {port} [preauth]")
            return
        if r < 0.05:
            yield sshd(pid, f"Invalid user {login}x from {ip} port {port}")
            yield sshd(pid, f"Connection closed by invalid user {login}x {ip} port {port} [preauth]")
            return
        password = r > 0.8
        if password:
            yield sshd(pid, f"Accepted password for {login} from {ip} port {port} ssh2")
        else:
            yield sshd(pid, f"Accepted key ED25519 {fp} found at {SFTP_ROOT}/home/{login}/.ssh/authorized_keys:1")
            yield sshd(pid, f"Accepted publickey for {login} from {ip} port {port} ssh2: ED25519 {fp}")
        yield sshd(pid, f"User child is on pid {pid + 2}")
        yield sshd(pid + 2, f"Starting session: subsystem 'sftp' for {login} from {ip} port {port} id 0")
        verbose = rng.random() < 0.3
        tag = f"internal-sftp[{pid + 3}]" if verbose else f"sftp-server[{pid + 3}]"

        def sftpd(text: str) -> list[str]:
            clock.tick()
            return [f"{clock.rfc3339()} {SFTP_HOST} {tag}: {text}"]

        yield sftpd(f"session opened for local user {login} from [{ip}]")
        if verbose:
            yield sftpd("received client version 3")
            yield sftpd('realpath "."')
        for _ in range(min(int(rng.expovariate(1 / 5)) + 1, 50)):
            path = _sftp_path(rng, pop, login)
            folder = path.rsplit("/", 1)[0]
            yield sftpd(f'opendir "{folder}/"')
            yield sftpd(f'closedir "{folder}/"')
            if verbose:
                yield sftpd(f'lstat name "{path}"')
                yield sftpd(f'stat name "{path}"')
            r = rng.random()
            if r < 0.6:
                yield sftpd(f'open "{path}" flags READ mode 0666')
                yield sftpd(f'close "{path}" bytes read {rng.randrange(0, 5_000_000)} written 0')
            elif r < 0.8:
                yield sftpd(f'open "{path}" flags WRITE,CREATE,TRUNCATE mode 0644')
                yield sftpd(f'close "{path}" bytes read 0 written {rng.randrange(1, 2_000_000)}')
            elif r < 0.85:
                new = f"{folder}/renamed-{rng.randrange(1000)}.csv"
                yield sftpd(f'posix-rename old "{path}" new "{new}"')
                yield sftpd(f'remove name "{new}"')
            elif r < 0.88:
                yield sftpd(f'mkdir name "{folder}/new-{rng.randrange(1000)}" mode 0777')
                yield sftpd("sent status Failure")
            else:
                yield sftpd(f'open "{path}" flags READ mode 0666')
                yield sftpd(rng.choice(("sent status Permission denied", "sent status No such file")))
        yield sftpd(f"session closed for local user {login} from [{ip}]")
        yield sshd(pid + 2, f"Received disconnect from {ip} port {port}:11: disconnected by user")
        yield sshd(pid + 2, f"Disconnected from user {login} {ip} port {port}")

    def filler() -> Iterator[str]:
        while True:
            clock.tick()
            pids[0] += 1
            yield (f"{clock.rfc3339()} {SFTP_HOST} sshd[{pids[0]}]: Connection from 198.51.100.7 port 50000 on "
                   f'{SFTP_SERVER_IP} port 22 rdomain ""')  # fmt: skip

    return take(interleave(rng, session, 8), lines, filler())


# -- nginx and Apache combined ------------------------------------------------------------------------------

_AGENTS: Final = (
    "Mozilla/5.0 (X11; Linux x86_64) Firefox/115.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5"
    " Safari/605.1.15",
    "curl/7.88.1", "python-requests/2.31.0", "Go-http-client/1.1", "Prometheus/2.45.0",
)  # fmt: skip
_ASSETS: Final = tuple(f"/static/{kind}/{name}.{h:08x}.{kind}" for kind in ("js", "css")
                       for name in ("app", "vendor", "runtime", "charts") for h in (0x1A2B3C4D, 0x5E6F7081))
_REFERERS: Final = (
    "-", "-", "-", "https://intranet.example/", "https://intranet.example/crm/customers?page=2",
    'https://intranet.example/reports?q="x"', 'https://intranet.example/search?q="smith, john"',
)  # fmt: skip


def _request(rng: random.Random, pop: Population) -> tuple[str, str, int, int, bool]:
    """(method, target, status, body bytes, needs a user) of one request."""
    r = rng.random()
    cid = int(50_000 * rng.random() ** 2) + 1
    if r < 0.22:
        status = rng.choice((200, 200, 304))
        asset = rng.choice(_ASSETS)  # content-hashed bundles: a handful per deploy
        return "GET", asset, status, 48_213 if status == 200 else 0, False
    if r < 0.45:
        return "GET", f"/api/v1/customers/{cid}", 200, rng.randrange(600, 3000), True
    if r < 0.48:
        return "GET", f"/api/v1/customers/{cid}/documents/id-{rng.randrange(9)}.pdf", 200, 180_000, True
    if r < 0.56:
        which = rng.random()
        if which < 0.6:
            return "GET", f"/api/v1/orders/{rng.randrange(1, 400_000)}", 200, rng.randrange(400, 2000), True
        if which < 0.9:
            return "GET", f"/api/v1/employees/{rng.randrange(1, 3000)}", 200, rng.randrange(400, 2000), True
        return "GET", f"/api/v1/payroll/2025/{rng.randrange(1, 13):02d}", 200, rng.randrange(10_000, 90_000), True
    if r < 0.64:
        name = rng.choice(("smith", "o%27brien", "%22john%20doe%22", "m%C3%BCller", "c12%40example.com"))
        return "GET", f"/api/v1/customers?search={name}&page={rng.randrange(1, 20)}", 200, 4100, True
    if r < 0.67:
        url = rng.choice(EXPORT_URLS)
        if rng.random() < 0.2:
            return "GET", url, 206, rng.randrange(1000, 5000), True
        return "GET", url, 200, rng.randrange(20_000, 30_000_000), True
    if r < 0.72:
        report = rng.choice(("revenue", "churn", "cohorts", "tickets", "nps", "sla"))
        return "GET", f"/reports/{report}?from=2025-01-01&to=2025-{rng.randrange(1, 13):02d}-28", 200, 88_000, True
    if r < 0.74:
        return rng.choice(("GET", "DELETE", "PUT")), f"/admin/users/{rng.randrange(1, 10_000)}", 200, 900, True
    if r < 0.82:
        return "GET", "/healthz", 200, 2, False
    if r < 0.87:
        return "POST", "/login", 302, 0, False
    if r < 0.90:
        return "GET", f"/api/v1/customers/{cid}", 401, 179, True
    if r < 0.92:
        return "GET", "/exports/", 401, 179, False
    if r < 0.94:
        return "GET", "/exports/private.txt", 403, 153, True
    if r < 0.99:
        return "GET", f"/wp-login.php?redirect_to=%2Fwp-admin%2F&n={rng.randrange(99)}", 404, 153, False
    if r < 0.9995:
        return "POST", f"/api/v1/customers/{cid}/notes", 201, 512, True
    return "GET", "/admin/backup/customers-full.sql.gz", 200, 88_000_000, True


def _nginx_escape(text: str) -> str:
    return text.replace("\\", "\\x5C").replace('"', "\\x22")


def _apache_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def weblog(pop: Population, seed: int, lines: int, server: str) -> Iterator[str]:
    """`lines` lines of the combined format as nginx (`server="nginx"`) or Debian's Apache writes it."""
    rng = random.Random(f"{server}:{seed}")
    clock = Clock(rng, mean_gap_us=100)
    apache = server == "apache"
    escape = _apache_escape if apache else _nginx_escape
    header = 240 if apache else 0  # Debian's Apache logs %O: body plus headers
    for _ in range(lines):
        clock.tick()
        login = pop.login(rng)
        ip = pop.ip_for(rng, login)
        method, target, status, size, authed = _request(rng, pop)
        user = login if authed and rng.random() < 0.85 else "-"
        if target == "/healthz":
            ip = "10.10.0.3"
        referer = escape(rng.choice(_REFERERS))
        agent = escape(rng.choice(_AGENTS))
        request = f"{method} {target} HTTP/1.1"
        if rng.random() < 0.001:  # a raw, malformed request line with a control byte and quotes
            request = r'GET /\x01weird \"quote\"' if apache else r"GET /\x01weird \x22quote\x22 HTTP/1.0"
            status, size, user, referer, agent = 400, 157, "-", "-", "-"
        yield f'{ip} - {user} [{clock.clf()}] "{request}" {status} {size + header} "{referer}" "{agent}"'
