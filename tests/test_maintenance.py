"""The maintenance service on a clock the test controls: rollups, retention, failures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from bench.nodeproc import free_port
from uptrack.maintenance import ROLLUP_GRACE, Maintenance
from uptrack.model import Monitor, MonitorSpec, Result, Timings
from uptrack.store.postgres import PostgresStore
from uptrack.store.rollups import DAY, HOUR
from uptrack.store.sqlite import SqliteStore

DAY0 = 1_714_521_600  # 2024-05-01T00:00:00Z


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "uptrack.db")
    store.migrate()
    yield store
    store.close()


def results(monitor: Monitor, start: float, end: float, every: int = 600) -> list[Result]:
    return [
        Result(
            monitor_id=monitor.id,
            slot=t * 1000,
            scheduled_at=float(t),
            started_at=float(t),
            duration_ms=10.0,
            ok=True,
            error_kind=None,
            error=None,
            http_status=200,
            ip=None,
            timings=Timings(),
            attempts=1,
            node="node-a",
        )
        for t in range(int(start), int(end), every)
    ]


async def test_a_pass_rolls_up_closed_hours_and_deletes_expired_results(
    store: SqliteStore,
) -> None:
    spec = MonitorSpec(
        name="web", kind="http", target="https://example.org/", interval=600, timeout=5
    )
    monitor = store.create_monitor(spec, now=DAY0)
    now = DAY0 + 20 * DAY + 30 * 60
    store.record_results(results(monitor, DAY0, now))
    maintenance = Maintenance(store, results_retention=14 * DAY, rollups_retention=730 * DAY)

    report = await maintenance.run_once(now)

    assert report.rollup.hours_rolled_to == DAY0 + 20 * DAY  # 10:30 minus the grace
    assert report.rollup.days == 20
    assert report.retention.results_kept_from == (DAY0 + 6 * DAY) * 1000
    kept = store.list_results(monitor.id, limit=10_000).items
    assert min(r.scheduled_at for r in kept) == DAY0 + 6 * DAY
    uptime = store.uptime(monitor.id, since=now - 90 * DAY, until=now)
    assert uptime.checks == 20 * 144 + 3
    again = await maintenance.run_once(now)
    assert (again.rollup.hours, again.retention.results_dropped) == (0, 0)


async def test_an_hour_is_rolled_up_only_after_the_grace_for_late_results(
    store: SqliteStore,
) -> None:
    maintenance = Maintenance(store, results_retention=14 * DAY, rollups_retention=730 * DAY)
    spec = MonitorSpec(
        name="web", kind="http", target="https://example.org/", interval=600, timeout=5
    )
    monitor = store.create_monitor(spec, now=DAY0)
    store.record_results(results(monitor, DAY0, DAY0 + HOUR))

    early = await maintenance.run_once(DAY0 + HOUR + ROLLUP_GRACE - 1)
    late = await maintenance.run_once(DAY0 + HOUR + ROLLUP_GRACE)

    assert (early.rollup.hours, late.rollup.hours) == (0, 1)


async def test_a_failing_pass_is_reported_and_the_service_keeps_going() -> None:
    unreachable = PostgresStore(f"postgresql://x@127.0.0.1:{free_port()}/none", pool_timeout=0.1)
    passes = []
    third = trio.Event()

    def now() -> float:
        passes.append(trio.current_time())
        if len(passes) == 3:
            third.set()
        return DAY0

    maintenance = Maintenance(
        unreachable, results_retention=14 * DAY, rollups_retention=730 * DAY, now=now, every=0.01
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(maintenance.run)
            with trio.fail_after(10):
                await third.wait()
            nursery.cancel_scope.cancel()
    finally:
        unreachable.close()

    assert maintenance.healthy is False
