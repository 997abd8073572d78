"""sftp transfers whose close never comes: reported once `open_transfer_timeout` of event time after their open
(outcome unknown, no volume), whatever the reason the close was lost (sshd killed, connection dropped, reboot)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pydantic
import pytest

from pii_guard.model import AccessEvent
from pii_guard.parsers.base import Outcome, SourceContext
from pii_guard.parsers.sftp import SftpOptions, SftpParser
from tests.parsers.feeding import events

SAMPLE = Path(__file__).parents[1] / "samples" / "sftp" / "internal-sftp-vis-names-and-dropped-transfers-rfc3339.log"
T0 = datetime(2026, 11, 29, 0, 24, 41, 420903, tzinfo=UTC)  # when the sample's killed download was opened
HOUR = timedelta(hours=1)


def make(fingerprint: bytes = b"auth.log", **options: Any) -> SftpParser:
    context = SourceContext(fingerprint=fingerprint, path="auth.log", reference_time=T0.timestamp())
    return SftpParser(context, SftpOptions.model_validate(options))


def line(at: timedelta, program: str, message: str) -> str:
    """A syslog line as rsyslog's RFC 3339 template writes it, `at` after T0."""
    return f"{(T0 + at).isoformat(timespec='microseconds')} vm {program}: {message}"


def sftp(at: timedelta, message: str, pid: int = 8603) -> str:
    return line(at, f"internal-sftp[{pid}]", message)


def cron(at: timedelta) -> str:
    """Another program's line in the same log: it moves event time on as well as any."""
    return line(at, "CRON[31337]", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)")


def killed_download() -> list[str]:
    """The real lines of the sample's download whose internal-sftp was killed with SIGKILL: a session, then the
    open as its last line."""
    lines = [t for t in SAMPLE.read_text().splitlines() if "internal-sftp[8603]" in t]
    assert [t.split(": ", 1)[1] for t in lines] == [
        "session opened for local user piig316d943f from [127.0.0.1]",
        'open "/files/big.bin" flags READ mode 0666',
    ]
    return lines


class Feeder:
    """Feeds one parser lines at growing offsets (as the tailer does), keeping what comes out."""

    def __init__(self, parser: SftpParser, offset: int = 0) -> None:
        self.parser = parser
        self.offset = offset

    def feed(self, *lines: str) -> list[AccessEvent]:
        out: list[Outcome] = []
        for text in lines:
            out.extend(self.parser.feed(self.offset, text))
            self.offset += len(text.encode()) + 1
        return events(out)


def restarted(parser: SftpParser, fingerprint: bytes = b"auth.log", **options: Any) -> SftpParser:
    """A new parser with what the old one saved (through JSON, as the state database keeps it)."""
    fresh = make(fingerprint, **options)
    fresh.restore(orjson.loads(orjson.dumps(parser.snapshot())))
    return fresh


def summary(ev: AccessEvent) -> tuple[Any, ...]:
    return ev.action, ev.outcome, ev.bytes, "pii.bytes_at_least" in ev.fields, ev.command, ev.user, ev.object


UNCLOSED = ("read", "unknown", None, False, "open", "piig316d943f", "file:/files/big.bin")


def test_an_unclosed_download_is_reported_once_when_event_time_passes_the_limit() -> None:
    session, opened = killed_download()
    log = Feeder(make())
    assert log.feed(session, opened) == []
    assert log.feed(cron(5 * HOUR), cron(6 * HOUR - timedelta(seconds=2))) == []  # may still be under way
    assert log.parser.flush() == []  # the daemon's idle flush never ends a transfer
    (ev,) = log.feed(cron(6 * HOUR))
    assert summary(ev) == UNCLOSED
    assert (ev.offset, ev.original) == (len(session) + 1, opened)  # the open's line: its time, id and text
    assert ev.source_ip == "127.0.0.1"
    assert log.feed(cron(7 * HOUR), cron(30 * HOUR)) == []
    assert log.parser.finish() == []  # not again at the end of the input either


