"""Microsoft Teams through a Workflows webhook ("When a Teams webhook request is received").

The flow posts the Adaptive Card of the message's single attachment. Workflows take
no idempotency key.
"""

from __future__ import annotations

from typing import Any

from uptrack.alerts import transport
from uptrack.alerts.channel import Channel, ChannelSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.message import AlertMessage, Event

CARD_VERSION = "1.4"
COLORS: dict[Event, str] = {
    "down": "Attention",
    "reminder": "Attention",
    "up": "Good",
    "test": "Accent",
}


class TeamsSettings(ChannelSettings, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The HTTP POST URL of a Teams workflow."""

    secret_fields = ("url",)  # the URL carries its own signature
    url_fields = ("url",)

    url: str


def card(message: AlertMessage) -> dict[str, Any]:
    """The Adaptive Card of the message."""
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": [
            {
                "type": "TextBlock",
                "text": message.headline,
                "weight": "Bolder",
                "size": "Medium",
                "color": COLORS[message.event],
                "wrap": True,
            },
            {"type": "TextBlock", "text": message.text, "wrap": True},
            {
                "type": "FactSet",
                "facts": [{"title": label, "value": value} for label, value in message.details()],
            },
        ],
        "actions": [{"type": "Action.OpenUrl", "title": "Open in Uptrack", "url": message.link}],
        "msteams": {"width": "Full"},
    }


def payload(message: AlertMessage) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card(message),
            }
        ],
    }


async def send(settings: TeamsSettings, message: AlertMessage, ctx: NotifyContext) -> None:
    await transport.post(
        ctx, "teams", settings.url, secrets=settings.secret_values(), json=payload(message)
    )


CHANNEL = Channel(name="teams", settings_type=TeamsSettings, send=send)
