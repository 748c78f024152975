"""The result writer: batches results into the store; checks never wait for it."""

from __future__ import annotations

import collections
from collections.abc import Callable

import structlog
import trio

from uptrack.errors import StoreUnavailable
from uptrack.metrics import Metrics
from uptrack.model import Result, Transition
from uptrack.store.base import Store

log = structlog.get_logger()

BATCH_SIZE = 1000
FLUSH_EVERY = 0.2
MAX_BUFFER = 200_000
WRITE_DEADLINE = 30.0
RETRY_FIRST = 0.2
RETRY_MAX = 10.0


class ResultWriter:
    """Buffers results in memory and writes them in batches (about every 200 ms or
    1,000 rows). While the store is unavailable, results stay buffered and the writer
    retries with capped backoff; past MAX_BUFFER the oldest are dropped and counted."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        on_transitions: Callable[[list[Transition]], None] | None = None,
        batch_size: int = BATCH_SIZE,
        flush_every: float = FLUSH_EVERY,
        max_buffer: int = MAX_BUFFER,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.on_transitions = on_transitions
        self.batch_size = batch_size
        self.flush_every = flush_every
        self.max_buffer = max_buffer
        self._buffer: collections.deque[Result] = collections.deque()
        self._have_rows = trio.Event()
        self._full_batch = trio.Event()
        self._write_lock = trio.Lock()
        self.healthy = True
        self.submitted = 0

    def __len__(self) -> int:
        return len(self._buffer)

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
        task_status.started()
        backoff = RETRY_FIRST
        while True:
            await self._have_rows.wait()
            with trio.move_on_after(self.flush_every):
                await self._full_batch.wait()
            if await self.write_once():
                backoff = RETRY_FIRST
            else:
                await trio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX)

    async def write_once(self) -> bool:
        """Write one batch from the head of the buffer; False if the store is failing
        (the batch is then back at the head, in order)."""
        async with self._write_lock:
            count = min(self.batch_size, len(self._buffer))
            batch = [self._buffer.popleft() for _ in range(count)]
            if not self._buffer:
                self._have_rows = trio.Event()
            if len(self._buffer) < self.batch_size:
                self._full_batch = trio.Event()
            if not batch:
                return True
            try:
                await self._write(batch)
            except StoreUnavailable as exc:
                self._buffer.extendleft(reversed(batch))
                self._have_rows.set()
                self.healthy = False
                self.metrics.store_errors.inc()
                log.warning(
                    "results.write_failed",
                    rows=len(batch),
                    buffered=len(self._buffer),
                    error_type=type(exc).__name__,
                    error=str(exc)[:300],
                )
                return False
            self.healthy = True
            self.metrics.results_buffered.set(len(self._buffer))
            return True

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
        """Write everything buffered now (at shutdown); returns the rows left unwritten."""
        while self._buffer:
            if not await self.write_once():
                break
        return len(self._buffer)
