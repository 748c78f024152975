"""`uptrack dev cluster`: one command starts etcd, PostgreSQL and nodes that outlive it;
later commands find them through the directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.dev.stack import DevCluster

pytestmark = pytest.mark.slow

UPTRACK = str(Path(sys.executable).parent / "uptrack")


def dev(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [UPTRACK, "dev", "cluster", *args, "--dir", str(root)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def root() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="uptrack-dev-"))
    base.chmod(0o755)  # PostgreSQL's user must enter it when the tests run as root
    try:
        yield base / "dev"
    finally:
        if (base / "dev" / "cluster.json").exists():
            dev("down", root=base / "dev")
        shutil.rmtree(base, ignore_errors=True)


def test_up_status_stop_and_down_manage_the_processes_through_the_directory(root: Path) -> None:
    up = dev("up", "--nodes", "2", root=root)
    assert up.returncode == 0, up.stdout + up.stderr
    cluster = DevCluster.load(root)
    assert cluster is not None
    rows = {row.name: row for row in cluster.rows()}
    assert sorted(rows) == ["etcd1", "etcd2", "etcd3", "node1", "node2", "postgres"]
    assert all(row.running for row in rows.values())  # `up` returned, they still run
    for row in rows.values():
        assert row.url in up.stdout
    assert "every shard owned" in up.stdout
    env = (root / "env").read_text()
    assert f"export ETCDCTL_ENDPOINTS={','.join(cluster.etcd.endpoints)}\n" in env
    assert f"export UPTRACK_TOKEN={cluster.layout.token}\n" in env
    assert cluster.layout.token.startswith("upt_")

    again = dev("up", "--nodes", "2", root=root)
    assert again.returncode == 0, again.stderr
    assert {r.name: r.pid for r in DevCluster.load(root).rows()} == {  # type: ignore[union-attr]
        name: row.pid for name, row in rows.items()
    }

    assert dev("stop", "node2", "--kill", root=root).returncode == 0
    status = dev("status", root=root)
    assert status.returncode == 1
    assert [line.split()[-1] for line in status.stdout.splitlines() if line.startswith("node")] == [
        "running",
        "stopped",
    ]

    down = dev("down", root=root)
    assert down.returncode == 0, down.stderr
    assert not root.exists()
    assert not any(alive(row.pid) for row in rows.values() if row.pid is not None)


def test_commands_without_a_cluster_say_how_to_start_one(tmp_path: Path) -> None:
    status = dev("status", root=tmp_path / "none")

    assert status.returncode == 2
    assert status.stderr == (
        f"error: no dev cluster in {tmp_path / 'none'} (start one: uptrack dev cluster up)\n"
    )


def test_an_unknown_process_name_is_refused_with_the_known_ones(root: Path) -> None:
    cluster = DevCluster.open(root, nodes=1, lease_ttl=2)  # made, nothing started
    assert cluster.rows()[0].pid is None

    stop = dev("stop", "node7", root=root)

    assert stop.returncode == 2
    assert "no node7 in this cluster (it has etcd1, etcd2, etcd3, postgres, node1)" in stop.stderr
    assert os.listdir(root / "nodes") == ["node1"]
