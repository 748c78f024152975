-- What a check saw beyond the common fields (certificate chain, DNS answers,
-- assertion outcomes …), the highest claim epoch seen per shard (fencing), and
-- the pings of heartbeat monitors.

ALTER TABLE results ADD COLUMN details jsonb;

-- The highest shard-claim epoch (etcd create_revision) any result carried: a
-- state transition from a result with a lower epoch is a stale owner's, and is
-- refused.
CREATE TABLE shard_epochs (
    shard integer PRIMARY KEY,
    epoch bigint  NOT NULL
);

-- The ping record of each heartbeat (push) monitor. Pings find it by the SHA-256
-- of the monitor's token (unique index: a lookup costs the same whatever the
-- token); the shard owner's check reads it to judge whether a ping is late.
CREATE TABLE heartbeats (
    monitor_id     text             PRIMARY KEY REFERENCES monitors (id) ON DELETE CASCADE,
    token_sha256   text             NOT NULL UNIQUE,   -- hex
    since          double precision NOT NULL,          -- pings expected from then on
    last_ping_at   double precision,                   -- last success
    last_start_at  double precision,
    last_fail_at   double precision,
    last_exit_code integer,
    last_body      text,                               -- of the last ping, at most 10 KiB
    pings          bigint           NOT NULL DEFAULT 0
);
