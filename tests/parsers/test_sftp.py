"""sftp-server/internal-sftp + sshd parser: one test per quirk of the format (FORMATS.md §5, §11)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
import pytest

from pii_guard.model import TIME_FROM, AccessEvent, format_timestamp
from pii_guard.parsers.base import Outcome, ParseFailure, SourceContext
from pii_guard.parsers.sftp import SftpOptions, SftpParser, split_old_new, unvis
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


def test_open_files_are_bounded_and_an_evicted_one_is_reported_once() -> None:
    parser = make(max_open_files=2)
    lines = [OPENED] + [sftp(f'open "/f{i}" flags WRITE,CREATE mode 0644') for i in range(3)]
    lines += [sftp(f'close "/f{i}" bytes read 0 written 5') for i in range(3)]
    got = events(run(parser, lines))
    assert parser.evicted_open_files == 1
    # /f0 is reported when evicted (at the third open), as what its open says; its close is then dropped
    assert [(e.object, e.action, e.command, e.bytes, e.user) for e in got] == [
        ("file:/f0", "write", "open", None, "sftpalice"),
        ("file:/f1", "write", "close", 5, "sftpalice"),
        ("file:/f2", "write", "close", 5, "sftpalice"),
    ]
    assert got[0].offset == len(OPENED) + 1  # the open line's


def test_the_file_just_opened_is_not_evicted_before_its_status() -> None:
    parser = make(max_open_files=1)
    got = run(
        parser,
        [
            sftp('open "/a" flags READ mode 0666', pid=1),
            sftp('opendir "/"', pid=1),  # /a did open
            sftp('open "/b" flags READ mode 0666', pid=2),  # /a is evicted: reported, its close dropped
            sftp('open "/c" flags READ mode 0666', pid=3),  # /b is evicted, but its status decides
            sftp("sent status Permission denied", pid=2),
            sftp('close "/a" bytes read 3 written 0', pid=1),
        ],
    )
    assert [(e.object, e.outcome, e.command) for e in events(got)] == [
        ("file:/a", "success", "open"),
        ("file:/b", "failure", "open"),
        ("file:/c", "success", "open"),  # never closed: reported at the end of the input
    ]
    assert parser.evicted_open_files == 2


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


# -- transfers that never log their close ------------------------------------------------------------------

# Real lines (OpenSSH 9.2p1 internal-sftp, tests/samples/sftp/internal-sftp-vis-names-and-dropped-transfers-*)
KILLED_CLIENT = [
    sftp("session opened for local user piig316d943f from [127.0.0.1]", pid=8597, tag="internal-sftp"),
    sftp('open "/files/big.bin" flags READ mode 0666', pid=8597, tag="internal-sftp"),
    sftp('forced close "/files/big.bin" bytes read 783360 written 0', pid=8597, tag="internal-sftp"),
    sftp("session closed for local user piig316d943f from [127.0.0.1]", pid=8597, tag="internal-sftp"),
]
KILLED_SERVER = [
    sftp("session opened for local user piig316d943f from [127.0.0.1]", pid=8603, tag="internal-sftp"),
    sftp('open "/files/big.bin" flags READ mode 0666', pid=8603, tag="internal-sftp"),
]


def test_forced_close_of_a_client_gone_mid_transfer_is_the_transfer() -> None:
    got = events(run(make(), KILLED_CLIENT))
    assert [(e.action, e.outcome, e.bytes, e.command, e.user) for e in got] == [
        ("read", "success", 783360, "forced close", "piig316d943f")
    ]


def test_a_file_left_open_is_reported_once_at_the_end_of_the_input_not_on_idle() -> None:
    parser = make()
    assert run(parser, KILLED_SERVER, flush=False) == []
    assert parser.flush() == []  # the daemon's idle flush: the transfer may be under way
    got = events(parser.finish())
    assert [(e.action, e.outcome, e.bytes, e.command, e.user, e.source_ip, e.object) for e in got] == [
        ("read", "success", None, "open", "piig316d943f", "127.0.0.1", "file:/files/big.bin")
    ]
    assert got[0].offset == len(KILLED_SERVER[0]) + 1
    assert got[0].time_us == events(run(make(), [KILLED_SERVER[1], sftp("sent status x", pid=8603)]))[0].time_us
    assert parser.finish() == []


def test_a_file_left_open_is_reported_when_its_session_ends_or_its_pid_starts_over() -> None:
    closed = events(run(make(), [*KILLED_SERVER, sftp("session closed for local user u from [::1]", pid=8603)],
                        flush=False))  # fmt: skip
    assert [(e.command, e.bytes) for e in closed] == [("open", None)]
    reused = run(make(), [*KILLED_SERVER, sftp("session opened for local user bob from [10.0.0.2]", pid=8603)],
                 flush=False)  # fmt: skip
    assert [(e.user, e.command) for e in events(reused)] == [("piig316d943f", "open")]


def test_a_closed_or_failed_open_is_not_reported_again_at_the_end() -> None:
    got = events(
        run(
            make(),
            [
                *KILLED_CLIENT,
                sftp('open "/x" flags READ mode 0666', pid=9),
                sftp("sent status Permission denied", pid=9),
                sftp('open "/y" flags WRITE,CREATE mode 0644', pid=9),
                sftp('close "/y" bytes read 0 written 4', pid=9),
            ],
        )
    )
    assert [(e.object, e.command) for e in got] == [
        ("file:/files/big.bin", "forced close"),
        ("file:/x", "open"),
        ("file:/y", "close"),
    ]


def test_an_open_file_survives_a_restart_and_is_still_reported_once() -> None:
    import orjson

    first = make()
    run(first, KILLED_SERVER, flush=False)
    second = make()
    second.restore(orjson.loads(orjson.dumps(first.snapshot())))
    (ev,) = events(second.finish())
    assert (ev.user, ev.command, ev.offset, ev.original) == ("piig316d943f", "open", len(KILLED_SERVER[0]) + 1,
                                                             KILLED_SERVER[1])  # fmt: skip
    assert ev.id == events(first.finish())[0].id
    third = make()
    third.restore({"open": [[8603, "/files/big.bin", "READ"]]})  # an older version's state: kept quiet
    assert third.finish() == []


# -- names as OpenSSH's strnvis writes them ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("logged", "name"),
    [
        (r"/data/na\303\257ve file \303\251.txt", "/data/naïve file é.txt"),
        (r"/files/back\\slash.txt", "/files/back\\slash.txt"),
        (r"/files/back\\303", "/files/back\\303"),  # a backslash, then digits: not an octal escape
        (r"/files/tab\there\nnl\r\a\b\f\v", "/files/tab\there\nnl\r\a\b\f\v"),
        (r"/files/latin1-\351.txt", "/files/latin1-\\xe9.txt"),  # not UTF-8: the bytes as \xNN
        (r"/files/del\177", "/files/del\x7f"),
        (r'/files/quo"te', '/files/quo"te'),
        (r"/files/odd\q\M-a", r"/files/odd\q\M-a"),  # not written by OpenSSH: left as it is
        ("/plain/path", "/plain/path"),
    ],
)
def test_unvis(logged: str, name: str) -> None:
    assert unvis(logged) == name


def test_vis_escaped_paths_and_user_names_are_decoded() -> None:
    """Real lines of OpenSSH 9.2p1 internal-sftp; the user names through the same log function."""
    lines = [
        sftp(r"session opened for local user j\303\274rgen from [127.0.0.1]"),
        sftp(r'open "/files/na\303\257ve file \303\251.txt" flags READ mode 0666'),
        sftp(r'close "/files/na\303\257ve file \303\251.txt" bytes read 10 written 0'),
        sftp(r'open "/files/back\\slash.txt" flags READ mode 0666'),
        sftp(r'close "/files/back\\slash.txt" bytes read 10 written 0'),
        sftp(r'open "/files/up \303\251.txt" flags WRITE,CREATE,TRUNCATE mode 0644'),
        sftp(r'close "/files/up \303\251.txt" bytes read 0 written 0'),
        sftp(r'posix-rename old "/files/up \303\251.txt" new "/files/renamed \303\274.txt"'),
        sftp(r'mkdir name "/files/dir \303\237" mode 0777'),
        sftp(r'remove name "/files/renamed \303\274.txt"'),
        sftp(r"session closed for local user j\303\274rgen from [127.0.0.1]"),
        f"{STAMP} sshd[8]: Invalid user n\\303\\266body from 127.0.0.1 port 44534",
        f"{STAMP} sshd[9]: Accepted publickey for j\\303\\274rgen from 127.0.0.1 port 1 ssh2: ED25519 x",
    ]
    got = events(run(make(), lines))
    assert [(e.user, e.action, e.object) for e in got] == [
        ("jürgen", "read", "file:/files/naïve file é.txt"),
        ("jürgen", "read", "file:/files/back\\slash.txt"),
        ("jürgen", "write", "file:/files/up é.txt"),
        ("jürgen", "rename", "file:/files/up é.txt"),
        ("jürgen", "create", "file:/files/dir ß"),
        ("jürgen", "delete", "file:/files/renamed ü.txt"),
        ("nöbody", "login", None),
        ("jürgen", "login", None),
    ]
    assert got[0].fields["file.path"] == "/files/naïve file é.txt"
    assert got[3].fields["file.target_path"] == "/files/renamed ü.txt"
    assert "\\303" in got[0].original  # the line itself stays as written


def test_bare_sshd_dash_e_names_are_decoded() -> None:
    got = events(run(make(layout="bare"), [r"Invalid user n\303\266body from 127.0.0.1 port 44534"]))
    assert [e.user for e in got] == ["nöbody"]


# Lines as Debian 12's OpenSSH 9.2p1 writes them in every setup tried on the real server (internal-sftp
# chrooted, under sshd logging to syslog or to `-E` at INFO and VERBOSE; sftp-server without a chroot): the
# sftp code logs through syslog itself, escaped once, never through the monitor.
@pytest.mark.parametrize("tag", ["internal-sftp", "sftp-server"])
@pytest.mark.parametrize(
    ("logged", "name"),
    [
        ("\\303\\251 space.txt", "é space.txt"),
        ('quo"te.txt', 'quo"te.txt'),
        ("back\\\\slash.txt", "back\\slash.txt"),
        ("back\\\\303\\\\251.txt", "back\\303\\251.txt"),  # a real backslash and digits, not a doubled é
        ("tab\\tname.txt", "tab\tname.txt"),
        ("nl\\nname.txt", "nl\nname.txt"),
        ('x" flags READ mode 0666.txt', 'x" flags READ mode 0666.txt'),
        ('up \\303\\251\\\\1"q.txt', 'up é\\1"q.txt'),
    ],
)
def test_real_server_escapes_are_decoded_once(tag: str, logged: str, name: str) -> None:
    got = events(
        run(
            make(),
            [
                sftp("session opened for local user alice from [127.0.0.1]", tag=tag),
                sftp(f'open "/files/{logged}" flags READ mode 0666', tag=tag),
                sftp(f'close "/files/{logged}" bytes read 100 written 0', tag=tag),
                sftp(f'posix-rename old "/files/{logged}" new "/files/{logged}.old"', tag=tag),
                sftp(f'remove name "/files/{logged}.old"', tag=tag),
            ],
        )
    )
    assert [(e.action, e.user, e.object, e.bytes, e.fields.get("file.target_path")) for e in got] == [
        ("read", "alice", f"file:/files/{name}", 100, None),
        ("rename", "alice", f"file:/files/{name}", None, f"/files/{name}.old"),
        ("delete", "alice", f"file:/files/{name}.old", None, None),
    ]


def _close_of_length(length: int, written: str, read: str = "0") -> str:
    """A close message of `length` characters (as syslog holds it: OpenSSH cuts at 500)."""
    tail = f'" bytes read {read} written {written}'
    path = "/files/" + "d" * 230 + "/" + "f" * (length - len('close "') - len(tail) - 238)
    message = f'close "{path}{tail}'
    assert len(message) == length
    return message


def test_upload_close_cut_at_500_characters_has_an_unknown_volume() -> None:
    """Real: `close "<468-character path>" bytes read 0 written 5000` is logged as `... written 50`, exactly
    500 characters. The count may have lost digits: no volume, and `pii.bytes_at_least` the digits left."""
    (ev,) = events(run(make(), [OPENED, sftp(_close_of_length(500, "50"))]))
    assert (ev.action, ev.outcome, ev.bytes, ev.user) == ("write", "success", None, "sftpalice")
    assert ev.fields["pii.bytes_at_least"] == 50
    assert ev.object is not None
    assert ev.object.endswith("f")


def test_close_of_500_characters_with_whole_counts_keeps_them() -> None:
    """`written 0` cannot have lost a digit (no leading zeros), and a read count is followed by ` written`:
    a download's close of 500 characters is whole. So is any close shorter than 500."""
    got = events(
        run(
            make(),
            [OPENED, sftp(_close_of_length(500, "0", read="5000")), sftp(_close_of_length(499, "5000"))],
        )
    )
    assert [(e.action, e.bytes, "pii.bytes_at_least" in e.fields) for e in got] == [
        ("read", 5000, False),
        ("write", 5000, False),
    ]


