"""Serving the console with uvicorn: in the foreground (`pii-guard web`) or on a thread of the daemon
(`web.serve_from_daemon`). The socket is bound here first, so a taken port is a clean error and not a
uvicorn exit."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import uvicorn

from pii_guard.errors import PiiGuardError

log = logging.getLogger("pii_guard.web")


class WebError(PiiGuardError):
    """The console cannot be served (address taken, bad address)."""


def bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise WebError(f"web.bind {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise WebError(f"cannot listen on {host}:{port}: {exc.strerror}",
                       hint="set web.port (or --port) to a free port") from None
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its signal handling: it re-raises SIGTERM after a graceful stop, which would end the
    process by the signal instead of with exit 0. The caller handles signals (a thread gets none)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(app: Any) -> uvicorn.Server:
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", server_header=False,
                            proxy_headers=False, forwarded_allow_ips="")  # proxies: see web/security.py
    return _Server(config)


def serve_forever(app: Any, sock: socket.socket) -> None:
    """Run in the foreground; SIGINT or SIGTERM finish the requests in flight and return (a second one stops
    at once)."""
    server = _server(app)

    def stop(signum: int, frame: FrameType | None) -> None:
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    host, port = sock.getsockname()[:2]
    log.info("web console listening", extra={"address": f"{host}:{port}"})
    server.run(sockets=[sock])
    log.info("web console stopped")


class WebThread:
    """The console on its own thread (the daemon's): started once, stopped at shutdown."""

    def __init__(self, app: Any, sock: socket.socket, on_stop: Callable[[], None] | None = None) -> None:
        self._server = _server(app)
        self._sock = sock
        self._on_stop = on_stop
        self._thread = threading.Thread(target=self._run, name="pii-guard-web", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except Exception:
            log.exception("web console stopped")

    def start(self, wait_s: float = 10.0) -> None:
        self._thread.start()
        for _ in range(int(wait_s * 100)):
            if self._server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        host, port = self.address
        if self._server.started:
            log.info("web console listening", extra={"address": f"{host}:{port}"})
        else:
            log.error("web console did not start", extra={"address": f"{host}:{port}"})

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
        if self._on_stop is not None:
            self._on_stop()
