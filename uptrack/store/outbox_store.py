"""The outbox half of the alerting store: listing, claiming, settling rows; reminders.

Mixed into the stores through `alert_store.AlertStore`, which gives it its
transactions and dialect.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from uptrack.alerts.incidents import message_for, routes_for
from uptrack.alerts.records import (
    AlertJob,
    Delivery,
    DeliveryStatus,
    Incident,
    OutboxCounts,
    Outcome,
    decode_payload,
)
from uptrack.errors import Conflict, NotFound
from uptrack.model import Monitor
from uptrack.store import alert_rows as ar
from uptrack.store import rules
from uptrack.store.base import Page
from uptrack.store.sqlite_rows import monitor_row


class OutboxStore:
    """Outbox rows (deliveries) and the reminders that add to them."""

    _dialect: ClassVar[ar.Dialect]

    def _alerts_tx(self, write: bool) -> AbstractContextManager[ar.Db]:
        raise NotImplementedError

    # -- the outbox ------------------------------------------------------------
    def list_deliveries(
        self,
        *,
        status: DeliveryStatus | None = None,
        incident_id: str | None = None,
        before: str | None = None,
        limit: int = 100,
    ) -> Page[Delivery]:
        """Outbox rows newest first."""
        rules.check_limit(limit)
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if incident_id is not None:
            where.append("incident_id = ?")
            params.append(incident_id)
        if before is not None:
            where.append("id < ?")
            params.append(rules.parse_slot_cursor(before))
        sql = (
            f"SELECT {ar.DELIVERY} FROM outbox WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?"
        )
        with self._alerts_tx(False) as db:
            found = ar.run(db, self._dialect, sql, [*params, limit + 1]).fetchall()
        items = [ar.delivery_row(r) for r in found[:limit]]
        more = len(found) > limit
        return Page(items=items, next=str(items[-1].id) if more else None)

    def claim_deliveries(
        self, *, node: str, now: float, lock_for: float, limit: int, group_window: float
    ) -> list[AlertJob]:
        """Take up to `limit` due rows for `node` until `now + lock_for`.

        Due: pending rows whose time has come, and rows another deliverer claimed
        whose lock expired (it died or hung). A row waits while an older row of the
        same incident and channel is undelivered, so `up` never overtakes `down`.
        Each claim counts as an attempt."""
        d = self._dialect
        due = (
            "SELECT o.id FROM outbox o WHERE o.status IN ('pending', 'sending')"
            " AND o.next_attempt_at <= ? AND NOT EXISTS (SELECT 1 FROM outbox p"
            " WHERE p.incident_id = o.incident_id AND p.channel_id = o.channel_id"
            " AND p.id < o.id AND p.status IN ('pending', 'sending'))"
            f" ORDER BY o.next_attempt_at, o.id LIMIT ?{d.skip_locked}"
        )
        until = now + lock_for
        width = len(Delivery.__struct_fields__)
        with self._alerts_tx(True) as db:
            ids = [r[0] for r in ar.run(db, d, due, (now, limit)).fetchall()]
            if not ids:
                return []
            where, args = d.in_list("id", ids)
            ar.run(
                db,
                d,
                "UPDATE outbox SET status = 'sending', attempts = attempts + 1,"
                f" locked_by = ?, locked_until = ?, next_attempt_at = ? WHERE {where}",
                [node, until, until, *args],
            )
            where, args = d.in_list("o.id", ids)
            claimed = ar.run(
                db,
                d,
                f"SELECT {ar.DELIVERY_O}, o.payload, c.kind, c.name, c.settings"
                f" FROM outbox o LEFT JOIN channels c ON c.id = o.channel_id WHERE {where}"
                " ORDER BY o.id",
                args,
            ).fetchall()
            bursts = self._bursts(
                db, [ar.delivery_row(row[:width]) for row in claimed], group_window
            )
        jobs = []
        for row in claimed:
            delivery = ar.delivery_row(row[:width])
            payload, kind, name, settings = row[width:]
            jobs.append(
                AlertJob(
                    delivery=delivery,
                    message=decode_payload(payload),
                    channel_kind=kind,
                    channel_name=name,
                    channel_settings=None if settings is None else rules.decode_settings(settings),
                    burst=bursts.get(delivery.id, 1),
                )
            )
        return jobs

    def _bursts(self, db: ar.Db, rows: list[Delivery], window: float) -> dict[int, int]:
        """For each row: the rows of its channel and event (down or up) created within
        `window` seconds of it, itself included (how grouping sees a storm)."""
        wanted = [r for r in rows if r.event in ("down", "up")]
        if not wanted:
            return {}
        d = self._dialect
        where, args = d.in_list("channel_id", sorted({r.channel_id for r in wanted}))
        low = min(r.created_at for r in wanted) - window
        high = max(r.created_at for r in wanted) + window
        times: dict[tuple[str, str], list[float]] = {}
        for channel_id, event, created_at in ar.run(
            db,
            d,
            "SELECT channel_id, event, created_at FROM outbox WHERE event IN ('down', 'up')"
            f" AND created_at >= ? AND created_at <= ? AND {where} ORDER BY created_at",
            [low, high, *args],
        ).fetchall():
            times.setdefault((channel_id, event), []).append(created_at)
        bursts = {}
        for r in wanted:
            near = times.get((r.channel_id, r.event), [])
            first = bisect.bisect_left(near, r.created_at - window)
            last = bisect.bisect_right(near, r.created_at + window)
            bursts[r.id] = last - first
        return bursts

    def settle_deliveries(self, outcomes: Sequence[Outcome], *, node: str, now: float) -> None:
        """Record how attempts ended: sent (whoever holds the row now: it went out),
        retried later or dead (only while the row is still this node's claim)."""
        sent = [(now, o.group_key, o.id) for o in outcomes if o.sent]
        retry = [
            (o.retry_at, (o.error or "")[:1000], o.group_key, o.id, node)
            for o in outcomes
            if not o.sent and o.retry_at is not None
        ]
        dead = [
            ((o.error or "")[:1000], o.group_key, o.id, node)
            for o in outcomes
            if not o.sent and o.retry_at is None
        ]
        d = self._dialect
        unlock = "locked_by = NULL, locked_until = NULL"
        with self._alerts_tx(True) as db:
            ar.run_many(
                db,
                d,
                f"UPDATE outbox SET status = 'sent', sent_at = ?, group_key = ?, {unlock}"
                " WHERE id = ? AND status <> 'sent'",
                sent,
            )
            ar.run_many(
                db,
                d,
                "UPDATE outbox SET status = 'pending', next_attempt_at = ?, last_error = ?,"
                f" group_key = ?, {unlock} WHERE id = ? AND status = 'sending' AND locked_by = ?",
                retry,
            )
            ar.run_many(
                db,
                d,
                f"UPDATE outbox SET status = 'dead', last_error = ?, group_key = ?, {unlock}"
                " WHERE id = ? AND status = 'sending' AND locked_by = ?",
                dead,
            )

    def retry_delivery(self, delivery_id: int, *, now: float) -> Delivery:
        """Send a dead row again: pending now, attempts from zero."""
        d = self._dialect
        with self._alerts_tx(True) as db:
            row = ar.run(
                db, d, f"SELECT {ar.DELIVERY} FROM outbox WHERE id = ?", (delivery_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no alert has the id {delivery_id}")
            if row[Delivery.__struct_fields__.index("status")] != "dead":
                raise Conflict(f"alert {delivery_id} is not dead: only dead alerts are retried")
            ar.run(
                db,
                d,
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?"
                " WHERE id = ?",
                (now, delivery_id),
            )
            row = ar.run(
                db, d, f"SELECT {ar.DELIVERY} FROM outbox WHERE id = ?", (delivery_id,)
            ).fetchone()
        return ar.delivery_row(row)

    def outbox_counts(self) -> OutboxCounts:
        with self._alerts_tx(False) as db:
            found = ar.run(
                db,
                self._dialect,
                "SELECT status, count(*) FROM outbox WHERE status IN ('pending', 'sending', 'dead')"
                " GROUP BY status",
            ).fetchall()
        counts = {row[0]: int(row[1]) for row in found}
        return OutboxCounts(
            pending=counts.get("pending", 0) + counts.get("sending", 0),
            dead=counts.get("dead", 0),
        )

    def prune_deliveries(self, *, before: float) -> int:
        """Delete sent and dead rows created before `before`; returns how many."""
        with self._alerts_tx(True) as db:
            sql = "DELETE FROM outbox WHERE status IN ('sent', 'dead') AND created_at < ?"
            return int(ar.run(db, self._dialect, sql, (before,)).rowcount)

    def schedule_reminders(self, *, now: float) -> int:
        """Queue a reminder for each open, unacknowledged incident of a monitor that is
        still down and has `remind_every`, once per period since it was confirmed
        (`reminder-<n>`: a node that was away sends the latest, not a backlog).
        Returns the incidents reminded about."""
        d = self._dialect
        monitor_cols = ", ".join("m." + f for f in Monitor.__struct_fields__)
        incident_cols = ", ".join("i." + f for f in Incident.__struct_fields__)
        due = (
            f"SELECT {incident_cols}, {monitor_cols} FROM incidents i"
            " JOIN monitors m ON m.id = i.monitor_id"
            " JOIN monitor_state s ON s.monitor_id = i.monitor_id AND s.status = 'down'"
            " WHERE i.resolved_at IS NULL AND i.acknowledged_at IS NULL AND NOT m.paused"
            " AND m.remind_every IS NOT NULL"
            " AND i.confirmed_at + (i.reminders + 1) * m.remind_every <= ?"
            " ORDER BY i.id" + (" FOR UPDATE OF i SKIP LOCKED" if d.skip_locked else "")
        )
        width = len(Incident.__struct_fields__)
        with self._alerts_tx(True) as db:
            found = ar.run(db, d, due, (now,)).fetchall()
            if not found:
                return 0
            routes = ar.load_routes(db, d)
            outbox: list[tuple[Any, ...]] = []
            counted: list[tuple[int, str, int]] = []
            for row in found:
                incident = ar.incident_row(row[:width])
                monitor = monitor_row(row[width:])
                assert monitor.remind_every is not None
                n = math.floor((now - incident.confirmed_at) / monitor.remind_every)
                transition = f"reminder-{n}"
                for route in routes_for(monitor, routes):
                    message = message_for(
                        monitor,
                        incident,
                        "reminder",
                        at=now,
                        transition=transition,
                        channel_id=route.id,
                    )
                    outbox.append(
                        ar.delivery_params(
                            message, channel_id=route.id, transition=transition, at=now
                        )
                    )
                counted.append((n, incident.id, n))
            ar.run_many(db, d, ar.INSERT_DELIVERY, outbox)
            ar.run_many(
                db, d, "UPDATE incidents SET reminders = ? WHERE id = ? AND reminders < ?", counted
            )
        return len(found)
