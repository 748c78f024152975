"""PagerDuty Events API v2: `trigger` on down (and reminders), `resolve` on up.

Every event of an incident carries `dedup_key` = the incident key, so a repeated
trigger joins the open alert and the resolve closes it. A test triggers an `info`
alert under its own key.
"""

from __future__ import annotations

from typing import Any, Literal

from uptrack.alerts import transport
from uptrack.alerts.channel import Channel, ChannelSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.message import AlertMessage, iso_time
from uptrack.errors import FieldError

SUMMARY_CHARS = 1024  # PagerDuty's limit for payload.summary

Severity = Literal["critical", "error", "warning", "info"]


class PagerDutySettings(ChannelSettings, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The integration key of an Events API v2 integration."""

    secret_fields = ("routing_key",)
    url_fields = ("base_url",)

    routing_key: str
    severity: Severity = "critical"
    base_url: str = "https://events.pagerduty.com"


def payload(settings: PagerDutySettings, message: AlertMessage) -> dict[str, Any]:
    if message.event == "up":
        return {
            "routing_key": settings.routing_key,
            "event_action": "resolve",
            "dedup_key": message.incident_key,
        }
    test = message.event == "test"
    summary = message.text
    details: dict[str, Any] = {
        "summary": summary if len(summary) <= SUMMARY_CHARS else summary[: SUMMARY_CHARS - 1] + "…",
        "source": message.target,
        "severity": "info" if test else settings.severity,
        "timestamp": iso_time(message.at),
        "component": message.monitor_name,
        "custom_details": dict(message.details()),
    }
    if message.error_kind:
        details["class"] = message.error_kind
    return {
        "routing_key": settings.routing_key,
        "event_action": "trigger",
        "dedup_key": message.dedup_key if test else message.incident_key,
        "payload": details,
        "client": "Uptrack",
        "client_url": message.link,
        "links": [{"href": message.link, "text": "Open in Uptrack"}],
    }


async def send(settings: PagerDutySettings, message: AlertMessage, ctx: NotifyContext) -> None:
    url = f"{settings.base_url.rstrip('/')}/v2/enqueue"
    body = payload(settings, message)
    await transport.post(ctx, "pagerduty", url, secrets=settings.secret_values(), json=body)


def check(settings: PagerDutySettings) -> list[FieldError]:
    key = settings.routing_key
    if not key or any(c.isspace() for c in key):
        return [FieldError("routing_key", "must be the integration key, without spaces")]
    return []


CHANNEL = Channel(name="pagerduty", settings_type=PagerDutySettings, send=send, check=check)
