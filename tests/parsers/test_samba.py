"""Samba vfs_full_audit: the collapse of a user action's many VFS lines into one event, access masks,
refusals with a misleading errno, `|` in file names, both prefixes and both syslog stamps; auth_audit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
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


def run(parser: SambaFullAuditParser, lines: Sequence[str], flush: bool = True) -> list[Outcome]:
    out: list[Outcome] = []
    offset = 0
    for line in lines:
        out.extend(parser.feed(offset, line))
        offset += len(line) + 1
    if flush:
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
    assert parser.feed(500, AUTH_HEADER) == ()  # another process's line: the twin may still come
    (ev,) = parser.flush()  # the log went quiet: the held line stands alone
    assert isinstance(ev, AccessEvent)
    assert (ev.user, ev.outcome, ev.offset, ev.time_us % 1_000_000) == ("smbbob", "failure", 100, 218043)
    assert parser.pending_offset() is None
    assert parser.feed(900, AUTH_JSON) == ()  # its twin after all: reported already


def test_auth_audit_held_lines_are_bounded() -> None:
    parser = make(log="auth_audit")
    humans = [AUTH_HUMAN.replace(":53618]", f":{40000 + i}]") for i in range(65)]
    out = [o for i, line in enumerate(humans) for o in parser.feed(i * 1000, line)]
    (ev,) = events(out)  # auth_json_audit off: the oldest of more than 64 stands alone
    assert (ev.source_port, ev.offset) == (40000, 0)
    assert parser.pending_offset() == 1000


# Real lines (smbd 4.17.12, `debug pid = yes`, `debug class = yes`; paths and user names renamed): another
# process's full_audit header and record come between bob's Auth: line and its JSON twin, which has no header.
AUTH_INTERLEAVED = [
    "[2026/11/30 04:47:49.409337,  3, pid=24947, effective(0, 0), real(0, 0), class=auth_audit] "
    "../../auth/auth_log.c:647(log_authentication_event_human_readable)",
    "  Auth: [SMB2,(null)] user [WORKGROUP]\\[bob] at [Mon, 30 Nov 2026 04:47:49.409315 CET] with [NTLMv2] status "
    "[NT_STATUS_OK] workstation [VM] remote host [ipv4:127.0.0.1:49188] became [VM]\\[bob] "
    "[S-1-5-21-103088296-2957464983-3477153352-1001]. local host [ipv4:127.0.0.1:40175] ",
    "[2026/11/30 04:47:49.409398,  1, pid=24945, effective(1001, 1002), real(1001, 0), class=full_audit] "
    "../../source3/modules/vfs_full_audit.c:643(do_log)",
    "  alice|127.0.0.1|vm|hr|create_file|ok|0x120089|file|open|/srv/samba/hr/folder/a.csv",
    '  {"timestamp": "2026-11-30T04:47:49.409440+0100", "type": "Authentication", "Authentication": {"version": '
    '{"major": 1, "minor": 2}, "eventId": 4624, "logonId": "0", "logonType": 3, "status": "NT_STATUS_OK", '
    '"localAddress": "ipv4:127.0.0.1:40175", "remoteAddress": "ipv4:127.0.0.1:49188", "serviceDescription": '
    '"SMB2", "authDescription": null, "clientDomain": "WORKGROUP", "clientAccount": "bob", "workstation": "VM", '
    '"becameAccount": "bob", "becameDomain": "VM", "becameSid": "S-1-5-21-103088296-2957464983-3477153352-1001", '
    '"mappedAccount": "bob", "mappedDomain": "WORKGROUP", "netlogonComputer": null, "netlogonTrustAccount": null, '
    '"netlogonNegotiateFlags": "0x00000000", "netlogonSecureChannelType": 0, "netlogonTrustAccountSid": null, '
    '"passwordType": "NTLMv2", "duration": 2458}}',
]


def test_auth_audit_twin_after_another_process_lines_is_one_logon() -> None:
    """Finding 3: the Auth: line waits for its JSON twin (same account, remote address and port, status) across
    other processes' lines, instead of standing alone at the next line."""
    parser = make_local(log="auth_audit")
    (ev,) = events(run(parser, AUTH_INTERLEAVED))
    assert (ev.user, ev.source_port, ev.offset) == ("bob", 49188, sum(len(x) + 1 for x in AUTH_INTERLEAVED[:4]))
    assert ev.time_us == stamp_us(datetime(2026, 11, 30, 4, 47, 49, 409440, tzinfo=BERLIN))  # the JSON line's


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


