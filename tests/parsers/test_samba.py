"""Samba vfs_full_audit: the collapse of a user action's many VFS lines into one event, access masks,
refusals with a misleading errno, `|` in file names, both prefixes and both syslog stamps; auth_audit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from pii_guard.model import AccessEvent
from pii_guard.parsers.base import Outcome, ParseFailure, SourceContext
from pii_guard.parsers.samba import (
    SambaFullAuditParser,
    SambaOptions,
    access_action,
    parse_remote,
    split_rename,
)

STAMP = "2026-11-27T16:23:22.436959+00:00 vm smbd_audit: "
P = "smbalice|127.0.0.1|vm|hr|"
SHARE = "/srv/demo/samba/share"


def make(**options: Any) -> SambaFullAuditParser:
    context = SourceContext(
        fingerprint=b"samba-test",
        path="/var/log/samba-audit.log",
        reference_time=datetime(2026, 11, 27, 23, tzinfo=UTC).timestamp(),
    )
    return SambaFullAuditParser(context, SambaOptions(**options))


def run(parser: SambaFullAuditParser, lines: Sequence[str]) -> list[Outcome]:
    out: list[Outcome] = []
    offset = 0
    for line in lines:
        out.extend(parser.feed(offset, line))
        offset += len(line) + 1
    out.extend(parser.flush())
    return out


def events(items: Sequence[Outcome]) -> list[AccessEvent]:
    assert not [i for i in items if isinstance(i, ParseFailure)], items
    return [i for i in items if isinstance(i, AccessEvent)]


def test_download_collapses_to_one_read() -> None:
    """A real smbclient `get`: stat-opens, closes, a dir open and pread_recv chunks -> one read event."""
    lines = [
        STAMP + P + f"openat|ok|r|{SHARE}/",
        STAMP + P + f"openat|ok|r|{SHARE}/reports/customers.csv",
        STAMP + P + f"close|ok|{SHARE}/reports/customers.csv",
        STAMP + P + f"create_file|ok|0x80|dir|open|{SHARE}/reports",
        STAMP + P + f"create_file|ok|0x120089|file|open|{SHARE}/reports/customers.csv",
        STAMP + P + f"close|ok|{SHARE}/reports",
        STAMP + P + f"pread_recv|ok|{SHARE}/reports/customers.csv",
        STAMP + P + f"pread_recv|ok|{SHARE}/reports/customers.csv",
        STAMP + P + f"sendfile|ok|{SHARE}/reports/customers.csv",
        STAMP + P + f"close|ok|{SHARE}/reports/customers.csv",
    ]
    (ev,) = events(run(make(), lines))
    assert ev.action == "read"
    assert ev.outcome == "success"
    assert ev.user == "smbalice"
    assert ev.source_ip == "127.0.0.1"
    assert ev.host == "vm"
    assert ev.object == f"file:{SHARE}/reports/customers.csv"
    assert ev.command == "create_file"
    assert ev.dataset == "samba.full_audit"
    assert ev.offset == sum(len(x) + 1 for x in lines[:4])
    assert ev.fields["file.path"] == f"{SHARE}/reports/customers.csv"
    assert ev.fields["source.domain"] == "vm"
    assert ev.fields["samba.share"] == "hr"
    assert ev.time_us == int(datetime(2026, 11, 27, 16, 23, 22, tzinfo=UTC).timestamp()) * 1_000_000 + 436959


@pytest.mark.parametrize(
    ("mask", "kind", "disposition", "ok", "expected"),
    [
        (0x120089, "file", "open", True, "read"),  # smbclient get
        (0x12019F, "file", "overwrite_if", True, "write"),  # smbclient put
        (0x120089, "file", "overwrite_if", True, "write"),  # truncating open writes whatever the mask
        (0x120089, "file", "create", True, "write"),
        (0x80000000, "file", "open", True, "read"),  # GENERIC_READ
        (0x40000000, "file", "open", True, "write"),  # GENERIC_WRITE
        (0x10000000, "file", "open", True, "write"),  # GENERIC_ALL
        (0x120116, "file", "open_if", True, "write"),  # FILE_GENERIC_WRITE
        (0x2000000, "file", "open", True, "read"),  # MAXIMUM_ALLOWED: at least a read
        (0x10000, "file", "open", True, None),  # DELETE: the unlinkat/renameat line says which
        (0x110080, "file", "open", True, None),  # Explorer's delete open
        (0x10000, "file", "open", False, "delete"),  # refused delete
        (0x80, "file", "open", True, None),  # attributes only
        (0x100, "file", "open", True, None),  # set attributes only
        (0x60000, "file", "open", True, "permission"),  # READ_CONTROL | WRITE_DAC
        (0x80, "dir", "open", True, None),  # listing
        (0x80, "dir", "open", False, "read"),  # refused listing
        (0x80, "dir", "create", True, None),  # mkdirat reports it
        (0x80, "dir", "create", False, "create"),  # refused mkdir
    ],
)
def test_access_mask_decoding(mask: int, kind: str, disposition: str, ok: bool, expected: str | None) -> None:
    assert access_action(mask, kind == "dir", disposition, ok) == expected


def test_upload_rename_delete() -> None:
    lines = [
        STAMP + P + f"openat|fail (No such file or directory)|r|{SHARE}/reports/upload.txt",  # probe
        STAMP + P + f"openat|ok|w|{SHARE}/reports/upload.txt",
        STAMP + P + f"create_file|ok|0x12019f|file|overwrite_if|{SHARE}/reports/upload.txt",
        STAMP + P + f"pwrite_recv|ok|{SHARE}/reports/upload.txt",
        STAMP + P + f"create_file|ok|0x10000|file|open|{SHARE}/reports/upload.txt",
        STAMP + P + f"renameat|ok|{SHARE}/reports/upload.txt|{SHARE}/reports/renamed.txt",
        STAMP + P + f"create_file|ok|0x10000|file|open|{SHARE}/reports/renamed.txt",
        STAMP + P + f"unlinkat|ok|{SHARE}/reports/renamed.txt",
        STAMP + P + f"mkdirat|ok|{SHARE}/reports/newdir",
    ]
    got = events(run(make(), lines))
    assert [(e.action, e.outcome, e.object) for e in got] == [
        ("write", "success", f"file:{SHARE}/reports/upload.txt"),
        ("rename", "success", f"file:{SHARE}/reports/upload.txt"),
        ("delete", "success", f"file:{SHARE}/reports/renamed.txt"),
        ("create", "success", f"file:{SHARE}/reports/newdir"),
    ]
    assert got[1].fields["file.target_path"] == f"{SHARE}/reports/renamed.txt"
    assert got[1].command == "renameat"


def test_fail_with_misleading_errno_is_a_refusal() -> None:
    """The client saw NT_STATUS_ACCESS_DENIED; full_audit printed a stale errno."""
    lines = [
        STAMP + "smbbob|127.0.0.1|vm|hr|"
        f"create_file|fail (No such file or directory)|0x120089|file|open|{SHARE}/reports/payroll-2024.xlsx",
        STAMP + P + f"create_file|fail (Success)|0x80|dir|create|{SHARE}/reports/newdir",
        STAMP + P + f"unlinkat|fail (Permission denied)|{SHARE}/reports/locked.txt",
        STAMP + P + f"renameat|fail (Permission denied)|{SHARE}/a.txt|{SHARE}/b.txt",
    ]
    got = events(run(make(), lines))
    assert [(e.user, e.action, e.outcome, e.error_code) for e in got] == [
        ("smbbob", "read", "failure", "No such file or directory"),
        ("smbalice", "create", "failure", "Success"),
        ("smbalice", "delete", "failure", "Permission denied"),
        ("smbalice", "rename", "failure", "Permission denied"),
    ]


def test_failed_openat_enoent_is_a_probe_but_eacces_is_a_refusal() -> None:
    lines = [
        STAMP + P + f"openat|fail (No such file or directory)|r|{SHARE}/reports/renamed.txt",
        STAMP + P + f"openat|fail (Permission denied)|r|{SHARE}/secret/payroll.xlsx",
        STAMP + P + f"openat|fail (Permission denied)|w|{SHARE}/secret/payroll.xlsx",
    ]
    got = events(run(make(), lines))
    assert [(e.action, e.outcome, e.command) for e in got] == [
        ("read", "failure", "openat"),
        ("write", "failure", "openat"),
    ]


def test_pipe_in_file_name_stays_in_the_path() -> None:
    path = f"{SHARE}/reports/a|b|c.csv"
    lines = [
        STAMP + P + f"create_file|ok|0x120089|file|open|{path}",
        STAMP + P + f"unlinkat|ok|{path}",
        STAMP + P + f"renameat|ok|{SHARE}/x|y.txt|{SHARE}/x|z.txt",
    ]
    read, delete, rename = events(run(make(), lines))
    assert read.object == f"file:{path}"
    assert read.fields["file.path"] == path
    assert delete.object == f"file:{path}"
    assert rename.object == f"file:{SHARE}/x|y.txt"
    assert rename.fields["file.target_path"] == f"{SHARE}/x|z.txt"


def test_split_rename_prefers_a_common_directory() -> None:
    assert split_rename("/s/a|/b.txt|/s/a|/c.txt") == ("/s/a|/b.txt", "/s/a|/c.txt")
    assert split_rename("/s/old.txt|/s/new.txt") == ("/s/old.txt", "/s/new.txt")
    assert split_rename("old.txt|new.txt") == ("old.txt", "new.txt")  # older Samba: share-relative


def test_default_two_field_prefix() -> None:
    """Samba's default full_audit:prefix is %u|%I: no machine, no share in the line."""
    parser = make(prefix="%u|%I")
    lines = [
        STAMP + "smbalice|192.0.2.7|connect|ok|hr",
        STAMP + "smbalice|192.0.2.7|create_file|ok|0x120089|file|open|/srv/share/customers.csv",
    ]
    login, read = events(run(parser, lines))
    assert (login.action, login.outcome, login.fields) == ("login", "success", {"samba.share": "hr"})
    assert read.action == "read"
    assert read.source_ip == "192.0.2.7"
    assert read.object == "file:/srv/share/customers.csv"
    assert read.fields == {
        "file.path": "/srv/share/customers.csv",
        "samba.access_mask": "0x120089",
        "samba.disposition": "open",
    }