# -- real lines of the 2026-11-30 sweep (OpenSSH 9.2p1, rsyslog RFC 3339; paths and user names renamed) ------

INVALID_USER = [
    "2026-11-30T03:53:03.770843+00:00 vm sshd[6436]: Invalid user nosuchuser from 127.0.0.1 port 59120",
    "2026-11-30T03:53:06.420561+00:00 vm sshd[6436]: Failed password for invalid user nosuchuser from 127.0.0.1 "
    "port 59120 ssh2",
    "2026-11-30T03:53:06.943108+00:00 vm sshd[6436]: Connection closed by invalid user nosuchuser 127.0.0.1 port "
    "59120 [preauth]",
]


def test_invalid_user_and_its_failed_password_are_one_failed_logon() -> None:
    """Finding 6: one connection, one password attempt for an unknown user."""
    (ev,) = events(run(make(), INVALID_USER))
    assert (ev.action, ev.outcome, ev.user, ev.source_ip, ev.source_port, ev.error_code, ev.offset) == (
        "login", "failure", "nosuchuser", "127.0.0.1", 59120, "invalid user", 0,
    )  # fmt: skip


def test_a_second_password_for_an_invalid_user_is_a_second_attempt_also_after_a_restart() -> None:
    first = make()
    assert len(events(run(first, INVALID_USER[:1], flush=False))) == 1
    second = make()
    second.restore(first.snapshot())
    retry = INVALID_USER[1].replace("03:53:06.420561", "03:53:09.120561")
    got = events(run(second, [INVALID_USER[1], retry]))
    assert [(e.command, e.outcome, e.time_us % 10_000_000) for e in got] == [("password", "failure", 9_120_561)]
    # another connection (port) of the same name is another attempt
    other = INVALID_USER[1].replace("port 59120", "port 59121")
    assert len(events(run(make(), [INVALID_USER[0], other]))) == 2


