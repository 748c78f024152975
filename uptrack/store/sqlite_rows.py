"""How monitors, states, results and tokens are written to and read from SQLite rows."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from uptrack.errors import Conflict, NotFound
from uptrack.model import ApiToken, Monitor, MonitorSpec, MonitorState, Result, Timings
from uptrack.store import rules

# Columns are named after the struct fields they hold, in field order (sqlite3 binds
# bools as 0/1), so a field added to a struct without a migration fails loudly.
MONITOR = ", ".join(Monitor.__struct_fields__)
STATE = ", ".join(MonitorState.__struct_fields__)
TOKEN = ", ".join(ApiToken.__struct_fields__)
RESULT = (
    "monitor_id, slot, scheduled_at, started_at, duration_ms, ok, error_kind, error,"
    " http_status, ip, dns_ms, connect_ms, tls_ms, ttfb_ms, total_ms, attempts, node, epoch,"
    " details"
)

INSERT_MONITOR = (
    f"INSERT INTO monitors ({MONITOR}) VALUES ({', '.join('?' * len(Monitor.__struct_fields__))})"
)
UPDATE_MONITOR = (
    f"UPDATE monitors SET {', '.join(f + ' = ?' for f in Monitor.__struct_fields__)} WHERE id = ?"
)
INSERT_RESULT = (
    f"INSERT INTO results ({RESULT}) VALUES ({', '.join('?' * 19)})"
    " ON CONFLICT (monitor_id, slot) DO NOTHING"
)
SAVE_STATE = (
    f"INSERT INTO monitor_state ({STATE}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (monitor_id) DO UPDATE SET status = excluded.status,"
    " consecutive_failures = excluded.consecutive_failures,"
    " consecutive_successes = excluded.consecutive_successes, last_slot = excluded.last_slot,"
    " last_checked_at = excluded.last_checked_at, last_ok = excluded.last_ok,"
    " changed_at = excluded.changed_at, version = excluded.version"
)
_SETTINGS = Monitor.__struct_fields__.index("settings")
# Lists of the monitor (alerting: tags, channel names) are stored as JSON text.
_LISTS = tuple(Monitor.__struct_fields__.index(f) for f in ("tags", "channels"))
_CHUNK = 500  # ids per IN list: SQLite before 3.32 allows 999 host parameters


def new_monitor(spec: MonitorSpec, **stored: Any) -> Monitor:
    """`spec` with the stored fields. Settings are taken as JSON gives them back, so
    the monitor equals the one read later and shares nothing with the caller's dict."""
    settings = rules.decode_settings(rules.encode_settings(spec.settings))
    return Monitor(**(msgspec.structs.asdict(spec) | {"settings": settings}), **stored)


def monitor_params(m: Monitor) -> tuple[Any, ...]:
    values = list(msgspec.structs.astuple(m))
    values[_SETTINGS] = rules.encode_settings(m.settings)
    for index in _LISTS:
        values[index] = msgspec.json.encode(values[index]).decode()
    return tuple(values)


def monitor_row(row: tuple[Any, ...]) -> Monitor:
    fields = dict(zip(Monitor.__struct_fields__, row, strict=True))
    fields["paused"] = bool(fields["paused"])
    fields["settings"] = rules.decode_settings(fields["settings"])
    for name in ("tags", "channels"):
        fields[name] = msgspec.json.decode(fields[name], type=list[str])
    return Monitor(**fields)


def state_params(s: MonitorState) -> tuple[Any, ...]:
    return msgspec.structs.astuple(s)


def state_row(row: tuple[Any, ...]) -> MonitorState:
    fields = dict(zip(MonitorState.__struct_fields__, row, strict=True))
    if fields["last_ok"] is not None:
        fields["last_ok"] = bool(fields["last_ok"])
    return MonitorState(**fields)


def token_params(t: ApiToken) -> tuple[Any, ...]:
    return msgspec.structs.astuple(t)


def token_row(row: tuple[Any, ...]) -> ApiToken:
    return ApiToken(**dict(zip(ApiToken.__struct_fields__, row, strict=True)))


def result_params(r: Result) -> tuple[Any, ...]:
    t = r.timings
    return (
        *(r.monitor_id, r.slot, r.scheduled_at, r.started_at, r.duration_ms, r.ok),
        *(r.error_kind, r.error, r.http_status, r.ip),
        *(t.dns, t.connect, t.tls, t.ttfb, t.total),
        *(r.attempts, r.node, r.epoch),
        rules.encode_details(r.details),
    )


def result_row(row: tuple[Any, ...]) -> Result:
    dns, connect, tls, ttfb, total = row[10:15]
    return Result(
        monitor_id=row[0],
        slot=row[1],
        scheduled_at=row[2],
        started_at=row[3],
        duration_ms=row[4],
        ok=bool(row[5]),
        error_kind=row[6],
        error=row[7],
        http_status=row[8],
        ip=row[9],
        timings=Timings(dns=dns, connect=connect, tls=tls, ttfb=ttfb, total=total),
        attempts=row[15],
        node=row[16],
        epoch=row[17],
        details=rules.decode_details(row[18]),
    )


def check_name_free(db: sqlite3.Connection, name: str, monitor_id: str | None) -> None:
    row = db.execute("SELECT id FROM monitors WHERE name = ?", (name,)).fetchone()
    if row is not None and row[0] != monitor_id:
        raise Conflict(f"a monitor named {name!r} exists already")


def get_monitor(db: sqlite3.Connection, monitor_id: str) -> Monitor:
    row = db.execute(f"SELECT {MONITOR} FROM monitors WHERE id = ?", (monitor_id,)).fetchone()
    if row is None:
        raise NotFound(f"no monitor has the id {monitor_id!r}")
    return monitor_row(row)


def all_monitors(db: sqlite3.Connection) -> list[Monitor]:
    return [monitor_row(r) for r in db.execute(f"SELECT {MONITOR} FROM monitors ORDER BY name")]


def monitors_by_id(db: sqlite3.Connection, ids: list[str]) -> dict[str, Monitor]:
    found: dict[str, Monitor] = {}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        sql = f"SELECT {MONITOR} FROM monitors WHERE id IN ({', '.join('?' * len(chunk))})"
        found.update((row[0], monitor_row(row)) for row in db.execute(sql, chunk))
    return found


def get_state(db: sqlite3.Connection, monitor_id: str) -> MonitorState:
    sql = f"SELECT {STATE} FROM monitor_state WHERE monitor_id = ?"
    row = db.execute(sql, (monitor_id,)).fetchone()
    return MonitorState(monitor_id=monitor_id) if row is None else state_row(row)


def states_by_id(db: sqlite3.Connection, ids: list[str]) -> dict[str, MonitorState]:
    found: dict[str, MonitorState] = {}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT {STATE} FROM monitor_state WHERE monitor_id IN ({marks})"
        found.update((row[0], state_row(row)) for row in db.execute(sql, chunk))
    return found
