"""The OpenAPI document describes every route of the app, and nothing else."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from api.app import ENDPOINTS
from uptrack.kinds import KindCatalog

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _operations(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }


async def test_the_document_is_openapi_3_1_served_without_a_token(
    client: httpx.AsyncClient, spec: dict[str, Any]
) -> None:
    assert spec["openapi"] == "3.1.0"
    assert spec["info"]["title"] == "Uptrack"
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }


async def test_every_route_of_the_app_is_in_the_document_and_nothing_else(
    app: Starlette, spec: dict[str, Any]
) -> None:
    served = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert served == _operations(spec)


async def test_each_operation_declares_the_scope_its_route_requires(spec: dict[str, Any]) -> None:
    for endpoint in ENDPOINTS:
        operation = spec["paths"][endpoint.path][endpoint.method.lower()]
        if endpoint.scope is None:
            assert operation["security"] == [], endpoint
            assert "401" not in operation["responses"]
        else:
            assert operation["security"] == [{"bearerAuth": [endpoint.scope]}], endpoint
            assert {"401", "403"} <= set(operation["responses"]), endpoint


async def test_every_error_response_is_a_problem_document(spec: dict[str, Any]) -> None:
    responses = spec["components"]["responses"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                if "$ref" in response:
                    response = responses[response["$ref"].rsplit("/", 1)[1]]
                assert list(response["content"]) == ["application/problem+json"], (
                    method,
                    path,
                    status,
                )


async def test_every_path_parameter_is_declared(spec: dict[str, Any]) -> None:
    parameters = spec["components"]["parameters"]
    for path, item in spec["paths"].items():
        for operation in item.values():
            declared = {
                parameters[p["$ref"].rsplit("/", 1)[1]]["name"]
                for p in operation.get("parameters", [])
            }
            for segment in path.split("/"):
                if segment.startswith("{"):
                    assert segment.strip("{}") in declared, path


async def test_every_reference_in_the_document_resolves(spec: dict[str, Any]) -> None:
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    refs.append(value)
                else:
                    collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(spec)
    assert refs
    for ref in refs:
        assert ref.startswith("#/"), ref
        target: Any = spec
        for part in ref[2:].split("/"):
            assert part in target, ref
            target = target[part]


async def test_the_monitor_input_has_one_variant_per_kind_with_its_settings(
    spec: dict[str, Any], kinds: KindCatalog
) -> None:
    schemas = spec["components"]["schemas"]
    variants = [v["$ref"].rsplit("/", 1)[1] for v in schemas["MonitorInput"]["oneOf"]]
    assert len(variants) == len(kinds)
    for name in variants:
        variant = schemas[name]
        kind = variant["properties"]["kind"]["const"]
        settings = kinds[kind].settings_type
        settings_schema = schemas[variant["allOf"][1]["$ref"].rsplit("/", 1)[1]]
        assert set(settings_schema.get("properties", {})) == set(settings.__struct_fields__)
        assert variant["unevaluatedProperties"] is False


async def test_a_served_monitor_has_every_field_the_document_promises(
    spec: dict[str, Any], create_monitor: Any
) -> None:
    schema = spec["components"]["schemas"]["MonitorDocument"]
    created = await create_monitor("shop")
    assert set(schema["required"]) <= set(created)
    assert set(schema["properties"]) <= set(created)


async def test_operation_ids_are_unique(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) == len(ENDPOINTS)
