"""A real `uptrack serve` process: checks, API, edits, clean shutdown and the data-dir lock."""

from __future__ import annotations

import http.server
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.nodeproc import NodeProcess, free_port
from uptrack.cli import main

pytestmark = pytest.mark.slow


def poll(fn, *, deadline: float, every: float = 0.1):  # type: ignore[no-untyped-def]
    """Call `fn` until it returns something truthy; fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {deadline} s (last: {value!r})")
        time.sleep(every)


def create_token(data: Path, scope: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["token", "create", "--name", "t", "--scope", scope, "--data-dir", str(data)]) == 0
    return capsys.readouterr().out.strip()


class SlowHandler(http.server.BaseHTTPRequestHandler):
    delay = 2.0

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        time.sleep(self.delay)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class SlowServer(http.server.ThreadingHTTPServer):
    request_queue_size = 256  # every check connects at once


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = SlowServer(("127.0.0.1", 0), SlowHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def client(node: NodeProcess, token: str) -> httpx.Client:
    return httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    proc = NodeProcess(tmp_path / "data")
    (tmp_path / "data").mkdir()
    yield proc
    proc.kill()


def apply(tmp_path: Path, data: Path, text: str) -> None:
    file = tmp_path / "monitors.yaml"
    file.write_text(text)
    assert main(["apply", str(file), "--data-dir", str(data)]) == 0


def test_a_node_checks_its_monitors_and_serves_their_state(
    tmp_path: Path, node: NodeProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = free_port()
    apply(
        tmp_path,
        node.data_dir,
        f"""\
monitors:
  - {{name: self, kind: http, target: "{node.url}/healthz", interval: 5, keyword: ok}}
  - {{name: closed, kind: tcp, target: "127.0.0.1:{closed}", interval: 5, retries: 0}}
""",
    )
    token = create_token(node.data_dir, "read", capsys)
    node.start()
    with client(node, token) as api:
        check_node_state(api, node)


def check_node_state(api: httpx.Client, node: NodeProcess) -> None:
    def statuses() -> dict[str, str] | None:
        items = api.get("/api/v1/monitors").json()["items"]
        found = {m["name"]: m["status"] for m in items}
        return found if "pending" not in found.values() else None

    assert poll(statuses, deadline=15) == {"self": "up", "closed": "down"}
    closed_id = next(
        m["id"] for m in api.get("/api/v1/monitors").json()["items"] if m["name"] == "closed"
    )
    result = api.get(f"/api/v1/monitors/{closed_id}/results").json()["items"][0]
    assert (result["ok"], result["error_kind"]) == (False, "refused")
    metrics = httpx.get(node.url + "/metrics").text
    assert 'uptrack_checks_total{kind="http",outcome="up"}' in metrics
    assert "uptrack_shards_owned 256.0" in metrics


def test_a_monitor_created_through_the_api_is_checked_without_a_restart(
    tmp_path: Path, node: NodeProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    token = create_token(node.data_dir, "write", capsys)
    node.start()
    with client(node, token) as api:
        check_created_monitor_runs(api, node)


def check_created_monitor_runs(api: httpx.Client, node: NodeProcess) -> None:
    created = api.post(
        "/api/v1/monitors",
        json={
            "name": "new",
            "kind": "http",
            "target": node.url + "/healthz",
            "interval": 60,
        },
    )
    assert created.status_code == 201, created.text
    monitor_id = created.json()["id"]
    # a new monitor runs its latest slot at once; the feed polls every 0.5 s
    results = poll(
        lambda: api.get(f"/api/v1/monitors/{monitor_id}/results").json()["items"], deadline=3
    )
    assert results[0]["ok"] is True


def test_sigterm_lets_in_flight_checks_finish_and_writes_every_result(
    tmp_path: Path, node: NodeProcess, slow_server: str
) -> None:
    lines = "\n".join(
        f'  - {{name: slow{i}, kind: http, target: "{slow_server}/{i}", interval: 600, '
        f"timeout: 5, retries: 0}}"
        for i in range(50)
    )
    apply(tmp_path, node.data_dir, "monitors:\n" + lines + "\n")
    node.start()
    # every monitor's catch-up check is now in flight against a server that takes 2 s
    assert node.stop(signal.SIGTERM, timeout=20) == 0
    db = sqlite3.connect(node.data_dir / "uptrack.db")
    rows = db.execute("SELECT ok, duration_ms FROM results").fetchall()
    assert len(rows) == 50
    assert all(ok == 1 and duration >= 1900 for ok, duration in rows), rows
    events = [json.loads(line) for line in node.log().splitlines() if line.startswith("{")]
    stopped = next(e for e in events if e["event"] == "node.stopped")
    assert (stopped["results_submitted"], stopped["results_unwritten"]) == (50, 0)


def test_sigint_stops_a_node_cleanly(node: NodeProcess) -> None:
    node.start()
    assert node.stop(signal.SIGINT, timeout=20) == 0
    assert '"event": "node.stopped"' in node.log()


def test_a_second_node_on_the_same_data_dir_refuses_to_start(node: NodeProcess) -> None:
    node.start()
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "uptrack.cli",
            "serve",
            "--data-dir",
            str(node.data_dir),
            "--listen",
            f"127.0.0.1:{free_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 2
    assert "is in use by another Uptrack node" in second.stderr
    assert f"pid {node.pid}" in second.stderr
