"""Maintenance windows: when they are active, whom they cover, what they do to a batch."""

from __future__ import annotations

import datetime

from uptrack.alerts.windows import (
    CronWindow,
    Maintenance,
    MaintenanceSpec,
    WeeklyWindow,
    apply_windows,
    cron_active,
    weekly_active,
)
from uptrack.model import Monitor, MonitorState, Result, Timings, Transition


def utc(*parts: int) -> float:
    return datetime.datetime(*parts, tzinfo=datetime.UTC).timestamp()  # type: ignore[misc]


def window(**spec: object) -> Maintenance:
    return Maintenance(id="w", spec=MaintenanceSpec(name="w", **spec), created_at=0, updated_at=0)  # type: ignore[arg-type]


def monitor(monitor_id: str = "m", tags: list[str] | None = None) -> Monitor:
    return Monitor(
        id=monitor_id,
        name=monitor_id,
        kind="tcp",
        target="h:1",
        interval=60,
        timeout=5,
        retries=0,
        retry_delay=1,
        down_after=1,
        up_after=1,
        paused=False,
        settings={},
        shard=0,
        version=1,
        created_at=0,
        updated_at=0,
        tags=tags or [],
    )


def test_a_weekly_window_keeps_its_local_time_across_daylight_saving() -> None:
    nightly = WeeklyWindow(days=["sun"], start="02:30", duration=3600, timezone="Europe/Berlin")
    # 2024-03-31: Berlin skips from 02:00 to 03:00; winter 02:30 is 01:30 UTC, summer 00:30
    assert weekly_active(nightly, utc(2024, 3, 24, 1, 45))  # winter: 02:45 local
    assert not weekly_active(nightly, utc(2024, 3, 24, 0, 45))
    assert weekly_active(nightly, utc(2024, 4, 7, 0, 45))  # summer: 02:45 local
    assert not weekly_active(nightly, utc(2024, 4, 7, 1, 45))  # 03:45 local: over


def test_a_weekly_window_may_run_past_midnight_into_the_next_day() -> None:
    late = WeeklyWindow(days=["fri"], start="23:00", duration=4 * 3600)
    assert weekly_active(late, utc(2024, 5, 4, 2, 0))  # Saturday 02:00
    assert not weekly_active(late, utc(2024, 5, 4, 3, 0))
    assert not weekly_active(late, utc(2024, 5, 3, 22, 59))


def test_bounds_limit_a_weekly_window_and_a_one_off_needs_both() -> None:
    every_day = WeeklyWindow(
        days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start="00:00", duration=86_400
    )
    bounded = window(tags=["x"], weekly=every_day, starts_at=100.0, ends_at=200.0)
    assert [bounded.active_at(t) for t in (99.0, 100.0, 199.9, 200.0)] == [False, True, True, False]
    assert not window(tags=["x"], starts_at=100.0).active_at(150.0)


def test_a_cron_window_is_open_from_each_start_for_its_duration() -> None:
    # 02:30 on weekdays, 45 minutes; 2024-05-03 is a Friday, 05-04 a Saturday
    nightly = CronWindow(expression="30 2 * * mon-fri", duration=45 * 60)
    assert not cron_active(nightly, utc(2024, 5, 3, 2, 29, 59))
    assert cron_active(nightly, utc(2024, 5, 3, 2, 30))
    assert cron_active(nightly, utc(2024, 5, 3, 3, 14, 59))
    assert not cron_active(nightly, utc(2024, 5, 3, 3, 15))
    assert not cron_active(nightly, utc(2024, 5, 4, 2, 45))  # Saturday: no start


def test_a_cron_window_longer_than_its_period_stays_open() -> None:
    every_ten = CronWindow(expression="*/10 * * * *", duration=15 * 60)
    assert all(cron_active(every_ten, utc(2024, 5, 3, 8, m)) for m in range(60))
    first_of_month = CronWindow(expression="0 0 1 * *", duration=3 * 86_400)
    assert cron_active(first_of_month, utc(2024, 6, 3, 23, 59))
    assert not cron_active(first_of_month, utc(2024, 6, 4, 0, 0))


def test_a_cron_window_starts_at_local_time_across_daylight_saving() -> None:
    nightly = CronWindow(expression="30 2 * * sun", duration=3600, timezone="Europe/Berlin")
    assert cron_active(nightly, utc(2024, 3, 24, 1, 45))  # winter: 02:45 local
    assert cron_active(nightly, utc(2024, 4, 7, 0, 45))  # summer: 02:45 local
    assert not cron_active(nightly, utc(2024, 4, 7, 1, 45))
    # 2024-03-31 has no 02:30 in Berlin: the start falls on the next minute, 03:00
    assert cron_active(nightly, utc(2024, 3, 31, 1, 30))  # 03:30 local
    assert not cron_active(nightly, utc(2024, 3, 31, 0, 59))  # 01:59 local


def test_a_cron_window_opens_in_the_hour_that_repeats_when_clocks_go_back() -> None:
    # 2024-10-27: Berlin goes from 03:00 CEST back to 02:00 CET; 02:00 CET is 01:00 UTC
    hourly = CronWindow(expression="0 * * * *", duration=600, timezone="Europe/Berlin")
    assert cron_active(hourly, utc(2024, 10, 27, 0, 5))  # 02:05 CEST
    assert cron_active(hourly, utc(2024, 10, 27, 1, 5))  # 02:05 CET, the hour again
    assert not cron_active(hourly, utc(2024, 10, 27, 1, 15))


def test_bounds_limit_a_cron_window() -> None:
    hourly = CronWindow(expression="0 * * * *", duration=600)
    bounded = window(tags=["x"], cron=hourly, starts_at=utc(2024, 5, 3), ends_at=utc(2024, 5, 4))
    assert bounded.active_at(utc(2024, 5, 3, 5, 5))
    assert not bounded.active_at(utc(2024, 5, 3, 5, 15))
    assert not bounded.active_at(utc(2024, 5, 4, 5, 5))
    assert window(tags=["x"], cron=hourly).active_at(utc(2030, 1, 1, 0, 0))


def test_a_window_covers_the_monitors_it_names_and_those_with_its_tags() -> None:
    w = window(monitors=["a"], tags=["db"], starts_at=0.0, ends_at=1.0)
    assert w.covers(monitor("a"))
    assert w.covers(monitor("b", tags=["web", "db"]))
    assert not w.covers(monitor("c", tags=["web"]))


def _result(slot: int, ok: bool) -> Result:
    return Result(
        monitor_id="m",
        slot=slot,
        scheduled_at=slot / 1000,
        started_at=slot / 1000,
        duration_ms=1.0,
        ok=ok,
        error_kind=None,
        error=None,
        http_status=None,
        ip=None,
        timings=Timings(),
        attempts=1,
        node="n",
    )


def test_windows_leave_monitors_they_do_not_cover_alone() -> None:
    m = monitor("m")
    down = Transition(monitor_id="m", slot=5000, from_status="up", to_status="down", at=5.0)
    state = MonitorState(monitor_id="m", status="down", last_slot=5000, version=2)
    before = {"m": MonitorState(monitor_id="m", status="up", version=1)}
    w = window(monitors=["other"], starts_at=0.0, ends_at=10.0)

    changed, transitions = apply_windows(
        [w], {"m": m}, before, {"m": [_result(5000, False)]}, [state], [down]
    )

    assert (changed, transitions) == ([state], [down])
