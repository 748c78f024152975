"""Telegram bot: the exact sendMessage call the Bot API receives."""

from __future__ import annotations

import msgspec
import pytest

from tests.alerts.samples import DOWN, UP
from tests.servers.healthy import Reply
from tests.servers.receiver import Receiver, body_json, path_of
from uptrack.alerts.channels.telegram import TelegramSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.errors import NotifyError
from uptrack.alerts.registry import send_alert, validate_channel
from uptrack.errors import InvalidInput

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
METHOD = f"/bot{TOKEN}/sendMessage"
OK = Reply(body=b'{"ok": true, "result": {"message_id": 1}}')


async def test_a_down_alert_is_an_html_message_to_the_chat(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    receiver.routes[METHOD] = OK
    raw = {"bot_token": TOKEN, "chat_id": -1001234567890, "base_url": receiver.url}
    await send_alert("telegram", validate_channel("telegram", raw), DOWN, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert request.method == "POST"
    assert path_of(request) == METHOD
    assert body_json(request) == {
        "chat_id": -1001234567890,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
        "text": (
            "<b>🔴 Website is DOWN</b>\n"
            "🔴 Website is DOWN — status 503 not in 200-399 (since 12:00:03 UTC)\n"
            "\n"
            "Monitor: Website (http)\n"
            "Target: https://example.com/health\n"
            "Cause: status 503 not in 200-399\n"
            "HTTP status: 503\n"
            "Down since: 2024-05-01 12:00:03 UTC\n"
            "Incident: inc42\n"
            "\n"
            '<a href="https://uptrack.example/monitors/m1">Open in Uptrack</a>'
        ),
    }


async def test_html_in_the_error_is_escaped_and_topics_are_addressed(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    receiver.routes[METHOD] = OK
    raw = {
        "bot_token": TOKEN,
        "chat_id": "@uptrack_alerts",
        "message_thread_id": 7,
        "base_url": receiver.url,
    }
    up = msgspec.structs.replace(UP, monitor_name="A<B>&C")
    await send_alert("telegram", validate_channel("telegram", raw), up, notify_ctx)

    [request] = await receiver.wait_for(1)
    body = body_json(request)
    assert body["chat_id"] == "@uptrack_alerts"
    assert body["message_thread_id"] == 7
    assert body["text"].startswith("<b>✅ A&lt;B&gt;&amp;C is UP</b>\n")


async def test_flood_control_carries_telegrams_retry_after(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    flood = (
        b'{"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 17",'
        b' "parameters": {"retry_after": 17}}'
    )
    receiver.routes[METHOD] = Reply(status=429, body=flood)
    raw = {"bot_token": TOKEN, "chat_id": 42, "base_url": receiver.url}

    with pytest.raises(NotifyError) as caught:
        await send_alert("telegram", validate_channel("telegram", raw), DOWN, notify_ctx)
    assert not caught.value.permanent
    assert caught.value.retry_after == 17
    assert TOKEN not in str(caught.value)


async def test_an_unknown_chat_is_permanent(receiver: Receiver, notify_ctx: NotifyContext) -> None:
    missing = b'{"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}'
    receiver.routes[METHOD] = Reply(status=400, body=missing)
    raw = {"bot_token": TOKEN, "chat_id": 42, "base_url": receiver.url}

    with pytest.raises(NotifyError) as caught:
        await send_alert("telegram", validate_channel("telegram", raw), DOWN, notify_ctx)
    assert caught.value.permanent
    assert "chat not found" in str(caught.value)


def test_the_base_url_defaults_to_the_bot_api_and_the_token_is_checked() -> None:
    settings = validate_channel("telegram", {"bot_token": TOKEN, "chat_id": 1})
    assert isinstance(settings, TelegramSettings)
    assert settings.base_url == "https://api.telegram.org"
    with pytest.raises(InvalidInput) as caught:
        validate_channel("telegram", {"bot_token": "not a token", "chat_id": 1})
    assert [e.field for e in caught.value.errors] == ["bot_token"]
