"""The channel registry: validation that names the field, write-only secrets, sending."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from tests.alerts.samples import DOWN, EMAIL_SETTINGS, http_channels
from uptrack.alerts.channel import ChannelSettings
from uptrack.alerts.channels import CHANNELS
from uptrack.alerts.channels.slack import SlackSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.errors import NotifyError
from uptrack.alerts.registry import (
    redact,
    secret_fields,
    send_alert,
    settings_schema,
    validate_channel,
)
from uptrack.errors import InvalidInput
from uptrack.secrets import MASK

SAMPLES: dict[str, dict[str, Any]] = {
    **{kind: raw for kind, (raw, _) in http_channels("https://hooks.example.com").items()},
    "email": EMAIL_SETTINGS,
}


def test_every_channel_kind_is_registered() -> None:
    assert sorted(CHANNELS) == [
        "discord",
        "email",
        "gotify",
        "ntfy",
        "opsgenie",
        "pagerduty",
        "pushover",
        "slack",
        "teams",
        "telegram",
        "webhook",
    ]
    assert sorted(SAMPLES) == sorted(CHANNELS)


@pytest.mark.parametrize("kind", sorted(CHANNELS))
def test_settings_are_strict_frozen_keyword_structs(kind: str) -> None:
    settings_type = CHANNELS[kind].settings_type
    config = settings_type.__struct_config__
    assert issubclass(settings_type, ChannelSettings)
    assert config.forbid_unknown_fields
    assert config.frozen
    with pytest.raises(TypeError):
        settings_type("positional")  # kw_only
    assert secret_fields(kind), f"{kind} has no secret settings"


@pytest.mark.parametrize("kind", sorted(CHANNELS))
def test_redact_shows_every_setting_but_no_secret(kind: str) -> None:
    settings = validate_channel(kind, SAMPLES[kind])
    shown = redact(settings)
    secrets = settings.secret_values()
    assert secrets
    for name in secret_fields(kind):
        assert shown[name] == MASK
    rendered = msgspec.json.encode(shown).decode()
    for secret in secrets:
        assert secret not in rendered
        assert secret not in repr(settings)
    assert set(shown) == {f.encode_name for f in msgspec.structs.fields(type(settings))}


@pytest.mark.parametrize("kind", sorted(CHANNELS))
def test_sending_back_what_redact_showed_keeps_the_stored_secrets(kind: str) -> None:
    settings = validate_channel(kind, SAMPLES[kind])
    assert validate_channel(kind, redact(settings), base=settings) == settings


def test_a_partial_update_changes_only_what_it_names() -> None:
    stored = validate_channel("email", EMAIL_SETTINGS)
    updated = validate_channel("email", {"to": ["new@example.com"]}, base=stored)
    assert msgspec.structs.replace(stored, to=["new@example.com"]) == updated


def test_the_placeholder_is_not_accepted_as_a_new_secret() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_channel("slack", {"url": MASK})
    [error] = caught.value.errors
    assert error.field == "url"
    assert "placeholder" in error.message


@pytest.mark.parametrize(
    ("kind", "raw", "field", "message"),
    [
        ("sms", {}, "kind", "'sms' is not a channel kind (discord, email, gotify"),
        ("slack", [], "settings", "expected an object of channel settings"),
        ("slack", {}, "url", "is required"),
        ("slack", {"url": "https://x.example", "channel": "#ops"}, "channel", "is not a setting"),
        ("slack", {"url": 42}, "url", "Expected `str`, got `int`"),
        ("slack", {"url": "ftp://hooks.example/x"}, "url", "must be an http:// or https:// URL"),
        ("slack", {"url": "https:///no-host"}, "url", "must name a host"),
        ("pagerduty", {"routing_key": "k", "severity": "high"}, "severity", "must be one of"),
        ("ntfy", {"topic": "has spaces"}, "topic", "letters, digits"),
        (
            "gotify",
            {"server_url": "https://g.example", "token": "t", "priority": 11},
            "priority",
            "",
        ),
        ("opsgenie", {"api_key": "k", "region": "asia"}, "region", "must be one of us, eu"),
    ],
)
def test_errors_name_the_field(kind: str, raw: Any, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_channel(kind, raw)
    [error] = caught.value.errors
    assert error.field == field
    assert message in error.message


def test_a_bad_secret_url_is_never_quoted_back() -> None:
    secret = "htps://hooks.slack.com/services/T0/B0/very-secret"
    with pytest.raises(InvalidInput) as caught:
        validate_channel("slack", {"url": secret})
    assert "very-secret" not in str(caught.value)


@pytest.mark.parametrize("kind", sorted(CHANNELS))
def test_the_settings_schema_marks_secrets_write_only(kind: str) -> None:
    schema = settings_schema(kind)
    properties = schema["$defs"][CHANNELS[kind].settings_type.__name__]["properties"]
    for name, prop in properties.items():
        assert prop.get("writeOnly", False) == (name in secret_fields(kind))


async def test_sending_through_an_unknown_kind_is_a_permanent_failure(
    notify_ctx: NotifyContext,
) -> None:
    with pytest.raises(NotifyError) as caught:
        await send_alert("sms", SlackSettings(url="https://x.example"), DOWN, notify_ctx)
    assert caught.value.permanent


async def test_settings_of_another_kind_are_a_programming_error(
    notify_ctx: NotifyContext,
) -> None:
    with pytest.raises(TypeError):
        await send_alert("discord", SlackSettings(url="https://x.example"), DOWN, notify_ctx)
