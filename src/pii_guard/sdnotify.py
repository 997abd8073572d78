"""systemd's sd_notify protocol: one datagram to $NOTIFY_SOCKET. The PyPI `sdnotify` package is unmaintained
since 2017 and systemd's own binding needs libsystemd headers to build; the protocol is a few lines."""

from __future__ import annotations

import os
import socket


class SystemdNotifier:
    def __init__(self, socket_path: str | None = None) -> None:
        path = socket_path if socket_path is not None else os.environ.get("NOTIFY_SOCKET", "")
        if path.startswith("@"):
            path = "\0" + path[1:]  # abstract namespace
        self._path = path
        self.watchdog_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)

    @property
    def enabled(self) -> bool:
        return bool(self._path)

    def notify(self, message: str) -> bool:
        if not self._path:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(self._path)
                sock.sendall(message.encode())
        except OSError:
            return False
        return True
