"""sftp-server/internal-sftp + sshd parser: one test per quirk of the format (FORMATS.md §5, §11)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest

from pii_guard.model import TIME_FROM, AccessEvent, format_timestamp
from pii_guard.parsers.base import ParseFailure, SourceContext
from pii_guard.parsers.sftp import SftpOptions, SftpParser
from tests.parsers.feeding import events, run

REFERENCE = datetime(2026, 11, 27, 23, 0, tzinfo=UTC).timestamp()
STAMP = "2026-11-27T16:23:51.703961+00:00 vm"
HOME = "/srv/demo/ssh/home/sftpalice"
OPENED = f"{STAMP} sftp-server[17386]: session opened for local user sftpalice from [127.0.0.1]"
CLOSED = f"{STAMP} sftp-server[17386]: session closed for local user sftpalice from [127.0.0.1]"


def make(**options: Any) -> SftpParser:
    context = SourceContext(fingerprint=b"test", path="auth.log", host="fallback", reference_time=REFERENCE)
    return SftpParser(context, SftpOptions.model_validate(options))


def sftp(message: str, pid: int = 17386, tag: str = "sftp-server") -> str:
    return f"{STAMP} {tag}[{pid}]: {message}"


def test_file_lines_are_joined_to_the_session_by_pid() -> None:
    got = events(
        run(
            make(),
            [
                OPENED,
                sftp("session opened for local user bob from [10.0.0.7]", pid=999),
                sftp(f'open "{HOME}/exports/big.bin" flags READ mode 0666'),
                sftp(f'close "{HOME}/exports/big.bin" bytes read 200000 written 0'),
                sftp('open "/srv/b.txt" flags READ mode 0666', pid=999),
                sftp('close "/srv/b.txt" bytes read 5 written 0', pid=999),
            ],
        )
    )
    assert [(e.user, e.source_ip, e.object) for e in got] == [
        ("sftpalice", "127.0.0.1", f"file:{HOME}/exports/big.bin"),
        ("bob", "10.0.0.7", "file:/srv/b.txt"),
    ]
    ev = got[0]
    assert ev.dataset == "openssh.sftp"
    assert ev.host == "vm"
    assert ev.fields == {"file.path": f"{HOME}/exports/big.bin", "process.pid": 17386}


def test_download_is_one_read_event_with_the_bytes_sent() -> None:
    got = events(
        run(
            make(),
            [
                OPENED,
                sftp(f'open "{HOME}/exports/customers.csv" flags READ mode 0666'),
                sftp(f'close "{HOME}/exports/customers.csv" bytes read 26 written 0'),
            ],
        )
    )
    assert [(e.action, e.outcome, e.bytes, e.command) for e in got] == [("read", "success", 26, "close")]
    assert format_timestamp(got[0].time_us) == "2026-11-27T16:23:51.703961Z"


def test_upload_and_empty_transfers_take_their_direction_from_the_open_flags() -> None:
    got = events(
        run(
            make(),
            [
                OPENED,
                sftp(f'open "{HOME}/up.txt" flags WRITE,CREATE,TRUNCATE mode 0755'),
                sftp(f'close "{HOME}/up.txt" bytes read 0 written 3'),
                sftp(f'open "{HOME}/empty-up" flags WRITE,CREATE,TRUNCATE mode 0644'),
                sftp(f'close "{HOME}/empty-up" bytes read 0 written 0'),
                sftp(f'open "{HOME}/empty-down" flags READ mode 0666'),
                sftp(f'close "{HOME}/empty-down" bytes read 0 written 0'),
                sftp(f'close "{HOME}/never-opened" bytes read 0 written 0'),
            ],
        )
    )
    assert [(e.action, e.bytes) for e in got] == [("write", 3), ("write", 0), ("read", 0), ("read", 0)]


def test_rename_and_posix_rename() -> None:
    got = events(
        run(
            make(),
            [
                OPENED,
                sftp(f'posix-rename old "{HOME}/uploaded.txt" new "{HOME}/renamed.txt"'),
                sftp(f'rename old "{HOME}/a" new "{HOME}/b"'),
                CLOSED,
            ],
        )
    )
    assert [(e.action, e.outcome, e.object, e.command, e.fields["file.target_path"]) for e in got] == [
        ("rename", "success", f"file:{HOME}/uploaded.txt", "posix-rename", f"{HOME}/renamed.txt"),
        ("rename", "success", f"file:{HOME}/a", "rename", f"{HOME}/b"),
    ]


def test_remove_is_held_until_the_next_line_of_its_process() -> None:
    parser = make()
    run(parser, [OPENED], flush=False)
    assert not parser.feed(1000, sftp(f'remove name "{HOME}/renamed.txt"'))
    assert not parser.feed(2000, sftp('opendir "/x"', pid=5))  # another process: still held
    assert parser.pending_offset() == 1000
    got = events(parser.feed(3000, sftp(f'mkdir name "{HOME}/newdir" mode 0777')))
    assert [(e.action, e.outcome, e.object) for e in got] == [("delete", "success", f"file:{HOME}/renamed.txt")]
    assert parser.pending_offset() == 3000
    last = events(parser.flush())
    assert [(e.action, e.outcome, e.object) for e in last] == [("create", "success", f"file:{HOME}/newdir")]
    assert parser.pending_offset() is None


def test_a_file_line_of_an_unknown_process_is_kept_without_a_user() -> None:
    got = events(run(make(), [sftp(f'close "{HOME}/x.csv" bytes read 10 written 0', pid=4242)]))
    assert [(e.user, e.source_ip, e.action, e.bytes) for e in got] == [(None, None, "read", 10)]


def test_session_closed_forgets_the_user() -> None:
    got = events(run(make(), [OPENED, CLOSED, sftp(f'remove name "{HOME}/late"')]))
    assert [(e.user, e.action) for e in got] == [(None, "delete")]


def test_sessions_are_bounded_and_evictions_counted() -> None:
    parser = make(max_sessions=2)
    lines = [sftp(f"session opened for local user u{pid} from [10.0.0.{pid}]", pid=pid) for pid in (1, 2, 3)]
    lines += [sftp('close "/f" bytes read 1 written 0', pid=pid) for pid in (1, 2, 3)]
    got = events(run(parser, lines))
    assert parser.evicted_sessions == 1
    assert [e.user for e in got] == [None, "u2", "u3"]


def test_open_files_are_bounded() -> None:
    parser = make(max_open_files=2)
    lines = [OPENED] + [sftp(f'open "/f{i}" flags WRITE,CREATE mode 0644') for i in range(3)]
    lines += [sftp(f'close "/f{i}" bytes read 0 written 0') for i in range(3)]
    got = events(run(parser, lines))
    assert parser.evicted_open_files == 1
    assert [e.action for e in got] == ["read", "read", "read"]  # the flags were forgotten with the process
    assert len(got) == 3


def test_open_then_sent_status_is_a_failed_access() -> None:
    got = events(
        run(
            make(),
            [
                OPENED,
                sftp('open "/files/secret.csv" flags READ mode 0666'),
                sftp("sent status Permission denied"),
                sftp("sent status No such file"),  # the client's next (unlogged) stat
                sftp('open "/files/ro/up.txt" flags WRITE,CREATE,TRUNCATE mode 0644'),
                sftp("sent status Permission denied"),
                sftp('open "/files/ok" flags READ mode 0666'),
                sftp('close "/files/ok" bytes read 4 written 0'),
                sftp("sent status No such file"),  # after a close: not this file's
            ],
        )
    )
    assert [(e.action, e.outcome, e.object, e.error_code, e.command) for e in got] == [
        ("read", "failure", "file:/files/secret.csv", "Permission denied", "open"),
        ("write", "failure", "file:/files/ro/up.txt", "Permission denied", "open"),
        ("read", "success", "file:/files/ok", None, "close"),
    ]
    assert got[0].user == "sftpalice"


def test_sent_status_after_mkdir_fails_it_at_verbose_and_leaves_it_unknown_at_info() -> None:
    mkdir = sftp(f'mkdir name "{HOME}/newdir" mode 0777')
    status = sftp("sent status Failure")
    info = events(run(make(), [OPENED, mkdir, status]))
    assert [(e.action, e.outcome, e.error_code) for e in info] == [("create", "unknown", "Failure")]
    verbose = events(run(make(), [OPENED, sftp("received client version 3"), mkdir, status]))
    assert [(e.action, e.outcome, e.error_code) for e in verbose] == [("create", "failure", "Failure")]
    debug = events(run(make(), [OPENED, mkdir, sftp("sent status Success")]))
    assert [(e.action, e.outcome) for e in debug] == [("create", "success")]


def test_internal_sftp_tag_and_rmdir() -> None:
    got = events(
        run(
            make(),
            [
                sftp("session opened for local user sftpexp from [127.0.0.1]", tag="internal-sftp", pid=11527),
                sftp('lstat name "/files/d1"', tag="internal-sftp", pid=11527),
                sftp('rmdir name "/files/d1"', tag="internal-sftp", pid=11527),
                sftp('opendir "/files/"', tag="internal-sftp", pid=11527),
            ],
        )
    )
    assert [(e.user, e.action, e.object) for e in got] == [("sftpexp", "delete", "file:/files/d1")]


def test_paths_run_from_the_first_to_the_last_quote() -> None:
    got = events(
        run(
            make(),
            [
                OPENED,
                sftp('open "/srv/a "b" flags READ c.txt" flags READ mode 0666'),
                sftp('close "/srv/a "b" flags READ c.txt" bytes read 7 written 0'),
                sftp('posix-rename old "/srv/x" new "y" new "/srv/z"'),
                CLOSED,
            ],
        )
    )
    assert [e.object for e in got] == ['file:/srv/a "b" flags READ c.txt', 'file:/srv/x" new "y']
    assert got[1].fields["file.target_path"] == "/srv/z"


def test_sshd_logins() -> None:
    got = events(
        run(
            make(),
            [
                f"{STAMP} sshd[17383]: Accepted publickey for sftpalice from 127.0.0.1 port 42948 ssh2: ED25519 x",
                f"{STAMP} sshd[17389]: Failed publickey for sftpalice from 127.0.0.1 port 42964 ssh2: ED25519 y",
                f"{STAMP} sshd[17390]: Failed password for invalid user admin from 203.0.113.9 port 4000 ssh2",
                f"{STAMP} sshd[17391]: Invalid user admin from 203.0.113.9 port 4001",
                f"{STAMP} sshd[17392]: User carol from 198.51.100.4 not allowed because not listed in AllowUsers",
                f'{STAMP} sshd[17275]: Connection from 127.0.0.1 port 42934 on 127.0.0.1 port 2222 rdomain ""',
                f"{STAMP} sshd[17275]: User sftpalice not allowed because account is locked",
                f"{STAMP} sshd[17389]: Connection closed by authenticating user sftpalice 127.0.0.1 port 42964",
                f"{STAMP} sshd[17385]: Disconnected from user sftpalice 127.0.0.1 port 42948",
                f"{STAMP} CRON[5]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
            ],
        )
    )
    assert [(e.action, e.outcome, e.user, e.source_ip, e.source_port, e.error_code) for e in got] == [
        ("login", "success", "sftpalice", "127.0.0.1", 42948, None),
        ("login", "failure", "sftpalice", "127.0.0.1", 42964, "bad publickey"),
        ("login", "failure", "admin", "203.0.113.9", 4000, "invalid user"),
        ("login", "failure", "admin", "203.0.113.9", 4001, "invalid user"),
        ("login", "failure", "carol", "198.51.100.4", None, "not allowed: not listed in AllowUsers"),
        ("login", "failure", "sftpalice", "127.0.0.1", 42934, "not allowed: account is locked"),
    ]
    assert got[0].command == "publickey"


def test_bare_layout_of_sshd_dash_e() -> None:
    parser = make(layout="bare")
    got = events(
        run(
            parser,
            [
                "Server listening on 127.0.0.1 port 22229.",
                "Accepted publickey for sftpexp from 127.0.0.1 port 36062 ssh2: ED25519 SHA256:uud",
                "Invalid user nosuchuser from 127.0.0.1 port 36074",
            ],
        )
    )
    assert [(e.outcome, e.user, e.source_port, e.host) for e in got] == [
        ("success", "sftpexp", 36062, "fallback"),
        ("failure", "nosuchuser", 36074, "fallback"),
    ]
    assert {e.time_us for e in got} == {int(REFERENCE * 1_000_000)}
    # the time is the file's, not the record's: said so, so the store knows a re-read moves it
    assert [e.fields.get(TIME_FROM) for e in got] == ["file", "file"]
    syslog = events(run(make(), [f"{STAMP} sshd[7]: Accepted publickey for a from 10.0.0.1 port 1 ssh2: X"]))
    assert len(syslog) == 1
    assert TIME_FROM not in syslog[0].fields


def test_garbage_and_other_programs() -> None:
    out = run(make(), ["this is not syslog", f"{STAMP} smbd_audit: smbalice|127.0.0.1|vm|hr|connect|ok|hr"])
    assert len(out) == 1
    assert isinstance(out[0], ParseFailure)
    assert out[0].offset == 0


def test_options_are_strict() -> None:
    with pytest.raises(pydantic.ValidationError):
        SftpOptions.model_validate({"max_session": 5})
    with pytest.raises(pydantic.ValidationError):
        SftpOptions.model_validate({"max_sessions": 0})


def test_sessions_survive_a_restart_through_snapshot_and_restore() -> None:
    """The daemon saves parser state with each checkpoint: a transfer read after a restart still has its user."""
    import orjson

    from pii_guard.parsers.base import SourceContext
    from pii_guard.parsers.sftp import SftpParser

    ctx = SourceContext(b"f" * 16, "auth.log", reference_time=1_795_800_000)
    first = SftpParser(ctx)
    first.feed(0, "2026-11-27T08:00:00.000000+00:00 vm sftp-server[777]: session opened for local user "
                  "sftpalice from [10.20.0.9]")
    first.feed(100, '2026-11-27T08:00:01.000000+00:00 vm sftp-server[777]: open "/srv/x/hr/a.pdf" flags READ '
                    "mode 0666")
    saved = orjson.loads(orjson.dumps(first.snapshot()))  # as the state database keeps it
    second = SftpParser(ctx)
    second.restore(saved)
    out = list(second.feed(200, '2026-11-27T08:00:02.000000+00:00 vm sftp-server[777]: close "/srv/x/hr/a.pdf" '
                                "bytes read 5000 written 0"))
    out += list(second.flush())
    events = [e for e in out if isinstance(e, AccessEvent)]
    assert [(e.user, e.source_ip, e.action, e.bytes) for e in events] == [("sftpalice", "10.20.0.9", "read", 5000)]
