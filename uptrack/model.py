"""Domain objects that travel between packages: monitors, results, state, tokens."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Status = Literal["pending", "up", "down", "paused", "maintenance"]
Scope = Literal["read", "write", "admin"]

# Error kinds a probe may report. `internal` is a bug or library failure inside the
# check itself; everything else describes the target.
ERROR_KINDS = (
    "timeout",
    "dns",
    "refused",
    "network",
    "tls",
    "status",
    "keyword",
    "protocol",
    "too_large",
    "assertion",
    "heartbeat",  # a push monitor's ping is late or reported a failure
    "internal",
)


class MonitorSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What a user asks to be monitored: validated input, before it has an id."""

    name: str
    kind: str
    target: str
    interval: int
    timeout: float
    retries: int = 2
    retry_delay: float = 3.0
    down_after: int = 1
    up_after: int = 1
    paused: bool = False
    # Kind-specific settings exactly as the user gave them (validated against the
    # kind's settings struct); defaults are not written in, so later releases can
    # improve a default without rewriting stored monitors.
    settings: dict[str, Any] = {}
    # -- alerting (DESIGN §6) --
    tags: list[str] = []  # labels: channels and maintenance windows select by them
    channels: list[str] = []  # names of the channels this monitor alerts
    remind_every: float | None = None  # seconds between reminders while down


class Monitor(msgspec.Struct, frozen=True, kw_only=True):
    """A stored monitor."""

    id: str
    name: str
    kind: str
    target: str
    interval: int
    timeout: float
    retries: int
    retry_delay: float
    down_after: int
    up_after: int
    paused: bool
    settings: dict[str, Any]
    shard: int
    version: int
    created_at: float
    updated_at: float
    # -- alerting (DESIGN §6) --
    tags: list[str] = []
    channels: list[str] = []
    remind_every: float | None = None

    def spec(self) -> MonitorSpec:
        return MonitorSpec(
            name=self.name,
            kind=self.kind,
            target=self.target,
            interval=self.interval,
            timeout=self.timeout,
            retries=self.retries,
            retry_delay=self.retry_delay,
            down_after=self.down_after,
            up_after=self.up_after,
            paused=self.paused,
            settings=self.settings,
            tags=self.tags,
            channels=self.channels,
            remind_every=self.remind_every,
        )


class Timings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Phase timings of one attempt, in milliseconds; None where a phase did not run."""

    dns: float | None = None
    connect: float | None = None
    tls: float | None = None
    ttfb: float | None = None
    total: float | None = None


class Observation(msgspec.Struct, frozen=True, kw_only=True):
    """What one probe attempt saw. Probes return this; they never raise for target faults."""

    ok: bool
    error_kind: str | None = None
    error: str | None = None
    http_status: int | None = None
    ip: str | None = None
    timings: Timings = Timings()
    # What the kind saw beyond the common fields (days left, answers, RTTs, the
    # certificate chain, assertion outcomes): JSON-able values, bounded in size.
    details: dict[str, Any] | None = None


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one slot of one monitor: the last attempt, with the attempt count."""

    monitor_id: str
    slot: int
    scheduled_at: float  # Unix seconds the slot was due
    started_at: float  # Unix seconds the first attempt started
    duration_ms: float  # of the last attempt
    ok: bool
    error_kind: str | None
    error: str | None
    http_status: int | None
    ip: str | None
    timings: Timings
    attempts: int
    node: str
    epoch: int = 0  # fencing token of the shard claim the check ran under
    details: dict[str, Any] | None = None  # the last attempt's Observation.details


class MonitorState(msgspec.Struct, frozen=True, kw_only=True):
    """The evaluated state of a monitor (one row per monitor)."""

    monitor_id: str
    status: Status = "pending"
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    last_slot: int | None = None
    last_checked_at: float | None = None
    last_ok: bool | None = None
    changed_at: float | None = None
    version: int = 0


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    """A change of a monitor's status, produced by the evaluator."""

    monitor_id: str
    slot: int
    from_status: Status
    to_status: Status
    at: float
    error_kind: str | None = None
    error: str | None = None


class Uptime(msgspec.Struct, frozen=True, kw_only=True):
    """Uptime of one monitor over a window."""

    window_start: float
    window_end: float
    checks: int
    good: int
    failed: int
    fraction: float | None  # good / checks; None when nothing was checked
    mean_ms: float | None
    p95_ms: float | None


class ApiToken(msgspec.Struct, frozen=True, kw_only=True):
    """A stored API token; the secret itself is never stored, only its SHA-256."""

    id: str
    name: str
    scope: Scope
    prefix: str  # the first characters of the token, to recognise it in lists
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used_at: float | None = None


class MonitorChanges(msgspec.Struct, frozen=True, kw_only=True):
    """Monitors changed since a change cursor, and the cursor to continue from."""

    changed: list[Monitor]
    deleted: list[str]
    cursor: int
