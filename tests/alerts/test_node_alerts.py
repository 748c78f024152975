"""Alerts from real `uptrack serve` processes: maintenance silences alerts but not checks,
and a node killed with `kill -9` while sending leaves its alert to the next node."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import trio

from bench.nodeproc import NodeProcess, free_port
from tests.servers.healthy import Reply
from tests.servers.receiver import Receiver, body_json
from uptrack.cli import main

pytestmark = pytest.mark.slow

T = TypeVar("T")


async def until(fn: Callable[[], Awaitable[T | None]], *, deadline: float, every: float = 0.1) -> T:
    """Poll `fn` until it returns something truthy; fail after `deadline` seconds."""
    last: T | None = None
    with trio.move_on_after(deadline):
        while True:
            last = await fn()
            if last:
                return last
            await trio.sleep(every)
    raise AssertionError(f"condition not met within {deadline} s (last: {last!r})")


def token(capsys: pytest.CaptureFixture[str], *store: str) -> str:
    capsys.readouterr()
    assert main(["token", "create", "--name", "ops", "--scope", "write", *store]) == 0
    return capsys.readouterr().out.strip()


@pytest.fixture
def nodes() -> Iterator[list[NodeProcess]]:
    started: list[NodeProcess] = []
    yield started
    for node in started:
        node.kill()


async def start(node: NodeProcess, nodes: list[NodeProcess]) -> httpx.AsyncClient:
    nodes.append(node)
    await trio.to_thread.run_sync(node.start)
    return httpx.AsyncClient(base_url=node.url, timeout=5)


async def test_a_monitor_in_maintenance_is_checked_but_alerts_only_once_the_window_is_gone(
    tmp_path: Path,
    receiver: Receiver,
    nodes: list[NodeProcess],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    auth = {"Authorization": f"Bearer {token(capsys, '--data-dir', str(data))}"}
    async with await start(NodeProcess(data), nodes) as api:
        post = await api.post(
            "/api/v1/channels",
            headers=auth,
            json={"name": "ops", "kind": "webhook", "settings": {"url": receiver.url_for("/h")}},
        )
        assert post.status_code == 201, post.text
        window = await api.post(
            "/api/v1/maintenances",
            headers=auth,
            json={
                "name": "db upgrade",
                "tags": ["db"],
                "starts_at": time.time() - 60,
                "ends_at": time.time() + 3600,
            },
        )
        assert window.status_code == 201, window.text
        assert window.json()["active"] is True
        created = await api.post(
            "/api/v1/monitors",
            headers=auth,
            json={
                "name": "db",
                "kind": "tcp",
                "target": f"127.0.0.1:{free_port()}",
                "interval": 5,
                "retries": 0,
                "tags": ["db"],
                "channels": ["ops"],
            },
        )
        assert created.status_code == 201, created.text
        monitor = f"/api/v1/monitors/{created.json()['id']}"

        async def checked_in_maintenance() -> int | None:
            doc = (await api.get(monitor, headers=auth)).json()
            results = (await api.get(monitor + "/results", headers=auth)).json()["items"]
            return len(results) if doc["status"] == "maintenance" and len(results) >= 2 else None

        await until(checked_in_maintenance, deadline=20)
        assert receiver.requests == []
        assert (await api.get("/api/v1/incidents", headers=auth)).json()["items"] == []

        gone = await api.delete(f"/api/v1/maintenances/{window.json()['id']}", headers=auth)
        assert gone.status_code == 204
        (alert,) = await receiver.wait_for(1, timeout=15)

    sent = body_json(alert)
    assert (sent["event"], sent["monitor"]["name"]) == ("down", "db")
    assert sent["monitor"]["url"] == f"{nodes[0].url}/monitors/{created.json()['id']}"


async def test_a_node_killed_while_sending_leaves_the_alert_to_the_next_node(
    tmp_path: Path,
    receiver: Receiver,
    nodes: list[NodeProcess],
    postgres_database: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "uptrack.toml"
    config.write_text("alert_deadline = 2\n")  # a claim then holds its row for 4 s
    store = ["--database", postgres_database]
    auth = {"Authorization": f"Bearer {token(capsys, *store)}"}
    # The first delivery never gets an answer: node a is killed while it waits.
    receiver.script("/h", Reply(status=200, delay=60))
    args = ["--config", str(config), *store]
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    first = NodeProcess(tmp_path / "a", extra=[*args, "--node-name", "a"])
    async with await start(first, nodes) as api:
        await api.post(
            "/api/v1/channels",
            headers=auth,
            json={"name": "ops", "kind": "webhook", "settings": {"url": receiver.url_for("/h")}},
        )
        created = await api.post(
            "/api/v1/monitors",
            headers=auth,
            json={
                "name": "api",
                "kind": "tcp",
                "target": f"127.0.0.1:{free_port()}",
                "interval": 60,
                "retries": 0,
                "channels": ["ops"],
            },
        )
        assert created.status_code == 201, created.text
        (held,) = await receiver.wait_for(1, timeout=15)
    first.kill()  # SIGKILL, holding the claim

    second = NodeProcess(tmp_path / "b", extra=[*args, "--node-name", "b"])
    async with await start(second, nodes) as api:
        seen = await receiver.wait_for(2, timeout=20)

        async def sent() -> dict[str, Any] | None:
            items = (await api.get("/api/v1/alerts", headers=auth)).json()["items"]
            return items[0] if items and items[0]["status"] == "sent" else None

        row = await until(sent, deadline=10)
    assert seen[1].header("Idempotency-Key") == held.header("Idempotency-Key") == row["dedup_key"]
    assert row["attempts"] == 2
    assert len(receiver.requests) == 2
