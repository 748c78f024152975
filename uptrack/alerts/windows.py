"""Maintenance windows: when they are active, which monitors they cover, and what
that does to a monitor's state (checked as usual, shown as `maintenance`, never alerting).

A window is one-off (`starts_at` .. `ends_at`), weekly (`weekly`: days, a local
start time, a duration, a time zone) or cron (`cron`: a five-field cron expression
for the starts, a duration, a time zone); a recurring window's `starts_at` /
`ends_at` bound the recurrence. It covers the monitors it names by id and those
carrying one of its tags.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping, Sequence
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec
from cronsim import CronSim

from uptrack.model import Monitor, MonitorState, Result, Transition
from uptrack.slots import slot_time

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_WEEKLY_DURATION = 7 * 86_400.0


class WeeklyWindow(msgspec.Struct, frozen=True, kw_only=True):
    """Every `days` at local time `start` ("HH:MM") in `timezone`, for `duration` seconds."""

    days: list[Weekday]
    start: str
    duration: float
    timezone: str = "UTC"

    @property
    def start_minutes(self) -> int:
        hours, _, minutes = self.start.partition(":")
        return int(hours) * 60 + int(minutes)


class CronWindow(msgspec.Struct, frozen=True, kw_only=True):
    """Starting at every time cron `expression` names in `timezone`, for `duration` seconds."""

    expression: str
    duration: float
    timezone: str = "UTC"


class MaintenanceSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A validated window (`uptrack.alerts.validation.parse_maintenance`)."""

    name: str
    monitors: list[str] = []  # monitor ids
    tags: list[str] = []  # monitors carrying one of these
    starts_at: float | None = None  # Unix seconds; required for a one-off window
    ends_at: float | None = None
    weekly: WeeklyWindow | None = None
    cron: CronWindow | None = None


class Maintenance(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    spec: MaintenanceSpec
    created_at: float
    updated_at: float

    def covers(self, monitor: Monitor) -> bool:
        spec = self.spec
        return monitor.id in spec.monitors or any(tag in spec.tags for tag in monitor.tags)

    def active_at(self, t: float) -> bool:
        spec = self.spec
        if spec.starts_at is not None and t < spec.starts_at:
            return False
        if spec.ends_at is not None and t >= spec.ends_at:
            return False
        if spec.weekly is not None:
            return weekly_active(spec.weekly, t)
        if spec.cron is not None:
            return cron_active(spec.cron, t)
        return spec.starts_at is not None and spec.ends_at is not None


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def weekly_active(window: WeeklyWindow, t: float) -> bool:
    """Whether Unix time `t` falls in an occurrence of the weekly window.

    Occurrences are anchored at local wall-clock time, so a window at 02:00 stays
    at 02:00 across daylight-saving changes (it lasts `duration` real seconds)."""
    zone = _zone(window.timezone)
    local = datetime.datetime.fromtimestamp(t, zone)
    days_back = int(window.duration // 86_400) + 1
    hours, minutes = divmod(window.start_minutes, 60)
    for back in range(days_back + 1):
        day = local.date() - datetime.timedelta(days=back)
        if WEEKDAYS[day.weekday()] not in window.days:
            continue
        start = datetime.datetime(day.year, day.month, day.day, hours, minutes, tzinfo=zone)
        begins = start.timestamp()
        if begins <= t < begins + window.duration:
            return True
    return False


def cron_active(window: CronWindow, t: float) -> bool:
    """Whether Unix time `t` falls in an occurrence of the cron window: the latest
    start at or before `t` (all occurrences last as long, so no earlier one ends
    later) is less than `duration` ago.

    Starts are local wall-clock times as cron reads them: a time skipped by a
    daylight-saving change starts at the first minute after it."""
    zone = _zone(window.timezone)
    # reverse iteration yields times strictly before its start: begin at the next
    # whole minute so a start in `t`'s own minute counts (computed on Unix time, so
    # the repeated hour when clocks go back keeps its fold)
    after = datetime.datetime.fromtimestamp((t // 60 + 1) * 60, zone)
    starts = CronSim(window.expression, after, reverse=True)
    begins = next(starts, None)
    return begins is not None and begins.timestamp() <= t < begins.timestamp() + window.duration


def apply_windows(
    windows: Sequence[Maintenance],
    monitors: Mapping[str, Monitor],
    before: Mapping[str, MonitorState],
    fresh: Mapping[str, list[Result]],
    changed: list[MonitorState],
    transitions: list[Transition],
) -> tuple[list[MonitorState], list[Transition]]:
    """The new states and transitions of a batch, with maintenance applied.

    A monitor whose newest result's slot is due inside one of its windows is
    `maintenance` (its failure and success counts still move, so it is judged at
    once when the window ends); transitions of slots inside a window are dropped,
    so they open, resolve and alert nothing; entering maintenance is a transition
    of its own (to `maintenance`, which alerts nothing)."""
    if not windows:
        return changed, transitions
    covering = {
        monitor_id: [w for w in windows if w.covers(monitors[monitor_id])]
        for monitor_id in fresh
        if monitor_id in monitors
    }
    quiet: dict[str, list[Maintenance]] = {m: ws for m, ws in covering.items() if ws}
    if not quiet:
        return changed, transitions
    states = {s.monitor_id: s for s in changed}
    entered: list[Transition] = []
    for monitor_id, ws in quiet.items():
        state = states.get(monitor_id)
        if state is None:
            continue  # nothing new was applied
        newest = max(fresh[monitor_id], key=lambda r: r.slot)
        if not any(w.active_at(slot_time(newest.slot)) for w in ws):
            continue
        prior = before.get(monitor_id) or MonitorState(monitor_id=monitor_id)
        if prior.status == "maintenance":
            states[monitor_id] = msgspec.structs.replace(
                state, status="maintenance", changed_at=prior.changed_at
            )
            continue
        states[monitor_id] = msgspec.structs.replace(
            state, status="maintenance", changed_at=newest.started_at
        )
        entered.append(
            Transition(
                monitor_id=monitor_id,
                slot=newest.slot,
                from_status=prior.status,
                to_status="maintenance",
                at=newest.started_at,
            )
        )
    kept = [
        t
        for t in transitions
        if not any(w.active_at(slot_time(t.slot)) for w in quiet.get(t.monitor_id, ()))
    ]
    return [states[s.monitor_id] for s in changed], kept + entered
