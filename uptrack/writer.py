"""The result writer: batches results into the store; checks never wait for it.

Results wait in memory for at most one flush interval (200 ms) or one batch (1,000
rows). When the store is unavailable, they go to the spool (`uptrack.spool`), a
local append-only file, every flush interval; from then on every result goes
through the spool, which a second task replays in order, with capped backoff,
until it is empty again. So the store sees results in the order the checks
produced them, and a crash during an outage loses at most the last flush interval.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import structlog
import trio

from uptrack.errors import StoreUnavailable
from uptrack.metrics import Metrics
from uptrack.model import Result, Transition
from uptrack.spool import Spool
from uptrack.store.base import Store

log = structlog.get_logger()

BATCH_SIZE = 1000
FLUSH_EVERY = 0.2
MAX_BUFFER = 200_000
WRITE_DEADLINE = 10.0
RETRY_FIRST = 0.2
RETRY_MAX = 5.0


class ResultWriter:
    """Buffers results in memory and writes them in batches (about every 200 ms or
    1,000 rows). While the store is unavailable, results go to the spool (without
    one, they stay buffered) and the writer retries with capped backoff; past
    MAX_BUFFER rows in memory the oldest are dropped and counted."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        spool: Spool | None = None,
        on_transitions: Callable[[list[Transition]], None] | None = None,
        batch_size: int = BATCH_SIZE,
        flush_every: float = FLUSH_EVERY,
        max_buffer: int = MAX_BUFFER,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.spool = spool
        self.on_transitions = on_transitions
        self.batch_size = batch_size
        self.flush_every = flush_every
        self.max_buffer = max_buffer
        self._buffer: collections.deque[Result] = collections.deque()
        self._have_rows = trio.Event()
        self._full_batch = trio.Event()
        self._buffer_lock = trio.Lock()  # takes batches off the buffer, in order
        self._replay_lock = trio.Lock()  # takes batches off the spool, in order
        self._spooled = trio.Event()  # set when the spool may hold something
        self._writing = 0  # rows taken off the buffer by a store write in flight
        self._backoff = RETRY_FIRST
        self.healthy = True
        self.submitted = 0

    def __len__(self) -> int:
        """Results neither written nor spooled: buffered, or in a write in flight (taken
        off the buffer, back at its head if the write fails)."""
        return len(self._buffer) + self._writing

    @property
    def spooled(self) -> int:
        """Results in the spool, waiting to be replayed."""
        return self.spool.depth if self.spool is not None else 0

    def submit(self, result: Result) -> None:
        """Queue a result. Never blocks and never fails."""
        self.submitted += 1
        if len(self._buffer) >= self.max_buffer:
            self._buffer.popleft()
            self.metrics.results_dropped.inc()
        self._buffer.append(result)
        self.metrics.results_buffered.set(len(self._buffer))
        self._have_rows.set()
        if len(self._buffer) >= self.batch_size:
            self._full_batch.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if self.spool is not None and not self.spool.opened:
            # what a previous run left (a node killed during an outage) goes first
            await trio.to_thread.run_sync(self.spool.open)
            self._count_spool()
            if self.spool.depth:
                self._spooled.set()
        try:
            async with trio.open_nursery() as nursery:
                if self.spool is not None:
                    # its own task: a replay waiting on an absent database must not
                    # hold back spooling what the checks produce meanwhile
                    nursery.start_soon(self._replay_spool)
                task_status.started()
                await self._move_buffer()
        finally:
            if self.spool is not None:
                self.spool.close()

    async def _move_buffer(self) -> None:
        """Every flush interval (or full batch), memory to the store; to the spool
        instead while it holds anything, or when the store fails."""
        while True:
            await self._have_rows.wait()
            with trio.move_on_after(self.flush_every):
                await self._full_batch.wait()
            if self.spooled:
                await self.spool_buffer()  # behind the older results
            elif await self.write_once():
                self._backoff = RETRY_FIRST
            elif self.spool is not None:
                await self.spool_buffer()
            else:
                await trio.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, RETRY_MAX)

    async def _replay_spool(self) -> None:
        """Replay the spool, oldest first, whenever it holds anything."""
        backoff = RETRY_FIRST
        while True:
            await self._spooled.wait()
            while self.spooled:
                if await self.replay_once():
                    backoff = RETRY_FIRST
                else:
                    await trio.sleep(backoff)
                    backoff = min(backoff * 2, RETRY_MAX)
            self._spooled = trio.Event()

    async def write_once(self) -> bool:
        """Write one batch from the head of the buffer; False if the store is failing
        (the batch is then back at the head, in order)."""
        async with self._buffer_lock:
            count = min(self.batch_size, len(self._buffer))
            batch = [self._buffer.popleft() for _ in range(count)]
            self._reset_events()
            if not batch:
                return True
            written = False
            self._writing = len(batch)
            try:
                await self._write(batch)
                written = True
            except StoreUnavailable as exc:
                self._failed(exc, len(batch))
                return False
            finally:
                self._writing = 0
                if not written:  # failed or cancelled: keep the batch, in order
                    self._buffer.extendleft(reversed(batch))
                    self._have_rows.set()
                    if len(self._buffer) >= self.batch_size:
                        self._full_batch.set()
            self.healthy = True
            self.metrics.results_buffered.set(len(self._buffer))
            return True

    async def replay_once(self) -> bool:
        """Write the oldest spooled batches (up to a batch); False if the store is failing."""
        assert self.spool is not None
        async with self._replay_lock:
            batch = await trio.to_thread.run_sync(self.spool.head, self.batch_size)
            if batch is None:
                return True
            try:
                await self._write(batch)
            except StoreUnavailable as exc:
                self._failed(exc, len(batch))
                return False
            await trio.to_thread.run_sync(self.spool.ack, batch)
            self.healthy = True
            self._count_spool()
            if not self.spool.depth:
                log.info("spool.replayed")
            return True

    async def spool_buffer(self) -> None:
        """Move every buffered result to the spool, in batches, in order."""
        assert self.spool is not None
        async with self._buffer_lock:
            while self._buffer:
                count = min(self.batch_size, len(self._buffer))
                batch = [self._buffer.popleft() for _ in range(count)]
                appended = False
                try:
                    dropped = await trio.to_thread.run_sync(self.spool.append, batch)
                    appended = True
                except OSError as exc:
                    log.error("spool.write_failed", rows=len(batch), error=str(exc))
                    break
                finally:
                    if not appended:  # failed or cancelled: keep the batch, in order
                        self._buffer.extendleft(reversed(batch))
                self.metrics.results_dropped.inc(dropped)
                self._spooled.set()
            self._reset_events()
            self.metrics.results_buffered.set(len(self._buffer))
            self._count_spool()

    async def _write(self, batch: list[Result]) -> None:
        """Write `batch`. A failure that is not the store being unavailable is a bad
        row or a bug: the batch is split until the rows that fail are isolated and
        dropped (logged and counted), so one bad row never blocks the others."""
        try:
            with trio.fail_after(WRITE_DEADLINE):
                transitions = await self.store.call(self.store.record_results, batch)
        except trio.TooSlowError:
            raise StoreUnavailable(
                f"writing {len(batch)} results took over {WRITE_DEADLINE} s"
            ) from None
        except StoreUnavailable:
            raise
        except Exception as exc:
            if len(batch) == 1:
                self.metrics.results_dropped.inc()
                log.exception(
                    "results.row_rejected",
                    monitor=batch[0].monitor_id,
                    slot=batch[0].slot,
                    error_type=type(exc).__name__,
                )
                return
            half = len(batch) // 2
            await self._write(batch[:half])
            await self._write(batch[half:])
            return
        self.metrics.results_written.inc(len(batch))
        if transitions and self.on_transitions is not None:
            self.on_transitions(transitions)

    async def flush(self) -> int:
        """Write everything not written yet (at shutdown), the spool first. With a
        spool, what cannot be written in time is spooled for the next start. Returns
        the rows left in memory, which are lost when the process ends.

        The running writer may have a batch in flight, off the buffer: `len(self)`
        counts it, and `write_once` and `spool_buffer` wait for it (the buffer lock),
        so this never returns while it may still fail or be cancelled."""
        try:
            while len(self) or self.spooled:
                if self.spooled:
                    await self.spool_buffer()  # behind the older results
                    if not await self.replay_once():
                        break
                elif not await self.write_once():
                    break
        finally:
            if self.spool is not None and len(self):
                with trio.CancelScope(shield=True):
                    await self.spool_buffer()
        return len(self)

    def _failed(self, exc: Exception, rows: int) -> None:
        self.healthy = False
        self.metrics.store_errors.inc()
        log.warning(
            "results.write_failed",
            rows=rows,
            buffered=len(self._buffer),
            spooled=self.spooled,
            error_type=type(exc).__name__,
            error=str(exc)[:300],
        )

    def _reset_events(self) -> None:
        if not self._buffer:
            self._have_rows = trio.Event()
        if len(self._buffer) < self.batch_size:
            self._full_batch = trio.Event()

    def _count_spool(self) -> None:
        self.metrics.spool_results.set(self.spooled)
