"""The state database: detector windows, the engine's reorder buffer, matches and source checkpoints,
written in ONE transaction per batch (synchronous=FULL: alerts depend on it). Events go to the event store
first; a crash between the two replays from the last checkpoint and produces the same result."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from pii_guard.detection.engine import EngineChanges
from pii_guard.errors import StoreError
from pii_guard.incidents.book import IncidentBook
from pii_guard.model import Match
from pii_guard.store.migrations import STATE_MIGRATIONS
from pii_guard.store.sqlite import connect, migrate


class Checkpoint(NamedTuple):
    fingerprint: str
    path: str
    offset: int
    size: int = 0  # file size when the checkpoint was taken (lag in bytes = size - offset)
    last_event_us: int = 0  # event time of the last event read from the file
    source: str = ""  # the configured source's name


class StateStore:
    def __init__(self, path: Path, synchronous: str = "FULL", incidents: IncidentBook | None = None) -> None:
        self.path = path
        self.incidents = incidents
        self._conn = connect(path, synchronous, "state database")
        try:
            migrate(self._conn, STATE_MIGRATIONS, f"state database {path}")
        except Exception as exc:  # sqlite3.Error, typed at the boundary below
            raise StoreError(f"cannot prepare state database {path}: {exc}") from None

    def commit(
        self,
        changes: EngineChanges,
        matches: Sequence[tuple[Match, str]],
        checkpoints: Iterable[Checkpoint],
        now_us: int,
        parser_states: dict[str, Any] | None = None,
    ) -> int:
        """Save one batch's state; returns how many matches were new."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")  # the write lock up front: responders' commands write here too
            if changes.windows:
                conn.executemany(
                    "INSERT OR REPLACE INTO window_state (store, key, state) VALUES (?,?,?)",
                    [(s, k, orjson.dumps(v)) for (s, k), v in changes.windows.items()],
                )
            if changes.deleted:
                conn.executemany("DELETE FROM window_state WHERE store=? AND key=?", list(changes.deleted))
            if changes.released:
                conn.executemany("DELETE FROM reorder_buffer WHERE seq=?", [(seq,) for seq in changes.released])
            if changes.buffered:
                conn.executemany("INSERT OR REPLACE INTO reorder_buffer (seq, ts, source, event) VALUES (?,?,?,?)",
                                 [(seq, t, src, orjson.dumps(ev)) for seq, t, src, ev in changes.buffered])
            conn.executemany(
                "INSERT OR REPLACE INTO engine_state (name, value) VALUES (?,?)",
                [(k, orjson.dumps(v)) for k, v in changes.engine.items()],
            )
            fresh = self._new_matches(matches)  # a replay after a crash finds its matches already here
            conn.executemany(
                "INSERT INTO matches (id, rule_id, kind, severity, ts, user_name, object, source, doc)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                [(m.id, m.rule_id, m.kind, m.severity, m.time_us, m.user, m.object, src, orjson.dumps(m.to_json()))
                 for m, src in fresh],
            )
            new = len(fresh)
            if self.incidents is not None and fresh:
                self.incidents.apply(conn, [m for m, _ in fresh], now_us)
            conn.executemany(
                "INSERT OR REPLACE INTO checkpoints (fingerprint, path, offset, updated, size, last_event_us, source)"
                " VALUES (?,?,?,?,?,?,?)",
                [(c.fingerprint, c.path, c.offset, now_us, c.size, c.last_event_us, c.source) for c in checkpoints],
            )
            if parser_states:
                conn.executemany("INSERT OR REPLACE INTO parser_state (fingerprint, state) VALUES (?,?)",
                                 [(fp, orjson.dumps(st)) for fp, st in parser_states.items() if st is not None])
                conn.executemany("DELETE FROM parser_state WHERE fingerprint=?",
                                 [(fp,) for fp, st in parser_states.items() if st is None])
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"cannot write state database {self.path}: {exc}") from None
        return new

    def _new_matches(self, matches: Sequence[tuple[Match, str]]) -> list[tuple[Match, str]]:
        """The matches not stored yet, each once, in their order."""
        stored: set[str] = set()
        ids = list(dict.fromkeys(m.id for m, _ in matches))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            stored.update(row[0] for row in self._conn.execute(f"SELECT id FROM matches WHERE id IN ({marks})",
                                                               chunk))
        fresh = []
        for m, src in matches:
            if m.id not in stored:
                stored.add(m.id)
                fresh.append((m, src))
        return fresh

    def checkpoint(self, fingerprint: str) -> int:
        found = self.find_checkpoint(fingerprint)
        return found if found is not None else 0

    def find_checkpoint(self, fingerprint: str) -> int | None:
        row = self._conn.execute("SELECT offset FROM checkpoints WHERE fingerprint=?", (fingerprint,)).fetchone()
        return int(row[0]) if row else None

    def checkpoints(self) -> list[Checkpoint]:
        rows = self._conn.execute(
            "SELECT fingerprint, path, offset, size, last_event_us, source FROM checkpoints ORDER BY path"
        ).fetchall()
        return [Checkpoint(*row) for row in rows]

    def parser_state(self, fingerprint: str) -> Any:
        row = self._conn.execute("SELECT state FROM parser_state WHERE fingerprint=?", (fingerprint,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def parser_states_under(self, prefix: str) -> dict[str, Any]:
        """The saved states whose key starts with `prefix`, by the rest of the key."""
        rows = self._conn.execute("SELECT fingerprint, state FROM parser_state WHERE substr(fingerprint, 1, ?) = ?",
                                  (len(prefix), prefix)).fetchall()
        return {key[len(prefix):]: orjson.loads(state) for key, state in rows}

    def load_windows(self) -> list[tuple[str, str, list[Any]]]:
        rows = self._conn.execute("SELECT store, key, state FROM window_state").fetchall()
        return [(s, k, orjson.loads(v)) for s, k, v in rows]

    def load_buffer(self) -> list[tuple[int, int, str, list[Any]]]:
        rows = self._conn.execute("SELECT seq, ts, source, event FROM reorder_buffer").fetchall()
        return [(seq, t, src, orjson.loads(ev)) for seq, t, src, ev in rows]

    def load_engine(self) -> dict[str, Any]:
        rows = self._conn.execute("SELECT name, value FROM engine_state").fetchall()
        return {name: orjson.loads(value) for name, value in rows}

    def matches_for_sources(self, sources: Sequence[str]) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(sources))
        rows = self._conn.execute(
            f"SELECT doc FROM matches WHERE source IN ({marks}) ORDER BY ts, id", list(sources)
        ).fetchall()
        return [orjson.loads(r[0]) for r in rows]

    def count_matches(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM matches").fetchone()[0])

    @property
    def connection(self) -> sqlite3.Connection:
        """The writer connection, for the incident actions that must share its transactions."""
        return self._conn

    def close(self) -> None:
        self._conn.close()
