"""The `Store` interface every database implementation provides (DESIGN §5).

Methods are synchronous and thread-safe; async code calls them through
`Store.call`, which runs them in a worker thread under the store's limiter so
nothing blocks the event loop.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Generic, ParamSpec, TypeVar

import msgspec
import trio

from uptrack.alerts.records import (
    AlertJob,
    ChannelSpec,
    Delivery,
    DeliveryStatus,
    Incident,
    IncidentState,
    OutboxCounts,
    Outcome,
    StoredChannel,
)
from uptrack.alerts.windows import Maintenance, MaintenanceSpec
from uptrack.heartbeats import HeartbeatState, PingKind
from uptrack.model import (
    ApiToken,
    Monitor,
    MonitorChanges,
    MonitorSpec,
    MonitorState,
    Result,
    Scope,
    Transition,
    Uptime,
)
from uptrack.store.rollups import RetentionReport, Rollup, RollupReport

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Page(msgspec.Struct, Generic[T], frozen=True):
    """One page of a list and the opaque cursor of the next page (None at the end)."""

    items: list[T]
    next: str | None


class ApplyPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Changes `uptrack apply` makes in one transaction."""

    create: list[MonitorSpec] = []
    update: list[tuple[str, MonitorSpec]] = []  # (monitor id, new spec)
    delete: list[str] = []  # monitor ids