def test_the_event_has_the_open_time_and_id_whatever_line_passes_the_limit() -> None:
    session, opened = killed_download()
    by_cron = Feeder(make())
    by_cron.feed(session, opened)
    (late,) = by_cron.feed(cron(8 * HOUR))
    by_sftp = Feeder(make())
    by_sftp.feed(session, opened)
    (other,) = by_sftp.feed(sftp(6 * HOUR + timedelta(seconds=1), "session opened for local user bob from [::1]",
                                 pid=9000))  # fmt: skip
    assert late.id == other.id
    assert late.time_us == other.time_us == int(datetime.fromisoformat(opened.split(" ", 1)[0]).timestamp() * 1e6)


def test_an_unclosed_upload_is_a_write_of_unknown_volume() -> None:
    log = Feeder(make(open_transfer_timeout="30m"))
    log.feed(sftp(timedelta(0), "session opened for local user carol from [10.30.0.7]", pid=4242),
             sftp(timedelta(seconds=1), 'open "/upload/hr/salaries.xlsx" flags WRITE,CREATE,TRUNCATE mode 0644',
                  pid=4242))  # fmt: skip
    (ev,) = log.feed(cron(31 * timedelta(minutes=1)))
    assert (ev.action, ev.outcome, ev.bytes, ev.user, ev.source_ip, ev.object) == (
        "write", "unknown", None, "carol", "10.30.0.7", "file:/upload/hr/salaries.xlsx"
    )  # fmt: skip
    assert "pii.bytes_at_least" not in ev.fields


def test_a_close_within_the_limit_is_the_one_event_with_its_bytes() -> None:
    session, opened = killed_download()
    log = Feeder(make(open_transfer_timeout="6h"))
    log.feed(session, opened)
    (ev,) = log.feed(cron(5 * HOUR), sftp(6 * HOUR - timedelta(seconds=1), 'close "/files/big.bin" bytes read '
                                          "7340032 written 0"))  # fmt: skip
    assert (ev.action, ev.outcome, ev.bytes, ev.command) == ("read", "success", 7340032, "close")
    assert log.feed(cron(7 * HOUR), cron(40 * HOUR)) == []
    assert log.parser.finish() == []


def test_a_close_that_is_itself_the_first_line_past_the_limit_still_counts() -> None:
    """The line is taken first, then what is overdue: a slow download's own close keeps its bytes, while a
    transfer of another process, open as long, is reported by the same line."""
    session, opened = killed_download()
    log = Feeder(make())
    log.feed(session, opened, sftp(timedelta(0), 'open "/files/other.bin" flags READ mode 0666', pid=9000))
    got = log.feed(sftp(9 * HOUR, 'close "/files/big.bin" bytes read 99000000 written 0'))
    assert [(e.object, e.outcome, e.bytes, e.command) for e in got] == [
        ("file:/files/big.bin", "success", 99000000, "close"),
        ("file:/files/other.bin", "unknown", None, "open"),
    ]
    assert log.parser.finish() == []


def test_a_close_after_the_transfer_was_reported_is_dropped() -> None:
    session, opened = killed_download()
    log = Feeder(make())
    log.feed(session, opened)
    assert [summary(e) for e in log.feed(cron(6 * HOUR))] == [UNCLOSED]
    assert log.feed(sftp(7 * HOUR, 'close "/files/big.bin" bytes read 5000 written 0')) == []
    assert log.feed(sftp(7 * HOUR, "session closed for local user piig316d943f from [127.0.0.1]")) == []
    assert log.parser.finish() == []


def test_a_status_after_the_reported_open_is_not_a_second_event() -> None:
    """The open was its process's last line, so it was still held for a possible `sent status`."""
    session, opened = killed_download()
    log = Feeder(make())
    log.feed(session, opened)
    assert len(log.feed(cron(6 * HOUR))) == 1
    assert log.feed(sftp(7 * HOUR, "sent status Permission denied")) == []
    assert log.parser.flush() == log.parser.finish() == []


