"""Store figures: results/s the writer sustains, and 90-day uptime query times.

    python bench/store.py                          # PostgreSQL (a temporary server) and SQLite
    python bench/store.py --stores postgres --database postgresql://…/empty_db
    python bench/store.py --monitors 2000          # a smaller data set

For each store, on a data set of `--monitors` monitors (default 10,000) checked every
60 s:

1. results/s: `uptrack.writer.ResultWriter` (batches of 1,000, one writer, every
   batch 1,000 different monitors, so each batch also advances 1,000 states) writes
   the last 30 minutes of results: 30 per monitor, 300,000 for 10,000 monitors.
2. 90-day uptime: 30 days of history before those 30 minutes, generated directly
   as rollups, because rollups are what a 90-day window reads (the raw results
   would be 432 million rows at 10,000 monitors): one hourly row per monitor and
   hour (7.3 million, written hour by hour for every monitor, as the maintenance
   task writes them) and one daily row per monitor and day (300,000). The window
   [now - 90 d, now) then reads 30 daily rows, 10 hourly rows and 30 raw results
   per monitor. Timed: `Store.uptime` of one monitor (200 random monitors: median
   and p95) and `Store.uptimes` of a status list of 1,000 monitors (10 lists:
   median and max).
3. PostgreSQL insert paths, rows/s into a scratch copy of `results` (no state): COPY
   into a staging table then INSERT … ON CONFLICT DO NOTHING (what the store does),
   executemany in pipeline mode, and one INSERT … SELECT FROM unnest(arrays).

Targets on the 2-core reference machine: >= 20,000 results/s into PostgreSQL;
90-day uptime of one monitor < 20 ms; of 1,000 monitors < 500 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers.postgres import PostgresServer  # noqa: E402
from uptrack.metrics import Metrics  # noqa: E402
from uptrack.model import MonitorSpec, Result, Timings  # noqa: E402
from uptrack.slots import latest_slot, phase_of, slot_time  # noqa: E402
from uptrack.store.base import ApplyPlan, Store  # noqa: E402
from uptrack.store.postgres import PostgresStore  # noqa: E402
from uptrack.store.rollups import DAY, HOUR  # noqa: E402
from uptrack.store.sqlite import SqliteStore  # noqa: E402
from uptrack.writer import ResultWriter  # noqa: E402

DAY_START = 1_749_600_000  # 2025-06-11T00:00:00Z
NOW = DAY_START + 10 * HOUR + 30 * 60  # 10:30: ten closed hours today, one half hour open
HISTORY_DAYS = 30
START = DAY_START - HISTORY_DAYS * DAY
INTERVAL = 60


def create_monitors(store: Store, count: int) -> list[str]:
    specs = [
        MonitorSpec(
            name=f"bench-{i:06d}",
            kind="http",
            target=f"https://bench.example/{i}",
            interval=INTERVAL,
            timeout=10,
        )
        for i in range(count)
    ]
    store.apply_monitors(ApplyPlan(create=specs), now=START)
    return [m.id for m in store.all_monitors()]


def open_hour_results(ids: list[str]) -> list[Result]:
    """Every monitor's results of [NOW - 30 min, NOW), slot by slot."""
    rng = random.Random(7)
    per_monitor = {i: latest_slot(NOW - 1800, INTERVAL, phase_of(i, INTERVAL)) for i in ids}
    results = []
    for k in range(30):
        for monitor_id, first in per_monitor.items():
            slot = first + (k + 1) * INTERVAL * 1000
            if slot_time(slot) >= NOW:
                continue
            ok = rng.random() > 0.01
            results.append(
                Result(
                    monitor_id=monitor_id,
                    slot=slot,
                    scheduled_at=slot_time(slot),
                    started_at=slot_time(slot) + 0.002,
                    duration_ms=rng.uniform(5, 80),
                    ok=ok,
                    error_kind=None if ok else "timeout",
                    error=None if ok else "timed out after 10 s while reading the response",
                    http_status=200 if ok else None,
                    ip="192.0.2.10",
                    timings=Timings(dns=0.4, connect=1.1, tls=4.2, ttfb=9.0, total=14.0),
                    attempts=1,
                    node="bench-node",
                )
            )
    return results


def measure_writer(store: Store, results: list[Result]) -> float:
    """Results/s the writer sustains writing `results` (all submitted at once)."""

    async def write() -> float:
        metrics = Metrics()
        writer = ResultWriter(store, metrics, max_buffer=len(results))
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            t0 = time.perf_counter()
            for r in results:
                writer.submit(r)
            while True:  # the writer has no "all written" event; poll its counter
                if metrics.results_written._value.get() >= len(results):
                    break
                await trio.sleep(0.005)
            elapsed = time.perf_counter() - t0
            nursery.cancel_scope.cancel()
        return len(results) / elapsed

    return trio.run(write)


