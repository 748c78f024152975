"""The change feed against a real SQLite store: edits reach their shard's runner."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import msgspec
import pytest

from uptrack.feed import MonitorFeed
from uptrack.model import Monitor, MonitorSpec
from uptrack.store.sqlite import SqliteStore


class Recorder:
    def __init__(self) -> None:
        self.changed: list[Monitor] = []
        self.deleted: list[tuple[str, int]] = []

    def on_change(self, monitor: Monitor) -> None:
        self.changed.append(monitor)

    def on_delete(self, monitor_id: str, shard: int) -> None:
        self.deleted.append((monitor_id, shard))


def spec(name: str) -> MonitorSpec:
    return MonitorSpec(name=name, kind="tcp", target="127.0.0.1:9", interval=10, timeout=1.0)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "uptrack.db")
    store.migrate()
    return store


async def test_the_feed_routes_creates_edits_and_deletes_once_each(store: SqliteStore) -> None:
    seen = Recorder()
    feed = MonitorFeed(store, on_change=seen.on_change, on_delete=seen.on_delete)
    a = store.create_monitor(spec("a"), now=time.time())
    await feed.load()
    assert (seen.changed, feed.shard(a.shard)) == ([], [a])  # loading notifies nobody
    b = store.create_monitor(spec("b"), now=time.time())
    edited = store.update_monitor(a.id, msgspec.structs.replace(spec("a"), interval=20), now=0)
    assert await feed.poll_once() == 2
    assert {(m.name, m.version) for m in seen.changed} == {("a", 2), ("b", 1)}
    assert feed.by_id[a.id] == edited
    store.delete_monitor(b.id)
    assert await feed.poll_once() == 1
    assert seen.deleted == [(b.id, b.shard)]
    assert await feed.poll_once() == 0
    assert b.id not in feed.by_id


async def test_an_expired_cursor_makes_the_feed_resync_and_report_what_vanished(
    store: SqliteStore, tmp_path: Path
) -> None:
    seen = Recorder()
    feed = MonitorFeed(store, on_change=seen.on_change, on_delete=seen.on_delete)
    a = store.create_monitor(spec("a"), now=time.time())
    b = store.create_monitor(spec("b"), now=time.time())
    await feed.load()
    store.delete_monitor(b.id)
    with sqlite3.connect(tmp_path / "uptrack.db") as db:  # the change log was pruned
        db.execute("DELETE FROM changes")
    c = store.create_monitor(spec("c"), now=time.time())
    await feed.poll_once()
    assert seen.deleted == [(b.id, b.shard)]
    assert [m.id for m in seen.changed] == [c.id]  # a is unchanged: not notified again
    assert set(feed.by_id) == {a.id, c.id}