def isftp(message: str, pid: int = 18578, stamp: str = "2026-11-30T03:59:27.208448+00:00") -> str:
    return f"{stamp} vm internal-sftp[{pid}]: {message}"


ALICE = "/srv/sftp/home/alice"
OPENED_18578 = isftp("session opened for local user alice from [127.0.0.1]")


def test_set_mode_is_a_permission_change() -> None:
    """Finding 5: `chmod 600` at VERBOSE (S4): the next line is the next request's, so it worked."""
    lines = [
        isftp("received client version 3", pid=9472),
        isftp("session opened for local user alice from [127.0.0.1]", pid=9472),
        isftp(f'set "{ALICE}/mine.txt" mode 0600', pid=9472),
        isftp(f'lstat name "{ALICE}/missing.txt"', pid=9472),
        isftp("sent status No such file", pid=9472),
    ]
    (ev,) = events(run(make(), lines))
    assert (ev.action, ev.outcome, ev.user, ev.object, ev.command, ev.error_code) == (
        "permission", "success", "alice", f"file:{ALICE}/mine.txt", "set", None,
    )  # fmt: skip
    assert ev.fields == {"file.path": f"{ALICE}/mine.txt", "file.mode": "0600", "process.pid": 9472}


def test_set_owner_is_a_permission_change_and_size_or_modtime_are_none() -> None:
    got = events(run(make(), [
        OPENED_18578,
        isftp(f'set "{ALICE}/a.txt" size 0'),
        isftp(f'set "{ALICE}/a.txt" modtime 20261130-03:56:22'),
        isftp(f'set "{ALICE}/b.txt" owner 1007 group 1010'),
        isftp("sent status Permission denied"),
    ]))  # fmt: skip
    assert [(e.action, e.outcome, e.object, e.error_code, e.fields.get("file.uid"), e.fields.get("file.gid"))
            for e in got] == [("permission", "unknown", f"file:{ALICE}/b.txt", "Permission denied", "1007", "1010")]


