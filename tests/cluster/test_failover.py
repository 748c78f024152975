"""The cluster's acceptance: real node processes on real etcd and PostgreSQL.

600 monitors at 5 s on three nodes with a 2 s lease. Nodes are killed (-9),
stopped (SIGTERM, SIGSTOP), added; etcd members are killed; the whole etcd is
stopped. The results table is the witness: which slots were checked, when, by whom.
"""

from __future__ import annotations

import collections
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from bench.cluster import LocalCluster, SlotReport
from bench.nodeproc import nginx
from cluster.etcd import EtcdClient
from cluster.ring import assignment
from tests.servers.etcd import EtcdCluster, EtcdMember
from uptrack.model import MonitorSpec

pytestmark = pytest.mark.slow

MONITORS = 600
INTERVAL = 5
TTL = 2
SHARDS = 256
NAMES = ("node1", "node2", "node3")


async def until(condition: Callable[[], Any], deadline: float, what: str) -> float:
    """Poll `condition` (run in a thread: it may do blocking I/O) until it is true;
    return how long that took."""
    start = trio.current_time()
    with trio.move_on_after(deadline):
        while True:
            if await trio.to_thread.run_sync(condition):
                return trio.current_time() - start
            await trio.sleep(0.1)
    raise AssertionError(f"not within {deadline} s: {what}")


def whole(cluster: LocalCluster, name: str, names: tuple[str, ...]) -> bool:
    """The node's view: every shard owned, as rendezvous hashing over `names` wants."""
    try:
        view = cluster.view(name)
    except Exception:  # noqa: BLE001 - a node that is down is simply not whole yet
        return False
    ids = {n["id"]: n["name"] for n in view["nodes"]}
    owners = {int(s): ids.get(node_id) for s, node_id in view["shards"].items()}
    return owners == assignment(SHARDS, names) and not view["degraded"]


@pytest.fixture
async def cluster(
    tmp_path: Path, postgres_database: str, etcd_member: EtcdMember
) -> AsyncIterator[LocalCluster]:
    async for c in _cluster(tmp_path, postgres_database, etcd_member.endpoints):
        yield c


@pytest.fixture
async def cluster_on_three_members(
    tmp_path: Path, postgres_database: str, etcd_cluster: EtcdCluster
) -> AsyncIterator[LocalCluster]:
    async for c in _cluster(tmp_path, postgres_database, etcd_cluster.endpoints):
        yield c


async def _cluster(tmp_path: Path, database: str, etcd: list[str]) -> AsyncIterator[LocalCluster]:
    with nginx() as target:
        port = target.rsplit(":", 1)[1]
        c = LocalCluster(tmp_path, etcd=etcd, database=database, ttl=TTL)
        c.create_monitors(
            [
                MonitorSpec(
                    name=f"m{i:04d}",
                    kind="tcp",
                    target=f"127.0.0.1:{port}",
                    interval=INTERVAL,
                    timeout=2.0,
                    retries=0,
                )
                for i in range(MONITORS)
            ]
        )
        try:
            await trio.to_thread.run_sync(c.start, NAMES)
            await until(lambda: whole(c, "node1", NAMES), 20, "a whole shard map")
            yield c
        finally:
            await trio.to_thread.run_sync(c.stop_all)


def report(cluster: LocalCluster, t0: float, t1: float) -> SlotReport:
    return SlotReport(cluster.database, t0, t1)


async def test_three_nodes_own_every_shard_once_as_rendezvous_hashing_says(
    cluster: LocalCluster,
) -> None:
    view = cluster.view("node2")
    assert len(view["shards"]) == SHARDS
    by_shard = collections.Counter()
    import psycopg

    with psycopg.connect(cluster.database) as conn:
        for (shard,) in conn.execute("SELECT shard FROM monitors"):
            by_shard[shard] += 1
    want = assignment(SHARDS, NAMES)
    per_node = collections.Counter()
    for shard, count in by_shard.items():
        per_node[want[shard]] += count
    for name in NAMES:
        assert abs(per_node[name] - MONITORS / 3) <= 0.1 * MONITORS / 3, per_node
    shown = {n["name"]: n["shards"] for n in view["nodes"]}
    assert shown == dict(collections.Counter(want.values()))


