"""The incidents resource: down periods of monitors, their alerts, and acknowledging them."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from api.context import context_of
from api.documents import ListDocument, json_response, rfc3339
from api.params import cursor_param, int_param, query_error
from api.problems import ApiError, field_errors
from uptrack.alerts.records import Delivery, DeliveryStatus, Incident, IncidentState
from uptrack.alerts.validation import parse_time
from uptrack.errors import FieldError, InvalidInput

MAX_PAGE = 500
DEFAULT_PAGE = 100
STATES: dict[str, IncidentState | None] = {"all": None, "open": "open", "closed": "closed"}


class CauseDocument(msgspec.Struct, frozen=True, kw_only=True):
    error_kind: str | None
    error: str | None
    http_status: int | None


class IncidentDocument(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    monitor_id: str
    monitor_name: str
    state: str  # open | closed
    started_at: str  # the first failing check
    confirmed_at: str  # the check that made the monitor down
    resolved_at: str | None
    duration_seconds: float | None  # null while open
    confirmed_by: int  # failing checks that confirmed it
    cause: CauseDocument
    acknowledged_at: str | None
    acknowledged_by: str | None
    reminders: int


class AlertDocument(msgspec.Struct, frozen=True, kw_only=True):
    """One outbox row: one message to one channel."""

    id: int
    incident_id: str | None
    monitor_id: str | None
    channel_id: str
    transition: str
    dedup_key: str
    status: str  # pending | sending | sent | dead
    attempts: int
    next_attempt_at: str | None  # when a pending row is due
    last_error: str | None
    grouped: bool  # sent inside a grouped message
    created_at: str
    sent_at: str | None


class IncidentDetail(msgspec.Struct, frozen=True, kw_only=True):
    incident: IncidentDocument
    alerts: list[AlertDocument]


def incident_document(i: Incident) -> IncidentDocument:
    return IncidentDocument(
        id=i.id,
        monitor_id=i.monitor_id,
        monitor_name=i.monitor_name,
        state="open" if i.resolved_at is None else "closed",
        started_at=rfc3339(i.started_at),
        confirmed_at=rfc3339(i.confirmed_at),
        resolved_at=None if i.resolved_at is None else rfc3339(i.resolved_at),
        duration_seconds=None if i.resolved_at is None else round(i.resolved_at - i.started_at, 3),
        confirmed_by=i.confirmed_by,
        cause=CauseDocument(error_kind=i.error_kind, error=i.error, http_status=i.http_status),
        acknowledged_at=None if i.acknowledged_at is None else rfc3339(i.acknowledged_at),
        acknowledged_by=i.acknowledged_by,
        reminders=i.reminders,
    )


def alert_document(d: Delivery) -> AlertDocument:
    return AlertDocument(
        id=d.id,
        incident_id=d.incident_id,
        monitor_id=d.monitor_id,
        channel_id=d.channel_id,
        transition=d.transition,
        dedup_key=d.dedup_key,
        status=d.status,
        attempts=d.attempts,
        next_attempt_at=rfc3339(d.next_attempt_at) if d.status == "pending" else None,
        last_error=d.last_error,
        grouped=d.group_key is not None,
        created_at=rfc3339(d.created_at),
        sent_at=None if d.sent_at is None else rfc3339(d.sent_at),
    )


def time_param(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    errors: list[FieldError] = []
    value: object = raw
    try:
        value = float(raw)
    except ValueError:
        pass
    parsed = parse_time(value, name, errors)
    if errors:
        raise field_errors(errors, 400, f"the query parameter {name} is invalid")
    return parsed


def _choice(request: Request, name: str, choices: dict[str, IncidentState | None]) -> str:
    raw = request.query_params.get(name, "all")
    if raw not in choices:
        detail = f"{raw!r} is not accepted; use one of {', '.join(choices)}"
        raise field_errors(
            [FieldError(name, detail)], 400, f"the query parameter {name} is invalid"
        )
    return raw


async def list_incidents(request: Request) -> Response:
    ctx = context_of(request)
    limit = int_param(request, "limit", low=1, high=MAX_PAGE, default=DEFAULT_PAGE)
    state = STATES[_choice(request, "state", STATES)]
    since, until = time_param(request, "since"), time_param(request, "until")
    monitor_id = request.query_params.get("monitor") or None
    if monitor_id is not None:
        await ctx.store.call(ctx.store.get_monitor, monitor_id)  # 404 for an unknown monitor
    try:
        page = await ctx.store.call(
            ctx.store.list_incidents,
            monitor_id=monitor_id,
            state=state,
            since=since,
            until=until,
            before=cursor_param(request),
            limit=limit,
        )
    except InvalidInput as exc:
        raise query_error(exc) from exc
    return json_response(ListDocument([incident_document(i) for i in page.items], page.next))


async def get_incident(request: Request) -> Response:
    ctx = context_of(request)
    incident = await ctx.store.call(ctx.store.get_incident, request.path_params["incident_id"])
    alerts = await ctx.store.call(ctx.store.list_deliveries, incident_id=incident.id, limit=500)
    return json_response(
        IncidentDetail(
            incident=incident_document(incident),
            alerts=[alert_document(d) for d in reversed(alerts.items)],
        )
    )


async def acknowledge_incident(request: Request) -> Response:
    """Acknowledge: the incident's reminders stop. The token's name is recorded."""
    ctx = context_of(request)
    incident_id = request.path_params["incident_id"]
    by = f"token:{request.state.token.name}"
    incident = await ctx.store.call(
        ctx.store.acknowledge_incident, incident_id, by=by, now=ctx.now()
    )
    return json_response(incident_document(incident))


DELIVERY_STATUSES: dict[str, DeliveryStatus | None] = {
    "all": None,
    "pending": "pending",
    "sending": "sending",
    "sent": "sent",
    "dead": "dead",
}


async def list_alerts(request: Request) -> Response:
    """Outbox rows newest first; `?status=dead` lists the deliveries given up on."""
    ctx = context_of(request)
    limit = int_param(request, "limit", low=1, high=MAX_PAGE, default=DEFAULT_PAGE)
    raw = request.query_params.get("status", "all")
    if raw not in DELIVERY_STATUSES:
        accepted = ", ".join(DELIVERY_STATUSES)
        raise field_errors(
            [FieldError("status", f"{raw!r} is not accepted; use one of {accepted}")],
            400,
            "the query parameter status is invalid",
        )
    status = DELIVERY_STATUSES[raw]
    try:
        page = await ctx.store.call(
            ctx.store.list_deliveries,
            status=status,
            incident_id=request.query_params.get("incident") or None,
            before=cursor_param(request),
            limit=limit,
        )
    except InvalidInput as exc:
        raise query_error(exc) from exc
    return json_response(ListDocument([alert_document(d) for d in page.items], page.next))


async def retry_alert(request: Request) -> Response:
    """Send a dead alert again (attempts start over)."""
    ctx = context_of(request)
    raw = request.path_params["alert_id"]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "not-found", f"no alert has the id {raw!r}")
    delivery = await ctx.store.call(ctx.store.retry_delivery, int(raw), now=ctx.now())
    return json_response(alert_document(delivery))
