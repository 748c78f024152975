"""The etcd client against a real etcd 3.4: KV, txn, leases, watch, compaction, failover."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import trio

from cluster.etcd import (
    BadRequest,
    Compacted,
    Compare,
    Delete,
    DeleteResult,
    EtcdClient,
    Get,
    HistoryRewound,
    LeaseNotFound,
    OutcomeUnknown,
    Put,
    PutResult,
    RangeResult,
    Unavailable,
    WatchBatch,
)
from cluster.mirror import Mirror
from cluster.watch import Watch
from tests.servers import serve_http
from tests.servers.etcd import (
    EtcdCluster,
    EtcdMember,
    free_port,
    restore_snapshot,
    save_snapshot,
)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def gateway_post(url: str, path: str, body: dict[str, object]) -> dict[str, object]:
    """What the gateway itself answers, to show the quirk the client absorbs."""
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as http:
        reply = await http.post(f"{url}/v3{path}", json=body)
    decoded: dict[str, object] = reply.json()
    return decoded


async def next_batch(watch: Watch, timeout: float = 5.0) -> WatchBatch:
    with trio.fail_after(timeout):
        return await anext(watch)


async def collect(watch: Watch, count: int, timeout: float = 10.0) -> list[tuple[str, str, str]]:
    """(type, key, value) of the next `count` events."""
    seen: list[tuple[str, str, str]] = []
    with trio.fail_after(timeout):
        while len(seen) < count:
            batch = await anext(watch)
            seen += [(e.type, e.kv.key, e.kv.value.decode()) for e in batch.events]
    return seen


# -- KV ---------------------------------------------------------------------------------


async def test_a_put_value_is_read_back_with_its_revisions(etcd: EtcdClient, prefix: str) -> None:
    first = await etcd.put(prefix + "k", "v1")
    second = await etcd.put(prefix + "k", b"v2")

    kv = await etcd.get(prefix + "k")

    assert kv is not None
    assert (kv.key, kv.value, kv.version) == (prefix + "k", b"v2", 2)
    assert (kv.create_revision, kv.mod_revision) == (first.revision, second.revision)
    assert kv.lease == 0
    assert await etcd.get(prefix + "missing") is None


async def test_a_prefix_range_returns_the_keys_under_it_and_nothing_beside(
    etcd: EtcdClient, prefix: str
) -> None:
    for key in ("b", "a", "c/d"):
        await etcd.put(prefix + key, key)
    await etcd.put(prefix.rstrip("/"), "the prefix without its slash")
    await etcd.put(prefix.rstrip("/") + "0", "the next key after the prefix")

    listed = await etcd.range(prefix, prefix=True)

    assert [kv.key for kv in listed.kvs] == [prefix + "a", prefix + "b", prefix + "c/d"]
    assert listed.count == 3
    assert listed.revision >= max(kv.mod_revision for kv in listed.kvs)


async def test_an_empty_range_and_an_empty_value_read_back_as_empty(
    etcd: EtcdClient, shared_etcd: EtcdMember, prefix: str
) -> None:
    await etcd.put(prefix + "empty", b"")

    nothing = await etcd.range(prefix + "none/", prefix=True)
    empty = await etcd.get(prefix + "empty")
    raw_nothing = await gateway_post(shared_etcd.client_url, "/kv/range", {"key": b64(prefix)})
    raw_empty = await gateway_post(
        shared_etcd.client_url, "/kv/range", {"key": b64(prefix + "empty")}
    )

    assert "kvs" not in raw_nothing  # the gateway leaves empty lists and zeros out ...
    assert "count" not in raw_nothing
    kvs = raw_empty["kvs"]
    assert isinstance(kvs, list)
    assert "value" not in kvs[0]  # ... and empty values ...
    assert isinstance(kvs[0]["mod_revision"], str)  # ... and sends int64 as strings

    assert (nothing.kvs, nothing.count) == ((), 0)
    assert empty is not None
    assert empty.value == b""


async def test_a_range_at_an_old_revision_sees_the_value_of_then(
    etcd: EtcdClient, prefix: str
) -> None:
    then = await etcd.put(prefix + "k", "old")
    await etcd.put(prefix + "k", "new")

    old = await etcd.range(prefix + "k", revision=then.revision)

    assert [kv.value for kv in old.kvs] == [b"old"]


async def test_delete_removes_one_key_or_a_whole_prefix(etcd: EtcdClient, prefix: str) -> None:
    for key in ("a", "b", "c"):
        await etcd.put(prefix + key, key)

    one = await etcd.delete(prefix + "a", prev_kv=True)
    rest = await etcd.delete(prefix, prefix=True)
    none = await etcd.delete(prefix + "a")

    assert (one.deleted, [kv.value for kv in one.prev_kvs]) == (1, [b"a"])
    assert rest.deleted == 2
    assert none.deleted == 0
    assert (await etcd.range(prefix, prefix=True)).kvs == ()


# -- txn --------------------------------------------------------------------------------


async def test_create_if_absent_succeeds_once_and_fails_the_second_time(
    etcd: EtcdClient, shared_etcd: EtcdMember, prefix: str
) -> None:
    key = prefix + "claim"

    first = await etcd.txn([Compare.absent(key)], [Put(key, "node-a")], [Get(key)])
    second = await etcd.txn([Compare.absent(key)], [Put(key, "node-b")], [Get(key)])
    raw = await gateway_post(
        shared_etcd.client_url,
        "/kv/txn",
        {"compare": [{"key": b64(key), "target": "CREATE", "result": "EQUAL"}]},
    )

    assert first.succeeded
    assert not second.succeeded
    assert "succeeded" not in raw  # the gateway leaves a false `succeeded` out
    assert isinstance(first.responses[0], PutResult)
    assert first.responses[0].revision == first.revision
    owner = second.responses[0]
    assert isinstance(owner, RangeResult)
    assert [kv.value for kv in owner.kvs] == [b"node-a"]
    assert owner.kvs[0].create_revision == first.revision


async def test_a_txn_compares_value_create_revision_mod_revision_and_version(
    etcd: EtcdClient, prefix: str
) -> None:
    key = prefix + "k"
    created = await etcd.put(key, "one")
    modified = await etcd.put(key, "two")

    async def holds(compare: Compare) -> bool:
        return (await etcd.txn([compare])).succeeded

    assert await holds(Compare.value(key, "==", "two"))
    assert not await holds(Compare.value(key, "==", b"one"))
    assert await holds(Compare.value(key, "!=", "one"))
    assert await holds(Compare.create_revision(key, "==", created.revision))
    assert not await holds(Compare.create_revision(key, "==", modified.revision))
    assert await holds(Compare.mod_revision(key, "==", modified.revision))
    assert not await holds(Compare.mod_revision(key, "==", created.revision))
    assert await holds(Compare.mod_revision(key, ">", created.revision))
    assert await holds(Compare.version(key, "==", 2))
    assert await holds(Compare.version(key, "<", 3))
    assert await holds(Compare.lease(key, "==", 0))
    assert not await holds(Compare.absent(key))


async def test_a_txn_runs_its_failure_ops_when_a_comparison_fails(
    etcd: EtcdClient, prefix: str
) -> None:
    await etcd.put(prefix + "owner", "node-b")
    await etcd.put(prefix + "shard", "x")

    result = await etcd.txn(
        [Compare.value(prefix + "owner", "==", "node-a")],
        [Delete(prefix + "shard")],
        [Put(prefix + "lost", "yes"), Delete(prefix + "shard")],
    )

    assert not result.succeeded
    assert isinstance(result.responses[1], DeleteResult)
    assert result.responses[1].deleted == 1
    assert await etcd.get(prefix + "shard") is None
    lost = await etcd.get(prefix + "lost")
    assert lost is not None
    assert lost.value == b"yes"


# -- leases -----------------------------------------------------------------------------


async def test_etcd_raises_a_lease_ttl_below_two_seconds_to_two(etcd: EtcdClient) -> None:
    short = await etcd.grant(1)
    none = await etcd.grant(0)
    usual = await etcd.grant(5)

    assert (short.ttl, none.ttl, usual.ttl) == (2, 2, 5)
    assert len({short.id, none.id, usual.id}) == 3
    for lease in (short, none, usual):
        await etcd.revoke(lease.id)


async def test_keepalive_returns_the_granted_ttl(etcd: EtcdClient) -> None:
    lease = await etcd.grant(7)

    assert await etcd.keepalive(lease.id) == 7
    await etcd.revoke(lease.id)


async def test_keepalive_on_a_revoked_lease_returns_zero(
    etcd: EtcdClient, shared_etcd: EtcdMember
) -> None:
    lease = await etcd.grant(5)
    await etcd.revoke(lease.id)

    ttl = await etcd.keepalive(lease.id)
    raw = await gateway_post(shared_etcd.client_url, "/lease/keepalive", {"ID": str(lease.id)})

    assert ttl == 0
    assert isinstance(raw["result"], dict)
    assert "TTL" not in raw["result"]


async def test_keys_attached_to_a_lease_vanish_when_it_is_revoked(
    etcd: EtcdClient, prefix: str
) -> None:
    lease = await etcd.grant(30)
    await etcd.put(prefix + "node", "me", lease=lease.id)
    await etcd.txn([Compare.absent(prefix + "shard")], [Put(prefix + "shard", "me", lease.id)])
    await etcd.put(prefix + "meta", "stays")
    attached = await etcd.get(prefix + "node")

    await etcd.revoke(lease.id)

    assert attached is not None
    assert attached.lease == lease.id
    assert [kv.key for kv in (await etcd.range(prefix, prefix=True)).kvs] == [prefix + "meta"]


async def test_time_to_live_tells_the_ttl_and_the_keys_of_a_lease(
    etcd: EtcdClient, prefix: str
) -> None:
    lease = await etcd.grant(30)
    await etcd.put(prefix + "a", "1", lease=lease.id)
    await etcd.put(prefix + "b", "2", lease=lease.id)

    status = await etcd.time_to_live(lease.id, keys=True)
    await etcd.revoke(lease.id)

    assert status.id == lease.id
    assert status.granted_ttl == 30
    assert 28 <= status.ttl <= 30
    assert sorted(status.keys) == [prefix + "a", prefix + "b"]
    with pytest.raises(LeaseNotFound):
        await etcd.time_to_live(lease.id)


async def test_a_lost_lease_is_lease_not_found_for_put_and_revoke(
    etcd: EtcdClient, prefix: str
) -> None:
    lease = await etcd.grant(5)
    await etcd.revoke(lease.id)

    with pytest.raises(LeaseNotFound):
        await etcd.put(prefix + "k", "v", lease=lease.id)
    with pytest.raises(LeaseNotFound):
        await etcd.txn([Compare.absent(prefix + "k")], [Put(prefix + "k", "v", lease.id)])
    with pytest.raises(LeaseNotFound):
        await etcd.revoke(lease.id)
    assert await etcd.get(prefix + "k") is None


async def test_an_expired_lease_takes_its_keys_and_keepalive_answers_zero(
    etcd: EtcdClient, prefix: str
) -> None:
    lease = await etcd.grant(2)
    put = await etcd.put(prefix + "node", "me", lease=lease.id)

    async with etcd.watch(prefix + "node", start_revision=put.revision + 1) as watch:
        batch = await next_batch(watch, timeout=6)  # TTL 2 s, expiry checked every 500 ms

    assert [event.type for event in batch.events] == ["delete"]
    assert await etcd.keepalive(lease.id) == 0
    with pytest.raises(LeaseNotFound):
        await etcd.time_to_live(lease.id)


# -- watch ------------------------------------------------------------------------------


async def test_a_watch_sees_puts_and_deletes_in_order(etcd: EtcdClient, prefix: str) -> None:
    start = await etcd.range(prefix, prefix=True)
    async with etcd.watch(
        prefix, prefix=True, start_revision=start.revision + 1, prev_kv=True
    ) as watch:
        await etcd.put(prefix + "a", "1")
        await etcd.put(prefix + "b", "2")
        await etcd.put(prefix.rstrip("/") + "0", "outside")
        await etcd.delete(prefix + "a")
        await etcd.put(prefix + "b", "3")

        seen = await collect(watch, 4)
        assert seen == [
            ("put", prefix + "a", "1"),
            ("put", prefix + "b", "2"),
            ("delete", prefix + "a", ""),
            ("put", prefix + "b", "3"),
        ]


async def test_a_delete_event_carries_the_value_it_deleted_when_asked(
    etcd: EtcdClient, prefix: str
) -> None:
    put = await etcd.put(prefix + "k", "gone soon")
    async with etcd.watch(prefix + "k", start_revision=put.revision + 1, prev_kv=True) as watch:
        deleted = await etcd.delete(prefix + "k")

        batch = await next_batch(watch)

    (event,) = batch.events
    assert (event.type, event.kv.mod_revision) == ("delete", deleted.revision)
    assert event.prev_kv is not None
    assert event.prev_kv.value == b"gone soon"
    assert watch.next_revision == deleted.revision + 1


async def test_a_watch_from_an_old_revision_replays_what_happened_since(
    etcd: EtcdClient, prefix: str
) -> None:
    first = await etcd.put(prefix + "a", "1")
    await etcd.put(prefix + "a", "2")
    await etcd.delete(prefix + "a")

    async with etcd.watch(prefix, prefix=True, start_revision=first.revision) as watch:
        seen = await collect(watch, 3)

    assert seen == [
        ("put", prefix + "a", "1"),
        ("put", prefix + "a", "2"),
        ("delete", prefix + "a", ""),
    ]


async def test_a_quiet_watch_keeps_its_stream_through_progress_notifications(
    shared_etcd: EtcdMember, prefix: str
) -> None:
    # the member sends progress notifications every second; silence would take 2 s
    async with EtcdClient(shared_etcd.endpoints, watch_idle=2.0) as etcd:
        put = await etcd.put(prefix + "k", "v")
        async with (
            etcd.watch(prefix, prefix=True, start_revision=put.revision + 1) as watch,
            trio.open_nursery() as nursery,
        ):
            send, batches = trio.open_memory_channel[WatchBatch](10)

            async def follow() -> None:
                async for batch in watch:
                    await send.send(batch)

            nursery.start_soon(follow)
            await trio.sleep(4.5)  # quiet for twice as long as the watch tolerates silence

            assert watch.reconnects == 0
            await etcd.put(prefix + "k", "after")
            with trio.fail_after(5):
                batch = await batches.receive()
            assert [e.kv.value for e in batch.events] == [b"after"]
            nursery.cancel_scope.cancel()


async def test_a_watch_resumes_after_etcd_restarts_without_losing_an_event(
    etcd_member: EtcdMember, prefix: str
) -> None:
    async with EtcdClient(etcd_member.endpoints, timeout=1.0) as etcd:
        start = await etcd.put(prefix + "k", "0")
        async with etcd.watch(prefix, prefix=True, start_revision=start.revision + 1) as watch:
            await etcd.put(prefix + "k", "1")
            assert await collect(watch, 1) == [("put", prefix + "k", "1")]

            etcd_member.kill()
            await etcd_member.start()
            for value in ("2", "3"):  # the watch's stream is broken meanwhile
                await etcd.put(prefix + "k", value)
            await etcd.delete(prefix + "k")

            seen = await collect(watch, 3)
            assert seen == [
                ("put", prefix + "k", "2"),
                ("put", prefix + "k", "3"),
                ("delete", prefix + "k", ""),
            ]
            assert watch.reconnects == 1


async def test_a_watch_leaves_a_silent_member_for_another_and_resumes(
    etcd_cluster: EtcdCluster, prefix: str
) -> None:
    first = await etcd_cluster.follower()  # a silent leader would stall writes for an election
    second = next(m for m in etcd_cluster.members if m is not first)
    async with (
        EtcdClient([first.client_url, second.client_url], watch_idle=1.0) as watching,
        EtcdClient([second.client_url]) as writing,
    ):
        start = await writing.put(prefix + "k", "0")
        async with watching.watch(prefix, prefix=True, start_revision=start.revision + 1) as w:
            await writing.put(prefix + "k", "1")
            assert await collect(w, 1) == [("put", prefix + "k", "1")]
            assert w.endpoint == first.client_url

            first.suspend()
            for value in ("2", "3"):
                await writing.put(prefix + "k", value)

            assert await collect(w, 2) == [("put", prefix + "k", "2"), ("put", prefix + "k", "3")]
            assert w.endpoint == second.client_url
            assert w.reconnects == 1


async def test_a_watch_from_a_compacted_revision_raises_compacted_with_the_oldest_revision(
    etcd_member: EtcdMember, prefix: str
) -> None:
    async with EtcdClient(etcd_member.endpoints) as etcd:
        old = await etcd.put(prefix + "k", "1")
        latest = await etcd.put(prefix + "k", "2")
        await etcd.compact(latest.revision)

        with pytest.raises(Compacted) as raised:
            async with etcd.watch(prefix, prefix=True, start_revision=old.revision) as watch:
                await next_batch(watch)
        with pytest.raises(Compacted):
            await etcd.range(prefix, prefix=True, revision=old.revision)
        with pytest.raises(Compacted):
            await etcd.compact(old.revision)

    assert raised.value.compact_revision == latest.revision
    with pytest.raises(StopAsyncIteration):
        await anext(watch)  # a compacted watch is closed: re-list, then watch anew


async def test_a_watch_broken_during_a_compaction_reports_it_and_a_relist_loses_nothing(
    etcd_member: EtcdMember, prefix: str
) -> None:
    async with EtcdClient(etcd_member.endpoints, timeout=1.0) as etcd:
        await etcd.put(prefix + "a", "1")
        listed = await etcd.range(prefix, prefix=True)
        async with etcd.watch(prefix, prefix=True, start_revision=listed.revision + 1) as watch:
            await etcd.put(prefix + "b", "2")
            assert await collect(watch, 1) == [("put", prefix + "b", "2")]

            etcd_member.kill()
            await etcd_member.start()
            await etcd.put(prefix + "c", "3")
            await etcd.delete(prefix + "a")
            latest = await etcd.put(prefix + "d", "4")
            await etcd.compact(latest.revision)

            with pytest.raises(Compacted) as raised:
                await next_batch(watch)

        assert raised.value.compact_revision == latest.revision
        relisted = await etcd.range(prefix, prefix=True)
        assert {kv.key: kv.value for kv in relisted.kvs} == {
            prefix + "b": b"2",
            prefix + "c": b"3",
            prefix + "d": b"4",
        }
        assert relisted.revision >= latest.revision


class Changes:
    """The `changed` callback of a Mirror, and a way to wait for the change a test expects."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def __call__(self) -> None:
        self._event.set()

    async def until(self, holds: Callable[[], bool], timeout: float = 10.0) -> None:
        with trio.fail_after(timeout):
            while not holds():
                await self._event.wait()
                self._event = trio.Event()