def test_put_preserving_attributes_sets_the_mode_of_the_upload() -> None:
    """`put -p` (S5x): fsetstat of the open file logs mode, then modtime, one request with one status."""
    stamp = "2026-11-30T03:56:24.590355+00:00"
    lines = [
        isftp("session opened for local user alice from [127.0.0.1]", pid=12285, stamp=stamp),
        isftp(f'open "{ALICE}/preserved.txt" flags WRITE,CREATE,TRUNCATE mode 0644', pid=12285, stamp=stamp),
        isftp(f'set "{ALICE}/preserved.txt" mode 0644', pid=12285, stamp=stamp),
        isftp(f'set "{ALICE}/preserved.txt" modtime 20261130-03:56:22', pid=12285, stamp=stamp),
        isftp(f'close "{ALICE}/preserved.txt" bytes read 0 written 22', pid=12285, stamp=stamp),
    ]
    got = events(run(make(), lines))
    assert [(e.action, e.outcome, e.offset) for e in got] == [
        ("permission", "success", sum(len(x) + 1 for x in lines[:2])),
        ("write", "success", sum(len(x) + 1 for x in lines[:4])),
    ]
    # the request's one status comes after all its attribute lines (here a refusal, at VERBOSE)
    refused = [lines[0], isftp("received client version 3", pid=12285), *lines[2:4],
               isftp("sent status Permission denied", pid=12285)]  # fmt: skip
    (ev,) = events(run(make(), refused))
    assert (ev.action, ev.outcome, ev.error_code, ev.fields["file.mode"]) == (
        "permission", "failure", "Permission denied", "0644",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("logged", "old", "new"),
    [
        ('/h/a" new "/h/b', "/h/a", "/h/b"),
        ('/h/sp ace \\303\\274.txt" new "/h/x" new "y.txt', "/h/sp ace \\303\\274.txt", '/h/x" new "y.txt'),
        ('/h/x" new "y" new "/h/z', '/h/x" new "y', "/h/z"),  # both splits leave an absolute new name: the last
        ('t5.txt" new "/h/l5', "t5.txt", "/h/l5"),  # a symlink's target may be relative
        ('a" new "b" new "c', 'a" new "b', "c"),  # relative names: the last
    ],
)
def test_split_old_new(logged: str, old: str, new: str) -> None:
    assert split_old_new(logged) == (old, new)


