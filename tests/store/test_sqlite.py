"""SqliteStore specifics: WAL, locking, migrations, the pruned change log."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from msgspec.structs import replace

from uptrack.errors import ChangesExpired, SchemaTooNew, StoreError, StoreUnavailable
from uptrack.model import MonitorSpec, Result, Timings
from uptrack.store.schema import Migration, load_migrations, read_migrations
from uptrack.store.sqlite import CHANGE_RETENTION, SqliteStore, apply_migrations

T0 = 1_714_564_800.0
TABLES = {
    "monitors",
    "monitor_state",
    "results",
    "changes",
    "api_tokens",
    "rollups",
    "rollups_stale",
    "maintenance",
    "shard_epochs",
    "heartbeats",
    # alerts (DESIGN §6)
    "channels",
    "incidents",
    "outbox",
    "maintenances",
}


def spec(name: str) -> MonitorSpec:
    return MonitorSpec(name=name, kind="tcp", target="db.internal:5432", interval=30, timeout=5)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "uptrack.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(path, busy_timeout=0.05)
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def raw(path: Path, store: SqliteStore) -> Iterator[sqlite3.Connection]:
    """A second, plain connection to the store's file (autocommit)."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        yield db


def tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def test_the_database_runs_in_wal_mode(raw: sqlite3.Connection) -> None:
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_writes_go_on_while_another_connection_reads(
    store: SqliteStore, raw: sqlite3.Connection
) -> None:
    first = store.create_monitor(spec("first"), now=T0)
    raw.execute("BEGIN")
    assert raw.execute("SELECT count(*) FROM monitors").fetchone() == (1,)

    # With a rollback journal this commit would wait for the reader and time out.
    second = store.create_monitor(spec("second"), now=T0)

    assert raw.execute("SELECT count(*) FROM monitors").fetchone() == (1,)
    raw.execute("COMMIT")
    assert store.all_monitors() == [first, second]


def test_a_write_blocked_past_the_busy_timeout_raises_store_unavailable(
    store: SqliteStore, raw: sqlite3.Connection
) -> None:
    raw.execute("BEGIN IMMEDIATE")

    with pytest.raises(StoreUnavailable, match="locked"):
        store.create_monitor(spec("db"), now=T0)

    raw.execute("ROLLBACK")
    store.create_monitor(spec("db"), now=T0)
    assert [m.name for m in store.all_monitors()] == ["db"]


def test_a_database_in_a_missing_directory_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        SqliteStore(tmp_path / "missing" / "uptrack.db")


def test_migrating_creates_the_tables_and_records_the_version(
    store: SqliteStore, raw: sqlite3.Connection
) -> None:
    newest = len(load_migrations("sqlite"))

    assert store.migrate() == newest
    assert raw.execute("PRAGMA user_version").fetchone() == (newest,)
    assert tables(raw) == TABLES


def test_migrations_are_shipped_numbered_from_one(path: Path) -> None:
    migrations = load_migrations("sqlite")

    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "initial"


def test_a_schema_newer_than_this_release_is_refused_before_anything_changes(
    path: Path,
) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 7")
    store = SqliteStore(path)

    with pytest.raises(SchemaTooNew) as refused:
        store.migrate()
    store.close()

    known = len(load_migrations("sqlite"))
    assert str(refused.value) == (
        f"database schema is version 7, this Uptrack knows up to {known}; upgrade Uptrack"
    )
    with closing(sqlite3.connect(path)) as db:
        assert tables(db) == set()


def test_a_database_that_is_not_uptrack_is_refused(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    store = SqliteStore(path)

    with pytest.raises(StoreError, match="not an Uptrack database"):
        store.migrate()
    store.close()


def test_a_failed_migration_leaves_the_schema_and_version_as_they_were(path: Path) -> None:
    migrations = [
        Migration(1, "first", "CREATE TABLE first (x);\n-- a comment at the end\n"),
        Migration(2, "broken", "CREATE TABLE second (x);\nTHIS IS NOT SQL;\n"),
    ]
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        with pytest.raises(sqlite3.OperationalError, match="syntax error"):
            apply_migrations(db, migrations)

        assert db.execute("PRAGMA user_version").fetchone() == (0,)
        assert tables(db) == set()
        assert apply_migrations(db, migrations[:1]) == 1
        assert tables(db) == {"first"}


def test_migration_files_numbered_with_a_gap_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_initial.sql").write_text("CREATE TABLE a (x);\n")
    (tmp_path / "0003_later.sql").write_text("CREATE TABLE b (x);\n")

    with pytest.raises(StoreError, match="0003_later.sql where 0002 belongs"):
        read_migrations(tmp_path)


def test_a_badly_named_migration_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_initial.sql").write_text("CREATE TABLE a (x);\n")

    with pytest.raises(StoreError, match="'1_initial.sql' is not named NNNN_name.sql"):
        read_migrations(tmp_path)


def test_change_rows_older_than_an_hour_are_pruned_and_older_cursors_refused(
    path: Path, store: SqliteStore, raw: sqlite3.Connection
) -> None:
    old = [store.create_monitor(spec(f"old-{i}"), now=T0) for i in range(3)]
    cursor_before_pruning = store.changes_since(0).cursor
    store.delete_monitor(old[0].id)
    raw.execute("UPDATE changes SET at = at - ?", (CHANGE_RETENTION + 1,))
    # A new store prunes on its first write.
    other = SqliteStore(path)
    new = other.create_monitor(spec("new"), now=T0)
    other.close()

    assert raw.execute("SELECT monitor_id FROM changes").fetchall() == [(new.id,)]
    with pytest.raises(ChangesExpired):
        store.changes_since(cursor_before_pruning)
    everything = store.changes_since(0)
    assert [m.name for m in everything.changed] == ["new", "old-1", "old-2"]
    assert everything.cursor == cursor_before_pruning + 2
    since_newest = store.changes_since(everything.cursor - 1)
    assert ([m.id for m in since_newest.changed], since_newest.deleted) == ([new.id], [])


def test_the_change_cursor_keeps_growing_after_every_row_is_pruned(
    store: SqliteStore, raw: sqlite3.Connection
) -> None:
    created = store.create_monitor(spec("db"), now=T0)
    cursor = store.changes_since(0).cursor
    raw.execute("DELETE FROM changes")

    assert store.changes_since(cursor).cursor == cursor
    store.delete_monitor(created.id)

    after = store.changes_since(cursor)
    assert (after.deleted, after.cursor) == ([created.id], cursor + 1)


def test_a_batch_that_fails_half_way_stores_nothing(
    store: SqliteStore, raw: sqlite3.Connection
) -> None:
    monitor = store.create_monitor(spec("db"), now=T0)
    good = Result(
        monitor_id=monitor.id,
        slot=1_714_564_830_000,
        scheduled_at=T0 + 30,
        started_at=T0 + 30,
        duration_ms=1.0,
        ok=True,
        error_kind=None,
        error=None,
        http_status=None,
        ip=None,
        timings=Timings(),
        attempts=1,
        node="node-a",
    )
    beyond_64_bits = replace(good, slot=2**70)

    with pytest.raises(OverflowError):
        store.record_results([good, beyond_64_bits])

    assert raw.execute("SELECT count(*) FROM results").fetchone() == (0,)
    assert store.get_state(monitor.id).status == "pending"
