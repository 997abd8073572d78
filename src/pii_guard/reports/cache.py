"""Per-day aggregates kept between reports (state_dir/report-cache.db), so that a day's events are grouped once:
the daily job pays for yesterday, and the weekly report, a monthly one and every lookback reuse those days.

A cached day is used only while the store still holds exactly the events it was computed from: each entry keeps
the count, the largest and the sum of the `seq` of its events (read through the time index, without touching
the rows), and a day whose events changed (late lines, a replay, retention) is computed again.

`VERSION` is the shape of what the entries hold (the columns of a rollup row ...), kept as the file's
`user_version`: a file of another version is emptied when opened, so its days are computed again."""

from __future__ import annotations

import sqlite3
import threading
import zlib
from pathlib import Path
from typing import Any

import orjson

Signature = tuple[int, int, int]

# 2: rollup rows end with the accesses of known volume (or refused), the first of unknown volume, and the
#    honeytoken accesses (reports/queries.py _ROLLUP)
VERSION = 2

_SCHEMA = """CREATE TABLE IF NOT EXISTS pieces (
    kind TEXT NOT NULL,
    variant TEXT NOT NULL,
    start_us INTEGER NOT NULL,
    end_us INTEGER NOT NULL,
    events INTEGER NOT NULL,
    max_seq INTEGER NOT NULL,
    sum_seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (kind, variant, start_us, end_us)
) WITHOUT ROWID"""


class DayCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.execute(_SCHEMA)
        self._upgrade()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def _upgrade(self) -> None:
        """Empty a cache written by another version: its entries have another shape."""
        if self._conn.execute("PRAGMA user_version").fetchone()[0] == VERSION:
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:  # looked at again under the write lock: another process may have upgraded it meanwhile
            if self._conn.execute("PRAGMA user_version").fetchone()[0] != VERSION:
                self._conn.execute("DELETE FROM pieces")
                self._conn.execute(f"PRAGMA user_version={VERSION}")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def get(self, kind: str, variant: str, start_us: int, end_us: int, signature: Signature) -> Any | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT events, max_seq, sum_seq, data FROM pieces WHERE kind=? AND variant=? AND start_us=? AND "
                "end_us=?", (kind, variant, start_us, end_us)).fetchone()
        if row is None or tuple(row[:3]) != signature:
            self.misses += 1
            return None
        self.hits += 1
        return orjson.loads(zlib.decompress(row[3]))

    def put(self, kind: str, variant: str, start_us: int, end_us: int, signature: Signature, data: Any) -> None:
        blob = zlib.compress(orjson.dumps(data), 1)
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO pieces (kind, variant, start_us, end_us, events, max_seq, sum_seq, data)"
                " VALUES (?,?,?,?,?,?,?,?)", (kind, variant, start_us, end_us, *signature, blob))

    def forget_before(self, before_us: int) -> int:
        with self._lock:
            return self._conn.execute("DELETE FROM pieces WHERE end_us <= ?", (before_us,)).rowcount

    def close(self) -> None:
        self._conn.close()