def test_a_new_name_holding_new_is_split_where_an_absolute_path_starts() -> None:
    """Finding 7: `rename "sp ace ü.txt" "x\\" new \\"y.txt"` (S5x, sftp-server -l INFO)."""
    home = "/srv/sftp/home/alice"
    line = (
        f'2026-11-30T03:56:24.588763+00:00 vm sftp-server[12285]: posix-rename old "{home}/sp ace \\303\\274.txt" '
        f'new "{home}/x" new "y.txt"'
    )
    (ev,) = events(run(make(), [line]))
    assert (ev.action, ev.object, ev.fields["file.target_path"]) == (
        "rename", f"file:{home}/sp ace ü.txt", f'{home}/x" new "y.txt',
    )  # fmt: skip


# alice's batch `put t1.txt; rm t1.txt; put t2.txt; mkdir d1; put t3.txt; rename t3.txt t4.txt; put t5.txt;
# symlink t5.txt l5; put t6.txt` at INFO (S7), every command a success
REQUEST_THEN_UPLOAD = [
    OPENED_18578,
    isftp(f'remove name "{ALICE}/t1.txt"'),
    isftp("sent status No such file"),
    isftp(f'open "{ALICE}/t2.txt" flags WRITE,CREATE,TRUNCATE mode 0644'),
    isftp(f'close "{ALICE}/t2.txt" bytes read 0 written 22'),
    isftp(f'mkdir name "{ALICE}/d1" mode 0777'),
    isftp("sent status No such file"),
    isftp(f'open "{ALICE}/t3.txt" flags WRITE,CREATE,TRUNCATE mode 0644'),
    isftp(f'close "{ALICE}/t3.txt" bytes read 0 written 22'),
    isftp(f'posix-rename old "{ALICE}/t3.txt" new "{ALICE}/t4.txt"'),
    isftp("sent status No such file"),
    isftp(f'open "{ALICE}/t5.txt" flags WRITE,CREATE,TRUNCATE mode 0644'),
    isftp(f'close "{ALICE}/t5.txt" bytes read 0 written 22'),
    isftp(f'symlink old "t5.txt" new "{ALICE}/l5"'),
    isftp("sent status No such file"),
    isftp(f'open "{ALICE}/t6.txt" flags WRITE,CREATE,TRUNCATE mode 0644'),
    isftp(f'close "{ALICE}/t6.txt" bytes read 0 written 22'),
]


