"""The syslog wrapping of formats that servers send to syslog (Samba, sftp-server, MariaDB, vsftpd).

The file layout is the syslog daemon's, not the server's. Two layouts are read here:
- rsyslog's default on Debian 12 (RSYSLOG_FileFormat): `2026-11-27T16:23:51.703961+00:00 host tag[pid]: msg`
- the traditional one (RSYSLOG_TraditionalFileFormat, syslog-ng's default): `Nov 27 16:23:51 host tag[pid]: msg`
  with no year (inferred from the file's last write) and no zone (the source's timezone, UTC if unset).
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import NamedTuple

from pii_guard.parsers.timeparse import (
    MONTHS,
    EpochCache,
    TimestampError,
    fraction_us,
    infer_year,
    local_epoch,
    offset_seconds,
)

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d) (\S+) ([^\s:\[]+)(?:\[(\d+)\])?: ?(.*)\Z",
    re.S,
)
_TRADITIONAL = re.compile(
    r"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\S+) ([^\s:\[]+)(?:\[(\d+)\])?: ?(.*)\Z", re.S
)


class SyslogLine(NamedTuple):
    time_us: int
    host: str
    tag: str
    pid: int | None
    message: str


class SyslogFraming:
    """Splits a syslog file line into stamp, host, tag, pid and message. Returns None for other lines."""

    def __init__(self, tz: tzinfo | None, reference_time: float) -> None:
        self._tz = tz
        self._reference = reference_time
        self._rfc_cache = EpochCache(self._rfc_seconds)
        self._trad_cache = EpochCache(self._trad_seconds)

    def split(self, line: str) -> SyslogLine:
        if line[:1].isdecimal():
            m = _RFC3339.match(line)
            if m is not None:
                # key: date, time and offset, without the fraction
                key = line[:19] + m.group(8)
                secs = self._rfc_cache(key)
                pid = m.group(11)
                return SyslogLine(
                    secs * 1_000_000 + fraction_us(m.group(7) or ""),
                    m.group(9),
                    m.group(10),
                    int(pid) if pid else None,
                    m.group(12),
                )
        else:
            m = _TRADITIONAL.match(line)
            if m is not None:
                secs = self._trad_cache(line[:15])
                pid = m.group(8)
                return SyslogLine(secs * 1_000_000, m.group(6), m.group(7), int(pid) if pid else None, m.group(9))
        raise TimestampError("not a syslog line (expected an RFC 3339 or 'Mmm dd hh:mm:ss' stamp, host and tag)")

    @staticmethod
    def _rfc_seconds(key: str) -> int:
        try:
            naive = datetime(
                int(key[0:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]), int(key[14:16]), int(key[17:19])
            )
        except ValueError as exc:  # second 62, day 31 of a 30-day month ...: a bad line, not a crash
            raise TimestampError(f"impossible time {key!r}: {exc}") from None
        zone = key[19:]
        offset = 0 if zone == "Z" else offset_seconds(zone)
        return int((naive - datetime(1970, 1, 1)).total_seconds()) - offset

    def _trad_seconds(self, key: str) -> int:
        month = MONTHS.get(key[0:3])
        if month is None:
            raise TimestampError(f"unknown month {key[0:3]!r}")
        day = int(key[4:6])
        year = infer_year(month, day, self._reference)
        return local_epoch(year, month, day, int(key[7:9]), int(key[10:12]), int(key[13:15]), self._tz)