class Store(abc.ABC):
    """Monitors, results, state and tokens. Same behaviour on every database."""

    def __init__(self, *, max_threads: int = 4) -> None:
        self.limiter = trio.CapacityLimiter(max_threads)

    async def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run a store method in a worker thread; abandons the thread on cancellation."""
        return await trio.to_thread.run_sync(
            lambda: fn(*args, **kwargs), limiter=self.limiter, abandon_on_cancel=True
        )

    # -- lifecycle -------------------------------------------------------------
    @abc.abstractmethod
    def migrate(self) -> int:
        """Apply pending migrations; return the schema version. Raises SchemaTooNew."""

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- monitors --------------------------------------------------------------
    @abc.abstractmethod
    def create_monitor(self, spec: MonitorSpec, *, now: float) -> Monitor:
        """Store a new monitor. Raises Conflict when the name is taken."""

    @abc.abstractmethod
    def update_monitor(self, monitor_id: str, spec: MonitorSpec, *, now: float) -> Monitor:
        """Replace a monitor's definition (version + 1). Raises NotFound, Conflict."""

    @abc.abstractmethod
    def delete_monitor(self, monitor_id: str) -> None:
        """Delete a monitor with its state and results. Raises NotFound."""

    @abc.abstractmethod
    def apply_monitors(self, plan: ApplyPlan, *, now: float) -> None:
        """Create, update and delete in one transaction: all of it or nothing."""

    @abc.abstractmethod
    def get_monitor(self, monitor_id: str) -> Monitor:
        """Raises NotFound."""

    @abc.abstractmethod
    def list_monitors(self, *, after: str | None = None, limit: int = 100) -> Page[Monitor]:
        """Monitors by name; `after` is a cursor from a previous page."""

    @abc.abstractmethod
    def all_monitors(self) -> list[Monitor]: ...

    @abc.abstractmethod
    def changes_since(self, cursor: int) -> MonitorChanges:
        """Monitors created, updated or deleted after `cursor` (0 = everything).

        `changes_since(0)` lists every monitor as changed and none as deleted. The
        change log is kept for an hour; raises ChangesExpired for an older cursor."""

    # -- results and state -----------------------------------------------------
    @abc.abstractmethod
    def record_results(self, results: Sequence[Result]) -> list[Transition]:
        """Insert results, dropping any whose (monitor_id, slot) is stored already,
        and advance the state of each monitor by the results that were new, in slot
        order, in the same transaction. Results of deleted monitors are dropped.
        Returns the status transitions that happened."""

    @abc.abstractmethod
    def get_state(self, monitor_id: str) -> MonitorState:
        """State of a monitor (a pending state if it was never checked)."""

    @abc.abstractmethod
    def get_states(self, monitor_ids: Sequence[str]) -> dict[str, MonitorState]: ...

    @abc.abstractmethod
    def list_results(
        self, monitor_id: str, *, before: str | None = None, limit: int = 100
    ) -> Page[Result]:
        """Results newest first; `before` is a cursor from a previous page."""

    def uptime(self, monitor_id: str, *, since: float, until: float) -> Uptime:
        """Uptime over results whose scheduled time is in [since, until). Raises NotFound.

        Windows up to two days are read from raw results; longer ones from rollups
        where the hours and days are rolled up (see `uptrack.store.rollups`). A
        result's `scheduled_at` is its slot's due time (`slots.slot_time`); stores
        may find results by slot."""
        self.get_monitor(monitor_id)
        return self.uptimes([monitor_id], since=since, until=until)[monitor_id]

    @abc.abstractmethod
    def uptimes(
        self, monitor_ids: Sequence[str], *, since: float, until: float
    ) -> dict[str, Uptime]:
        """`uptime` of many monitors at once (a status list); an unknown id has no checks."""

    # -- rollups and retention ---------------------------------------------------
    @abc.abstractmethod
    def list_rollups(
        self, monitor_id: str, *, span: int, since: float, until: float
    ) -> list[Rollup]:
        """A monitor's rollups of `span` (HOUR or DAY) starting in [since, until),
        oldest first. Raises NotFound."""

    @abc.abstractmethod
    def roll_up(self, until: float) -> RollupReport:
        """Aggregate every hour that ended at or before `until` and is not rolled up
        yet, then every UTC day whose hours all are; roll up again the hours (and
        their days) that received results after they were rolled up. Idempotent, and
        safe while results are written and on several nodes at once."""

    @abc.abstractmethod
    def apply_retention(
        self, now: float, *, results_for: float, rollups_for: float
    ) -> RetentionReport:
        """Delete raw results of the UTC days that ended `results_for` seconds before
        `now` (whole days, and never an hour not rolled up yet) and rollups older than
        `rollups_for`. Results for the deleted days are refused from then on."""

    @abc.abstractmethod
    def create_partitions(self, now: float, *, days_ahead: int = 2) -> int:
        """Prepare storage for the results of today and `days_ahead` more days
        (PostgreSQL: a partition per UTC day); returns how many were created."""

    # -- API tokens ------------------------------------------------------------
    @abc.abstractmethod
    def create_token(
        self,
        *,
        name: str,
        scope: Scope,
        secret_sha256: str,
        prefix: str,
        now: float,
        expires_at: float | None,
    ) -> ApiToken: ...

    @abc.abstractmethod
    def find_token(self, secret_sha256: str) -> ApiToken | None:
        """The token with this hash, whether or not it is expired or revoked."""

    @abc.abstractmethod
    def list_tokens(self) -> list[ApiToken]: ...

    @abc.abstractmethod
    def revoke_token(self, token_id: str, *, now: float) -> ApiToken:
        """Raises NotFound."""

    @abc.abstractmethod
    def touch_token(self, token_id: str, *, now: float) -> None:
        """Record a use (callers rate-limit this, it is not on every request)."""

    # -- alerts (DESIGN §6; implemented once: store/alert_store.py, outbox_store.py) --
    # Transitions open and resolve incidents and queue outbox rows inside
    # `record_results` (`alert_rows.commit_transitions`); these are the rest.
    @abc.abstractmethod
    def create_channel(self, spec: ChannelSpec, *, now: float) -> StoredChannel:
        """Raises Conflict when the name is taken."""

    @abc.abstractmethod
    def update_channel(self, channel_id: str, spec: ChannelSpec, *, now: float) -> StoredChannel:
        """Raises NotFound; Conflict when the name is taken, or when monitors name the
        channel and it would be renamed."""

    @abc.abstractmethod
    def delete_channel(self, channel_id: str) -> None:
        """Delete a channel and its outbox rows. Raises NotFound; Conflict while
        monitors name it."""

    @abc.abstractmethod
    def get_channel(self, channel_id: str) -> StoredChannel:
        """Raises NotFound."""

    @abc.abstractmethod
    def list_channels(self) -> list[StoredChannel]:
        """Every channel, by name."""

    @abc.abstractmethod
    def create_maintenance(self, spec: MaintenanceSpec, *, now: float) -> Maintenance: ...

    @abc.abstractmethod
    def update_maintenance(
        self, maintenance_id: str, spec: MaintenanceSpec, *, now: float
    ) -> Maintenance:
        """Raises NotFound."""

    @abc.abstractmethod
    def delete_maintenance(self, maintenance_id: str) -> None:
        """Raises NotFound."""

    @abc.abstractmethod
    def get_maintenance(self, maintenance_id: str) -> Maintenance:
        """Raises NotFound."""

    @abc.abstractmethod
    def list_maintenances(self) -> list[Maintenance]: ...

    @abc.abstractmethod
    def list_incidents(
        self,
        *,
        monitor_id: str | None = None,
        state: IncidentState | None = None,
        since: float | None = None,
        until: float | None = None,
        before: str | None = None,
        limit: int = 100,
    ) -> Page[Incident]:
        """Incidents newest first, those overlapping [since, until) when given;
        `before` is a cursor from a previous page."""

    @abc.abstractmethod
    def get_incident(self, incident_id: str) -> Incident:
        """Raises NotFound."""

    @abc.abstractmethod
    def acknowledge_incident(self, incident_id: str, *, by: str, now: float) -> Incident:
        """The first acknowledgement stands; no more reminders. Raises NotFound."""

    @abc.abstractmethod
    def list_deliveries(
        self,
        *,
        status: DeliveryStatus | None = None,
        incident_id: str | None = None,
        before: str | None = None,
        limit: int = 100,
    ) -> Page[Delivery]:
        """Outbox rows newest first."""

    @abc.abstractmethod
    def claim_deliveries(
        self, *, node: str, now: float, lock_for: float, limit: int, group_window: float
    ) -> list[AlertJob]:
        """Claim due outbox rows until `now + lock_for` (rows whose claim expired are
        due again). PostgreSQL skips rows other deliverers hold."""

    @abc.abstractmethod
    def settle_deliveries(self, outcomes: Sequence[Outcome], *, node: str, now: float) -> None:
        """Record sent, retry-later and dead outcomes of claimed rows."""

    @abc.abstractmethod
    def retry_delivery(self, delivery_id: int, *, now: float) -> Delivery:
        """Make a dead row pending again. Raises NotFound; Conflict unless it is dead."""

    @abc.abstractmethod
    def outbox_counts(self) -> OutboxCounts: ...

    @abc.abstractmethod
    def prune_deliveries(self, *, before: float) -> int:
        """Delete sent and dead rows created before `before`."""

    @abc.abstractmethod
    def schedule_reminders(self, *, now: float) -> int:
        """Queue due reminders of open, unacknowledged incidents; returns how many."""

    # -- heartbeat monitors (uptrack.heartbeats) ---------------------------------
    # Saving a heartbeat monitor gives it a ping token when it has none
    # (`heartbeats.with_token`) and keeps its ping record in step: a new token, a
    # resume or becoming a heartbeat monitor starts its wait for pings afresh. A
    # token another heartbeat monitor uses raises Conflict.
    @abc.abstractmethod
    def record_ping(
        self, token_sha256: str, kind: PingKind, exit_code: int | None, body: str, at: float
    ) -> bool:
        """Record a ping of the monitor whose token has this SHA-256 (hex); False when
        no monitor has it. One indexed statement either way. `body` (at most
        `heartbeats.MAX_BODY` bytes, NUL kept out) replaces the last ping's."""

    @abc.abstractmethod
    def get_heartbeat(self, token_sha256: str) -> HeartbeatState | None:
        """The ping record of the monitor whose token has this SHA-256, or None."""