def test_only_the_overdue_files_are_reported_the_others_wait() -> None:
    log = Feeder(make(open_transfer_timeout="1h"))
    log.feed(sftp(timedelta(0), 'open "/a" flags READ mode 0666', pid=1),
             sftp(timedelta(minutes=30), 'open "/b" flags READ mode 0666', pid=2))  # fmt: skip
    assert [e.object for e in log.feed(cron(HOUR))] == ["file:/a"]
    assert [e.object for e in log.feed(cron(HOUR + timedelta(minutes=29)))] == []
    assert [e.object for e in log.feed(cron(HOUR + timedelta(minutes=31)))] == ["file:/b"]


def test_a_restart_reports_it_once_before_and_after_the_limit() -> None:
    session, opened = killed_download()
    before = Feeder(make())
    before.feed(session, opened, cron(HOUR))
    resumed = Feeder(restarted(before.parser), before.offset)  # restarted before the limit: still waits
    (ev,) = resumed.feed(cron(6 * HOUR))
    uninterrupted = Feeder(make())
    uninterrupted.feed(session, opened, cron(HOUR))
    assert ev.id == uninterrupted.feed(cron(6 * HOUR))[0].id
    after = Feeder(restarted(resumed.parser), resumed.offset)  # restarted after: it was reported
    assert after.feed(cron(7 * HOUR), sftp(7 * HOUR, 'close "/files/big.bin" bytes read 1 written 0')) == []
    assert after.parser.finish() == []


def test_the_successor_file_reports_an_inherited_open_transfer_once() -> None:
    """logrotate moved the log on after the open: the new file's parser inherits it and its own lines' time
    passes the limit."""
    session, opened = killed_download()
    retired = Feeder(make(b"auth.log.1"))
    retired.feed(session, opened, cron(HOUR))
    successor = Feeder(make(b"auth.log"))
    successor.parser.restore(orjson.loads(orjson.dumps(retired.parser.carry_over())))
    assert successor.feed(cron(2 * HOUR)) == []
    (ev,) = successor.feed(cron(6 * HOUR))
    assert summary(ev) == UNCLOSED
    assert successor.feed(cron(8 * HOUR)) == []
    assert successor.parser.finish() == []


def test_elapse_moves_event_time_on_for_a_state_no_line_comes_to() -> None:
    """A carried-over state that no later file takes: the daemon moves its time on by its own clock."""
    session, opened = killed_download()
    retired = Feeder(make(b"auth.log.1"))
    retired.feed(session, opened, cron(HOUR))  # the last line of the log: event time stands at T0 + 1h
    waiting = restarted(retired.parser, b"orphans")
    assert not waiting.elapse(int((4 * HOUR).total_seconds() * 1e6))  # T0 + 5h
    again = restarted(waiting, b"orphans")  # the progress is kept in the state
    (ev,) = events(again.elapse(int(HOUR.total_seconds() * 1e6)))
    assert summary(ev) == UNCLOSED
    later = restarted(again, b"orphans")
    assert not later.elapse(int((100 * HOUR).total_seconds() * 1e6))
    assert not later.finish()


def test_elapse_without_any_line_seen_does_nothing() -> None:
    assert not make().elapse(10**12)


def test_the_reported_set_stays_bounded() -> None:
    log = Feeder(make(max_open_files=2, open_transfer_timeout="1m"))
    for i in range(5):
        log.feed(sftp(timedelta(seconds=i), f'open "/f{i}" flags READ mode 0666', pid=100 + i))
    assert len(log.feed(cron(HOUR))) == 5 - 3  # three were evicted, reported at eviction
    assert len(log.parser.snapshot()["reported"]) <= 2
    assert log.parser.snapshot()["open"] == []


def test_the_limit_is_a_duration_option() -> None:
    assert SftpOptions().open_transfer_timeout == 6 * 3_600_000_000
    assert SftpOptions.model_validate({"open_transfer_timeout": "90m"}).open_transfer_timeout == 5_400_000_000
    for bad in ("0s", "soon", -5):
        with pytest.raises(pydantic.ValidationError):
            SftpOptions.model_validate({"open_transfer_timeout": bad})
