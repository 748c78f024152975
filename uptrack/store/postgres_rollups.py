"""Day partitions, rollups, retention and uptime windows on PostgreSQL; each function
runs inside the caller's transaction.

`results` is partitioned by the UTC day of its slot (`results_YYYYMMDD`). Writers
hold ROLLUP_LOCK shared while they insert; rolling up and retention take it
exclusively, so a result is either seen by a rollup pass or marked stale by its
writer, and never lands in a day retention is dropping.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from uptrack.model import Result, Uptime
from uptrack.store.rollups import (
    DAY,
    HOUR,
    Progress,
    RetentionReport,
    Rollup,
    RollupReport,
    WindowPlan,
    floor_to,
    plan_window,
    uptime_of,
)

Conn = psycopg.Connection[tuple[Any, ...]]

# pg_advisory_xact_lock keys, fixed for every release (the bytes of "uptrack" + n).
MIGRATE_LOCK = 0x75707472616B01
PARTITION_LOCK = 0x75707472616B02
ROLLUP_LOCK = 0x75707472616B03

DAY_MS = DAY * 1000
CHUNK_HOURS = 24  # hours rolled up per transaction, so writers wait at most that long
_PARTITION_PREFIX = "results_"

ROLLUP = (
    "monitor_id, span, start, checks, failures, latency_sum, latency_min, latency_max, latency_p95"
)
_UPSERT = (
    f"INSERT INTO rollups ({ROLLUP}) {{select}}"
    " ON CONFLICT (monitor_id, span, start) DO UPDATE SET checks = excluded.checks,"
    " failures = excluded.failures, latency_sum = excluded.latency_sum,"
    " latency_min = excluded.latency_min, latency_max = excluded.latency_max,"
    " latency_p95 = excluded.latency_p95"
)
_HOURS_FROM_RESULTS = _UPSERT.format(
    select="SELECT r.monitor_id, 3600, floor(r.scheduled_at / 3600)::bigint * 3600, count(*),"
    " count(*) FILTER (WHERE NOT r.ok), sum(r.duration_ms), min(r.duration_ms),"
    " max(r.duration_ms), percentile_disc(0.95) WITHIN GROUP (ORDER BY r.duration_ms)"
    " FROM {source} WHERE {where}"
    " AND EXISTS (SELECT 1 FROM monitors m WHERE m.id = r.monitor_id) GROUP BY 1, 3"
)
_DAYS_FROM_HOURS = _UPSERT.format(
    select="SELECT monitor_id, 86400, day, sum(checks), sum(failures), sum(latency_sum),"
    " min(latency_min), max(latency_max),"
    " min(CASE WHEN 100 * running >= 95 * total THEN latency_p95 END)"
    " FROM (SELECT monitor_id, start / 86400 * 86400 AS day, checks, failures, latency_sum,"
    " latency_min, latency_max, latency_p95,"
    " sum(checks) OVER (PARTITION BY monitor_id, start / 86400"
    " ORDER BY latency_p95, start ROWS UNBOUNDED PRECEDING) AS running,"
    " sum(checks) OVER (PARTITION BY monitor_id, start / 86400) AS total"
    " FROM rollups WHERE span = 3600 AND {where}) h GROUP BY monitor_id, day"
)


def slot_bounds(start: float, end: float) -> tuple[int, int]:
    """Slots that may hold results scheduled in [start, end): a slot is its due time
    in milliseconds, widened by a second so rounding never excludes one. Lets
    PostgreSQL skip the partitions of other days."""
    return int(start * 1000) - 1000, int(end * 1000) + 1000


# -- partitions -------------------------------------------------------------------
def partition_name(day: int) -> str:
    """The partition of Unix day `day` (days since 1970-01-01, UTC)."""
    return _PARTITION_PREFIX + datetime.fromtimestamp(day * DAY, UTC).strftime("%Y%m%d")


def partition_days(db: Conn) -> set[int]:
    """Unix days whose partition exists."""
    found = db.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'results'::regclass"
    ).fetchall()
    days = set()
    for (name,) in found:
        stamp = datetime.strptime(name.removeprefix(_PARTITION_PREFIX), "%Y%m%d")
        days.add(int(stamp.replace(tzinfo=UTC).timestamp()) // DAY)
    return days


def create_partitions(db: Conn, days: Iterable[int]) -> tuple[int, set[int]]:
    """Create the missing partitions of `days`; returns how many were created and
    every day that has one now. Serialized across nodes by an advisory lock."""
    db.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK,))
    # Creating a partition locks `results` briefly; never queue behind a long reader.
    db.execute("SET LOCAL lock_timeout = '10s'")
    have = partition_days(db)
    missing = sorted(set(days) - have)
    for day in missing:
        db.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF results FOR VALUES FROM ({}) TO ({})").format(
                sql.Identifier(partition_name(day)),
                sql.Literal(day * DAY_MS),
                sql.Literal((day + 1) * DAY_MS),
            )
        )
    return len(missing), have | set(missing)


# -- rollups ----------------------------------------------------------------------
def progress(db: Conn) -> Progress:
    row = db.execute(
        "SELECT hours_rolled_to, days_rolled_to, results_kept_from FROM maintenance"
    ).fetchone()
    assert row is not None
    return Progress(hours_rolled_to=row[0], days_rolled_to=row[1], results_kept_from=row[2])


def mark_stale(db: Conn, fresh: Sequence[Result], at: Progress) -> None:
    """Note the rolled-up hours that `fresh` (newly stored) results fall into."""
    if at.hours_rolled_to is None:
        return
    stale = sorted(
        {
            (r.monitor_id, floor_to(r.scheduled_at, HOUR))
            for r in fresh
            if r.scheduled_at < at.hours_rolled_to
        }
    )
    if stale:
        db.execute(
            "INSERT INTO rollups_stale (monitor_id, hour)"
            " SELECT * FROM unnest(%s::text[], %s::bigint[]) ON CONFLICT DO NOTHING",
            ([m for m, _ in stale], [h for _, h in stale]),
        )


def roll_up_chunk(db: Conn, until: float) -> tuple[RollupReport, bool]:
    """Roll up at most CHUNK_HOURS closed hours, the stale hours and the days they
    complete; returns what was done and whether anything is left."""
    db.execute("SELECT pg_advisory_xact_lock(%s)", (ROLLUP_LOCK,))
    at = progress(db)
    target = floor_to(until, HOUR)
    start = at.hours_rolled_to
    if start is None:
        first = _first_result_time(db)
        start = target if first is None else min(target, floor_to(first, HOUR))
    stop = min(target, start + CHUNK_HOURS * HOUR) if target > start else start
    if stop > start:
        low, high = slot_bounds(start, stop)
        db.execute(
            _HOURS_FROM_RESULTS.format(
                source="results r",
                where="r.slot >= %s AND r.slot < %s"
                " AND r.scheduled_at >= %s AND r.scheduled_at < %s",
            ),
            (low, high, start, stop),
        )
    stale_days = _roll_up_stale(db, at)
    days_from = at.days_rolled_to if at.days_rolled_to is not None else floor_to(start, DAY)
    days_to = max(days_from, floor_to(stop, DAY))
    if days_to > days_from:
        db.execute(
            _DAYS_FROM_HOURS.format(where="start >= %s AND start < %s"), (days_from, days_to)
        )
    for monitor_id, day in sorted(d for d in stale_days if d[1] < days_from):
        db.execute(
            _DAYS_FROM_HOURS.format(where="monitor_id = %s AND start >= %s AND start < %s"),
            (monitor_id, day, day + DAY),
        )
    db.execute("UPDATE maintenance SET hours_rolled_to = %s, days_rolled_to = %s", (stop, days_to))
    report = RollupReport(
        hours=(stop - start) // HOUR,
        days=(days_to - days_from) // DAY,
        stale=len(stale_days),
        hours_rolled_to=stop,
    )
    return report, stop < target


def _first_result_time(db: Conn) -> float | None:
    """When the oldest stored result was due: the oldest partition holding any knows."""
    for day in sorted(partition_days(db)):
        query = sql.SQL("SELECT min(scheduled_at) FROM {}").format(
            sql.Identifier(partition_name(day))
        )
        row = db.execute(query).fetchone()
        if row is not None and row[0] is not None:
            return float(row[0])
    return None


def _roll_up_stale(db: Conn, at: Progress) -> set[tuple[str, int]]:
    kept_from = at.results_kept_from or 0
    stale = db.execute("DELETE FROM rollups_stale RETURNING monitor_id, hour").fetchall()
    stale = [(m, h) for m, h in stale if h * 1000 >= kept_from]
    if not stale:
        return set()
    db.execute(
        _HOURS_FROM_RESULTS.format(
            source="unnest(%s::text[], %s::bigint[]) AS s(monitor_id, hour)"
            " JOIN results r ON r.monitor_id = s.monitor_id"
            " AND r.slot >= s.hour * 1000 - 1000 AND r.slot < s.hour * 1000 + 3601000"
            " AND r.scheduled_at >= s.hour AND r.scheduled_at < s.hour + 3600",
            where="true",
        ),
        ([m for m, _ in stale], [h for _, h in stale]),
    )
    return {(m, floor_to(h, DAY)) for m, h in stale}


# -- retention --------------------------------------------------------------------
def apply_retention(
    db: Conn, now: float, *, results_for: float, rollups_for: float
) -> tuple[RetentionReport, set[int]]:
    """Drop the day partitions past retention; returns the report and the days dropped."""
    db.execute("SELECT pg_advisory_xact_lock(%s)", (ROLLUP_LOCK,))
    db.execute("SET LOCAL lock_timeout = '10s'")
    at = progress(db)
    kept_ms = at.results_kept_from
    dropped: set[int] = set()
    # Never drop what is not rolled up yet: the rollups would miss it for good.
    if at.hours_rolled_to is not None:
        kept_from = min(floor_to(now - results_for, DAY), floor_to(at.hours_rolled_to, DAY))
        kept_ms = max(kept_from * 1000, at.results_kept_from or 0)
        for day in sorted(partition_days(db)):
            if (day + 1) * DAY_MS <= kept_ms:
                db.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(partition_name(day))))
                dropped.add(day)
        db.execute("DELETE FROM rollups_stale WHERE hour * 1000 < %s", (kept_ms,))
        db.execute("UPDATE maintenance SET results_kept_from = %s", (kept_ms,))
    deleted = db.execute("DELETE FROM rollups WHERE start < %s", (now - rollups_for,)).rowcount
    report = RetentionReport(
        results_kept_from=kept_ms, results_dropped=len(dropped), rollups_deleted=deleted
    )
    return report, dropped


# -- reading ----------------------------------------------------------------------
def list_rollups(db: Conn, monitor_id: str, span: int, since: float, until: float) -> list[Rollup]:
    found = db.execute(
        f"SELECT {ROLLUP} FROM rollups WHERE monitor_id = %s AND span = %s"
        " AND start >= %s AND start < %s ORDER BY start",
        (monitor_id, span, since, until),
    ).fetchall()
    return [Rollup(**dict(zip(Rollup.__struct_fields__, row, strict=True))) for row in found]


_ROLLUP_PART = (
    "SELECT monitor_id, checks::bigint, failures::bigint, latency_sum, latency_p95"
    " FROM rollups WHERE monitor_id = ANY(%(ids)s) AND span = {span}"
    " AND start >= {start} AND start < {end}"
)
_RAW_PART = (
    "SELECT monitor_id, count(*), count(*) FILTER (WHERE NOT ok), sum(duration_ms),"
    " percentile_disc(0.95) WITHIN GROUP (ORDER BY duration_ms)"
    " FROM results WHERE monitor_id = ANY(%(ids)s) AND slot >= {low} AND slot < {high}"
    " AND scheduled_at >= {start} AND scheduled_at < {end} GROUP BY monitor_id"
)
_COMBINE = (
    "WITH parts (monitor_id, checks, failures, latency_sum, latency_p95) AS ({parts}),"
    " ranked AS (SELECT *, sum(checks) OVER (PARTITION BY monitor_id ORDER BY latency_p95"
    " ROWS UNBOUNDED PRECEDING) AS running,"
    " sum(checks) OVER (PARTITION BY monitor_id) AS total FROM parts)"
    " SELECT monitor_id, sum(checks)::bigint, sum(failures)::bigint, sum(latency_sum),"
    " min(CASE WHEN 100 * running >= 95 * total THEN latency_p95 END)"
    " FROM ranked GROUP BY monitor_id"
)


def uptimes(db: Conn, monitor_ids: Sequence[str], since: float, until: float) -> dict[str, Uptime]:
    plan = plan_window(since, until, progress(db))
    query, params = _combine_sql(plan)
    params["ids"] = list(monitor_ids)
    found = {row[0]: row[1:] for row in db.execute(query, params).fetchall()}
    return {i: uptime_of(found.get(i), since=since, until=until) for i in monitor_ids}


def _combine_sql(plan: WindowPlan) -> tuple[str, dict[str, Any]]:
    parts: list[str] = []
    params: dict[str, Any] = {}

    def mark(value: Any) -> str:
        name = f"p{len(params)}"
        params[name] = value
        return f"%({name})s"

    for span, ranges in ((DAY, plan.days), (HOUR, plan.hours)):
        for r in ranges:
            parts.append(
                _ROLLUP_PART.format(span=span, start=mark(int(r.start)), end=mark(int(r.end)))
            )
    for r in plan.raw:
        low, high = slot_bounds(r.start, r.end)
        parts.append(
            _RAW_PART.format(low=mark(low), high=mark(high), start=mark(r.start), end=mark(r.end))
        )
    return _COMBINE.format(parts=" UNION ALL ".join(parts)), params
