"""Jinja2 pages: autoescaped everywhere (log text is untrusted: a user or object named `<script>` prints as
text), undefined names are errors, and the helpers the templates share (times, sizes, numbers)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from pii_guard import __version__
from pii_guard.model import format_timestamp
from pii_guard.sizes import human_bytes


def _ts(us: int | None) -> str:
    """µs since the epoch → `2026-11-27 16:20:40Z`."""
    if us is None:
        return "-"
    return format_timestamp(int(us))[:19].replace("T", " ") + "Z"


def _iso(text: object) -> str:
    """An ISO timestamp (search results, timelines) → `2026-11-27 16:20:40.910Z` (milliseconds)."""
    value = str(text or "")
    if not value:
        return "-"
    head, dot, rest = value.replace("T", " ").partition(".")
    return f"{head}.{rest[:3]}Z" if dot else value


def _size(n: object) -> str:
    return human_bytes(n) if isinstance(n, int) else "-"


def _num(n: object) -> str:
    return f"{n:,}" if isinstance(n, int) else ("-" if n is None else str(n))


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


class Renderer:
    def __init__(self) -> None:
        self.env = Environment(loader=PackageLoader("pii_guard.web", "templates"),
                               autoescape=select_autoescape(default=True, default_for_string=True),
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(ts=_ts, iso=_iso, iso_us=format_timestamp, size=_size, num=_num, cell=_cell)
        self.env.globals["version"] = __version__

    def html(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        body = self.env.get_template(template).render(**values)
        return HTMLResponse(body, status_code=status)
