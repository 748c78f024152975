"""The up/down state machine: how one new result moves a monitor's state."""

from __future__ import annotations

from uptrack.model import Monitor, MonitorState, Result, Transition


def advance(
    state: MonitorState, monitor: Monitor, result: Result
) -> tuple[MonitorState, Transition | None]:
    """Apply `result` to `state`. Results for slots at or before the last one applied
    are ignored (returned state unchanged), so replays and late duplicates are harmless.

    A monitor goes `down` after `down_after` consecutive failed slots and `up` after
    `up_after` consecutive good ones; from `pending` the first decision is taken the
    same way.
    """
    if state.last_slot is not None and result.slot <= state.last_slot:
        return state, None
    if result.ok:
        successes, failures = state.consecutive_successes + 1, 0
    else:
        successes, failures = 0, state.consecutive_failures + 1
    status = state.status
    if status in ("paused", "maintenance"):
        status = "pending"
    new_status = status
    if failures >= monitor.down_after and status != "down":
        new_status = "down"
    elif successes >= monitor.up_after and status != "up":
        new_status = "up"
    changed = new_status != state.status
    at = result.started_at
    new_state = MonitorState(
        monitor_id=state.monitor_id,
        status=new_status,
        consecutive_failures=failures,
        consecutive_successes=successes,
        last_slot=result.slot,
        last_checked_at=at,
        last_ok=result.ok,
        changed_at=at if changed else state.changed_at,
        version=state.version + 1,
    )
    transition = None
    if changed:
        transition = Transition(
            monitor_id=state.monitor_id,
            slot=result.slot,
            from_status=state.status,
            to_status=new_status,
            at=at,
            error_kind=result.error_kind,
            error=result.error,
        )
    return new_state, transition
