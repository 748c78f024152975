"""ntfy: publish to a topic with Title, Priority, Tags and Click headers.

The body is the message text. A title that is not ASCII goes as an RFC 2047
encoded word, which ntfy decodes. ntfy takes no idempotency key.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import quote

from uptrack.alerts import transport
from uptrack.alerts.channel import Channel, ChannelSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.message import AlertMessage, Event
from uptrack.errors import FieldError

# Emoji short codes ntfy shows in front of the title.
TAGS: dict[Event, str] = {
    "down": "rotating_light",
    "reminder": "rotating_light",
    "up": "white_check_mark",
    "test": "bell",
}
CALM_PRIORITY = 3  # the highest priority of up and test messages
_TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")


class NtfySettings(ChannelSettings, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A topic on an ntfy server, and an access token if the topic is protected."""

    # Anyone who knows a topic can read it: ntfy calls the topic a password.
    secret_fields = ("topic", "token")
    url_fields = ("server_url",)

    topic: str
    server_url: str = "https://ntfy.sh"
    token: str | None = None  # an access token (tk_...), sent as a Bearer token
    priority: int = 4  # of down and reminder messages, 1 (min) to 5 (max); others at most 3


def header_text(text: str) -> str:
    """`text` as an HTTP header value: as is if ASCII, else an RFC 2047 encoded word."""
    if text.isascii():
        return text
    return f"=?UTF-8?B?{base64.b64encode(text.encode('utf-8')).decode('ascii')}?="


def body(message: AlertMessage) -> str:
    lines = [message.text, ""]
    lines.extend(f"{label}: {value}" for label, value in message.details())
    return "\n".join(lines)


def headers(settings: NtfySettings, message: AlertMessage) -> dict[str, str]:
    urgent = message.event in ("down", "reminder")
    sent = {
        "Title": header_text(message.title),
        "Priority": str(settings.priority if urgent else min(settings.priority, CALM_PRIORITY)),
        "Tags": TAGS[message.event],
        "Click": message.link,
        "Content-Type": "text/plain; charset=utf-8",
    }
    if settings.token:
        sent["Authorization"] = f"Bearer {settings.token}"
    return sent


async def send(settings: NtfySettings, message: AlertMessage, ctx: NotifyContext) -> None:
    url = f"{settings.server_url.rstrip('/')}/{quote(settings.topic, safe='')}"
    await transport.post(
        ctx,
        "ntfy",
        url,
        secrets=settings.secret_values(),
        headers=headers(settings, message),
        content=body(message).encode("utf-8"),
    )


def check(settings: NtfySettings) -> list[FieldError]:
    errors = []
    if not _TOPIC.fullmatch(settings.topic):
        errors.append(
            FieldError("topic", "must be 1 to 64 letters, digits, '-' or '_' (ntfy's rule)")
        )
    if not 1 <= settings.priority <= 5:
        errors.append(FieldError("priority", f"{settings.priority} is outside 1 (min) to 5 (max)"))
    if settings.token is not None and not settings.token.isascii():
        errors.append(FieldError("token", "must be ASCII"))
    return errors


CHANNEL = Channel(name="ntfy", settings_type=NtfySettings, send=send, check=check)
