"""The embedded default store: SQLite (stdlib sqlite3) in WAL mode on one connection."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from uptrack import heartbeats
from uptrack.errors import ChangesExpired, Conflict, NotFound, StoreError, StoreUnavailable
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
from uptrack.slots import DEFAULT_SHARDS, shard_of
from uptrack.store import alert_rows, fencing, rules
from uptrack.store import sqlite_heartbeats as heartbeat_rows
from uptrack.store import sqlite_rollups as rollups
from uptrack.store import sqlite_rows as rows
from uptrack.store.alert_store import SqliteAlerts  # alerts (DESIGN §6)
from uptrack.store.base import Page, Store
from uptrack.store.monitor_methods import MonitorMethods
from uptrack.store.rollups import RetentionReport, Rollup, RollupReport
from uptrack.store.schema import Migration, load_migrations, pending_migrations

CHANGE_RETENTION = 3600.0  # seconds a change row is kept for change-feed readers
_PRUNE_EVERY = 60.0
# Primary result codes that mean "not now" rather than "never": BUSY, LOCKED, IOERR,
# FULL, CANTOPEN.
_UNAVAILABLE = frozenset({5, 6, 10, 13, 14})


class SqliteStore(SqliteAlerts, MonitorMethods, Store):
    """Every method takes the connection's lock and runs in one transaction."""

    def __init__(
        self, path: Path, *, shards: int = DEFAULT_SHARDS, busy_timeout: float = 5.0
    ) -> None:
        super().__init__()
        self.path = path
        self.shards = shards
        self._lock = threading.Lock()
        self._last_prune = -math.inf
        try:
            db = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise StoreUnavailable(f"cannot open {path}: {e}") from e
        try:
            db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            (mode,) = db.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode != "wal":
                raise StoreError(
                    f"{path}: SQLite cannot use WAL mode here (it chose {mode!r});"
                    " keep the data directory on a local file system"
                )
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as e:
            db.close()
            _raise_translated(e)
        except BaseException:
            db.close()
            raise
        self._db = db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, transaction(self._db, "IMMEDIATE") as db:
            yield db

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, transaction(self._db, "DEFERRED") as db:
            yield db

    # -- lifecycle -------------------------------------------------------------
    def migrate(self) -> int:
        migrations = load_migrations("sqlite")
        with self._lock:
            return apply_migrations(self._db, migrations)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- monitors --------------------------------------------------------------
    def get_monitor(self, monitor_id: str) -> Monitor:
        with self._read() as db:
            return rows.get_monitor(db, monitor_id)

    def list_monitors(self, *, after: str | None = None, limit: int = 100) -> Page[Monitor]:
        rules.check_limit(limit)
        last = "" if after is None else rules.parse_name_cursor(after)
        with self._read() as db:
            found = db.execute(
                f"SELECT {rows.MONITOR} FROM monitors WHERE name > ? ORDER BY name LIMIT ?",
                (last, limit + 1),
            ).fetchall()
        items = [rows.monitor_row(row) for row in found[:limit]]
        more = len(found) > limit
        return Page(items=items, next=rules.name_cursor(items[-1].name) if more else None)

    def all_monitors(self) -> list[Monitor]:
        with self._read() as db:
            return rows.all_monitors(db)

    def changes_since(self, cursor: int) -> MonitorChanges:
        with self._read() as db:
            row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
            newest: int = 0 if row is None else row[0]
            if cursor == 0:
                return MonitorChanges(changed=rows.all_monitors(db), deleted=[], cursor=newest)
            (oldest,) = db.execute("SELECT min(seq) FROM changes").fetchone()
            # Pruning removes a prefix of the log: everything up to `horizon` is gone.
            horizon = newest if oldest is None else oldest - 1
            if not horizon <= cursor <= newest:
                raise ChangesExpired(
                    f"change cursor {cursor} is outside the change log ({horizon}..{newest})"
                )
            changed = db.execute(
                f"SELECT {rows.MONITOR} FROM monitors WHERE id IN"
                " (SELECT monitor_id FROM changes WHERE seq > ?) ORDER BY name",
                (cursor,),
            ).fetchall()
            deleted = db.execute(
                "SELECT DISTINCT monitor_id FROM changes WHERE seq > ?"
                " AND monitor_id NOT IN (SELECT id FROM monitors) ORDER BY monitor_id",
                (cursor,),
            ).fetchall()
        return MonitorChanges(
            changed=[rows.monitor_row(r) for r in changed],
            deleted=[r[0] for r in deleted],
            cursor=newest,
        )

    def _shard_counts(self, db: sqlite3.Connection) -> dict[int, int]:
        return {int(shard): int(n) for shard, n in db.execute(rules.SHARD_COUNTS)}

    def _create(
        self,
        db: sqlite3.Connection,
        spec: MonitorSpec,
        now: float,
        counts: dict[int, int] | None = None,
    ) -> Monitor:
        rows.check_name_free(db, spec.name, None)
        spec = heartbeats.with_token(spec, None)  # heartbeat monitors: a ping token
        if counts is None:
            counts = self._shard_counts(db)
        monitor_id = rules.balanced_id(counts, self.shards)
        monitor = rows.new_monitor(
            spec,
            id=monitor_id,
            shard=shard_of(monitor_id, self.shards),
            version=1,
            created_at=now,
            updated_at=now,
        )
        db.execute(rows.INSERT_MONITOR, rows.monitor_params(monitor))
        db.execute(rows.SAVE_STATE, rows.state_params(MonitorState(monitor_id=monitor_id)))
        heartbeat_rows.sync(db, monitor, None, now)
        self._note_change(db, monitor_id)
        return monitor

    def _update(
        self, db: sqlite3.Connection, monitor_id: str, spec: MonitorSpec, now: float
    ) -> Monitor:
        old = rows.get_monitor(db, monitor_id)
        rows.check_name_free(db, spec.name, monitor_id)
        spec = heartbeats.with_token(spec, old)  # heartbeat monitors keep their token
        monitor = rows.new_monitor(
            spec,
            id=old.id,
            shard=old.shard,
            version=old.version + 1,
            created_at=old.created_at,
            updated_at=now,
        )
        # Slots are due times, so they stay ordered when the interval changes: the
        # state needs nothing special here.
        db.execute(rows.UPDATE_MONITOR, (*rows.monitor_params(monitor), monitor_id))
        heartbeat_rows.sync(db, monitor, old, now)
        self._note_change(db, monitor_id)
        return monitor

    def _delete(self, db: sqlite3.Connection, monitor_id: str) -> None:
        # Foreign keys cascade the delete to the monitor's state and results.
        if db.execute("DELETE FROM monitors WHERE id = ?", (monitor_id,)).rowcount == 0:
            raise NotFound(f"no monitor has the id {monitor_id!r}")
        self._note_change(db, monitor_id)

    def _note_change(self, db: sqlite3.Connection, monitor_id: str) -> None:
        # Change rows carry the store's own clock: it only decides when they are pruned.
        db.execute("INSERT INTO changes (monitor_id, at) VALUES (?, ?)", (monitor_id, time.time()))
        if time.monotonic() - self._last_prune >= _PRUNE_EVERY:
            self._last_prune = time.monotonic()
            db.execute(
                "DELETE FROM changes WHERE seq <= (SELECT max(seq) FROM changes WHERE at < ?)",
                (time.time() - CHANGE_RETENTION,),
            )

    # -- results and state -----------------------------------------------------
    def record_results(self, results: Sequence[Result]) -> list[Transition]:
        if not results:
            return []
        with self._write() as db:
            at = rollups.progress(db)
            kept_from = at.results_kept_from
            monitors = rows.monitors_by_id(db, list({r.monitor_id for r in results}))
            new: dict[str, list[Result]] = {}
            for r in results:
                # Results of deleted monitors and of days past retention are dropped;
                # a stored slot is not replaced.
                if r.monitor_id in monitors and (kept_from is None or r.slot >= kept_from):
                    if db.execute(rows.INSERT_RESULT, rows.result_params(r)).rowcount:
                        new.setdefault(r.monitor_id, []).append(r)
            states = rows.states_by_id(db, list(new))
            # shard-epoch fencing (DESIGN §4): a stale shard owner's results move no state
            seen = fencing.batch_epochs(monitors, results)
            highest = fencing.sqlite_highest(db, seen)
            changed, transitions = rules.advance_states(
                monitors, states, new, highest_epochs=highest
            )
            # -- alerts (DESIGN §6): maintenance windows, incidents, outbox rows --
            changed, transitions = alert_rows.commit_transitions(
                db, alert_rows.SQLITE, monitors, states, new, changed, transitions
            )
            db.executemany(rows.SAVE_STATE, [rows.state_params(s) for s in changed])
            rollups.mark_stale(db, [r for fresh in new.values() for r in fresh], at)
        return transitions

    def get_state(self, monitor_id: str) -> MonitorState:
        with self._read() as db:
            return rows.get_state(db, monitor_id)

    def get_states(self, monitor_ids: Sequence[str]) -> dict[str, MonitorState]:
        with self._read() as db:
            found = rows.states_by_id(db, list(monitor_ids))
        return {i: found.get(i) or MonitorState(monitor_id=i) for i in monitor_ids}

    def list_results(
        self, monitor_id: str, *, before: str | None = None, limit: int = 100
    ) -> Page[Result]:
        rules.check_limit(limit)
        below = None if before is None else rules.parse_slot_cursor(before)
        with self._read() as db:
            rows.get_monitor(db, monitor_id)
            found = db.execute(
                f"SELECT {rows.RESULT} FROM results WHERE monitor_id = ?"
                " AND (? IS NULL OR slot < ?) ORDER BY slot DESC LIMIT ?",
                (monitor_id, below, below, limit + 1),
            ).fetchall()
        items = [rows.result_row(row) for row in found[:limit]]
        more = len(found) > limit
        return Page(items=items, next=rules.slot_cursor(items[-1].slot) if more else None)

    def uptimes(
        self, monitor_ids: Sequence[str], *, since: float, until: float
    ) -> dict[str, Uptime]:
        with self._read() as db:
            return rollups.uptimes(db, monitor_ids, since, until)

    # -- rollups and retention -------------------------------------------------
    def list_rollups(
        self, monitor_id: str, *, span: int, since: float, until: float
    ) -> list[Rollup]:
        with self._read() as db:
            rows.get_monitor(db, monitor_id)
            return rollups.list_rollups(db, monitor_id, span, since, until)

    def roll_up(self, until: float) -> RollupReport:
        hours = days = stale = 0
        more = True
        while more:
            with self._write() as db:
                chunk, more = rollups.roll_up_chunk(db, until)
            hours, days, stale = hours + chunk.hours, days + chunk.days, stale + chunk.stale
        return RollupReport(
            hours=hours, days=days, stale=stale, hours_rolled_to=chunk.hours_rolled_to
        )

    def apply_retention(
        self, now: float, *, results_for: float, rollups_for: float
    ) -> RetentionReport:
        with self._write() as db:
            return rollups.apply_retention(
                db, now, results_for=results_for, rollups_for=rollups_for
            )

    def create_partitions(self, now: float, *, days_ahead: int = 2) -> int:
        return 0  # one table holds every day

    # -- API tokens ------------------------------------------------------------
    def create_token(
        self,
        *,
        name: str,
        scope: Scope,
        secret_sha256: str,
        prefix: str,
        now: float,
        expires_at: float | None,
    ) -> ApiToken:
        token = ApiToken(
            id=uuid.uuid4().hex,
            name=name,
            scope=scope,
            prefix=prefix,
            created_at=now,
            expires_at=expires_at,
        )
        with self._write() as db:
            taken = "SELECT 1 FROM api_tokens WHERE secret_sha256 = ?"
            if db.execute(taken, (secret_sha256,)).fetchone():
                raise Conflict("a token with this secret exists already")
            db.execute(
                f"INSERT INTO api_tokens ({rows.TOKEN}, secret_sha256)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*rows.token_params(token), secret_sha256),
            )
        return token

    def find_token(self, secret_sha256: str) -> ApiToken | None:
        with self._read() as db:
            row = db.execute(
                f"SELECT {rows.TOKEN} FROM api_tokens WHERE secret_sha256 = ?", (secret_sha256,)
            ).fetchone()
        return None if row is None else rows.token_row(row)

    def list_tokens(self) -> list[ApiToken]:
        with self._read() as db:
            found = db.execute(f"SELECT {rows.TOKEN} FROM api_tokens ORDER BY created_at, id")
            return [rows.token_row(row) for row in found]

    def revoke_token(self, token_id: str, *, now: float) -> ApiToken:
        with self._write() as db:
            # Revoking twice keeps the first time.
            db.execute(
                "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                (now, token_id),
            )
            sql = f"SELECT {rows.TOKEN} FROM api_tokens WHERE id = ?"
            row = db.execute(sql, (token_id,)).fetchone()
        if row is None:
            raise NotFound(f"no token has the id {token_id!r}")
        return rows.token_row(row)

    def touch_token(self, token_id: str, *, now: float) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE api_tokens SET last_used_at = ?"
                " WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
                (now, token_id, now),
            )

    # -- heartbeat monitors ------------------------------------------------------
    def record_ping(
        self, token_sha256: str, kind: PingKind, exit_code: int | None, body: str, at: float
    ) -> bool:
        body = body.replace("\x00", "\ufffd")  # as on PostgreSQL, whose text refuses NUL
        with self._write() as db:
            return heartbeat_rows.record_ping(db, token_sha256, kind, exit_code, body, at)

    def get_heartbeat(self, token_sha256: str) -> HeartbeatState | None:
        with self._read() as db:
            return heartbeat_rows.get(db, token_sha256)