async def claimed_by_survivors(
    cluster: LocalCluster, dead: str, done: trio.Event, freed: list[float]
) -> None:
    """Watch the shard keys and set `done` when every shard is held by a node other
    than `dead` (read off etcd's own events, not an API answer that load could delay);
    `freed` gets the time etcd deleted the dead node's claims (its lease expired)."""
    prefix = cluster.prefix + "shards/"
    async with EtcdClient(cluster.etcd) as etcd:
        listed = await etcd.range(prefix, prefix=True)
        owners = {kv.key: kv.value.decode() for kv in listed.kvs}
        async with etcd.watch(prefix, prefix=True, start_revision=listed.revision + 1) as watch:
            async for batch in watch:
                for event in batch.events:
                    if event.type == "put":
                        owners[event.kv.key] = event.kv.value.decode()
                    else:
                        owners.pop(event.kv.key, None)
                        if not freed:
                            freed.append(trio.current_time())
                alive = [o for o in owners.values() if not o.startswith(dead + "-")]
                if len(alive) == SHARDS:
                    done.set()
                    return


async def test_a_killed_node_is_taken_over_within_ttl_plus_one_second(
    cluster: LocalCluster,
) -> None:
    await trio.sleep(INTERVAL)
    done = trio.Event()
    freed: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(claimed_by_survivors, cluster, "node2", done, freed)
        await trio.sleep(0.5)  # the watch is open
        t0 = time.time()
        killed = trio.current_time()
        cluster.nodes["node2"].kill()
        with trio.fail_after(TTL + 5):
            await done.wait()
        took = trio.current_time() - killed
    expired = freed[0] - killed
    assert took <= TTL + 1, f"lease expired {expired:.2f} s after the kill, claimed {took:.2f} s"
    await until(lambda: whole(cluster, "node1", ("node1", "node3")), 5, "the map shows it")
    taken_over = time.time()
    await trio.sleep(2 * INTERVAL + 1)
    t1 = time.time() - INTERVAL
    assert report(cluster, t0 - INTERVAL, t1).max_gap() <= INTERVAL + TTL + 1
    after = report(cluster, taken_over, t1)
    assert after.missed == 0, after.missing


async def test_a_rolling_restart_misses_no_slot_and_never_owns_a_shard_twice(
    cluster: LocalCluster,
) -> None:
    created_twice: list[str] = []

    async def watch_shards() -> None:
        async with EtcdClient(cluster.etcd) as etcd:
            listed = await etcd.range(cluster.prefix + "shards/", prefix=True)
            async with etcd.watch(
                cluster.prefix + "shards/", prefix=True, start_revision=listed.revision + 1
            ) as watch:
                async for batch in watch:
                    for event in batch.events:
                        if event.type == "put" and event.kv.version != 1:
                            created_twice.append(event.kv.key)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_shards)
        t0 = time.time()
        for name in NAMES:
            node = cluster.nodes[name]
            assert await trio.to_thread.run_sync(node.stop) == 0, node.log()
            await trio.to_thread.run_sync(node.start)
            await until(lambda: whole(cluster, "node1", NAMES), 20, f"{name} back")
        await trio.sleep(INTERVAL + 1)
        t1 = time.time() - INTERVAL
        nursery.cancel_scope.cancel()
    slots = report(cluster, t0, t1)
    assert slots.missed == 0, slots.missing
    assert created_twice == []