# -- full_audit in smbd's own log (full_audit:syslog = false) ----------------------------------------------

# Real lines of Samba 4.17.12 (tests/samples/samba-full-audit/smbd-log-full_audit*), smbd at TZ=Europe/Berlin
DO_LOG = "../../source3/modules/vfs_full_audit.c:643(do_log)"
LOG_P = "  piis66bbdf7f|127.0.0.1|vm|hr|"
LOG_SHARE = "/srv/piig-e2e-tsqxjo27/hr"
AUTH_OK = (
    "  Auth: [SMB2,(null)] user [WORKGROUP]\\[piis66bbdf7f] at [Sun, 29 Nov 2026 01:26:05.621811 CET] with "
    "[NTLMv2] status [NT_STATUS_OK] workstation [VM] remote host [ipv4:127.0.0.1:49774] became "
    "[VM]\\[piis66bbdf7f] [S-1-5-21-4210573831-200798615-611430225-1000]. local host [ipv4:127.0.0.1:53581] "
)
SMBD_LOG = [
    "[2026/11/29 01:26:05.506859,  0] ../../source3/smbd/server.c:1741(main)",
    "  smbd version 4.17.12-Debian started.",
    "  Copyright Andrew Tridgell and the Samba Team 1992-2022",
    "[2026/11/29 01:26:05.583110,  3] ../../auth/auth_log.c:647(log_authentication_event_human_readable)",
    AUTH_OK,
    f"[2026/11/29 01:26:05.585450,  1] {DO_LOG}",
    LOG_P + "connect|ok|hr",
    f"[2026/11/29 01:26:05.586235,  1] {DO_LOG}",
    LOG_P + f"openat|ok|r|{LOG_SHARE}/",
    f"[2026/11/29 01:26:05.586402,  1] {DO_LOG}",
    LOG_P + f"create_file|ok|0x120089|file|open|{LOG_SHARE}/reports/customers.csv",
    f"[2026/11/29 01:26:05.591331,  1] {DO_LOG}",
    LOG_P + f"create_file|fail (No such file or directory)|0x120089|file|open|{LOG_SHARE}/reports/payroll.xlsx",
]


BERLIN = ZoneInfo("Europe/Berlin")


