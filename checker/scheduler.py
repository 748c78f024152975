"""The shard runner: a heap of due slots per shard, and a task only for a due check."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog
import trio

from checker.context import ProbeContext
from checker.kind import Kind
from uptrack.clock import Clock
from uptrack.metrics import Metrics
from uptrack.model import Monitor, Observation, Result, Timings
from uptrack.monitors import decode_settings
from uptrack.slots import latest_slot, next_slot, phase_of, slot_after, slot_time

log = structlog.get_logger()

# A probe gets `timeout`; this much more before the scheduler gives up on it.
OVERRUN_GRACE = 1.0
MAX_ERROR_MESSAGE = 300


class CheckDeps:
    """What every shard runner of a node shares."""

    def __init__(
        self,
        *,
        kinds: Mapping[str, Kind],
        probe: ProbeContext,
        limiter: trio.CapacityLimiter,
        clock: Clock,
        emit: Callable[[Result], None],
        metrics: Metrics,
        node: str,
    ) -> None:
        self.kinds = kinds
        self.probe = probe
        self.limiter = limiter
        self.clock = clock
        self.emit = emit
        self.metrics = metrics
        self.node = node


class Scheduled:
    """One monitor as its runner holds it: decoded once per edit, not per check."""

    __slots__ = ("monitor", "kind", "settings", "phase", "generation", "last_slot")

    def __init__(self, monitor: Monitor, kind: Kind, generation: int, last_slot: int | None):
        self.monitor = monitor
        self.kind = kind
        self.settings: Any = decode_settings(kind, monitor.settings)
        self.phase = phase_of(monitor.id, monitor.interval)
        self.generation = generation
        self.last_slot = last_slot


class ShardRunner:
    """Runs the checks of one shard until cancelled (release) or stopped (drain)."""

    def __init__(self, shard: int, epoch: int, deps: CheckDeps) -> None:
        self.shard = shard
        self.epoch = epoch
        self.deps = deps
        self.entries: dict[str, Scheduled] = {}
        # (due unix time, tie-breaker, monitor id, generation, slot)
        self._heap: list[tuple[float, int, str, int, int]] = []
        self._seq = itertools.count()
        self._generations = itertools.count(1)
        self._paused_last: dict[str, int | None] = {}
        self._wakeup = trio.Event()
        self._loop_scope = trio.CancelScope()
        self._checks: trio.Nursery | None = None

    # -- edits (called from the change feed, any time) ------------------------
    def upsert(self, monitor: Monitor, last_slot: int | None = None) -> None:
        """Schedule a new or edited monitor. A monitor new to this runner whose latest
        slot is not recorded runs that slot at once (one catch-up, not a backlog)."""
        old = self.entries.get(monitor.id)
        if monitor.paused:
            self.remove(monitor.id)
            if old is not None:  # remembered, so a resume knows what already ran
                self._paused_last[monitor.id] = old.last_slot
            return
        kind = self.deps.kinds.get(monitor.kind)
        if kind is None:
            log.error("monitor.unknown_kind", monitor=monitor.id, kind=monitor.kind)
            self.remove(monitor.id)
            return
        if old is not None:
            last_slot = old.last_slot
        elif monitor.id in self._paused_last:
            last_slot = self._paused_last.pop(monitor.id)
        entry = Scheduled(monitor, kind, next(self._generations), last_slot)
        self.entries[monitor.id] = entry
        now = self.deps.clock.now()
        latest = latest_slot(now, monitor.interval, entry.phase)
        if old is None and (last_slot is None or last_slot < latest):
            self._push(entry, latest, at=now)
        else:
            slot = next_slot(now, monitor.interval, entry.phase)
            if entry.last_slot is not None and slot <= entry.last_slot:
                slot = slot_after(entry.last_slot, monitor.interval, entry.phase)
            self._push(entry, slot)
        self.deps.metrics.monitors_scheduled.inc()
        if old is not None:
            self.deps.metrics.monitors_scheduled.dec()

    def remove(self, monitor_id: str) -> None:
        if self.entries.pop(monitor_id, None) is not None:
            self.deps.metrics.monitors_scheduled.dec()
        # its heap entries are now stale and are dropped when they come up

    def _push(self, entry: Scheduled, slot: int, *, at: float | None = None) -> None:
        m = entry.monitor
        due = slot_time(slot) if at is None else at
        item = (due, next(self._seq), m.id, entry.generation, slot)
        heapq.heappush(self._heap, item)
        if self._heap[0] is item:
            self._wakeup.set()
        if len(self._heap) > 64 and len(self._heap) > 3 * len(self.entries):
            self._compact()

    def _compact(self) -> None:
        self._heap = [
            item
            for item in self._heap
            if (e := self.entries.get(item[2])) is not None and e.generation == item[3]
        ]
        heapq.heapify(self._heap)

    # -- running ---------------------------------------------------------------
    async def run(
        self,
        monitors: Iterable[Monitor],
        last_slots: Mapping[str, int | None],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Schedule `monitors` and run until cancelled, or until `stop_scheduling`
        after which in-flight checks finish (each within its own deadline)."""
        for monitor in monitors:
            self.upsert(monitor, last_slots.get(monitor.id))
        try:
            async with trio.open_nursery() as checks:
                self._checks = checks
                task_status.started()
                with self._loop_scope:
                    await self._loop(checks)
        finally:
            self.deps.metrics.monitors_scheduled.dec(len(self.entries))
            self.entries.clear()

    def stop_scheduling(self) -> None:
        self._loop_scope.cancel()

    async def _loop(self, checks: trio.Nursery) -> None:
        clock = self.deps.clock
        while True:
            await self.run_due_once(checks)
            self._wakeup = trio.Event()
            if self._heap:
                with trio.move_on_at(clock.deadline_for(self._heap[0][0])):
                    await self._wakeup.wait()
            else:
                await self._wakeup.wait()

    async def run_due_once(self, checks: trio.Nursery) -> int:
        """Start every check that is due now; return how many were started."""
        started = 0
        now = self.deps.clock.now()
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, monitor_id, generation, slot = heapq.heappop(heap)
            entry = self.entries.get(monitor_id)
            if entry is None or entry.generation != generation:
                continue
            m = entry.monitor
            scheduled_at = slot_time(slot)
            catch_up = due != scheduled_at
            entry.last_slot = slot
            self._push(entry, slot + m.interval * 1000)
            checks.start_soon(self._run_check, entry, slot, scheduled_at, catch_up)
            started += 1
        return started

    async def _run_check(
        self, entry: Scheduled, slot: int, scheduled_at: float, catch_up: bool
    ) -> None:
        deps = self.deps
        m = entry.monitor
        next_due = scheduled_at + m.interval
        attempts = 0
        started_at = 0.0
        while True:
            attempts += 1
            async with deps.limiter:
                t0 = trio.current_time()
                if attempts == 1:
                    started_at = deps.clock.now()
                    if not catch_up:
                        deps.metrics.start_lateness.observe(max(0.0, started_at - scheduled_at))
                observation = await self._attempt(entry)
                elapsed_ms = (trio.current_time() - t0) * 1000
            if observation.ok or attempts > m.retries:
                break
            # retries stay inside the slot: the last attempt must end before the next one
            if deps.clock.now() + m.retry_delay + m.timeout >= next_due:
                break
            await trio.sleep(m.retry_delay)
        duration = observation.timings.total
        result = Result(
            monitor_id=m.id,
            slot=slot,
            scheduled_at=scheduled_at,
            started_at=started_at,
            duration_ms=round(duration if duration is not None else elapsed_ms, 3),
            ok=observation.ok,
            error_kind=observation.error_kind,
            error=observation.error,
            http_status=observation.http_status,
            ip=observation.ip,
            timings=observation.timings,
            attempts=attempts,
            node=deps.node,
            epoch=self.epoch,
            details=observation.details,
        )
        deps.metrics.checks.labels(m.kind, "up" if observation.ok else "down").inc()
        deps.metrics.check_duration.labels(m.kind).observe(result.duration_ms / 1000)
        deps.emit(result)

    async def _attempt(self, entry: Scheduled) -> Observation:
        """One probe attempt. Whatever goes wrong inside the probe stays here."""
        m = entry.monitor
        try:
            with trio.move_on_after(m.timeout + OVERRUN_GRACE):
                return await entry.kind.check(m.target, entry.settings, m.timeout, self.deps.probe)
            return Observation(
                ok=False,
                error_kind="timeout",
                error=f"the probe overran its {m.timeout:g} s timeout",
                timings=Timings(total=(m.timeout + OVERRUN_GRACE) * 1000),
            )
        except Exception as exc:
            self.deps.metrics.internal_errors.labels(m.kind).inc()
            log.warning(
                "check.internal_error",
                monitor=m.id,
                kind=m.kind,
                error_type=type(exc).__name__,
                error=str(exc)[:MAX_ERROR_MESSAGE],
            )
            message = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_MESSAGE]
            return Observation(ok=False, error_kind="internal", error=message)
