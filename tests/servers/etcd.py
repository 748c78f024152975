"""Real etcd processes for tests: one member or a cluster, on free loopback ports, in a temp dir.

    async with run_etcd(tmp_path) as member:         # EtcdMember: .client_url, .endpoints
        member.suspend(); member.resume()             # SIGSTOP / SIGCONT: an etcd that hangs
        member.kill(); await member.start()           # SIGKILL, then again on the same data
    async with run_etcd_cluster(tmp_path) as cluster: # EtcdCluster: .members, .endpoints
        (await cluster.leader()).kill()               # .leader() / .follower(): roles now

The members are those of `uptrack dev cluster` (cluster/dev/etcd.py): the tests run
the code the dev cluster runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

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
    "run_etcd_cluster",
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
