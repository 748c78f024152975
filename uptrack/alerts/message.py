"""What a notifier sends: one monitor's alert, or a group of them, and its human text.

Text is rendered with plain format strings; each channel arranges the same parts
(`headline`, `text`, `details`, `link`) in its vendor's format.
"""

from __future__ import annotations

import datetime
from typing import Literal

import msgspec

Event = Literal["down", "up", "test", "reminder"]

EMOJI: dict[Event, str] = {"down": "🔴", "reminder": "🔴", "up": "✅", "test": "🔔"}

GROUP_LINES = 30
"""Monitors a grouped message lists one per line; the rest are counted."""


def dashboard_link(public_url: str, monitor_id: str) -> str:
    """The dashboard page of a monitor: the node's public URL + `/monitors/<id>`."""
    return f"{public_url.rstrip('/')}/monitors/{monitor_id}"


def dedup_key(incident_id: str, transition: str, channel_id: str) -> str:
    """The unique key of one delivery: `(incident, transition, channel)`.

    `transition` is `down`, `up`, `test`, or for reminders `reminder-<n>`, so each
    reminder is its own delivery. Receivers that honour idempotency keys drop repeats.
    """
    return f"uptrack-{incident_id}-{transition}-{channel_id}"


def format_span(seconds: float) -> str:
    """A duration the way people say it: `45s`, `5m 12s`, `3h 4m`, `2d 5h`."""
    total = max(0, round(seconds))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def format_time(ts: float, *, relative_to: float | None = None) -> str:
    """`12:00:03 UTC`, with the date in front unless it is the day of `relative_to`."""
    moment = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    if relative_to is not None:
        today = datetime.datetime.fromtimestamp(relative_to, datetime.UTC).date()
        if moment.date() == today:
            return f"{moment:%H:%M:%S} UTC"
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def iso_time(ts: float) -> str:
    """RFC 3339 in UTC with a `Z`, as vendors' timestamp fields expect."""
    moment = datetime.datetime.fromtimestamp(ts, datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


class AlertMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One alert about one monitor, for one channel (one outbox row)."""

    monitor_id: str
    monitor_name: str
    monitor_kind: str
    target: str
    event: Event
    incident_id: str
    since: float  # Unix seconds the incident started (its first failing check)
    at: float  # Unix seconds of this event: the transition, the reminder, the test
    link: str  # the monitor's dashboard page, see `dashboard_link`
    dedup_key: str  # see `dedup_key()`; unique per (incident, transition, channel)
    duration: float | None = None  # seconds down; `at - since` when not given
    error_kind: str | None = None  # the first failing check's error kind ...
    error: str | None = None  # ... and message
    http_status: int | None = None
    # A grouped message (`GroupedMessage.as_alert`): one line per monitor. The
    # `monitor_name` then names the group ("7 monitors") and `error` lists names.
    grouped: tuple[str, ...] = ()

    @property
    def incident_key(self) -> str:
        """The same for every message of an incident: PagerDuty's `dedup_key`,
        Opsgenie's `alias`, so a resolve closes the alert the trigger opened."""
        return f"uptrack-{self.incident_id}"

    @property
    def downtime(self) -> float:
        return self.duration if self.duration is not None else max(0.0, self.at - self.since)

    @property
    def cause(self) -> str | None:
        """What failed, in the probe's words."""
        return self.error or self.error_kind

    @property
    def title(self) -> str:
        """A short title without emoji: `Website is DOWN`."""
        if self.grouped:
            return f"{self.monitor_name} are {'DOWN' if self.event == 'down' else 'UP again'}"
        if self.event == "down":
            return f"{self.monitor_name} is DOWN"
        if self.event == "reminder":
            return f"{self.monitor_name} is still DOWN"
        if self.event == "up":
            return f"{self.monitor_name} is UP"
        return "Test notification from Uptrack"

    @property
    def headline(self) -> str:
        """The title with its emoji: `🔴 Website is DOWN`."""
        return f"{EMOJI[self.event]} {self.title}"

    @property
    def text(self) -> str:
        """The one-line message: `🔴 Website is DOWN — status 503 (since 12:00:03 UTC)`."""
        if self.grouped:
            return f"{self.headline}: {self.error}"
        since = format_time(self.since, relative_to=self.at)
        cause = f" — {self.cause}" if self.cause else ""
        if self.event == "down":
            return f"🔴 {self.monitor_name} is DOWN{cause} (since {since})"
        if self.event == "reminder":
            span = format_span(self.downtime)
            return f"🔴 {self.monitor_name} is still DOWN after {span}{cause} (since {since})"
        if self.event == "up":
            return f"✅ {self.monitor_name} is UP again after {format_span(self.downtime)}"
        return "🔔 Test notification from Uptrack: this channel works"

    def details(self) -> list[tuple[str, str]]:
        """Labelled facts for the body of richer formats (fields, fact sets, email)."""
        if self.event == "test":
            return [("Sent at", format_time(self.at)), ("Dashboard", self.link)]
        if self.grouped:
            shown = list(self.grouped[:GROUP_LINES])
            if len(self.grouped) > GROUP_LINES:
                shown.append(f"… and {len(self.grouped) - GROUP_LINES} more")
            return [("Monitors", "\n".join(shown)), ("At", format_time(self.at))]
        facts = [("Monitor", f"{self.monitor_name} ({self.monitor_kind})"), ("Target", self.target)]
        if self.cause:
            facts.append(("Cause", self.cause))
        if self.http_status is not None:
            facts.append(("HTTP status", str(self.http_status)))
        facts.append(("Down since", format_time(self.since)))
        if self.event in ("up", "reminder"):
            facts.append(("Downtime", format_span(self.downtime)))
        facts.append(("Incident", self.incident_id))
        return facts


def make_test_message(*, channel_id: str, public_url: str, at: float) -> AlertMessage:
    """The message `POST /api/v1/channels/<id>/test` sends: no monitor, no incident."""
    incident = f"test-{int(at * 1000)}"
    return AlertMessage(
        monitor_id="test",
        monitor_name="Uptrack",
        monitor_kind="test",
        target=public_url,
        event="test",
        incident_id=incident,
        since=at,
        at=at,
        link=public_url,
        dedup_key=dedup_key(incident, "test", channel_id),
    )


class GroupedMessage(msgspec.Struct, frozen=True, kw_only=True):
    """Many monitors on one channel changing the same way at once, as one message."""

    event: Literal["down", "up"]
    messages: tuple[AlertMessage, ...]
    at: float
    link: str  # the dashboard's overview page
    dedup_key: str

    @property
    def title(self) -> str:
        state = "DOWN" if self.event == "down" else "UP again"
        return f"{len(self.messages)} monitors are {state}"

    @property
    def headline(self) -> str:
        return f"{EMOJI[self.event]} {self.title}"

    def text(self, *, listed: int = 5) -> str:
        """`🔴 7 monitors are DOWN: A, B, C, D, E and 2 more`."""
        names = [m.monitor_name for m in self.messages[:listed]]
        more = len(self.messages) - len(names)
        tail = f" and {more} more" if more > 0 else ""
        return f"{self.headline}: {', '.join(names)}{tail}"

    def lines(self) -> list[str]:
        """One line per monitor: `Website — status 503` / `Website — down 5m 12s`."""
        if self.event == "down":
            return [f"{m.monitor_name} — {m.cause or 'failing'}" for m in self.messages]
        return [f"{m.monitor_name} — was down {format_span(m.downtime)}" for m in self.messages]

    def as_alert(self) -> AlertMessage:
        """The group as one AlertMessage, which every channel kind can send: its title
        is `7 monitors are DOWN`, its text names the first five, its details list all."""
        first = min(self.messages, key=lambda m: m.since)
        return AlertMessage(
            monitor_id="group",
            monitor_name=f"{len(self.messages)} monitors",
            monitor_kind="group",
            target=", ".join(m.monitor_name for m in self.messages[:5]),
            event=self.event,
            incident_id=self.dedup_key.removeprefix("uptrack-"),
            since=first.since,
            at=self.at,
            link=self.link,
            dedup_key=self.dedup_key,
            error=self.text().partition(": ")[2],
            grouped=tuple(self.lines()),
        )
