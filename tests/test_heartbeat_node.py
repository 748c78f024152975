"""A heartbeat monitor on a real `uptrack serve` process: pinged it is up, else down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.nodeproc import NodeProcess
from tests.test_node import create_token, poll

pytestmark = pytest.mark.slow


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    proc = NodeProcess(tmp_path / "data")
    (tmp_path / "data").mkdir()
    yield proc
    proc.kill()


def test_a_heartbeat_monitor_goes_down_when_its_pings_stop_and_up_when_they_resume(
    node: NodeProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    token = create_token(node.data_dir, "write", capsys)
    node.start()
    with httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {token}"}) as api:
        created = api.post(
            "/api/v1/monitors",
            json={"name": "cron", "kind": "heartbeat", "interval": 5, "grace": 1, "retries": 0},
        )
        assert created.status_code == 201, created.text
        monitor = created.json()
        ping_url = monitor["ping_url"]
        assert ping_url == f"{node.url}/ping/{monitor['token']}"

        def latest() -> dict[str, Any] | None:
            items = api.get(f"/api/v1/monitors/{monitor['id']}/results").json()["items"]
            return items[0] if items else None

        def status() -> str:
            return str(api.get(f"/api/v1/monitors/{monitor['id']}").json()["status"])

        # pinged (by a job with nothing to say in its own time) it is up
        pinged_at = time.time()
        assert httpx.post(ping_url, content=b"ok").status_code == 200

        def pinged_result() -> dict[str, Any] | None:
            result = latest()
            if result is None or result["details"]["pings"] < 1 or status() != "up":
                return None
            return result

        up = poll(pinged_result, deadline=15)
        assert up["ok"]
        assert up["details"]["last_ping_at"] is not None

        # no ping for longer than 5 s + 1 s of grace: down at the next slot
        down = poll(lambda: latest() if status() == "down" else None, deadline=20)
        assert down["error_kind"] == "heartbeat"
        assert down["error"].startswith("no ping for ")
        assert down["error"].endswith("(expected every 5s + 1s grace)")
        assert time.time() - pinged_at > 6

        # an exit code of 0 is a success ping: up again at the next slot
        assert httpx.get(ping_url + "/0").status_code == 200
        poll(lambda: status() == "up", deadline=15)
