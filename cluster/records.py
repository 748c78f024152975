"""The keys Uptrack keeps in etcd and how their values are encoded (DESIGN §4)."""

from __future__ import annotations

import msgspec

from uptrack.clusterview import NodeInfo

DEFAULT_PREFIX = "/uptrack/"


class Keys:
    """Key names under one deployment's prefix: plain UTF-8, readable with etcdctl."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        if not prefix.startswith("/") or not prefix.endswith("/"):
            raise ValueError(f"etcd prefix {prefix!r} must start and end with '/'")
        self.prefix = prefix
        self.meta_shards = prefix + "meta/shards"
        self.nodes = prefix + "nodes/"
        self.shards = prefix + "shards/"
        self.drain = prefix + "drain/"

    def node(self, node_id: str) -> str:
        return self.nodes + node_id

    def shard(self, shard: int) -> str:
        return f"{self.shards}{shard:04d}"

    def shard_of_key(self, key: str) -> int | None:
        if not key.startswith(self.shards):
            return None
        tail = key[len(self.shards) :]
        return int(tail) if tail.isdigit() else None

    def drain_request(self, name: str) -> str:
        return self.drain + name


def encode_node(info: NodeInfo) -> bytes:
    return msgspec.json.encode(info)


def decode_node(value: bytes) -> NodeInfo | None:
    """None for a value that is not a node record (written by hand, or a newer release)."""
    try:
        return msgspec.json.decode(value, type=NodeInfo)
    except msgspec.DecodeError:
        return None
