"""Real etcd processes for tests: one member or a cluster, on free loopback ports, in a temp dir.

    async with run_etcd(tmp_path) as member:         # EtcdMember: .client_url, .endpoints
        member.suspend(); member.resume()             # SIGSTOP / SIGCONT: an etcd that hangs
        member.kill(); await member.start()           # SIGKILL, then again on the same data
    async with run_etcd_cluster(tmp_path) as cluster: # EtcdCluster: .members, .endpoints
        (await cluster.leader()).kill()               # .leader() / .follower(): roles now
    await save_snapshot(member, path); await restore_snapshot(member, path)

The members are those of `uptrack dev cluster` (cluster/dev/etcd.py): the tests run
the code the dev cluster runs.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from cluster.dev.etcd import (
    PROGRESS_NOTIFY,
    START_ATTEMPTS,
    START_TIMEOUT,
    EtcdCluster,
    EtcdFailed,
    EtcdMember,
    etcd_binary,
    start_cluster,
    start_member,
)
from cluster.dev.procs import free_port

__all__ = [
    "PROGRESS_NOTIFY",
    "START_ATTEMPTS",
    "START_TIMEOUT",
    "EtcdCluster",
    "EtcdFailed",
    "EtcdMember",
    "etcd_binary",
    "free_port",
    "run_etcd",
    "restore_snapshot",
    "run_etcd_cluster",
    "save_snapshot",
    "start_cluster",
    "start_member",
]


@asynccontextmanager
async def run_etcd(base_dir: Path) -> AsyncIterator[EtcdMember]:
    member = await start_member(base_dir)
    try:
        yield member
    finally:
        member.kill()


@asynccontextmanager
async def run_etcd_cluster(base_dir: Path, size: int = 3) -> AsyncIterator[EtcdCluster]:
    cluster = await start_cluster(base_dir, size)
    try:
        yield cluster
    finally:
        cluster.kill()


async def save_snapshot(member: EtcdMember, snapshot: Path) -> None:
    """`etcdctl snapshot save` of the member's data now."""
    command = ["etcdctl", "--endpoints", member.client_url, "snapshot", "save", str(snapshot)]
    await trio.run_process(command, capture_stdout=True, capture_stderr=True)


async def restore_snapshot(member: EtcdMember, snapshot: Path, *, down_for: float = 0) -> None:
    """Stop the member and bring it back on `snapshot` alone, as the runbook's restore
    does: same name, address and cluster, an older revision; `down_for` seconds at least."""
    member.stop()
    await trio.sleep(down_for)
    restored = member.data_dir.with_name(member.data_dir.name + ".restored")
    await trio.run_process(
        [
            "etcdctl",
            "snapshot",
            "restore",
            str(snapshot),
            "--name",
            member.name,
            "--data-dir",
            str(restored),
            "--initial-cluster",
            member.initial_cluster,
            "--initial-cluster-token",
            member.cluster_token,
            "--initial-advertise-peer-urls",
            member.peer_url,
        ],
        capture_stdout=True,
        capture_stderr=True,
    )
    shutil.rmtree(member.data_dir)
    restored.rename(member.data_dir)
    await member.start()
