"""Byte counts as people read them, for reports, messages and the console."""

from __future__ import annotations


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'; below 1 KiB the exact count ('512 B')."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} B"