async def test_a_mirror_waits_until_it_has_seen_a_revision(etcd: EtcdClient, prefix: str) -> None:
    mirror = Mirror(etcd, prefix)
    async with trio.open_nursery() as nursery:
        await nursery.start(mirror.run)
        written = await etcd.put(prefix + "k", "v")
        with trio.fail_after(5):
            await mirror.reached(written.revision)
        assert mirror.kvs[prefix + "k"].value == b"v"
        with trio.move_on_after(0.3) as waiting:  # a revision not written yet: no answer
            await mirror.reached(written.revision + 1)
        assert waiting.cancelled_caught
        nursery.cancel_scope.cancel()


async def test_a_mirror_follows_a_prefix_and_relists_after_a_compaction(
    etcd_member: EtcdMember, prefix: str
) -> None:
    async with EtcdClient(etcd_member.endpoints, timeout=1.0) as etcd:
        await etcd.put(prefix + "a", "1")
        mirror = Mirror(etcd, prefix)
        changes = Changes()

        async with trio.open_nursery() as nursery:
            await nursery.start(mirror.run, changes)
            assert {k: kv.value for k, kv in mirror.kvs.items()} == {prefix + "a": b"1"}

            await etcd.put(prefix + "b", "2")
            await changes.until(lambda: prefix + "b" in mirror.kvs)

            etcd_member.kill()  # the mirror's watch breaks; while it reconnects ...
            await etcd_member.start()
            await etcd.delete(prefix + "a")
            latest = await etcd.put(prefix + "c", "3")
            await etcd.compact(latest.revision)  # ... what it missed is compacted away

            await changes.until(lambda: set(mirror.kvs) == {prefix + "b", prefix + "c"})
            assert mirror.revision >= latest.revision
            nursery.cancel_scope.cancel()


