"""The change feed: keeps the node's monitor index current from the store's cursor."""

from __future__ import annotations

from collections.abc import Callable

import structlog
import trio

from uptrack.errors import ChangesExpired
from uptrack.model import Monitor, MonitorChanges
from uptrack.store.base import Store

log = structlog.get_logger()

POLL_EVERY = 0.5
READ_DEADLINE = 10.0


class MonitorFeed:
    """All monitors, indexed by shard, and callbacks for each change."""

    def __init__(
        self,
        store: Store,
        *,
        on_change: Callable[[Monitor], None],
        on_delete: Callable[[str, int], None],
        poll_every: float = POLL_EVERY,
    ) -> None:
        self.store = store
        self.on_change = on_change
        self.on_delete = on_delete
        self.poll_every = poll_every
        self.by_id: dict[str, Monitor] = {}
        self.by_shard: dict[int, dict[str, Monitor]] = {}
        self.cursor = 0
        self.healthy = False

    def shard(self, shard: int) -> list[Monitor]:
        return list(self.by_shard.get(shard, {}).values())

    async def load(self) -> None:
        """Read every monitor (before any shard starts)."""
        await self.poll_once(notify=False)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await trio.sleep(self.poll_every)
            try:
                await self.poll_once()
            except Exception as exc:
                self.healthy = False
                log.warning("feed.poll_failed", error_type=type(exc).__name__, error=str(exc))

    async def poll_once(self, *, notify: bool = True) -> int:
        """Apply changes since the cursor; returns how many monitors changed."""
        with trio.fail_after(READ_DEADLINE):
            try:
                changes = await self.store.call(self.store.changes_since, self.cursor)
            except ChangesExpired:
                # too long without a poll: start over and treat what vanished as deleted
                log.warning("feed.resync", cursor=self.cursor)
                snapshot = await self.store.call(self.store.changes_since, 0)
                present = {m.id for m in snapshot.changed}
                gone = [i for i in self.by_id if i not in present]
                changes = MonitorChanges(
                    changed=snapshot.changed, deleted=gone, cursor=snapshot.cursor
                )
        self.healthy = True
        for monitor_id in changes.deleted:
            old = self.by_id.pop(monitor_id, None)
            if old is not None:
                self.by_shard.get(old.shard, {}).pop(monitor_id, None)
                if notify:
                    self.on_delete(monitor_id, old.shard)
        for monitor in changes.changed:
            old = self.by_id.get(monitor.id)
            if old is not None and old.version >= monitor.version:
                continue
            self.by_id[monitor.id] = monitor
            self.by_shard.setdefault(monitor.shard, {})[monitor.id] = monitor
            if notify:
                self.on_change(monitor)
        self.cursor = changes.cursor
        return len(changes.changed) + len(changes.deleted)