def stamp_us(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000 + when.microsecond


def make_local(**options: Any) -> SambaFullAuditParser:
    context = SourceContext(
        fingerprint=b"smbd-log", path="/var/log/samba/log.smbd", host="files1", tz=ZoneInfo("Europe/Berlin")
    )
    return SambaFullAuditParser(context, SambaOptions(**options))


def at_berlin(*clock: int, us: int = 0) -> int:
    return int(datetime(2026, 11, 29, *clock, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()) * 1_000_000 + us


def test_full_audit_records_in_smbd_log_file() -> None:
    got = events(run(make_local(), SMBD_LOG))
    assert [(e.action, e.outcome, e.user, e.source_ip, e.object, e.command) for e in got] == [
        ("login", "success", "piis66bbdf7f", "127.0.0.1", None, "connect"),
        ("read", "success", "piis66bbdf7f", "127.0.0.1", f"file:{LOG_SHARE}/reports/customers.csv", "create_file"),
        ("read", "failure", "piis66bbdf7f", "127.0.0.1", f"file:{LOG_SHARE}/reports/payroll.xlsx", "create_file"),
    ]
    read = got[1]
    assert read.time_us == at_berlin(1, 26, 5, us=586402)  # the header's local time, in the source's zone
    assert read.host == "files1"  # the log file names no host: the source's
    assert read.offset == sum(len(x) + 1 for x in SMBD_LOG[:10])  # the record's line
    assert read.original == SMBD_LOG[10]
    assert read.fields["samba.share"] == "hr"


def test_smbd_log_header_variants() -> None:
    pid_uid_class = [
        "[2026/11/29 01:26:07,  1, pid=9237, effective(1001, 1001), real(1001, 0), class=full_audit] " + DO_LOG,
        LOG_P + "connect|ok|hr",
    ]
    (ev,) = events(run(make_local(), pid_uid_class))
    assert ev.time_us == at_berlin(1, 26, 7)
    prefix_timestamp = [
        "[2026/11/29 01:26:09.705492,  0]   smbd version 4.17.12-Debian started.",
        "  Copyright Andrew Tridgell and the Samba Team 1992-2022",
        "[2026/11/29 01:26:09.782551,  3]" + AUTH_OK,
        "[2026/11/29 01:26:09.785312,  1]   piisc5990799|127.0.0.1|vm|hr|connect|ok|hr",
    ]
    (ev,) = events(run(make_local(), prefix_timestamp))
    assert (ev.user, ev.action, ev.time_us) == ("piisc5990799", "login", at_berlin(1, 26, 9, us=785312))


def test_smbd_log_through_syslog_pairs_header_and_record_by_pid() -> None:
    tag = "2026-11-29T01:26:11.877789+01:00 vm smbd"
    lines = [
        f"{tag}[9535]: [2026/11/29 01:26:11.877761,  1] {DO_LOG}",
        f"{tag}[9600]: [2026/11/29 01:26:11.877800,  1] {DO_LOG}",
        f"{tag}[9535]: {LOG_P}connect|ok|hr",
        f"{tag}[9600]:   bob|10.0.0.5|pc7|hr|disconnect|ok|hr",
        "2026-11-29T01:26:11.930047+01:00 vm smbd_audit: piis66bbdf7f|127.0.0.1|vm|pub|connect|ok|pub",
    ]
    got = events(run(make_local(), lines))
    assert [(e.user, e.action, e.host, e.time_us) for e in got] == [
        ("piis66bbdf7f", "login", "vm", at_berlin(1, 26, 11, us=877761)),
        ("bob", "logout", "vm", at_berlin(1, 26, 11, us=877800)),
        ("piis66bbdf7f", "login", "vm", at_berlin(1, 26, 11, us=930047)),
    ]


def test_smbd_log_lines_that_are_not_records() -> None:
    parser = make_local()
    lines = [
        # a message of another module whose body happens to look like a record
        "[2026/11/29 01:26:05.506859,  1] ../../source3/smbd/service.c:1(make_connection)",
        LOG_P + "connect|ok|hr",
        # a record's continuation line (a file name with a newline) and a body without any header
        f"[2026/11/29 01:26:05.585450,  1] {DO_LOG}",
        LOG_P + "mkdirat|ok|/srv/a",
        "  b|c|d|e|mkdirat|ok|/srv/x",
        # a record after a vfs_full_audit header that does not split is a failure
        f"[2026/11/29 01:26:05.585451,  1] {DO_LOG}",
        "  piis66bbdf7f|127.0.0.1",
        "[2026/13/40 01:26:05.585451,  1] ../../x.c:1(f)",
    ]
    out = run(parser, lines)
    assert [(e.action, e.object) for e in out if isinstance(e, AccessEvent)] == [("create", "file:/srv/a")]
    failures = [f for f in out if isinstance(f, ParseFailure)]
    assert [f.text for f in failures] == lines[-2:]
    assert "prefix" in failures[0].reason


def test_a_header_read_before_a_restart_dates_its_record_after() -> None:
    import orjson

    first = make_local()
    assert run(first, [*SMBD_LOG[:5], SMBD_LOG[9]]) == []
    second = make_local()
    second.restore(orjson.loads(orjson.dumps(first.snapshot())))
    (ev,) = events(second.feed(900, SMBD_LOG[10]))
    assert ev.time_us == at_berlin(1, 26, 5, us=586402)
    assert make_local(log="auth_audit").snapshot() is None


def test_auth_audit_reader_ignores_full_audit_records_in_the_same_log() -> None:
    (ev,) = events(run(make_local(log="auth_audit"), SMBD_LOG))
    assert (ev.action, ev.user, ev.outcome, ev.dataset) == ("login", "piis66bbdf7f", "success", "samba.auth_audit")


# -- smbd's log file with `debug syslog format = yes` (finding 1) -------------------------------------------

# Real lines of Samba 4.17.12 (paths and user names renamed): no `[date, level]` headers; every message starts a
# syslog-style line, with hires stamps (offset included) or, without `debug hires timestamp`, traditional ones
# in smbd's local time (Europe/Berlin here); a message's further lines follow bare.
SYSLOG_FORMAT = [
    "2026-11-30T04:48:02.398580+01:00 vm smbd[26122]:   smbd version 4.17.12-Debian started.",
    "  Copyright Andrew Tridgell and the Samba Team 1992-2022",
    "2026-11-30T04:48:03.042295+01:00 vm smbd[26302]:   alice|127.0.0.1|vm|hr|connect|ok|hr",
    "2026-11-30T04:48:03.042416+01:00 vm smbd[26302]:   alice|127.0.0.1|vm|hr|realpath|ok|/srv/samba/hr",
    "2026-11-30T04:48:03.048978+01:00 vm smbd[26302]:   "
    "alice|127.0.0.1|vm|hr|create_file|ok|0x120089|file|open|/srv/samba/hr/reports/customers.csv",
    "2026-11-30T04:48:03.798462+01:00 vm smbd[26345]:   "
    "alice|127.0.0.1|vm|hr|create_file|ok|0x12019f|file|overwrite_if|/srv/samba/hr/reports/upload.txt",
    "Nov 30 04:49:35 vm smbd[30179]:   INFO: Profiling turned OFF from pid 30179",
    "Nov 30 04:49:35 vm smbd[30312]:   "
    "alice|127.0.0.1|vm|hr|create_file|ok|0x120089|file|open|/srv/samba/hr/reports/customers.csv",
]


def make_berlin(**options: Any) -> SambaFullAuditParser:
    context = SourceContext(
        fingerprint=b"smbd-log", path="/var/log/samba/log.smbd", tz=BERLIN,
        reference_time=datetime(2026, 11, 30, 5, tzinfo=UTC).timestamp(),
    )  # fmt: skip
    return SambaFullAuditParser(context, SambaOptions(**options))


def test_debug_syslog_format_records_in_smbd_log_file() -> None:
    got = events(run(make_berlin(prefix="%u|%I|%m|%S"), SYSLOG_FORMAT))
    assert [(e.action, e.user, e.object, e.host, e.time_us) for e in got] == [
        ("login", "alice", None, "vm", stamp_us(datetime(2026, 11, 30, 3, 48, 3, 42295, tzinfo=UTC))),
        ("read", "alice", "file:/srv/samba/hr/reports/customers.csv", "vm",
         stamp_us(datetime(2026, 11, 30, 3, 48, 3, 48978, tzinfo=UTC))),
        ("write", "alice", "file:/srv/samba/hr/reports/upload.txt", "vm",
         stamp_us(datetime(2026, 11, 30, 3, 48, 3, 798462, tzinfo=UTC))),
        ("read", "alice", "file:/srv/samba/hr/reports/customers.csv", "vm",
         stamp_us(datetime(2026, 11, 30, 4, 49, 35, tzinfo=BERLIN))),
    ]  # fmt: skip
    assert got[1].original == SYSLOG_FORMAT[4]


def test_debug_syslog_format_with_a_prefix_of_other_width_says_so() -> None:
    """Without headers a message is a record only if it splits as one: one that would under a prefix of
    another width is reported, not dropped silently."""
    (failure,) = run(make_berlin(prefix="%u|%I"), SYSLOG_FORMAT[2:3])
    assert isinstance(failure, ParseFailure)
    assert "prefix mismatch" in failure.reason
    assert run(make_berlin(prefix="%u|%I"), SYSLOG_FORMAT[:2] + SYSLOG_FORMAT[6:7]) == []


def test_a_header_of_another_message_keeps_its_lines_from_being_records() -> None:
    """Through syslog, a message after a header of another module is not a record, even without a held
    vfs_full_audit header; nor is a continuation line after a record."""
    tag = "2026-11-29T01:26:11.877789+01:00 vm smbd[9535]: "
    lines = [
        tag + "[2026/11/29 01:26:05.506859,  1] ../../source3/smbd/service.c:1(make_connection)",
        tag + LOG_P + "connect|ok|hr",
        tag + f"[2026/11/29 01:26:05.585450,  1] {DO_LOG}",
        tag + LOG_P + "mkdirat|ok|/srv/a",
        tag + "  b|c|d|e|mkdirat|ok|/srv/x",
    ]
    assert [(e.action, e.object) for e in events(run(make_local(), lines))] == [("create", "file:/srv/a")]


# -- the default prefix is Samba's, `%u|%I` (finding 2), and `%U` (finding 11) -------------------------------

# Real lines of a share without full_audit:prefix (Samba 4.17.12; paths and user names renamed)
DEFAULT_PREFIX_LINES = [
    "2026-11-30T03:46:04.436918+00:00 vm smbd_audit: alice|127.0.0.1|connect|ok|hr",
    "2026-11-30T03:46:04.437751+00:00 vm smbd_audit: alice|127.0.0.1|create_file|ok|0x81|dir|open|/srv/samba/hr",
    "2026-11-30T03:46:04.454777+00:00 vm smbd_audit: "
    "alice|127.0.0.1|create_file|ok|0x120089|file|open|/srv/samba/hr/reports/customers.csv",
    "2026-11-30T03:46:04.455490+00:00 vm smbd_audit: alice|127.0.0.1|disconnect|ok|hr",
]


def test_the_default_prefix_is_sambas() -> None:
    assert SambaOptions().prefix == "%u|%I"
    got = events(run(make(), DEFAULT_PREFIX_LINES))
    assert [(e.action, e.user, e.source_ip, e.object) for e in got] == [
        ("login", "alice", "127.0.0.1", None),
        ("read", "alice", "127.0.0.1", "file:/srv/samba/hr/reports/customers.csv"),
        ("logout", "alice", "127.0.0.1", None),
    ]
    assert got[1].fields == {
        "file.path": "/srv/samba/hr/reports/customers.csv",
        "samba.access_mask": "0x120089",
        "samba.disposition": "open",
    }


def test_without_the_option_four_prefix_fields_are_read_as_the_man_page_example() -> None:
    """Sources that relied on pii-guard's former default `%u|%I|%m|%S` keep reading, lines of both layouts."""
    line = "2026-11-30T03:50:33.443782+00:00 vm smbd_audit: bob|127.0.0.1|vm|hr|create_file|ok|0x120089|file|open|/x"
    read, login = events(run(make(), [line, DEFAULT_PREFIX_LINES[0]]))
    assert (read.user, read.source_ip, read.fields["source.domain"], read.fields["samba.share"]) == (
        "bob", "127.0.0.1", "vm", "hr",
    )  # fmt: skip
    assert (login.user, login.action, "source.domain" in login.fields) == ("alice", "login", False)


@pytest.mark.parametrize(
    ("prefix", "line", "fields"),
    [
        ("%u|%I|%m|%S", DEFAULT_PREFIX_LINES[0], "follows 2 '|' fields, but the prefix '%u|%I|%m|%S' has 4"),
        ("%u|%I", "2026-11-30T03:45:46.309412+00:00 vm smbd_audit: alice|127.0.0.1|hr|create_file|ok|0x120089|"
         "file|open|/srv/samba/hr/reports/customers.csv", "follows 3 '|' fields, but the prefix '%u|%I' has 2"),
    ],
)  # fmt: skip
def test_a_prefix_that_does_not_match_the_share_is_named_as_the_cause(prefix: str, line: str, fields: str) -> None:
    (failure,) = run(make(prefix=prefix), [line])
    assert isinstance(failure, ParseFailure)
    assert failure.reason.startswith("prefix mismatch: the record's operation ")
    assert fields in failure.reason
    assert "set the source's `prefix` option to the share's full_audit:prefix" in failure.reason
    # `full_audit:prefix = %u|%I|%m|%P|%S` (real), the option not set
    five = "2026-11-30T03:45:55.532590+00:00 vm smbd_audit: alice|127.0.0.1|vm|/srv/samba/hr|hr|connect|ok|hr"
    (unset,) = run(make(), [five])
    assert isinstance(unset, ParseFailure)
    assert "follows 5 '|' fields" in unset.reason
    assert "'%u|%I' (Samba's default, as the option is not set; four fields are read as " in unset.reason


def test_capital_u_is_the_user_where_there_is_no_lower_u() -> None:
    """Finding 11: `full_audit:prefix = %U|%I|%m|%S` (the session user name)."""
    line = "2026-11-30T04:00:49.263441+00:00 vm smbd_audit: alice|127.0.0.1|vm|hr|connect|ok|hr"
    (ev,) = events(run(make(prefix="%U|%I|%m|%S"), [line]))
    assert (ev.user, ev.source_ip, ev.fields["samba.share"]) == ("alice", "127.0.0.1", "hr")
    both = "2026-11-30T04:00:49.263441+00:00 vm smbd_audit: A|a|::1|connect|ok|"
    (ev,) = events(run(make(prefix="%U|%u|%I"), [both]))
    assert ev.user == "a"  # %u wins where both are


# -- smbd's own messages under the smbd_audit tag (finding 10) -----------------------------------------------


def test_smbd_debug_messages_under_the_audit_tag_say_what_they_are() -> None:
    """Real lines: `full_audit:success` named `opendir`, which Samba 4.17 does not know; smbd logs why it then
    refuses every connection under vfs_full_audit's tag."""
    lines = [
        "2026-11-30T03:44:54.050674+00:00 vm smbd_audit: [2026/11/30 03:44:54.050639,  0] "
        "../../source3/modules/vfs_full_audit.c:566(init_bitmap)",
        "2026-11-30T03:44:54.050746+00:00 vm smbd_audit:   init_bitmap: Could not find opname opendir",
        "2026-11-30T03:44:54.050763+00:00 vm smbd_audit: [2026/11/30 03:44:54.050759,  0] "
        "../../source3/modules/vfs_full_audit.c:755(smb_full_audit_connect)",
        "2026-11-30T03:44:54.050774+00:00 vm smbd_audit:   smb_full_audit_connect: Invalid success operations list. "
        "Failing connect",
    ]
    failures = run(make(prefix="%u|%I|%m|%S"), lines)
    assert [f.text for f in failures if isinstance(f, ParseFailure)] == lines
    reasons = [f.reason for f in failures if isinstance(f, ParseFailure)]
    assert all("prefix" not in reason and "not a full_audit record" in reason for reason in reasons)
    assert reasons[0].startswith("an smbd debug-log header under the smbd_audit tag")
    assert reasons[1].startswith("an smbd debug message under the smbd_audit tag")


# -- a share whose success list has openat but no create_file (finding 4) ------------------------------------

B_STAMP = "2026-11-30T03:45:16.807782+00:00 vm smbd_audit: "
B_P = "alice|127.0.0.1|vm|hr|"
B_SHARE = "/srv/samba/hr"


def b_lines(*records: str) -> list[str]:
    return [B_STAMP + B_P + record for record in records]


# Real record sequences (Samba 4.17.12, `full_audit:success = connect disconnect fdopendir mkdirat renameat
# unlinkat openat pread pwrite read write close`; paths and user names renamed)
B_LS_AND_GET = b_lines(
    "connect|ok|hr",
    f"openat|ok|r|{B_SHARE}",  # the share's root, opened by the tree connect
    f"openat|ok|r|{B_SHARE}",
    f"close|ok|{B_SHARE}",
    f"fdopendir|ok|{B_SHARE}/reports",
    f"openat|ok|r|{B_SHARE}/reports/.",
    f"close|ok|{B_SHARE}/reports/.",
    f"openat|ok|r|{B_SHARE}/reports/customers.csv",  # `ls`: each entry opened once
    f"close|ok|{B_SHARE}/reports/customers.csv",
    f"openat|ok|r|{B_SHARE}/reports/payroll.xlsx",
    f"close|ok|{B_SHARE}/reports/payroll.xlsx",
    f"openat|ok|r|{B_SHARE}/",
    f"openat|ok|r|{B_SHARE}/reports/customers.csv",  # `get`: the path reference, then the open for its data
    f"openat|ok|r|{B_SHARE}/reports/customers.csv",
    f"close|ok|{B_SHARE}/reports/customers.csv",
    f"close|ok|{B_SHARE}/reports",
    f"close|ok|{B_SHARE}/reports/customers.csv",
    "disconnect|ok|hr",
)
B_PUT = b_lines(
    "connect|ok|hr",
    f"openat|ok|r|{B_SHARE}/",
    f"openat|ok|r|{B_SHARE}/reports",
    f"fdopendir|ok|{B_SHARE}/reports",
    f"openat|ok|w|{B_SHARE}/reports/upload.txt",
    f"close|ok|{B_SHARE}/reports",
    f"close|ok|{B_SHARE}/reports/upload.txt",
    "disconnect|ok|hr",
)
B_RENAME = b_lines(
    "connect|ok|hr",
    f"openat|ok|r|{B_SHARE}/",
    f"openat|ok|r|{B_SHARE}/reports/upload.txt",
    f"close|ok|{B_SHARE}/reports",
    f"openat|ok|r|{B_SHARE}/",
    f"openat|ok|r|{B_SHARE}/reports",
    f"fdopendir|ok|{B_SHARE}/reports",
    f"openat|ok|r|{B_SHARE}/reports",  # a directory opened twice: no read
    f"renameat|ok|{B_SHARE}/reports/upload.txt|{B_SHARE}/reports/renamed.txt",
    f"close|ok|{B_SHARE}/reports",
    f"close|ok|{B_SHARE}/reports",
    f"close|ok|{B_SHARE}/reports/renamed.txt",
    "disconnect|ok|hr",
)
B_MGET_SUBDIR = [
    line.replace("alice|", "carol|")
    for line in b_lines(
        "connect|ok|hr",
        f"openat|ok|r|{B_SHARE}",
        f"openat|ok|r|{B_SHARE}/folder/sub",  # a listing's entry
        f"close|ok|{B_SHARE}/folder/sub",
        f"openat|ok|r|{B_SHARE}/",
        f"openat|ok|r|{B_SHARE}/folder/sub",  # the directory opened to be listed
        f"openat|ok|r|{B_SHARE}/folder/sub",
        f"close|ok|{B_SHARE}/folder/sub",
        f"close|ok|{B_SHARE}/folder",
        f"fdopendir|ok|{B_SHARE}/folder/sub",
        f"openat|ok|r|{B_SHARE}/folder/sub/.",
        f"close|ok|{B_SHARE}/folder/sub/.",
        f"openat|ok|r|{B_SHARE}/folder/sub/c.csv",
        f"close|ok|{B_SHARE}/folder/sub/c.csv",
        f"openat|ok|r|{B_SHARE}/",
        f"openat|ok|r|{B_SHARE}/folder/sub/c.csv",
        f"openat|ok|r|{B_SHARE}/folder/sub/c.csv",
        f"close|ok|{B_SHARE}/folder/sub/c.csv",
        f"close|ok|{B_SHARE}/folder/sub",
        f"close|ok|{B_SHARE}/folder/sub/c.csv",
        "disconnect|ok|hr",
    )
]


def accesses(items: Sequence[Outcome]) -> list[tuple[str | None, str, str | None, str | None, int]]:
    got = events(items)
    return [(e.user, e.action, e.object, e.command, e.offset) for e in got if e.action not in ("login", "logout")]


def offset_of(lines: Sequence[str], index: int) -> int:
    return sum(len(x) + 1 for x in lines[:index])


def test_without_create_file_a_second_open_of_a_file_is_its_read() -> None:
    got = accesses(run(make(), B_LS_AND_GET))
    assert got == [("alice", "read", f"file:{B_SHARE}/reports/customers.csv", "openat", offset_of(B_LS_AND_GET, 13))]


def test_without_create_file_an_open_for_writing_is_a_write() -> None:
    assert accesses(run(make(), B_PUT)) == [
        ("alice", "write", f"file:{B_SHARE}/reports/upload.txt", "openat", offset_of(B_PUT, 4))
    ]


def test_without_create_file_directories_opened_twice_are_no_read() -> None:
    assert accesses(run(make(), B_RENAME)) == [
        ("alice", "rename", f"file:{B_SHARE}/reports/upload.txt", "renameat", offset_of(B_RENAME, 8))
    ]
    assert accesses(run(make(), B_MGET_SUBDIR)) == [
        ("carol", "read", f"file:{B_SHARE}/folder/sub/c.csv", "openat", offset_of(B_MGET_SUBDIR, 16))
    ]


def test_without_create_file_a_transfer_survives_a_restart_and_a_rotation() -> None:
    import orjson

    first = make()
    assert accesses(run(first, B_LS_AND_GET[:15], flush=False)) == []  # the data open, not yet closed
    for state in (first.snapshot(), first.carry_over()):
        second = make()
        second.restore(orjson.loads(orjson.dumps(state)))
        got = accesses([o for i, line in enumerate(B_LS_AND_GET[15:]) for o in second.feed(5000 + i, line)])
        read = ("alice", "read", f"file:{B_SHARE}/reports/customers.csv", "openat", offset_of(B_LS_AND_GET, 13))
        assert got == [read]


def test_without_create_file_an_open_never_closed_is_reported_at_the_end_of_the_input() -> None:
    parser = make()
    assert accesses(run(parser, B_PUT[:5], flush=False)) == []
    assert parser.flush() == ()  # the daemon's idle flush: the upload may still be under way
    assert [(e.action, e.object) for e in events(parser.finish())] == [("write", f"file:{B_SHARE}/reports/upload.txt")]


def test_once_a_share_logs_create_file_its_openat_lines_are_plumbing_again() -> None:
    """All ops audited: create_file reports the upload, the openat|w before it adds nothing."""
    lines = b_lines(
        "connect|ok|hr",
        f"create_file|ok|0x81|dir|open|{B_SHARE}",
        f"openat|ok|w|{B_SHARE}/reports/upload.txt",
        f"create_file|ok|0x12019f|file|overwrite_if|{B_SHARE}/reports/upload.txt",
        f"close|ok|{B_SHARE}/reports/upload.txt",
        f"openat|ok|r|{B_SHARE}/reports/customers.csv",
        f"openat|ok|r|{B_SHARE}/reports/customers.csv",
        f"close|ok|{B_SHARE}/reports/customers.csv",
        f"close|ok|{B_SHARE}/reports/customers.csv",
        "disconnect|ok|hr",
    )
    assert [(a, o, c) for _, a, o, c, _ in accesses(run(make(), lines))] == [
        ("write", f"file:{B_SHARE}/reports/upload.txt", "create_file")
    ]
    # smbd reloaded its config and the share's list lost create_file: a session's openat|ok|w whose
    # create_file does not come before its disconnect is its write, and the share's openat lines count again
    after = run(make(), [*lines, *B_PUT, *B_LS_AND_GET])
    assert [(a, o, c) for _, a, o, c, _ in accesses(after)] == [
        ("write", f"file:{B_SHARE}/reports/upload.txt", "create_file"),
        ("write", f"file:{B_SHARE}/reports/upload.txt", "openat"),
        ("read", f"file:{B_SHARE}/reports/customers.csv", "openat"),
    ]


def test_without_create_file_a_read_op_of_an_open_file_reports_it_at_once() -> None:
    """SMB1 clients make smbd log `pread`/`read` (SMB3 never does, see the real sessions above): a file open
    in the session whose data is read is a read, reported once, from its open. (The pread line is made up in
    the real lines' layout: no sweep client spoke SMB1.)"""
    lines = [*B_LS_AND_GET[:14], *b_lines(f"pread|ok|{B_SHARE}/reports/customers.csv"), *B_LS_AND_GET[14:]]
    parser = make()
    got = accesses(run(parser, lines[:15], flush=False))
    assert got == [("alice", "read", f"file:{B_SHARE}/reports/customers.csv", "openat", offset_of(lines, 13))]
    assert accesses(run(parser, lines[15:])) == []  # not again at its close


def test_what_a_share_was_seen_to_log_survives_a_restart_and_a_rotation() -> None:
    """A share that logs create_file reports its accesses by them, and its openat lines are plumbing; a daemon
    restarted (or a next file begun) without knowing it took them for accesses again: the rsyslog forwarding
    test's restarted daemons stored reads a single pass never made (tests/receivers/test_rsyslog_forwarding.py)."""
    def parser() -> SambaFullAuditParser:
        return make(prefix="%u|%I|%m|%S")

    head = "2026-11-30T03:44:54.050639+00:00 vm smbd_audit: alice|127.0.0.1|vm|hr|"
    first = parser()
    first.feed(0, head + "create_file|ok|0x120089|file|open|/srv/samba/hr/a.csv")
    state = orjson.loads(orjson.dumps(first.snapshot()))  # as the state database keeps it
    plumbing = [head + "close|ok|/srv/samba/hr/a.csv",
                head + "openat|ok|r|/srv/samba/hr/b.csv", head + "openat|ok|r|/srv/samba/hr/b.csv",
                head + "close|ok|/srv/samba/hr/b.csv", head + "close|ok|/srv/samba/hr/b.csv"]  # fmt: skip
    again, fresh = parser(), parser()
    again.restore(state)
    carried = parser()
    carried.restore(first.carry_over())
    got = {name: [o for i, line in enumerate(plumbing) for o in p.feed(100 + i, line)] + list(p.finish())
           for name, p in (("restarted", again), ("next file", carried), ("never saw create_file", fresh))}
    assert got["restarted"] == []
    assert got["next file"] == []
    assert [e.action for e in got["never saw create_file"] if isinstance(e, AccessEvent)] == ["read"]


def test_the_operation_names_of_samba_before_4_12_give_the_same_events() -> None:
    """Samba before 4.12 (4.14 for open) logs open, unlink, rmdir, rename, mkdir and opendir where 4.17 logs
    openat, unlinkat, renameat, mkdirat and fdopendir, with the same arguments: a real 4.17 log and the same
    log under the old names (tests/samples/samba-full-audit/samba-4.11-op-names.log) give the same events."""
    from tests.goldens import all_cases, parse_case

    cases = {c.id: c for c in all_cases()}

    def view(case_id: str) -> list[tuple[Any, ...]]:
        out = parse_case(cases[case_id])
        assert not [o for o in out if isinstance(o, ParseFailure)]
        return [(e.action, e.outcome, e.user, e.source_ip, e.object, e.fields.get("file.target_path"))
                for e in out if isinstance(e, AccessEvent)]  # fmt: skip

    new = view("samba-full-audit/samba-openat-without-create_file.log")
    assert {"read", "write", "rename", "delete", "create"} <= {v[0] for v in new}
    assert view("samba-full-audit/samba-4.11-op-names.log") == new
