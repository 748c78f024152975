"""The etcd coordinator in-process against real etcd: claims, handover, fail-open."""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from cluster.coordinator import EtcdCoordinator
from cluster.etcd import EtcdClient
from cluster.ring import assignment
from tests.servers.etcd import EtcdMember, restore_snapshot, save_snapshot
from uptrack.coordination import Assignment

SHARDS = 64
TTL = 2


class Runners:
    """What a node's shard supervisor would run: the last assignment, and its history."""

    def __init__(self) -> None:
        self.owned: dict[int, int] = {}
        self.history: list[dict[int, int]] = []

    async def assign(self, owned: Assignment) -> None:
        self.owned = dict(owned)
        self.history.append(dict(owned))


async def until(condition: Callable[[], bool], deadline: float, what: str) -> None:
    with trio.move_on_after(deadline):
        while True:
            if condition():
                return
            await trio.sleep(0.02)
    raise AssertionError(f"not within {deadline} s: {what}")


@asynccontextmanager
async def node(
    endpoints: list[str], prefix: str, name: str, ttl: int = TTL, **kw: object
) -> AsyncIterator[tuple[EtcdCoordinator, Runners]]:
    runners = Runners()
    async with EtcdClient(endpoints, timeout=1.0) as etcd, trio.open_nursery() as nursery:
        coordinator = EtcdCoordinator(
            etcd,
            name=name,
            api_url="http://127.0.0.1:9",
            shards=SHARDS,
            lease_ttl=ttl,
            prefix=prefix,
            **kw,  # type: ignore[arg-type]
        )
        await nursery.start(coordinator.run, runners.assign)
        yield coordinator, runners
        nursery.cancel_scope.cancel()