async def test_a_watch_on_etcd_restored_from_an_older_snapshot_raises_history_rewound(
    etcd_member: EtcdMember, prefix: str, tmp_path: Path
) -> None:
    snapshot = tmp_path / "snap.db"
    async with EtcdClient(etcd_member.endpoints, timeout=1.0) as etcd:
        await etcd.put(prefix + "a", "1")
        await save_snapshot(etcd_member, snapshot)
        later = await etcd.put(prefix + "b", "2")
        async with etcd.watch(prefix, prefix=True, start_revision=later.revision + 1) as watch:
            await restore_snapshot(etcd_member, snapshot)
            with pytest.raises(HistoryRewound) as raised, trio.fail_after(10):
                await anext(watch)
            assert raised.value.revision == later.revision - 1
            with pytest.raises(StopAsyncIteration):  # closed, as after a compaction
                await anext(watch)


@pytest.mark.parametrize("down_for", [0, 2.5], ids=["watch-resumes", "watch-gives-up"])
async def test_a_mirror_relists_when_etcd_is_restored_from_an_older_snapshot(
    etcd_member: EtcdMember, prefix: str, tmp_path: Path, down_for: float
) -> None:
    snapshot = tmp_path / "snap.db"
    # the watch gives up after 1 s: a longer restore is noticed by the next listing
    async with EtcdClient(etcd_member.endpoints, timeout=1.0, watch_reconnect=1.0) as etcd:
        await etcd.put(prefix + "a", "1")
        await save_snapshot(etcd_member, snapshot)
        mirror = Mirror(etcd, prefix)
        changes = Changes()

        async def follow() -> None:  # as the coordinator does: run again when it gives up
            while True:
                with contextlib.suppress(Unavailable):
                    await mirror.run(changes)
                await trio.sleep(0.2)

        async with trio.open_nursery() as nursery:
            await etcd.put(prefix + "b", "2")
            seen = await etcd.put(prefix + "c", "3")
            nursery.start_soon(follow)
            await changes.until(lambda: mirror.revision == seen.revision)
            assert set(mirror.kvs) == {prefix + "a", prefix + "b", prefix + "c"}

            await restore_snapshot(etcd_member, snapshot, down_for=down_for)  # "a" alone
            await changes.until(lambda: set(mirror.kvs) == {prefix + "a"})
            assert (mirror.rewinds, mirror.rewound_to) == (1, seen.revision - 2)
            # and it follows the restored etcd from there, even below its old revision
            await etcd.put(prefix + "d", "4")
            await changes.until(lambda: set(mirror.kvs) == {prefix + "a", prefix + "d"})
            nursery.cancel_scope.cancel()


