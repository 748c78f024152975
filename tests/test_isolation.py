"""Fault isolation on a real node: hostile targets cost only their own timeout.

300 monitors on one node subprocess: healthy ones against a local nginx, hostile
ones against targets that never answer, answer garbage, never stop sending, close
mid-headers, redirect 50 times or drip one byte a second. Every healthy monitor
keeps every slot on time; every hostile one fails with its own error kind within
its timeout; the node's memory stays bounded.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import trio

from bench.nodeproc import NodeProcess, nginx
from tests.servers import serve_hostile, serve_http
from uptrack.model import MonitorSpec
from uptrack.slots import latest_slot, phase_of, slot_time
from uptrack.store.base import ApplyPlan
from uptrack.store.sqlite import SqliteStore

pytestmark = pytest.mark.slow

INTERVAL = 5
TIMEOUT = 2.0
HEALTHY = 240
PER_HOSTILE = 10
WINDOW = 15.0  # three slots of every monitor
WARM_UP = INTERVAL + 2.0  # the start's catch-up checks are not measured
# hostile path -> the error kind its checks must report
HOSTILE = {
    "/silent": "timeout",
    "/garbage": "protocol",
    "/endless-body": "too_large",
    "/close-mid-headers": "protocol",
    "/drip?interval=1": "timeout",
}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.99 * len(ordered)) - 1)]


def store_monitors(data: Path, specs: list[MonitorSpec]) -> None:
    store = SqliteStore(data / "uptrack.db")
    store.migrate()
    store.apply_monitors(ApplyPlan(create=specs), now=time.time())
    store.close()


async def test_hostile_targets_fail_alone_and_healthy_monitors_keep_every_slot(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with nginx() as healthy_base:
        async with serve_hostile() as hostile, serve_http() as redirector:
            targets = {hostile.url_for(path): kind for path, kind in HOSTILE.items()}
            targets[redirector.url_for("/redirect/50")] = "protocol"
            specs = [
                MonitorSpec(
                    name=f"healthy-{i}",
                    kind="http",
                    target=f"{healthy_base}/{i}",
                    interval=INTERVAL,
                    timeout=TIMEOUT,
                    retries=0,
                )
                for i in range(HEALTHY)
            ]
            expected_kind: dict[str, str] = {}
            for n, (url, kind) in enumerate(targets.items()):
                for i in range(PER_HOSTILE):
                    name = f"hostile-{n}-{i}"
                    expected_kind[name] = kind
                    specs.append(
                        MonitorSpec(
                            name=name,
                            kind="http",
                            target=url,
                            interval=INTERVAL,
                            timeout=TIMEOUT,
                            retries=0,
                        )
                    )
            assert len(specs) == 300
            store_monitors(data, specs)
            node = NodeProcess(data)
            await trio.to_thread.run_sync(node.start)
            try:
                await trio.sleep(WARM_UP)
                t0, rss0 = time.time(), node.rss_bytes()
                await trio.sleep(WINDOW)
                t1, rss1 = time.time(), node.rss_bytes()
            finally:
                code = await trio.to_thread.run_sync(node.stop)
    assert code == 0, node.log()

    db = sqlite3.connect(data / "uptrack.db")
    names = dict(db.execute("SELECT id, name FROM monitors"))
    intervals = dict(db.execute("SELECT id, interval FROM monitors"))
    rows = db.execute(
        "SELECT monitor_id, slot, scheduled_at, started_at, ok, error_kind, duration_ms "
        "FROM results WHERE scheduled_at >= ? AND scheduled_at < ?",
        (t0, t1),
    ).fetchall()
    db.close()

    healthy_lateness: list[float] = []
    by_monitor: dict[str, set[int]] = {}
    for monitor_id, slot, scheduled, started, ok, kind, duration in rows:
        name = names[monitor_id]
        by_monitor.setdefault(monitor_id, set()).add(slot)
        if name.startswith("healthy"):
            assert ok == 1, (name, kind)
            healthy_lateness.append(started - scheduled)
        else:
            assert (ok, kind) == (0, expected_kind[name]), name
            assert duration <= TIMEOUT * 1000 + 250, (name, duration)

    for monitor_id, name in names.items():
        interval, phase = intervals[monitor_id], phase_of(monitor_id, intervals[monitor_id])
        first = latest_slot(t0, interval, phase)
        if slot_time(first) < t0:
            first += interval * 1000
        due = set(range(first, int(t1 * 1000), interval * 1000))
        # a hostile check due near the window's end may still be running at SIGTERM
        missing = due - by_monitor.get(monitor_id, set())
        assert not missing, f"{name} missed slots {sorted(missing)}"
    assert p99(healthy_lateness) < 0.5
    assert rss1 - rss0 < 32 * 2**20, f"RSS grew by {(rss1 - rss0) / 2**20:.1f} MiB"
