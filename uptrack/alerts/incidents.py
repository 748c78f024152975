"""Incidents and their messages: what a confirmed down or up writes, and to which channels."""

from __future__ import annotations

from collections.abc import Sequence

from uptrack.alerts.message import AlertMessage, Event, dedup_key
from uptrack.alerts.records import Incident, Route
from uptrack.model import Monitor, Result, Transition
from uptrack.slots import stable_hash


def incident_id(monitor_id: str, slot: int) -> str:
    """The id of the incident a monitor's transition to down at `slot` opens.

    Every node derives the same id from the same transition, so a second node that
    evaluated the same slot could only ever write the same row (which the store
    refuses as a duplicate)."""
    return f"{stable_hash(monitor_id, str(slot)):016x}"


def routes_for(monitor: Monitor, routes: Sequence[Route]) -> list[Route]:
    """The channels a monitor's alerts go to: those it names, and those whose tags it has."""
    names = set(monitor.channels)
    tags = set(monitor.tags)
    return [r for r in routes if r.name in names or tags.intersection(r.tags)]


def open_incident(monitor: Monitor, transition: Transition, first: Result | None) -> Incident:
    """The incident a transition to down opens; `first` is the first failing check of
    the streak that confirmed it (the transition's own check when unknown)."""
    cause_kind = first.error_kind if first is not None else transition.error_kind
    cause = first.error if first is not None else transition.error
    return Incident(
        id=incident_id(monitor.id, transition.slot),
        monitor_id=monitor.id,
        monitor_name=monitor.name,
        started_at=first.started_at if first is not None else transition.at,
        started_slot=first.slot if first is not None else transition.slot,
        confirmed_at=transition.at,
        confirmed_slot=transition.slot,
        confirmed_by=monitor.down_after,
        error_kind=cause_kind,
        error=cause,
        http_status=first.http_status if first is not None else None,
    )


def first_failure(streak: Sequence[Result]) -> Result | None:
    """The oldest failing result of the unbroken failing run at the head of `streak`
    (results newest first)."""
    first = None
    for r in streak:
        if r.ok:
            break
        first = r
    return first


def message_for(
    monitor: Monitor,
    incident: Incident,
    event: Event,
    *,
    at: float,
    transition: str,
    channel_id: str,
) -> AlertMessage:
    """The message one channel gets for one event of an incident (link added when sent)."""
    return AlertMessage(
        monitor_id=monitor.id,
        monitor_name=monitor.name,
        monitor_kind=monitor.kind,
        target=monitor.target,
        event=event,
        incident_id=incident.id,
        since=incident.started_at,
        at=at,
        link="",
        dedup_key=dedup_key(incident.id, transition, channel_id),
        duration=None if event == "down" else max(0.0, at - incident.started_at),
        error_kind=incident.error_kind,
        error=incident.error,
        http_status=incident.http_status,
    )
