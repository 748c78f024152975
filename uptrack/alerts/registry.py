"""What the rest of Uptrack does with channels: validate, redact, describe and send.

settings = validate_channel("slack", {"url": "https://hooks.slack.com/..."})
redact(settings)            # {"url": "********"}: what the API may show
await send_alert("slack", settings, message, ctx)   # raises NotifyError
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, get_args, get_origin
from urllib.parse import urlsplit

import msgspec
import trio

from uptrack.alerts.channel import Channel, ChannelSettings
from uptrack.alerts.channels import CHANNELS
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.errors import NotifyError
from uptrack.alerts.message import AlertMessage
from uptrack.errors import FieldError, InvalidInput
from uptrack.secrets import MASK

_AT_FIELD = re.compile(r" - at `\$\.?([^`]*)`$")
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `([^`]+)`")
_MISSING_FIELD = re.compile(r"Object missing required field `([^`]+)`")
_EMPTY: tuple[object, ...] = (None, "", {}, [])


def channel_for(kind: object) -> Channel[Any]:
    """The channel kind `kind`; InvalidInput naming `kind` if there is none."""
    if not isinstance(kind, str) or kind not in CHANNELS:
        known = ", ".join(sorted(CHANNELS))
        raise InvalidInput([FieldError("kind", f"{kind!r} is not a channel kind ({known})")])
    return CHANNELS[kind]


def secret_fields(kind: str) -> list[str]:
    """The write-only settings of a channel kind, by their names in the API."""
    channel = channel_for(kind)
    return [
        field.encode_name
        for field in msgspec.structs.fields(channel.settings_type)
        if field.name in channel.settings_type.secret_fields
    ]


def validate_channel(
    kind: object, raw_settings: object, *, base: ChannelSettings | None = None
) -> ChannelSettings:
    """The settings struct of a `kind` channel, from user input.

    With `base` (the stored settings of the same kind), `raw_settings` is a partial
    update, and a secret given as `MASK` (what `redact` shows) keeps its stored
    value. Raises InvalidInput naming every bad field.
    """
    channel = channel_for(kind)
    if not isinstance(raw_settings, Mapping):
        raise InvalidInput([FieldError("settings", "expected an object of channel settings")])
    settings_type = channel.settings_type
    stored: dict[str, Any] = {}
    if base is not None and type(base) is settings_type:
        stored = msgspec.to_builtins(base)
    secrets = set(secret_fields(channel.name))
    values = dict(stored)
    errors: list[FieldError] = []
    for key, value in raw_settings.items():
        if key in secrets and value == MASK:
            if key not in stored:
                message = "is the placeholder of a stored secret: give the secret itself"
                errors.append(FieldError(str(key), message))
            continue  # keep the stored secret
        values[key] = value
    if errors:
        raise InvalidInput(errors)
    try:
        settings: ChannelSettings = msgspec.convert(values, settings_type)
    except msgspec.ValidationError as exc:
        raise InvalidInput([_field_error(channel, str(exc))]) from None
    errors.extend(_check_urls(settings))
    errors.extend(channel.check(settings))
    if errors:
        raise InvalidInput(errors)
    return settings


def redact(settings: ChannelSettings) -> dict[str, Any]:
    """The settings as the API may show them: every secret that is set is `MASK`."""
    shown: dict[str, Any] = msgspec.to_builtins(settings)
    for field in msgspec.structs.fields(type(settings)):
        if field.name in settings.secret_fields and shown.get(field.encode_name) not in _EMPTY:
            shown[field.encode_name] = MASK
    return shown


def settings_schema(kind: str) -> dict[str, Any]:
    """JSON Schema of a kind's settings, secrets marked `writeOnly` (for OpenAPI)."""
    settings_type = channel_for(kind).settings_type
    schema: dict[str, Any] = msgspec.json.schema(settings_type)
    definition = schema["$defs"][settings_type.__name__]
    for name in secret_fields(kind):
        definition["properties"][name]["writeOnly"] = True
    return schema


async def send_alert(
    kind: str, settings: ChannelSettings, message: AlertMessage, ctx: NotifyContext
) -> None:
    """Deliver `message` once through a `kind` channel within `ctx.deadline` seconds.

    Raises NotifyError on failure (temporary when the deadline passes).
    """
    channel = CHANNELS.get(kind)
    if channel is None:
        raise NotifyError(f"{kind!r} is not a channel kind", permanent=True)
    if not isinstance(settings, channel.settings_type):
        raise TypeError(f"{type(settings).__name__} are not the settings of a {kind} channel")
    with trio.move_on_after(ctx.deadline) as scope:
        await channel.send(settings, message, ctx)
    if scope.cancelled_caught:
        raise NotifyError(f"{kind}: not delivered within {ctx.deadline:g} s", permanent=False)


def _check_urls(settings: ChannelSettings) -> list[FieldError]:
    errors = []
    for field in msgspec.structs.fields(type(settings)):
        value = getattr(settings, field.name)
        if field.name not in settings.url_fields or value is None:
            continue
        # Never quote the value: URLs of Slack, Discord or Teams are secrets.
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https"):
            errors.append(FieldError(field.encode_name, "must be an http:// or https:// URL"))
        elif not parts.hostname:
            errors.append(FieldError(field.encode_name, "must name a host, as in https://host/"))
        elif any(c.isspace() or ord(c) < 32 for c in value):
            errors.append(FieldError(field.encode_name, "must not contain spaces"))
    return errors


def _field_error(channel: Channel[Any], message: str) -> FieldError:
    names = [field.encode_name for field in msgspec.structs.fields(channel.settings_type)]
    unknown = _UNKNOWN_FIELD.search(message)
    if unknown:
        known = ", ".join(names)
        text = f"is not a setting of a {channel.name} channel (settings: {known})"
        return FieldError(unknown.group(1), text)
    at = _AT_FIELD.search(message)
    prefix = f"{at.group(1)}." if at and at.group(1) else ""
    missing = _MISSING_FIELD.search(message)
    if missing:
        return FieldError(prefix + missing.group(1), "is required")
    if at:
        field = at.group(1) or "settings"
        return FieldError(field, _accepted(channel, field) or message[: at.start()])
    return FieldError("settings", message)


def _accepted(channel: Channel[Any], field: str) -> str | None:
    """For a field with a fixed set of values: which ones are accepted."""
    for info in msgspec.structs.fields(channel.settings_type):
        if info.encode_name == field and get_origin(info.type) is Literal:
            return "must be one of " + ", ".join(str(v) for v in get_args(info.type))
    return None
