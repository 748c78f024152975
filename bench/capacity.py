"""Capacity of one node: N HTTP monitors against a local nginx, measured for real.

Prints checks/s, CPU-seconds per 1,000 checks, start lateness p50/p99, missed slots
and RSS; with --idle, the RSS cost of each scheduled idle monitor.

    python bench/capacity.py                      # 2,000 monitors at 10 s for 60 s
    python bench/capacity.py --monitors 5000 --interval 10 --seconds 120
    python bench/capacity.py --idle 100000        # RSS per idle monitor
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.nodeproc import NodeProcess, free_port, nginx  # noqa: E402
from uptrack.model import MonitorSpec, Result, Timings  # noqa: E402
from uptrack.slots import latest_slot, phase_of, slot_time  # noqa: E402
from uptrack.store.base import ApplyPlan  # noqa: E402
from uptrack.store.sqlite import SqliteStore  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def create_monitors(db: Path, specs: list[MonitorSpec]) -> None:
    store = SqliteStore(db)
    store.migrate()
    store.apply_monitors(ApplyPlan(create=specs), now=time.time())
    store.close()


def mark_checked(db: Path, now: float) -> None:
    """Record each monitor's latest slot so the node starts without catch-up checks."""
    store = SqliteStore(db)
    batch: list[Result] = []
    for m in store.all_monitors():
        slot = latest_slot(now, m.interval, phase_of(m.id, m.interval))
        batch.append(
            Result(
                monitor_id=m.id,
                slot=slot,
                scheduled_at=slot_time(slot),
                started_at=now,
                duration_ms=1.0,
                ok=True,
                error_kind=None,
                error=None,
                http_status=200,
                ip=None,
                timings=Timings(),
                attempts=1,
                node="bench",
            )
        )
        if len(batch) == 1000:
            store.record_results(batch)
            batch = []
    if batch:
        store.record_results(batch)
    store.close()


def run_load(args: argparse.Namespace) -> None:
    with nginx() as base, tempfile.TemporaryDirectory(prefix="uptrack-bench-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        specs = [
            MonitorSpec(
                name=f"bench-{i:06d}",
                kind="http",
                target=f"{base}/m/{i}",
                interval=args.interval,
                timeout=min(5.0, args.interval / 2),
                retries=0,
            )
            for i in range(args.monitors)
        ]
        create_monitors(data / "uptrack.db", specs)
        node = NodeProcess(data, port=free_port()).start()
        try:
            # one interval of warm-up: the start's catch-up checks are not measured
            time.sleep(args.interval + 1)
            t0, cpu0 = time.time(), node.cpu_seconds()
            time.sleep(args.seconds)
            t1, cpu1 = time.time(), node.cpu_seconds()
            rss = node.rss_bytes()
        finally:
            code = node.stop()
        report_load(args, data / "uptrack.db", t0, t1, cpu1 - cpu0, rss, code)


def report_load(
    args: argparse.Namespace, db: Path, t0: float, t1: float, cpu: float, rss: int, code: int
) -> None:
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT monitor_id, slot, scheduled_at, started_at, ok FROM results "
        "WHERE scheduled_at >= ? AND scheduled_at < ?",
        (t0, t1),
    ).fetchall()
    monitors = conn.execute("SELECT id, interval FROM monitors").fetchall()
    conn.close()
    seen: dict[str, set[int]] = {}
    for monitor_id, slot, *_ in rows:
        seen.setdefault(monitor_id, set()).add(slot)
    expected = missed = 0
    for monitor_id, interval in monitors:
        phase = phase_of(monitor_id, interval)
        first = latest_slot(t0, interval, phase)
        if slot_time(first) < t0:
            first += interval * 1000
        slots = range(first, int(t1 * 1000), interval * 1000)
        expected += len(slots)
        missed += sum(1 for s in slots if s not in seen.get(monitor_id, ()))
    lateness = [(started - scheduled) * 1000 for _, _, scheduled, started, _ in rows]
    failed = sum(1 for *_, ok in rows if not ok)
    checks = len(rows)
    print(f"monitors            {args.monitors} at {args.interval} s, measured {t1 - t0:.0f} s")
    print(f"checks/s            {checks / (t1 - t0):.1f}   ({checks} checks, {failed} failed)")
    print(f"CPU-s / 1,000 checks {cpu / max(checks, 1) * 1000:.3f}  (node process, user+sys)")
    print(
        f"start lateness ms   p50 {percentile(lateness, 0.50):.1f}  p99 "
        f"{percentile(lateness, 0.99):.1f}  max {max(lateness, default=float('nan')):.1f}"
    )
    print(f"missed slots        {missed} of {expected}")
    print(f"RSS                 {rss / 2**20:.1f} MiB")
    print(f"node exit code      {code}")


def run_idle(args: argparse.Namespace) -> None:
    rss: dict[int, int] = {}
    for count in (0, args.idle):
        with tempfile.TemporaryDirectory(prefix="uptrack-bench-") as tmp:
            data = Path(tmp) / "data"
            data.mkdir()
            # closed local port, 24 h interval: idle, and the few that come due are cheap
            closed = free_port()
            specs = [
                MonitorSpec(
                    name=f"idle-{i:06d}",
                    kind="tcp",
                    target=f"127.0.0.1:{closed}",
                    interval=86_400,
                    timeout=1.0,
                    retries=0,
                )
                for i in range(count)
            ]
            create_monitors(data / "uptrack.db", specs)
            mark_checked(data / "uptrack.db", time.time())
            node = NodeProcess(data, port=free_port()).start(deadline=300)
            try:
                time.sleep(5)
                rss[count] = node.rss_bytes()
            finally:
                node.stop()
    per = (rss[args.idle] - rss[0]) / args.idle
    print(f"RSS with 0 monitors        {rss[0] / 2**20:.1f} MiB")
    print(f"RSS with {args.idle} idle     {rss[args.idle] / 2**20:.1f} MiB")
    print(f"RSS per idle monitor       {per / 1024:.2f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, default=2000)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--idle", type=int, help="measure RSS per idle monitor instead")
    args = parser.parse_args()
    if args.idle:
        run_idle(args)
    else:
        run_load(args)


if __name__ == "__main__":
    main()