def generate_rollups_postgres(url: str) -> None:
    hours_to = NOW - 30 * 60
    with psycopg.connect(url, autocommit=True) as db:
        # hour by hour for every monitor, as the maintenance task inserts them
        db.execute(
            "INSERT INTO rollups (monitor_id, span, start, checks, failures, latency_sum,"
            " latency_min, latency_max, latency_p95)"
            " SELECT m.id, 3600, h, 60, (abs(hashtext(m.id || h)) %% 100 = 0)::int,"
            " 60 * (20 + abs(hashtext(h || m.id)) %% 30), 5, 200, 60 + abs(hashtext(m.id)) %% 40"
            " FROM generate_series(%s::bigint, %s::bigint, 3600) AS h CROSS JOIN monitors m"
            " ORDER BY h, m.id",
            (START, hours_to - HOUR),
        )
        db.execute(
            "INSERT INTO rollups (monitor_id, span, start, checks, failures, latency_sum,"
            " latency_min, latency_max, latency_p95)"
            " SELECT monitor_id, 86400, start / 86400 * 86400, sum(checks), sum(failures),"
            " sum(latency_sum), min(latency_min), max(latency_max), max(latency_p95)"
            " FROM rollups WHERE span = 3600 AND start < %s"
            " GROUP BY monitor_id, start / 86400 ORDER BY 3, 1",
            (DAY_START,),
        )
        db.execute(
            "UPDATE maintenance SET hours_rolled_to = %s, days_rolled_to = %s",
            (hours_to, DAY_START),
        )
        db.execute("VACUUM ANALYZE")
        row = db.execute(
            "SELECT pg_total_relation_size('rollups'), count(*) FROM rollups"
        ).fetchone()
        assert row is not None
        print(f"  rollups: {row[1]:,} rows, {row[0] / row[1]:.0f} bytes a row with indexes")


