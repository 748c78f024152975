"""The OpenAPI 3.1 description of the API: paths by hand, shapes from the document structs."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from api import monitors, results
from api.bodies import MAX_BODY_BYTES
from api.context import context_of
from api.documents import (
    HealthDocument,
    MonitorDocument,
    ReadinessDocument,
    ResultDocument,
    UptimeDocument,
)
from api.health import NotReady
from api.problems import PROBLEM_JSON, Problem
from uptrack import __version__
from uptrack.clusterview import ClusterView
from uptrack.heartbeats import KIND as HEARTBEAT
from uptrack.heartbeats import MAX_BODY as MAX_PING_BODY
from uptrack.kinds import KindCatalog, KindSchema
from uptrack.monitors import MAX_INTERVAL, MAX_NAME, MAX_RETRIES, MAX_THRESHOLD, MIN_INTERVAL
from uptrack.secrets import MASK

Json = dict[str, Any]
REF = "#/components/schemas/{name}"
MONITOR = "/api/v1/monitors/{monitor_id}"
PING = "/ping/{token}"


def _ref(name: str, section: str = "schemas") -> Json:
    return {"$ref": f"#/components/{section}/{name}"}


def _response(name: str) -> Json:
    return _ref(name, "responses")


def _json(schema: Json, description: str, media: str = "application/json") -> Json:
    return {"description": description, "content": {media: {"schema": schema}}}


_DURATION: Json = {
    "description": "seconds, or a duration string such as 250ms, 30s, 5m, 1h, 1d",
    "oneOf": [
        {"type": "number"},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"},
    ],
}

# Common input fields of a monitor (kind settings sit beside them at the top level).
_MONITOR_FIELDS: Json = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
        "kind": {"type": "string"},
        "target": {"type": "string", "description": "URL or host:port, as the kind reads it"},
        "interval": _DURATION
        | {"description": f"whole seconds from {MIN_INTERVAL} to {MAX_INTERVAL}, or a duration"},
        "timeout": _DURATION | {"description": "below the interval; default min(10 s, interval/2)"},
        "retries": {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES, "default": 2},
        "retry_delay": _DURATION | {"description": "below the interval; default 3 s"},
        "down_after": {"type": "integer", "minimum": 1, "maximum": MAX_THRESHOLD, "default": 1},
        "up_after": {"type": "integer", "minimum": 1, "maximum": MAX_THRESHOLD, "default": 1},
        "paused": {"type": "boolean", "default": False},
    },
}

_PARAMETERS: Json = {
    "MonitorId": {
        "name": "monitor_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    },
    "Cursor": {
        "name": "cursor",
        "in": "query",
        "description": "the `next` value of the previous page",
        "schema": {"type": "string"},
    },
    "MonitorLimit": {
        "name": "limit",
        "in": "query",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": monitors.MAX_PAGE,
            "default": monitors.DEFAULT_PAGE,
        },
    },
    "ResultLimit": {
        "name": "limit",
        "in": "query",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": results.MAX_PAGE,
            "default": results.DEFAULT_PAGE,
        },
    },
    "PingToken": {
        "name": "token",
        "in": "path",
        "required": True,
        "description": "the heartbeat monitor's token (its `ping_url` ends with it)",
        "schema": {"type": "string"},
    },
    "PingSignal": {
        "name": "signal",
        "in": "path",
        "required": True,
        "description": "start (a run began), fail, or the run's exit code (0 = success)",
        "schema": {"type": "string", "pattern": "^(start|fail|[0-9]{1,3})$"},
    },
    "Window": {
        "name": "window",
        "in": "query",
        "schema": {"type": "string", "enum": list(results.WINDOWS), "default": "24h"},
    },
}

_PROBLEM = _ref("Problem")
_RESPONSES: Json = {
    "BadRequest": _json(
        _PROBLEM, "The body is not JSON, or a query parameter is invalid.", PROBLEM_JSON
    ),
    "Unauthorized": {
        **_json(
            _PROBLEM, "No token, or a malformed, unknown, expired or revoked one.", PROBLEM_JSON
        ),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    "Forbidden": _json(_PROBLEM, "The token's scope does not allow this.", PROBLEM_JSON),
    "NotFound": _json(_PROBLEM, "No such monitor.", PROBLEM_JSON),
    "Conflict": _json(
        _PROBLEM, "Another monitor has this name (or another heartbeat this token).", PROBLEM_JSON
    ),
    "PingNotFound": _json(
        _PROBLEM, "No heartbeat monitor has this ping URL, or it is not a ping.", PROBLEM_JSON
    ),
    "TooManyPings": {
        **_json(_PROBLEM, "Too many pings for this token; retry later.", PROBLEM_JSON),
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
    "TooLarge": _json(_PROBLEM, f"The body is over {MAX_BODY_BYTES} bytes.", PROBLEM_JSON),
    "InvalidInput": _json(_PROBLEM, "Validation failed; `errors` names every field.", PROBLEM_JSON),
    "ServerError": _json(_PROBLEM, "An unexpected failure (logged on the node).", PROBLEM_JSON),
    "Unavailable": _json(_PROBLEM, "The database cannot be reached right now.", PROBLEM_JSON),
}


def _list_of(item: str) -> Json:
    return {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "next": {"type": ["string", "null"], "description": "cursor of the next page"},
        },
    }


def _operation(
    summary: str,
    responses: Json,
    *,
    scope: str | None,
    parameters: Sequence[str] = (),
    body: Json | None = None,
) -> Json:
    op: Json = {"summary": summary, "operationId": _operation_id(summary)}
    if parameters:
        op["parameters"] = [_ref(p, "parameters") for p in parameters]
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        responses = {"400": _response("BadRequest"), "413": _response("TooLarge")} | responses
    if scope is None:
        op["security"] = []
    else:
        op["security"] = [{"bearerAuth": [scope]}]
        responses = responses | {
            "401": _response("Unauthorized"),
            "403": _response("Forbidden"),
            "503": _response("Unavailable"),
        }
    op["responses"] = dict(sorted((responses | {"500": _response("ServerError")}).items()))
    return op


def _operation_id(summary: str) -> str:
    words = summary.lower().replace("'", "").split()
    return words[0] + "".join(w.capitalize() for w in words[1:])


def _ping_operation(summary: str, parameters: Sequence[str], *, body: bool) -> Json:
    op = _operation(
        summary,
        {
            "200": {
                "description": "The ping is recorded.",
                "content": {"text/plain": {"schema": {"type": "string", "const": "OK\n"}}},
            },
            "404": _response("PingNotFound"),
            "429": _response("TooManyPings"),
            "503": _response("Unavailable"),
        },
        scope=None,
        parameters=parameters,
    )
    if body:
        op["requestBody"] = {
            "required": False,
            "description": f"The run's output; the first {MAX_PING_BODY} bytes are kept.",
            "content": {"*/*": {"schema": {"type": "string"}}},
        }
    return op


def _ping_paths() -> Json:
    """Heartbeat pings: open (the token is the credential); HEAD is accepted as GET."""
    token, signal = ["PingToken"], ["PingToken", "PingSignal"]
    return {
        PING: {
            "get": _ping_operation("Ping a heartbeat monitor", token, body=False),
            "post": _ping_operation("Ping a heartbeat monitor with output", token, body=True),
        },
        PING + "/{signal}": {
            "get": _ping_operation("Signal a heartbeat monitor", signal, body=False),
            "post": _ping_operation("Signal a heartbeat monitor with output", signal, body=True),
        },
    }


def _paths() -> Json:
    monitor_ok = _json(_ref("Monitor"), "The monitor.")
    one = ["MonitorId"]
    return _ping_paths() | {
        "/healthz": {
            "get": _operation(
                "Check liveness",
                {"200": _json(_ref("HealthDocument"), "The process serves requests.")},
                scope=None,
            )
        },
        "/readyz": {
            "get": _operation(
                "Check readiness",
                {
                    "200": _json(_ref("ReadinessDocument"), "The node is ready."),
                    "503": _json(_ref("NotReadyProblem"), "The node is not ready.", PROBLEM_JSON),
                },
                scope=None,
            )
        },
        "/metrics": {
            "get": _operation(
                "Read metrics",
                {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
                scope=None,
            )
        },
        "/api/v1/openapi.json": {
            "get": _operation(
                "Read this document", {"200": _json({"type": "object"}, "OpenAPI 3.1")}, scope=None
            )
        },
        "/api/v1/cluster": {
            "get": _operation(
                "Read the cluster",
                {"200": _json(_ref("ClusterView"), "Nodes, the shard map, degraded flags.")},
                scope="read",
            )
        },
        "/api/v1/monitors": {
            "get": _operation(
                "List monitors",
                {
                    "200": _json(_ref("MonitorList"), "Monitors by name."),
                    "400": _response("BadRequest"),
                },
                scope="read",
                parameters=["MonitorLimit", "Cursor"],
            ),
            "post": _operation(
                "Create a monitor",
                {
                    "201": {**monitor_ok, "headers": {"Location": {"schema": {"type": "string"}}}},
                    "409": _response("Conflict"),
                    "422": _response("InvalidInput"),
                },
                scope="write",
                body=_ref("MonitorInput"),
            ),
        },
        MONITOR: {
            "get": _operation(
                "Read a monitor",
                {"200": monitor_ok, "404": _response("NotFound")},
                scope="read",
                parameters=one,
            ),
            "patch": _operation(
                "Update a monitor",
                {
                    "200": monitor_ok,
                    "404": _response("NotFound"),
                    "409": _response("Conflict"),
                    "422": _response("InvalidInput"),
                },
                scope="write",
                parameters=one,
                body=_ref("MonitorPatch"),
            ),
            "delete": _operation(
                "Delete a monitor",
                {
                    "204": {"description": "Deleted with its state and results."},
                    "404": _response("NotFound"),
                },
                scope="write",
                parameters=one,
            ),
        },
        MONITOR + "/pause": {
            "post": _operation(
                "Pause a monitor",
                {"200": monitor_ok, "404": _response("NotFound")},
                scope="write",
                parameters=one,
            )
        },
        MONITOR + "/resume": {
            "post": _operation(
                "Resume a monitor",
                {"200": monitor_ok, "404": _response("NotFound")},
                scope="write",
                parameters=one,
            )
        },
        MONITOR + "/results": {
            "get": _operation(
                "List results",
                {
                    "200": _json(_ref("ResultList"), "Results, newest first."),
                    "400": _response("BadRequest"),
                    "404": _response("NotFound"),
                },
                scope="read",
                parameters=["MonitorId", "ResultLimit", "Cursor"],
            )
        },
        MONITOR + "/uptime": {
            "get": _operation(
                "Read uptime",
                {
                    "200": _json(_ref("UptimeDocument"), "Uptime over the window."),
                    "400": _response("BadRequest"),
                    "404": _response("NotFound"),
                },
                scope="read",
                parameters=["MonitorId", "Window"],
            )
        },
    }


def _schemas(kinds: KindCatalog) -> Json:
    structs: list[Any] = [
        HealthDocument,
        ReadinessDocument,
        MonitorDocument,
        ResultDocument,
        UptimeDocument,
        Problem,
        ClusterView,
    ]
    _, generated = msgspec.json.schema_components(structs, ref_template=REF)
    schemas: Json = dict(generated)
    schemas["Monitor"] = {
        "allOf": [_ref("MonitorDocument")],
        "description": (
            "A monitor; its kind settings appear beside the common fields, each secret "
            f"that is set as {MASK}."
        ),
        "properties": {
            "ping_url": {
                "type": "string",
                "format": "uri",
                "description": "Heartbeat monitors only: the URL their job pings "
                "(on the address the API was reached at), /start, /fail or /<exit code> "
                "after it. Anyone who has it can ping the monitor.",
            }
        },
    }
    schemas["NotReadyProblem"] = {"allOf": [_ref("Problem")], **_not_ready()}
    schemas["MonitorList"] = _list_of("Monitor")
    schemas["ResultList"] = _list_of("ResultDocument")
    schemas["MonitorFields"] = _MONITOR_FIELDS
    variants: list[Json] = []
    secret_kinds: list[tuple[str, KindSchema]] = []
    for name in sorted(kinds):
        settings = kinds[name].settings_type
        _, parts = msgspec.json.schema_components([settings], ref_template=REF)
        for part_name, part in parts.items():
            if part_name in schemas and schemas[part_name] != part:
                raise ValueError(f"kind {name}: schema name {part_name} is taken")
            schemas[part_name] = part
        settings_name = settings.__name__
        # The settings sit beside the common fields: unknown fields are refused by the
        # variant's unevaluatedProperties, not by the settings schema itself.
        schemas[settings_name] = copy.deepcopy(schemas[settings_name])
        schemas[settings_name].pop("additionalProperties", None)
        secret_kinds.append((settings_name, kinds[name]))
        variant = f"{name.capitalize()}MonitorInput"
        schemas[variant] = {
            "allOf": [_ref("MonitorFields"), _ref(settings_name)],
            "properties": {"kind": {"const": name}},
            # a heartbeat monitor probes nothing: its target is an optional label
            "required": ["name", "kind", "interval"]
            if name == HEARTBEAT
            else ["name", "kind", "target", "interval"],
            "unevaluatedProperties": False,
        }
        variants.append(_ref(variant))
    for settings_name, kind in secret_kinds:  # once every kind's components are in
        _describe_secrets(schemas, settings_name, kind)
    schemas["MonitorInput"] = {"oneOf": variants, "description": "A new monitor."}
    schemas["MonitorPatch"] = {
        "allOf": [_ref("MonitorFields")],
        "description": "Any subset of a monitor's fields, kind settings at the top level.",
    }
    return dict(sorted(schemas.items()))


_SECRET = f"Write-only: shown as {MASK} when set; send {MASK} back to keep the stored value."
_SECRET_HEADERS = (
    "Values of sensitive headers (Authorization, Proxy-Authorization, Cookie, and names "
    f"with token, secret, key or password) are write-only: shown as {MASK}; send {MASK} "
    "back to keep the stored value."
)
_SECRET_URL = (
    f"The password of its user info is write-only: shown as {MASK}; send it back to keep it."
)


def _property(schemas: Json, schema_name: str, path: str) -> Json | None:
    """The schema of a dotted settings path, following `$ref`s into other components."""
    schema: Json | None = schemas.get(schema_name)
    for name in path.split("."):
        if schema is None:
            return None
        refs = [s["$ref"] for s in schema.get("anyOf", [schema]) if "$ref" in s]
        if refs:
            schema = schemas.get(refs[0].rsplit("/", 1)[1])
            if schema is None:
                return None
        schema = schema.get("properties", {}).get(name)
    return schema


def _describe_secrets(schemas: Json, settings_name: str, kind: KindSchema) -> None:
    for paths, description, write_only in (
        (kind.secret_fields, _SECRET, True),
        (kind.secret_header_fields, _SECRET_HEADERS, False),
        (kind.secret_url_fields, _SECRET_URL, False),
    ):
        for path in paths:
            prop = _property(schemas, settings_name, path)
            if prop is None:
                raise ValueError(f"{settings_name}: no setting {path} to mark secret")
            prop["description"] = description
            if write_only:
                prop["writeOnly"] = True


def _not_ready() -> Json:
    _, parts = msgspec.json.schema_components([NotReady], ref_template=REF)
    schema: Json = parts["NotReady"]
    return {"properties": schema["properties"], "required": schema["required"]}


def document(kinds: KindCatalog) -> Json:
    """The whole OpenAPI document for an app serving `kinds`."""
    doc: Json = {
        "openapi": "3.1.0",
        "info": {
            "title": "Uptrack",
            "version": __version__,
            "description": "Self-hosted uptime monitor. Errors are RFC 9457 problem documents.",
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(kinds),
            "parameters": _PARAMETERS,
            "responses": _RESPONSES,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "API token (upt_…); scopes read < write < admin",
                }
            },
        },
    }
    # -- alerts (DESIGN §6): their module uses this one's helpers, so it comes in late
    from api import openapi_alerts

    openapi_alerts.extend(doc)
    return doc


async def openapi(request: Request) -> Response:
    return Response(context_of(request).openapi, media_type="application/json")