@contextmanager
def transaction(db: sqlite3.Connection, mode: str) -> Iterator[sqlite3.Connection]:
    """One transaction on an autocommit connection: committed if the block returns,
    rolled back if it raises. Busy, locked and I/O errors become StoreUnavailable."""
    try:
        db.execute(f"BEGIN {mode}")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    except sqlite3.Error as e:
        _raise_translated(e)


def apply_migrations(db: sqlite3.Connection, migrations: list[Migration]) -> int:
    """Bring the database to the newest of `migrations` in one transaction; return the
    version. The version is `PRAGMA user_version`, which the transaction covers: a
    failed migration leaves the schema and the version as they were."""
    with transaction(db, "IMMEDIATE"):
        (current,) = db.execute("PRAGMA user_version").fetchone()
        if current == 0:
            (tables,) = db.execute(
                "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            ).fetchone()
            if tables:
                raise StoreError("the database holds tables but is not an Uptrack database")
        todo = pending_migrations(current, migrations)
        for migration in todo:
            for statement in _statements(migration.sql):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {int(migration.version)}")
        return todo[-1].version if todo else int(current)


def _statements(script: str) -> Iterator[str]:
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip():
        yield pending  # a trailing comment, or an unterminated statement SQLite reports


def _raise_translated(e: sqlite3.Error) -> NoReturn:
    if getattr(e, "sqlite_errorcode", 0) & 0xFF in _UNAVAILABLE:
        raise StoreUnavailable(f"SQLite: {e}") from e
    raise e
