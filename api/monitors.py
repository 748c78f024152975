"""The monitors resource: list, create, read, partial update, delete, pause, resume."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from api.bodies import read_json_object
from api.channels import check_channel_names
from api.context import ApiContext, context_of
from api.documents import ListDocument, json_response, monitor_document
from api.params import cursor_param, int_param, query_error
from uptrack.errors import InvalidInput
from uptrack.model import Monitor
from uptrack.monitors import parse_monitor
from uptrack.secrets import check_move, origin, restore

MAX_PAGE = 500
DEFAULT_PAGE = 100


def _restored(ctx: ApiContext, raw: dict[str, Any], existing: Monitor | None) -> dict[str, Any]:
    """The body with each secret sent back as the mask replaced by the stored one.

    Only a monitor that keeps its kind keeps its secrets; a mask anywhere else is
    refused (422 naming the field) rather than saved as the secret."""
    kind_name = raw.get("kind", existing.kind if existing is not None else None)
    kind = ctx.kinds.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        return raw  # parse_monitor names the unknown kind
    stored = existing.settings if existing is not None and existing.kind == kind_name else {}
    if existing is not None and stored:
        target = raw.get("target", existing.target)
        proxy, old_proxy = raw.get("proxy", stored.get("proxy")), stored.get("proxy")
        moved = origin(str(target)) != origin(existing.target) or (
            isinstance(old_proxy, str) and origin(str(proxy)) != origin(old_proxy)
        )
        check_move(raw, stored, kind, moved=moved)
    return restore(raw, stored, kind)


def _base_url(request: Request) -> str:
    """Where this API was reached: heartbeat monitors show their ping URL on it."""
    return str(request.base_url)


async def _document(request: Request, ctx: ApiContext, monitor: Monitor) -> Response:
    state = await ctx.store.call(ctx.store.get_state, monitor.id)
    return json_response(monitor_document(monitor, state, ctx.kinds, base_url=_base_url(request)))


async def list_monitors(request: Request) -> Response:
    ctx = context_of(request)
    limit = int_param(request, "limit", low=1, high=MAX_PAGE, default=DEFAULT_PAGE)
    cursor = cursor_param(request)
    try:
        page = await ctx.store.call(ctx.store.list_monitors, after=cursor, limit=limit)
    except InvalidInput as exc:
        raise query_error(exc) from exc
    states = await ctx.store.call(ctx.store.get_states, [m.id for m in page.items])
    base_url = _base_url(request)
    items = [monitor_document(m, states[m.id], ctx.kinds, base_url=base_url) for m in page.items]
    return json_response(ListDocument(items, page.next))


async def create_monitor(request: Request) -> Response:
    ctx = context_of(request)
    raw = await read_json_object(request)
    spec = parse_monitor(_restored(ctx, raw, None), ctx.kinds)
    await check_channel_names(ctx, spec)  # alerts: channels are named, and must exist
    monitor = await ctx.store.call(ctx.store.create_monitor, spec, now=ctx.now())
    state = await ctx.store.call(ctx.store.get_state, monitor.id)
    location = f"{request.url.path.rstrip('/')}/{quote(monitor.id, safe='')}"
    return json_response(
        monitor_document(monitor, state, ctx.kinds, base_url=_base_url(request)),
        status=201,
        headers={"Location": location},
    )


async def get_monitor(request: Request) -> Response:
    ctx = context_of(request)
    monitor = await ctx.store.call(ctx.store.get_monitor, request.path_params["monitor_id"])
    return await _document(request, ctx, monitor)


async def update_monitor(request: Request) -> Response:
    ctx = context_of(request)
    monitor_id = request.path_params["monitor_id"]
    existing = await ctx.store.call(ctx.store.get_monitor, monitor_id)
    raw = await read_json_object(request)
    spec = parse_monitor(_restored(ctx, raw, existing), ctx.kinds, base=existing.spec())
    await check_channel_names(ctx, spec)  # alerts: channels are named, and must exist
    monitor = await ctx.store.call(ctx.store.update_monitor, monitor_id, spec, now=ctx.now())
    return await _document(request, ctx, monitor)


async def delete_monitor(request: Request) -> Response:
    ctx = context_of(request)
    await ctx.store.call(ctx.store.delete_monitor, request.path_params["monitor_id"])
    return Response(status_code=204)


async def _set_paused(request: Request, paused: bool) -> Response:
    ctx = context_of(request)
    monitor_id = request.path_params["monitor_id"]
    monitor = await ctx.store.call(ctx.store.get_monitor, monitor_id)
    if monitor.paused != paused:  # already there: answer without a new version
        spec = msgspec.structs.replace(monitor.spec(), paused=paused)
        monitor = await ctx.store.call(ctx.store.update_monitor, monitor_id, spec, now=ctx.now())
    return await _document(request, ctx, monitor)


async def pause_monitor(request: Request) -> Response:
    return await _set_paused(request, True)


async def resume_monitor(request: Request) -> Response:
    return await _set_paused(request, False)
