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
    # 2: de-duplication on `id_key`, a 64-bit integer taken from the id (`pii_event_key`, registered by
    #    store/sqlite.py: `event_key`), instead of a UNIQUE index on the 32-character text id; the id is kept,
    #    unindexed. Rows whose key another event already holds (a 64-bit collision) keep NULL. The user, object
    #    and IP indexes leave out NULLs. The side tables are unchanged.
    """
    CREATE TABLE events_v2 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        id_key INTEGER,
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
    INSERT INTO events_v2 (seq, id, id_key, ts, dataset, action, outcome, user_name, user_roles, user_known,
        department, source_ip, source_port, zone, host, object, categories, honeytoken, rows, bytes, command,
        statement, error_code, record_ids, fields, original, source)
    SELECT seq, id, pii_event_key(id), ts, dataset, action, outcome, user_name, user_roles, user_known,
        department, source_ip, source_port, zone, host, object, categories, honeytoken, rows, bytes, command,
        statement, error_code, record_ids, fields, original, source
    FROM events ORDER BY seq;
    DROP TABLE events;
    ALTER TABLE events_v2 RENAME TO events;
    CREATE INDEX events_key_all ON events(id_key);
    UPDATE events SET id_key = NULL WHERE seq IN (
        SELECT e.seq FROM (SELECT id_key, min(seq) AS first FROM events GROUP BY id_key HAVING count(*) > 1) d
        JOIN events e ON e.id_key = d.id_key AND e.seq > d.first);
    DROP INDEX events_key_all;
    CREATE UNIQUE INDEX events_key ON events(id_key);
    CREATE INDEX events_ts ON events(ts);
    CREATE INDEX events_user_ts ON events(user_name, ts) WHERE user_name IS NOT NULL;
    CREATE INDEX events_object_ts ON events(object, ts) WHERE object IS NOT NULL;
    CREATE INDEX events_ip_ts ON events(source_ip, ts) WHERE source_ip IS NOT NULL;
    """,
    # 3: events, rows and bytes per user and UTC day, kept with the events (store/sqlite.py) and the retention
    #    pruning (reports/queries.py), so "top users by volume" over whole days reads days, not events
    """
    CREATE TABLE user_days (
        day INTEGER NOT NULL,
        user_name TEXT NOT NULL,
        events INTEGER NOT NULL,
        rows INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        PRIMARY KEY (day, user_name)
    ) WITHOUT ROWID;
    INSERT INTO user_days (day, user_name, events, rows, bytes)
    SELECT ts / 86400000000, user_name, count(*), sum(coalesce(rows, 0)), sum(coalesce(bytes, 0))
    FROM events WHERE user_name IS NOT NULL AND ts >= 0 GROUP BY 1, 2;
    """,
    # 4: de-duplication on (ts, id_key) instead of id_key alone. A key is a hash, so every batch wrote into
    #    pages all over a UNIQUE index on it, one page per event once the index outgrew the cache: the store
    #    slowed from 40,000 to 16,000 events/s between 1 and 4 million events. Keys within their time are
    #    written where the batch's times are. The new index also serves what events_ts served; a replay
    #    re-reads a record into the same time, so it is still recognised. Rows are unique already. Events
    #    whose record has no time of its own (model.TIME_FROM) get a time that changes when they are read
    #    again: their keys are also kept in untimed_keys, which de-duplicates them on the key alone. A row left
    #    without a key by step 2 (its key was taken) gets it back where its time is free of it.
    """
    DROP INDEX events_key;
    CREATE UNIQUE INDEX events_ts_key ON events(ts, id_key);
    UPDATE events SET id_key = pii_event_key(id)
    WHERE seq IN (SELECT min(n.seq) FROM events n WHERE n.id_key IS NULL GROUP BY n.ts, pii_event_key(n.id))
    AND NOT EXISTS (SELECT 1 FROM events k WHERE k.ts = events.ts AND k.id_key = pii_event_key(events.id));
    DROP INDEX events_ts;
    CREATE TABLE untimed_keys (id_key INTEGER PRIMARY KEY, id TEXT NOT NULL, ts INTEGER NOT NULL);
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
    # 4: incidents (the embedded ticket system), their evidence and timeline, silences, the notification outbox
    """
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        group_key TEXT NOT NULL,
        silence_key TEXT NOT NULL,
        rule_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        status TEXT NOT NULL,
        assignee TEXT,
        title TEXT NOT NULL,
        user_name TEXT,
        opened_us INTEGER NOT NULL,
        updated_us INTEGER NOT NULL,
        acknowledged_us INTEGER,
        closed_us INTEGER,
        first_us INTEGER NOT NULL,
        last_us INTEGER NOT NULL,
        deadline_us INTEGER,
        evidence_count INTEGER NOT NULL DEFAULT 0,
        silence_id INTEGER,
        facts BLOB NOT NULL
    );
    CREATE INDEX incidents_key ON incidents(group_key, last_us);
    CREATE INDEX incidents_status ON incidents(status, opened_us);
    CREATE TABLE incident_evidence (
        incident_id INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        match_id TEXT NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (incident_id, event_id)
    ) WITHOUT ROWID;
    CREATE TABLE incident_timeline (
        seq INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL,
        at_us INTEGER NOT NULL,
        actor TEXT NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL DEFAULT '',
        previous TEXT
    );
    CREATE INDEX incident_timeline_incident ON incident_timeline(incident_id, seq);
    CREATE TABLE silences (
        id INTEGER PRIMARY KEY,
        rule_id TEXT NOT NULL,
        key TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        until_us INTEGER NOT NULL,
        expired_us INTEGER
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL,
        target TEXT NOT NULL,
        route TEXT NOT NULL,
        change BLOB NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at_us INTEGER NOT NULL DEFAULT 0,
        created_us INTEGER NOT NULL,
        delivered_us INTEGER,
        last_error TEXT
    );
    CREATE INDEX outbox_pending ON outbox(state, id);
    CREATE TABLE incident_refs (
        incident_id INTEGER NOT NULL,
        target TEXT NOT NULL,
        route TEXT NOT NULL,
        ref TEXT,
        PRIMARY KEY (incident_id, target)
    ) WITHOUT ROWID;
    """,
    # 5: who queried the monitor, and a hash chain over it and over the incident timelines (pii-guard verify)
    """
    CREATE TABLE monitor_audit (
        seq INTEGER PRIMARY KEY,
        at_us INTEGER NOT NULL,
        actor TEXT NOT NULL,
        command TEXT NOT NULL,
        detail TEXT NOT NULL,
        results INTEGER,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    ALTER TABLE incident_timeline ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
    ALTER TABLE incident_timeline ADD COLUMN hash TEXT NOT NULL DEFAULT '';
    """,
    # 6: review reports: each report made (its file's hash), the reviewers' hash-chained sign-offs, and the
    #    scheduled jobs' runs (a missed run is caught up once at start-up; failures are kept with their error)
    """
    CREATE TABLE review_reports (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        start_us INTEGER NOT NULL,
        end_us INTEGER NOT NULL,
        timezone TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        path TEXT NOT NULL,
        headline TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX review_reports_period ON review_reports(kind, start_us);
    CREATE TABLE review_signoffs (
        seq INTEGER PRIMARY KEY,
        report TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        reviewer TEXT NOT NULL,
        signed_us INTEGER NOT NULL,
        note TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX review_signoffs_report ON review_signoffs(report, seq);
    CREATE TABLE job_runs (
        job TEXT NOT NULL,
        fire_us INTEGER NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        started_us INTEGER,
        finished_us INTEGER,
        detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (job, fire_us)
    ) WITHOUT ROWID;
    """,
    # 7: one act, one incident: the group keys of other rules whose matches joined an incident because the
    #    same event fired them (so their later matches find it too), and evidence found by event id
    """
    CREATE TABLE incident_keys (
        group_key TEXT NOT NULL,
        incident_id INTEGER NOT NULL,
        rule_id TEXT NOT NULL,
        PRIMARY KEY (group_key, incident_id)
    ) WITHOUT ROWID;
    CREATE INDEX incident_keys_incident ON incident_keys(incident_id);
    CREATE INDEX incident_evidence_event ON incident_evidence(event_id);
    """,
)