def test_prefix_in_other_order_and_mapped_ipv4() -> None:
    parser = make(prefix="%S|%m|%I|%u")
    (ev,) = events(run(parser, [STAMP + "hr|ws01|::ffff:10.1.2.3|carol|unlinkat|ok|/srv/x.txt"]))
    assert (ev.user, ev.source_ip, ev.fields["source.domain"], ev.fields["samba.share"]) == (
        "carol",
        "10.1.2.3",
        "ws01",
        "hr",
    )


def test_prefix_option_is_validated() -> None:
    with pytest.raises(ValidationError, match="%u"):
        SambaOptions(prefix="%I|%m")
    with pytest.raises(ValidationError, match="twice"):
        SambaOptions(prefix="%u|%u")
    with pytest.raises(ValidationError):
        SambaOptions(log="journal")  # type: ignore[arg-type]


def test_traditional_stamp_and_connect_disconnect() -> None:
    lines = [
        "Nov 27 16:23:15 vm smbd_audit: smbalice|127.0.0.1|vm|hr|connect|ok|hr",
        "Nov 27 16:23:15 vm smbd_audit: smbalice|127.0.0.1|vm|hr|disconnect|ok|hr",
    ]
    login, logout = events(run(make(), lines))
    assert login.time_us == int(datetime(2026, 11, 27, 16, 23, 15, tzinfo=UTC).timestamp()) * 1_000_000
    assert (login.action, logout.action) == ("login", "logout")
    assert login.object is None
    assert logout.fields["samba.share"] == "hr"


