"""Store contract, rollups and retention: hours and days aggregated as they close,
late results rolled up again, expired days deleted, long windows read from rollups.

Time is passed in (`until`, `now`), so days of history take milliseconds."""

from __future__ import annotations

from typing import Any

import pytest

from uptrack.errors import NotFound
from uptrack.model import Monitor, MonitorSpec, Result, Timings
from uptrack.store.base import Store
from uptrack.store.rollups import DAY, HOUR, Rollup

DAY0 = 1_714_521_600  # 2024-05-01T00:00:00Z
RETENTION = 14 * DAY
KEEP_ROLLUPS = 730 * DAY


def make_monitor(store: Store, name: str = "web") -> Monitor:
    spec = MonitorSpec(
        name=name, kind="http", target="https://example.org/", interval=60, timeout=10
    )
    return store.create_monitor(spec, now=DAY0)


def at(monitor: Monitor, t: float, *, ok: bool = True, duration_ms: float = 10.0) -> Result:
    """The result of the slot due at Unix time `t`."""
    return Result(
        monitor_id=monitor.id,
        slot=round(t * 1000),
        scheduled_at=round(t * 1000) / 1000,
        started_at=t + 0.01,
        duration_ms=duration_ms,
        ok=ok,
        error_kind=None if ok else "timeout",
        error=None,
        http_status=200 if ok else None,
        ip=None,
        timings=Timings(),
        attempts=1,
        node="node-a",
    )


def every_minute(monitor: Monitor, start: float, end: float, **fields: Any) -> list[Result]:
    return [at(monitor, t, **fields) for t in range(int(start), int(end), 60)]


def record(store: Store, results: list[Result]) -> None:
    for i in range(0, len(results), 1000):
        store.record_results(results[i : i + 1000])


def hourly(store: Store, monitor: Monitor, since: float = 0, until: float = 2e9) -> list[Rollup]:
    return store.list_rollups(monitor.id, span=HOUR, since=since, until=until)


def daily(store: Store, monitor: Monitor) -> list[Rollup]:
    return store.list_rollups(monitor.id, span=DAY, since=0, until=2e9)


def test_a_closed_hour_is_rolled_up_with_counts_latency_and_p95(store: Store) -> None:
    monitor = make_monitor(store)
    hour = DAY0 + 10 * HOUR
    # 20 results with durations 5, 10, …, 100 ms, recorded out of order; 3 failed.
    results = [
        at(monitor, hour + 60 * k, ok=k not in (2, 9, 13), duration_ms=5.0 * (k + 1))
        for k in sorted(range(20), key=lambda k: (k * 7) % 20)
    ]
    record(store, results)

    report = store.roll_up(hour + HOUR)

    assert hourly(store, monitor) == [
        Rollup(
            monitor_id=monitor.id,
            span=HOUR,
            start=hour,
            checks=20,
            failures=3,
            latency_sum=1050.0,
            latency_min=5.0,
            latency_max=100.0,
            latency_p95=95.0,  # nearest rank: the 19th of 20
        )
    ]
    assert (report.hours, report.hours_rolled_to) == (1, hour + HOUR)


def test_an_hour_that_has_not_ended_is_not_rolled_up(store: Store) -> None:
    monitor = make_monitor(store)
    hour = DAY0 + 10 * HOUR
    record(store, every_minute(monitor, hour, hour + 30 * 60))

    store.roll_up(hour + HOUR - 1)

    assert hourly(store, monitor) == []
    store.roll_up(hour + HOUR)
    assert [r.checks for r in hourly(store, monitor)] == [30]


def test_rolling_up_again_changes_nothing(store: Store) -> None:
    monitor = make_monitor(store)
    record(store, every_minute(monitor, DAY0, DAY0 + 3 * HOUR))
    store.roll_up(DAY0 + 3 * HOUR)
    before = hourly(store, monitor)

    again = store.roll_up(DAY0 + 3 * HOUR)

    assert (again.hours, again.days, again.stale) == (0, 0, 0)
    assert hourly(store, monitor) == before
    assert [r.start for r in before] == [DAY0, DAY0 + HOUR, DAY0 + 2 * HOUR]


