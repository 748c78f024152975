"""Rollups, retention and uptime windows on SQLite; each function runs inside the
caller's transaction (`SqliteStore` holds its lock around them)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

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

CHUNK_HOURS = 24  # hours rolled up per transaction, so writers wait at most that long

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
# Hourly aggregates of the results selected by {where} (over `r`), nearest-rank p95.
_HOURS_FROM_RESULTS = _UPSERT.format(
    select="SELECT monitor_id, 3600, hour, count(*), sum(1 - ok), sum(duration_ms),"
    " min(duration_ms), max(duration_ms),"
    " min(CASE WHEN rn = (95 * n + 99) / 100 THEN duration_ms END)"
    " FROM (SELECT r.monitor_id, r.ok, r.duration_ms,"
    " CAST(r.scheduled_at / 3600 AS INTEGER) * 3600 AS hour,"
    " row_number() OVER (PARTITION BY r.monitor_id, CAST(r.scheduled_at / 3600 AS INTEGER)"
    " ORDER BY r.duration_ms) AS rn,"
    " count(*) OVER (PARTITION BY r.monitor_id, CAST(r.scheduled_at / 3600 AS INTEGER)) AS n"
    " FROM {source} WHERE {where}) GROUP BY monitor_id, hour"
)
# Daily aggregates of hourly rows; the day's p95 is the checks-weighted nearest
# rank of its hours' p95 values.
_DAYS_FROM_HOURS = _UPSERT.format(
    select="SELECT monitor_id, 86400, day, sum(checks), sum(failures), sum(latency_sum),"
    " min(latency_min), max(latency_max),"
    " min(CASE WHEN 100 * running >= 95 * total THEN latency_p95 END)"
    " FROM (SELECT monitor_id, start / 86400 * 86400 AS day, checks, failures, latency_sum,"
    " latency_min, latency_max, latency_p95,"
    " sum(checks) OVER (PARTITION BY monitor_id, start / 86400"
    " ORDER BY latency_p95, start ROWS UNBOUNDED PRECEDING) AS running,"
    " sum(checks) OVER (PARTITION BY monitor_id, start / 86400) AS total"
    " FROM rollups WHERE span = 3600 AND {where}) GROUP BY monitor_id, day"
)


def progress(db: sqlite3.Connection) -> Progress:
    hours, days, kept = db.execute(
        "SELECT hours_rolled_to, days_rolled_to, results_kept_from FROM maintenance"
    ).fetchone()
    return Progress(hours_rolled_to=hours, days_rolled_to=days, results_kept_from=kept)


def mark_stale(db: sqlite3.Connection, fresh: Sequence[Result], at: Progress) -> None:
    """Note the rolled-up hours that `fresh` (newly stored) results fall into."""
    if at.hours_rolled_to is None:
        return
    stale = {
        (r.monitor_id, floor_to(r.scheduled_at, HOUR))
        for r in fresh
        if r.scheduled_at < at.hours_rolled_to
    }
    db.executemany(
        "INSERT INTO rollups_stale (monitor_id, hour) VALUES (?, ?) ON CONFLICT DO NOTHING",
        sorted(stale),
    )


def roll_up_chunk(db: sqlite3.Connection, until: float) -> tuple[RollupReport, bool]:
    """Roll up at most CHUNK_HOURS closed hours, the stale hours and the days they
    complete; returns what was done and whether anything is left."""
    at = progress(db)
    target = floor_to(until, HOUR)
    start = at.hours_rolled_to
    if start is None:
        (first,) = db.execute("SELECT min(scheduled_at) FROM results").fetchone()
        start = target if first is None else min(target, floor_to(first, HOUR))
    stop = min(target, start + CHUNK_HOURS * HOUR) if target > start else start
    if stop > start:
        db.execute(
            _HOURS_FROM_RESULTS.format(
                source="results r",
                where="r.monitor_id IN (SELECT id FROM monitors)"
                " AND r.scheduled_at >= ? AND r.scheduled_at < ?",
            ),
            (start, stop),
        )
    stale_days = _roll_up_stale(db, at)
    days_from = at.days_rolled_to if at.days_rolled_to is not None else floor_to(start, DAY)
    days_to = max(days_from, floor_to(stop, DAY))
    if days_to > days_from:
        db.execute(_DAYS_FROM_HOURS.format(where="start >= ? AND start < ?"), (days_from, days_to))
    for monitor_id, day in sorted(d for d in stale_days if d[1] < days_from):
        db.execute(
            _DAYS_FROM_HOURS.format(where="monitor_id = ? AND start >= ? AND start < ?"),
            (monitor_id, day, day + DAY),
        )
    db.execute("UPDATE maintenance SET hours_rolled_to = ?, days_rolled_to = ?", (stop, days_to))
    report = RollupReport(
        hours=(stop - start) // HOUR,
        days=(days_to - days_from) // DAY,
        stale=len(stale_days),
        hours_rolled_to=stop,
    )
    return report, stop < target


def _roll_up_stale(db: sqlite3.Connection, at: Progress) -> set[tuple[str, int]]:
    """Roll up again the stale hours whose raw results are still kept; returns the
    (monitor, day) pairs they belong to."""
    kept_from = (at.results_kept_from or 0) / 1000
    stale = db.execute("SELECT monitor_id, hour FROM rollups_stale").fetchall()
    if not stale:
        return set()
    db.execute(
        _HOURS_FROM_RESULTS.format(
            source="rollups_stale s JOIN results r ON r.monitor_id = s.monitor_id"
            " AND r.scheduled_at >= s.hour AND r.scheduled_at < s.hour + 3600",
            where="s.hour >= ?",
        ),
        (kept_from,),
    )
    db.execute("DELETE FROM rollups_stale")
    return {(m, floor_to(hour, DAY)) for m, hour in stale if hour >= kept_from}


def apply_retention(
    db: sqlite3.Connection, now: float, *, results_for: float, rollups_for: float
) -> RetentionReport:
    at = progress(db)
    kept_ms, dropped = at.results_kept_from, 0
    # Never delete what is not rolled up yet: the rollups would miss it for good.
    if at.hours_rolled_to is not None:
        kept_from = min(floor_to(now - results_for, DAY), floor_to(at.hours_rolled_to, DAY))
        kept_ms = max(kept_from * 1000, at.results_kept_from or 0)
        if kept_ms != at.results_kept_from:  # a new day expired: once a day
            # By monitor and time (an index), not by slot (a scan of every result).
            dropped = db.execute(
                "DELETE FROM results WHERE monitor_id IN (SELECT id FROM monitors)"
                " AND scheduled_at < ? AND slot < ?",
                (kept_ms / 1000 + 1, kept_ms),
            ).rowcount
            db.execute("DELETE FROM rollups_stale WHERE hour * 1000 < ?", (kept_ms,))
            db.execute("UPDATE maintenance SET results_kept_from = ?", (kept_ms,))
    deleted = db.execute("DELETE FROM rollups WHERE start < ?", (now - rollups_for,)).rowcount
    return RetentionReport(
        results_kept_from=kept_ms, results_dropped=dropped, rollups_deleted=deleted
    )


def list_rollups(
    db: sqlite3.Connection, monitor_id: str, span: int, since: float, until: float
) -> list[Rollup]:
    found = db.execute(
        f"SELECT {ROLLUP} FROM rollups WHERE monitor_id = ? AND span = ?"
        " AND start >= ? AND start < ? ORDER BY start",
        (monitor_id, span, since, until),
    ).fetchall()
    return [Rollup(**dict(zip(Rollup.__struct_fields__, row, strict=True))) for row in found]


_RAW_PART = (
    "SELECT * FROM (SELECT monitor_id, count(*), sum(1 - ok), sum(duration_ms),"
    " min(CASE WHEN rn = (95 * n + 99) / 100 THEN duration_ms END)"
    " FROM (SELECT monitor_id, ok, duration_ms,"
    " row_number() OVER (PARTITION BY monitor_id ORDER BY duration_ms) AS rn,"
    " count(*) OVER (PARTITION BY monitor_id) AS n"
    " FROM results WHERE monitor_id IN (SELECT value FROM ids)"
    " AND scheduled_at >= ? AND scheduled_at < ?) GROUP BY monitor_id)"
)
_ROLLUP_PART = (
    "SELECT monitor_id, checks, failures, latency_sum, latency_p95 FROM rollups"
    " WHERE monitor_id IN (SELECT value FROM ids) AND span = ? AND start >= ? AND start < ?"
)
_COMBINE = (
    "WITH ids AS (SELECT value FROM json_each(?)),"
    " parts (monitor_id, checks, failures, latency_sum, latency_p95) AS ({parts}),"
    " ranked AS (SELECT *, sum(checks) OVER (PARTITION BY monitor_id ORDER BY latency_p95"
    " ROWS UNBOUNDED PRECEDING) AS running,"
    " sum(checks) OVER (PARTITION BY monitor_id) AS total FROM parts)"
    " SELECT monitor_id, sum(checks), sum(failures), sum(latency_sum),"
    " min(CASE WHEN 100 * running >= 95 * total THEN latency_p95 END)"
    " FROM ranked GROUP BY monitor_id"
)


def uptimes(
    db: sqlite3.Connection, monitor_ids: Sequence[str], since: float, until: float
) -> dict[str, Uptime]:
    plan = plan_window(since, until, progress(db))
    sql, params = _combine_sql(plan)
    found = {
        row[0]: row[1:]
        for row in db.execute(sql, [json.dumps(list(monitor_ids)), *params]).fetchall()
    }
    return {i: uptime_of(found.get(i), since=since, until=until) for i in monitor_ids}


def _combine_sql(plan: WindowPlan) -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    for span, ranges in ((DAY, plan.days), (HOUR, plan.hours)):
        for r in ranges:
            parts.append(_ROLLUP_PART)
            params += [span, r.start, r.end]
    for r in plan.raw:
        parts.append(_RAW_PART)
        params += [r.start, r.end]
    return _COMBINE.format(parts=" UNION ALL ".join(parts)), params
