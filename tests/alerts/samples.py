"""Messages and channel settings the notifier tests share."""

from __future__ import annotations

from typing import Any

from uptrack.alerts.message import AlertMessage, make_test_message

T0 = 1714564803.0  # 2024-05-01 12:00:03 UTC
PUBLIC_URL = "https://uptrack.example"
LINK = "https://uptrack.example/monitors/m1"

DOWN = AlertMessage(
    monitor_id="m1",
    monitor_name="Website",
    monitor_kind="http",
    target="https://example.com/health",
    event="down",
    incident_id="inc42",
    since=T0,
    at=T0,
    link=LINK,
    dedup_key="uptrack-inc42-down-ch7",
    error_kind="status",
    error="status 503 not in 200-399",
    http_status=503,
)
UP = AlertMessage(
    monitor_id="m1",
    monitor_name="Website",
    monitor_kind="http",
    target="https://example.com/health",
    event="up",
    incident_id="inc42",
    since=T0,
    at=T0 + 312,
    duration=312.0,
    link=LINK,
    dedup_key="uptrack-inc42-up-ch7",
    error_kind="status",
    error="status 503 not in 200-399",
    http_status=503,
)
REMINDER = AlertMessage(
    monitor_id="m1",
    monitor_name="Website",
    monitor_kind="http",
    target="https://example.com/health",
    event="reminder",
    incident_id="inc42",
    since=T0,
    at=T0 + 3900,
    link=LINK,
    dedup_key="uptrack-inc42-reminder-1-ch7",
    error_kind="status",
    error="status 503 not in 200-399",
    http_status=503,
)
TEST = make_test_message(channel_id="ch7", public_url=PUBLIC_URL, at=T0)

PUSHOVER_TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
PUSHOVER_USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"


def http_channels(base: str) -> dict[str, tuple[dict[str, Any], str]]:
    """For every HTTP channel kind: settings that point at the receiver at `base`
    (`http://127.0.0.1:<port>`), and the path its down alert arrives at. Every secret
    is a distinctive string, so a test can look for it where it must never show."""
    return {
        "webhook": (
            {
                "url": base + "/hooks/webhook-url-secret",
                "secret": "whsec-signing-secret",
                "headers": {"Authorization": "Bearer header-secret-token"},
            },
            "/hooks/webhook-url-secret",
        ),
        "slack": (
            {"url": base + "/services/T000/B000/slack-url-secret"},
            "/services/T000/B000/slack-url-secret",
        ),
        "discord": (
            {"url": base + "/api/webhooks/1234/discord-url-secret"},
            "/api/webhooks/1234/discord-url-secret",
        ),
        "telegram": (
            {"bot_token": "123456:telegram-token-secret", "chat_id": -1001234, "base_url": base},
            "/bot123456:telegram-token-secret/sendMessage",
        ),
        "teams": (
            {"url": base + "/workflows/teams-url-secret/invoke"},
            "/workflows/teams-url-secret/invoke",
        ),
        "pagerduty": (
            {"routing_key": "pagerduty-routing-key-secret", "base_url": base},
            "/v2/enqueue",
        ),
        "opsgenie": (
            {"api_key": "opsgenie-api-key-secret", "base_url": base},
            "/v2/alerts",
        ),
        "ntfy": (
            {"server_url": base, "topic": "ntfy_topic_secret", "token": "tk_ntfy_token_secret"},
            "/ntfy_topic_secret",
        ),
        "pushover": (
            {"token": PUSHOVER_TOKEN, "user_key": PUSHOVER_USER, "base_url": base},
            "/1/messages.json",
        ),
        "gotify": (
            {"server_url": base, "token": "gotify-app-token-secret"},
            "/message",
        ),
    }


EMAIL_SETTINGS: dict[str, Any] = {
    "host": "smtp.example.com",
    "security": "starttls",
    "username": "alerts",
    "password": "smtp-password-secret",
    "from": "uptrack@example.com",
    "to": ["oncall@example.com"],
}