# -- failover, deadlines, errors --------------------------------------------------------


async def test_calls_fail_over_past_a_killed_member(etcd_cluster: EtcdCluster, prefix: str) -> None:
    killed = await etcd_cluster.follower()
    killed.kill()
    others = [url for url in etcd_cluster.endpoints if url != killed.client_url]

    async with EtcdClient([killed.client_url, *others]) as etcd:
        put = await etcd.put(prefix + "k", "v")
        kv = await etcd.get(prefix + "k")
        lease = await etcd.grant(5)
        assert await etcd.keepalive(lease.id) == 5

    assert kv is not None
    assert kv.mod_revision == put.revision


async def test_reads_fail_over_past_a_silent_member_within_the_deadline(
    etcd_cluster: EtcdCluster, prefix: str
) -> None:
    silent = await etcd_cluster.follower()
    others = [url for url in etcd_cluster.endpoints if url != silent.client_url]
    async with EtcdClient(others) as writer:
        await writer.put(prefix + "k", "v")
    silent.suspend()

    async with EtcdClient([silent.client_url, *others], timeout=2.0) as etcd:
        started = trio.current_time()
        kv = await etcd.get(prefix + "k")
        first_call = trio.current_time() - started
        started = trio.current_time()
        await etcd.get(prefix + "k")  # the client now starts with the member that answered
        second_call = trio.current_time() - started

    assert kv is not None
    assert kv.value == b"v"
    assert first_call < 2.0
    assert second_call < 0.5


