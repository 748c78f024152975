"""Pushover Message API: a form POST to `/1/messages.json`.

Pushover takes no idempotency key. Emergency priority (2) is not offered: it needs
acknowledgement receipts Uptrack does not track.
"""

from __future__ import annotations

import re

from uptrack.alerts import transport
from uptrack.alerts.channel import Channel, ChannelSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.message import AlertMessage
from uptrack.errors import FieldError

MESSAGE_CHARS = 1024  # Pushover's limits
TITLE_CHARS = 250
URL_CHARS = 512
_KEY = re.compile(r"[A-Za-z0-9]{30}")


class PushoverSettings(ChannelSettings, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """An application token and the user (or group) key to notify."""

    secret_fields = ("token", "user_key")
    url_fields = ("base_url",)

    token: str
    user_key: str
    priority: int = 0  # of down and reminder messages: -2 (lowest) to 1 (high)
    device: str | None = None  # only this device, instead of all of the user's
    sound: str | None = None
    base_url: str = "https://api.pushover.net"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def form(settings: PushoverSettings, message: AlertMessage) -> dict[str, str]:
    urgent = message.event in ("down", "reminder")
    lines = [message.text, "", *(f"{label}: {value}" for label, value in message.details())]
    fields = {
        "token": settings.token,
        "user": settings.user_key,
        "title": _clip(message.headline, TITLE_CHARS),
        "message": _clip("\n".join(lines), MESSAGE_CHARS),
        "url": _clip(message.link, URL_CHARS),
        "url_title": "Open in Uptrack",
        "priority": str(settings.priority if urgent else min(settings.priority, 0)),
        "timestamp": str(int(message.at)),
    }
    if settings.device:
        fields["device"] = settings.device
    if settings.sound:
        fields["sound"] = settings.sound
    return fields


async def send(settings: PushoverSettings, message: AlertMessage, ctx: NotifyContext) -> None:
    url = f"{settings.base_url.rstrip('/')}/1/messages.json"
    await transport.post(
        ctx, "pushover", url, secrets=settings.secret_values(), data=form(settings, message)
    )


def check(settings: PushoverSettings) -> list[FieldError]:
    errors = []
    for field in ("token", "user_key"):
        if not _KEY.fullmatch(getattr(settings, field)):
            errors.append(FieldError(field, "must be the 30 letters and digits Pushover shows"))
    if not -2 <= settings.priority <= 1:
        errors.append(FieldError("priority", f"{settings.priority} is outside -2 (lowest) to 1"))
    return errors


CHANNEL = Channel(name="pushover", settings_type=PushoverSettings, send=send, check=check)
