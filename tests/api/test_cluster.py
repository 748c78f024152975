"""GET /api/v1/cluster: the node's view of its cluster, for read tokens."""

from __future__ import annotations

import httpx


async def test_the_cluster_view_lists_nodes_and_the_shard_map(
    client: httpx.AsyncClient, read_auth: dict[str, str]
) -> None:
    reply = await client.get("/api/v1/cluster", headers=read_auth)
    assert reply.status_code == 200
    view = reply.json()
    assert (view["mode"], view["node"], view["degraded"]) == ("single", "node-a", False)
    assert view["shards"] == {"0": "node-a", "1": "node-a"}
    assert [(n["name"], n["shards"]) for n in view["nodes"]] == [("node-a", 2)]


async def test_the_cluster_view_needs_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/cluster")).status_code == 401
