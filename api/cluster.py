"""The cluster as the answering node sees it: nodes, the shard map, degraded flags."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.context import context_of
from api.documents import json_response


async def cluster_view(request: Request) -> Response:
    return json_response(context_of(request).node.cluster())
