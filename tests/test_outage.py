"""Database outages on a real node: PostgreSQL crashes for 20 s under ~200 results/s.

A node subprocess checks 1,000 TCP monitors every 5 s against a local nginx. The
PostgreSQL server is stopped with `pg_ctl stop -m immediate` (a crash) and started
again 20 s later. The node spools what it cannot write and replays it in order: no
result is lost or stored twice, even when the node itself is killed with SIGKILL
during the outage and started again after it.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from bench.nodeproc import NodeProcess, nginx
from tests.servers.postgres import PostgresServer
from uptrack.model import MonitorSpec
from uptrack.store.base import ApplyPlan
from uptrack.store.postgres import PostgresStore

pytestmark = pytest.mark.slow

MONITORS = 1000
INTERVAL = 5
OUTAGE = 20.0
# A kill -9 loses what was not spooled yet: at most one flush interval (200 ms) of
# results plus checks in flight. Slots due this long before the kill must be stored.
KILL_MARGIN = 1.0
# A graceful stop loses nothing: checks in flight finish and everything is flushed.
# Slots due this long before SIGTERM have started (on a loaded machine) and are stored.
STOP_MARGIN = 2.0

T = TypeVar("T")


def poll(fn: Callable[[], T], *, deadline: float, every: float = 0.1) -> T:
    """Call `fn` until it returns something truthy; fail after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {deadline} s (last: {value!r})")
        time.sleep(every)


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    """A server of this module's own: the tests crash it."""
    with PostgresServer.running() as server:
        yield server


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with nginx() as base:
        yield base.removeprefix("http://")


@pytest.fixture
def database(pg: PostgresServer, target: str) -> Iterator[str]:
    url = pg.create_database()
    store = PostgresStore(url)
    store.migrate()
    specs = [
        MonitorSpec(
            name=f"tcp-{i:04d}", kind="tcp", target=target, interval=INTERVAL, timeout=2, retries=0
        )
        for i in range(MONITORS)
    ]
    store.apply_monitors(ApplyPlan(create=specs), now=time.time())
    store.close()
    yield url
    pg.drop_database(url)


def count(url: str) -> int:
    with psycopg.connect(url) as db:
        row = db.execute("SELECT count(*) FROM results").fetchone()
        assert row is not None
        return int(row[0])


def slots_by_monitor(url: str) -> dict[str, list[int]]:
    with psycopg.connect(url) as db:
        found: dict[str, list[int]] = {}
        for monitor_id, slot in db.execute("SELECT monitor_id, slot FROM results ORDER BY 1, 2"):
            found.setdefault(monitor_id, []).append(slot)
        duplicates = db.execute(
            "SELECT count(*) - count(DISTINCT (monitor_id, slot)) FROM results"
        ).fetchone()
        assert duplicates == (0,)
    return found


def spooled(node: NodeProcess) -> float:
    metrics = httpx.get(node.url + "/metrics", timeout=5).text
    match = re.search(r"^uptrack_spool_results (\S+)$", metrics, re.MULTILINE)
    assert match is not None
    return float(match.group(1))


def readiness(node: NodeProcess) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(node.url + "/readyz", timeout=5).json()
    return body


def events(node: NodeProcess, name: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in node.log().splitlines() if line.startswith("{"))
    return [e for e in lines if e.get("event") == name]


def crash_database_for(pg: PostgresServer, node: NodeProcess, outage: float) -> float:
    """Crash PostgreSQL, check the node spools, start PostgreSQL after `outage` s."""
    pg.stop("immediate")
    down = time.monotonic()
    poll(lambda: spooled(node) > 0, deadline=10)
    assert readiness(node)["checks"]["store"].startswith("failing writes;")
    time.sleep(max(0.0, down + outage - time.monotonic()))  # the outage is a duration
    pg.start()
    return down


@pytest.fixture
def data(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def test_a_database_crash_of_20_seconds_loses_no_result_and_stores_none_twice(
    pg: PostgresServer, database: str, data: Path
) -> None:
    node = NodeProcess(data, extra=["--database", database]).start()
    try:
        poll(lambda: count(database) >= MONITORS + 400, deadline=20)

        crash_database_for(pg, node, OUTAGE)

        # ready again once the spool is replayed
        poll(lambda: httpx.get(node.url + "/readyz", timeout=5).status_code == 200, deadline=30)
        assert spooled(node) == 0
        stopped_at = time.time()
        assert node.stop(signal.SIGTERM, timeout=30) == 0
    finally:
        node.kill()

    [stopped] = events(node, "node.stopped")
    assert (stopped["results_unwritten"], stopped["results_spooled"]) == (0, 0)
    slots = slots_by_monitor(database)
    assert len(slots) == MONITORS
    # every slot of every monitor, from its first to the last one due before the stop
    last_due = (stopped_at - STOP_MARGIN) * 1000
    for monitor_slots in slots.values():
        assert monitor_slots == list(
            range(monitor_slots[0], monitor_slots[-1] + 1, INTERVAL * 1000)
        ), "a slot is missing"
        assert monitor_slots[-1] > last_due - INTERVAL * 1000, (
            "a slot run before the stop is missing"
        )
    # and each result the node produced, once: the node checks each slot once
    assert sum(map(len, slots.values())) == stopped["results_submitted"]
    assert stopped["results_submitted"] >= MONITORS * (OUTAGE + 2) / INTERVAL


def test_a_node_killed_during_the_crash_replays_its_spool_when_it_starts_again(
    pg: PostgresServer, database: str, data: Path
) -> None:
    first = NodeProcess(data, extra=["--database", database]).start()
    try:
        poll(lambda: count(database) >= MONITORS + 400, deadline=20)
        pg.stop("immediate")
        down = time.monotonic()
        # five seconds of results in the spool, then the node dies with them on disk
        poll(lambda: spooled(first) >= MONITORS, deadline=20)
        killed_at = time.time()
        first.kill()
    finally:
        first.kill()
    time.sleep(max(0.0, down + OUTAGE - time.monotonic()))
    pg.start()

    second = NodeProcess(data, extra=["--database", database]).start(deadline=60)
    try:
        [opened] = events(second, "spool.opened")
        assert opened["results"] >= MONITORS
        poll(lambda: spooled(second) == 0, deadline=30)
        restarted = count(database)
        poll(lambda: count(database) >= restarted + 400, deadline=20)
        assert second.stop(signal.SIGTERM, timeout=30) == 0
    finally:
        second.kill()

    slots = slots_by_monitor(database)
    assert len(slots) == MONITORS
    must_have = (killed_at - KILL_MARGIN) * 1000
    for monitor_slots in slots.values():
        grid = range(monitor_slots[0], int(must_have), INTERVAL * 1000)
        assert set(grid) <= set(monitor_slots), "a slot run before the kill is missing"
        assert monitor_slots[-1] > killed_at * 1000  # the second node went on checking
