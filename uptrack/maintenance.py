"""Store maintenance: day partitions ahead of time, rollups as hours close, retention.

Every node runs it; the store serializes the work across nodes (advisory locks on
PostgreSQL), so the second node to arrive finds it done.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
import structlog
import trio

from uptrack.store.base import Store
from uptrack.store.rollups import RetentionReport, RollupReport

log = structlog.get_logger()

EVERY = 60.0
# An hour is rolled up this long after it ends, so the results of its last checks
# (timeouts, retries, the writer's batching) are in first. Later ones still count:
# the store rolls the hour up again.
ROLLUP_GRACE = 120.0
DAYS_AHEAD = 2


class MaintenanceReport(msgspec.Struct, frozen=True, kw_only=True):
    partitions: int  # created
    rollup: RollupReport
    retention: RetentionReport


class Maintenance:
    """One pass every minute; `run_once` is the pass, for tests and the CLI."""

    def __init__(
        self,
        store: Store,
        *,
        results_retention: float,
        rollups_retention: float,
        now: Callable[[], float] = time.time,
        every: float = EVERY,
        grace: float = ROLLUP_GRACE,
    ) -> None:
        self.store = store
        self.results_retention = results_retention
        self.rollups_retention = rollups_retention
        self.now = now
        self.every = every
        self.grace = grace
        self.healthy = True

    async def run_once(self, now: float | None = None) -> MaintenanceReport:
        """Prepare tomorrow's partitions, roll up what closed, apply retention."""
        now = self.now() if now is None else now
        store = self.store
        partitions = await store.call(store.create_partitions, now, days_ahead=DAYS_AHEAD)
        rollup = await store.call(store.roll_up, now - self.grace)
        retention = await store.call(
            store.apply_retention,
            now,
            results_for=self.results_retention,
            rollups_for=self.rollups_retention,
        )
        report = MaintenanceReport(partitions=partitions, rollup=rollup, retention=retention)
        if partitions or rollup.hours or rollup.stale or retention.results_dropped:
            log.info(
                "maintenance.done",
                partitions_created=partitions,
                hours_rolled_up=rollup.hours,
                days_rolled_up=rollup.days,
                stale_hours=rollup.stale,
                results_dropped=retention.results_dropped,
                rollups_deleted=retention.rollups_deleted,
            )
        return report

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            try:
                await self.run_once()
                self.healthy = True
            except Exception as exc:
                # The database may be away; the next pass catches up.
                self.healthy = False
                log.warning(
                    "maintenance.failed", error_type=type(exc).__name__, error=str(exc)[:300]
                )
            await trio.sleep(self.every)
