"""Opsgenie Alert API: create an alert on down (and reminders), close it on up.

The alert's `alias` is the incident key: Opsgenie keeps one open alert per alias
(a reminder only raises its count) and the close names it with
`identifierType=alias`.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

import httpx

from uptrack.alerts import transport
from uptrack.alerts.channel import Channel, ChannelSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.message import AlertMessage
from uptrack.errors import FieldError

BASE_URLS = {"us": "https://api.opsgenie.com", "eu": "https://api.eu.opsgenie.com"}
MESSAGE_CHARS = 130  # Opsgenie's limits
DESCRIPTION_CHARS = 15_000
TAG_CHARS = 50

Priority = Literal["P1", "P2", "P3", "P4", "P5"]


class OpsgenieSettings(ChannelSettings, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The API key of an Opsgenie API integration and the account's region."""

    secret_fields = ("api_key",)
    url_fields = ("base_url",)

    api_key: str
    region: Literal["us", "eu"] = "us"
    base_url: str | None = None  # overrides the region's API address
    priority: Priority = "P3"
    tags: list[str] = []


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def api_url(settings: OpsgenieSettings) -> str:
    return (settings.base_url or BASE_URLS[settings.region]).rstrip("/")


def create_payload(settings: OpsgenieSettings, message: AlertMessage) -> dict[str, Any]:
    test = message.event == "test"
    facts = message.details()
    description = "\n".join([message.text, "", *(f"{k}: {v}" for k, v in facts), message.link])
    return {
        "message": _clip(message.title, MESSAGE_CHARS),
        "alias": message.dedup_key if test else message.incident_key,
        "description": _clip(description, DESCRIPTION_CHARS),
        "tags": ["uptrack", *settings.tags],
        "details": {**dict(facts), "Dashboard": message.link},
        "entity": message.monitor_name,
        "source": "Uptrack",
        "priority": "P5" if test else settings.priority,
    }


def close_payload(message: AlertMessage) -> dict[str, Any]:
    return {"source": "Uptrack", "note": message.text}


async def send(settings: OpsgenieSettings, message: AlertMessage, ctx: NotifyContext) -> None:
    headers = {"Authorization": f"GenieKey {settings.api_key}"}
    secrets = settings.secret_values()
    if message.event == "up":
        alias = quote(message.incident_key, safe="")
        url = httpx.URL(f"{api_url(settings)}/v2/alerts/{alias}/close")
        url = url.copy_merge_params({"identifierType": "alias"})
        body = close_payload(message)
    else:
        url = httpx.URL(f"{api_url(settings)}/v2/alerts")
        body = create_payload(settings, message)
    await transport.post(ctx, "opsgenie", url, secrets=secrets, headers=headers, json=body)


def check(settings: OpsgenieSettings) -> list[FieldError]:
    errors = []
    if not settings.api_key.strip():
        errors.append(FieldError("api_key", "must not be empty"))
    for i, tag in enumerate(settings.tags):
        if not tag.strip() or len(tag) > TAG_CHARS:
            errors.append(FieldError(f"tags[{i}]", f"must be 1 to {TAG_CHARS} characters"))
    return errors


CHANNEL = Channel(name="opsgenie", settings_type=OpsgenieSettings, send=send, check=check)
