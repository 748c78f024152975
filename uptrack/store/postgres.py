"""The cluster store: PostgreSQL through psycopg 3 and a psycopg_pool connection pool.

Methods are synchronous, each one transaction on a pooled connection (READ COMMITTED
unless said otherwise); async code calls them through `Store.call`. Connection
failures, timeouts, deadlocks and serialization failures become StoreUnavailable
(`postgres_pool`): the caller may retry them.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

import psycopg.errors

from uptrack import heartbeats
from uptrack.errors import ChangesExpired, Conflict, NotFound, StoreError
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
from uptrack.store import postgres_heartbeats as heartbeat_rows
from uptrack.store import postgres_rollups as rollups
from uptrack.store import postgres_rows as rows
from uptrack.store.alert_store import PostgresAlerts  # alerts (DESIGN §6)
from uptrack.store.base import Page, Store
from uptrack.store.monitor_methods import MonitorMethods
from uptrack.store.postgres_pool import open_pool, translated
from uptrack.store.rollups import DAY, RetentionReport, Rollup, RollupReport, floor_to
from uptrack.store.schema import load_migrations, pending_migrations
from uptrack.store.sqlite_rows import new_monitor

CHANGE_RETENTION = 3600.0  # seconds a change row is kept for change-feed readers
_PRUNE_EVERY = 60.0
_MONITOR_CACHE = 200_000


class PostgresStore(PostgresAlerts, MonitorMethods, Store):
    """One connection pool; every method borrows a connection for one transaction."""

    def __init__(
        self,
        url: str,
        *,
        shards: int = DEFAULT_SHARDS,
        max_threads: int = 4,
        pool_timeout: float = 2.0,
    ) -> None:
        super().__init__(max_threads=max_threads)
        self.url = url
        self.shards = shards
        self._last_prune = -math.inf
        self._partitions: set[int] = set()
        self._monitor_cache: dict[str, Monitor] = {}
        self._pool = open_pool(url, size=max_threads, timeout=pool_timeout)

    @contextmanager
    def _transaction(self) -> Iterator[rows.Conn]:
        with translated(), self._pool.connection() as db:
            yield db

    def _write(self) -> AbstractContextManager[rows.Conn]:
        return self._transaction()

    # -- lifecycle -------------------------------------------------------------
    def migrate(self) -> int:
        migrations = load_migrations("postgres")
        with self._transaction() as db:
            # Nodes starting together migrate one after the other; the later ones
            # find the work done.
            db.execute("SELECT pg_advisory_xact_lock(%s)", (rollups.MIGRATE_LOCK,))
            row = db.execute("SELECT to_regclass('uptrack_schema')").fetchone()
            if row is None or row[0] is None:
                found = db.execute(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"
                ).fetchone()
                if found is not None and found[0]:
                    raise StoreError("the database holds tables but is not an Uptrack database")
                db.execute("CREATE TABLE uptrack_schema (version integer NOT NULL)")
                db.execute("INSERT INTO uptrack_schema (version) VALUES (0)")
            version = db.execute("SELECT version FROM uptrack_schema").fetchone()
            current = 0 if version is None else int(version[0])
            todo = pending_migrations(current, migrations)
            for migration in todo:
                db.execute(migration.sql.encode())
                db.execute("UPDATE uptrack_schema SET version = %s", (migration.version,))
            return todo[-1].version if todo else current

    def close(self) -> None:
        self._pool.close()

    # -- monitors --------------------------------------------------------------
    def get_monitor(self, monitor_id: str) -> Monitor:
        with self._transaction() as db:
            return rows.get_monitor(db, monitor_id)

    def list_monitors(self, *, after: str | None = None, limit: int = 100) -> Page[Monitor]:
        rules.check_limit(limit)
        last = "" if after is None else rules.parse_name_cursor(after)
        with self._transaction() as db:
            found = db.execute(
                f"SELECT {rows.MONITOR} FROM monitors WHERE name > %s ORDER BY name LIMIT %s",
                (last, limit + 1),
            ).fetchall()
        items = [rows.monitor_row(row) for row in found[:limit]]
        more = len(found) > limit
        return Page(items=items, next=rules.name_cursor(items[-1].name) if more else None)

    def all_monitors(self) -> list[Monitor]:
        with self._transaction() as db:
            return rows.all_monitors(db)

    def changes_since(self, cursor: int) -> MonitorChanges:
        with self._transaction() as db:
            # One snapshot for the cursor and what it covers.
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            newest = _one(db, "SELECT seq FROM change_cursor")
            if cursor == 0:
                return MonitorChanges(changed=rows.all_monitors(db), deleted=[], cursor=newest)
            oldest = db.execute("SELECT min(seq) FROM changes").fetchone()
            # Pruning removes a prefix of the log: everything up to `horizon` is gone.
            horizon = newest if oldest is None or oldest[0] is None else oldest[0] - 1
            if not horizon <= cursor <= newest:
                raise ChangesExpired(
                    f"change cursor {cursor} is outside the change log ({horizon}..{newest})"
                )
            changed = db.execute(
                f"SELECT {rows.MONITOR} FROM monitors WHERE id IN"
                " (SELECT monitor_id FROM changes WHERE seq > %s) ORDER BY name",
                (cursor,),
            ).fetchall()
            deleted = db.execute(
                "SELECT DISTINCT monitor_id FROM changes WHERE seq > %s"
                " AND monitor_id NOT IN (SELECT id FROM monitors) ORDER BY monitor_id",
                (cursor,),
            ).fetchall()
        return MonitorChanges(
            changed=[rows.monitor_row(r) for r in changed],
            deleted=[r[0] for r in deleted],
            cursor=newest,
        )

    def _shard_counts(self, db: rows.Conn) -> dict[int, int]:
        return {int(shard): int(n) for shard, n in db.execute(rules.SHARD_COUNTS).fetchall()}

    def _create(
        self, db: rows.Conn, spec: MonitorSpec, now: float, counts: dict[int, int] | None = None
    ) -> Monitor:
        rows.check_name_free(db, spec.name, None)
        spec = heartbeats.with_token(spec, None)  # heartbeat monitors: a ping token
        if counts is None:
            counts = self._shard_counts(db)
        monitor_id = rules.balanced_id(counts, self.shards)
        monitor = new_monitor(
            spec,
            id=monitor_id,
            shard=shard_of(monitor_id, self.shards),
            version=1,
            created_at=now,
            updated_at=now,
        )
        try:
            with db.transaction():
                db.execute(rows.INSERT_MONITOR, rows.monitor_params(monitor))
        except psycopg.errors.UniqueViolation:
            # another node took the name between the check and the insert
            raise Conflict(f"a monitor named {spec.name!r} exists already") from None
        state = MonitorState(monitor_id=monitor_id)
        db.execute(rows.INSERT_STATE, tuple(getattr(state, f) for f in state.__struct_fields__))
        heartbeat_rows.sync(db, monitor, None, now)
        self._note_change(db, monitor_id)
        return monitor

    def _update(self, db: rows.Conn, monitor_id: str, spec: MonitorSpec, now: float) -> Monitor:
        old = rows.get_monitor(db, monitor_id, lock=True)
        rows.check_name_free(db, spec.name, monitor_id)
        spec = heartbeats.with_token(spec, old)  # heartbeat monitors keep their token
        monitor = new_monitor(
            spec,
            id=old.id,
            shard=old.shard,
            version=old.version + 1,
            created_at=old.created_at,
            updated_at=now,
        )
        try:
            with db.transaction():
                db.execute(rows.UPDATE_MONITOR, (*rows.monitor_params(monitor), monitor_id))
        except psycopg.errors.UniqueViolation:
            raise Conflict(f"a monitor named {spec.name!r} exists already") from None
        heartbeat_rows.sync(db, monitor, old, now)
        self._note_change(db, monitor_id)
        return monitor

    def _delete(self, db: rows.Conn, monitor_id: str) -> None:
        # The state row goes with the monitor (foreign key); writers lock it before
        # they insert results, so no result of this monitor is added after this.
        if db.execute("DELETE FROM monitors WHERE id = %s", (monitor_id,)).rowcount == 0:
            raise NotFound(f"no monitor has the id {monitor_id!r}")
        for table in ("results", "rollups", "rollups_stale"):
            db.execute(f"DELETE FROM {table} WHERE monitor_id = %s", (monitor_id,))
        alert_rows.delete_monitor_alerts(db, alert_rows.POSTGRES, monitor_id)  # incidents
        self._note_change(db, monitor_id)

    def _note_change(self, db: rows.Conn, monitor_id: str) -> None:
        # The cursor row stays locked until commit, so change numbers become visible
        # in the order they were handed out.
        seq = _one(db, "UPDATE change_cursor SET seq = seq + 1 RETURNING seq")
        db.execute(
            "INSERT INTO changes (seq, monitor_id, at) VALUES (%s, %s, %s)",
            (seq, monitor_id, time.time()),
        )
        if time.monotonic() - self._last_prune >= _PRUNE_EVERY:
            self._last_prune = time.monotonic()
            db.execute(
                "DELETE FROM changes WHERE seq <= (SELECT max(seq) FROM changes WHERE at < %s)",
                (time.time() - CHANGE_RETENTION,),
            )

    # -- results and state -----------------------------------------------------
    def record_results(self, results: Sequence[Result]) -> list[Transition]:
        if not results:
            return []
        days = {r.slot // rollups.DAY_MS for r in results}
        if not days <= self._partitions:
            self._ensure_partitions(days)
        with self._transaction() as db:
            db.execute("SELECT pg_advisory_xact_lock_shared(%s)", (rollups.ROLLUP_LOCK,))
            at = rollups.progress(db)
            ids = sorted({r.monitor_id for r in results})
            # Locking the state rows keeps a concurrent delete out until commit, and
            # serializes writers of the same monitor (another node replaying a spool).
            states: dict[str, MonitorState] = {}
            versions: dict[str, int] = {}
            with db.cursor(binary=True) as cur:
                for row in cur.execute(rows.LOCK_STATES, (ids,)):
                    states[row[0]] = rows.state_row(row[:-1])
                    versions[row[0]] = row[-1]
            kept_from = at.results_kept_from
            keep = [
                r
                for r in results
                if r.monitor_id in states and (kept_from is None or r.slot >= kept_from)
            ]
            if not keep:
                return []
            monitors = self._monitors(db, versions)
            with db.cursor() as cur:
                with cur.copy(rows.COPY_STAGING) as copy:
                    copy.set_types(rows.STAGING_TYPES)
                    for row in rows.copy_rows(keep):
                        copy.write_row(row)
                once = len({(r.monitor_id, r.slot) for r in keep}) == len(keep)
                insert = rows.INSERT_FROM_STAGING if once else rows.INSERT_FIRST_FROM_STAGING
                inserted = set(map(tuple, cur.execute(insert).fetchall()))
            new: dict[str, list[Result]] = {}
            for r in keep:
                key = (r.monitor_id, r.slot)
                if key in inserted:
                    inserted.discard(key)  # the first of a slot's results is the stored one
                    new.setdefault(r.monitor_id, []).append(r)
            # shard-epoch fencing (DESIGN §4): a stale shard owner's results move no state
            highest = fencing.postgres_highest(db, fencing.batch_epochs(monitors, keep))
            changed, transitions = rules.advance_states(
                monitors, states, new, highest_epochs=highest
            )
            # -- alerts (DESIGN §6): maintenance windows, incidents, outbox rows --
            changed, transitions = alert_rows.commit_transitions(
                db, alert_rows.POSTGRES, monitors, states, new, changed, transitions
            )
            if changed:
                rows.copy_states(db, changed)
            rollups.mark_stale(db, [r for fresh in new.values() for r in fresh], at)
        return transitions

    def _monitors(self, db: rows.Conn, versions: dict[str, int]) -> dict[str, Monitor]:
        """Monitors at these versions, read from the database only when they changed
        since this store last read them (the state machine needs their thresholds)."""
        cache = self._monitor_cache
        found: dict[str, Monitor] = {}
        missing = []
        for monitor_id, version in versions.items():
            monitor = cache.get(monitor_id)
            if monitor is not None and monitor.version == version:
                found[monitor_id] = monitor
            else:
                missing.append(monitor_id)
        if missing:
            fetched = rows.monitors_by_id(db, missing)
            if len(cache) > _MONITOR_CACHE:
                cache.clear()  # deleted monitors would otherwise pile up
            cache.update(fetched)
            found.update(fetched)
        return found

    def _ensure_partitions(self, days: set[int]) -> int:
        with self._transaction() as db:
            kept_from = rollups.progress(db).results_kept_from
            wanted = {d for d in days if kept_from is None or (d + 1) * rollups.DAY_MS > kept_from}
            created, self._partitions = rollups.create_partitions(db, wanted)
        return created

    def get_state(self, monitor_id: str) -> MonitorState:
        with self._transaction() as db:
            return rows.get_state(db, monitor_id)

    def get_states(self, monitor_ids: Sequence[str]) -> dict[str, MonitorState]:
        with self._transaction() as db:
            found = rows.states_by_id(db, list(monitor_ids))
        return {i: found.get(i) or MonitorState(monitor_id=i) for i in monitor_ids}

    def list_results(
        self, monitor_id: str, *, before: str | None = None, limit: int = 100
    ) -> Page[Result]:
        rules.check_limit(limit)
        below = None if before is None else rules.parse_slot_cursor(before)
        with self._transaction() as db:
            rows.get_monitor(db, monitor_id)
            found = db.execute(
                f"SELECT {rows.RESULT} FROM results WHERE monitor_id = %s"
                " AND (%s::bigint IS NULL OR slot < %s) ORDER BY slot DESC LIMIT %s",
                (monitor_id, below, below, limit + 1),
            ).fetchall()
        items = [rows.result_row(row) for row in found[:limit]]
        more = len(found) > limit
        return Page(items=items, next=rules.slot_cursor(items[-1].slot) if more else None)

    def uptimes(
        self, monitor_ids: Sequence[str], *, since: float, until: float
    ) -> dict[str, Uptime]:
        with self._transaction() as db:
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return rollups.uptimes(db, monitor_ids, since, until)

    # -- rollups and retention -------------------------------------------------
    def list_rollups(
        self, monitor_id: str, *, span: int, since: float, until: float
    ) -> list[Rollup]:
        with self._transaction() as db:
            rows.get_monitor(db, monitor_id)
            return rollups.list_rollups(db, monitor_id, span, since, until)

    def roll_up(self, until: float) -> RollupReport:
        hours = days = stale = 0
        more = True
        while more:
            with self._transaction() as db:
                chunk, more = rollups.roll_up_chunk(db, until)
            hours, days, stale = hours + chunk.hours, days + chunk.days, stale + chunk.stale
        return RollupReport(
            hours=hours, days=days, stale=stale, hours_rolled_to=chunk.hours_rolled_to
        )

    def apply_retention(
        self, now: float, *, results_for: float, rollups_for: float
    ) -> RetentionReport:
        with self._transaction() as db:
            report, dropped = rollups.apply_retention(
                db, now, results_for=results_for, rollups_for=rollups_for
            )
        self._partitions = self._partitions - dropped
        return report

    def create_partitions(self, now: float, *, days_ahead: int = 2) -> int:
        today = floor_to(now, DAY) // DAY
        return self._ensure_partitions(set(range(today, today + days_ahead + 1)))

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
        params = (*(getattr(token, f) for f in token.__struct_fields__), secret_sha256)
        with self._transaction() as db:
            try:
                with db.transaction():
                    db.execute(rows.INSERT_TOKEN, params)
            except psycopg.errors.UniqueViolation:
                raise Conflict("a token with this secret exists already") from None
        return token

    def find_token(self, secret_sha256: str) -> ApiToken | None:
        with self._transaction() as db:
            return rows.get_token(db, "secret_sha256", secret_sha256)

    def list_tokens(self) -> list[ApiToken]:
        with self._transaction() as db:
            found = db.execute(f"SELECT {rows.TOKEN} FROM api_tokens ORDER BY created_at, id")
            return [rows.token_row(row) for row in found]

    def revoke_token(self, token_id: str, *, now: float) -> ApiToken:
        with self._transaction() as db:
            # Revoking twice keeps the first time.
            db.execute(
                "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, %s) WHERE id = %s",
                (now, token_id),
            )
            token = rows.get_token(db, "id", token_id)
        if token is None:
            raise NotFound(f"no token has the id {token_id!r}")
        return token

    def touch_token(self, token_id: str, *, now: float) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE api_tokens SET last_used_at = %s"
                " WHERE id = %s AND (last_used_at IS NULL OR last_used_at < %s)",
                (now, token_id, now),
            )

    # -- heartbeat monitors ------------------------------------------------------
    def record_ping(
        self, token_sha256: str, kind: PingKind, exit_code: int | None, body: str, at: float
    ) -> bool:
        body = body.replace("\x00", "\ufffd")  # text columns refuse NUL
        with self._transaction() as db:
            return heartbeat_rows.record_ping(db, token_sha256, kind, exit_code, body, at)

    def get_heartbeat(self, token_sha256: str) -> HeartbeatState | None:
        with self._transaction() as db:
            return heartbeat_rows.get(db, token_sha256)


def _one(db: rows.Conn, query: str) -> int:
    row = db.execute(query).fetchone()
    assert row is not None
    return int(row[0])
