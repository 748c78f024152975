"""The node: composes store, coordinator, shard runners, writer, feed and API (DESIGN §2)."""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping
from functools import partial
from typing import cast

import structlog
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from hypercorn.typing import ASGIFramework

from api.app import create_app
from checker.context import ProbeContext
from checker.kind import Kind
from checker.registry import KINDS
from checker.scheduler import CheckDeps
from checker.supervisor import ShardSupervisor
from cluster.coordinator import EtcdCoordinator
from cluster.etcd import EtcdClient
from cluster.local import LocalCoordinator
from uptrack import __version__
from uptrack.alerts.outbox import Deliverer
from uptrack.clock import Clock
from uptrack.clusterview import ClusterView, NodeInfo
from uptrack.config import Config
from uptrack.coordination import Coordinator
from uptrack.feed import MonitorFeed
from uptrack.health import Readiness
from uptrack.heartbeats import HeartbeatState
from uptrack.maintenance import Maintenance
from uptrack.metrics import Metrics
from uptrack.model import Monitor, Transition
from uptrack.spool import Spool
from uptrack.store.base import Store
from uptrack.writer import ResultWriter

log = structlog.get_logger()


class Node:
    """One Uptrack process. `run()` serves until `request_stop()` (or SIGINT/SIGTERM
    when `handle_signals`), then shuts down in order: stop scheduling, let in-flight
    checks finish within the grace period, write buffered results, stop the API."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        kinds: Mapping[str, Kind] = KINDS,
        coordinator: Coordinator | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.kinds = kinds
        self.metrics = Metrics()
        self.coordinator = coordinator
        self._clock = clock
        spool = Spool(config.data_path / "spool", max_results=config.spool_max_results)
        self.writer = ResultWriter(
            store, self.metrics, spool=spool, on_transitions=self._log_transitions
        )
        # -- alerts (DESIGN §6): every node delivers the outbox --
        self.deliverer = Deliverer(
            store, self.metrics, node=config.name, deadline=config.alert_deadline
        )
        self.feed: MonitorFeed | None = None
        self.supervisor: ShardSupervisor | None = None
        self.bound: list[str] = []
        self.started_at = time.time()
        self._stop = trio.Event()
        self._stopping = False
        self._coordinated = False

    # -- NodeView for the API --------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.name

    def readiness(self) -> Readiness:
        checks = {
            "store": self._store_readiness(),
            "monitors": "ok" if self.feed and self.feed.healthy else "monitor list not loaded",
            "shards": "ok",
        }
        if self._stopping:
            checks["shards"] = "shutting down"
        elif not self._coordinated or self.supervisor is None:
            checks["shards"] = "not assigned yet"
        elif self.supervisor.running() < len(self.supervisor.owned):
            running, owned = self.supervisor.running(), len(self.supervisor.owned)
            checks["shards"] = f"{running} of {owned} shard runners up"
        return Readiness(ready=all(v == "ok" for v in checks.values()), checks=checks)

    def _store_readiness(self) -> str:
        spooled = self.writer.spooled
        if not self.writer.healthy:
            return f"failing writes; {spooled} results spooled"
        return f"replaying {spooled} spooled results" if spooled else "ok"

    def cluster(self) -> ClusterView:
        if isinstance(self.coordinator, EtcdCoordinator):
            return self.coordinator.view()
        owned = sorted(self.supervisor.owned) if self.supervisor is not None else []
        me = NodeInfo(
            id=self.name,
            name=self.name,
            incarnation="",
            api_url=self.api_url,
            version=__version__,
            started_at=self.started_at,
            shards=len(owned),
        )
        return ClusterView(
            mode="single",
            node=self.name,
            degraded=False,
            shard_count=self.config.shards,
            nodes=[me],
            shards={s: self.name for s in owned},
            running=owned,
        )

    @property
    def api_url(self) -> str:
        host, port = self.config.listen_host, self.config.listen_port
        if self.bound:
            return self.bound[0]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"

    # -- lifecycle -------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    async def run(
        self,
        *,
        handle_signals: bool = False,
        task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        clock = self._clock or Clock()
        deps = CheckDeps(
            kinds=self.kinds,
            # heartbeat checks read ping records from the store, on the schedule's clock
            probe=ProbeContext(heartbeats=self._heartbeat, now=clock.now),
            limiter=trio.CapacityLimiter(self.config.max_concurrent_checks),
            clock=clock,
            emit=self.writer.submit,
            metrics=self.metrics,
            node=self.name,
        )
        supervisor = ShardSupervisor(deps, self._load_shard, self.config.shards)
        feed = MonitorFeed(
            self.store, on_change=supervisor.monitor_changed, on_delete=supervisor.monitor_deleted
        )
        self.supervisor, self.feed = supervisor, feed
        app = create_app(
            store=self.store,
            kinds=self.kinds,
            metrics=self.metrics,
            node=self,
            public_url=self.config.public_url,  # alerts: where messages link to
        )
        hc = HypercornConfig()
        hc.bind = [self.config.listen]
        hc.accesslog = None
        hc.graceful_timeout = 2.0

        etcd: EtcdClient | None = None
        coordinator = self.coordinator
        if coordinator is None and self.config.etcd_endpoints:
            etcd = EtcdClient(self.config.etcd_endpoints, tls=self.config.etcd_tls())
            coordinator = EtcdCoordinator(
                etcd,
                name=self.name,
                api_url=self.config.advertised_url,
                shards=self.config.shards,
                lease_ttl=int(self.config.lease_ttl),
                prefix=self.config.etcd_prefix,
                on_drain_request=self.request_stop,
            )
        elif coordinator is None:
            coordinator = LocalCoordinator(self.config.shards)
        self.coordinator = coordinator
        try:
            await self._serve(
                supervisor, feed, app, hc, clock, coordinator, handle_signals, task_status
            )
        finally:
            if etcd is not None:
                await etcd.aclose()

    async def _serve(
        self,
        supervisor: ShardSupervisor,
        feed: MonitorFeed,
        app: object,
        hc: HypercornConfig,
        clock: Clock,
        coordinator: Coordinator,
        handle_signals: bool,
        task_status: trio.TaskStatus[list[str]],
    ) -> None:
        async with trio.open_nursery() as root:
            if handle_signals:
                root.start_soon(self._watch_signals)
            await feed.load()
            await root.start(self.writer.run)
            maintenance = Maintenance(
                self.store,
                results_retention=self.config.results_retention,
                rollups_retention=self.config.rollups_retention,
                now=clock.now,
            )
            await root.start(maintenance.run)
            await root.start(supervisor.run)
            # the API first: monitors of the node itself must not see it refuse
            api_stop = trio.Event()
            self.bound = await root.start(
                partial(
                    hypercorn_serve,
                    cast(ASGIFramework, app),
                    hc,
                    shutdown_trigger=api_stop.wait,
                )
            )
            await root.start(coordinator.run, self._assign)
            await root.start(feed.run)
            # -- alerts (DESIGN §6): the deliverer (messages link to the bound API) --
            self.deliverer.now = clock.now
            self.deliverer.public_url = self.config.public_url or self.api_url
            await root.start(self.deliverer.run)
            log.info(
                "node.started",
                node=self.name,
                version=__version__,
                listen=self.bound,
                monitors=len(feed.by_id),
                shards=len(supervisor.owned),
            )
            task_status.started(self.bound)
            await self._stop.wait()
            await self._shutdown(supervisor, coordinator, api_stop)
            root.cancel_scope.cancel()

    async def _shutdown(
        self, supervisor: ShardSupervisor, coordinator: Coordinator, api_stop: trio.Event
    ) -> None:
        """Drain: no new checks; shards handed over at once (peers catch up the slot
        due now); checks in flight finish within the grace; results written; leave."""
        self._stopping = True
        grace = self.config.shutdown_grace
        log.info("node.stopping", grace=grace, buffered=len(self.writer))
        with trio.CancelScope(shield=True):
            supervisor.stop_scheduling()
            await coordinator.release_all()
            await supervisor.drain(grace)
            with trio.move_on_after(max(grace, 5.0)):
                await self.writer.flush()
            await coordinator.leave()
            api_stop.set()
        log.info(
            "node.stopped",
            node=self.name,
            results_submitted=self.writer.submitted,
            results_unwritten=len(self.writer),
            results_spooled=self.writer.spooled,
        )

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                if self._stop.is_set():
                    log.warning("node.forced_stop", signal=signal.Signals(signum).name)
                    raise KeyboardInterrupt
                log.info("node.signal", signal=signal.Signals(signum).name)
                self._stop.set()

    async def _assign(self, owned: Mapping[int, int]) -> None:
        assert self.supervisor is not None
        await self.supervisor.assign(owned)
        self._coordinated = True

    async def _load_shard(self, shard: int) -> tuple[list[Monitor], Mapping[str, int | None]]:
        assert self.feed is not None
        ids = [m.id for m in self.feed.shard(shard)]
        states = await self.store.call(self.store.get_states, ids) if ids else {}
        # read the index again after the await: edits made meanwhile are included
        monitors = self.feed.shard(shard)
        return monitors, {i: s.last_slot for i, s in states.items()}

    async def _heartbeat(self, token_sha256: str) -> HeartbeatState | None:
        """The checker's read-only view of heartbeat ping records (`HeartbeatLookup`)."""
        return await self.store.call(self.store.get_heartbeat, token_sha256)

    def _log_transitions(self, transitions: list[Transition]) -> None:
        if any(t.to_status in ("down", "up") for t in transitions):
            self.deliverer.wake()  # alerts: rows were queued with these transitions
        for t in transitions:
            self.metrics.transitions.labels(t.to_status).inc()
            log.info(
                "monitor.status_changed",
                monitor=t.monitor_id,
                slot=t.slot,
                from_status=t.from_status,
                to_status=t.to_status,
                error_kind=t.error_kind,
                error=t.error,
            )
