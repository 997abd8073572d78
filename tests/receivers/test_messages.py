"""Syslog messages → spool lines, and RFC 6587 framing. A spool line is what rsyslog's default file format
would have written for the message, so the parsers read the spool as they read rsyslog's files."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pii_guard.clock import FixedClock
from pii_guard.sources.syslog_receiver import Framer, MessageParser, parse_address

SAMPLE = Path(__file__).parent / "samples" / "syslog-all-rsyslog-rfc3339.log"
NOW = 1_795_790_400.0  # 2026-11-27T14:40:00Z
_LINE = re.compile(r"(\S+) (\S+) ([^\s:\[]+)(?:\[(\d+)\])?:( .*)\Z")


def parse(msg: bytes, tz: str | None = None, peer: bytes = b"10.1.2.3") -> tuple[bytes, bytes]:
    return MessageParser(ZoneInfo(tz) if tz else None, FixedClock(NOW)).parse(msg, peer)


def test_every_sample_line_forwarded_as_rfc5424_or_rsyslog_forward_format_is_spooled_byte_for_byte() -> None:
    parser = MessageParser(None, FixedClock(NOW))
    for line in SAMPLE.read_text().splitlines():
        m = _LINE.match(line)
        assert m is not None, line
        stamp, host, tag, pid, msg = m.groups()
        # RSYSLOG_SyslogProtocol23Format: `<PRI>1 TS HOST APP PROCID MSGID SD MSG` (the msg keeps its space)
        rfc5424 = f"<13>1 {stamp} {host} {tag} {pid or '-'} - - {msg}\n".encode()
        # RSYSLOG_ForwardFormat: `<PRI>TS HOST TAG:MSG`, newline-framed
        forward = f"<13>{stamp} {host} {tag}{f'[{pid}]' if pid else ''}:{msg}".encode()
        for wire in (rfc5424, forward):
            got_tag, spooled = parser.parse(wire, b"10.1.2.3")
            assert got_tag == tag.encode()
            assert spooled == line.encode() + b"\n"


def test_rfc5424_structured_data_bom_and_nil_fields() -> None:
    sd = b'[exampleSDID@32473 iut="3" eventSource="App]li\\"ca\\]tion"][examplePriority@32473 class="high"]'
    tag, line = parse(b"<165>1 2026-11-27T16:23:51.52Z host1 smbd_audit - ID47 " + sd + b" \xef\xbb\xbfu|1.2.3.4|x")
    assert (tag, line) == (b"smbd_audit", b"2026-11-27T16:23:51.52Z host1 smbd_audit: u|1.2.3.4|x\n")
    tag, line = parse(b"<165>1 - - sftp-server 123 - -")  # no stamp, no host, no message
    assert tag == b"sftp-server"
    assert line == b"2026-11-27T14:40:00.000000+00:00 10.1.2.3 sftp-server[123]: \n"
    tag, line = parse(b"<165>1 2026-11-27T16:23:51Z h app:x[y] abc - - m")  # unsafe tag characters, odd PROCID
    assert (tag, line) == (b"app:x[y]", b"2026-11-27T16:23:51Z h app_x_y_: m\n")


@pytest.mark.parametrize(("wire", "expected"), [
    # rsyslog's traditional forward format (and syslog-ng's default)
    (b"<173>Nov 27 16:23:22 vm smbd_audit: smbalice|127.0.0.1|vm|hr|connect|ok|hr",
     b"2026-11-27T16:23:22+00:00 vm smbd_audit: smbalice|127.0.0.1|vm|hr|connect|ok|hr\n"),
    # straight from a local syslog() (no host: the peer's address), single-digit day
    (b"<86>Nov  7 09:01:02 sftp-server[17386]: session closed", b"2026-11-07T09:01:02+00:00 10.1.2.3 "
     b"sftp-server[17386]: session closed\n"),
    # fractions (syslog-ng frac-digits) and a year after the time (some appliances)
    (b"<14>Nov 27 16:23:22.123456 db1 mysql-server_auditing: x,y", b"2026-11-27T16:23:22.123456+00:00 db1 "
     b"mysql-server_auditing: x,y\n"),
    (b"<14>Nov 27 16:23:22 2026 db1 mysqld[7]: up", b"2026-11-27T16:23:22+00:00 db1 mysqld[7]: up\n"),
    # no PRI, newline and other control characters escaped as rsyslog does
    (b"Nov 27 16:23:22 h sshd[1]: a\nb\x01c\td", b"2026-11-27T16:23:22+00:00 h sshd[1]: a#012b#001c\td\n"),
    # no `tag:` at all: the first word is the tag
    (b"<13>Nov 27 16:23:22 h hello world", b"2026-11-27T16:23:22+00:00 h hello: world\n"),
])  # fmt: skip
def test_rfc3164_variants(wire: bytes, expected: bytes) -> None:
    assert parse(wire)[1] == expected


def test_rfc3164_stamp_read_in_the_receiver_zone_and_the_year_of_arrival() -> None:
    assert parse(b"<13>Jul  1 12:00:00 h t: m", tz="Europe/Berlin")[1] == b"2026-07-01T12:00:00+02:00 h t: m\n"
    # late December arriving in early January belongs to the year before
    parser = MessageParser(ZoneInfo("UTC"), FixedClock(1_798_804_800.0))  # 2027-01-01T12:00Z
    assert parser.parse(b"<13>Dec 31 23:59:59 h t: m", b"p")[1] == b"2026-12-31T23:59:59+00:00 h t: m\n"


def test_octet_counting_and_newline_framing_across_any_chunk_boundary() -> None:
    frames = [b"<13>1 - h a - - - one", b"<13>two\nstill two? no", b"<13>three", b"", b"<13>four"]
    wire = (b"%d %s" % (len(frames[0]), frames[0]) + b"%d %s" % (len(frames[1]), frames[1])
            + frames[2] + b"\n" + b"\n" + frames[4] + b"\n")
    expected = [frames[0], frames[1], frames[2], frames[4]]
    for cut in range(len(wire) + 1):
        framer = Framer(1024)
        got = framer.feed(wire[:cut]) + framer.feed(wire[cut:])
        assert got == expected, cut


def test_overlong_messages_are_cut_and_counted_in_both_framings() -> None:
    framer = Framer(480)
    long = b"x" * 2000
    got = framer.feed(b"2000 " + long[:700]) + framer.feed(long[700:] + b"<13>next\n" + long + b"\n<13>last")
    assert got == [long[:480], b"<13>next", long[:480]]
    assert framer.truncated == 2
    assert framer.rest() == b"<13>last"
    framer = Framer(480)
    assert framer.feed(long[:600]) == [long[:480]]  # no newline yet: cut, the rest skipped up to the newline
    assert framer.feed(long[600:] + b"\n<13>ok\n") == [b"<13>ok"]


def test_addresses() -> None:
    assert parse_address("127.0.0.1:5140") == ("127.0.0.1", 5140)
    assert parse_address("[::1]:514") == ("::1", 514)
    assert parse_address(":6514") == ("0.0.0.0", 6514)
    with pytest.raises(ValueError, match="is not host:port"):
        parse_address("localhost")
