"""Discord webhook: the exact embed Discord receives, mentions disabled."""

from __future__ import annotations

import pytest

from tests.alerts.samples import DOWN, UP
from tests.servers.healthy import Reply
from tests.servers.receiver import Receiver, body_json, path_of, query_of
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.errors import NotifyError
from uptrack.alerts.registry import send_alert, validate_channel

HOOK = "/api/webhooks/1234/token-abc"


async def test_a_down_alert_is_one_red_embed(receiver: Receiver, notify_ctx: NotifyContext) -> None:
    settings = validate_channel("discord", {"url": receiver.url_for(HOOK), "username": "Uptrack"})
    await send_alert("discord", settings, DOWN, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert request.method == "POST"
    assert path_of(request) == HOOK
    assert query_of(request) == {"wait": "true"}
    assert body_json(request) == {
        "username": "Uptrack",
        "allowed_mentions": {"parse": []},
        "embeds": [
            {
                "title": "🔴 Website is DOWN",
                "description": (
                    "🔴 Website is DOWN — status 503 not in 200-399 (since 12:00:03 UTC)"
                ),
                "url": "https://uptrack.example/monitors/m1",
                "color": 0xE74C3C,
                "fields": [
                    {"name": "Monitor", "value": "Website (http)", "inline": False},
                    {"name": "Target", "value": "https://example.com/health", "inline": False},
                    {"name": "Cause", "value": "status 503 not in 200-399", "inline": False},
                    {"name": "HTTP status", "value": "503", "inline": True},
                    {"name": "Down since", "value": "2024-05-01 12:00:03 UTC", "inline": True},
                    {"name": "Incident", "value": "inc42", "inline": True},
                ],
                "timestamp": "2024-05-01T12:00:03Z",
                "footer": {"text": "Uptrack"},
            }
        ],
    }


async def test_an_up_alert_is_green_and_keeps_the_thread_of_the_url(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    settings = validate_channel("discord", {"url": receiver.url_for(HOOK + "?thread_id=99")})
    await send_alert("discord", settings, UP, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert query_of(request) == {"thread_id": "99", "wait": "true"}
    [embed] = body_json(request)["embeds"]
    assert embed["color"] == 0x2ECC71
    assert embed["description"] == "✅ Website is UP again after 5m 12s"
    assert "username" not in body_json(request)


async def test_rate_limits_carry_discords_retry_after(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    limited = Reply(
        status=429,
        body=b'{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}',
        headers=[("Content-Type", "application/json")],
    )
    receiver.script(HOOK, limited)
    settings = validate_channel("discord", {"url": receiver.url_for(HOOK)})

    with pytest.raises(NotifyError) as caught:
        await send_alert("discord", settings, DOWN, notify_ctx)
    assert not caught.value.permanent
    assert caught.value.retry_after == 1.5