def test_a_day_is_rolled_up_from_its_hours_once_they_all_closed(store: Store) -> None:
    monitor = make_monitor(store)
    # Hours 0-11 fast and good, hours 12-23 slow with one failure each.
    record(store, every_minute(monitor, DAY0, DAY0 + 12 * HOUR, duration_ms=10.0))
    slow = every_minute(monitor, DAY0 + 12 * HOUR, DAY0 + DAY, duration_ms=30.0)
    slow = [
        at(monitor, r.scheduled_at, ok=False, duration_ms=30.0) if i % 60 == 0 else r
        for i, r in enumerate(slow)
    ]
    record(store, slow)

    store.roll_up(DAY0 + DAY - 1)
    assert daily(store, monitor) == []
    store.roll_up(DAY0 + DAY)

    [day] = daily(store, monitor)
    assert (day.start, day.checks, day.failures) == (DAY0, 1440, 12)
    assert (day.latency_sum, day.latency_min, day.latency_max) == (28800.0, 10.0, 30.0)
    assert day.latency_p95 == 30.0
    assert len(hourly(store, monitor)) == 24


def test_results_that_arrive_after_their_hour_was_rolled_up_roll_it_up_again(
    store: Store,
) -> None:
    monitor = make_monitor(store)
    results = every_minute(monitor, DAY0, DAY0 + DAY)
    late = [r for r in results if DAY0 + 5 * HOUR <= r.scheduled_at < DAY0 + 5 * HOUR + 600]
    record(store, [r for r in results if r not in late])
    store.roll_up(DAY0 + DAY + HOUR)
    assert hourly(store, monitor, DAY0 + 5 * HOUR, DAY0 + 6 * HOUR)[0].checks == 50

    # a spool replayed after an outage: ten minutes of results, one of them slow
    record(store, late[:-1] + [at(monitor, late[-1].scheduled_at, ok=False, duration_ms=500)])
    report = store.roll_up(DAY0 + DAY + HOUR)

    [hour] = hourly(store, monitor, DAY0 + 5 * HOUR, DAY0 + 6 * HOUR)
    assert (hour.checks, hour.failures, hour.latency_max) == (60, 1, 500.0)
    [day] = daily(store, monitor)
    assert (day.checks, day.failures, day.latency_max) == (1440, 1, 500.0)
    assert report.stale == 1