async def test_an_added_node_gets_its_share_and_moved_shards_miss_no_slot(
    cluster: LocalCluster,
) -> None:
    t0 = time.time()
    await trio.to_thread.run_sync(cluster.start, ["node4"])
    names = (*NAMES, "node4")
    await until(lambda: whole(cluster, "node4", names), 20, "node4 has its share")
    await trio.sleep(INTERVAL + 1)
    t1 = time.time() - INTERVAL
    slots = report(cluster, t0, t1)
    assert slots.missed == 0, slots.missing


async def test_a_stopped_node_loses_its_shards_and_stops_checking_them_on_waking(
    cluster: LocalCluster,
) -> None:
    t0 = time.time()
    sleeper = cluster.nodes["node2"]
    sleeper.proc.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]
    try:
        await until(lambda: whole(cluster, "node1", ("node1", "node3")), TTL + 5, "takeover")
        await trio.sleep(3 * TTL)
    finally:
        sleeper.proc.send_signal(signal.SIGCONT)  # type: ignore[union-attr]
    woke = trio.current_time()

    def runs_only_its_own() -> bool:
        view = cluster.view("node2")
        mine = {int(s) for s, owner in view["shards"].items() if owner == view["node"]}
        return set(view["running"]) <= mine

    await until(runs_only_its_own, 5, "node2 stops checking shards others own")
    assert trio.current_time() - woke <= 1.5  # 1 s, plus the time to ask it
    await until(lambda: whole(cluster, "node1", NAMES), 20, "node2 gets its share back")
    await trio.sleep(INTERVAL + 1)
    slots = report(cluster, t0, time.time() - INTERVAL)
    assert slots.missed == 0, slots.missing


async def test_without_etcd_every_node_keeps_checking_and_then_rejoins(
    cluster_on_three_members: LocalCluster, etcd_cluster: EtcdCluster
) -> None:
    cluster = cluster_on_three_members
    await trio.sleep(INTERVAL)
    t0 = time.time()
    for member in etcd_cluster.members:
        member.kill()
    await until(lambda: all(cluster.view(n)["degraded"] for n in NAMES), 3 * TTL, "degraded")
    await trio.sleep(60)
    outage_end = time.time()
    for member in etcd_cluster.members:
        member.launch()
    for member in etcd_cluster.members:
        await member.wait_healthy()
    await until(lambda: whole(cluster, "node1", NAMES), 2 * TTL + 5, "re-registered")
    slots = report(cluster, t0, outage_end)
    assert slots.missed == 0, slots.missing


async def test_without_etcd_survivors_adopt_the_shards_of_a_killed_node(
    cluster_on_three_members: LocalCluster, etcd_cluster: EtcdCluster
) -> None:
    cluster = cluster_on_three_members
    victim = set(int(s) for s, o in cluster.view("node1")["shards"].items() if "node3" in o)
    for member in etcd_cluster.members:
        member.kill()
    await until(lambda: all(cluster.view(n)["degraded"] for n in NAMES), 3 * TTL, "degraded")
    cluster.nodes["node3"].kill()

    def adopted() -> bool:
        running = set(cluster.view("node1")["running"]) | set(cluster.view("node2")["running"])
        return victim <= running

    took = await until(adopted, TTL + 10, "adoption")
    assert took <= TTL + 2 + TTL / 2  # the probe runs every TTL / 2


async def test_losing_an_etcd_follower_or_the_leader_moves_no_shard(
    cluster_on_three_members: LocalCluster, etcd_cluster: EtcdCluster
) -> None:
    cluster = cluster_on_three_members
    before = cluster.view("node1")["shards"]
    t0 = time.time()
    follower = await etcd_cluster.follower()
    follower.kill()
    await trio.sleep(2 * INTERVAL)
    assert cluster.view("node1")["shards"] == before
    await follower.start()
    leader = await etcd_cluster.leader()
    leader.kill()
    await trio.sleep(2 * INTERVAL)
    await leader.start()
    await until(lambda: whole(cluster, "node1", NAMES), 10, "settled")
    assert cluster.view("node1")["shards"] == before
    slots = report(cluster, t0, time.time() - INTERVAL)
    assert slots.missed == 0, slots.missing