def owners(*nodes: tuple[EtcdCoordinator, Runners]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = collections.defaultdict(list)
    for coordinator, runners in nodes:
        for shard in runners.owned:
            out[shard].append(coordinator.name)
    return out


async def test_three_nodes_split_the_shards_as_rendezvous_hashing_says(
    shared_etcd: EtcdMember, prefix: str
) -> None:
    eps = shared_etcd.endpoints
    async with (
        node(eps, prefix, "a") as a,
        node(eps, prefix, "b") as b,
        node(eps, prefix, "c") as c,
    ):
        want = assignment(SHARDS, ["a", "b", "c"])
        await until(
            lambda: owners(a, b, c) == {s: [n] for s, n in want.items()}, 15, "rendezvous map"
        )
        view = a[0].view()
        assert {n.name: n.shards for n in view.nodes} == dict(collections.Counter(want.values()))
        assert len(view.shards) == SHARDS
        # every epoch is the create_revision of the shard key
        async with EtcdClient(eps) as etcd:
            for coordinator, runners in (a, b, c):
                for shard, epoch in runners.owned.items():
                    kv = await etcd.get(coordinator.keys.shard(shard))
                    assert kv is not None
                    assert (kv.value.decode(), kv.create_revision) == (coordinator.node_id, epoch)


async def test_a_node_that_leaves_hands_its_shards_to_the_others_at_once(
    shared_etcd: EtcdMember, prefix: str
) -> None:
    eps = shared_etcd.endpoints
    async with node(eps, prefix, "a") as a, node(eps, prefix, "b") as b:
        await until(lambda: len(owners(a, b)) == SHARDS, 5, "all shards owned")
        before = trio.current_time()
        await a[1].assign({})  # the runners stop first, as the node's drain does
        await a[0].release_all()
        await until(lambda: len(b[1].owned) == SHARDS, 2, "b owns every shard")
        took = trio.current_time() - before
        await a[0].leave()
    assert took < TTL  # handed over, not waited out


async def test_a_killed_node_s_shards_are_taken_over_after_its_lease_expires(
    shared_etcd: EtcdMember, prefix: str
) -> None:
    eps = shared_etcd.endpoints
    async with node(eps, prefix, "b") as b:
        async with node(eps, prefix, "a") as a:
            await until(lambda: len(owners(a, b)) == SHARDS and a[1].owned, 5, "split")
            a_shards = set(a[1].owned)
        # leaving the block cancels a's tasks: no release, no revoke, like kill -9
        gone = trio.current_time()
        await until(lambda: a_shards <= set(b[1].owned), TTL + 3, "takeover")
        assert trio.current_time() - gone < TTL + 1.5


async def test_every_change_in_etcd_wakes_the_reconciler_not_only_its_timer(
    shared_etcd: EtcdMember, prefix: str
) -> None:
    # a long lease puts the timer pass 15 s apart: a claim within 3 s came from the watch
    ttl = 30
    async with node(shared_etcd.endpoints, prefix, "a", ttl=ttl) as (coordinator, runners):
        await until(lambda: len(runners.owned) == SHARDS, 5, "all shards owned")
        async with EtcdClient(shared_etcd.endpoints) as etcd:
            for shard in (3, 5, 7):  # again and again: each wake-up must arm the next
                key = coordinator.keys.shard(shard)
                deleted = await etcd.delete(key)
                await until(
                    lambda: runners.owned.get(shard, 0) > deleted.revision,  # noqa: B023
                    3,
                    f"shard {shard} claimed again",
                )


async def test_without_etcd_a_node_keeps_its_shards_and_claims_them_again(
    etcd_member: EtcdMember, prefix: str
) -> None:
    async with node(etcd_member.endpoints, prefix, "a") as (coordinator, runners):
        await until(lambda: len(runners.owned) == SHARDS, 5, "all shards owned")
        before = dict(runners.owned)
        assignments = len(runners.history)
        etcd_member.suspend()
        try:
            await until(lambda: coordinator.degraded, TTL + 3, "degraded")
            assert runners.owned == before  # fail-open: still checking everything
            assert coordinator.view().degraded
        finally:
            etcd_member.resume()
        await until(lambda: not coordinator.degraded, 10, "recovered")
        # a single member resumed after its TTL expires the lease: the node claims
        # again, under new epochs, and never stopped running a shard meanwhile
        await until(
            lambda: all(runners.owned[s] > e for s, e in before.items()), 5, "claims renewed"
        )
        assert all(len(owned) == SHARDS for owned in runners.history[assignments:])


async def test_a_drain_request_in_etcd_reaches_the_named_node(
    shared_etcd: EtcdMember, prefix: str
) -> None:
    asked = trio.Event()
    async with node(shared_etcd.endpoints, prefix, "a", on_drain_request=asked.set) as (c, _):
        async with EtcdClient(shared_etcd.endpoints) as etcd:
            await etcd.put(c.keys.drain_request("a"), "requested")
        with trio.fail_after(3):
            await asked.wait()


async def test_a_node_refuses_a_cluster_with_another_shard_count(
    shared_etcd: EtcdMember, prefix: str
) -> None:
    async with EtcdClient(shared_etcd.endpoints) as etcd:
        await etcd.put(prefix + "meta/shards", "128")
        coordinator = EtcdCoordinator(
            etcd, name="a", api_url="http://127.0.0.1:9", shards=SHARDS, prefix=prefix
        )
        runners = Runners()
        try:
            await coordinator.run(runners.assign)
        except Exception as exc:  # noqa: BLE001 - the type is asserted below
            error: Awaitable[None] | Exception = exc
        else:
            raise AssertionError("ran against a cluster of another shard count")
    assert "uses 128" in str(error)


async def test_after_etcd_is_restored_from_an_older_snapshot_the_node_follows_it(
    etcd_member: EtcdMember, prefix: str, tmp_path: Path
) -> None:
    snapshot = tmp_path / "snap.db"
    asked = trio.Event()
    async with EtcdClient(etcd_member.endpoints) as etcd:
        await etcd.put(prefix + "before", "the node")
        await save_snapshot(etcd_member, snapshot)
        for i in range(20):  # history the snapshot does not have
            await etcd.put(prefix + "after", str(i))
        async with node(etcd_member.endpoints, prefix, "a", on_drain_request=asked.set) as (
            coordinator,
            runners,
        ):
            await until(lambda: len(runners.owned) == SHARDS, 5, "all shards owned")
            await restore_snapshot(etcd_member, snapshot)  # no node, no claim in it
            # the node registers again and claims every shard anew in the restored etcd
            with trio.fail_after(15):
                while True:
                    listed = await etcd.range(coordinator.keys.shards, prefix=True)
                    in_etcd = {kv.key: (kv.value.decode(), kv.create_revision) for kv in listed.kvs}
                    running = {
                        coordinator.keys.shard(s): (coordinator.node_id, epoch)
                        for s, epoch in runners.owned.items()
                    }
                    if len(in_etcd) == SHARDS and running == in_etcd:
                        break
                    await trio.sleep(0.05)
            assert not coordinator.degraded
            # a drain request made now has a revision below the one the node joined
            # at before the restore: it must reach the node all the same
            await etcd.put(coordinator.keys.drain_request("a"), "requested")
            with trio.fail_after(3):
                await asked.wait()
