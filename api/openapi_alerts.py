"""The OpenAPI description of alerting: channels, incidents, alerts, maintenance windows.

`extend(document)` adds the paths, parameters, schemas and the monitor's alerting
fields to the document `api.openapi` builds (which imports this module lazily:
this one uses its helpers).
"""

from __future__ import annotations

from typing import Any

import msgspec

from api import incidents
from api import openapi as oa
from api.channels import ChannelDocument, TestOutcome
from api.incidents import AlertDocument, IncidentDetail, IncidentDocument
from api.maintenances import MaintenanceDocument
from api.problems import PROBLEM_JSON
from uptrack.alerts.channels import CHANNELS
from uptrack.alerts.labels import MAX_CHANNELS, MAX_REMIND, MAX_TAGS, MIN_REMIND
from uptrack.alerts.registry import settings_schema
from uptrack.alerts.windows import WEEKDAYS
from uptrack.secrets import MASK

Json = dict[str, Any]
CHANNEL = "/api/v1/channels/{channel_id}"
INCIDENT = "/api/v1/incidents/{incident_id}"
MAINTENANCE = "/api/v1/maintenances/{maintenance_id}"

_TAGS: Json = {
    "type": "array",
    "maxItems": MAX_TAGS,
    "items": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:/=-]{0,63}$"},
}
_TIME: Json = {
    "description": "RFC 3339 with an offset (2024-05-01T02:00:00Z), or Unix seconds",
    "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
}

MONITOR_FIELDS: Json = {
    "tags": _TAGS | {"description": "labels; channels and maintenance windows select by them"},
    "channels": {
        "type": "array",
        "maxItems": MAX_CHANNELS,
        "items": {"type": "string"},
        "description": "names of channels this monitor alerts (each must exist)",
    },
    "remind_every": {
        "description": (
            f"remind every so often while down and unacknowledged, {MIN_REMIND:g} s to "
            f"{MAX_REMIND:g} s; null: never"
        ),
        "oneOf": [{"$ref": "#/components/schemas/Duration"}, {"type": "null"}],
    },
}

