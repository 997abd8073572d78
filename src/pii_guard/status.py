"""`pii-guard status`: where each followed file stands, from the checkpoints in the state database."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pii_guard.clock import Clock
from pii_guard.sources.files import FINGERPRINT_BYTES, fingerprint_of
from pii_guard.store.state import StateStore


def file_status(state_path: Path, clock: Clock) -> list[dict[str, Any]]:
    if not state_path.exists():
        return []
    state = StateStore(state_path)
    try:
        checkpoints = state.checkpoints()
    finally:
        state.close()
    now_us = int(clock.now() * 1_000_000)
    rows = []
    for cp in checkpoints:
        size, current = cp.size, False
        try:
            with open(cp.path, "rb") as fh:
                current = fingerprint_of(fh.read(FINGERPRINT_BYTES)).hex() == cp.fingerprint
                if current:
                    size = os.fstat(fh.fileno()).st_size
        except OSError:
            pass
        lag_bytes = max(0, size - cp.offset)
        lag_seconds = (now_us - cp.last_event_us) / 1e6 if lag_bytes and cp.last_event_us else 0.0
        rows.append({"path": cp.path, "source": cp.source, "fingerprint": cp.fingerprint, "offset": cp.offset,
                     "size": size, "lag_bytes": lag_bytes, "lag_seconds": round(lag_seconds, 3),
                     "current": current})
    return rows


def incident_status(state_path: Path) -> dict[str, Any]:
    """Open incidents by severity and the outbox by state: what `status` shows under the files."""
    if not state_path.exists():
        return {"open": {}, "outbox": {}}
    state = StateStore(state_path)
    try:
        conn = state.connection
        open_by = dict(conn.execute("SELECT severity, count(*) FROM incidents WHERE status IN ('open',"
                                    " 'acknowledged') GROUP BY severity").fetchall())
        outbox = dict(conn.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
    finally:
        state.close()
    return {"open": open_by, "outbox": outbox}
