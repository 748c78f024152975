"""The starlette app: the route table, its guards and error handling, built per node."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import (
    channels,
    cluster,
    health,
    incidents,
    maintenances,
    metrics,
    monitors,
    openapi,
    pings,
    results,
)
from api.auth import Handler, protected
from api.bodies import MAX_BODY_BYTES, BodyLimit
from api.context import ApiContext
from api.problems import EXCEPTION_HANDLERS, InternalErrors
from uptrack.health import NodeView
from uptrack.kinds import KindCatalog
from uptrack.metrics import Metrics
from uptrack.model import Scope
from uptrack.store.base import Store

MONITOR = "/api/v1/monitors/{monitor_id}"
CHANNEL = "/api/v1/channels/{channel_id}"
INCIDENT = "/api/v1/incidents/{incident_id}"
MAINTENANCE = "/api/v1/maintenances/{maintenance_id}"
PING = "/ping/{token}"


class Endpoint(NamedTuple):
    """One row of the route table; `scope` None means open without a token."""

    method: str
    path: str
    scope: Scope | None
    handler: Handler


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/healthz", None, health.healthz),
    Endpoint("GET", "/readyz", None, health.readyz),
    Endpoint("GET", "/metrics", None, metrics.metrics),
    Endpoint("GET", "/api/v1/openapi.json", None, openapi.openapi),
    Endpoint("GET", "/api/v1/monitors", "read", monitors.list_monitors),
    Endpoint("POST", "/api/v1/monitors", "write", monitors.create_monitor),
    Endpoint("GET", MONITOR, "read", monitors.get_monitor),
    Endpoint("PATCH", MONITOR, "write", monitors.update_monitor),
    Endpoint("DELETE", MONITOR, "write", monitors.delete_monitor),
    Endpoint("POST", MONITOR + "/pause", "write", monitors.pause_monitor),
    Endpoint("POST", MONITOR + "/resume", "write", monitors.resume_monitor),
    Endpoint("GET", MONITOR + "/results", "read", results.list_results),
    Endpoint("GET", MONITOR + "/uptime", "read", results.uptime),
    Endpoint("GET", "/api/v1/cluster", "read", cluster.cluster_view),
    # -- alerts (DESIGN §6): channels, incidents, maintenance windows, the outbox --
    Endpoint("GET", "/api/v1/channels", "read", channels.list_channels),
    Endpoint("POST", "/api/v1/channels", "write", channels.create_channel),
    Endpoint("GET", CHANNEL, "read", channels.get_channel),
    Endpoint("PATCH", CHANNEL, "write", channels.update_channel),
    Endpoint("DELETE", CHANNEL, "write", channels.delete_channel),
    Endpoint("POST", CHANNEL + "/test", "write", channels.test_channel),
    Endpoint("GET", "/api/v1/incidents", "read", incidents.list_incidents),
    Endpoint("GET", INCIDENT, "read", incidents.get_incident),
    Endpoint("POST", INCIDENT + "/ack", "write", incidents.acknowledge_incident),
    Endpoint("GET", "/api/v1/alerts", "read", incidents.list_alerts),
    Endpoint("POST", "/api/v1/alerts/{alert_id}/retry", "write", incidents.retry_alert),
    Endpoint("GET", "/api/v1/maintenances", "read", maintenances.list_maintenances),
    Endpoint("POST", "/api/v1/maintenances", "write", maintenances.create_maintenance),
    Endpoint("GET", MAINTENANCE, "read", maintenances.get_maintenance),
    Endpoint("PATCH", MAINTENANCE, "write", maintenances.update_maintenance),
    Endpoint("DELETE", MAINTENANCE, "write", maintenances.delete_maintenance),
    # -- heartbeat pings: open, the ping token is the credential (HEAD is a GET) --
    Endpoint("GET", PING, None, pings.ping),
    Endpoint("POST", PING, None, pings.ping),
    Endpoint("GET", PING + "/{signal}", None, pings.ping),
    Endpoint("POST", PING + "/{signal}", None, pings.ping),
)


def _by_method(handlers: dict[str, Handler]) -> Handler:
    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return dispatch


def _routes() -> list[Route]:
    """One route per path, so a wrong method gets a 405 whose Allow lists them all."""
    by_path: dict[str, dict[str, Handler]] = {}
    for e in ENDPOINTS:
        handler = e.handler if e.scope is None else protected(e.scope, e.handler)
        by_path.setdefault(e.path, {})[e.method] = handler
    return [
        Route(path, _by_method(handlers), methods=list(handlers), name=path)
        for path, handlers in by_path.items()
    ]


def create_app(
    *,
    store: Store,
    kinds: KindCatalog,
    metrics: Metrics,
    node: NodeView,
    now: Callable[[], float] = time.time,
    public_url: str = "",
) -> Starlette:
    """The API of one node. The caller owns the store's lifetime; the app only uses it."""
    app = Starlette(
        routes=_routes(),
        middleware=[
            Middleware(InternalErrors),
            Middleware(BodyLimit, max_bytes=MAX_BODY_BYTES),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.uptrack = ApiContext(
        store=store,
        kinds=kinds,
        metrics=metrics,
        node=node,
        now=now,
        openapi=msgspec.json.encode(openapi.document(kinds)),
        public_url=public_url,
    )
    return app
