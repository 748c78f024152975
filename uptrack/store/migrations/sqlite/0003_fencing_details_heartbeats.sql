-- What a check saw beyond the common fields (certificate chain, DNS answers,
-- assertion outcomes …), the highest claim epoch seen per shard (fencing), and
-- the pings of heartbeat monitors.

ALTER TABLE results ADD COLUMN details TEXT;    -- JSON object, or NULL

-- The highest shard-claim epoch (etcd create_revision) any result carried: a
-- state transition from a result with a lower epoch is a stale owner's, and is
-- refused.
CREATE TABLE shard_epochs (
    shard INTEGER PRIMARY KEY,
    epoch INTEGER NOT NULL
);

-- The ping record of each heartbeat (push) monitor. Pings find it by the SHA-256
-- of the monitor's token (unique index: a lookup costs the same whatever the
-- token); the shard owner's check reads it to judge whether a ping is late.
CREATE TABLE heartbeats (
    monitor_id     TEXT    PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    token_sha256   TEXT    NOT NULL UNIQUE,         -- hex
    since          REAL    NOT NULL,                -- pings expected from then on
    last_ping_at   REAL,                            -- last success
    last_start_at  REAL,
    last_fail_at   REAL,
    last_exit_code INTEGER,
    last_body      TEXT,                            -- of the last ping, at most 10 KiB
    pings          INTEGER NOT NULL DEFAULT 0
);
