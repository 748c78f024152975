"""A monitor's check history: its results, newest first, and its uptime over a window."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import context_of
from api.documents import ListDocument, json_response, result_document, uptime_document
from api.params import choice_param, cursor_param, int_param, query_error
from uptrack.errors import InvalidInput

MAX_PAGE = 1000
DEFAULT_PAGE = 100
WINDOWS = {"24h": 86_400.0, "7d": 7 * 86_400.0, "30d": 30 * 86_400.0, "90d": 90 * 86_400.0}


async def list_results(request: Request) -> Response:
    ctx = context_of(request)
    limit = int_param(request, "limit", low=1, high=MAX_PAGE, default=DEFAULT_PAGE)
    cursor = cursor_param(request)
    monitor = await ctx.store.call(ctx.store.get_monitor, request.path_params["monitor_id"])
    try:
        page = await ctx.store.call(ctx.store.list_results, monitor.id, before=cursor, limit=limit)
    except InvalidInput as exc:
        raise query_error(exc) from exc
    return json_response(ListDocument([result_document(r) for r in page.items], page.next))


async def uptime(request: Request) -> Response:
    ctx = context_of(request)
    window = choice_param(request, "window", WINDOWS, default="24h")
    monitor = await ctx.store.call(ctx.store.get_monitor, request.path_params["monitor_id"])
    until = ctx.now()
    since = until - WINDOWS[window]
    measured = await ctx.store.call(ctx.store.uptime, monitor.id, since=since, until=until)
    return json_response(uptime_document(window, measured))
