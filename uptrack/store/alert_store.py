"""The alerting half of the `Store` interface, the same on both databases.

`SqliteAlerts` and `PostgresAlerts` are mixed into the two stores; each gives the
shared methods its transactions and its dialect (`alert_rows`).
"""

from __future__ import annotations

import base64
import binascii
import math
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg.errors

from uptrack.alerts.records import (
    ChannelSpec,
    Incident,
    IncidentState,
    StoredChannel,
)
from uptrack.alerts.windows import Maintenance, MaintenanceSpec
from uptrack.errors import Conflict, FieldError, InvalidInput, NotFound
from uptrack.store import alert_rows as ar
from uptrack.store import rules
from uptrack.store.base import Page
from uptrack.store.outbox_store import OutboxStore

_BAD_CURSOR = "is not a cursor from a previous page"


class AlertStore(OutboxStore):
    """Channels, maintenance windows and incidents; the outbox (`OutboxStore`)."""

    _unique_violation: ClassVar[type[Exception]]

    # -- channels --------------------------------------------------------------
    def create_channel(self, spec: ChannelSpec, *, now: float) -> StoredChannel:
        channel = StoredChannel(
            id=uuid.uuid4().hex,
            name=spec.name,
            kind=spec.kind,
            settings=spec.settings,
            tags=spec.tags,
            created_at=now,
            updated_at=now,
        )
        with self._alerts_tx(True) as db, self._name_taken(spec.name):
            self._check_channel_name(db, spec.name, None)
            marks = ", ".join("?" * 7)
            ar.run(
                db,
                self._dialect,
                f"INSERT INTO channels ({ar.CHANNEL}) VALUES ({marks})",
                ar.channel_params(channel),
            )
        return channel

    def update_channel(self, channel_id: str, spec: ChannelSpec, *, now: float) -> StoredChannel:
        with self._alerts_tx(True) as db, self._name_taken(spec.name):
            old = self._channel(db, channel_id)
            if spec.name != old.name:
                self._check_unused(db, old.name, "renamed")
                self._check_channel_name(db, spec.name, channel_id)
            channel = StoredChannel(
                id=old.id,
                name=spec.name,
                kind=spec.kind,
                settings=spec.settings,
                tags=spec.tags,
                created_at=old.created_at,
                updated_at=now,
            )
            ar.run(
                db,
                self._dialect,
                "UPDATE channels SET name = ?, kind = ?, settings = ?, tags = ?, updated_at = ?"
                " WHERE id = ?",
                (*ar.channel_params(channel)[1:5], now, channel_id),
            )
        return channel

    def delete_channel(self, channel_id: str) -> None:
        with self._alerts_tx(True) as db:
            old = self._channel(db, channel_id)
            self._check_unused(db, old.name, "deleted")
            d = self._dialect
            ar.run(db, d, "DELETE FROM channels WHERE id = ?", (channel_id,))
            ar.run(db, d, "DELETE FROM outbox WHERE channel_id = ?", (channel_id,))

    def get_channel(self, channel_id: str) -> StoredChannel:
        with self._alerts_tx(False) as db:
            return self._channel(db, channel_id)

    def list_channels(self) -> list[StoredChannel]:
        with self._alerts_tx(False) as db:
            sql = f"SELECT {ar.CHANNEL} FROM channels ORDER BY name"
            return [ar.channel_row(r) for r in ar.run(db, self._dialect, sql).fetchall()]

    def _channel(self, db: ar.Db, channel_id: str) -> StoredChannel:
        sql = f"SELECT {ar.CHANNEL} FROM channels WHERE id = ?"
        row = ar.run(db, self._dialect, sql, (channel_id,)).fetchone()
        if row is None:
            raise NotFound(f"no channel has the id {channel_id!r}")
        return ar.channel_row(row)

    def _check_channel_name(self, db: ar.Db, name: str, channel_id: str | None) -> None:
        sql = "SELECT id FROM channels WHERE name = ?"
        row = ar.run(db, self._dialect, sql, (name,)).fetchone()
        if row is not None and row[0] != channel_id:
            raise Conflict(f"a channel named {name!r} exists already")

    def _check_unused(self, db: ar.Db, name: str, verb: str) -> None:
        """Monitors name their channels: one they name cannot go away under them."""
        d = self._dialect
        sql = f"SELECT name FROM monitors WHERE {d.json_has('channels')} ORDER BY name LIMIT 6"
        users = [r[0] for r in ar.run(db, d, sql, (name,)).fetchall()]
        if users:
            shown = ", ".join(repr(u) for u in users[:5]) + (" …" if len(users) > 5 else "")
            raise Conflict(
                f"the channel {name!r} cannot be {verb} while monitors name it ({shown}):"
                " remove it from their channels first"
            )

    @contextmanager
    def _name_taken(self, name: str) -> Iterator[None]:
        try:
            yield
        except self._unique_violation:
            raise Conflict(f"a channel named {name!r} exists already") from None

    # -- maintenance windows ---------------------------------------------------
    def create_maintenance(self, spec: MaintenanceSpec, *, now: float) -> Maintenance:
        window = Maintenance(id=uuid.uuid4().hex, spec=spec, created_at=now, updated_at=now)
        with self._alerts_tx(True) as db:
            ar.run(
                db,
                self._dialect,
                "INSERT INTO maintenances (id, name, definition, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (window.id, spec.name, ar.json_text(spec), now, now),
            )
        return window

    def update_maintenance(
        self, maintenance_id: str, spec: MaintenanceSpec, *, now: float
    ) -> Maintenance:
        with self._alerts_tx(True) as db:
            old = self._maintenance(db, maintenance_id)
            ar.run(
                db,
                self._dialect,
                "UPDATE maintenances SET name = ?, definition = ?, updated_at = ? WHERE id = ?",
                (spec.name, ar.json_text(spec), now, maintenance_id),
            )
        return Maintenance(id=old.id, spec=spec, created_at=old.created_at, updated_at=now)

    def delete_maintenance(self, maintenance_id: str) -> None:
        with self._alerts_tx(True) as db:
            sql = "DELETE FROM maintenances WHERE id = ?"
            if ar.run(db, self._dialect, sql, (maintenance_id,)).rowcount == 0:
                raise NotFound(f"no maintenance window has the id {maintenance_id!r}")

    def get_maintenance(self, maintenance_id: str) -> Maintenance:
        with self._alerts_tx(False) as db:
            return self._maintenance(db, maintenance_id)

    def list_maintenances(self) -> list[Maintenance]:
        with self._alerts_tx(False) as db:
            sql = f"SELECT {ar.MAINTENANCE} FROM maintenances ORDER BY created_at, id"
            return [ar.maintenance_row(r) for r in ar.run(db, self._dialect, sql).fetchall()]

    def _maintenance(self, db: ar.Db, maintenance_id: str) -> Maintenance:
        sql = f"SELECT {ar.MAINTENANCE} FROM maintenances WHERE id = ?"
        row = ar.run(db, self._dialect, sql, (maintenance_id,)).fetchone()
        if row is None:
            raise NotFound(f"no maintenance window has the id {maintenance_id!r}")
        return ar.maintenance_row(row)

    # -- incidents -------------------------------------------------------------
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
        """Incidents newest first; `since`/`until` keep those overlapping the window."""
        rules.check_limit(limit)
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if monitor_id is not None:
            where.append("monitor_id = ?")
            params.append(monitor_id)
        if state is not None:
            where.append("resolved_at IS NULL" if state == "open" else "resolved_at IS NOT NULL")
        if since is not None:
            where.append("(resolved_at IS NULL OR resolved_at >= ?)")
            params.append(since)
        if until is not None:
            where.append("started_at < ?")
            params.append(until)
        if before is not None:
            started, incident_id = _parse_incident_cursor(before)
            where.append("(started_at < ? OR (started_at = ? AND id < ?))")
            params.extend((started, started, incident_id))
        sql = (
            f"SELECT {ar.INCIDENT} FROM incidents WHERE {' AND '.join(where)}"
            " ORDER BY started_at DESC, id DESC LIMIT ?"
        )
        with self._alerts_tx(False) as db:
            found = ar.run(db, self._dialect, sql, [*params, limit + 1]).fetchall()
        items = [ar.incident_row(r) for r in found[:limit]]
        more = len(found) > limit
        return Page(items=items, next=_incident_cursor(items[-1]) if more else None)

    def get_incident(self, incident_id: str) -> Incident:
        with self._alerts_tx(False) as db:
            return self._incident(db, incident_id)

    def acknowledge_incident(self, incident_id: str, *, by: str, now: float) -> Incident:
        """Record who answered (the first acknowledgement stands); stops reminders."""
        d = self._dialect
        with self._alerts_tx(True) as db:
            ar.run(
                db,
                d,
                "UPDATE incidents SET acknowledged_at = coalesce(acknowledged_at, ?),"
                " acknowledged_by = coalesce(acknowledged_by, ?) WHERE id = ?",
                (now, by, incident_id),
            )
            incident = self._incident(db, incident_id)
            ar.run(db, d, ar.DROP_REMINDERS, (incident_id,))
        return incident

    def _incident(self, db: ar.Db, incident_id: str) -> Incident:
        sql = f"SELECT {ar.INCIDENT} FROM incidents WHERE id = ?"
        row = ar.run(db, self._dialect, sql, (incident_id,)).fetchone()
        if row is None:
            raise NotFound(f"no incident has the id {incident_id!r}")
        return ar.incident_row(row)


