"""Microsoft Teams workflow webhook: the exact Adaptive Card message the flow receives."""

from __future__ import annotations

from tests.alerts.samples import DOWN, UP
from tests.servers.healthy import Reply
from tests.servers.receiver import Receiver, body_json, path_of
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.registry import send_alert, validate_channel

FLOW = "/workflows/abc/triggers/manual/paths/invoke"


async def test_a_down_alert_is_an_adaptive_card_attachment(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    receiver.routes[FLOW] = Reply(status=202)
    settings = validate_channel("teams", {"url": receiver.url_for(FLOW + "?sig=s3cr3t")})
    await send_alert("teams", settings, DOWN, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert request.method == "POST"
    assert path_of(request) == FLOW
    assert request.target.endswith("?sig=s3cr3t")
    assert request.header("content-type") == "application/json"
    assert body_json(request) == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": "🔴 Website is DOWN",
                            "weight": "Bolder",
                            "size": "Medium",
                            "color": "Attention",
                            "wrap": True,
                        },
                        {
                            "type": "TextBlock",
                            "text": (
                                "🔴 Website is DOWN — status 503 not in 200-399"
                                " (since 12:00:03 UTC)"
                            ),
                            "wrap": True,
                        },
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "Monitor", "value": "Website (http)"},
                                {"title": "Target", "value": "https://example.com/health"},
                                {"title": "Cause", "value": "status 503 not in 200-399"},
                                {"title": "HTTP status", "value": "503"},
                                {"title": "Down since", "value": "2024-05-01 12:00:03 UTC"},
                                {"title": "Incident", "value": "inc42"},
                            ],
                        },
                    ],
                    "actions": [
                        {
                            "type": "Action.OpenUrl",
                            "title": "Open in Uptrack",
                            "url": "https://uptrack.example/monitors/m1",
                        }
                    ],
                    "msteams": {"width": "Full"},
                },
            }
        ],
    }


async def test_an_up_alert_is_a_good_colored_card(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    settings = validate_channel("teams", {"url": receiver.url_for(FLOW)})
    await send_alert("teams", settings, UP, notify_ctx)

    [request] = await receiver.wait_for(1)
    card = body_json(request)["attachments"][0]["content"]
    assert card["body"][0] == {
        "type": "TextBlock",
        "text": "✅ Website is UP",
        "weight": "Bolder",
        "size": "Medium",
        "color": "Good",
        "wrap": True,
    }
    assert {"title": "Downtime", "value": "5m 12s"} in card["body"][2]["facts"]
