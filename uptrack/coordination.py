"""The interface between the node and whatever decides which shards it runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import trio

# shard -> epoch (the fencing token of the claim; 0 on a single node)
Assignment = Mapping[int, int]
Assign = Callable[[Assignment], Awaitable[None]]


class Coordinator(Protocol):
    async def run(
        self, assign: Assign, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Call `assign` with the shards this node must run whenever that changes;
        `assign` returns once runners of released shards have stopped."""
        ...

    async def release_all(self) -> None:
        """Hand every shard over now (the node is draining; its runners no longer
        schedule checks, though checks in flight may still finish)."""
        ...

    async def leave(self) -> None:
        """Leave the cluster for good (after the node's results are written)."""
        ...
