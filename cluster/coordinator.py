"""The etcd coordinator: membership, shard claims, takeover, drain and fail-open (DESIGN §4).

One task reconciles, and only it writes shard keys: it compares the shards this node
runs with what etcd says (mirrored in memory by a watch) and with what rendezvous
hashing wants, then releases (runner stopped first, key deleted only if still ours)
and claims (create-if-absent on the node's lease; the key's create_revision is the
claim's epoch). Other tasks only raise flags and wake it: the lease keeper, the
event-loop lag monitor, the peer prober and the mirror.

Fail-open: when the lease cannot be renewed, the node marks itself degraded and keeps
running the shards it has; when etcd answers again it registers anew, claims what is
free and stops what others own. While degraded it probes its peers over their API and
adopts the shards of one unreachable for longer than the TTL.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import httpx
import structlog
import trio

from cluster.etcd import Compare, Delete, EtcdClient, EtcdError, Lease, Put
from cluster.mirror import Mirror
from cluster.records import Keys, decode_node, encode_node
from cluster.ring import assignment
from uptrack import __version__
from uptrack.clusterview import ClusterView, NodeInfo
from uptrack.coordination import Assign, Assignment
from uptrack.errors import ConfigError

log = structlog.get_logger()

DEBOUNCE = 0.05  # watch events within this window make one reconcile
LAG_SAMPLE = 0.25  # how often the event loop's lag is measured
RETRY_FIRST, RETRY_MAX = 0.2, 5.0
PEER_PROBE_TIMEOUT = 1.0
CLAIM_BATCH = 64  # operations per claim transaction (etcd allows 128 by default)


class EtcdCoordinator:
    def __init__(
        self,
        etcd: EtcdClient,
        *,
        name: str,
        api_url: str,
        shards: int,
        lease_ttl: int = 5,
        prefix: str = "/uptrack/",
        on_drain_request: Callable[[], None] = lambda: None,
    ) -> None:
        self.etcd = etcd
        self.name = name
        self.incarnation = secrets.token_hex(4)
        self.node_id = f"{name}-{self.incarnation}"
        self.api_url = api_url
        self.shard_count = shards
        self.requested_ttl = lease_ttl
        self.keys = Keys(prefix)
        self.mirror = Mirror(etcd, prefix)
        self.on_drain_request = on_drain_request
        self.started_at = time.time()
        self.lease: Lease | None = None
        self.ttl = float(lease_ttl)  # what etcd granted, once registered
        self.owned: dict[int, int] = {}  # shard -> epoch, what the runners run
        self.degraded = False
        self.draining = False
        self.lease_losses = 0
        self._assign: Assign | None = None
        self._kick = trio.Event()
        self._last_ack = trio.current_time()  # send time of the last renewed keepalive
        self._lost = True  # no valid lease: register (again) at the next reconcile
        self._suspect = False  # the loop stalled: re-read etcd before trusting the mirror
        self._free_since: dict[int, float] = {}
        self._peer_down_since: dict[str, float] = {}
        self._drain_seen = False
        self._joined_revision = 0
        self._written = 0  # revision of this node's latest write to etcd
        self._rewinds_seen = 0

    # -- the view the API and CLI show ---------------------------------------------
    def view(self) -> ClusterView:
        owners: dict[int, str] = {}
        nodes: dict[str, NodeInfo] = {}
        for key, kv in self.mirror.kvs.items():
            shard = self.keys.shard_of_key(key)
            if shard is not None:
                owners[shard] = kv.value.decode(errors="replace")
            elif key.startswith(self.keys.nodes):
                info = decode_node(kv.value)
                if info is not None:
                    nodes[info.id] = info
        counts: dict[str, int] = {}
        for node_id in owners.values():
            counts[node_id] = counts.get(node_id, 0) + 1
        return ClusterView(
            mode="etcd",
            node=self.node_id,
            degraded=self.degraded,
            shard_count=self.shard_count,
            nodes=[
                NodeInfo(
                    id=n.id,
                    name=n.name,
                    incarnation=n.incarnation,
                    api_url=n.api_url,
                    version=n.version,
                    started_at=n.started_at,
                    draining=n.draining,
                    shards=counts.get(n.id, 0),
                )
                for n in sorted(nodes.values(), key=lambda n: n.name)
            ],
            shards=dict(sorted(owners.items())),
            running=sorted(self.owned),
        )

    def _record(self) -> NodeInfo:
        return NodeInfo(
            id=self.node_id,
            name=self.name,
            incarnation=self.incarnation,
            api_url=self.api_url,
            version=__version__,
            started_at=self.started_at,
            draining=self.draining,
        )

    # -- lifecycle -------------------------------------------------------------------
    async def run(
        self, assign: Assign, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self._assign = assign
        await self._until_done(self._check_shard_count, "meta")
        async with trio.open_nursery() as nursery:
            await nursery.start(self._follow)
            await self._until_done(self.reconcile_once, "reconcile")
            nursery.start_soon(self._keep_lease)
            nursery.start_soon(self._watch_lag)
            nursery.start_soon(self._probe_peers)
            log.info("cluster.joined", node=self.node_id, ttl=self.ttl, shards=len(self.owned))
            task_status.started()
            await self._reconcile_loop()

    async def release_all(self) -> None:
        """Drain, first half: mark this node draining and hand every shard over now.
        Runners must have stopped scheduling; checks in flight may still finish."""
        self.draining = True
        with trio.move_on_after(max(2.0, self.ttl), shield=True):
            try:
                if self.lease is not None and not self._lost:
                    await self.etcd.put(
                        self.keys.node(self.node_id),
                        encode_node(self._record()),
                        lease=self.lease.id,
                    )
                for shard in list(self.owned):
                    await self._delete_if_mine(shard)
                log.info("cluster.released_all", node=self.node_id, shards=len(self.owned))
            except EtcdError as exc:
                log.warning("cluster.release_failed", error=str(exc))

    async def leave(self) -> None:
        """Drain, second half: revoke the lease (deleting any key left on it)."""
        self.draining = True
        with trio.move_on_after(max(2.0, self.ttl), shield=True):
            try:
                if self.lease is not None:
                    await self.etcd.revoke(self.lease.id)
                log.info("cluster.left", node=self.node_id)
            except EtcdError as exc:
                log.warning("cluster.leave_failed", error=str(exc))

    # -- reconcile ---------------------------------------------------------------------
    async def _reconcile_loop(self) -> None:
        while True:
            with trio.move_on_after(self.ttl / 2):
                await self._kick.wait()
            await trio.sleep(DEBOUNCE)
            self._kick = trio.Event()
            if self.draining:
                continue
            try:
                await self.reconcile_once()
            except EtcdError as exc:
                log.info("cluster.reconcile_failed", error_type=type(exc).__name__, error=str(exc))

    async def reconcile_once(self) -> None:
        """One pass: register if needed, then release, claim, and tell the runners."""
        if self._lost:
            await self._register()
        if self._suspect:
            await self.mirror.relist()
            self._suspect = False
        if self.mirror.rewinds != self._rewinds_seen and self.mirror.rewound_to is not None:
            # etcd was restored from an older snapshot: revisions seen before no longer
            # order against new ones (a drain request made since has a revision below
            # the one this node joined at, and must count all the same)
            self._rewinds_seen = self.mirror.rewinds
            self._joined_revision = min(self._joined_revision, self.mirror.rewound_to)
            self._written = min(self._written, self.mirror.rewound_to)
        # decide on a mirror that has seen this node's own last claims and releases:
        # one a watch event behind would show a shard just claimed as still the old
        # owner's, and the node would stop running it
        with trio.move_on_after(self.ttl / 2) as waited:
            await self.mirror.reached(self._written)
        if waited.cancelled_caught:
            log.info("cluster.mirror_behind", written=self._written, mirror=self.mirror.revision)
        if self.draining:
            return  # the drain began while this pass waited: claim nothing more
        kvs = self.mirror.kvs
        request = kvs.get(self.keys.drain_request(self.name))
        # only a request made after this process joined: a stale one must not stop
        # the node its service manager just restarted
        if (
            request is not None
            and request.mod_revision > self._joined_revision
            and not self._drain_seen
        ):
            self._drain_seen = True
            log.info("cluster.drain_requested", node=self.node_id)
            self.on_drain_request()
            return
        names = set()
        for key, kv in kvs.items():
            if key.startswith(self.keys.nodes):
                info = decode_node(kv.value)
                if info is not None and not info.draining:
                    names.add(info.name)
        names.add(self.name)
        desired = assignment(self.shard_count, names)
        owners: dict[int, tuple[str, int]] = {}
        for key, kv in kvs.items():
            shard = self.keys.shard_of_key(key)
            if shard is not None:
                owners[shard] = (kv.value.decode(errors="replace"), kv.create_revision)
        now = trio.current_time()
        run = dict(self.owned)
        for shard in list(run):
            owner = owners.get(shard)
            if owner is not None and owner[0] != self.node_id:
                del run[shard]  # another node holds it: ours ran only while we were cut off
        for shard, (node_id, created) in owners.items():
            if node_id == self.node_id:
                run[shard] = created  # what etcd says is ours runs, under its epoch
        release = [
            s
            for s, (node_id, _) in owners.items()
            if node_id == self.node_id and desired[s] != self.name
        ]
        for shard in range(self.shard_count):
            if shard in owners:
                self._free_since.pop(shard, None)
            else:
                self._free_since.setdefault(shard, now)
        claim = [
            s
            for s in range(self.shard_count)
            if s not in owners
            and (desired[s] == self.name or s in run or now - self._free_since[s] > 2 * self.ttl)
        ]
        if release:
            for shard in release:
                run.pop(shard, None)
            await self._apply(run)  # runners stop before their keys go
            for shard in release:
                await self._delete_if_mine(shard)
            log.info("cluster.released", node=self.node_id, shards=release)
        if self.draining:
            return
        claimed = []
        for shard, epoch in (await self._claim_all(claim)).items():
            if epoch is None:
                run.pop(shard, None)
            else:
                run[shard] = epoch
                claimed.append(shard)
        if claimed:
            log.info("cluster.claimed", node=self.node_id, shards=claimed)
        if not self.draining:  # release_all stopped the runners meanwhile: keep them so
            await self._apply(run)

    async def _apply(self, run: Assignment) -> None:
        if dict(run) != self.owned:
            assert self._assign is not None
            await self._assign(dict(run))
            self.owned = dict(run)

    async def _claim_all(self, shards: list[int]) -> dict[int, int | None]:
        """Claim `shards`, a batch per transaction: peers claim disjoint sets, so a
        batch nearly always succeeds whole (a takeover is one round trip, not one
        per shard); when one shard of a batch is taken, its shards go one by one."""
        out: dict[int, int | None] = {}
        assert self.lease is not None
        for start in range(0, len(shards), CLAIM_BATCH):
            batch = shards[start : start + CLAIM_BATCH]
            keys = [self.keys.shard(s) for s in batch]
            result = await self.etcd.txn(
                [Compare.create_revision(k, "==", 0) for k in keys],
                [Put(k, self.node_id, self.lease.id) for k in keys],
            )
            if result.succeeded:
                self._wrote(result.revision)
                out.update(dict.fromkeys(batch, result.revision))
            else:
                for shard in batch:
                    out[shard] = await self._claim(shard)
        return out

    async def _claim(self, shard: int) -> int | None:
        assert self.lease is not None
        key = self.keys.shard(shard)
        result = await self.etcd.txn(
            [Compare.create_revision(key, "==", 0)], [Put(key, self.node_id, self.lease.id)]
        )
        if not result.succeeded:
            return None
        self._wrote(result.revision)
        return result.revision

    async def _delete_if_mine(self, shard: int) -> None:
        key = self.keys.shard(shard)
        result = await self.etcd.txn([Compare.value(key, "==", self.node_id)], [Delete(key)])
        if result.succeeded:
            self._wrote(result.revision)

    def _wrote(self, revision: int) -> None:
        """Remember a write of this node that changed a key under the prefix (a failed
        compare's revision may belong to keys the mirror never sees)."""
        self._written = max(self._written, revision)

    async def _register(self) -> None:
        if self.lease is not None and await self.etcd.keepalive(self.lease.id) > 0:
            # etcd was out of reach, not our lease: a new leader and a lost quorum both
            # keep leases alive, so the claims still stand (no epoch changes)
            self._recovered(self.lease)
            return
        lease = await self.etcd.grant(self.requested_ttl)
        put = await self.etcd.put(
            self.keys.node(self.node_id), encode_node(self._record()), lease=lease.id
        )
        self._wrote(put.revision)
        if not self._joined_revision:
            self._joined_revision = put.revision
        self._recovered(lease)

    def _recovered(self, lease: Lease) -> None:
        self.lease, self.ttl = lease, float(lease.ttl)
        self._last_ack = trio.current_time()
        self._lost = False
        if self.degraded:
            log.info("cluster.recovered", node=self.node_id, lease=f"{lease.id:x}")
        self.degraded = False
        self._peer_down_since.clear()

    async def _check_shard_count(self) -> None:
        key = self.keys.meta_shards
        result = await self.etcd.txn(
            [Compare.create_revision(key, "==", 0)], [Put(key, str(self.shard_count))]
        )
        if result.succeeded:
            log.info("cluster.created", shards=self.shard_count, prefix=self.keys.prefix)
            return
        stored = await self.etcd.get(key)
        if stored is not None and stored.value.decode() != str(self.shard_count):
            raise ConfigError(
                f"shards: this node is set to {self.shard_count} but the cluster under "
                f"{self.keys.prefix} uses {stored.value.decode()}; every node must use the same"
            )

    async def _until_done(self, step: Callable[[], object], what: str) -> None:
        backoff = RETRY_FIRST
        while True:
            try:
                await step()  # type: ignore[misc]
                return
            except EtcdError as exc:
                log.warning("cluster.waiting_for_etcd", step=what, error=str(exc))
                await trio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX)

    # -- the tasks that wake the reconciler ---------------------------------------------
    def _wake(self) -> None:
        """Ask for a reconcile soon. The loop swaps in a fresh event after each wake-up,
        so callers must go through here: a bound `self._kick.set` handed out earlier
        would set a spent event and the wake-up would wait for the timer."""
        self._kick.set()

    async def _follow(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        started = False
        backoff = RETRY_FIRST
        while True:
            try:
                if started:
                    await self.mirror.run(self._wake)
                else:
                    await self.mirror.run(self._wake, task_status=task_status)
            except EtcdError as exc:
                log.info("cluster.watch_lost", error_type=type(exc).__name__, error=str(exc))
            started = started or self.mirror.revision > 0
            await trio.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX)

    async def _keep_lease(self) -> None:
        while True:
            lease = self.lease
            if lease is not None and not self._lost:
                sent = trio.current_time()
                try:
                    with trio.move_on_after(max(0.5, self.ttl / 3)):
                        left = await self.etcd.keepalive(lease.id)
                        if left > 0:
                            self._last_ack = sent
                        else:
                            self._lease_lost("etcd answered that the lease is gone")
                except EtcdError:
                    pass
                if not self._lost and trio.current_time() - self._last_ack > self.ttl:
                    self._lease_lost("no keepalive was acknowledged for a whole TTL")
            await trio.sleep(self.ttl / 3)

    def _lease_lost(self, why: str) -> None:
        if self._lost:
            return
        self._lost = True
        self.degraded = True
        self.lease_losses += 1
        log.warning("cluster.degraded", node=self.node_id, why=why, running=len(self.owned))
        self._wake()

    async def _watch_lag(self) -> None:
        while True:
            before = trio.current_time()
            await trio.sleep(LAG_SAMPLE)
            lag = trio.current_time() - before - LAG_SAMPLE
            if lag > self.ttl:
                log.warning("cluster.loop_stalled", node=self.node_id, lag=round(lag, 2))
                self._suspect = True
                if trio.current_time() - self._last_ack > self.ttl:
                    self._lease_lost(f"the event loop stalled for {lag:.1f} s")
                self._wake()

    async def _probe_peers(self) -> None:
        async with httpx.AsyncClient(trust_env=False, timeout=PEER_PROBE_TIMEOUT) as http:
            while True:
                await trio.sleep(self.ttl / 2)
                if self.degraded and not self.draining:
                    await self._probe_once(http)

    async def _probe_once(self, http: httpx.AsyncClient) -> None:
        """While cut off from etcd: adopt the last-known shards of peers that stopped
        answering for longer than the TTL (checked twice is harmless: slots dedupe)."""
        peers: dict[str, NodeInfo] = {}
        owners: dict[int, tuple[str, int]] = {}
        for key, kv in self.mirror.kvs.items():
            shard = self.keys.shard_of_key(key)
            if shard is not None:
                owners[shard] = (kv.value.decode(errors="replace"), kv.create_revision)
            elif key.startswith(self.keys.nodes):
                info = decode_node(kv.value)
                if info is not None and info.id != self.node_id:
                    peers[info.id] = info
        now = trio.current_time()
        down: list[str] = []

        async def probe(peer: NodeInfo) -> None:
            try:
                answer = await http.get(peer.api_url.rstrip("/") + "/healthz")
                alive = answer.status_code == 200
            except httpx.HTTPError:
                alive = False
            if alive:
                self._peer_down_since.pop(peer.id, None)
            else:
                since = self._peer_down_since.setdefault(peer.id, now)
                if now - since > self.ttl:
                    down.append(peer.id)

        with trio.move_on_after(PEER_PROBE_TIMEOUT * 2):
            async with trio.open_nursery() as nursery:
                for peer in peers.values():
                    nursery.start_soon(probe, peer)
        adopt = {s: epoch for s, (owner, epoch) in owners.items() if owner in down}
        if adopt and not set(adopt) <= set(self.owned):
            log.warning("cluster.adopting", node=self.node_id, peers=down, shards=sorted(adopt))
            await self._apply({**self.owned, **adopt})
