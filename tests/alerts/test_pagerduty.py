"""PagerDuty Events API v2: trigger and resolve events sharing one dedup_key."""

from __future__ import annotations

import pytest

from tests.alerts.samples import DOWN, REMINDER, TEST, UP
from tests.servers.healthy import Reply
from tests.servers.receiver import Receiver, body_json, path_of
from uptrack.alerts.channels.pagerduty import PagerDutySettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.errors import NotifyError
from uptrack.alerts.registry import send_alert, validate_channel

KEY = "R0UTINGKEY0123456789abcdefABCDEF"
ACCEPTED = Reply(
    status=202, body=b'{"status": "success", "message": "Event processed", "dedup_key": "x"}'
)


async def test_a_down_alert_triggers_with_the_incident_key(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    receiver.routes["/v2/enqueue"] = ACCEPTED
    raw = {"routing_key": KEY, "base_url": receiver.url}
    await send_alert("pagerduty", validate_channel("pagerduty", raw), DOWN, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert request.method == "POST"
    assert path_of(request) == "/v2/enqueue"
    assert request.header("content-type") == "application/json"
    assert body_json(request) == {
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": "uptrack-inc42",
        "payload": {
            "summary": "🔴 Website is DOWN — status 503 not in 200-399 (since 12:00:03 UTC)",
            "source": "https://example.com/health",
            "severity": "critical",
            "timestamp": "2024-05-01T12:00:03Z",
            "component": "Website",
            "class": "status",
            "custom_details": {
                "Monitor": "Website (http)",
                "Target": "https://example.com/health",
                "Cause": "status 503 not in 200-399",
                "HTTP status": "503",
                "Down since": "2024-05-01 12:00:03 UTC",
                "Incident": "inc42",
            },
        },
        "client": "Uptrack",
        "client_url": "https://uptrack.example/monitors/m1",
        "links": [{"href": "https://uptrack.example/monitors/m1", "text": "Open in Uptrack"}],
    }


async def test_recovery_resolves_the_alert_the_trigger_opened(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    raw = {"routing_key": KEY, "severity": "error", "base_url": receiver.url}
    settings = validate_channel("pagerduty", raw)
    for message in (DOWN, REMINDER, UP):
        await send_alert("pagerduty", settings, message, notify_ctx)

    trigger, reminder, resolve = [body_json(r) for r in await receiver.wait_for(3)]
    assert trigger["payload"]["severity"] == "error"
    assert reminder["event_action"] == "trigger"
    assert resolve == {"routing_key": KEY, "event_action": "resolve", "dedup_key": "uptrack-inc42"}
    assert trigger["dedup_key"] == reminder["dedup_key"] == resolve["dedup_key"]


async def test_a_test_event_is_an_info_alert_with_its_own_key(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    raw = {"routing_key": KEY, "base_url": receiver.url}
    await send_alert("pagerduty", validate_channel("pagerduty", raw), TEST, notify_ctx)

    [request] = await receiver.wait_for(1)
    body = body_json(request)
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == TEST.dedup_key
    assert body["payload"]["severity"] == "info"
    assert "class" not in body["payload"]


async def test_an_invalid_event_is_permanent(receiver: Receiver, notify_ctx: NotifyContext) -> None:
    receiver.routes["/v2/enqueue"] = Reply(
        status=400, body=b'{"status": "invalid event", "message": "Event object is invalid"}'
    )
    raw = {"routing_key": KEY, "base_url": receiver.url}

    with pytest.raises(NotifyError) as caught:
        await send_alert("pagerduty", validate_channel("pagerduty", raw), DOWN, notify_ctx)
    assert caught.value.permanent
    assert KEY not in str(caught.value)


def test_the_base_url_defaults_to_the_events_api() -> None:
    settings = validate_channel("pagerduty", {"routing_key": KEY})
    assert isinstance(settings, PagerDutySettings)
    assert settings.base_url == "https://events.pagerduty.com"
