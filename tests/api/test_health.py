"""Liveness and readiness: open to probes, answering from the node view."""

from __future__ import annotations

from typing import Any

import httpx

from uptrack.health import Readiness


async def test_healthz_answers_ok_with_the_node_name_without_a_token(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok", "node": "node-a"}


async def test_readyz_answers_200_with_the_checks_when_the_node_is_ready(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "node": "node-a",
        "checks": {"store": "ok", "coordinator": "ok"},
    }


async def test_readyz_answers_503_problem_naming_the_failing_checks_when_not_ready(
    client: httpx.AsyncClient, node: Any
) -> None:
    node.state = Readiness(False, {"store": "ok", "coordinator": "etcd unreachable"})
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 503
    assert body["title"] == "Service Unavailable"
    assert "coordinator" in body["detail"]
    assert "store" not in body["detail"]
    assert body["node"] == "node-a"
    assert body["checks"] == {"store": "ok", "coordinator": "etcd unreachable"}


async def test_readyz_follows_the_node_back_to_ready(client: httpx.AsyncClient, node: Any) -> None:
    node.state = Readiness(False, {"store": "locked"})
    assert (await client.get("/readyz")).status_code == 503
    node.state = Readiness(True, {"store": "ok"})
    assert (await client.get("/readyz")).status_code == 200
