"""Gotify: `POST /message` as an application, the token in `X-Gotify-Key`.

Extras make the notification open the dashboard and render as plain text. Gotify
takes no idempotency key.
"""

from __future__ import annotations

from typing import Any

from uptrack.alerts import transport
from uptrack.alerts.channel import Channel, ChannelSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.message import AlertMessage
from uptrack.errors import FieldError

CALM_PRIORITY = 5  # the highest priority of up and test messages


class GotifySettings(ChannelSettings, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A Gotify server and the token of an application on it."""

    secret_fields = ("token",)
    url_fields = ("server_url",)

    server_url: str
    token: str
    priority: int = 8  # of down and reminder messages, 0 to 10


def payload(settings: GotifySettings, message: AlertMessage) -> dict[str, Any]:
    urgent = message.event in ("down", "reminder")
    lines = [message.text, "", *(f"{label}: {value}" for label, value in message.details())]
    return {
        "title": message.headline,
        "message": "\n".join(lines),
        "priority": settings.priority if urgent else min(settings.priority, CALM_PRIORITY),
        "extras": {
            "client::display": {"contentType": "text/plain"},
            "client::notification": {"click": {"url": message.link}},
        },
    }


async def send(settings: GotifySettings, message: AlertMessage, ctx: NotifyContext) -> None:
    url = f"{settings.server_url.rstrip('/')}/message"
    await transport.post(
        ctx,
        "gotify",
        url,
        secrets=settings.secret_values(),
        headers={"X-Gotify-Key": settings.token},
        json=payload(settings, message),
    )


def check(settings: GotifySettings) -> list[FieldError]:
    errors = []
    if not settings.token.strip() or not settings.token.isascii():
        errors.append(FieldError("token", "must be the application token Gotify shows"))
    if not 0 <= settings.priority <= 10:
        errors.append(FieldError("priority", f"{settings.priority} is outside 0 to 10"))
    return errors


CHANNEL = Channel(name="gotify", settings_type=GotifySettings, send=send, check=check)
