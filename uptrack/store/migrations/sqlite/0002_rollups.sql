-- Hourly and daily rollups kept long after raw results expire, and where
-- maintenance (rollups, retention) stands.

-- Aggregates of one monitor over one hour (span 3600) or one UTC day (span 86400),
-- by the results' scheduled time.
CREATE TABLE rollups (
    monitor_id  TEXT    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    span        INTEGER NOT NULL CHECK (span IN (3600, 86400)),
    start       INTEGER NOT NULL,                   -- Unix seconds, a multiple of span
    checks      INTEGER NOT NULL,
    failures    INTEGER NOT NULL,
    latency_sum REAL    NOT NULL,
    latency_min REAL    NOT NULL,
    latency_max REAL    NOT NULL,
    latency_p95 REAL    NOT NULL,                   -- nearest rank
    PRIMARY KEY (monitor_id, span, start)
) WITHOUT ROWID;

-- Retention deletes by time across every monitor.
CREATE INDEX rollups_by_start ON rollups (start);

-- Hours that were rolled up already and received results since (replayed spools,
-- late nodes): rolled up again on the next pass.
CREATE TABLE rollups_stale (
    monitor_id TEXT    NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    hour       INTEGER NOT NULL,
    PRIMARY KEY (monitor_id, hour)
) WITHOUT ROWID;

-- Where maintenance stands (one row): hours and days rolled up before these
-- times, raw results kept from this slot on.
CREATE TABLE maintenance (
    one               INTEGER PRIMARY KEY CHECK (one = 1),
    hours_rolled_to   INTEGER,
    days_rolled_to    INTEGER,
    results_kept_from INTEGER
);
INSERT INTO maintenance (one) VALUES (1);
