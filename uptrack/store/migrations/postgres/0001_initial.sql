-- Monitors, their evaluated state, check results (partitioned by day), hourly and
-- daily rollups, the change feed and API tokens. Times are Unix seconds (double
-- precision), durations milliseconds, slots Unix milliseconds.

CREATE TABLE monitors (
    id          text             PRIMARY KEY,          -- uuid4 hex
    -- "C": names sort by code point, as on SQLite and in Python
    name        text COLLATE "C" NOT NULL UNIQUE,
    kind        text             NOT NULL,
    target      text             NOT NULL,
    interval    integer          NOT NULL,
    timeout     double precision NOT NULL,
    retries     integer          NOT NULL,
    retry_delay double precision NOT NULL,
    down_after  integer          NOT NULL,
    up_after    integer          NOT NULL,
    paused      boolean          NOT NULL,
    settings    text             NOT NULL,             -- JSON, exactly as the user gave it
    shard       integer          NOT NULL,
    version     bigint           NOT NULL,
    created_at  double precision NOT NULL,
    updated_at  double precision NOT NULL
);

CREATE TABLE monitor_state (
    monitor_id            text    PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    status                text    NOT NULL
        CHECK (status IN ('pending', 'up', 'down', 'paused', 'maintenance')),
    consecutive_failures  integer NOT NULL,
    consecutive_successes integer NOT NULL,
    last_slot             bigint,
    last_checked_at       double precision,
    last_ok               boolean,
    changed_at            double precision,
    version               bigint  NOT NULL
) WITH (fillfactor = 50);  -- room for each batch's updates in place (HOT)

-- One row per (monitor, slot), in one partition per UTC day of the slot: retention
-- drops whole partitions. No foreign key (a trigger per row): writers lock the
-- monitor's state row instead, and deleting a monitor deletes its results.
CREATE TABLE results (
    monitor_id   text             NOT NULL,
    slot         bigint           NOT NULL,
    scheduled_at double precision NOT NULL,
    started_at   double precision NOT NULL,
    duration_ms  double precision NOT NULL,
    ok           boolean          NOT NULL,
    error_kind   text,
    error        text,
    http_status  integer,
    ip           text,
    dns_ms       double precision,
    connect_ms   double precision,
    tls_ms       double precision,
    ttfb_ms      double precision,
    total_ms     double precision,
    attempts     integer          NOT NULL,
    node         text             NOT NULL,
    epoch        bigint           NOT NULL,
    PRIMARY KEY (monitor_id, slot)
) PARTITION BY RANGE (slot);

-- Slots arrive in time order, so a BRIN index finds an hour of every monitor's
-- results (for rollups) for almost nothing on the write path.
CREATE INDEX results_by_slot ON results USING brin (slot);

-- Aggregates of one monitor over one hour (span 3600) or one UTC day (span 86400),
-- by the results' scheduled time. Kept long after the raw results are dropped.
-- Deleting a monitor deletes its rollups (no foreign key: rolling up must not wait
-- for, or deadlock with, a monitor being deleted).
CREATE TABLE rollups (
    monitor_id  text             NOT NULL,
    span        integer          NOT NULL CHECK (span IN (3600, 86400)),
    start       bigint           NOT NULL,             -- Unix seconds, a multiple of span
    checks      integer          NOT NULL,
    failures    integer          NOT NULL,
    latency_sum double precision NOT NULL,
    latency_min double precision NOT NULL,
    latency_max double precision NOT NULL,
    latency_p95 double precision NOT NULL,             -- nearest rank
    PRIMARY KEY (monitor_id, span, start)
);

-- Retention deletes and daily rollups read by time across every monitor.
CREATE INDEX rollups_by_start ON rollups (start);

-- Hours that were rolled up already and received results since (replayed spools,
-- late nodes): rolled up again on the next pass.
CREATE TABLE rollups_stale (
    monitor_id text   NOT NULL,
    hour       bigint NOT NULL,
    PRIMARY KEY (monitor_id, hour)
);

-- Where maintenance stands (one row): hours and days rolled up before these
-- times, raw results kept from this slot on.
CREATE TABLE maintenance (
    one               boolean PRIMARY KEY DEFAULT true CHECK (one),
    hours_rolled_to   bigint,
    days_rolled_to    bigint,
    results_kept_from bigint
);
INSERT INTO maintenance DEFAULT VALUES;

-- The change feed: one row per monitor edit. `change_cursor` hands out the numbers
-- under a row lock held to commit, so numbers become visible in order and a reader
-- never skips a change that commits later with a smaller number.
CREATE TABLE changes (
    seq        bigint           PRIMARY KEY,
    monitor_id text             NOT NULL,              -- no foreign key: deletions are changes too
    at         double precision NOT NULL
);

CREATE TABLE change_cursor (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq bigint  NOT NULL
);
INSERT INTO change_cursor (seq) VALUES (0);

CREATE TABLE api_tokens (
    id            text             PRIMARY KEY,        -- uuid4 hex
    name          text             NOT NULL,
    scope         text             NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    prefix        text             NOT NULL,
    secret_sha256 text             NOT NULL UNIQUE,
    created_at    double precision NOT NULL,
    expires_at    double precision,
    revoked_at    double precision,
    last_used_at  double precision
);
