-- Monitors, their evaluated state, check results, the change feed and API tokens.
-- Times are Unix seconds (REAL), durations milliseconds; booleans are 0/1.

CREATE TABLE monitors (
    id          TEXT    PRIMARY KEY,            -- uuid4 hex
    name        TEXT    NOT NULL UNIQUE,
    kind        TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    interval    INTEGER NOT NULL,
    timeout     REAL    NOT NULL,
    retries     INTEGER NOT NULL,
    retry_delay REAL    NOT NULL,
    down_after  INTEGER NOT NULL,
    up_after    INTEGER NOT NULL,
    paused      INTEGER NOT NULL CHECK (paused IN (0, 1)),
    settings    TEXT    NOT NULL,               -- JSON object, exactly as the user gave it
    shard       INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    created_at  REAL    NOT NULL,
    updated_at  REAL    NOT NULL
);

CREATE TABLE monitor_state (
    monitor_id            TEXT    PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    status                TEXT    NOT NULL
        CHECK (status IN ('pending', 'up', 'down', 'paused', 'maintenance')),
    consecutive_failures  INTEGER NOT NULL,
    consecutive_successes INTEGER NOT NULL,
    last_slot             INTEGER,
    last_checked_at       REAL,
    last_ok               INTEGER CHECK (last_ok IN (0, 1)),
    changed_at            REAL,
    version               INTEGER NOT NULL
) WITHOUT ROWID;

-- One row per (monitor, slot): a second node's duplicate is dropped on insert.
CREATE TABLE results (
    monitor_id   TEXT    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    slot         INTEGER NOT NULL,
    scheduled_at REAL    NOT NULL,
    started_at   REAL    NOT NULL,
    duration_ms  REAL    NOT NULL,
    ok           INTEGER NOT NULL CHECK (ok IN (0, 1)),
    error_kind   TEXT,
    error        TEXT,
    http_status  INTEGER,
    ip           TEXT,
    dns_ms       REAL,
    connect_ms   REAL,
    tls_ms       REAL,
    ttfb_ms      REAL,
    total_ms     REAL,
    attempts     INTEGER NOT NULL,
    node         TEXT    NOT NULL,
    epoch        INTEGER NOT NULL,
    PRIMARY KEY (monitor_id, slot)
) WITHOUT ROWID;

-- Uptime windows are time ranges; slots map to time only for one interval.
CREATE INDEX results_by_time ON results (monitor_id, scheduled_at);

-- The change feed: one row per monitor edit. AUTOINCREMENT keeps `seq` growing
-- even after old rows are pruned, so change cursors stay monotonic.
CREATE TABLE changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    monitor_id TEXT    NOT NULL,                -- no foreign key: deletions are changes too
    at         REAL    NOT NULL
);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,             -- uuid4 hex
    name          TEXT NOT NULL,
    scope         TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    prefix        TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL UNIQUE,
    created_at    REAL NOT NULL,
    expires_at    REAL,
    revoked_at    REAL,
    last_used_at  REAL
);
