"""ntfy: the exact publish request an ntfy server receives."""

from __future__ import annotations

import email.header

import msgspec

from tests.alerts.samples import DOWN, TEST, UP
from tests.servers.receiver import Receiver, path_of
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.registry import send_alert, validate_channel

TOPIC = "uptrack_k3y_9f2c"


async def test_a_down_alert_is_published_with_title_priority_tags_and_click(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    raw = {"server_url": receiver.url, "topic": TOPIC, "token": "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"}
    await send_alert("ntfy", validate_channel("ntfy", raw), DOWN, notify_ctx)

    [request] = await receiver.wait_for(1)
    assert request.method == "POST"
    assert path_of(request) == f"/{TOPIC}"
    assert request.header("title") == "Website is DOWN"
    assert request.header("priority") == "4"
    assert request.header("tags") == "rotating_light"
    assert request.header("click") == "https://uptrack.example/monitors/m1"
    assert request.header("authorization") == "Bearer tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"
    assert request.header("content-type") == "text/plain; charset=utf-8"
    assert request.body.decode() == (
        "🔴 Website is DOWN — status 503 not in 200-399 (since 12:00:03 UTC)\n"
        "\n"
        "Monitor: Website (http)\n"
        "Target: https://example.com/health\n"
        "Cause: status 503 not in 200-399\n"
        "HTTP status: 503\n"
        "Down since: 2024-05-01 12:00:03 UTC\n"
        "Incident: inc42"
    )


async def test_recovery_and_tests_are_calmer(receiver: Receiver, notify_ctx: NotifyContext) -> None:
    raw = {"server_url": receiver.url, "topic": TOPIC, "priority": 5}
    settings = validate_channel("ntfy", raw)
    await send_alert("ntfy", settings, UP, notify_ctx)
    await send_alert("ntfy", settings, TEST, notify_ctx)

    up, test = await receiver.wait_for(2)
    assert (up.header("priority"), up.header("tags")) == ("3", "white_check_mark")
    assert (test.header("priority"), test.header("tags")) == ("3", "bell")
    assert up.header("authorization") is None


async def test_a_title_that_is_not_ascii_is_an_rfc_2047_encoded_word(
    receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    down = msgspec.structs.replace(DOWN, monitor_name="Café Zürich 🌍")
    raw = {"server_url": receiver.url, "topic": TOPIC}
    await send_alert("ntfy", validate_channel("ntfy", raw), down, notify_ctx)

    [request] = await receiver.wait_for(1)
    title = request.header("title") or ""
    assert title.startswith("=?UTF-8?B?")
    [(decoded, charset)] = email.header.decode_header(title)
    assert isinstance(decoded, bytes)
    assert charset is not None
    assert decoded.decode(charset) == "Café Zürich 🌍 is DOWN"


def test_the_server_defaults_to_ntfy_sh() -> None:
    settings = validate_channel("ntfy", {"topic": TOPIC})
    assert msgspec.to_builtins(settings)["server_url"] == "https://ntfy.sh"
