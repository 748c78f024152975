"""Opsgenie Alert API: create with alias = incident key, close by that alias."""

from __future__ import annotations

from tests.alerts.samples import DOWN, TEST, UP
from tests.servers.healthy import Reply
from tests.servers.receiver import Receiver, body_json, path_of, query_of
from uptrack.alerts.channels.opsgenie import OpsgenieSettings, api_url
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.registry import send_alert, validate_channel

API_KEY = "eb243592-faa2-4ba2-a551q-1afdf565c889"
ACCEPTED = Reply(
    status=202, body=b'{"result": "Request will be processed", "took": 0.1, "requestId": "r1"}'
)


async def test_a_down_alert_creates_an_alert_aliased_by_incident(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    receiver.routes["/v2/alerts"] = ACCEPTED
    raw = {"api_key": API_KEY, "base_url": receiver.url, "priority": "P1", "tags": ["prod"]}
    await send_alert("opsgenie", validate_channel("opsgenie", raw), DOWN, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert request.method == "POST"
    assert path_of(request) == "/v2/alerts"
    assert request.header("authorization") == f"GenieKey {API_KEY}"
    assert request.header("content-type") == "application/json"
    assert body_json(request) == {
        "message": "Website is DOWN",
        "alias": "uptrack-inc42",
        "description": (
            "🔴 Website is DOWN — status 503 not in 200-399 (since 12:00:03 UTC)\n"
            "\n"
            "Monitor: Website (http)\n"
            "Target: https://example.com/health\n"
            "Cause: status 503 not in 200-399\n"
            "HTTP status: 503\n"
            "Down since: 2024-05-01 12:00:03 UTC\n"
            "Incident: inc42\n"
            "https://uptrack.example/monitors/m1"
        ),
        "tags": ["uptrack", "prod"],
        "details": {
            "Monitor": "Website (http)",
            "Target": "https://example.com/health",
            "Cause": "status 503 not in 200-399",
            "HTTP status": "503",
            "Down since": "2024-05-01 12:00:03 UTC",
            "Incident": "inc42",
            "Dashboard": "https://uptrack.example/monitors/m1",
        },
        "entity": "Website",
        "source": "Uptrack",
        "priority": "P1",
    }


async def test_recovery_closes_the_alert_by_its_alias(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    raw = {"api_key": API_KEY, "base_url": receiver.url}
    await send_alert("opsgenie", validate_channel("opsgenie", raw), UP, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert request.method == "POST"
    assert path_of(request) == "/v2/alerts/uptrack-inc42/close"
    assert query_of(request) == {"identifierType": "alias"}
    assert request.header("authorization") == f"GenieKey {API_KEY}"
    assert body_json(request) == {
        "source": "Uptrack",
        "note": "✅ Website is UP again after 5m 12s",
    }


async def test_a_test_alert_is_low_priority_with_its_own_alias(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    raw = {"api_key": API_KEY, "base_url": receiver.url}
    await send_alert("opsgenie", validate_channel("opsgenie", raw), TEST, notify_ctx)

    [request] = await receiver.wait_for(1)
    body = body_json(request)
    assert body["priority"] == "P5"
    assert body["alias"] == TEST.dedup_key


def test_the_region_picks_the_api_address_unless_a_base_url_is_given() -> None:
    def url_of(raw: dict[str, str]) -> str:
        settings = validate_channel("opsgenie", {"api_key": API_KEY, **raw})
        assert isinstance(settings, OpsgenieSettings)
        return api_url(settings)

    assert url_of({}) == "https://api.opsgenie.com"
    assert url_of({"region": "eu"}) == "https://api.eu.opsgenie.com"
    assert url_of({"base_url": "http://127.0.0.1:9/"}) == "http://127.0.0.1:9"
