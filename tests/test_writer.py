"""The result writer against a real SQLite store: outages, the spool, rejected rows, bounds."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from uptrack.metrics import Metrics
from uptrack.model import MonitorSpec, Result, Timings, Transition
from uptrack.spool import Spool
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


async def eventually(condition: Callable[[], bool], *, deadline: float) -> None:
    """Poll `condition` until it holds; fail after `deadline` seconds."""
    with trio.fail_after(deadline):
        while True:
            if condition():
                return
            await trio.sleep(0.01)


class Locked:
    """Another connection holding the database's write lock: the store is unavailable."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self.db.execute("ROLLBACK")
        self.db.close()


async def test_while_the_store_is_unavailable_results_are_spooled_and_replayed_in_order(
    store: SqliteStore, monitor_id: str, tmp_path: Path
) -> None:
    metrics = Metrics()
    transitions: list[Transition] = []
    spool = Spool(tmp_path / "spool")
    spool.open()
    writer = ResultWriter(store, metrics, spool=spool, on_transitions=transitions.extend)
    locked = Locked(tmp_path / "uptrack.db")
    for slot in (1000, 2000):
        writer.submit(result(monitor_id, slot, ok=False))

    assert await writer.write_once() is False
    await writer.spool_buffer()
    # once results are spooled, later ones queue behind them
    writer.submit(result(monitor_id, 3000, ok=True))
    await writer.spool_buffer()

    assert (len(writer), writer.spooled, writer.healthy) == (0, 3, False)
    assert metrics.spool_results._value.get() == 3
    assert await writer.replay_once() is False
    locked.release()
    while writer.spooled:
        assert await writer.replay_once() is True
    assert rows(tmp_path / "uptrack.db") == [1000, 2000, 3000]
    assert [(t.from_status, t.to_status) for t in transitions] == [
        ("pending", "down"),
        ("down", "up"),
    ]
    assert (writer.healthy, metrics.spool_results._value.get()) == (True, 0)


async def test_a_new_writer_replays_the_spool_a_killed_node_left(
    store: SqliteStore, monitor_id: str, tmp_path: Path
) -> None:
    left = Spool(tmp_path / "spool")
    left.open()
    left.append([result(monitor_id, slot) for slot in (1000, 2000)])
    left.close()  # the node died here
    writer = ResultWriter(store, Metrics(), spool=Spool(tmp_path / "spool"))

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.submit(result(monitor_id, 3000))
        await eventually(lambda: len(rows(tmp_path / "uptrack.db")) == 3, deadline=10)
        nursery.cancel_scope.cancel()

    assert rows(tmp_path / "uptrack.db") == [1000, 2000, 3000]
    assert writer.spooled == 0
    assert list((tmp_path / "spool").iterdir()) == []


async def test_a_running_writer_spools_during_an_outage_and_catches_up_after_it(
    store: SqliteStore, monitor_id: str, tmp_path: Path
) -> None:
    writer = ResultWriter(store, Metrics(), spool=Spool(tmp_path / "spool"), flush_every=0.01)
    locked = Locked(tmp_path / "uptrack.db")
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for slot in range(1, 51):
            writer.submit(result(monitor_id, slot * 1000))
            await trio.sleep(0.001)
        await eventually(lambda: writer.spooled == 50, deadline=10)
        assert len(writer) == 0
        locked.release()
        await eventually(
            lambda: not writer.spooled and len(rows(tmp_path / "uptrack.db")) == 50, deadline=20
        )
        nursery.cancel_scope.cancel()

    assert rows(tmp_path / "uptrack.db") == [slot * 1000 for slot in range(1, 51)]
    assert writer.healthy


async def test_flushing_at_shutdown_spools_what_the_store_cannot_take(
    store: SqliteStore, monitor_id: str, tmp_path: Path
) -> None:
    writer = ResultWriter(store, Metrics(), spool=Spool(tmp_path / "spool"))
    await trio.to_thread.run_sync(writer.spool.open)  # type: ignore[union-attr]
    locked = Locked(tmp_path / "uptrack.db")
    for slot in (1000, 2000, 3000):
        writer.submit(result(monitor_id, slot))

    assert await writer.flush() == 0

    locked.release()
    assert writer.spooled == 3
    again = Spool(tmp_path / "spool")
    assert again.open() == 3


async def test_flush_at_shutdown_waits_for_the_batch_the_running_writer_has_in_flight(
    monitor_id: str, tmp_path: Path
) -> None:
    # a store that waits for the database lock: its write is slow, not failed
    slow = SqliteStore(tmp_path / "uptrack.db", busy_timeout=10.0)
    writer = ResultWriter(slow, Metrics(), flush_every=0.01)
    locked = Locked(tmp_path / "uptrack.db")

    async def release_soon() -> None:
        await trio.sleep(0.2)  # the database answers after a while
        locked.release()

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for slot in (1000, 2000, 3000):
                writer.submit(result(monitor_id, slot))
            # the running writer has taken the batch off its buffer and is writing it
            await eventually(lambda: slow.limiter.borrowed_tokens == 1, deadline=10)
            assert len(writer) == 3  # in flight is not written yet
            nursery.start_soon(release_soon)
            unwritten = await writer.flush()
            stored = rows(tmp_path / "uptrack.db")
            nursery.cancel_scope.cancel()  # as the node does once flushed
    finally:
        slow.close()

    assert (unwritten, stored, len(writer)) == (0, [1000, 2000, 3000], 0)


async def test_flush_at_shutdown_spools_a_batch_in_flight_that_the_store_cannot_take(
    monitor_id: str, tmp_path: Path
) -> None:
    slow = SqliteStore(tmp_path / "uptrack.db", busy_timeout=0.5)
    writer = ResultWriter(slow, Metrics(), spool=Spool(tmp_path / "spool"), flush_every=0.01)
    locked = Locked(tmp_path / "uptrack.db")
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for slot in (1000, 2000, 3000):
                writer.submit(result(monitor_id, slot))
            await eventually(lambda: slow.limiter.borrowed_tokens == 1, deadline=10)
            unwritten = await writer.flush()
            nursery.cancel_scope.cancel()
    finally:
        locked.release()
        slow.close()

    assert (unwritten, len(writer)) == (0, 0)
    again = Spool(tmp_path / "spool")
    assert again.open() == 3
