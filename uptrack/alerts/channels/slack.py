"""Slack incoming webhook: a Block Kit message with `text` as the notification fallback.

Incoming webhooks take no idempotency key: a retried delivery may show twice.
"""

from __future__ import annotations

from typing import Any

from uptrack.alerts import transport
from uptrack.alerts.channel import Channel, ChannelSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.message import AlertMessage

HEADER_CHARS = 150  # Slack's limit for a header block
FIELD_CHARS = 2000  # ... and for the text of a section field
MAX_FIELDS = 10  # ... and for the fields of one section


class SlackSettings(ChannelSettings, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """An incoming webhook URL (https://hooks.slack.com/services/...)."""

    secret_fields = ("url",)  # the URL alone lets anyone post to the channel
    url_fields = ("url",)

    url: str


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn gives meaning to."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(message: AlertMessage) -> dict[str, Any]:
    fields = [
        {"type": "mrkdwn", "text": clip(f"*{label}*\n{escape(value)}", FIELD_CHARS)}
        for label, value in message.details()[:MAX_FIELDS]
    ]
    return {
        "text": message.text,
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": clip(message.headline, HEADER_CHARS)},
            },
            {"type": "section", "fields": fields},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{message.link}|Open in Uptrack>"}],
            },
        ],
    }


async def send(settings: SlackSettings, message: AlertMessage, ctx: NotifyContext) -> None:
    await transport.post(
        ctx, "slack", settings.url, secrets=settings.secret_values(), json=payload(message)
    )


CHANNEL = Channel(name="slack", settings_type=SlackSettings, send=send)
