"""The node's own endpoints, open to probes without a token: liveness and readiness."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from api.context import context_of
from api.documents import HealthDocument, ReadinessDocument, json_response
from api.problems import problem_response


class NotReady(msgspec.Struct, frozen=True):
    """Extension members of the 503 problem (its `status` member is the HTTP status)."""

    node: str
    checks: dict[str, str]


async def healthz(request: Request) -> Response:
    """200 while the process serves requests; says nothing about its parts."""
    node = context_of(request).node
    return json_response(HealthDocument("ok", node.name))


async def readyz(request: Request) -> Response:
    """200 when the node is ready for traffic, else a 503 problem listing the checks."""
    node = context_of(request).node
    readiness = node.readiness()
    if readiness.ready:
        return json_response(ReadinessDocument("ready", node.name, readiness.checks))
    failing = sorted(k for k, v in readiness.checks.items() if v != "ok")
    detail = "not ready: " + (", ".join(failing) if failing else "starting")
    return problem_response(
        503,
        "not-ready",
        detail,
        instance=request.url.path,
        extra=NotReady(node.name, readiness.checks),
    )
