"""Shard-epoch fencing (DESIGN §4): the highest claim epoch seen per shard, on both databases.

A shard claim's epoch is its etcd key's create_revision, so a later claim always
has a higher one. A node that lost its claim without noticing (a stalled event
loop, etcd bugs #15247 and #20590) still carries the old epoch: once the store has
seen a higher epoch for the shard, results with the lower one are stored (they are
true observations) but move no state (`rules.advance_states`). Epoch 0 is a single
node's (no etcd): it is neither recorded nor refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg

from uptrack.model import Monitor, Result


def batch_epochs(monitors: Mapping[str, Monitor], results: Iterable[Result]) -> dict[int, int]:
    """The highest non-zero epoch per shard among `results` of the known `monitors`."""
    seen: dict[int, int] = {}
    for r in results:
        monitor = monitors.get(r.monitor_id)
        if monitor is not None and r.epoch > seen.get(monitor.shard, 0):
            seen[monitor.shard] = r.epoch
    return seen


_SQLITE_RAISE = (
    "INSERT INTO shard_epochs (shard, epoch) VALUES (?, ?) ON CONFLICT (shard)"
    " DO UPDATE SET epoch = excluded.epoch WHERE excluded.epoch > shard_epochs.epoch"
)


def sqlite_highest(db: sqlite3.Connection, seen: Mapping[int, int]) -> dict[int, int]:
    """Record the epochs of a batch; return the highest stored for its shards."""
    if not seen:
        return {}
    db.executemany(_SQLITE_RAISE, sorted(seen.items()))
    marks = ", ".join("?" * len(seen))
    found = db.execute(f"SELECT shard, epoch FROM shard_epochs WHERE shard IN ({marks})", [*seen])
    return {int(shard): int(epoch) for shard, epoch in found}


# Rows are raised in shard order (after the state rows, locked in id order), and a
# row whose epoch is not raised is neither written nor locked: a steady owner costs
# no row versions. The SELECT that follows is a new snapshot, so it sees a higher
# epoch another node committed meanwhile.
_POSTGRES_RAISE = (
    "INSERT INTO shard_epochs (shard, epoch)"
    " SELECT * FROM unnest(%s::integer[], %s::bigint[]) ORDER BY 1"
    " ON CONFLICT (shard) DO UPDATE SET epoch = excluded.epoch"
    " WHERE excluded.epoch > shard_epochs.epoch"
)


def postgres_highest(db: psycopg.Connection[Any], seen: Mapping[int, int]) -> dict[int, int]:
    """Record the epochs of a batch; return the highest stored for its shards."""
    if not seen:
        return {}
    shards = sorted(seen)
    db.execute(_POSTGRES_RAISE, (shards, [seen[s] for s in shards]))
    found = db.execute(
        "SELECT shard, epoch FROM shard_epochs WHERE shard = ANY(%s)", (shards,)
    ).fetchall()
    return {int(shard): int(epoch) for shard, epoch in found}
