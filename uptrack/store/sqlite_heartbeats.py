"""Heartbeat monitors on SQLite: each one's ping record, kept in step with the monitor."""

from __future__ import annotations

import sqlite3
from typing import Any

from uptrack import heartbeats
from uptrack.errors import Conflict
from uptrack.heartbeats import HeartbeatState, PingKind
from uptrack.model import Monitor

STATE = (
    "h.monitor_id, m.interval, h.since, h.last_ping_at, h.last_start_at, h.last_fail_at,"
    " h.last_exit_code, h.last_body, h.pings"
)
# What each kind of ping sets; every ping also sets the body and counts.
PING_SETS: dict[PingKind, str] = {
    "success": "last_ping_at = :at, last_exit_code = :exit_code",
    "fail": "last_fail_at = :at, last_exit_code = :exit_code",
    "start": "last_start_at = :at",
}
CONFLICT = "another heartbeat monitor uses this token; leave token out to get a new one"


def state_row(row: tuple[Any, ...]) -> HeartbeatState:
    return HeartbeatState(**dict(zip(HeartbeatState.__struct_fields__, row, strict=True)))


def sync(db: sqlite3.Connection, monitor: Monitor, previous: Monitor | None, now: float) -> None:
    """Keep the ping record in step with a monitor just saved over `previous`."""
    token = heartbeats.token_of(monitor)
    if token is None:
        if previous is not None and heartbeats.token_of(previous) is not None:
            db.execute("DELETE FROM heartbeats WHERE monitor_id = ?", (monitor.id,))
        return
    if not heartbeats.restarts(monitor, previous):
        return
    digest = heartbeats.token_sha256(token)
    taken = db.execute(
        "SELECT 1 FROM heartbeats WHERE token_sha256 = ? AND monitor_id != ?", (digest, monitor.id)
    ).fetchone()
    if taken:
        raise Conflict(CONFLICT)
    db.execute(
        "INSERT INTO heartbeats (monitor_id, token_sha256, since) VALUES (?, ?, ?)"
        " ON CONFLICT (monitor_id) DO UPDATE"
        " SET token_sha256 = excluded.token_sha256, since = excluded.since",
        (monitor.id, digest, now),
    )


def record_ping(
    db: sqlite3.Connection,
    token_sha256: str,
    kind: PingKind,
    exit_code: int | None,
    body: str,
    at: float,
) -> bool:
    sql = (
        f"UPDATE heartbeats SET {PING_SETS[kind]}, last_body = :body, pings = pings + 1"
        " WHERE token_sha256 = :digest"
    )
    params = {"at": at, "exit_code": exit_code, "body": body, "digest": token_sha256}
    return db.execute(sql, params).rowcount > 0


def get(db: sqlite3.Connection, token_sha256: str) -> HeartbeatState | None:
    row = db.execute(
        f"SELECT {STATE} FROM heartbeats h JOIN monitors m ON m.id = h.monitor_id"
        " WHERE h.token_sha256 = ?",
        (token_sha256,),
    ).fetchone()
    return None if row is None else state_row(row)
