"""Prometheus metrics of the live loop, on their own registry (no global state), served with /healthz."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from pii_guard.errors import ConfigError
from pii_guard.live import Metrics
from pii_guard.sources.spool import ReceiverMetrics


class PrometheusMetrics(Metrics, ReceiverMetrics):
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._lines = Counter("pii_guard_lines_read", "Log lines read", ["source"], registry=r)
        self._parsed = Counter("pii_guard_events_parsed", "Access events parsed", ["source"], registry=r)
        self._failed = Counter("pii_guard_parse_failures", "Records not parsed (dead letters)", ["source"],
                               registry=r)
        self._stored = Counter("pii_guard_events_stored", "Events committed to the store", ["source"], registry=r)
        self._matches = Counter("pii_guard_matches", "Policy matches", ["rule"], registry=r)
        self._batch = Histogram("pii_guard_batch_seconds", "Time to commit one batch", registry=r,
                                buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self._lag_bytes = Gauge("pii_guard_file_lag_bytes", "Bytes written but not yet read", ["path"], registry=r)
        self._lag_seconds = Gauge("pii_guard_file_lag_seconds", "Age of the last event read while behind",
                                  ["path"], registry=r)
        self._paused = Gauge("pii_guard_store_paused", "1 while the store refuses writes (disk full)", registry=r)
        self._notified = Counter("pii_guard_notifications", "Notification attempts by notifier and outcome "
                                 "(delivered, retry, failed)", ["target", "outcome"], registry=r)
        self._received = Counter("pii_guard_receiver_messages", "Messages a receiver spooled (a TCP message counts "
                                 "once its spool write returned)", ["receiver", "protocol"], registry=r)
        self._dropped = Counter("pii_guard_receiver_dropped", "Messages a receiver did not spool, by reason: full "
                                "(UDP while the spool is full), kernel (UDP the kernel dropped), unrouted (no route "
                                "for the program), truncated (cut to max_message_bytes, still spooled), connections "
                                "(TCP refused at max_connections)", ["receiver", "protocol", "reason"], registry=r)
        self._backlog = Gauge("pii_guard_receiver_backlog_bytes", "Spooled bytes not yet stored", ["receiver"],
                              registry=r)

    def lines(self, source: str, n: int) -> None:
        self._lines.labels(source).inc(n)

    def parsed(self, source: str, n: int) -> None:
        self._parsed.labels(source).inc(n)

    def failed(self, source: str, n: int) -> None:
        self._failed.labels(source).inc(n)

    def stored(self, source: str, n: int) -> None:
        self._stored.labels(source).inc(n)

    def matched(self, rule: str) -> None:
        self._matches.labels(rule).inc()

    def batch_seconds(self, seconds: float) -> None:
        self._batch.observe(seconds)

    def file_lag(self, path: str, lag_bytes: int, lag_seconds: float) -> None:
        self._lag_bytes.labels(path).set(lag_bytes)
        self._lag_seconds.labels(path).set(lag_seconds)

    def store_full(self, paused: bool) -> None:
        self._paused.set(1 if paused else 0)

    def notified(self, target: str, outcome: str, n: int) -> None:
        self._notified.labels(target, outcome).inc(n)

    def received(self, receiver: str, protocol: str, n: int) -> None:
        self._received.labels(receiver, protocol).inc(n)

    def dropped(self, receiver: str, protocol: str, reason: str, n: int) -> None:
        self._dropped.labels(receiver, protocol, reason).inc(n)

    def backlog(self, receiver: str, nbytes: int) -> None:
        self._backlog.labels(receiver).set(nbytes)


def serve(address: str, metrics: PrometheusMetrics, healthy: Callable[[], bool]) -> ThreadingHTTPServer:
    """Serve /metrics and /healthz on `host:port` in a daemon thread."""
    host, _, port = address.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, status, ctype = generate_latest(metrics.registry), 200, CONTENT_TYPE_LATEST
            elif self.path == "/healthz":
                ok = healthy()
                body, status, ctype = (b"ok\n" if ok else b"stalled\n"), (200 if ok else 503), "text/plain"
            else:
                body, status, ctype = b"not found\n", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    try:
        server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    except OSError as exc:
        raise ConfigError(f"daemon.listen: cannot listen on {host or '127.0.0.1'}:{port}: {exc.strerror}",
                          hint='set daemon.listen to a free port, or "" to serve no metrics') from None
    threading.Thread(target=server.serve_forever, name="pii-guard-http", daemon=True).start()
    return server
