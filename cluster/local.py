"""The single-node coordinator: this node owns every shard, at epoch 0."""

from __future__ import annotations

import trio

from uptrack.coordination import Assign


class LocalCoordinator:
    def __init__(self, shards: int) -> None:
        self.shards = shards

    async def run(
        self, assign: Assign, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        await assign({shard: 0 for shard in range(self.shards)})
        task_status.started()
        await trio.sleep_forever()

    async def release_all(self) -> None:
        """Nobody to hand shards to."""

    async def leave(self) -> None:
        """Nothing to leave."""