PARAMETERS: Json = {
    "ChannelId": {
        "name": "channel_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    },
    "IncidentId": {
        "name": "incident_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    },
    "MaintenanceId": {
        "name": "maintenance_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    },
    "AlertId": {"name": "alert_id", "in": "path", "required": True, "schema": {"type": "integer"}},
    "IncidentMonitor": {
        "name": "monitor",
        "in": "query",
        "description": "only this monitor's incidents (its id)",
        "schema": {"type": "string"},
    },
    "IncidentState": {
        "name": "state",
        "in": "query",
        "schema": {"type": "string", "enum": list(incidents.STATES), "default": "all"},
    },
    "Since": {
        "name": "since",
        "in": "query",
        "description": "incidents still open at or after this time",
        "schema": _TIME,
    },
    "Until": {
        "name": "until",
        "in": "query",
        "description": "incidents that started before this time",
        "schema": _TIME,
    },
    "AlertStatus": {
        "name": "status",
        "in": "query",
        "schema": {"type": "string", "enum": list(incidents.DELIVERY_STATUSES), "default": "all"},
    },
    "AlertIncident": {
        "name": "incident",
        "in": "query",
        "description": "only this incident's alerts",
        "schema": {"type": "string"},
    },
    "IncidentLimit": {
        "name": "limit",
        "in": "query",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": incidents.MAX_PAGE,
            "default": incidents.DEFAULT_PAGE,
        },
    },
}


def _not_found(what: str) -> Json:
    return oa._json(oa._ref("Problem"), f"No such {what}.", PROBLEM_JSON)


def _channel_paths() -> Json:
    one = ["ChannelId"]
    ok = oa._json(oa._ref("ChannelDocument"), "The channel (secrets masked).")
    missing = _not_found("channel")
    return {
        "/api/v1/channels": {
            "get": oa._operation(
                "List channels",
                {"200": oa._json(oa._list_of("ChannelDocument"), "Channels by name.")},
                scope="read",
            ),
            "post": oa._operation(
                "Create a channel",
                {
                    "201": {**ok, "headers": {"Location": {"schema": {"type": "string"}}}},
                    "409": oa._response("Conflict"),
                    "422": oa._response("InvalidInput"),
                },
                scope="write",
                body=oa._ref("ChannelInput"),
            ),
        },
        CHANNEL: {
            "get": oa._operation(
                "Read a channel", {"200": ok, "404": missing}, scope="read", parameters=one
            ),
            "patch": oa._operation(
                "Update a channel",
                {
                    "200": ok,
                    "404": missing,
                    "409": oa._response("Conflict"),
                    "422": oa._response("InvalidInput"),
                },
                scope="write",
                parameters=one,
                body=oa._ref("ChannelPatch"),
            ),
            "delete": oa._operation(
                "Delete a channel",
                {
                    "204": {"description": "Deleted, with its alerts."},
                    "404": missing,
                    "409": oa._json(
                        oa._ref("Problem"), "Monitors still name the channel.", PROBLEM_JSON
                    ),
                },
                scope="write",
                parameters=one,
            ),
        },
        CHANNEL + "/test": {
            "post": oa._operation(
                "Send a test message",
                {
                    "200": oa._json(oa._ref("TestOutcome"), "Whether the channel took it."),
                    "404": missing,
                },
                scope="write",
                parameters=one,
            )
        },
    }


def _incident_paths() -> Json:
    missing = _not_found("incident")
    return {
        "/api/v1/incidents": {
            "get": oa._operation(
                "List incidents",
                {
                    "200": oa._json(oa._list_of("IncidentDocument"), "Incidents, newest first."),
                    "400": oa._response("BadRequest"),
                    "404": _not_found("monitor"),
                },
                scope="read",
                parameters=[
                    "IncidentMonitor",
                    "IncidentState",
                    "Since",
                    "Until",
                    "IncidentLimit",
                    "Cursor",
                ],
            )
        },
        INCIDENT: {
            "get": oa._operation(
                "Read an incident",
                {
                    "200": oa._json(oa._ref("IncidentDetail"), "The incident and its alerts."),
                    "404": missing,
                },
                scope="read",
                parameters=["IncidentId"],
            )
        },
        INCIDENT + "/ack": {
            "post": oa._operation(
                "Acknowledge an incident",
                {
                    "200": oa._json(oa._ref("IncidentDocument"), "Acknowledged: no reminders."),
                    "404": missing,
                },
                scope="write",
                parameters=["IncidentId"],
            )
        },
        "/api/v1/alerts": {
            "get": oa._operation(
                "List alerts",
                {
                    "200": oa._json(oa._list_of("AlertDocument"), "Outbox rows, newest first."),
                    "400": oa._response("BadRequest"),
                },
                scope="read",
                parameters=["AlertStatus", "AlertIncident", "IncidentLimit", "Cursor"],
            )
        },
        "/api/v1/alerts/{alert_id}/retry": {
            "post": oa._operation(
                "Retry a dead alert",
                {
                    "200": oa._json(oa._ref("AlertDocument"), "Pending again."),
                    "404": _not_found("alert"),
                    "409": oa._json(oa._ref("Problem"), "The alert is not dead.", PROBLEM_JSON),
                },
                scope="write",
                parameters=["AlertId"],
            )
        },
    }


def _maintenance_paths() -> Json:
    one = ["MaintenanceId"]
    ok = oa._json(oa._ref("MaintenanceDocument"), "The maintenance window.")
    missing = _not_found("maintenance window")
    return {
        "/api/v1/maintenances": {
            "get": oa._operation(
                "List maintenance windows",
                {"200": oa._json(oa._list_of("MaintenanceDocument"), "Windows, oldest first.")},
                scope="read",
            ),
            "post": oa._operation(
                "Create a maintenance window",
                {
                    "201": {**ok, "headers": {"Location": {"schema": {"type": "string"}}}},
                    "422": oa._response("InvalidInput"),
                },
                scope="write",
                body=oa._ref("MaintenanceInput"),
            ),
        },
        MAINTENANCE: {
            "get": oa._operation(
                "Read a maintenance window",
                {"200": ok, "404": missing},
                scope="read",
                parameters=one,
            ),
            "patch": oa._operation(
                "Update a maintenance window",
                {"200": ok, "404": missing, "422": oa._response("InvalidInput")},
                scope="write",
                parameters=one,
                body=oa._ref("MaintenancePatch"),
            ),
            "delete": oa._operation(
                "Delete a maintenance window",
                {"204": {"description": "Deleted."}, "404": missing},
                scope="write",
                parameters=one,
            ),
        },
    }


def _schemas() -> Json:
    structs = [
        ChannelDocument,
        TestOutcome,
        IncidentDocument,
        IncidentDetail,
        AlertDocument,
        MaintenanceDocument,
    ]
    _, generated = msgspec.json.schema_components(structs, ref_template=oa.REF)
    schemas: Json = dict(generated)
    variants = []
    for kind in sorted(CHANNELS):
        settings = settings_schema(kind)
        definitions = settings.pop("$defs")
        for name, part in definitions.items():
            for prop in part.get("properties", {}).values():
                if prop.get("writeOnly"):
                    prop["description"] = (
                        f"Write-only: shown as {MASK} when set; send {MASK} back to keep it."
                    )
            schemas[name] = _local_refs(part)
        variant = f"{kind.capitalize()}ChannelInput"
        schemas[variant] = {
            "type": "object",
            "required": ["name", "kind", "settings"],
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "kind": {"const": kind},
                "tags": _TAGS | {"description": "monitors with one of these tags alert here too"},
                "settings": _local_refs(settings),
            },
            "additionalProperties": False,
        }
        variants.append(oa._ref(variant))
    schemas["ChannelInput"] = {"oneOf": variants, "description": "A new channel."}
    schemas["ChannelPatch"] = {
        "type": "object",
        "description": (
            "Any of name, kind, tags, settings; settings of the same kind are a partial "
            f"update, and {MASK} in a secret's place keeps the stored value."
        ),
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "kind": {"type": "string", "enum": sorted(CHANNELS)},
            "tags": _TAGS,
            "settings": {"type": "object"},
        },
        "additionalProperties": False,
    }
    weekly = {
        "type": "object",
        "required": ["days", "start", "duration"],
        "properties": {
            "days": {"type": "array", "minItems": 1, "items": {"enum": list(WEEKDAYS)}},
            "start": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
            "duration": oa._ref("Duration"),
            "timezone": {"type": "string", "default": "UTC", "description": "IANA time zone"},
        },
        "additionalProperties": False,
    }
    cron = {
        "type": "object",
        "required": ["expression", "duration"],
        "properties": {
            "expression": {
                "type": "string",
                "description": "five fields: minute hour day-of-month month day-of-week",
                "example": "0 2 * * sun",
            },
            "duration": oa._ref("Duration"),
            "timezone": {"type": "string", "default": "UTC", "description": "IANA time zone"},
        },
        "additionalProperties": False,
    }
    fields = {
        "name": {"type": "string", "minLength": 1},
        "monitors": {"type": "array", "items": {"type": "string"}, "description": "monitor ids"},
        "tags": _TAGS,
        "starts_at": _TIME,
        "ends_at": _TIME,
        "weekly": {"oneOf": [weekly, {"type": "null"}]},
        "cron": {"oneOf": [cron, {"type": "null"}]},
    }
    schemas["MaintenanceInput"] = {
        "type": "object",
        "description": (
            "One-off (starts_at and ends_at), weekly (weekly) or cron (cron); starts_at and "
            "ends_at bound a recurring window. Covers monitors by id and by tag (at least "
            "one of them)."
        ),
        "required": ["name"],
        "properties": fields,
        "additionalProperties": False,
    }
    schemas["MaintenancePatch"] = {
        "type": "object",
        "description": "Any subset of a window's fields.",
        "properties": fields,
        "additionalProperties": False,
    }
    schemas["Duration"] = {
        "description": "seconds, or a duration string such as 30s, 5m, 1h, 1d",
        "oneOf": [
            {"type": "number"},
            {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"},
        ],
    }
    return schemas


def _local_refs(schema: Json) -> Json:
    """msgspec's `#/$defs/X` references as component references."""
    text = msgspec.json.encode(schema).replace(b'"#/$defs/', b'"#/components/schemas/')
    value: Json = msgspec.json.decode(text)
    return value


def extend(document: Json) -> None:
    """Add alerting to the OpenAPI document `api.openapi.document` built."""
    document["paths"].update(_channel_paths() | _incident_paths() | _maintenance_paths())
    components = document["components"]
    schemas = components["schemas"]
    for name, schema in _schemas().items():
        if name in schemas and schemas[name] != schema:
            raise ValueError(f"alerts: schema name {name} is taken")
        schemas[name] = schema
    components["schemas"] = dict(sorted(schemas.items()))
    components["parameters"] = components["parameters"] | PARAMETERS
    fields = components["schemas"]["MonitorFields"]
    components["schemas"]["MonitorFields"] = fields | {
        "properties": fields["properties"] | MONITOR_FIELDS
    }
