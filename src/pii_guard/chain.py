"""Hash chains over append-only tables (the monitor's audit log, the incident timelines): each row carries the
hash of the previous row and its own, so an edited or deleted row breaks the chain at that point. Appends
must run inside a write transaction (BEGIN IMMEDIATE), so two writers cannot fork the chain."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

GENESIS = "0" * 64


def link(prev_hash: str, values: Sequence[object]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\x1e" + orjson.dumps(list(values))).hexdigest()


def append(conn: sqlite3.Connection, table: str, columns: Sequence[str], values: Sequence[object]) -> str:
    """Insert one row at the end of `table`'s chain; returns its hash."""
    row = conn.execute(f"SELECT hash FROM {table} ORDER BY seq DESC LIMIT 1").fetchone()
    prev = str(row[0]) if row and row[0] else GENESIS
    digest = link(prev, values)
    names = ", ".join([*columns, "prev_hash", "hash"])
    marks = ",".join("?" * (len(columns) + 2))
    conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", [*values, prev, digest])
    return digest


@dataclass(frozen=True)
class ChainReport:
    table: str
    rows: int
    broken_at: int | None  # seq of the first row that does not follow from the one before it
    reason: str
    head: str  # hash of the last row: keep it elsewhere to detect a truncated tail later


def verify(conn: sqlite3.Connection, table: str, columns: Sequence[str]) -> ChainReport:
    prev = GENESIS
    rows = 0
    cursor = conn.execute(f"SELECT seq, prev_hash, hash, {', '.join(columns)} FROM {table} ORDER BY seq")
    for seq, prev_hash, digest, *values in cursor:
        rows += 1
        if prev_hash != prev:
            return ChainReport(table, rows, int(seq), "a row before it was deleted or changed", prev)
        if link(prev, values) != digest:
            return ChainReport(table, rows, int(seq), "this row was changed", prev)
        prev = digest
    return ChainReport(table, rows, None, "", prev)
