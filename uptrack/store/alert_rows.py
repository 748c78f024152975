"""Alerting rows on both databases: the SQL, its two dialects, and what a transition writes.

SQLite and PostgreSQL connections share `execute(sql, params)`; statements are
written with `?` and the PostgreSQL dialect turns them into `%s`. What a state
change writes besides the state — maintenance, incidents, outbox rows — is
`commit_transitions`, called by both stores inside `record_results`' transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from uptrack.alerts.incidents import first_failure, message_for, open_incident, routes_for
from uptrack.alerts.message import AlertMessage, Event
from uptrack.alerts.records import (
    Delivery,
    Incident,
    Route,
    StoredChannel,
    encode_payload,
)
from uptrack.alerts.windows import Maintenance, MaintenanceSpec, apply_windows
from uptrack.model import Monitor, MonitorState, Result, Timings, Transition

Db = Any
"""A sqlite3 or psycopg connection inside a transaction."""

CHANNEL = "id, name, kind, settings, tags, created_at, updated_at"
INCIDENT = ", ".join(Incident.__struct_fields__)
DELIVERY = ", ".join(Delivery.__struct_fields__)
DELIVERY_O = ", ".join("o." + f for f in Delivery.__struct_fields__)
MAINTENANCE = "id, definition, created_at, updated_at"
_CHUNK = 500  # ids per IN list on SQLite


@dataclass(frozen=True)
class Dialect:
    """What differs between the two databases in the alerting statements."""

    name: str
    # After the due-rows query: PostgreSQL deliverers skip rows another node holds.
    skip_locked: str = ""

    def q(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.name == "postgres" else sql

    def in_list(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """`column` is one of `values`: a fragment and its parameters."""
        if self.name == "postgres":
            return f"{column} = ANY(?)", [list(values)]
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)

    def json_has(self, column: str) -> str:
        """`column`, a JSON list of strings as text, holds the parameter."""
        if self.name == "postgres":
            return f"({column})::jsonb @> jsonb_build_array(?::text)"
        return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value = ?)"


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgres", skip_locked=" FOR UPDATE OF o SKIP LOCKED")


def run(db: Db, d: Dialect, sql: str, params: Sequence[Any] = ()) -> Any:
    return db.execute(d.q(sql), tuple(params))


def run_many(db: Db, d: Dialect, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    batch = [tuple(r) for r in rows]
    if batch:
        db.cursor().executemany(d.q(sql), batch)


def select_in(
    db: Db, d: Dialect, sql: str, column: str, values: Sequence[Any], params: Sequence[Any] = ()
) -> list[Any]:
    """Rows of `sql` (with `{where}` in it) where `column` is one of `values`."""
    found: list[Any] = []
    step = len(values) if d.name == "postgres" else _CHUNK
    for i in range(0, len(values), max(step, 1)):
        where, args = d.in_list(column, values[i : i + step])
        found.extend(run(db, d, sql.format(where=where), [*params, *args]).fetchall())
    return found


def _json_list(text: str) -> list[str]:
    return msgspec.json.decode(text, type=list[str])


def json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


# -- rows <-> structs -----------------------------------------------------------------
def channel_row(row: Sequence[Any]) -> StoredChannel:
    return StoredChannel(
        id=row[0],
        name=row[1],
        kind=row[2],
        settings=msgspec.json.decode(row[3], type=dict[str, Any]),
        tags=_json_list(row[4]),
        created_at=row[5],
        updated_at=row[6],
    )


def channel_params(c: StoredChannel) -> tuple[Any, ...]:
    settings = json_text(c.settings)
    return (c.id, c.name, c.kind, settings, json_text(c.tags), c.created_at, c.updated_at)


def incident_row(row: Sequence[Any]) -> Incident:
    return Incident(**dict(zip(Incident.__struct_fields__, row, strict=True)))


def incident_params(i: Incident) -> tuple[Any, ...]:
    return msgspec.structs.astuple(i)


def delivery_row(row: Sequence[Any]) -> Delivery:
    return Delivery(**dict(zip(Delivery.__struct_fields__, row, strict=True)))


def maintenance_row(row: Sequence[Any]) -> Maintenance:
    spec = msgspec.json.decode(row[1], type=MaintenanceSpec)
    return Maintenance(id=row[0], spec=spec, created_at=row[2], updated_at=row[3])


def load_windows(db: Db, d: Dialect) -> list[Maintenance]:
    return [maintenance_row(r) for r in run(db, d, f"SELECT {MAINTENANCE} FROM maintenances")]


def load_routes(db: Db, d: Dialect) -> list[Route]:
    found = run(db, d, "SELECT id, name, kind, tags FROM channels ORDER BY name").fetchall()
    return [Route(id=r[0], name=r[1], kind=r[2], tags=_json_list(r[3])) for r in found]


def open_incidents(db: Db, d: Dialect, monitor_ids: Sequence[str]) -> dict[str, Incident]:
    sql = f"SELECT {INCIDENT} FROM incidents WHERE resolved_at IS NULL AND {{where}}"
    found = select_in(db, d, sql, "monitor_id", monitor_ids)
    return {row[1]: incident_row(row) for row in found}


_STREAK = "slot, started_at, ok, error_kind, error, http_status"
_PG_STREAKS = (
    f"SELECT t.monitor_id, t.until_slot, {', '.join('r.' + c for c in _STREAK.split(', '))}"
    " FROM unnest(?::text[], ?::bigint[], ?::int[]) AS t(monitor_id, until_slot, n)"
    f" CROSS JOIN LATERAL (SELECT {_STREAK} FROM results WHERE results.monitor_id = t.monitor_id"
    " AND results.slot <= t.until_slot ORDER BY slot DESC LIMIT t.n) r"
    " ORDER BY t.monitor_id, t.until_slot, r.slot DESC"
)


def _streak_result(monitor_id: str, row: Sequence[Any]) -> Result:
    slot, started_at, ok, error_kind, error, http_status = row
    return Result(
        monitor_id=monitor_id,
        slot=slot,
        scheduled_at=slot / 1000,
        started_at=started_at,
        duration_ms=0.0,
        ok=bool(ok),
        error_kind=error_kind,
        error=error,
        http_status=http_status,
        ip=None,
        timings=Timings(),
        attempts=1,
        node="",
    )


def first_failures(
    db: Db, d: Dialect, wanted: Sequence[tuple[str, int, int]]
) -> dict[tuple[str, int], Result]:
    """For each (monitor, slot, n): the first failing check among the monitor's last
    `n` results up to `slot`, newest first, before a good one."""
    streaks: dict[tuple[str, int], list[Result]] = {}
    if d.name == "postgres" and wanted:
        ids, slots, counts = (list(col) for col in zip(*wanted, strict=True))
        for row in run(db, d, _PG_STREAKS, [ids, slots, counts]):
            streaks.setdefault((row[0], row[1]), []).append(_streak_result(row[0], row[2:]))
    else:
        sql = (
            f"SELECT {_STREAK} FROM results WHERE monitor_id = ? AND slot <= ?"
            " ORDER BY slot DESC LIMIT ?"
        )
        for monitor_id, slot, n in wanted:
            found = run(db, d, sql, (monitor_id, slot, n)).fetchall()
            streaks[(monitor_id, slot)] = [_streak_result(monitor_id, r) for r in found]
    firsts = {key: first_failure(streak) for key, streak in streaks.items()}
    return {key: r for key, r in firsts.items() if r is not None}


_INCIDENT_MARKS = ", ".join("?" * len(Incident.__struct_fields__))
INSERT_INCIDENT = (
    f"INSERT INTO incidents ({INCIDENT}) VALUES ({_INCIDENT_MARKS}) ON CONFLICT DO NOTHING"
)
RESOLVE_INCIDENT = (
    "UPDATE incidents SET resolved_at = ?, resolved_slot = ? WHERE id = ? AND resolved_at IS NULL"
)
# Reminders still waiting are pointless once the monitor is up or someone answered.
DROP_REMINDERS = (
    "DELETE FROM outbox WHERE incident_id = ? AND event = 'reminder' AND status = 'pending'"
)
INSERT_DELIVERY = (
    "INSERT INTO outbox (incident_id, monitor_id, channel_id, transition, event, dedup_key,"
    " payload, status, attempts, next_attempt_at, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?) ON CONFLICT (dedup_key) DO NOTHING"
)


def delivery_params(
    message: AlertMessage, *, channel_id: str, transition: str, at: float
) -> tuple[Any, ...]:
    return (
        *(message.incident_id, message.monitor_id, channel_id, transition, message.event),
        *(message.dedup_key, encode_payload(message), at, at),
    )


def commit_transitions(
    db: Db,
    d: Dialect,
    monitors: Mapping[str, Monitor],
    before: Mapping[str, MonitorState],
    fresh: Mapping[str, list[Result]],
    changed: list[MonitorState],
    transitions: list[Transition],
) -> tuple[list[MonitorState], list[Transition]]:
    """Inside `record_results`' transaction, after the states advanced: apply
    maintenance windows, open an incident on each transition to down (one open per
    monitor), resolve it on the transition to up, and queue one outbox row per
    routed channel. Returns the states to save and the transitions to report.

    A second node recording the same slot inserts nothing: its results are
    duplicates, so its states do not advance and it has no transition; the
    incident id and the dedup keys are derived from the slot, so even a repeat
    could only write rows the unique keys refuse."""
    windows = load_windows(db, d)
    changed, transitions = apply_windows(windows, monitors, before, fresh, changed, transitions)
    alerting = [
        t for t in transitions if t.to_status in ("down", "up") and t.monitor_id in monitors
    ]
    if not alerting:
        return changed, transitions
    opened = open_incidents(db, d, sorted({t.monitor_id for t in alerting}))
    wanted = [
        (t.monitor_id, t.slot, monitors[t.monitor_id].down_after)
        for t in alerting
        if t.to_status == "down"
    ]
    firsts = first_failures(db, d, wanted)
    routes = load_routes(db, d)
    new: dict[str, Incident] = {}  # opened in this batch (and maybe resolved in it too)
    resolved: list[Incident] = []  # opened before this batch
    outbox: list[tuple[Any, ...]] = []
    for t in alerting:
        monitor = monitors[t.monitor_id]
        if t.to_status == "down":
            if t.monitor_id in opened:
                continue  # down before a maintenance window and still down after it
            incident = open_incident(monitor, t, firsts.get((t.monitor_id, t.slot)))
            opened[t.monitor_id] = incident
            new[incident.id] = incident
        else:
            found = opened.pop(t.monitor_id, None)
            if found is None:
                continue  # up from pending or from maintenance: nothing was open
            incident = msgspec.structs.replace(found, resolved_at=t.at, resolved_slot=t.slot)
            if incident.id in new:
                new[incident.id] = incident
            else:
                resolved.append(incident)
        event: Event = "down" if t.to_status == "down" else "up"
        for route in routes_for(monitor, routes):
            message = message_for(
                monitor, incident, event, at=t.at, transition=event, channel_id=route.id
            )
            outbox.append(delivery_params(message, channel_id=route.id, transition=event, at=t.at))
    # Resolve first: a monitor has one open incident at a time (a unique index).
    run_many(db, d, RESOLVE_INCIDENT, [(i.resolved_at, i.resolved_slot, i.id) for i in resolved])
    run_many(db, d, INSERT_INCIDENT, [incident_params(i) for i in new.values()])
    run_many(db, d, DROP_REMINDERS, [(i.id,) for i in resolved])
    run_many(db, d, INSERT_DELIVERY, outbox)
    return changed, transitions


def delete_monitor_alerts(db: Db, d: Dialect, monitor_id: str) -> None:
    """What goes with a deleted monitor (PostgreSQL; SQLite cascades): its incidents."""
    run(db, d, "DELETE FROM incidents WHERE monitor_id = ?", (monitor_id,))
