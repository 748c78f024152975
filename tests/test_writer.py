"""The result writer against a real SQLite store: outages, rejected rows, bounds."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from uptrack.metrics import Metrics
from uptrack.model import MonitorSpec, Result, Timings, Transition
from uptrack.store.sqlite import SqliteStore
from uptrack.writer import ResultWriter


def result(monitor_id: str, slot: int, ok: bool = True) -> Result:
    return Result(
        monitor_id=monitor_id,
        slot=slot,
        scheduled_at=slot / 1000,
        started_at=slot / 1000,
        duration_ms=1.0,
        ok=ok,
        error_kind=None if ok else "refused",
        error=None,
        http_status=None,
        ip=None,
        timings=Timings(),
        attempts=1,
        node="n",
    )


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "uptrack.db", busy_timeout=0.05)
    store.migrate()
    return store


@pytest.fixture
def monitor_id(store: SqliteStore) -> str:
    spec = MonitorSpec(name="m", kind="tcp", target="127.0.0.1:9", interval=10, timeout=1.0)
    return store.create_monitor(spec, now=time.time()).id


def rows(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [slot for (slot,) in db.execute("SELECT slot FROM results ORDER BY slot")]


async def test_a_failed_write_keeps_the_batch_and_the_next_write_stores_it(
    store: SqliteStore, monitor_id: str, tmp_path: Path
) -> None:
    transitions: list[Transition] = []
    writer = ResultWriter(store, Metrics(), on_transitions=transitions.extend)
    for slot in (1000, 2000, 3000):
        writer.submit(result(monitor_id, slot))
    blocker = sqlite3.connect(tmp_path / "uptrack.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    assert await writer.write_once() is False
    assert (len(writer), writer.healthy) == (3, False)
    blocker.execute("ROLLBACK")
    blocker.close()
    assert await writer.write_once() is True
    assert (len(writer), writer.healthy) == (0, True)
    assert rows(tmp_path / "uptrack.db") == [1000, 2000, 3000]
    assert [(t.from_status, t.to_status) for t in transitions] == [("pending", "up")]


async def test_a_row_the_store_rejects_is_dropped_alone(
    store: SqliteStore, monitor_id: str, tmp_path: Path
) -> None:
    metrics = Metrics()
    writer = ResultWriter(store, metrics)
    for slot in (1000, 2**70, 3000):  # the middle one does not fit a 64-bit column
        writer.submit(result(monitor_id, slot))
    assert await writer.write_once() is True
    assert rows(tmp_path / "uptrack.db") == [1000, 3000]
    assert metrics.results_dropped._value.get() == 1
    assert metrics.results_written._value.get() == 2


async def test_the_buffer_is_bounded_and_drops_the_oldest_results(
    store: SqliteStore, monitor_id: str, tmp_path: Path
) -> None:
    metrics = Metrics()
    writer = ResultWriter(store, metrics, max_buffer=3)
    for slot in range(1000, 6000, 1000):
        writer.submit(result(monitor_id, slot))
    assert len(writer) == 3
    assert metrics.results_dropped._value.get() == 2
    await writer.flush()
    assert rows(tmp_path / "uptrack.db") == [3000, 4000, 5000]


async def test_flush_writes_everything_in_batches(
    store: SqliteStore, monitor_id: str, tmp_path: Path
) -> None:
    writer = ResultWriter(store, Metrics(), batch_size=7)
    for slot in range(1, 51):
        writer.submit(result(monitor_id, slot * 1000))
    assert await writer.flush() == 0
    assert len(rows(tmp_path / "uptrack.db")) == 50
    assert writer.submitted == 50
