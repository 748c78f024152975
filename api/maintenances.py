"""The maintenance windows resource: monitors covered are checked but never alert."""

from __future__ import annotations

from urllib.parse import quote

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from api.bodies import read_json_object
from api.context import ApiContext, context_of
from api.documents import ListDocument, json_response, rfc3339
from uptrack.alerts.validation import parse_maintenance
from uptrack.alerts.windows import CronWindow, Maintenance, MaintenanceSpec, WeeklyWindow
from uptrack.errors import FieldError, InvalidInput, NotFound


class MaintenanceDocument(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    monitors: list[str]  # monitor ids
    tags: list[str]
    starts_at: str | None
    ends_at: str | None
    weekly: WeeklyWindow | None
    cron: CronWindow | None
    active: bool  # whether the window is open now
    created_at: str
    updated_at: str


def maintenance_document(window: Maintenance, now: float) -> MaintenanceDocument:
    spec = window.spec
    return MaintenanceDocument(
        id=window.id,
        name=spec.name,
        monitors=spec.monitors,
        tags=spec.tags,
        starts_at=None if spec.starts_at is None else rfc3339(spec.starts_at),
        ends_at=None if spec.ends_at is None else rfc3339(spec.ends_at),
        weekly=spec.weekly,
        cron=spec.cron,
        active=window.active_at(now),
        created_at=rfc3339(window.created_at),
        updated_at=rfc3339(window.updated_at),
    )


async def _check_monitors(ctx: ApiContext, spec: MaintenanceSpec) -> None:
    errors = []
    for i, monitor_id in enumerate(spec.monitors):
        try:
            await ctx.store.call(ctx.store.get_monitor, monitor_id)
        except NotFound:
            errors.append(FieldError(f"monitors[{i}]", f"no monitor has the id {monitor_id!r}"))
    if errors:
        raise InvalidInput(errors)


async def list_maintenances(request: Request) -> Response:
    ctx = context_of(request)
    windows = await ctx.store.call(ctx.store.list_maintenances)
    now = ctx.now()
    return json_response(ListDocument([maintenance_document(w, now) for w in windows], None))


async def create_maintenance(request: Request) -> Response:
    ctx = context_of(request)
    spec = parse_maintenance(await read_json_object(request))
    await _check_monitors(ctx, spec)
    window = await ctx.store.call(ctx.store.create_maintenance, spec, now=ctx.now())
    location = f"{request.url.path.rstrip('/')}/{quote(window.id, safe='')}"
    return json_response(
        maintenance_document(window, ctx.now()), status=201, headers={"Location": location}
    )


async def get_maintenance(request: Request) -> Response:
    ctx = context_of(request)
    window = await ctx.store.call(ctx.store.get_maintenance, request.path_params["maintenance_id"])
    return json_response(maintenance_document(window, ctx.now()))


async def update_maintenance(request: Request) -> Response:
    ctx = context_of(request)
    maintenance_id = request.path_params["maintenance_id"]
    existing = await ctx.store.call(ctx.store.get_maintenance, maintenance_id)
    spec = parse_maintenance(await read_json_object(request), base=existing.spec)
    await _check_monitors(ctx, spec)
    window = await ctx.store.call(ctx.store.update_maintenance, maintenance_id, spec, now=ctx.now())
    return json_response(maintenance_document(window, ctx.now()))


async def delete_maintenance(request: Request) -> Response:
    ctx = context_of(request)
    await ctx.store.call(ctx.store.delete_maintenance, request.path_params["maintenance_id"])
    return Response(status_code=204)
