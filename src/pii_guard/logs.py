"""Structured log lines on stderr (journald keeps them): `ts=… level=… logger=… msg="…" key=value …`."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

from pii_guard.terminal import printable

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _quote(value: object) -> str:
    """logfmt's value: quoted when it holds a space, quote or `=`; control and direction characters escaped
    (a user name from a log may hold an escape sequence, terminal.printable)."""
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n'):
        return '"' + printable(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'
    return printable(text)


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        parts = [f"ts={ts}", f"level={record.levelname.lower()}", f"logger={record.name}",
                 f"msg={_quote(record.getMessage())}"]
        parts += [f"{key}={_quote(value)}" for key, value in vars(record).items() if key not in _STANDARD]
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger("pii_guard")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
