"""vsftpd parser: xferlog, vsftpd.log and syslog layouts, one test per quirk (FORMATS.md §7)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings

from pii_guard.model import ACTIONS, AccessEvent, format_timestamp
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.vsftpd import VsftpdOptions, VsftpdParser
from tests.parsers.feeding import events, garbled_lines, run

SAMPLES = Path(__file__).parents[1] / "samples" / "vsftpd"
REFERENCE = datetime(2026, 11, 27, 23, 0, tzinfo=UTC).timestamp()


def make(tz: tzinfo | None = None, **options: Any) -> VsftpdParser:
    context = SourceContext(fingerprint=b"test", path="vsftpd.log", host="ftp1", tz=tz, reference_time=REFERENCE)
    return VsftpdParser(context, VsftpdOptions.model_validate(options))


def test_xferlog_transfer_fields() -> None:
    line = "Fri Nov 27 16:24:16 2026 3 127.0.0.1 150000 /srv/ftp/exports/payroll_2024.xlsx b _ o r ftpalice ftp 0 * c"
    ev = events(run(make(), [line]))[0]
    assert (ev.action, ev.outcome, ev.user, ev.source_ip) == ("read", "success", "ftpalice", "127.0.0.1")
    assert (ev.object, ev.bytes, ev.command) == ("file:/srv/ftp/exports/payroll_2024.xlsx", 150000, "RETR")
    assert ev.fields["vsftpd.transfer_seconds"] == 3
    assert ev.host == "ftp1"
    assert format_timestamp(ev.time_us) == "2026-11-27T16:24:16.000000Z"


def test_xferlog_name_with_spaces_from_another_server_is_kept_whole() -> None:
    # vsftpd writes `_` for a space; a server that does not is split from the right, so the name stays whole
    line = "Fri Nov 27 16:24:16 2026 1 10.0.0.7 26 /srv/ftp/my report 2024.csv a _ i r bob ftp 0 * c"
    ev = events(run(make(), [line]))[0]
    assert (ev.action, ev.object, ev.bytes) == ("write", "file:/srv/ftp/my report 2024.csv", 26)


def test_xferlog_incomplete_anonymous_proftpd_delete_and_hostname() -> None:
    lines = [
        "Fri Nov 27 16:24:16 2026 1 127.0.0.1 0 /srv/ftp/missing.csv b _ o r ftpalice ftp 0 * i",
        "Fri Nov 27 16:24:17 2026 1 10.9.8.7 512 /pub/readme.txt a _ o a guest@example.com ftp 0 * c",
        "Sat Nov  7 06:04:16 2026 0 client.example.net 0 /home/bob/old.csv b _ d r bob ftp 0 * c",
    ]
    failed, anonymous, deleted = events(run(make(), lines))
    assert (failed.outcome, failed.error_code, failed.bytes) == ("failure", "incomplete", 0)
    assert (anonymous.user, anonymous.fields["vsftpd.access_mode"]) == ("anonymous", "anonymous")
    assert (deleted.action, deleted.source_ip) == ("delete", None)
    assert deleted.fields["source.domain"] == "client.example.net"
    assert format_timestamp(deleted.time_us) == "2026-11-07T06:04:16.000000Z"  # day padded with a space


def test_vsftpd_log_keeps_real_names_and_maps_ipv4_in_ipv6() -> None:
    lines = [
        'Fri Nov 27 16:24:16 2026 [pid 17815] CONNECT: Client "::ffff:192.0.2.10"',
        'Fri Nov 27 16:24:16 2026 [pid 17814] [ftpalice] OK LOGIN: Client "::ffff:192.0.2.10"',
        'Fri Nov 27 16:24:16 2026 [pid 17816] [ftpalice] OK DOWNLOAD: Client "::ffff:192.0.2.10", '
        '"/srv/ftp/payroll 2024.xlsx", 150000 bytes, 486659.05Kbyte/sec',
        'Fri Nov 27 16:24:16 2026 [pid 17816] [ftpalice] FAIL UPLOAD: Client "::ffff:192.0.2.10", '
        '"/srv/ftp/ro/"quoted".txt", 1200 bytes, 12.00Kbyte/sec',
        'Fri Nov 27 16:24:17 2026 [pid 17816] [ftpalice] OK DOWNLOAD: Client "::ffff:192.0.2.10", "/srv/ftp/empty", '
        "0.00Kbyte/sec",
    ]
    login, download, upload, empty = events(run(make(), lines))
    assert (login.action, login.outcome, login.user, login.source_ip) == ("login", "success", "ftpalice", "192.0.2.10")
    assert (download.object, download.bytes, download.fields["process.pid"]) == (
        "file:/srv/ftp/payroll 2024.xlsx", 150000, 17816)
    assert (upload.action, upload.outcome, upload.object, upload.bytes) == (
        "write", "failure", 'file:/srv/ftp/ro/"quoted".txt', 1200)  # a partial upload: bytes moved anyway
    assert empty.bytes == 0  # vsftpd leaves out "0 bytes"


def test_vsftpd_log_file_operations() -> None:
    lines = [
        'Fri Nov 27 16:25:00 2026 [pid 1] [bob] OK MKDIR: Client "10.0.0.5", "/srv/ftp/new dir"',
        'Fri Nov 27 16:25:01 2026 [pid 1] [bob] OK RENAME: Client "10.0.0.5", "/srv/ftp/a b.txt /srv/ftp/c d.txt"',
        'Fri Nov 27 16:25:02 2026 [pid 1] [bob] OK RMDIR: Client "10.0.0.5", "/srv/ftp/new dir"',
        'Fri Nov 27 16:25:03 2026 [pid 1] [bob] FAIL DELETE: Client "10.0.0.5", "/srv/ftp/locked.csv"',
        'Fri Nov 27 16:25:04 2026 [pid 1] [bob] OK CHMOD: Client "10.0.0.5", "/srv/ftp/x.csv 777"',
        'Fri Nov 27 16:25:05 2026 [pid 1] [bob] FTP command: Client "10.0.0.5", "RETR x.csv"',
        'Fri Nov 27 16:25:05 2026 [pid 1] [bob] FTP response: Client "10.0.0.5", "150 Opening BINARY mode"',
    ]
    mkdir, rename, rmdir, delete, chmod = events(run(make(), lines))
    assert (mkdir.action, mkdir.object) == ("create", "file:/srv/ftp/new dir")
    assert (rename.action, rename.object, rename.fields["file.target_path"]) == (
        "rename", "file:/srv/ftp/a b.txt", "/srv/ftp/c d.txt")
    assert (rmdir.action, delete.action, delete.outcome) == ("delete", "delete", "failure")
    assert (chmod.action, chmod.object, chmod.fields["file.mode"]) == ("permission", "file:/srv/ftp/x.csv", "777")


def test_syslog_layout_and_other_programs() -> None:
    lines = [
        "2026-11-27T16:24:16.123456+00:00 ftp1 vsftpd[17816]: [ftpalice] OK DOWNLOAD: Client \"10.1.1.1\", "
        '"/srv/ftp/a.csv", 26 bytes, 138.75Kbyte/sec',
        "2026-11-27T16:24:16.200000+00:00 ftp1 CRON[99]: (root) CMD (true)",
    ]
    (ev,) = events(run(make(), lines))
    assert (ev.action, ev.user, ev.source_ip, ev.bytes, ev.host) == ("read", "ftpalice", "10.1.1.1", 26, "ftp1")
    assert ev.fields["process.pid"] == 17816
    assert ev.time_us % 1_000_000 == 123456


def test_zone_less_stamps_take_the_source_zone_and_dst_fall_back_moves_forward() -> None:
    ny = ZoneInfo("America/New_York")
    lines = [  # 01:30 happens twice on 2026-11-01: EDT, then EST an hour later
        "Sun Nov  1 01:30:00 2026 1 10.0.0.1 1 /a b _ o r u ftp 0 * c",
        "Sun Nov  1 01:59:59 2026 1 10.0.0.1 1 /b b _ o r u ftp 0 * c",
        "Sun Nov  1 01:30:00 2026 1 10.0.0.1 1 /c b _ o r u ftp 0 * c",
    ]
    stamps = [format_timestamp(e.time_us) for e in events(run(make(ny), lines))]
    assert stamps == ["2026-11-01T05:30:00.000000Z", "2026-11-01T05:59:59.000000Z", "2026-11-01T06:30:00.000000Z"]


def test_malformed_lines_are_failures() -> None:
    lines = [
        "Fri Nov 27 16:24:16 2026 garbage",
        "Fri Xyz 27 16:24:16 2026 1 127.0.0.1 26 /a b _ o r u ftp 0 * c",
        "Fri Nov 27 16:24:16 2026 [pid 1] [u] OK DOWNLOAD: no client",
        "not a log line at all",
        '2026-11-27T16:24:62+00:00 ftp1 vsftpd[1]: [u] OK LOGIN: Client "1.2.3.4"',  # second 62
    ]
    out = run(make(), lines)
    assert [type(o) for o in out] == [ParseFailure] * 5
    forced = run(make(layout="xferlog"), ['Fri Nov 27 16:24:16 2026 [pid 1] [u] OK LOGIN: Client "1.2.3.4"'])
    assert isinstance(forced[0], ParseFailure)


def test_samples_give_the_same_ids_twice_and_ids_differ_per_line() -> None:
    lines = (SAMPLES / "vsftpd.log").read_text().splitlines()
    first = [e.id for e in events(run(make(), lines))]
    again = [e.id for e in events(run(make(), lines))]
    assert first == again
    assert len(set(first)) == len(first)


_SEEDS = (SAMPLES / "vsftpd.log").read_text().splitlines() + (SAMPLES / "xferlog").read_text().splitlines()


GARBLED = garbled_lines(_SEEDS, max_seeds=6)


@settings(max_examples=300, deadline=None)
@given(GARBLED)
def test_garbled_input_never_raises(lines: list[str]) -> None:
    for item in run(make(ZoneInfo("Europe/Berlin")), lines):
        assert isinstance(item, AccessEvent | ParseFailure)
        if isinstance(item, AccessEvent):
            assert item.action in ACTIONS


# Real lines (tests/samples/vsftpd/*-ops, *-log_ftp_protocol): what vsftpd 3.0.3 wrote after a client typed
# a user name holding the log's own syntax. The user is the only client text before the access, a path or
# an FTP command the only text after it.
FORGED_FAIL_LOGIN = (
    'Sun Nov 29 01:33:36 2026 [pid 12124] [x] OK LOGIN: Client "6.6.6.6", "] FAIL LOGIN: Client "127.0.0.1"'
)
FORGED_PROTOCOL = (
    'Sun Nov 29 01:33:42 2026 [pid 12220] [x] OK LOGIN: Client "6.6.6.6", "] FTP response: Client "127.0.0.1", '
    '"331 Please specify the password."'
)
TWO_WAYS = (
    'Sun Nov 29 01:33:37 2026 [pid 12126] [ftpbob] OK DELETE: Client "203.0.113.66", '
    '"/srv/demo/ftp/home/ftpbob/hr/payroll.xlsx] FAIL LOGIN: Client "127.0.0.1"'
)


def test_a_user_name_holding_the_log_syntax_forges_no_entry() -> None:
    (refused,) = events(run(make(), [FORGED_FAIL_LOGIN, FORGED_PROTOCOL]))
    assert (refused.action, refused.outcome, refused.source_ip) == ("login", "failure", "127.0.0.1")
    assert refused.user == 'x] OK LOGIN: Client "6.6.6.6", "'
    assert "file.path" not in refused.fields
    # a DELETE by ftpbob from 203.0.113.66, or a failed login from 127.0.0.1: the line cannot say which
    (failure,) = run(make(), [TWO_WAYS])
    assert isinstance(failure, ParseFailure)
    assert failure.reason.startswith("ambiguous vsftpd.log line")


def test_a_path_holding_the_log_syntax_stays_the_users_access() -> None:
    lines = [
        'Fri Nov 27 16:25:03 2026 [pid 1] [bob] OK DELETE: Client "10.0.0.5", "/srv/x] OK LOGIN: Client "1.2.3.4""',
        'Fri Nov 27 16:25:04 2026 [pid 1] [bob] OK DOWNLOAD: Client "10.0.0.5", "/srv/y] OK MKDIR: Client '
        '"1.2.3.4", "/z", 5 bytes, 1.00Kbyte/sec',
        'Fri Nov 27 16:25:05 2026 [pid 1] [bob] FTP command: Client "10.0.0.5", "RETR a] FAIL LOGIN: Client "1.2.3.4""',
    ]
    delete, download = events(run(make(), lines))
    assert (delete.action, delete.user, delete.source_ip, delete.object) == (
        "delete", "bob", "10.0.0.5", 'file:/srv/x] OK LOGIN: Client "1.2.3.4"')
    assert (download.action, download.user, download.object, download.bytes) == (
        "read", "bob", 'file:/srv/y] OK MKDIR: Client "1.2.3.4", "/z', 5)
    # the same text at the end of a DELETE also reads as a failed login: not an event either way
    ends_like_login = (
        'Fri Nov 27 16:25:06 2026 [pid 1] [bob] OK DELETE: Client "10.0.0.5", "/srv/x] FAIL LOGIN: Client "1.2.3.4"'
    )
    assert isinstance(run(make(), [ends_like_login])[0], ParseFailure)


def test_an_anonymous_password_is_masked_in_the_original() -> None:
    lines = [
        'Sun Nov 29 01:33:38 2026 [pid 12135] [ftp] OK LOGIN: Client "127.0.0.1", anon password "jane.doe@example.com"',
        "Sun Nov 29 01:33:38 2026 1 127.0.0.1 13 /readme.txt b _ o a jane.doe@example.com ftp 0 * c",
    ]
    login, download = events(run(make(), lines))
    assert (login.action, login.outcome, login.user, login.object) == ("login", "success", "ftp", None)
    assert login.fields["vsftpd.access_mode"] == "anonymous"
    assert login.original == lines[0].replace("jane.doe@example.com", "<masked>")
    assert (download.user, download.object) == ("anonymous", "file:/readme.txt")
    assert download.original == lines[1].replace("jane.doe@example.com", "<masked>")
    context = SourceContext(fingerprint=b"test", path="vsftpd.log", tz=None, mask_literals=False)
    kept = events(run(VsftpdParser(context), lines))
    assert [e.original for e in kept] == lines
    assert [e.id for e in kept] == [login.id, download.id]  # the id hashes the line as read


def test_dot_segments_in_a_path_do_not_hide_the_file_from_the_data_map() -> None:
    """A real vsftpd 3.0.3 (the home directory renamed): `get ../home/./dump.bin` logs the path as the client
    sent it. The object is the file data-map globs name; `file.path` keeps what was logged."""
    lines = [
        'Mon Nov 30 04:49:48 2026 [pid 31324] [swq7bob] OK DOWNLOAD: Client "::1", "/srv/ftp/home/../home/./dump.bin", '
        "3000000 bytes, 772393.22Kbyte/sec",
        "Mon Nov 30 04:49:48 2026 1 ::1 3000000 /srv/ftp/home/../home/./dump.bin b _ o r swq7bob ftp 0 * c",
    ]  # fmt: skip
    for ev in events(run(make(), lines)):
        assert (ev.action, ev.object, ev.bytes) == ("read", "file:/srv/ftp/home/dump.bin", 3000000)
        assert ev.fields["file.path"] == "/srv/ftp/home/../home/./dump.bin"


def test_a_rename_out_of_a_folder_whose_name_ends_with_a_space() -> None:
    """Real vsftpd 3.0.3 lines (the home directory renamed): `rename "trail /x.txt" moved.txt`, where `trail ` was
    made by MKD just before, unchrooted and chrooted. Of the two ` /` cuts the one whose halves share most
    directories is the rename's."""
    lines = [
        'Mon Nov 30 04:49:42 2026 [pid 30825] [swq7alice] OK RENAME: Client "::1", '
        '"/srv/ftp/home/trail /x.txt /srv/ftp/home/moved.txt"',
        'Mon Nov 30 04:49:42 2026 [pid 30825] [swq7alice] OK RENAME: Client "::1", "/trail /x.txt /moved.txt"',
        'Mon Nov 30 04:49:42 2026 [pid 30825] [swq7alice] OK RENAME: Client "::1", "/srv/ftp/a /srv/ftp/b/c"',
    ]  # fmt: skip
    assert [(e.object, e.fields["file.target_path"]) for e in events(run(make(), lines))] == [
        ("file:/srv/ftp/home/trail /x.txt", "/srv/ftp/home/moved.txt"),
        ("file:/trail /x.txt", "/moved.txt"),
        ("file:/srv/ftp/a", "/srv/ftp/b/c"),
    ]
