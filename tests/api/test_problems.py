"""Every error is an RFC 9457 problem document, including the ones starlette raises."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from structlog.testing import capture_logs

from api import create_app
from uptrack.health import Readiness
from uptrack.kinds import KindCatalog
from uptrack.metrics import Metrics
from uptrack.store.base import Store


class BrokenNode:
    """A NodeView whose readiness check fails with a bug."""

    name = "node-b"

    def readiness(self) -> Readiness:
        raise RuntimeError("secret internals: /var/lib/uptrack/db password=hunter2")


async def test_an_unknown_route_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:uptrack:problem:not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "there is nothing at /api/v1/nothing-here",
        "instance": "/api/v1/nothing-here",
    }


async def test_a_wrong_method_is_a_405_problem_listing_the_allowed_methods(
    client: httpx.AsyncClient, write_auth: dict[str, str]
) -> None:
    response = await client.put("/api/v1/monitors/abc", headers=write_auth, json={})
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert {"GET", "PATCH", "DELETE"} <= allowed
    body = response.json()
    assert body["status"] == 405
    assert body["title"] == "Method Not Allowed"
    assert "PUT is not allowed" in body["detail"]


async def test_invalid_json_is_a_400_problem(
    client: httpx.AsyncClient, write_auth: dict[str, str]
) -> None:
    response = await client.post(
        "/api/v1/monitors",
        headers={**write_auth, "Content-Type": "application/json"},
        content=b'{"name": "shop",',
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:uptrack:problem:invalid-json"
    assert body["detail"].startswith("the request body is not valid JSON")


async def test_an_empty_body_is_a_400_problem(
    client: httpx.AsyncClient, write_auth: dict[str, str]
) -> None:
    response = await client.post("/api/v1/monitors", headers=write_auth, content=b"")
    assert response.status_code == 400
    assert "empty" in response.json()["detail"]


async def test_a_body_that_is_not_an_object_is_a_422_problem(
    client: httpx.AsyncClient, write_auth: dict[str, str]
) -> None:
    for body, got in ((b"[1, 2]", "an array"), (b'"shop"', "a string"), (b"null", "null")):
        response = await client.post("/api/v1/monitors", headers=write_auth, content=body)
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"field": "(body)", "message": f"expected a JSON object, got {got}"}
        ]


async def test_an_unexpected_exception_is_a_logged_500_problem_without_internals(
    store: Store, kinds: KindCatalog, metrics: Metrics
) -> None:
    app: Starlette = create_app(store=store, kinds=kinds, metrics=metrics, node=BrokenNode())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        with capture_logs() as logs:
            response = await client.get("/readyz")
        assert (await client.get("/healthz")).status_code == 200  # still serving
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:uptrack:problem:internal",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "the server failed to answer this request",
        "instance": "/readyz",
    }
    assert "secret" not in response.text
    (entry,) = [e for e in logs if e["event"] == "api.error"]
    assert entry["path"] == "/readyz"
    assert entry["log_level"] == "error"
    assert entry["exc_info"] is True
