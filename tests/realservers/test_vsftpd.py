"""A private vsftpd (FORMATS.md §7) driven by Python's ftplib; its vsftpd.log and xferlog, written at once, are
parsed by `pii-guard parse --format vsftpd` and every event checked: user, client IP, object, action,
outcome, bytes and the time (the server runs in Europe/Berlin and stamps local time without a zone).

Covered: a login, a failed login, downloads and uploads, a name with spaces and non-ASCII letters (which
vsftpd writes as `?`, and xferlog with `_` for spaces), MKDIR, RENAME, SITE CHMOD, DELETE, RMDIR, a failed
download, a download the client cut short, an anonymous session (its e-mail "password" masked), and user
names typed at USER that hold the log's own syntax: none may turn into a forged entry. A second server logs
the FTP protocol too (`log_ftp_protocol=YES`)."""

from __future__ import annotations

import ftplib
import io
import os
import pwd
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.realservers.ftpweb import Vsftpd, parse_with_cli, publish, vsftpd, wait_for_lines
from tests.realservers.servers import has_text, wait_for

pytestmark = pytest.mark.realserver

CUSTOMERS = b"id,name,email\n1,Customer 1,c1@example.com\n2,Customer 2,c2@example.com\n"
DUMP_SIZE = 20 * 1024 * 1024  # far more than loopback socket buffers hold: cutting the download fails it
SPACED = "payroll 2024 café.xlsx"
LOGGED_SPACED = "payroll 2024 caf??.xlsx"  # vsftpd writes each byte outside printable ASCII as "?"
FORGED_LOGIN = 'x] OK LOGIN: Client "6.6.6.6", "'  # the FAIL LOGIN line then starts like an OK LOGIN
FORGED_DELETE = 'ftpbob] OK DELETE: Client "203.0.113.66", "/srv/hr/payroll.xlsx'  # reads two ways: a failure
EMAIL = "jane.doe@example.com"


def _view(doc: dict[str, Any]) -> tuple[Any, ...]:
    pii = doc.get("pii", {})
    return (doc["event"]["action"], doc["event"]["outcome"], doc.get("user", {}).get("name"),
            doc.get("source", {}).get("ip"), pii.get("object"), pii.get("bytes"))  # fmt: skip


def _fill(lab: Vsftpd) -> Path:
    owner = pwd.getpwnam(lab.users[0])
    for path, data in ((lab.home / "customers.csv", CUSTOMERS), (lab.home / "dump.bin", b"\x5a" * DUMP_SIZE)):
        publish(path, data)
        os.chown(path, owner.pw_uid, owner.pw_gid)
    publish(lab.anon_root / "readme.txt", b"public files\n")
    return lab.home


def _session(lab: Vsftpd, user: str) -> None:
    sink = io.BytesIO()
    ftp = lab.login(user)
    ftp.retrbinary("RETR customers.csv", sink.write)
    ftp.storbinary("STOR upload.csv", io.BytesIO(b"u" * 5000))
    ftp.storbinary(f"STOR {SPACED}", io.BytesIO(b"p" * 1234))
    ftp.retrbinary(f"RETR {SPACED}", sink.write)
    ftp.mkd("new dir")
    ftp.rename("upload.csv", "new dir/moved.csv")
    ftp.sendcmd("SITE CHMOD 600 customers.csv")
    ftp.delete("new dir/moved.csv")
    ftp.rmd("new dir")
    with pytest.raises(ftplib.error_perm, match=r"^550"):
        ftp.retrbinary("RETR missing.csv", sink.write)
    data = ftp.transfercmd("RETR dump.bin")  # the client reads a little and hangs up
    data.recv(65536)
    data.close()
    with pytest.raises(ftplib.error_temp, match=r"^426"):
        ftp.voidresp()
    ftp.quit()


def test_vsftpd_log_and_xferlog_of_a_real_server() -> None:
    started = time.time()
    with vsftpd(tz="Europe/Berlin") as lab:
        home = _fill(lab)
        alice, anon = lab.users[0], lab.anon_user
        _session(lab, alice)
        lab.refused_login(alice)
        lab.refused_login(FORGED_LOGIN)
        lab.refused_login(FORGED_DELETE)
        guest = lab.login("anonymous", EMAIL)
        guest.retrbinary("RETR readme.txt", io.BytesIO().write)
        guest.quit()
        wait_for_lines(lab.vsftpd_log, 22, "vsftpd.log")  # 5 CONNECT, 16 accesses, 1 forged line
        docs, stderr = parse_with_cli("vsftpd", lab.vsftpd_log, "--tz", "Europe/Berlin")
        xfer, xfer_stderr = parse_with_cli("vsftpd", lab.xferlog, "--tz", "Europe/Berlin", "--set", "layout=xferlog")

    h = str(home)
    local = "127.0.0.1"
    cut = docs[11]["pii"]["bytes"]
    assert 0 < cut < DUMP_SIZE
    assert [_view(d) for d in docs] == [
        ("login", "success", alice, local, None, None),
        ("read", "success", alice, local, f"file:{h}/customers.csv", len(CUSTOMERS)),
        ("write", "success", alice, local, f"file:{h}/upload.csv", 5000),
        ("write", "success", alice, local, f"file:{h}/{LOGGED_SPACED}", 1234),
        ("read", "success", alice, local, f"file:{h}/{LOGGED_SPACED}", 1234),
        ("create", "success", alice, local, f"file:{h}/new dir", None),
        ("rename", "success", alice, local, f"file:{h}/upload.csv", None),
        ("permission", "success", alice, local, f"file:{h}/customers.csv", None),
        ("delete", "success", alice, local, f"file:{h}/new dir/moved.csv", None),
        ("delete", "success", alice, local, f"file:{h}/new dir", None),
        ("read", "failure", alice, local, f"file:{h}/missing.csv", 0),
        ("read", "failure", alice, local, f"file:{h}/dump.bin", cut),
        ("login", "failure", alice, local, None, None),
        ("login", "failure", FORGED_LOGIN, local, None, None),  # not an OK LOGIN from 6.6.6.6
        ("login", "success", anon, local, None, None),
        ("read", "success", anon, local, "file:/readme.txt", 13),  # inside anon_root
    ]  # fmt: skip
    assert docs[6]["file"]["target_path"] == f"{h}/new dir/moved.csv"
    assert docs[7]["file"]["mode"] == "600"
    assert docs[14]["vsftpd"]["access_mode"] == "anonymous"
    assert EMAIL not in docs[14]["event"]["original"]
    assert docs[14]["event"]["original"].endswith('anon password "<masked>"')
    # the DELETE-shaped user name reads two ways: a failure (dead letter), never an event
    assert "1 record(s) not parsed, 16 event(s) printed" in stderr
    assert "ambiguous vsftpd.log line" in stderr
    # zone-less local stamps in Europe/Berlin, read with --tz Europe/Berlin: the real UTC time
    assert all(abs(_epoch(d) - started) < 120 for d in docs + xfer), [d["@timestamp"] for d in docs]

    assert "not parsed" not in xfer_stderr
    assert [_view(d) for d in xfer] == [
        ("read", "success", alice, local, f"file:{h}/customers.csv", len(CUSTOMERS)),
        ("write", "success", alice, local, f"file:{h}/upload.csv", 5000),
        ("write", "success", alice, local, f"file:{h}/{LOGGED_SPACED.replace(' ', '_')}", 1234),
        ("read", "success", alice, local, f"file:{h}/{LOGGED_SPACED.replace(' ', '_')}", 1234),
        ("read", "failure", alice, local, f"file:{h}/missing.csv", 0),
        ("read", "failure", alice, local, f"file:{h}/dump.bin", cut),
        ("read", "success", "anonymous", local, "file:/readme.txt", 13),
    ]  # fmt: skip
    assert [d.get("error", {}).get("code") for d in xfer][4:6] == ["incomplete", "incomplete"]
    assert EMAIL not in xfer[6]["event"]["original"]


def test_vsftpd_log_with_the_ftp_protocol_logged() -> None:
    started = time.time()
    with vsftpd(log_ftp_protocol=True) as lab:
        home = _fill(lab)
        alice = lab.users[0]
        ftp = lab.login(alice)
        ftp.retrbinary("RETR customers.csv", io.BytesIO().write)
        ftp.storbinary(f"STOR {SPACED}", io.BytesIO(b"p" * 1234))
        ftp.delete(SPACED)
        ftp.quit()
        lab.refused_login(FORGED_LOGIN)
        wait_for(has_text(lab.vsftpd_log, "] FAIL LOGIN: "), "the failed login in vsftpd.log")
        assert 'FTP command: Client "127.0.0.1", "RETR customers.csv"' in lab.vsftpd_log.read_text(errors="replace")
        docs, stderr = parse_with_cli("vsftpd", lab.vsftpd_log, "--set", "layout=vsftpd")

    h = str(home)
    assert "not parsed" not in stderr
    assert [_view(d) for d in docs] == [
        ("login", "success", alice, "127.0.0.1", None, None),
        ("read", "success", alice, "127.0.0.1", f"file:{h}/customers.csv", len(CUSTOMERS)),
        ("write", "success", alice, "127.0.0.1", f"file:{h}/{LOGGED_SPACED}", 1234),
        ("delete", "success", alice, "127.0.0.1", f"file:{h}/{LOGGED_SPACED}", None),
        ("login", "failure", FORGED_LOGIN, "127.0.0.1", None, None),  # its protocol lines: nothing
    ]  # fmt: skip
    assert all(abs(_epoch(d) - started) < 120 for d in docs)


def _epoch(doc: dict[str, Any]) -> float:
    return datetime.fromisoformat(doc["@timestamp"].replace("Z", "+00:00")).timestamp()
