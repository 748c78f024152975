"""Slack incoming webhook: the exact Block Kit message Slack receives."""

from __future__ import annotations

import msgspec
import pytest

from tests.alerts.samples import DOWN, UP
from tests.servers.healthy import Reply
from tests.servers.receiver import Receiver, body_json, path_of
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.errors import NotifyError
from uptrack.alerts.registry import send_alert, validate_channel

HOOK = "/services/T000/B000/XXXX"


async def test_a_down_alert_is_a_block_kit_message_with_a_text_fallback(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    settings = validate_channel("slack", {"url": receiver.url_for(HOOK)})
    await send_alert("slack", settings, DOWN, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert request.method == "POST"
    assert path_of(request) == HOOK
    assert request.header("content-type") == "application/json"
    assert body_json(request) == {
        "text": "🔴 Website is DOWN — status 503 not in 200-399 (since 12:00:03 UTC)",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "🔴 Website is DOWN"}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Monitor*\nWebsite (http)"},
                    {"type": "mrkdwn", "text": "*Target*\nhttps://example.com/health"},
                    {"type": "mrkdwn", "text": "*Cause*\nstatus 503 not in 200-399"},
                    {"type": "mrkdwn", "text": "*HTTP status*\n503"},
                    {"type": "mrkdwn", "text": "*Down since*\n2024-05-01 12:00:03 UTC"},
                    {"type": "mrkdwn", "text": "*Incident*\ninc42"},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "<https://uptrack.example/monitors/m1|Open in Uptrack>",
                    }
                ],
            },
        ],
    }


async def test_an_up_alert_says_how_long_it_was_down(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    settings = validate_channel("slack", {"url": receiver.url_for(HOOK)})
    await send_alert("slack", settings, UP, notify_ctx)

    [request] = await receiver.wait_for(1)
    body = body_json(request)
    assert body["text"] == "✅ Website is UP again after 5m 12s"
    assert {"type": "mrkdwn", "text": "*Downtime*\n5m 12s"} in body["blocks"][1]["fields"]


async def test_mrkdwn_control_characters_are_escaped(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    tricky = msgspec.structs.replace(DOWN, error="<!channel> & <b>")
    settings = validate_channel("slack", {"url": receiver.url_for(HOOK)})
    await send_alert("slack", settings, tricky, notify_ctx)

    [request] = await receiver.wait_for(1)
    fields = body_json(request)["blocks"][1]["fields"]
    assert {"type": "mrkdwn", "text": "*Cause*\n&lt;!channel&gt; &amp; &lt;b&gt;"} in fields


async def test_an_archived_channel_is_a_permanent_failure(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    receiver.routes[HOOK] = Reply(status=410, body=b"channel_is_archived")
    settings = validate_channel("slack", {"url": receiver.url_for(HOOK)})

    with pytest.raises(NotifyError) as caught:
        await send_alert("slack", settings, DOWN, notify_ctx)
    assert caught.value.permanent
    assert str(caught.value) == "slack answered 410: channel_is_archived"
