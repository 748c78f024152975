"""PostgresStore specifics: migrations under concurrency, day partitions, locks, outages."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from bench.nodeproc import free_port
from tests.servers.postgres import PostgresServer
from uptrack.errors import SchemaTooNew, StoreError, StoreUnavailable
from uptrack.model import Monitor, MonitorSpec, Result, Timings
from uptrack.store.postgres import PostgresStore
from uptrack.store.postgres_pool import redacted
from uptrack.store.rollups import DAY, HOUR
from uptrack.store.schema import load_migrations

DAY0 = 1_714_521_600  # 2024-05-01T00:00:00Z


@pytest.fixture
def url(postgres_database: str) -> str:
    return postgres_database


@pytest.fixture
def store(url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(url)
    store.migrate()
    yield store
    store.close()


def raw(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as db:
        cursor = db.execute(query.encode())
        return cursor.fetchall() if cursor.description else []


def partitions(url: str) -> list[str]:
    return [
        str(name)
        for (name,) in raw(
            url,
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'results'::regclass ORDER BY 1",
        )
    ]


def make_monitor(store: PostgresStore, name: str = "db") -> Monitor:
    spec = MonitorSpec(name=name, kind="tcp", target="db.internal:5432", interval=60, timeout=5)
    return store.create_monitor(spec, now=DAY0)


def at(monitor: Monitor, t: float, ok: bool = True) -> Result:
    return Result(
        monitor_id=monitor.id,
        slot=int(t * 1000),
        scheduled_at=t,
        started_at=t,
        duration_ms=3.0,
        ok=ok,
        error_kind=None if ok else "refused",
        error=None,
        http_status=None,
        ip=None,
        timings=Timings(),
        attempts=1,
        node="node-a",
    )


def test_two_nodes_migrating_a_new_database_at_once_both_succeed(url: str) -> None:
    stores = [PostgresStore(url), PostgresStore(url)]
    start = threading.Barrier(2)
    versions: list[int] = []
    errors: list[BaseException] = []

    def migrate(store: PostgresStore) -> None:
        start.wait()
        try:
            versions.append(store.migrate())
        except BaseException as exc:  # reported below, with the thread's result
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for store in stores:
        store.close()

    newest = len(load_migrations("postgres"))
    assert (errors, versions) == ([], [newest, newest])
    assert raw(url, "SELECT version FROM uptrack_schema") == [(newest,)]


def test_a_database_holding_other_tables_is_refused_and_left_alone(url: str) -> None:
    raw(url, "CREATE TABLE invoices (id integer PRIMARY KEY)")
    store = PostgresStore(url)

    with pytest.raises(StoreError, match="not an Uptrack database"):
        store.migrate()
    store.close()

    assert raw(url, "SELECT to_regclass('monitors')") == [(None,)]


def test_a_newer_schema_is_refused_before_anything_changes(url: str, store: PostgresStore) -> None:
    raw(url, "UPDATE uptrack_schema SET version = 42")

    with pytest.raises(SchemaTooNew, match="database schema is version 42"):
        store.migrate()


def test_results_are_stored_in_one_partition_per_utc_day(url: str, store: PostgresStore) -> None:
    monitor = make_monitor(store)

    store.record_results([at(monitor, DAY0 - 60), at(monitor, DAY0), at(monitor, DAY0 + 60)])

    assert partitions(url) == ["results_20240430", "results_20240501"]
    assert raw(url, "SELECT count(*) FROM results_20240430") == [(1,)]
    assert raw(url, "SELECT count(*) FROM results_20240501") == [(2,)]


def test_partitions_are_made_ahead_for_today_and_the_next_two_days(
    url: str, store: PostgresStore
) -> None:
    assert store.create_partitions(DAY0 + 23 * HOUR) == 3
    assert store.create_partitions(DAY0 + 23 * HOUR) == 0
    assert store.create_partitions(DAY0 + DAY) == 1

    assert partitions(url) == [
        "results_20240501",
        "results_20240502",
        "results_20240503",
        "results_20240504",
    ]


def test_retention_drops_whole_day_partitions(url: str, store: PostgresStore) -> None:
    monitor = make_monitor(store)
    store.record_results([at(monitor, DAY0 + d * DAY + HOUR) for d in range(20)])
    now = DAY0 + 20 * DAY
    store.roll_up(now)

    report = store.apply_retention(now, results_for=14 * DAY, rollups_for=730 * DAY)

    assert report.results_dropped == 6  # the days before 2024-05-07
    assert partitions(url)[0] == "results_20240507"
    assert len(partitions(url)) == 14
    assert raw(url, "SELECT count(*) FROM results") == [(14,)]


def test_two_writers_with_the_same_results_store_each_slot_and_state_step_once(
    url: str, store: PostgresStore
) -> None:
    monitors = [make_monitor(store, f"m{i}") for i in range(50)]
    batch = [at(m, DAY0 + 60 * k, ok=k % 3 != 0) for k in range(20) for m in monitors]
    writers = [PostgresStore(url), PostgresStore(url)]
    start = threading.Barrier(2)

    def write(writer: PostgresStore, order: int) -> None:
        start.wait()
        for i in range(0, len(batch), 100)[::order]:
            writer.record_results(batch[i : i + 100])

    threads = [
        threading.Thread(target=write, args=(w, o)) for w, o in zip(writers, (1, -1), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for writer in writers:
        writer.close()

    assert raw(url, "SELECT count(*), count(DISTINCT (monitor_id, slot)) FROM results") == [
        (1000, 1000)
    ]
    states = store.get_states([m.id for m in monitors])
    assert {s.last_slot for s in states.values()} == {int((DAY0 + 60 * 19) * 1000)}
    assert all(s.version <= 20 for s in states.values())


def test_an_unreachable_server_makes_every_call_store_unavailable() -> None:
    store = PostgresStore(f"postgresql://nobody@127.0.0.1:{free_port()}/none", pool_timeout=0.2)

    with pytest.raises(StoreUnavailable, match="^PostgreSQL: "):
        store.migrate()
    with pytest.raises(StoreUnavailable):
        store.all_monitors()
    store.close()


def test_a_crashed_and_restarted_server_is_used_again_at_once() -> None:
    with PostgresServer.running() as server:
        url = server.create_database()
        store = PostgresStore(url, pool_timeout=0.5)
        store.migrate()
        created = make_monitor(store)
        server.stop("immediate")
        with pytest.raises(StoreUnavailable):
            store.all_monitors()

        server.start()

        assert store.all_monitors() == [created]
        store.close()


def test_the_password_never_shows_in_a_redacted_url() -> None:
    shown = redacted("postgresql://uptrack:s3cr3t@db.internal:5433/uptrack?sslmode=require")

    assert "s3cr3t" not in shown
    assert "db.internal" in shown
