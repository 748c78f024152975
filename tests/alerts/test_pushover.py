"""Pushover: the exact form the Message API receives."""

from __future__ import annotations

import pytest

from tests.alerts.samples import DOWN, PUSHOVER_TOKEN, PUSHOVER_USER, UP
from tests.servers.healthy import Reply
from tests.servers.receiver import Receiver, body_form, path_of
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.errors import NotifyError
from uptrack.alerts.registry import send_alert, validate_channel
from uptrack.errors import InvalidInput

OK = Reply(body=b'{"status": 1, "request": "647d2300-702c-4b38-8b2f-d56326ae460b"}')


async def test_a_down_alert_is_a_form_post_with_a_link(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    receiver.routes["/1/messages.json"] = OK
    raw = {
        "token": PUSHOVER_TOKEN,
        "user_key": PUSHOVER_USER,
        "priority": 1,
        "device": "phone",
        "sound": "siren",
        "base_url": receiver.url,
    }
    await send_alert("pushover", validate_channel("pushover", raw), DOWN, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert request.method == "POST"
    assert path_of(request) == "/1/messages.json"
    assert request.header("content-type") == "application/x-www-form-urlencoded"
    assert body_form(request) == {
        "token": PUSHOVER_TOKEN,
        "user": PUSHOVER_USER,
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
        "url": "https://uptrack.example/monitors/m1",
        "url_title": "Open in Uptrack",
        "priority": "1",
        "timestamp": "1714564803",
        "device": "phone",
        "sound": "siren",
    }


async def test_recovery_does_not_bypass_quiet_hours(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    raw = {
        "token": PUSHOVER_TOKEN,
        "user_key": PUSHOVER_USER,
        "priority": 1,
        "base_url": receiver.url,
    }
    await send_alert("pushover", validate_channel("pushover", raw), UP, notify_ctx)

    [request] = await receiver.wait_for(1)
    form = body_form(request)
    assert form["priority"] == "0"
    assert form["title"] == "✅ Website is UP"
    assert "device" not in form


async def test_an_invalid_user_is_permanent(receiver: Receiver, notify_ctx: NotifyContext) -> None:
    receiver.routes["/1/messages.json"] = Reply(
        status=400,
        body=b'{"user": "invalid", "errors": ["user identifier is invalid"], "status": 0}',
    )
    raw = {"token": PUSHOVER_TOKEN, "user_key": PUSHOVER_USER, "base_url": receiver.url}

    with pytest.raises(NotifyError) as caught:
        await send_alert("pushover", validate_channel("pushover", raw), DOWN, notify_ctx)
    assert caught.value.permanent
    assert PUSHOVER_TOKEN not in str(caught.value)


def test_keys_and_priority_are_checked() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_channel("pushover", {"token": "short", "user_key": PUSHOVER_USER, "priority": 2})
    assert [e.field for e in caught.value.errors] == ["token", "priority"]
