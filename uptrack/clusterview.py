"""What a node knows of its cluster, as the API and the CLI show it (read-only)."""

from __future__ import annotations

from typing import Literal

import msgspec


class NodeInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One node of the cluster as registered in etcd (or the single node itself)."""

    id: str  # <name>-<incarnation>
    name: str
    incarnation: str
    api_url: str
    version: str
    started_at: float
    draining: bool = False
    shards: int = 0  # shards it owns


class ClusterView(msgspec.Struct, frozen=True, kw_only=True):
    mode: Literal["single", "etcd"]
    node: str  # the id of the node answering
    degraded: bool  # this node cannot reach etcd or lost its lease; it keeps checking
    shard_count: int
    nodes: list[NodeInfo]
    shards: dict[int, str]  # shard -> owning node id (as last seen)
    running: list[int] = []  # shards this node runs right now