async def test_calls_succeed_again_once_the_cluster_has_replaced_a_killed_leader(
    etcd_cluster: EtcdCluster, prefix: str
) -> None:
    leader = await etcd_cluster.leader()
    others = [url for url in etcd_cluster.endpoints if url != leader.client_url]
    async with EtcdClient([leader.client_url, *others], timeout=1.0) as etcd:
        await etcd.put(prefix + "k", "before")
        leader.kill()
        started = trio.current_time()

        with trio.fail_after(8):  # an election takes about the election timeout (1 s)
            while True:
                try:
                    await etcd.txn([Compare.absent(prefix + "after")], [Put(prefix + "after", "x")])
                    break
                except Unavailable:  # and never anything else meanwhile (measured: ~1.3 s)
                    continue

        assert trio.current_time() - started < 5.0
        assert (await etcd_cluster.leader()) is not leader
        kv = await etcd.get(prefix + "k")
    assert kv is not None
    assert kv.value == b"before"


async def test_calls_are_unavailable_within_the_deadline_while_quorum_is_lost(
    etcd_cluster: EtcdCluster, prefix: str
) -> None:
    async with EtcdClient(etcd_cluster.endpoints, timeout=1.0) as etcd:
        lease = await etcd.grant(10)
        await etcd.put(prefix + "k", "v", lease=lease.id)
        # as etcd's and Patroni's tests lose quorum; the leader goes too, as an isolated
        # leader renews leases itself until it notices (within an election timeout)
        stopped = [await etcd_cluster.leader(), await etcd_cluster.follower()]
        for member in stopped:
            member.suspend()

        reads: list[Callable[[], Awaitable[object]]] = [
            lambda: etcd.get(prefix + "k"),
            lambda: etcd.keepalive(lease.id),
        ]
        for read in reads:
            started = trio.current_time()
            with pytest.raises(Unavailable):
                await read()
            assert trio.current_time() - started < 1.3

        for member in stopped:
            member.resume()
        with trio.fail_after(8):
            while True:
                try:
                    assert await etcd.keepalive(lease.id) == 10  # the lease outlived the outage
                    break
                except Unavailable:
                    continue