def _incident_cursor(incident: Incident) -> str:
    raw = f"{incident.started_at!r}/{incident.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_incident_cursor(cursor: str) -> tuple[float, str]:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        started, _, incident_id = raw.decode().partition("/")
        value = float(started)
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidInput([FieldError("cursor", _BAD_CURSOR)]) from None
    if not incident_id or not math.isfinite(value):
        raise InvalidInput([FieldError("cursor", _BAD_CURSOR)])
    return value, incident_id


class SqliteAlerts(AlertStore):
    """Alerting on SQLite: one writer at a time, so claims need no row locks."""

    _dialect = ar.SQLITE
    _unique_violation = sqlite3.IntegrityError

    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _read(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def _alerts_tx(self, write: bool) -> AbstractContextManager[ar.Db]:
        return self._write() if write else self._read()


class PostgresAlerts(AlertStore):
    """Alerting on PostgreSQL: deliverers claim rows with FOR UPDATE SKIP LOCKED."""

    _dialect = ar.POSTGRES
    _unique_violation = psycopg.errors.UniqueViolation

    if TYPE_CHECKING:

        def _transaction(self) -> AbstractContextManager[psycopg.Connection[Any]]: ...

    def _alerts_tx(self, write: bool) -> AbstractContextManager[ar.Db]:
        return self._transaction()