def generate_rollups_sqlite(path: Path) -> None:
    hours_to = NOW - 30 * 60
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    db.execute(
        "INSERT INTO rollups (monitor_id, span, start, checks, failures, latency_sum,"
        " latency_min, latency_max, latency_p95)"
        " WITH RECURSIVE hours(h) AS (SELECT ? UNION ALL SELECT h + 3600 FROM hours WHERE h < ?)"
        " SELECT m.id, 3600, h, 60, abs(random()) % 100 = 0, 60 * (20 + abs(random()) % 30),"
        " 5, 200, 60 + abs(random()) % 40 FROM hours CROSS JOIN monitors m",
        (START, hours_to - HOUR),
    )
    db.execute(
        "INSERT INTO rollups (monitor_id, span, start, checks, failures, latency_sum,"
        " latency_min, latency_max, latency_p95)"
        " SELECT monitor_id, 86400, start / 86400 * 86400, sum(checks), sum(failures),"
        " sum(latency_sum), min(latency_min), max(latency_max), max(latency_p95)"
        " FROM rollups WHERE span = 3600 AND start < ? GROUP BY monitor_id, start / 86400",
        (DAY_START,),
    )
    db.execute(
        "UPDATE maintenance SET hours_rolled_to = ?, days_rolled_to = ?", (hours_to, DAY_START)
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()


def timed(fn: Callable[[], Any], times: int) -> list[float]:
    spent = []
    for _ in range(times):
        t0 = time.perf_counter()
        fn()
        spent.append((time.perf_counter() - t0) * 1000)
    return spent


def measure_uptime(store: Store, ids: list[str]) -> None:
    rng = random.Random(11)
    since = NOW - 90 * DAY
    sample = store.uptime(ids[0], since=since, until=NOW)
    print(
        f"  90d uptime, one monitor: checks {sample.checks}, fraction {sample.fraction:.5f},"
        f" mean {sample.mean_ms:.1f} ms, p95 {sample.p95_ms:.1f} ms (answer)"
    )
    one = timed(lambda: store.uptime(rng.choice(ids), since=since, until=NOW), 200)
    print(
        f"  90d uptime, one monitor        median {statistics.median(one):7.2f} ms"
        f"   p95 {sorted(one)[189]:7.2f} ms   (200 random monitors)"
    )
    lists = [ids[i * 1000 : (i + 1) * 1000] for i in range(max(1, len(ids) // 1000))]
    turn = iter(range(10**9))
    many = timed(lambda: store.uptimes(lists[next(turn) % len(lists)], since=since, until=NOW), 10)
    print(
        f"  90d uptime, 1,000 monitors     median {statistics.median(many):7.2f} ms"
        f"   max {max(many):7.2f} ms   (10 status lists)"
    )


def bench_store(name: str, store: Store, generate: Callable[[], None], monitors: int) -> None:
    print(f"{name}:")
    t0 = time.perf_counter()
    ids = create_monitors(store, monitors)
    results = open_hour_results(ids)
    print(f"  {monitors} monitors created in {time.perf_counter() - t0:.1f} s")
    rate = measure_writer(store, results)
    print(f"  writer: {rate:10,.0f} results/s   ({len(results):,} results, batches of 1,000)")
    t0 = time.perf_counter()
    generate()
    print(f"  rollups generated in {time.perf_counter() - t0:.1f} s")
    measure_uptime(store, ids)


def compare_insert_paths(url: str, batches: int = 60) -> None:
    """Rows/s of three ways to insert batches of 1,000 results into PostgreSQL."""
    from uptrack.store import postgres_rows as rows

    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "CREATE TABLE scratch (LIKE results INCLUDING DEFAULTS, PRIMARY KEY (monitor_id, slot))"
        )
    conn = psycopg.connect(url)
    conn.execute(rows.CREATE_STAGING)
    conn.commit()
    columns = rows.RESULT
    base = 1_700_000_000_000

    def batch(k: int) -> list[tuple[Any, ...]]:
        return [
            (f"{i:032x}", base + k * 60_000, (base + k * 60_000) / 1000, 0.0, 12.5, True)
            + (None, None, 200, "127.0.0.1", 1.0, 2.0, None, 5.0, 12.5, 1, "node-a", 0)
            for i in range(1000)
        ]

    def by_copy(b: list[tuple[Any, ...]]) -> None:
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(rows.COPY_STAGING) as copy:
                copy.set_types(rows.STAGING_TYPES)
                for seq, row in enumerate(b):
                    copy.write_row((*row, seq))
            cur.execute(
                f"INSERT INTO scratch ({columns}) SELECT DISTINCT ON (monitor_id, slot)"
                f" {columns} FROM {rows.STAGING} ORDER BY monitor_id, slot, seq"
                " ON CONFLICT DO NOTHING RETURNING monitor_id, slot"
            ).fetchall()

    def by_pipeline(b: list[tuple[Any, ...]]) -> None:
        with conn.transaction(), conn.cursor() as cur:
            marks = ", ".join(["%s"] * 18)
            cur.executemany(
                f"INSERT INTO scratch ({columns}) VALUES ({marks})"
                " ON CONFLICT DO NOTHING RETURNING monitor_id, slot",
                b,
                returning=True,
            )

    def by_unnest(b: list[tuple[Any, ...]]) -> None:
        types = [t.replace("int4", "int").replace("int8", "bigint") for t in rows.STAGING_TYPES]
        arrays = ", ".join(f"%s::{t}[]" for t in types[:18])
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                f"INSERT INTO scratch ({columns}) SELECT * FROM unnest({arrays})"
                " ON CONFLICT DO NOTHING RETURNING monitor_id, slot",
                [list(column) for column in zip(*b, strict=True)],
            ).fetchall()

    print("PostgreSQL insert paths (batches of 1,000, insert only, no state):")
    k = 0
    for label, insert in (
        ("COPY to staging + INSERT … ON CONFLICT", by_copy),
        ("executemany, pipeline mode", by_pipeline),
        ("INSERT … SELECT FROM unnest(arrays)", by_unnest),
    ):
        t0 = time.perf_counter()
        for _ in range(batches):
            insert(batch(k))
            k += 1
        rate = batches * 1000 / (time.perf_counter() - t0)
        print(f"  {label:42s} {rate:10,.0f} rows/s")
    conn.close()


@contextlib.contextmanager
def postgres_database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    with PostgresServer.running() as server:
        print(f"(a temporary PostgreSQL {server.bin.parent.name}, fsync off, on 127.0.0.1)")
        yield server.create_database()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", default="postgres,sqlite")
    parser.add_argument("--monitors", type=int, default=10_000)
    parser.add_argument("--database", help="an empty PostgreSQL database to use")
    args = parser.parse_args()
    stores = args.stores.split(",")
    if "postgres" in stores:
        with postgres_database(args.database) as url:
            store = PostgresStore(url)
            store.migrate()
            try:
                bench_store(
                    "PostgreSQL", store, lambda: generate_rollups_postgres(url), args.monitors
                )
            finally:
                store.close()
            compare_insert_paths(url)
    if "sqlite" in stores:
        with tempfile.TemporaryDirectory(prefix="uptrack-bench-") as tmp:
            path = Path(tmp) / "uptrack.db"
            sqlite_store = SqliteStore(path)
            sqlite_store.migrate()
            try:
                bench_store(
                    "SQLite",
                    sqlite_store,
                    lambda: generate_rollups_sqlite(path),
                    args.monitors,
                )
            finally:
                sqlite_store.close()


if __name__ == "__main__":
    main()
