"""Generic webhook: the exact document, headers and signature a receiver gets."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tests.alerts.samples import DOWN, UP
from tests.servers.healthy import Reply
from tests.servers.receiver import Receiver, body_json, path_of
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.errors import NotifyError
from uptrack.alerts.registry import send_alert, validate_channel
from uptrack.errors import InvalidInput

SECRET = "whsec-signing-secret"


async def test_it_posts_the_uptrack_document(receiver: Receiver, notify_ctx: NotifyContext) -> None:
    settings = validate_channel("webhook", {"url": receiver.url_for("/hooks/in")})
    await send_alert("webhook", settings, DOWN, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert request.method == "POST"
    assert path_of(request) == "/hooks/in"
    assert request.header("content-type") == "application/json"
    assert request.header("x-uptrack-event") == "down"
    assert (request.header("user-agent") or "").startswith("Uptrack/")
    assert body_json(request) == {
        "version": 1,
        "event": "down",
        "dedup_key": "uptrack-inc42-down-ch7",
        "at": "2024-05-01T12:00:03Z",
        "title": "Website is DOWN",
        "text": "🔴 Website is DOWN — status 503 not in 200-399 (since 12:00:03 UTC)",
        "monitor": {
            "id": "m1",
            "name": "Website",
            "kind": "http",
            "target": "https://example.com/health",
            "url": "https://uptrack.example/monitors/m1",
        },
        "incident": {
            "id": "inc42",
            "key": "uptrack-inc42",
            "since": "2024-05-01T12:00:03Z",
            "duration_seconds": 0.0,
            "error_kind": "status",
            "error": "status 503 not in 200-399",
            "http_status": 503,
        },
    }


async def test_the_dedup_key_goes_out_as_the_idempotency_key(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    settings = validate_channel("webhook", {"url": receiver.url_for("/hooks/in")})
    await send_alert("webhook", settings, DOWN, notify_ctx)
    await send_alert("webhook", settings, UP, notify_ctx)

    down, up = await receiver.wait_for(2)
    assert down.header("idempotency-key") == "uptrack-inc42-down-ch7"
    assert up.header("idempotency-key") == "uptrack-inc42-up-ch7"
    assert body_json(up)["incident"]["duration_seconds"] == 312.0


async def test_the_signature_is_the_hmac_sha256_of_the_raw_body(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    settings = validate_channel("webhook", {"url": receiver.url_for("/hooks/in"), "secret": SECRET})
    await send_alert("webhook", settings, DOWN, notify_ctx)

    [request] = await receiver.wait_for(1)
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    signature = request.header("x-uptrack-signature")
    assert signature == f"sha256={expected}"
    assert SECRET not in request.body.decode()


async def test_an_unsigned_webhook_sends_no_signature(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    settings = validate_channel("webhook", {"url": receiver.url_for("/hooks/in")})
    await send_alert("webhook", settings, DOWN, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert request.header("x-uptrack-signature") is None


async def test_custom_headers_and_method_are_sent(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    raw = {
        "url": receiver.url_for("/hooks/in?team=ops"),
        "method": "PUT",
        "headers": {"Authorization": "Bearer abc123", "X-Team": "ops"},
    }
    await send_alert("webhook", validate_channel("webhook", raw), DOWN, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert request.method == "PUT"
    assert request.target == "/hooks/in?team=ops"
    assert request.header("authorization") == "Bearer abc123"
    assert request.header("x-team") == "ops"


async def test_a_server_error_is_temporary_and_a_client_error_permanent(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    receiver.script("/hooks/in", Reply(status=500, body=b"boom"), Reply(status=404, body=b"gone"))
    settings = validate_channel("webhook", {"url": receiver.url_for("/hooks/in")})

    with pytest.raises(NotifyError) as server_error:
        await send_alert("webhook", settings, DOWN, notify_ctx)
    assert not server_error.value.permanent
    assert server_error.value.status == 500
    assert str(server_error.value) == "webhook answered 500: boom"

    with pytest.raises(NotifyError) as client_error:
        await send_alert("webhook", settings, DOWN, notify_ctx)
    assert client_error.value.permanent
    assert client_error.value.status == 404


async def test_a_redirect_is_not_followed(receiver: Receiver, notify_ctx: NotifyContext) -> None:
    receiver.routes["/hooks/old"] = Reply(status=301, headers=[("Location", "/hooks/new")])
    settings = validate_channel("webhook", {"url": receiver.url_for("/hooks/old")})

    with pytest.raises(NotifyError) as caught:
        await send_alert("webhook", settings, DOWN, notify_ctx)
    assert caught.value.permanent
    assert [path_of(r) for r in receiver.requests] == ["/hooks/old"]


@pytest.mark.parametrize(
    ("headers", "field", "message"),
    [
        ({"Idempotency-Key": "x"}, "headers.Idempotency-Key", "is set by Uptrack"),
        ({"Bad Name": "x"}, "headers.Bad Name", "is not a valid HTTP header name"),
        ({"X-Evil": "a\r\nX-Injected: 1"}, "headers.X-Evil", "printable ASCII"),
    ],
)
def test_custom_headers_are_checked(headers: dict[str, str], field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_channel("webhook", {"url": "https://example.com/hook", "headers": headers})
    [error] = caught.value.errors
    assert error.field == field
    assert message in error.message
