"""Gotify: the exact message the server receives, as an application."""

from __future__ import annotations

from tests.alerts.samples import DOWN, UP
from tests.servers.receiver import Receiver, body_json, path_of
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.registry import send_alert, validate_channel

TOKEN = "AvKcy9o-yvVhyKd"


async def test_a_down_alert_is_a_message_with_click_extras(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    raw = {"server_url": receiver.url_for("/gotify/"), "token": TOKEN}
    await send_alert("gotify", validate_channel("gotify", raw), DOWN, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert request.method == "POST"
    assert path_of(request) == "/gotify/message"
    assert request.header("x-gotify-key") == TOKEN
    assert TOKEN not in request.target
    assert body_json(request) == {
        "title": "🔴 Website is DOWN",
        "message": (
            "🔴 Website is DOWN — status 503 not in 200-399 (since 12:00:03 UTC)\n"
            "\n"
            "Monitor: Website (http)\n"
            "Target: https://example.com/health\n"
            "Cause: status 503 not in 200-399\n"
            "HTTP status: 503\n"
            "Down since: 2024-05-01 12:00:03 UTC\n"
            "Incident: inc42"
        ),
        "priority": 8,
        "extras": {
            "client::display": {"contentType": "text/plain"},
            "client::notification": {"click": {"url": "https://uptrack.example/monitors/m1"}},
        },
    }


async def test_recovery_is_sent_at_a_calmer_priority(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    raw = {"server_url": receiver.url, "token": TOKEN, "priority": 10}
    await send_alert("gotify", validate_channel("gotify", raw), UP, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert path_of(request) == "/message"
    assert body_json(request)["priority"] == 5
    assert body_json(request)["title"] == "✅ Website is UP"
