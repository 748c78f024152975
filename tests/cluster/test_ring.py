"""Rendezvous hashing: stable, balanced, and minimal movement on membership changes."""

from __future__ import annotations

import collections

from cluster.ring import assignment, owner


def test_every_node_computes_the_same_owner_whatever_the_order() -> None:
    assert owner(17, ["a", "b", "c"]) == owner(17, ["c", "a", "b"]) == owner(17, ["b", "c", "a"])
    assert owner(17, []) is None


def test_shards_spread_evenly_over_the_nodes() -> None:
    counts = collections.Counter(assignment(4096, ["node1", "node2", "node3"]).values())
    assert set(counts) == {"node1", "node2", "node3"}
    assert all(abs(c - 4096 / 3) < 0.05 * 4096 / 3 for c in counts.values()), counts


def test_adding_a_node_moves_only_the_shards_it_wins() -> None:
    before = assignment(256, ["node1", "node2", "node3"])
    after = assignment(256, ["node1", "node2", "node3", "node4"])
    moved = {s for s in before if before[s] != after[s]}
    assert moved
    assert all(after[s] == "node4" for s in moved)


def test_removing_a_node_moves_only_its_shards() -> None:
    before = assignment(256, ["node1", "node2", "node3"])
    after = assignment(256, ["node1", "node3"])
    moved = {s for s in before if before[s] != after[s]}
    assert moved == {s for s, name in before.items() if name == "node2"}
