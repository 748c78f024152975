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
