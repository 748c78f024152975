"""Maintenance windows: when they are active, whom they cover, what they do to a batch."""

from __future__ import annotations

import datetime

from uptrack.alerts.windows import (
    Maintenance,
    MaintenanceSpec,
    WeeklyWindow,
    apply_windows,
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
