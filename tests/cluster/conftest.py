"""Fixtures for the cluster tests: real etcd (shared, fresh, three members) and clients."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

from cluster.etcd import EtcdClient
from tests.servers.etcd import EtcdCluster, EtcdMember, run_etcd, run_etcd_cluster, start_member


@pytest.fixture(scope="session")
def shared_etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdMember]:
    """One member for the whole session: tests that leave it as they found it (use `prefix`)."""
    member = trio.run(start_member, tmp_path_factory.mktemp("etcd-shared"))
    try:
        yield member
    finally:
        member.kill()


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test writes under."""
    return f"/test/{uuid.uuid4().hex[:12]}/"


@pytest.fixture
async def etcd(shared_etcd: EtcdMember) -> AsyncIterator[EtcdClient]:
    """A client of the shared member."""
    async with EtcdClient(shared_etcd.endpoints) as client:
        yield client


@pytest.fixture
async def etcd_member(tmp_path: Path) -> AsyncIterator[EtcdMember]:
    """A member of its own, for tests that stop, restart or compact it."""
    async with run_etcd(tmp_path) as member:
        yield member


@pytest.fixture
async def etcd_cluster(tmp_path: Path) -> AsyncIterator[EtcdCluster]:
    """Three members of their own, for failover and quorum tests."""
    async with run_etcd_cluster(tmp_path, 3) as cluster:
        yield cluster
