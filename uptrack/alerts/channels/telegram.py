"""Telegram bot: `sendMessage` with HTML formatting and link previews off.

Telegram takes no idempotency key. Flood control answers 429 with
`parameters.retry_after`, which becomes the error's `retry_after`.
"""

from __future__ import annotations

import html
import re
from typing import Any

from uptrack.alerts import transport
from uptrack.alerts.channel import Channel, ChannelSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.message import AlertMessage
from uptrack.errors import FieldError

VALUE_CHARS = 500  # per detail line, so a message stays under Telegram's 4096
_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")


class TelegramSettings(ChannelSettings, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A bot token from @BotFather and the chat it posts to."""

    secret_fields = ("bot_token",)
    url_fields = ("base_url",)

    bot_token: str
    chat_id: int | str  # a numeric id, or @channelusername
    message_thread_id: int | None = None  # a topic of a forum supergroup
    base_url: str = "https://api.telegram.org"


def text(message: AlertMessage) -> str:
    """The message in Telegram's HTML subset (only &, < and > need escaping)."""
    lines = [f"<b>{html.escape(message.headline, quote=False)}</b>"]
    if message.event != "test":
        lines.append(html.escape(message.text, quote=False))
    lines.append("")
    for label, value in message.details():
        clipped = value if len(value) <= VALUE_CHARS else value[: VALUE_CHARS - 1] + "…"
        lines.append(f"{html.escape(label, quote=False)}: {html.escape(clipped, quote=False)}")
    lines.append("")
    lines.append(f'<a href="{html.escape(message.link)}">Open in Uptrack</a>')
    return "\n".join(lines)


def payload(settings: TelegramSettings, message: AlertMessage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "chat_id": settings.chat_id,
        "text": text(message),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    if settings.message_thread_id is not None:
        body["message_thread_id"] = settings.message_thread_id
    return body


def _retry_after(answer: transport.Answer) -> float | None:
    document = answer.json()
    parameters = document.get("parameters") if isinstance(document, dict) else None
    value = parameters.get("retry_after") if isinstance(parameters, dict) else None
    return float(value) if isinstance(value, int | float) else None


async def send(settings: TelegramSettings, message: AlertMessage, ctx: NotifyContext) -> None:
    url = f"{settings.base_url.rstrip('/')}/bot{settings.bot_token}/sendMessage"
    secrets = settings.secret_values()
    body = payload(settings, message)
    answer = await transport.request(ctx, "telegram", "POST", url, secrets=secrets, json=body)
    transport.expect_success("telegram", answer, secrets=secrets, retry_after=_retry_after)


def check(settings: TelegramSettings) -> list[FieldError]:
    errors = []
    if not _TOKEN.fullmatch(settings.bot_token):
        errors.append(FieldError("bot_token", "must look like 123456789:AA… (from @BotFather)"))
    if isinstance(settings.chat_id, str) and not settings.chat_id.strip():
        errors.append(FieldError("chat_id", "must not be empty"))
    return errors


CHANNEL = Channel(name="telegram", settings_type=TelegramSettings, send=send, check=check)
