"""Alerting scenarios the store, deliverer and API tests share: monitors that route to
channels, and the results that take them down and up."""

from __future__ import annotations

from typing import Any

from uptrack.alerts.records import ChannelSpec, Outcome, StoredChannel
from uptrack.model import Monitor, MonitorSpec, Result, Timings
from uptrack.slots import latest_slot, phase_of, slot_time
from uptrack.store.base import Store

T0 = 1_714_564_800.0  # 2024-05-01T12:00:00Z


def make_channel(
    store: Store,
    name: str = "hook",
    *,
    kind: str = "webhook",
    url: str = "http://127.0.0.1:9/hook",
    tags: list[str] | None = None,
    settings: dict[str, Any] | None = None,
) -> StoredChannel:
    spec = ChannelSpec(name=name, kind=kind, settings=settings or {"url": url}, tags=tags or [])
    return store.create_channel(spec, now=T0)


def make_monitor(store: Store, name: str = "web", **fields: Any) -> Monitor:
    values: dict[str, Any] = {
        "kind": "http",
        "target": "https://example.org/",
        "interval": 60,
        "timeout": 10.0,
    }
    return store.create_monitor(MonitorSpec(name=name, **values | fields), now=T0)


def result(monitor: Monitor, k: int, *, ok: bool = True, **fields: Any) -> Result:
    """The result of the k-th slot of `monitor` after T0."""
    first = latest_slot(T0, monitor.interval, phase_of(monitor.id, monitor.interval))
    slot = first + k * monitor.interval * 1000
    values: dict[str, Any] = {
        "scheduled_at": slot_time(slot),
        "started_at": slot_time(slot) + 0.004,
        "duration_ms": 12.5,
        "ok": ok,
        "error_kind": None if ok else "status",
        "error": None if ok else f"status 503 not in 200-399 (slot {k})",
        "http_status": 200 if ok else 503,
        "ip": "192.0.2.1",
        "timings": Timings(total=12.5),
        "attempts": 1,
        "node": "node-a",
    }
    return Result(monitor_id=monitor.id, slot=slot, **values | fields)


def dead_alert(store: Store, now: float) -> tuple[StoredChannel, str, int]:
    """A channel routed by tag, a monitor that went down on it, and the down alert
    given up on: (channel, incident id, alert id)."""
    channel = make_channel(store, "paging", tags=["paging"])
    monitor = make_monitor(store, "paged", tags=["paging"])
    store.record_results([result(monitor, 1), result(monitor, 2, ok=False)])
    (job,) = store.claim_deliveries(node="a", now=now + 1e6, lock_for=20, limit=10, group_window=10)
    store.settle_deliveries(
        [Outcome(id=job.delivery.id, sent=False, error="gone")], node="a", now=now
    )
    assert job.delivery.incident_id is not None
    return channel, job.delivery.incident_id, job.delivery.id