def test_other_tags_are_ignored_and_malformed_lines_fail() -> None:
    parser = make()
    assert parser.feed(0, "2026-11-27T16:23:09.156420+00:00 vm smbd[15700]:   smbd version 4.17.12 started.") == ()
    assert parser.feed(0, "Nov 27 16:23:51 vm sshd[17386]: Accepted password for x") == ()
    bad = [
        STAMP + "smbalice|127.0.0.1|vm",  # too few fields for the prefix
        STAMP + P + "create_file|maybe|0x1|file|open|/x",  # status neither ok nor fail
        STAMP + P + "create_file|ok|zz|file|open|/x",  # mask not hex
        STAMP + P + "create_file|ok|0x1|/x",  # too few create_file arguments
        "garbage that is not syslog",
    ]
    failures = [f for line in bad for f in parser.feed(7, line)]
    assert len(failures) == len(bad)
    reasons = [f.reason for f in failures if isinstance(f, ParseFailure) and f.offset == 7]
    assert len(reasons) == len(bad)
    assert "prefix" in reasons[0]
    assert "access mask" in reasons[2]


AUTH_HUMAN = (
    "  Auth: [SMB2,(null)] user [WORKGROUP]\\[smbbob] at [Fri, 27 Nov 2026 16:23:32.218043 UTC] with [NTLMv2] "
    "status [NT_STATUS_WRONG_PASSWORD] workstation [VM] remote host [ipv4:127.0.0.1:53618] mapped to "
    "[WORKGROUP]\\[smbbob]. local host [ipv4:127.0.0.1:4450] "
)
AUTH_JSON = (
    '  {"timestamp": "2026-11-27T16:23:32.218240+0000", "type": "Authentication", "Authentication": '
    '{"eventId": 4625, "status": "NT_STATUS_WRONG_PASSWORD", "remoteAddress": "ipv4:127.0.0.1:53618", '
    '"serviceDescription": "SMB2", "clientDomain": "WORKGROUP", "clientAccount": "smbbob", '
    '"workstation": "VM", "passwordType": "NTLMv2"}}'
)
AUTH_HEADER = "[2026/11/27 16:23:32.218061,  2] ../../auth/auth_log.c:647(log_authentication_event_human_readable)"


