"""`/metrics`: the node's Prometheus registry in the text exposition format."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from api.context import context_of


async def metrics(request: Request) -> Response:
    registry = context_of(request).metrics.registry
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
