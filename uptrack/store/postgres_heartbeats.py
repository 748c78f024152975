"""Heartbeat monitors on PostgreSQL: each one's ping record, kept in step with the monitor."""

from __future__ import annotations

from typing import Any

import psycopg
import psycopg.errors

from uptrack import heartbeats
from uptrack.errors import Conflict
from uptrack.heartbeats import HeartbeatState, PingKind
from uptrack.model import Monitor
from uptrack.store.sqlite_heartbeats import CONFLICT, STATE, state_row

Conn = psycopg.Connection[tuple[Any, ...]]

PING_SETS: dict[PingKind, str] = {
    "success": "last_ping_at = %(at)s, last_exit_code = %(exit_code)s",
    "fail": "last_fail_at = %(at)s, last_exit_code = %(exit_code)s",
    "start": "last_start_at = %(at)s",
}


def sync(db: Conn, monitor: Monitor, previous: Monitor | None, now: float) -> None:
    """Keep the ping record in step with a monitor just saved over `previous`."""
    token = heartbeats.token_of(monitor)
    if token is None:
        if previous is not None and heartbeats.token_of(previous) is not None:
            db.execute("DELETE FROM heartbeats WHERE monitor_id = %s", (monitor.id,))
        return
    if not heartbeats.restarts(monitor, previous):
        return
    try:
        with db.transaction():
            db.execute(
                "INSERT INTO heartbeats (monitor_id, token_sha256, since) VALUES (%s, %s, %s)"
                " ON CONFLICT (monitor_id) DO UPDATE"
                " SET token_sha256 = excluded.token_sha256, since = excluded.since",
                (monitor.id, heartbeats.token_sha256(token), now),
            )
    except psycopg.errors.UniqueViolation:
        raise Conflict(CONFLICT) from None


def record_ping(
    db: Conn, token_sha256: str, kind: PingKind, exit_code: int | None, body: str, at: float
) -> bool:
    sql = (
        f"UPDATE heartbeats SET {PING_SETS[kind]}, last_body = %(body)s, pings = pings + 1"
        " WHERE token_sha256 = %(digest)s"
    )
    params = {"at": at, "exit_code": exit_code, "body": body, "digest": token_sha256}
    return db.execute(sql, params).rowcount > 0


def get(db: Conn, token_sha256: str) -> HeartbeatState | None:
    row = db.execute(
        f"SELECT {STATE} FROM heartbeats h JOIN monitors m ON m.id = h.monitor_id"
        " WHERE h.token_sha256 = %s",
        (token_sha256,),
    ).fetchone()
    return None if row is None else state_row(row)
