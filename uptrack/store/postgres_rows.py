"""How monitors, states, results and tokens are written to and read from PostgreSQL rows.

Rows map to structs as on SQLite (`sqlite_rows` holds the field-order mapping both
stores share); this module holds the PostgreSQL statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import psycopg

from uptrack.errors import Conflict, NotFound
from uptrack.model import ApiToken, Monitor, MonitorState, Result
from uptrack.store.sqlite_rows import (
    MONITOR,
    RESULT,
    STATE,
    TOKEN,
    monitor_params,
    monitor_row,
    result_params,
    result_row,
    state_row,
    token_row,
)

__all__ = [
    "MONITOR",
    "RESULT",
    "STATE",
    "TOKEN",
    "monitor_params",
    "monitor_row",
    "result_params",
    "result_row",
    "state_row",
    "token_row",
]

Conn = psycopg.Connection[tuple[Any, ...]]


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


INSERT_MONITOR = (
    f"INSERT INTO monitors ({MONITOR}) VALUES ({_marks(len(Monitor.__struct_fields__))})"
)
UPDATE_MONITOR = (
    f"UPDATE monitors SET {', '.join(f + ' = %s' for f in Monitor.__struct_fields__)} WHERE id = %s"
)
INSERT_STATE = f"INSERT INTO monitor_state ({STATE}) VALUES ({_marks(9)})"
INSERT_TOKEN = f"INSERT INTO api_tokens ({TOKEN}, secret_sha256) VALUES ({_marks(9)})"

# Results of one batch go through a temporary table (COPY is the fastest way in),
# then into `results` in one statement that keeps the first row of each slot and
# skips the slots stored already.
STAGING = "results_staging"
CREATE_STAGING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING} ("
    " monitor_id text, slot bigint, scheduled_at double precision,"
    " started_at double precision, duration_ms double precision, ok boolean,"
    " error_kind text, error text, http_status integer, ip text,"
    " dns_ms double precision, connect_ms double precision, tls_ms double precision,"
    " ttfb_ms double precision, total_ms double precision, attempts integer, node text,"
    " epoch bigint, details text, seq integer) ON COMMIT DELETE ROWS"
)
STAGING_TYPES = [
    *("text", "int8", "float8", "float8", "float8", "bool", "text", "text", "int4", "text"),
    *("float8", "float8", "float8", "float8", "float8", "int4", "text", "int8", "text", "int4"),
]
COPY_STAGING = f"COPY {STAGING} ({RESULT}, seq) FROM STDIN (FORMAT BINARY)"
# Details arrive as JSON text (`rules.encode_details`, the same on both databases)
# and become jsonb on the way from the staging table.
assert RESULT.endswith(", details")
STAGED = RESULT.removesuffix(", details") + ", details::jsonb"
INSERT_FROM_STAGING = (
    f"INSERT INTO results ({RESULT}) SELECT {STAGED} FROM {STAGING}"
    " ON CONFLICT (monitor_id, slot) DO NOTHING RETURNING monitor_id, slot"
)
# The same when the batch holds a slot twice (rare: a retried batch, a test).
INSERT_FIRST_FROM_STAGING = (
    f"INSERT INTO results ({RESULT})"
    f" SELECT DISTINCT ON (monitor_id, slot) {STAGED} FROM {STAGING}"
    " ORDER BY monitor_id, slot, seq"
    " ON CONFLICT (monitor_id, slot) DO NOTHING RETURNING monitor_id, slot"
)
# The state rows of a batch's monitors, locked in one order on every node, with
# their monitor's version (the store caches monitors by version).
LOCK_STATES = (
    f"SELECT {', '.join('s.' + f for f in MonitorState.__struct_fields__)}, m.version"
    " FROM monitor_state s JOIN monitors m ON m.id = s.monitor_id"
    " WHERE s.monitor_id = ANY(%b) ORDER BY s.monitor_id FOR UPDATE OF s"
)
# New states go the way results do: COPY into a temporary table, one UPDATE.
STATE_STAGING = "state_staging"
CREATE_STATE_STAGING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {STATE_STAGING} ("
    " monitor_id text, status text, consecutive_failures integer,"
    " consecutive_successes integer, last_slot bigint, last_checked_at double precision,"
    " last_ok boolean, changed_at double precision, version bigint) ON COMMIT DELETE ROWS"
)
STATE_TYPES = ["text", "text", "int4", "int4", "int8", "float8", "bool", "float8", "int8"]
COPY_STATES = f"COPY {STATE_STAGING} ({STATE}) FROM STDIN (FORMAT BINARY)"
SAVE_STATES = (
    "UPDATE monitor_state s SET status = v.status,"
    " consecutive_failures = v.consecutive_failures,"
    " consecutive_successes = v.consecutive_successes, last_slot = v.last_slot,"
    " last_checked_at = v.last_checked_at, last_ok = v.last_ok, changed_at = v.changed_at,"
    f" version = v.version FROM {STATE_STAGING} v WHERE s.monitor_id = v.monitor_id"
)


def copy_rows(results: Sequence[Result]) -> list[tuple[Any, ...]]:
    return [(*result_params(r), seq) for seq, r in enumerate(results)]


def copy_states(db: Conn, states: Sequence[MonitorState]) -> None:
    """Write `states` over the stored ones (their rows must be locked)."""
    with db.cursor() as cur:
        with cur.copy(COPY_STATES) as copy:
            copy.set_types(STATE_TYPES)
            for state in states:
                copy.write_row(msgspec.structs.astuple(state))
        cur.execute(SAVE_STATES)


def check_name_free(db: Conn, name: str, monitor_id: str | None) -> None:
    row = db.execute("SELECT id FROM monitors WHERE name = %s", (name,)).fetchone()
    if row is not None and row[0] != monitor_id:
        raise Conflict(f"a monitor named {name!r} exists already")


def get_monitor(db: Conn, monitor_id: str, *, lock: bool = False) -> Monitor:
    sql = f"SELECT {MONITOR} FROM monitors WHERE id = %s" + (" FOR NO KEY UPDATE" if lock else "")
    row = db.execute(sql, (monitor_id,)).fetchone()
    if row is None:
        raise NotFound(f"no monitor has the id {monitor_id!r}")
    return monitor_row(row)


def all_monitors(db: Conn) -> list[Monitor]:
    found = db.execute(f"SELECT {MONITOR} FROM monitors ORDER BY name").fetchall()
    return [monitor_row(r) for r in found]


def monitors_by_id(db: Conn, ids: list[str]) -> dict[str, Monitor]:
    found = db.execute(f"SELECT {MONITOR} FROM monitors WHERE id = ANY(%s)", (ids,))
    return {row[0]: monitor_row(row) for row in found}


def states_by_id(db: Conn, ids: list[str]) -> dict[str, MonitorState]:
    sql = f"SELECT {STATE} FROM monitor_state WHERE monitor_id = ANY(%s)"
    return {row[0]: state_row(row) for row in db.execute(sql, (ids,))}


def get_state(db: Conn, monitor_id: str) -> MonitorState:
    sql = f"SELECT {STATE} FROM monitor_state WHERE monitor_id = %s"
    row = db.execute(sql, (monitor_id,)).fetchone()
    return MonitorState(monitor_id=monitor_id) if row is None else state_row(row)


def get_token(db: Conn, where: str, value: str) -> ApiToken | None:
    row = db.execute(f"SELECT {TOKEN} FROM api_tokens WHERE {where} = %s", (value,)).fetchone()
    return None if row is None else token_row(row)
