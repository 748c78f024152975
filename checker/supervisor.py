"""The shard supervisor: one runner per owned shard, restarted with backoff if it crashes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import structlog
import trio

from checker.scheduler import CheckDeps, ShardRunner
from uptrack.model import Monitor

log = structlog.get_logger()

# Loads a shard's monitors and the last recorded slot of each.
LoadShard = Callable[[int], Awaitable[tuple[list[Monitor], Mapping[str, int | None]]]]

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 30.0
# A runner that ran this long before crashing starts again from the first backoff.
BACKOFF_RESET_AFTER = 60.0


class _Slot:
    """A supervised shard: its cancel scope, current runner and completion event."""

    def __init__(self, shard: int, epoch: int) -> None:
        self.shard = shard
        self.epoch = epoch
        self.scope = trio.CancelScope()
        self.runner: ShardRunner | None = None
        self.draining = False
        self.done = trio.Event()


class ShardSupervisor:
    def __init__(self, deps: CheckDeps, load_shard: LoadShard, shards: int) -> None:
        self.deps = deps
        self.load_shard = load_shard
        self.shards = shards
        self._slots: dict[int, _Slot] = {}
        self._nursery: trio.Nursery | None = None

    @property
    def owned(self) -> dict[int, int]:
        return {s.shard: s.epoch for s in self._slots.values()}

    def running(self) -> int:
        """Shards whose runner is up right now (not loading, not in backoff)."""
        return sum(1 for s in self._slots.values() if s.runner is not None)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await trio.sleep_forever()

    async def assign(self, owned: Mapping[int, int]) -> None:
        """Run exactly the shards in `owned` (shard -> epoch). Released shards are
        cancelled and have stopped when this returns; new ones have started."""
        assert self._nursery is not None, "assign() before run() started"
        for shard in [s for s in self._slots if s not in owned]:
            await self._release(shard)
        for shard, epoch in owned.items():
            current = self._slots.get(shard)
            if current is not None and current.epoch != epoch:
                # claimed anew (a lease was lost and renewed): same shard, new fence;
                # the runner goes on, its next results carry the new epoch
                current.epoch = epoch
                if current.runner is not None:
                    current.runner.epoch = epoch
            if current is None:
                slot = _Slot(shard, epoch)
                self._slots[shard] = slot
                self._nursery.start_soon(self._supervise, slot)
        self.deps.metrics.shards_owned.set(len(self._slots))

    async def _release(self, shard: int) -> None:
        slot = self._slots.pop(shard)
        slot.scope.cancel()
        await slot.done.wait()

    def stop_scheduling(self) -> None:
        """Start no more checks on any shard (checks in flight go on)."""
        for slot in self._slots.values():
            slot.draining = True
            if slot.runner is not None:
                slot.runner.stop_scheduling()

    async def drain(self, grace: float) -> None:
        """Stop scheduling new checks everywhere; let in-flight checks finish for up
        to `grace` seconds, then cancel what is left."""
        slots = list(self._slots.values())
        for slot in slots:
            slot.draining = True
            if slot.runner is not None:
                slot.runner.stop_scheduling()
            else:
                slot.scope.cancel()
        with trio.move_on_after(grace):
            for slot in slots:
                await slot.done.wait()
        for slot in slots:
            slot.scope.cancel()
            await slot.done.wait()
        self._slots.clear()
        self.deps.metrics.shards_owned.set(0)

    def monitor_changed(self, monitor: Monitor) -> None:
        slot = self._slots.get(monitor.shard)
        if slot is not None and slot.runner is not None:
            slot.runner.upsert(monitor)

    def monitor_deleted(self, monitor_id: str, shard: int) -> None:
        slot = self._slots.get(shard)
        if slot is not None and slot.runner is not None:
            slot.runner.remove(monitor_id)

    async def _supervise(self, slot: _Slot) -> None:
        backoff = BACKOFF_FIRST
        try:
            with slot.scope:
                while not slot.draining:
                    began = trio.current_time()
                    try:
                        monitors, last_slots = await self.load_shard(slot.shard)
                        runner = ShardRunner(slot.shard, slot.epoch, self.deps)
                        slot.runner = runner
                        await runner.run(monitors, last_slots)
                        return  # stopped on purpose (drain)
                    except Exception as exc:
                        slot.runner = None
                        if trio.current_time() - began > BACKOFF_RESET_AFTER:
                            backoff = BACKOFF_FIRST
                        self.deps.metrics.supervisor_restarts.labels("shard_runner").inc()
                        log.exception(
                            "shard.crashed",
                            shard=slot.shard,
                            restart_in=round(backoff, 2),
                            error_type=type(exc).__name__,
                        )
                        await trio.sleep(backoff)
                        backoff = min(backoff * 2, BACKOFF_MAX)
        finally:
            slot.runner = None
            slot.done.set()
