"""Hourly and daily rollups: which parts of an uptime window each tier answers, and how.

Every store keeps raw results for `results_retention` and aggregates per monitor for
every closed hour and every closed UTC day (checks, failures, latency sum, min, max
and nearest-rank p95). An uptime window is answered from the coarsest tier that
covers each part of it: whole rolled-up days from daily rows, the whole rolled-up
hours around them from hourly rows, and the rest (the open hour, the ragged edges)
from raw results. Short windows (a day or two) are read from raw results alone, so
they are exact.

Counts and means combine exactly. The p95 of more than one part is the
checks-weighted nearest rank of the parts' p95 values: exact for one part, an
approximation of the p95 of every check otherwise.
"""

from __future__ import annotations

import math

import msgspec

from uptrack.model import Uptime

HOUR = 3600
DAY = 86_400
SPANS = (HOUR, DAY)
# Windows up to this long are read from raw results alone (exact p95).
RAW_WINDOW = 2 * DAY


class Rollup(msgspec.Struct, frozen=True, kw_only=True):
    """Aggregates of one monitor's results over one hour or one UTC day."""

    monitor_id: str
    span: int  # HOUR or DAY
    start: int  # Unix seconds, a multiple of span
    checks: int
    failures: int
    latency_sum: float  # milliseconds
    latency_min: float
    latency_max: float
    latency_p95: float  # nearest rank (of hourly p95s, weighted by checks, for a day)


class Range(msgspec.Struct, frozen=True):
    """[start, end) in Unix seconds."""

    start: float
    end: float


class WindowPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Where each part of an uptime window is read from. `days` and `hours` are
    ranges of rollup start times (whole spans inside the window)."""

    raw: list[Range]
    hours: list[Range]
    days: list[Range]


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """How far maintenance got: hours and days rolled up before these Unix times
    (multiples of HOUR and DAY), and raw results kept from this slot on."""

    hours_rolled_to: int | None = None
    days_rolled_to: int | None = None
    results_kept_from: int | None = None


class RollupReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one `roll_up` did."""

    hours: int  # hours newly rolled up (every monitor)
    days: int  # days newly rolled up
    stale: int  # (monitor, hour) aggregates rolled up again after late results
    hours_rolled_to: int | None


class RetentionReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one `apply_retention` did."""

    results_kept_from: int | None  # slot; results before it are gone
    results_dropped: int  # rows deleted (SQLite) or day partitions dropped (PostgreSQL)
    rollups_deleted: int


def floor_to(t: float, span: int) -> int:
    return math.floor(t / span) * span


def ceil_to(t: float, span: int) -> int:
    return math.ceil(t / span) * span


def rank95(n: int) -> int:
    """The 1-based nearest rank of the 95th percentile of n values: ceil(0.95 n),
    in integers (equal to `math.ceil(0.95 * n)` for every n)."""
    return (95 * n + 99) // 100


def plan_window(since: float, until: float, progress: Progress) -> WindowPlan:
    """Split [since, until) into the parts read from days, hours and raw results."""
    kept_from = progress.results_kept_from
    raw_only = until - since <= RAW_WINDOW and (kept_from is None or since * 1000 >= kept_from)
    if raw_only or progress.hours_rolled_to is None or until <= since:
        return WindowPlan(raw=[Range(since, until)], hours=[], days=[])
    h0 = ceil_to(since, HOUR)
    h1 = min(floor_to(until, HOUR), progress.hours_rolled_to)
    if h1 <= h0:
        return WindowPlan(raw=[Range(since, until)], hours=[], days=[])
    raw = [r for r in (Range(since, h0), Range(h1, until)) if r.end > r.start]
    days_to = progress.days_rolled_to
    d0 = ceil_to(h0, DAY)
    d1 = min(floor_to(h1, DAY), days_to if days_to is not None else d0)
    if d1 <= d0:
        return WindowPlan(raw=raw, hours=[Range(h0, h1)], days=[])
    hours = [r for r in (Range(h0, d0), Range(d1, h1)) if r.end > r.start]
    return WindowPlan(raw=raw, hours=hours, days=[Range(d0, d1)])


def uptime_of(row: tuple[int, int, float, float] | None, *, since: float, until: float) -> Uptime:
    """The uptime of a window from its combined (checks, failures, latency sum, p95)."""
    if row is None or not row[0]:
        return Uptime(
            window_start=since,
            window_end=until,
            checks=0,
            good=0,
            failed=0,
            fraction=None,
            mean_ms=None,
            p95_ms=None,
        )
    checks, failures, latency_sum, p95 = row
    good = checks - failures
    return Uptime(
        window_start=since,
        window_end=until,
        checks=checks,
        good=good,
        failed=failures,
        fraction=good / checks,
        mean_ms=latency_sum / checks,
        p95_ms=p95,
    )
