"""The JSON shapes the API answers with (DESIGN §7) and their encoding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from starlette.responses import Response

from uptrack import heartbeats
from uptrack.kinds import KindCatalog
from uptrack.model import Monitor, MonitorState, Result, Status, Uptime
from uptrack.secrets import redact


def rfc3339(unix: float) -> str:
    """`2024-05-01T12:00:00.250Z`: UTC, millisecond precision."""
    at = datetime.fromtimestamp(unix, UTC)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LastCheck(msgspec.Struct, frozen=True):
    slot: int
    at: str | None
    ok: bool | None


class MonitorDocument(msgspec.Struct, frozen=True, kw_only=True):
    """A monitor's common fields; kind settings are flattened in beside them."""

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
    status: Status
    shard: int
    version: int
    created_at: str
    updated_at: str
    last_check: LastCheck | None
    # -- alerting (DESIGN §6) --
    tags: list[str] = []
    channels: list[str] = []  # channel names
    remind_every: float | None = None  # seconds


class TimingsDocument(msgspec.Struct, frozen=True, kw_only=True):
    dns: float | None
    connect: float | None
    tls: float | None
    ttfb: float | None
    total: float | None


class ResultDocument(msgspec.Struct, frozen=True, kw_only=True):
    slot: int
    scheduled_at: str
    started_at: str
    ok: bool
    error_kind: str | None
    error: str | None
    duration_ms: float
    timings: TimingsDocument
    http_status: int | None
    ip: str | None
    attempts: int
    node: str
    details: Annotated[
        dict[str, Any] | None,
        msgspec.Meta(
            description="What the check saw beyond the common fields, by kind: the "
            "certificate chain (http, tls), answers (dns), round trips (icmp), assertion "
            "outcomes, the ping record (heartbeat). Null when the kind recorded nothing."
        ),
    ]


class UptimeDocument(msgspec.Struct, frozen=True, kw_only=True):
    window: str
    since: str
    until: str
    checks: int
    good: int
    failed: int
    uptime: float | None
    mean_ms: float | None
    p95_ms: float | None


class ListDocument(msgspec.Struct, frozen=True):
    """A page of a list; `next` is the cursor of the following page, null at the end."""

    items: Sequence[Any]
    next: str | None


class HealthDocument(msgspec.Struct, frozen=True):
    status: str
    node: str


class ReadinessDocument(msgspec.Struct, frozen=True):
    status: str
    node: str
    checks: dict[str, str]


def monitor_document(
    monitor: Monitor, state: MonitorState, kinds: KindCatalog, *, base_url: str | None = None
) -> dict[str, Any]:
    """The monitor as the API shows it: common fields, then its kind settings with
    every secret masked (`uptrack.secrets.redact`). A heartbeat monitor shows its
    `ping_url` (on `base_url`, the URL the API was reached at): it is the monitor's
    address, which its cron job needs, as healthchecks.io shows its ping URLs."""
    last_check = None
    if state.last_slot is not None:
        at = state.last_checked_at
        last_check = LastCheck(
            state.last_slot, rfc3339(at) if at is not None else None, state.last_ok
        )
    common = MonitorDocument(
        id=monitor.id,
        name=monitor.name,
        kind=monitor.kind,
        target=monitor.target,
        interval=monitor.interval,
        timeout=monitor.timeout,
        retries=monitor.retries,
        retry_delay=monitor.retry_delay,
        down_after=monitor.down_after,
        up_after=monitor.up_after,
        paused=monitor.paused,
        status="paused" if monitor.paused else state.status,
        shard=monitor.shard,
        version=monitor.version,
        created_at=rfc3339(monitor.created_at),
        updated_at=rfc3339(monitor.updated_at),
        last_check=last_check,
        tags=monitor.tags,
        channels=monitor.channels,
        remind_every=monitor.remind_every,
    )
    document: dict[str, Any] = msgspec.to_builtins(common)
    kind = kinds.get(monitor.kind)
    # Without its kind nothing says which settings are secret: show none of them.
    settings = redact(monitor.settings, kind) if kind is not None else {}
    # Validation keeps settings off the common names; should one slip through, the
    # common field wins so the document's fixed shape never changes meaning.
    for key, value in settings.items():
        document.setdefault(key, value)
    token = heartbeats.token_of(monitor)
    if token is not None and base_url is not None:
        document["ping_url"] = f"{base_url.rstrip('/')}/ping/{token}"
    return document


def result_document(result: Result) -> ResultDocument:
    t = result.timings
    return ResultDocument(
        slot=result.slot,
        scheduled_at=rfc3339(result.scheduled_at),
        started_at=rfc3339(result.started_at),
        ok=result.ok,
        error_kind=result.error_kind,
        error=result.error,
        duration_ms=result.duration_ms,
        timings=TimingsDocument(
            dns=t.dns, connect=t.connect, tls=t.tls, ttfb=t.ttfb, total=t.total
        ),
        http_status=result.http_status,
        ip=result.ip,
        attempts=result.attempts,
        node=result.node,
        details=result.details,
    )


def uptime_document(window: str, uptime: Uptime) -> UptimeDocument:
    return UptimeDocument(
        window=window,
        since=rfc3339(uptime.window_start),
        until=rfc3339(uptime.window_end),
        checks=uptime.checks,
        good=uptime.good,
        failed=uptime.failed,
        uptime=uptime.fraction,
        mean_ms=uptime.mean_ms,
        p95_ms=uptime.p95_ms,
    )


def json_response(
    document: msgspec.Struct | Mapping[str, Any],
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        msgspec.json.encode(document),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )
