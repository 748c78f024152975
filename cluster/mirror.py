"""A prefix of etcd mirrored in memory: listed, followed by a watch, re-listed after compaction."""

from __future__ import annotations

from collections.abc import Callable

import structlog
import trio

from cluster.etcd import Compacted, EtcdClient, HistoryRewound, KeyValue, WatchBatch

log = structlog.get_logger()


class Mirror:
    """The keys under `prefix` as of `revision`, for code that reacts to what is in etcd.

    `run` lists the prefix, then follows it with a watch from the listed revision + 1;
    when etcd has compacted that revision away, or its history went back (restored from
    a snapshot), it lists again, so the mirror is never missing a change, only
    sometimes late. `changed()` is called after every change
    (and after every listing); it must not block.
    """

    def __init__(self, etcd: EtcdClient, prefix: str) -> None:
        self.prefix = prefix
        self.kvs: dict[str, KeyValue] = {}
        self.revision = 0  # every change up to this revision is in `kvs`
        self.relists = 0  # listings after the first (a compaction got in the way)
        # the revision listed after etcd's history went back (a restored snapshot):
        # revisions seen before it no longer order against the ones after it
        self.rewound_to: int | None = None
        self.rewinds = 0
        self._etcd = etcd
        self._advanced = trio.Event()

    async def relist(self) -> None:
        """Read the prefix anew. A listing behind what the mirror had seen means etcd's
        history went back (restored from a snapshot, whether a watch noticed it or
        etcd was away so long that the watch gave up): `rewound_to` records it."""
        listed = await self._etcd.range(self.prefix, prefix=True)
        if listed.revision < self.revision:
            log.warning(
                "etcd.history_rewound",
                prefix=self.prefix,
                revision=self.revision,
                etcd_revision=listed.revision,
            )
            self.rewound_to = listed.revision
            self.rewinds += 1
        self.kvs = {kv.key: kv for kv in listed.kvs}
        self.revision = listed.revision
        self._advance()

    def apply(self, batch: WatchBatch) -> None:
        for event in batch.events:
            if event.type == "put":
                self.kvs[event.kv.key] = event.kv
            else:
                self.kvs.pop(event.kv.key, None)
        self.revision = batch.events[-1].kv.mod_revision
        self._advance()

    async def reached(self, revision: int) -> None:
        """Wait until every change up to `revision` is in the mirror, or etcd's history
        went back (then `revision` may never come). Callers set the deadline: a mirror
        cut off from etcd does not advance."""
        rewinds = self.rewinds
        while self.revision < revision and self.rewinds == rewinds:
            await self._advanced.wait()

    def _advance(self) -> None:
        self._advanced.set()
        self._advanced = trio.Event()

    async def run(
        self,
        changed: Callable[[], None] = lambda: None,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """List, report started, then follow until cancelled.

        Raises Unavailable when etcd stays unreachable longer than the client's
        `watch_reconnect`; running it again resumes (with a fresh listing).
        """
        await self.relist()
        task_status.started()
        changed()
        while True:
            try:
                async with self._etcd.watch(
                    self.prefix, prefix=True, start_revision=self.revision + 1
                ) as watch:
                    async for batch in watch:
                        self.apply(batch)
                        changed()
            except HistoryRewound:
                # the member that took the watch back is behind: a restored etcd (which
                # the listing confirms), or a follower still catching up (it does not)
                await self.relist()
                self.relists += 1
                changed()
            except Compacted as exc:
                log.info(
                    "etcd.mirror_relist",
                    prefix=self.prefix,
                    revision=self.revision,
                    compact_revision=exc.compact_revision,
                )
                await self.relist()
                self.relists += 1
                changed()