async def test_unavailable_is_raised_within_the_deadline_when_no_member_answers(
    etcd_member: EtcdMember, prefix: str
) -> None:
    etcd_member.suspend()
    async with EtcdClient(etcd_member.endpoints, timeout=1.0) as etcd:
        reads: list[Callable[[], Awaitable[object]]] = [
            lambda: etcd.get(prefix + "k"),
            lambda: etcd.keepalive(1),
        ]
        for read in reads:
            started = trio.current_time()
            with pytest.raises(Unavailable) as raised:
                await read()
            assert trio.current_time() - started < 1.3
            assert not isinstance(raised.value, OutcomeUnknown)

        with pytest.raises(OutcomeUnknown):  # sent, unanswered: it may apply when etcd wakes
            await etcd.put(prefix + "k", "v")

    etcd_member.resume()


async def test_a_write_that_never_reached_etcd_is_unavailable_not_outcome_unknown(
    prefix: str,
) -> None:
    async with EtcdClient([f"http://127.0.0.1:{free_port()}"], timeout=1.0) as etcd:
        with pytest.raises(Unavailable) as raised:
            await etcd.put(prefix + "k", "v")

    assert not isinstance(raised.value, OutcomeUnknown)
    assert "ConnectError" in str(raised.value)


async def test_a_watch_gives_up_with_unavailable_when_no_member_takes_it_back(
    etcd_member: EtcdMember, prefix: str
) -> None:
    async with EtcdClient(etcd_member.endpoints, timeout=0.5, watch_reconnect=1.0) as etcd:
        put = await etcd.put(prefix + "k", "v")
        async with etcd.watch(prefix, prefix=True, start_revision=put.revision) as watch:
            await next_batch(watch)
            etcd_member.kill()

            started = trio.current_time()
            with pytest.raises(Unavailable):
                await next_batch(watch)

    assert trio.current_time() - started < 2.0
    assert watch.next_revision == put.revision + 1  # where a new watch resumes


async def test_gateway_errors_become_typed_errors(etcd: EtcdClient, prefix: str) -> None:
    current = await etcd.put(prefix + "k", "v")

    with pytest.raises(BadRequest) as future:
        await etcd.range(prefix + "k", revision=current.revision + 1000)
    async with serve_http() as not_etcd, EtcdClient([not_etcd.url]) as wrong:
        with pytest.raises(BadRequest) as not_a_gateway:
            await wrong.get(prefix + "k")

    assert future.value.code == 11  # OutOfRange: "required revision is a future revision"
    assert "future revision" in str(future.value)
    assert not_a_gateway.value.code is None