def test_long_windows_read_rollups_and_agree_with_the_raw_results(store: Store) -> None:
    monitor = make_monitor(store)
    now = DAY0 + 9 * DAY + 7 * HOUR + 1234.5
    results = [
        at(monitor, t, ok=(t // 60) % 17 != 0, duration_ms=float(10 + (t // 60) % 50))
        for t in range(DAY0, int(now), 300)
    ]
    record(store, results)
    since = now - 7 * DAY
    raw = store.uptime(monitor.id, since=since, until=now)

    store.roll_up(now)
    rolled = store.uptime(monitor.id, since=since, until=now)

    assert (rolled.checks, rolled.good, rolled.failed) == (raw.checks, raw.good, raw.failed)
    assert rolled.checks == sum(since <= r.scheduled_at < now for r in results)
    assert rolled.mean_ms == pytest.approx(raw.mean_ms, rel=1e-12)
    assert raw.p95_ms == 55.0
    assert rolled.p95_ms == 55.0  # the weighted nearest rank of hourly p95s


def test_short_windows_are_exact_after_rolling_up(store: Store) -> None:
    monitor = make_monitor(store)
    results = [at(monitor, DAY0 + 60 * k, duration_ms=float(k % 100)) for k in range(1440)]
    record(store, results)
    store.roll_up(DAY0 + DAY)

    uptime = store.uptime(monitor.id, since=DAY0 + 30, until=DAY0 + DAY - 30)

    assert (uptime.checks, uptime.p95_ms) == (1439, 94.0)


def test_retention_deletes_expired_days_and_the_90_day_uptime_still_answers(
    store: Store,
) -> None:
    monitor = make_monitor(store)
    now = DAY0 + 40 * DAY + 6 * HOUR
    results = [
        at(monitor, t, ok=(t // 600) % 10 != 0, duration_ms=20.0)
        for t in range(DAY0, int(now), 600)
    ]
    record(store, results)
    store.roll_up(now)

    report = store.apply_retention(now, results_for=RETENTION, rollups_for=KEEP_ROLLUPS)

    kept_from = DAY0 + 26 * DAY  # the start of the day 14 days before now
    kept = store.list_results(monitor.id, limit=10_000).items
    assert min(r.scheduled_at for r in kept) == kept_from
    assert len(kept) == sum(r.scheduled_at >= kept_from for r in results)
    assert report.results_kept_from == kept_from * 1000
    uptime = store.uptime(monitor.id, since=now - 90 * DAY, until=now)
    assert (uptime.checks, uptime.failed) == (len(results), sum(not r.ok for r in results))
    assert (uptime.mean_ms, uptime.p95_ms) == (20.0, 20.0)
    assert store.uptime(monitor.id, since=now - DAY, until=now).checks == 144


def test_results_of_days_past_retention_are_refused(store: Store) -> None:
    monitor = make_monitor(store)
    now = DAY0 + 20 * DAY
    record(store, every_minute(monitor, now - HOUR, now))
    store.roll_up(now)
    store.apply_retention(now, results_for=RETENTION, rollups_for=KEEP_ROLLUPS)

    expired = at(monitor, DAY0 + DAY)
    recent = at(monitor, now - 2 * HOUR)
    store.record_results([expired, recent])

    kept = {r.slot for r in store.list_results(monitor.id, limit=1000).items}
    assert recent.slot in kept
    assert expired.slot not in kept


def test_retention_never_deletes_results_that_are_not_rolled_up(store: Store) -> None:
    monitor = make_monitor(store)
    now = DAY0 + 30 * DAY
    record(store, every_minute(monitor, DAY0, DAY0 + HOUR))

    store.apply_retention(now, results_for=RETENTION, rollups_for=KEEP_ROLLUPS)

    assert len(store.list_results(monitor.id, limit=1000).items) == 60
    store.roll_up(now)
    store.apply_retention(now, results_for=RETENTION, rollups_for=KEEP_ROLLUPS)
    assert store.list_results(monitor.id, limit=1000).items == []
    assert [r.checks for r in hourly(store, monitor)] == [60]


def test_rollups_older_than_their_retention_are_deleted(store: Store) -> None:
    monitor = make_monitor(store)
    record(store, every_minute(monitor, DAY0, DAY0 + 2 * DAY))
    store.roll_up(DAY0 + 2 * DAY)

    report = store.apply_retention(DAY0 + 3 * DAY, results_for=RETENTION, rollups_for=2 * DAY)

    assert [r.start for r in daily(store, monitor)] == [DAY0 + DAY]
    assert len(hourly(store, monitor)) == 24
    assert report.rollups_deleted == 25


def test_uptimes_answer_for_every_monitor_asked(store: Store) -> None:
    a, b = make_monitor(store, "a"), make_monitor(store, "b")
    record(store, every_minute(a, DAY0, DAY0 + 3 * DAY))
    record(store, every_minute(b, DAY0, DAY0 + 3 * DAY, ok=False, duration_ms=99.0))
    store.roll_up(DAY0 + 3 * DAY)

    for since in (DAY0 + 2 * DAY, DAY0):
        found = store.uptimes([a.id, b.id, "0" * 32], since=since, until=DAY0 + 3 * DAY)

        checks = round((DAY0 + 3 * DAY - since) / 60)
        assert (found[a.id].checks, found[a.id].fraction, found[a.id].mean_ms) == (checks, 1, 10)
        assert (found[b.id].checks, found[b.id].fraction, found[b.id].p95_ms) == (checks, 0, 99)
        assert (found["0" * 32].checks, found["0" * 32].fraction) == (0, None)


def test_a_deleted_monitor_takes_its_rollups_along(store: Store) -> None:
    monitor = make_monitor(store)
    record(store, every_minute(monitor, DAY0, DAY0 + DAY))
    store.roll_up(DAY0 + DAY)

    store.delete_monitor(monitor.id)

    with pytest.raises(NotFound):
        store.list_rollups(monitor.id, span=HOUR, since=0, until=2e9)
    assert (
        store.uptimes([monitor.id], since=DAY0 - 80 * DAY, until=DAY0 + DAY)[monitor.id].checks == 0
    )


def test_partitions_are_prepared_for_today_and_the_next_two_days(store: Store) -> None:
    created = store.create_partitions(DAY0 + 5 * HOUR)

    assert store.create_partitions(DAY0 + 5 * HOUR) == 0
    assert created in (0, 3)  # a store without partitions has nothing to create
