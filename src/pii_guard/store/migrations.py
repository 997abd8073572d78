"""Schema versions of the SQLite event store. Append a step; never edit a released one."""

from __future__ import annotations

from typing import Final

EVENTS_MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: events, their categories and record ids, dead letters
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        ts INTEGER NOT NULL,
        dataset TEXT NOT NULL,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        user_name TEXT,
        user_roles TEXT,
        user_known INTEGER,
        department TEXT,
        source_ip TEXT,
        source_port INTEGER,
        zone TEXT,
        host TEXT,
        object TEXT,
        categories TEXT,
        honeytoken INTEGER NOT NULL DEFAULT 0,
        rows INTEGER,
        bytes INTEGER,
        command TEXT,
        statement TEXT,
        error_code TEXT,
        record_ids TEXT,
        fields TEXT,
        original TEXT NOT NULL,
        source TEXT
    );
    CREATE INDEX events_ts ON events(ts);
    CREATE INDEX events_user_ts ON events(user_name, ts);
    CREATE INDEX events_object_ts ON events(object, ts);
    CREATE INDEX events_ip_ts ON events(source_ip, ts);
    CREATE TABLE event_categories (
        category TEXT NOT NULL,
        ts INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        PRIMARY KEY (category, ts, event_id)
    ) WITHOUT ROWID;
    CREATE TABLE event_records (
        record_id TEXT NOT NULL,
        ts INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        PRIMARY KEY (record_id, ts, event_id)
    ) WITHOUT ROWID;
    CREATE TABLE dead_letters (
        seq INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        offset INTEGER NOT NULL,
        format TEXT NOT NULL,
        reason TEXT NOT NULL,
        text TEXT NOT NULL,
        seen INTEGER NOT NULL,
        UNIQUE (fingerprint, offset)
    );
    """,
)

STATE_MIGRATIONS: Final[tuple[str, ...]] = (
    # 1: source checkpoints, detector windows, engine state, matches
    """
    CREATE TABLE checkpoints (
        fingerprint TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        offset INTEGER NOT NULL,
        updated INTEGER NOT NULL
    );
    CREATE TABLE window_state (
        store TEXT NOT NULL,
        key TEXT NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (store, key)
    ) WITHOUT ROWID;
    CREATE TABLE engine_state (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    CREATE TABLE matches (
        id TEXT PRIMARY KEY,
        rule_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        ts INTEGER NOT NULL,
        user_name TEXT,
        object TEXT,
        source TEXT NOT NULL,
        doc BLOB NOT NULL
    );
    CREATE INDEX matches_ts ON matches(ts);
    CREATE INDEX matches_source ON matches(source, ts);
    """,
    # 2: per-file progress for `status` and lag metrics; parser state (sessions joined across lines)
    """
    ALTER TABLE checkpoints ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE checkpoints ADD COLUMN last_event_us INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE checkpoints ADD COLUMN source TEXT NOT NULL DEFAULT '';
    CREATE TABLE parser_state (
        fingerprint TEXT PRIMARY KEY,
        state BLOB NOT NULL
    );
    """,
    # 3: the reorder buffer, one row per waiting event (saved incrementally, not as one blob per batch)
    """
    CREATE TABLE reorder_buffer (
        seq INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        source TEXT NOT NULL,
        event BLOB NOT NULL
    );
    DELETE FROM engine_state WHERE name = 'pending';
    """,
)