def test_no_such_file_before_an_upload_is_the_uploads_stat_at_info() -> None:
    """Finding 8: `put` stats its target first; a new file's stat says `No such file`, which at INFO follows
    the earlier request unlogged. An open that creates another file next shows whose it was."""
    got = [e for e in events(run(make(), REQUEST_THEN_UPLOAD)) if e.action != "write"]
    assert [(e.action, e.command, e.outcome, e.error_code) for e in got] == [
        ("delete", "remove", "success", None),
        ("create", "mkdir", "success", None),
        ("rename", "posix-rename", "success", None),
        ("create", "symlink", "success", None),
    ]


def test_no_such_file_not_followed_by_an_upload_stays_the_requests() -> None:
    remove = REQUEST_THEN_UPLOAD[1:3]
    for after in (
        [],  # the end of the input
        [isftp("sent status No such file")],  # another unlogged request's status: which was whose, unknown
        [isftp(f'open "{ALICE}/t1.txt" flags WRITE,CREATE,TRUNCATE mode 0644')],  # the same path again
        [isftp(f'open "{ALICE}/data.bin" flags READ mode 0666')],  # a download stats nothing first
    ):
        got = [e for e in events(run(make(), [OPENED_18578, *remove, *after])) if e.command == "remove"]
        assert [(e.outcome, e.error_code) for e in got] == [("unknown", "No such file")], after
    parser = make()
    run(parser, [OPENED_18578, *remove], flush=False)
    assert parser.pending_offset() == len(OPENED_18578) + 1  # held until the next line says whose it was
    (ev,) = events(parser.flush())
    assert (ev.outcome, ev.error_code) == ("unknown", "No such file")
    verbose = [isftp("received client version 3"), *REQUEST_THEN_UPLOAD[1:4]]
    got = [e for e in events(run(make(), [OPENED_18578, *verbose])) if e.command == "remove"]
    assert [(e.outcome, e.error_code) for e in got] == [("failure", "No such file")]  # its stat would be logged


def test_dot_segments_in_a_path_do_not_hide_the_file_from_the_data_map() -> None:
    """sftp-server logs the path the client sent (`get ../sftpalice/./exports//customers.csv`): the object is
    the file itself, as data-map globs name it."""
    got = events(run(make(), [
        OPENED,
        sftp(f'open "{HOME}/../sftpalice/./exports//customers.csv" flags READ mode 0666'),
        sftp(f'close "{HOME}/../sftpalice/./exports//customers.csv" bytes read 61 written 0'),
        CLOSED,
    ]))  # fmt: skip
    assert [(e.action, e.object, e.bytes) for e in got] == [("read", f"file:{HOME}/exports/customers.csv", 61)]


def test_sshd_lines_tagged_as_openssh_9_8_and_10_tag_them_are_read_alike() -> None:
    """OpenSSH 9.8 tags a connection's messages `sshd-session` (10.0 the pre-authentication ones `sshd-auth`),
    with the same text. No such server can be installed here (Debian 12 has 9.2): a real 9.2 log with its
    `sshd` tags renamed must give the same events."""
    sample = Path(__file__).parents[1] / "samples" / "sftp" / "internal-sftp-info-request-then-upload-rfc3339.log"
    lines = sample.read_text().splitlines()
    assert sum(" sshd[" in line for line in lines) == 73

    def view(out: list[Outcome]) -> list[tuple[Any, ...]]:
        return [(e.action, e.outcome, e.user, e.source_ip, e.object, e.bytes) for e in events(out)]

    before = view(run(make(), lines))
    assert ("login", "success") in [v[:2] for v in before]
    for tag in ("sshd-session", "sshd-auth"):
        assert view(run(make(), [line.replace(" sshd[", f" {tag}[") for line in lines])) == before
