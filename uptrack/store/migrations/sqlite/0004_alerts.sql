-- Alerting (DESIGN §6): where alerts go, what happened, what is left to send.
-- Routing lives in the monitor (`channels`: channel names; `tags`) and in the
-- channel (`tags`: a monitor with one of them alerts here too).

ALTER TABLE monitors ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';       -- JSON list of strings
ALTER TABLE monitors ADD COLUMN channels TEXT NOT NULL DEFAULT '[]';   -- JSON list of channel names
ALTER TABLE monitors ADD COLUMN remind_every REAL;                     -- seconds, or NULL: no reminders

CREATE TABLE channels (
    id         TEXT PRIMARY KEY,                -- uuid4 hex
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    settings   TEXT NOT NULL,                   -- JSON, secrets included: never returned by the API
    tags       TEXT NOT NULL DEFAULT '[]',      -- JSON list: monitors with one of these tags alert here
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

-- One row per down period of a monitor; at most one open (unresolved) per monitor.
CREATE TABLE incidents (
    id              TEXT    PRIMARY KEY,        -- hash of (monitor, confirming slot): the same on every node
    monitor_id      TEXT    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    monitor_name    TEXT    NOT NULL,
    started_at      REAL    NOT NULL,           -- the first failing check of the streak
    started_slot    INTEGER NOT NULL,
    confirmed_at    REAL    NOT NULL,           -- the check that made the monitor down
    confirmed_slot  INTEGER NOT NULL,
    confirmed_by    INTEGER NOT NULL,           -- failing checks that confirmed it
    error_kind      TEXT,                       -- cause: the first failing check's error
    error           TEXT,
    http_status     INTEGER,
    resolved_at     REAL,
    resolved_slot   INTEGER,
    acknowledged_at REAL,
    acknowledged_by TEXT,
    reminders       INTEGER NOT NULL DEFAULT 0  -- reminders scheduled so far
);
CREATE UNIQUE INDEX incidents_open ON incidents (monitor_id) WHERE resolved_at IS NULL;
CREATE INDEX incidents_by_start ON incidents (started_at, id);
CREATE INDEX incidents_by_monitor ON incidents (monitor_id, started_at);

-- One row per delivery of one message to one channel. The unique dedup key
-- (incident, transition, channel) is what makes a transition alert once.
-- No foreign keys: a row outlives its monitor, and a channel deleted meanwhile
-- makes its rows dead at the next claim.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id     TEXT,
    monitor_id      TEXT,
    channel_id      TEXT    NOT NULL,
    transition      TEXT    NOT NULL,           -- down, up, reminder-<n>
    event           TEXT    NOT NULL CHECK (event IN ('down', 'up', 'reminder', 'test')),
    dedup_key       TEXT    NOT NULL UNIQUE,
    payload         TEXT    NOT NULL,           -- the message as JSON (the link is added when sent)
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL    NOT NULL,           -- pending: when due; sending: when the lock expires
    locked_until    REAL,
    locked_by       TEXT,
    last_error      TEXT,
    group_key       TEXT,                       -- sent inside a grouped message with this key
    created_at      REAL    NOT NULL,
    sent_at         REAL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_by_incident ON outbox (incident_id, channel_id, id);
CREATE INDEX outbox_by_channel ON outbox (channel_id, created_at);
CREATE INDEX outbox_by_status ON outbox (status, id);

-- Maintenance windows: `definition` is the validated window as JSON
-- (uptrack.alerts.windows.MaintenanceSpec).
CREATE TABLE maintenances (
    id         TEXT PRIMARY KEY,                -- uuid4 hex
    name       TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
