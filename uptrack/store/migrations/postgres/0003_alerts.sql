-- Alerting (DESIGN §6): where alerts go, what happened, what is left to send.
-- Routing lives in the monitor (`channels`: channel names; `tags`) and in the
-- channel (`tags`: a monitor with one of them alerts here too).

ALTER TABLE monitors ADD COLUMN tags text NOT NULL DEFAULT '[]';       -- JSON list of strings
ALTER TABLE monitors ADD COLUMN channels text NOT NULL DEFAULT '[]';   -- JSON list of channel names
ALTER TABLE monitors ADD COLUMN remind_every double precision;         -- seconds, or NULL

CREATE TABLE channels (
    id         text             PRIMARY KEY,    -- uuid4 hex
    name       text COLLATE "C" NOT NULL UNIQUE,
    kind       text             NOT NULL,
    settings   text             NOT NULL,       -- JSON, secrets included: never returned by the API
    tags       text             NOT NULL DEFAULT '[]',
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL
);

-- One row per down period of a monitor; at most one open (unresolved) per monitor.
-- No foreign key to monitors: writers hold the monitor's state row while they
-- insert, and a delete waiting on it would deadlock with the key check. Deleting
-- a monitor deletes its incidents.
CREATE TABLE incidents (
    id              text             PRIMARY KEY,  -- hash of (monitor, confirming slot)
    monitor_id      text             NOT NULL,
    monitor_name    text             NOT NULL,
    started_at      double precision NOT NULL,     -- the first failing check of the streak
    started_slot    bigint           NOT NULL,
    confirmed_at    double precision NOT NULL,     -- the check that made the monitor down
    confirmed_slot  bigint           NOT NULL,
    confirmed_by    integer          NOT NULL,
    error_kind      text,
    error           text,
    http_status     integer,
    resolved_at     double precision,
    resolved_slot   bigint,
    acknowledged_at double precision,
    acknowledged_by text,
    reminders       integer          NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX incidents_open ON incidents (monitor_id) WHERE resolved_at IS NULL;
CREATE INDEX incidents_by_start ON incidents (started_at, id);
CREATE INDEX incidents_by_monitor ON incidents (monitor_id, started_at);

-- One row per delivery of one message to one channel. The unique dedup key
-- (incident, transition, channel) is what makes a transition alert once.
-- Deliverers on every node claim due rows with FOR UPDATE SKIP LOCKED.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id     text,
    monitor_id      text,
    channel_id      text             NOT NULL,
    transition      text             NOT NULL,     -- down, up, reminder-<n>
    event           text             NOT NULL CHECK (event IN ('down', 'up', 'reminder', 'test')),
    dedup_key       text             NOT NULL UNIQUE,
    payload         text             NOT NULL,     -- the message as JSON (the link is added when sent)
    status          text             NOT NULL
        CHECK (status IN ('pending', 'sending', 'sent', 'dead')),
    attempts        integer          NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL,     -- pending: when due; sending: when the lock expires
    locked_until    double precision,
    locked_by       text,
    last_error      text,
    group_key       text,
    created_at      double precision NOT NULL,
    sent_at         double precision
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_by_incident ON outbox (incident_id, channel_id, id);
CREATE INDEX outbox_by_channel ON outbox (channel_id, created_at);
CREATE INDEX outbox_by_status ON outbox (status, id);

CREATE TABLE maintenances (
    id         text             PRIMARY KEY,       -- uuid4 hex
    name       text             NOT NULL,
    definition text             NOT NULL,          -- JSON (uptrack.alerts.windows.MaintenanceSpec)
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL
);