def test_auth_audit_json_twin_replaces_the_human_line() -> None:
    parser = make(log="auth_audit")
    out = run(parser, [AUTH_HEADER, AUTH_HUMAN, AUTH_JSON])
    (ev,) = events(out)
    assert (ev.action, ev.outcome, ev.user, ev.source_ip, ev.source_port) == (
        "login",
        "failure",
        "smbbob",
        "127.0.0.1",
        53618,
    )
    assert ev.error_code == "NT_STATUS_WRONG_PASSWORD"
    assert ev.dataset == "samba.auth_audit"
    assert ev.fields["event.code"] == "4625"
    assert ev.time_us % 1_000_000 == 218240  # from the JSON line


def test_auth_audit_human_line_alone_when_json_is_off() -> None:
    parser = make(log="auth_audit")
    assert parser.feed(0, AUTH_HEADER) == ()
    assert parser.feed(100, AUTH_HUMAN) == ()
    assert parser.pending_offset() == 100
    (ev,) = parser.feed(500, AUTH_HEADER)  # the next logon begins: the held line stands alone
    assert isinstance(ev, AccessEvent)
    assert (ev.user, ev.outcome, ev.offset, ev.time_us % 1_000_000) == ("smbbob", "failure", 100, 218043)
    assert parser.pending_offset() is None


def test_auth_audit_success_via_syslog() -> None:
    parser = make(log="auth_audit")
    line = (
        '2026-11-27T16:23:32.258300+00:00 vm smbd[15701]:   {"timestamp": "2026-11-27T16:23:32.258212+0000", '
        '"type": "Authentication", "Authentication": {"status": "NT_STATUS_OK", "remoteAddress": '
        '"ipv6:::1:53630", "clientAccount": "smbalice", "clientDomain": "WORKGROUP"}}'
    )
    (ev,) = events(run(parser, [line]))
    assert (ev.outcome, ev.user, ev.source_ip, ev.source_port, ev.error_code) == (
        "success",
        "smbalice",
        "::1",
        53630,
        None,
    )


def test_parse_remote() -> None:
    assert parse_remote("ipv4:127.0.0.1:53618") == ("127.0.0.1", 53618)
    assert parse_remote("ipv6:fe80::1:445") == ("fe80::1", 445)
    assert parse_remote("unix:") == (None, None)
