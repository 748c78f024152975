"""Monitors fill the shards evenly, and a monitor's shard is still H(id) mod S."""

from __future__ import annotations

import collections

from uptrack.model import MonitorSpec
from uptrack.slots import DEFAULT_SHARDS, shard_of
from uptrack.store.base import ApplyPlan, Store


def spec(n: int) -> MonitorSpec:
    return MonitorSpec(name=f"m{n:04d}", kind="tcp", target="127.0.0.1:9", interval=60, timeout=5)


def test_monitors_fill_every_shard_before_any_shard_gets_another(store: Store) -> None:
    store.apply_monitors(ApplyPlan(create=[spec(n) for n in range(600)]), now=0)
    for n in range(600, 620):
        store.create_monitor(spec(n), now=0)
    monitors = store.all_monitors()
    counts = collections.Counter(m.shard for m in monitors)
    assert len(counts) == DEFAULT_SHARDS
    assert max(counts.values()) - min(counts.values()) <= 1
    assert all(m.shard == shard_of(m.id, DEFAULT_SHARDS) for m in monitors)
