"""Discord webhook: one embed per message, mentions disabled.

`?wait=true` makes Discord confirm the message was saved, so failures are errors
rather than silent drops. Discord webhooks take no idempotency key.
"""

from __future__ import annotations

from typing import Any

import httpx

from uptrack.alerts import transport
from uptrack.alerts.channel import Channel, ChannelSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.message import AlertMessage, Event, iso_time

# Discord's embed limits.
TITLE_CHARS = 256
DESCRIPTION_CHARS = 4096
FIELD_VALUE_CHARS = 1024

COLORS: dict[Event, int] = {
    "down": 0xE74C3C,
    "reminder": 0xE74C3C,
    "up": 0x2ECC71,
    "test": 0x3498DB,
}
_INLINE = frozenset({"HTTP status", "Down since", "Downtime", "Incident"})


class DiscordSettings(ChannelSettings, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A channel webhook URL (https://discord.com/api/webhooks/<id>/<token>)."""

    secret_fields = ("url",)  # the URL carries the webhook token
    url_fields = ("url",)

    url: str
    username: str | None = None  # overrides the webhook's name


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(message: AlertMessage, *, username: str | None = None) -> dict[str, Any]:
    embed = {
        "title": clip(message.headline, TITLE_CHARS),
        "description": clip(message.text, DESCRIPTION_CHARS),
        "url": message.link,
        "color": COLORS[message.event],
        "fields": [
            {"name": label, "value": clip(value, FIELD_VALUE_CHARS), "inline": label in _INLINE}
            for label, value in message.details()
        ],
        "timestamp": iso_time(message.at),
        "footer": {"text": "Uptrack"},
    }
    body: dict[str, Any] = {"embeds": [embed], "allowed_mentions": {"parse": []}}
    if username:
        body["username"] = username
    return body


def _retry_after(answer: transport.Answer) -> float | None:
    document = answer.json()
    value = document.get("retry_after") if isinstance(document, dict) else None
    return float(value) if isinstance(value, int | float) else None


async def send(settings: DiscordSettings, message: AlertMessage, ctx: NotifyContext) -> None:
    url = httpx.URL(settings.url).copy_merge_params({"wait": "true"})
    secrets = settings.secret_values()
    body = payload(message, username=settings.username)
    answer = await transport.request(ctx, "discord", "POST", url, secrets=secrets, json=body)
    transport.expect_success("discord", answer, secrets=secrets, retry_after=_retry_after)


CHANNEL = Channel(name="discord", settings_type=DiscordSettings, send=send)
