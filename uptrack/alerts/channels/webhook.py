"""Generic webhook: Uptrack's own JSON document, optionally signed with HMAC-SHA256.

The receiver gets `Idempotency-Key: <dedup key>` (the same on every retry of one
delivery) and, with a `secret`, `X-Uptrack-Signature: sha256=<hex>`: the
HMAC-SHA256 of the raw request body keyed with the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Literal

import msgspec

from uptrack.alerts import transport
from uptrack.alerts.channel import Channel, ChannelSettings
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.message import AlertMessage, Event, iso_time
from uptrack.errors import FieldError

SIGNATURE_HEADER = "X-Uptrack-Signature"
PAYLOAD_VERSION = 1

_HEADER_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")
# Set by Uptrack (or by HTTP itself): a custom header may not replace them.
_RESERVED_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "transfer-encoding",
        "host",
        "connection",
        "idempotency-key",
        "x-uptrack-event",
        SIGNATURE_HEADER.lower(),
    }
)


class WebhookSettings(ChannelSettings, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """A URL that receives Uptrack's JSON document."""

    # URLs of webhook receivers often carry a token of their own.
    secret_fields = ("url", "secret", "headers")
    url_fields = ("url",)

    url: str
    method: Literal["POST", "PUT"] = "POST"
    secret: str | None = None  # key of the X-Uptrack-Signature HMAC
    headers: dict[str, str] = {}  # sent with every request, e.g. Authorization


class WebhookMonitor(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    kind: str
    target: str
    url: str  # its dashboard page


class WebhookIncident(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    key: str  # the same for every message of the incident
    since: str  # RFC 3339
    duration_seconds: float
    error_kind: str | None
    error: str | None
    http_status: int | None


class WebhookPayload(msgspec.Struct, frozen=True, kw_only=True):
    """The JSON body a webhook receives (`version` changes when fields change meaning)."""

    version: int
    event: Event
    dedup_key: str
    at: str  # RFC 3339
    title: str
    text: str
    monitor: WebhookMonitor
    incident: WebhookIncident


def payload(message: AlertMessage) -> WebhookPayload:
    return WebhookPayload(
        version=PAYLOAD_VERSION,
        event=message.event,
        dedup_key=message.dedup_key,
        at=iso_time(message.at),
        title=message.title,
        text=message.text,
        monitor=WebhookMonitor(
            id=message.monitor_id,
            name=message.monitor_name,
            kind=message.monitor_kind,
            target=message.target,
            url=message.link,
        ),
        incident=WebhookIncident(
            id=message.incident_id,
            key=message.incident_key,
            since=iso_time(message.since),
            duration_seconds=round(message.downtime, 3),
            error_kind=message.error_kind,
            error=message.error,
            http_status=message.http_status,
        ),
    )


def sign(secret: str, body: bytes) -> str:
    """The X-Uptrack-Signature value for `body`: `sha256=<hex HMAC-SHA256>`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


async def send(settings: WebhookSettings, message: AlertMessage, ctx: NotifyContext) -> None:
    body = msgspec.json.encode(payload(message))
    headers = {
        **settings.headers,
        "Content-Type": "application/json",
        "Idempotency-Key": message.dedup_key,
        "X-Uptrack-Event": message.event,
    }
    if settings.secret:
        headers[SIGNATURE_HEADER] = sign(settings.secret, body)
    secrets = settings.secret_values()
    answer = await transport.request(
        ctx,
        "webhook",
        settings.method,
        settings.url,
        secrets=secrets,
        headers=headers,
        content=body,
    )
    transport.expect_success("webhook", answer, secrets=secrets)


def check(settings: WebhookSettings) -> list[FieldError]:
    errors = []
    for name, value in settings.headers.items():
        field = f"headers.{name}"
        if not _HEADER_NAME.fullmatch(name):
            errors.append(FieldError(field, "is not a valid HTTP header name"))
        elif name.lower() in _RESERVED_HEADERS:
            errors.append(FieldError(field, "is set by Uptrack and cannot be overridden"))
        elif not _HEADER_VALUE.fullmatch(value):
            errors.append(FieldError(field, "must be printable ASCII, without line breaks"))
    if settings.secret is not None and not settings.secret:
        errors.append(FieldError("secret", "must not be empty (leave it out to send unsigned)"))
    return errors


CHANNEL = Channel(name="webhook", settings_type=WebhookSettings, send=send, check=check)
