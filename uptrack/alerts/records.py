"""What the store keeps about alerting: channels, incidents and outbox deliveries."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from uptrack.alerts.message import AlertMessage

DeliveryStatus = Literal["pending", "sending", "sent", "dead"]
DELIVERY_STATUSES: tuple[DeliveryStatus, ...] = ("pending", "sending", "sent", "dead")
IncidentState = Literal["open", "closed"]


class ChannelSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A validated channel definition (`uptrack.alerts.validation.parse_channel`)."""

    name: str
    kind: str
    settings: dict[str, Any]  # the kind's settings struct as builtins, secrets included
    tags: list[str] = []  # monitors with one of these tags alert here too


class StoredChannel(msgspec.Struct, frozen=True, kw_only=True):
    """A stored channel. `settings` hold secrets: show them only through `redact`."""

    id: str
    name: str
    kind: str
    settings: dict[str, Any]
    tags: list[str]
    created_at: float
    updated_at: float

    def spec(self) -> ChannelSpec:
        return ChannelSpec(name=self.name, kind=self.kind, settings=self.settings, tags=self.tags)


class Route(msgspec.Struct, frozen=True, kw_only=True):
    """What routing needs of a channel (no settings, so no secrets)."""

    id: str
    name: str
    kind: str
    tags: list[str]


class Incident(msgspec.Struct, frozen=True, kw_only=True):
    """One down period of one monitor, from the first failing check to the first good one."""

    id: str
    monitor_id: str
    monitor_name: str
    started_at: float  # the first failing check of the streak that confirmed it
    started_slot: int
    confirmed_at: float  # the check that made the monitor down
    confirmed_slot: int
    confirmed_by: int  # failing checks that confirmed it (the monitor's down_after)
    error_kind: str | None  # cause: the first failing check's error
    error: str | None
    http_status: int | None
    resolved_at: float | None = None
    resolved_slot: int | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    reminders: int = 0  # reminders scheduled so far

    @property
    def open(self) -> bool:
        return self.resolved_at is None


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """One outbox row: one message to one channel, and how its delivery goes."""

    id: int
    incident_id: str | None
    monitor_id: str | None
    channel_id: str
    transition: str  # down, up, reminder-<n>
    event: str  # down, up, reminder
    dedup_key: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float
    locked_until: float | None
    locked_by: str | None
    last_error: str | None
    group_key: str | None
    created_at: float
    sent_at: float | None


class AlertJob(msgspec.Struct, frozen=True, kw_only=True):
    """A claimed delivery with what sending it takes."""

    delivery: Delivery
    message: AlertMessage  # without its link: the deliverer knows the public URL
    channel_kind: str | None  # None: the channel was deleted since the row was written
    channel_name: str | None
    channel_settings: dict[str, Any] | None
    burst: int  # rows of this channel and event created within the grouping window


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """How one attempt at a delivery ended. `sent` False and `retry_at` None: dead."""

    id: int
    sent: bool
    error: str | None = None
    retry_at: float | None = None
    group_key: str | None = None


class OutboxCounts(msgspec.Struct, frozen=True, kw_only=True):
    pending: int  # pending or sending
    dead: int


def encode_payload(message: AlertMessage) -> str:
    return msgspec.json.encode(message).decode()


def decode_payload(text: str) -> AlertMessage:
    return msgspec.json.decode(text, type=AlertMessage)
