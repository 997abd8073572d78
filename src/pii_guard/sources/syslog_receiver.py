"""A syslog receiver: TCP (RFC 6587 octet counting or newline framing, optionally TLS) and UDP, RFC 5424 and
RFC 3164 messages (with rsyslog's and syslog-ng's usual variants), routed by program name to a spool file.

Each message becomes one line in the spool file of its route (see `spool.py`), written as rsyslog's default
file format writes it: `2026-11-27T16:23:51.703961+00:00 host tag[pid]: message`. An RFC 3339 stamp is kept
as it came; a year-less RFC 3164 stamp is placed in the year of its arrival and read in the receiver's
zone. The parsers then read the spool as they read a file that rsyslog wrote, and the live loop stores what
they make with its usual guarantees.

Delivery: a TCP connection's thread reads a chunk, writes its messages to the spool and only then reads on;
while the spool is full (backlog above its cap, or the disk refusing writes) it does not read, so the
sender's TCP window closes (backpressure). UDP has no backpressure: datagrams that arrive while the spool
is full are read and counted as dropped, and so are those the kernel dropped (SO_RXQ_OVFL).
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import tzinfo
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from pii_guard.clock import Clock
from pii_guard.errors import SourceError
from pii_guard.parsers.timeparse import MONTHS, TimestampError, infer_year, local_epoch
from pii_guard.sources.journal import JournalSource
from pii_guard.sources.spool import UNROUTED, ReceiverMetrics, Spool, rfc3339, spool_line

if TYPE_CHECKING:
    from pii_guard.config.load import ReceiverPlan

log = logging.getLogger("pii_guard.syslog")

_PRI: Final = re.compile(rb"<(\d{1,3})>")
_STAMP_3339: Final = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)\Z")
_STAMP_3164: Final = re.compile(rb"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? ")
# `tag:` or `tag[pid]:`, as the first word after the stamp (no host) or the second (with one)
_TAG: Final = re.compile(rb"([^\s:\[\]]{1,128})(?:\[([^\]\s]{0,32})\])?:")
_WORD: Final = re.compile(rb"(\S+) ?")
# the common network forms in one match: stamp (RFC 3339, or RFC 3164's), host, `tag[pid]:`
_FAST_3339: Final = re.compile(
    rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:\d\d)) "
    rb"(\S*[^\s:]) ([^\s:\[\]]{1,128})(?:\[(\d{1,10})\])?:(?= |\Z)"
)
_FAST_3164: Final = re.compile(
    rb"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (\S*[^\s:]) ([^\s:\[\]]{1,128})(?:\[(\d{1,10})\])?:(?= |\Z)"
)
_BOM: Final = b"\xef\xbb\xbf"
SO_RXQ_OVFL: Final = getattr(socket, "SO_RXQ_OVFL", 40)  # Linux: count of datagrams the kernel dropped
RECV_BYTES: Final = 1 << 18
UDP_BATCH: Final = 512
POLL_S: Final = 0.25
DRAIN_S: Final = 5.0  # at stop, a connection is half-closed and read on until quiet or this long


def parse_address(text: str) -> tuple[str, int]:
    """`127.0.0.1:5140`, `[::1]:5140`, `:5140` (all interfaces) → (host, port). ValueError if not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdecimal() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not host:port (e.g. 127.0.0.1:5140, [::1]:5140)")
    host = host.removeprefix("[").removesuffix("]")
    return host or "0.0.0.0", int(port)


class MessageParser:
    """One syslog message (a TCP frame or a UDP datagram) → (program name, spool line)."""

    def __init__(self, tz: tzinfo | None, clock: Clock) -> None:
        self._tz = tz
        self._clock = clock
        self._stamps: dict[bytes, bytes] = {}

    def parse(self, msg: bytes, peer: bytes) -> tuple[bytes, bytes]:
        msg = msg.rstrip(b"\r\n\x00")
        pos = 0
        m = _PRI.match(msg)
        if m is not None:
            pos = m.end()
        if msg.startswith(b"1 ", pos):
            return self._rfc5424(msg, pos + 2, peer)
        fast = _FAST_3339.match(msg, pos) or _FAST_3164.match(msg, pos)
        if fast is not None:
            return self._fast(msg, fast)
        return self._rfc3164(msg, pos, peer)

    def _fast(self, msg: bytes, m: re.Match[bytes]) -> tuple[bytes, bytes]:
        """rsyslog's forward formats, high-precision or traditional, with a host and a tag."""
        if m.re is _FAST_3339:
            stamp, host, tag, pid = m.group(1, 2, 3, 4)
        else:
            mon, day, hh, mm, ss = m.group(1, 2, 3, 4, 5)
            stamp = self._convert(msg[m.start() : m.start(6) - 1], mon, day, hh, mm, ss, None)
            host, tag, pid = m.group(6, 7, 8)
        text = msg[m.end() :]
        if text.startswith((_BOM, b" " + _BOM)):
            text = text.replace(_BOM, b"", 1)
        return tag, spool_line(stamp, host, tag, pid, text)

    def _now(self) -> bytes:
        return rfc3339(int(self._clock.now() * 1_000_000)).encode()

    def _rfc5424(self, msg: bytes, pos: int, peer: bytes) -> tuple[bytes, bytes]:
        parts = msg[pos:].split(b" ", 5)
        if len(parts) < 5:
            return self._rfc3164(msg, pos, peer)
        stamp, host, app, procid, _msgid = parts[:5]
        rest = parts[5] if len(parts) > 5 else b""
        text = rest[_sd_end(rest) :]
        text = text[1:] if text.startswith(b" ") else text
        if text.startswith(_BOM):
            text = text[3:]
        if stamp == b"-" or _STAMP_3339.match(stamp) is None:
            stamp = self._now()
        tag = b"" if app == b"-" else app
        pid = procid if procid.isdigit() else None
        return tag, spool_line(stamp, peer if host == b"-" else host, tag, pid, text)

    def _rfc3164(self, msg: bytes, pos: int, peer: bytes) -> tuple[bytes, bytes]:
        stamp: bytes | None = None
        space = msg.find(b" ", pos)
        if space > pos and _STAMP_3339.match(msg, pos, space) is not None:  # rsyslog's high-precision variant
            stamp, pos = msg[pos:space], space + 1
        else:
            m = _STAMP_3164.match(msg, pos)
            if m is not None:
                mon, day, hh, mm, ss, fraction = m.group(1, 2, 3, 4, 5, 6)
                stamp, pos = self._convert(msg[pos : m.end() - 1], mon, day, hh, mm, ss, fraction), m.end()
                if msg[pos : pos + 4].isdigit() and msg[pos + 4 : pos + 5] == b" ":  # `Mmm dd hh:mm:ss yyyy`
                    pos += 5
        if stamp is None:
            stamp = self._now()
        host = peer
        tag_m = _tag_at(msg, pos)
        if tag_m is None:  # the first word is the host (a network message), the tag follows it
            word = _WORD.match(msg, pos)
            if word is not None:
                host, pos = word.group(1), word.end()
                tag_m = _tag_at(msg, pos)
        if tag_m is None:  # no `tag:`: the next word is the tag (rsyslog does the same)
            word = _WORD.match(msg, pos)
            if word is None:
                return b"", spool_line(stamp, host, b"-", None, b"")
            tag = word.group(1)[:128]
            return tag, spool_line(stamp, host, tag, None, msg[word.end() :])
        tag, pid = tag_m.group(1), tag_m.group(2)
        text = msg[tag_m.end() :]
        if text.startswith((_BOM, b" " + _BOM)):
            text = text.replace(_BOM, b"", 1)
        return tag, spool_line(stamp, host, tag, pid if pid and pid.isdigit() else None, text)

    def _convert(self, key: bytes, mon: bytes, day_text: bytes, hh: bytes, mm: bytes, ss: bytes,
                 fraction: bytes | None) -> bytes:
        """`Mmm dd hh:mm:ss[.ffffff]` → RFC 3339 in the receiver's zone, in the year of arrival."""
        found = self._stamps.get(key)
        if found is not None:
            return found
        month = MONTHS.get(mon.decode())
        if month is None:
            return self._now()
        day = int(day_text)
        try:
            secs = local_epoch(infer_year(month, day, self._clock.now()), month, day, int(hh), int(mm), int(ss),
                               self._tz)
        except TimestampError:
            return self._now()
        text = rfc3339(secs * 1_000_000, self._tz)
        text = text[:19] + ("." + fraction.decode() if fraction else "") + text[26:]
        if len(self._stamps) >= 4096:
            self._stamps.clear()
        self._stamps[key] = out = text.encode()
        return out


def _tag_at(msg: bytes, pos: int) -> re.Match[bytes] | None:
    """`tag:` or `tag[pid]:` at `pos`, followed by a space or the end."""
    m = _TAG.match(msg, pos)
    return m if m is not None and msg[m.end() : m.end() + 1] in (b" ", b"") else None


def _sd_end(rest: bytes) -> int:
    """Where RFC 5424 structured data ends: `-`, or `[id k="v" ...]...` with `\\]` escapes in values."""
    if rest.startswith(b"-"):
        return 1
    i = 0
    n = len(rest)
    while i < n and rest[i : i + 1] == b"[":
        i += 1
        quoted = False
        while i < n:
            c = rest[i : i + 1]
            if c == b"\\" and quoted:
                i += 2
                continue
            if c == b'"':
                quoted = not quoted
            elif c == b"]" and not quoted:
                i += 1
                break
            i += 1
    return i


class Framer:
    """RFC 6587 framing of one TCP stream: octet counting (`LEN SP MSG`) or newline-terminated, decided per
    frame by its first byte, as rsyslog does. Longer messages are cut to `max_bytes` (counted)."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._buf = b""
        self._skip = 0  # bytes left of an overlong octet-counted frame
        self._skip_line = False  # inside an overlong newline-framed message
        self.truncated = 0

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf + data if self._buf else data
        out: list[bytes] = []
        pos, n, limit = 0, len(buf), self._max
        while pos < n:
            if self._skip:
                take = min(self._skip, n - pos)
                pos += take
                self._skip -= take
                continue
            if self._skip_line:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    pos = n
                    break
                pos, self._skip_line = nl + 1, False
                continue
            c = buf[pos]
            if 48 <= c <= 57:  # a digit: octet counting, if `digits SP` follows
                sp = buf.find(b" ", pos, pos + 11)
                if sp < 0 and n - pos < 11:
                    break  # the length is not complete yet
                if sp > pos and buf[pos:sp].isdigit():
                    length = int(buf[pos:sp])
                    start = sp + 1
                    if length > limit:
                        if n - start < limit:
                            break
                        out.append(buf[start : start + limit])
                        self.truncated += 1
                        pos = start + limit
                        self._skip = length - limit
                        continue
                    if n - start < length:
                        break
                    out.append(buf[start : start + length])
                    pos = start + length
                    continue
            elif c in (10, 13, 0):  # an empty frame, or a delimiter after an octet-counted one
                pos += 1
                continue
            nl = buf.find(b"\n", pos)
            if nl < 0:
                if n - pos > limit:
                    out.append(buf[pos : pos + limit])
                    self.truncated += 1
                    self._skip_line = True
                    pos = n
                break
            if nl - pos > limit:
                out.append(buf[pos : pos + limit])
                self.truncated += 1
            else:
                out.append(buf[pos:nl])
            pos = nl + 1
        self._buf = buf[pos:]
        return out

    def rest(self) -> bytes:
        """A last message without its newline, when the peer closed the connection after it."""
        rest, self._buf = self._buf, b""
        return rest if rest.strip() else b""


@dataclass(frozen=True)
class TlsFiles:
    cert: str
    key: str
    ca: str | None = None


def tls_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert, files.key)
        if files.ca is not None:
            context.load_verify_locations(files.ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise SourceError(f"syslog TLS: cannot load the certificate or key: {exc}") from None
    return context


class SyslogReceiver:
    """Listens on TCP and/or UDP and spools what it receives. `start` binds (errors are SourceErrors), `stop`
    drains the connections into the spool and closes it."""

    def __init__(
        self,
        name: str,
        spool: Spool,
        routes: Mapping[str, str],
        clock: Clock,
        *,
        tcp: tuple[str, int] | None,
        udp: tuple[str, int] | None,
        tls: TlsFiles | None = None,
        tz: tzinfo | None = None,
        keep_unrouted: bool = False,
        max_message_bytes: int = 65_536,
        max_connections: int = 256,
        udp_buffer_bytes: int = 4 << 20,
        metrics: ReceiverMetrics | None = None,
    ) -> None:
        self.name = name
        self.spool = spool
        self._routes = {tag.encode(): route for tag, route in routes.items()}
        self._clock = clock
        self._tcp_address = tcp
        self._udp_address = udp
        self._tls = tls_context(tls) if tls is not None else None
        self._tz = tz
        self._keep_unrouted = keep_unrouted
        self._max_message = max_message_bytes
        self._max_connections = max_connections
        self._udp_buffer = udp_buffer_bytes
        self.metrics = metrics or ReceiverMetrics()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._connections: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._tcp: socket.socket | None = None
        self._udp: socket.socket | None = None
        self._unknown_tags: set[bytes] = set()
        self._parser = MessageParser(tz, clock)  # shared: its stamp cache is a plain dict
        self.tcp_address: tuple[str, int] | None = None  # as bound (port 0 → the port chosen)
        self.udp_address: tuple[str, int] | None = None

    # -- life cycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self.spool.open()
        try:
            if self._tcp_address is not None:
                self._tcp = _bind(socket.SOCK_STREAM, self._tcp_address)
                self._tcp.listen(128)
                self._tcp.settimeout(POLL_S)
                self.tcp_address = self._tcp.getsockname()[:2]
            if self._udp_address is not None:
                self._udp = _bind(socket.SOCK_DGRAM, self._udp_address)
                self._udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._udp_buffer)
                try:
                    self._udp.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
                except OSError:
                    log.info("kernel drops of UDP syslog datagrams cannot be counted here (no SO_RXQ_OVFL)")
                self._udp.settimeout(POLL_S)
                self.udp_address = self._udp.getsockname()[:2]
        except SourceError:
            self._close_sockets()
            self.spool.close()
            raise
        if self._tcp is not None:
            self._spawn(self._accept_loop, "tcp")
        if self._udp is not None:
            self._spawn(self._udp_loop, "udp")
        log.info("syslog receiver listening", extra={"receiver": self.name, "tcp": _show(self.tcp_address),
                                                     "udp": _show(self.udp_address), "tls": self._tls is not None})

    def stop(self) -> None:
        """Stop accepting, read what the peers already sent (until they are quiet), spool it, close."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=DRAIN_S + 5)
        with self._lock:
            connections = list(self._connections)
        for thread in connections:
            thread.join(timeout=DRAIN_S + 5)
        self._close_sockets()
        self.spool.close()

    def _spawn(self, target: Callable[[], None], what: str) -> None:
        thread = threading.Thread(target=target, name=f"pii-guard-syslog-{self.name}-{what}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _close_sockets(self) -> None:
        for sock in (self._tcp, self._udp):
            if sock is not None:
                sock.close()

    # -- TCP -----------------------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._tcp is not None
        while not self._stop.is_set():
            try:
                conn, addr = self._tcp.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if not self._stop.is_set():
                    log.error("syslog receiver %s: accept failed: %s", self.name, exc)
                    self._stop.wait(POLL_S)
                continue
            with self._lock:
                if len(self._connections) >= self._max_connections:
                    conn.close()
                    self.metrics.dropped(self.name, "tcp", "connections", 1)
                    log.warning("syslog receiver %s: connection from %s refused (max_connections)", self.name,
                                addr[0])
                    continue
                thread = threading.Thread(target=self._serve, args=(conn, addr[0]), daemon=True,
                                          name=f"pii-guard-syslog-{self.name}-conn")
                self._connections.add(thread)
            thread.start()
        self._tcp.close()  # no new connections while the open ones drain

    def _serve(self, conn: socket.socket, peer: str) -> None:
        protocol = "tls" if self._tls is not None else "tcp"
        framer = Framer(self._max_message)
        peer_b = peer.encode()
        try:
            if self._tls is not None:
                conn.settimeout(10.0)
                conn = self._tls.wrap_socket(conn, server_side=True)
            conn.settimeout(POLL_S)
            drain_until: float | None = None
            while True:
                if self._stop.is_set() and drain_until is None:
                    # half-close: the peer sees our FIN before its next send (rsyslog checks for it) and
                    # reconnects later, so nothing it sends after this is lost in our closed socket
                    drain_until = self._clock.monotonic() + DRAIN_S
                    with suppress(OSError):
                        conn.shutdown(socket.SHUT_WR)
                try:
                    data = conn.recv(RECV_BYTES)
                except TimeoutError:
                    if drain_until is not None:
                        break  # quiet: everything the peer sent is in
                    continue
                if not data:
                    last = framer.rest()
                    if last:
                        self._deliver([last], peer_b, protocol, block=True)
                    break
                frames = framer.feed(data)
                if framer.truncated:
                    self.metrics.dropped(self.name, protocol, "truncated", framer.truncated)
                    framer.truncated = 0
                if frames:
                    self._deliver(frames, peer_b, protocol, block=True)
                if drain_until is not None and self._clock.monotonic() >= drain_until:
                    break
        except (OSError, ssl.SSLError) as exc:
            if not isinstance(exc, ConnectionResetError):
                log.warning("syslog receiver %s: connection from %s ended: %s", self.name, peer, exc)
        finally:
            conn.close()
            with self._lock:
                self._connections.discard(threading.current_thread())

    # -- UDP -----------------------------------------------------------------------------------------------

    def _udp_loop(self) -> None:
        assert self._udp is not None
        sock = self._udp
        kernel_drops = 0
        ancillary = socket.CMSG_SPACE(4)
        while not self._stop.is_set():
            batch: list[tuple[bytes, bytes]] = []
            try:
                data, anc, _flags, addr = sock.recvmsg(65_535, ancillary)
            except TimeoutError:
                continue
            except OSError as exc:
                log.error("syslog receiver %s: UDP receive failed: %s", self.name, exc)
                self._stop.wait(POLL_S)
                continue
            kernel_drops = self._kernel_drops(anc, kernel_drops)
            batch.append((data, addr[0].encode()))
            while len(batch) < UDP_BATCH:
                try:
                    data, anc, _flags, addr = sock.recvmsg(65_535, ancillary, socket.MSG_DONTWAIT)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                kernel_drops = self._kernel_drops(anc, kernel_drops)
                batch.append((data, addr[0].encode()))
            self._deliver_datagrams(batch)

    def _kernel_drops(self, ancillary: list[tuple[int, int, bytes]], seen: int) -> int:
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(data) >= 4:
                total: int = struct.unpack("I", data[:4])[0]
                if total > seen:
                    self.metrics.dropped(self.name, "udp", "kernel", total - seen)
                return total
        return seen

    def _deliver_datagrams(self, batch: list[tuple[bytes, bytes]]) -> None:
        by_peer: dict[bytes, list[bytes]] = {}
        for data, peer in batch:
            if len(data) > self._max_message:
                data = data[: self._max_message]
                self.metrics.dropped(self.name, "udp", "truncated", 1)
            by_peer.setdefault(peer, []).append(data)
        lines: dict[str, list[bytes]] = {}
        counted = 0
        for peer, frames in by_peer.items():
            counted += self._route(frames, peer, "udp", lines)
        if not lines:
            return
        if self.spool.write(lines, block=False):
            self.metrics.received(self.name, "udp", counted)
        else:
            self.metrics.dropped(self.name, "udp", "full", counted)
        self.metrics.backlog(self.name, self.spool.backlog)

    # -- both ----------------------------------------------------------------------------------------------

    def _deliver(self, frames: list[bytes], peer: bytes, protocol: str, *, block: bool) -> None:
        lines: dict[str, list[bytes]] = {}
        counted = self._route(frames, peer, protocol, lines)
        if lines:
            self.spool.write(lines, block=block, stop=self._stop)
            self.metrics.received(self.name, protocol, counted)
            self.metrics.backlog(self.name, self.spool.backlog)

    def _route(self, frames: list[bytes], peer: bytes, protocol: str, lines: dict[str, list[bytes]]) -> int:
        """Parse and route `frames` into `lines` (per route); return how many were routed."""
        parser = self._parser
        routes = self._routes
        routed = unrouted = 0
        for frame in frames:
            if not frame:
                continue
            tag, line = parser.parse(frame, peer)
            route = routes.get(tag)
            if route is None:
                unrouted += 1
                self._note_unknown(tag)
                if not self._keep_unrouted:
                    continue
                route = UNROUTED
            else:
                routed += 1
            found = lines.get(route)
            if found is None:
                lines[route] = [line]
            else:
                found.append(line)
        if unrouted:
            self.metrics.dropped(self.name, protocol, "unrouted", unrouted)
        return routed

    def _note_unknown(self, tag: bytes) -> None:
        if tag not in self._unknown_tags and len(self._unknown_tags) < 1000:
            self._unknown_tags.add(tag)
            log.info("syslog receiver %s: messages of program %r have no route (counted as unrouted)", self.name,
                     tag.decode("utf-8", "replace"))


def _bind(kind: int, address: tuple[str, int]) -> socket.socket:
    host, port = address
    try:
        infos = socket.getaddrinfo(host, port, type=kind, flags=socket.AI_PASSIVE)
        family, _, _, _, sockaddr = infos[0]
        sock = socket.socket(family, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
    except OSError as exc:
        what = "TCP" if kind == socket.SOCK_STREAM else "UDP"
        raise SourceError(f"syslog receiver: cannot listen on {what} {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _show(address: tuple[str, int] | None) -> str:
    return f"{address[0]}:{address[1]}" if address is not None else "off"


class Receiver(Protocol):
    name: str
    spool: Spool

    def start(self) -> None: ...
    def stop(self) -> None: ...


def receivers_for(
    plans: tuple[ReceiverPlan, ...],
    state_db: Path,
    clock: Clock,
    metrics: ReceiverMetrics | None = None,
    on_write: Callable[[], None] | None = None,
) -> list[Receiver]:
    """The syslog listeners and journal readers of the config, not started yet."""
    from pii_guard.config.models import SyslogReceiverConfig

    made: list[Receiver] = []
    for plan in plans:
        config = plan.config
        routes = [r.name for r in plan.routes]
        keep = isinstance(config, SyslogReceiverConfig) and config.unrouted == "keep"
        spool = Spool(plan.spool_dir, routes, state_db, clock, max_file_bytes=int(config.spool.max_file_mb * 2**20),
                      max_backlog_bytes=int(config.spool.max_backlog_mb * 2**20), fsync=config.spool.fsync,
                      keep_unrouted=keep, on_write=on_write,
                      on_backlog=partial(metrics.backlog, config.name) if metrics is not None else None)
        if isinstance(config, SyslogReceiverConfig):
            tls = TlsFiles(str(plan.tls[0]), str(plan.tls[1]), str(plan.tls[2]) if plan.tls[2] else None) \
                if plan.tls is not None else None
            made.append(SyslogReceiver(
                config.name, spool, plan.tag_routes(), clock,
                tcp=parse_address(config.tcp) if config.tcp is not None else None,
                udp=parse_address(config.udp) if config.udp is not None else None,
                tls=tls, tz=plan.tz, keep_unrouted=keep, max_message_bytes=config.max_message_bytes,
                max_connections=config.max_connections, udp_buffer_bytes=config.udp_buffer_kb * 1024,
                metrics=metrics))
        else:
            made.append(JournalSource(config.name, spool, plan.tag_routes(), clock, journalctl=config.journalctl,
                                      args=config.args, start_at=config.start_at, metrics=metrics))
    return made
