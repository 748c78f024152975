"""The outbox deliverer: every node claims due alert rows, sends them, records the outcome.

Delivery is at least once. A claim locks a row for twice the send deadline; a
node that dies while sending leaves the lock to expire, and any deliverer takes
the row again. Each attempt carries the row's dedup key as the idempotency key
(`uptrack-<incident>-<transition>-<channel>`), so receivers that honour it drop
a repeat. A failed attempt is retried with capped exponential backoff (at least
what the receiver asked for with `Retry-After`) up to `max_attempts`; a
permanent failure or the last attempt makes the row `dead`: kept, counted in
`uptrack_outbox_dead`, listed by `GET /api/v1/alerts?status=dead`, logged.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

import msgspec
import structlog
import trio

from uptrack.alerts import grouping
from uptrack.alerts.context import DEFAULT_DEADLINE, NotifyContext, open_notify_context
from uptrack.alerts.dispatch import attempt
from uptrack.alerts.errors import NotifyError
from uptrack.alerts.grouping import Send
from uptrack.alerts.message import AlertMessage, GroupedMessage, dashboard_link
from uptrack.alerts.records import AlertJob, Outcome
from uptrack.metrics import Metrics
from uptrack.store.base import Store

log = structlog.get_logger()

BATCH = 100  # rows claimed at once
CONCURRENCY = 20  # messages in flight per node
MAX_ATTEMPTS = 8
RETRY_FIRST = 10.0  # seconds before the second attempt, doubling up to RETRY_MAX
RETRY_MAX = 900.0
RETRY_AFTER_MAX = 3600.0  # the most a receiver's Retry-After may hold a row back
POLL_EVERY = 1.0  # seconds between looks at the outbox when nothing woke the deliverer
REMINDERS_EVERY = 15.0
COUNTS_EVERY = 5.0
PRUNE_EVERY = 3600.0
KEEP_FOR = 30 * 86_400.0  # sent and dead rows are kept this long
STORE_DEADLINE = 30.0


class Deliverer:
    """Claims, sends and settles outbox rows; `deliver_once` is one pass (for tests)."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        *,
        node: str,
        public_url: str = "",
        now: Callable[[], float] = time.time,
        notify: NotifyContext | None = None,
        deadline: float = DEFAULT_DEADLINE,
        batch: int = BATCH,
        concurrency: int = CONCURRENCY,
        max_attempts: int = MAX_ATTEMPTS,
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
        group_threshold: int = grouping.THRESHOLD,
        group_window: float = grouping.WINDOW,
        poll_every: float = POLL_EVERY,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.node = node
        self.public_url = public_url  # the node's own URL when empty (set by the node)
        self.now = now
        self.notify = notify
        self.deadline = notify.deadline if notify is not None else deadline
        self.batch = batch
        self.max_attempts = max_attempts
        self.retry_first = retry_first
        self.retry_max = retry_max
        self.group_threshold = group_threshold
        self.group_window = group_window
        self.poll_every = poll_every
        self.healthy = True
        self._limiter = trio.CapacityLimiter(concurrency)
        self._wake = trio.Event()

    def wake(self) -> None:
        """Look at the outbox now (a transition just queued rows)."""
        self._wake.set()

    @property
    def lock_for(self) -> float:
        """How long a claim holds a row: twice the send deadline."""
        return 2 * self.deadline

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with self._context() as ctx:
            self.notify = ctx
            task_status.started()
            due = {"reminders": -math.inf, "counts": -math.inf, "prune": -math.inf}
            backoff = 0.5
            while True:
                try:
                    claimed = await self.run_once(due)
                    self.healthy, backoff = True, 0.5
                except Exception as exc:
                    # The store may be away; rows wait in it, nothing is lost.
                    self.healthy = False
                    log.warning(
                        "outbox.failed", error_type=type(exc).__name__, error=str(exc)[:300]
                    )
                    await trio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                if claimed < self.batch:
                    with trio.move_on_after(self.poll_every):
                        await self._wake.wait()
                    self._wake = trio.Event()

    async def run_once(self, due: dict[str, float]) -> int:
        """Housekeeping that is due (reminders, gauges, pruning), then one pass."""
        store, now = self.store, self.now()
        with trio.fail_after(STORE_DEADLINE):
            if now >= due["reminders"]:
                due["reminders"] = now + REMINDERS_EVERY
                reminded = await store.call(store.schedule_reminders, now=now)
                if reminded:
                    log.info("outbox.reminders", incidents=reminded)
            if now >= due["prune"]:
                due["prune"] = now + PRUNE_EVERY
                await store.call(store.prune_deliveries, before=now - KEEP_FOR)
        claimed = await self.deliver_once()
        if claimed or now >= due["counts"]:
            due["counts"] = now + COUNTS_EVERY
            with trio.fail_after(STORE_DEADLINE):
                counts = await store.call(store.outbox_counts)
            self.metrics.outbox_pending.set(counts.pending)
            self.metrics.outbox_dead.set(counts.dead)
        return claimed

    async def deliver_once(self, now: float | None = None) -> int:
        """Claim due rows, send them (grouped where they group), record the outcomes.
        Returns the rows claimed."""
        store = self.store
        claimed_at = self.now() if now is None else now
        with trio.fail_after(STORE_DEADLINE):
            jobs = await store.call(
                store.claim_deliveries,
                node=self.node,
                now=claimed_at,
                lock_for=self.lock_for,
                limit=self.batch,
                group_window=self.group_window,
            )
        if not jobs:
            return 0
        outcomes: list[Outcome] = []
        async with self._context() as ctx, trio.open_nursery() as nursery:
            for send in grouping.plan_sends(jobs, threshold=self.group_threshold):
                nursery.start_soon(self._send, send, ctx, claimed_at, outcomes)
        settled_at = self.now() if now is None else now
        with trio.move_on_after(STORE_DEADLINE, shield=True):
            # Shielded: a row that went out should be marked sent even while the node
            # stops. If this fails, the lock expires and the row goes again (the
            # receiver sees the same idempotency key).
            await store.call(store.settle_deliveries, outcomes, node=self.node, now=settled_at)
        return len(jobs)

    async def _send(
        self, send: Send, ctx: NotifyContext, now: float, outcomes: list[Outcome]
    ) -> None:
        first = send.jobs[0]
        kind = first.channel_kind
        async with self._limiter:
            if kind is None or first.channel_settings is None:
                error: NotifyError | None = NotifyError("the channel was deleted", permanent=True)
            else:
                message = self._message(send, ctx, now)
                error = await attempt(kind, first.channel_settings, message, ctx)
        label = kind or "deleted"
        if error is None:
            self.metrics.alerts_sent.labels(label).inc(len(send.jobs))
        else:
            self.metrics.alerts_failed.labels(label).inc(len(send.jobs))
        for job in send.jobs:
            outcomes.append(self._outcome(job, send, error, now))

    def _message(self, send: Send, ctx: NotifyContext, now: float) -> AlertMessage:
        public_url = ctx.public_url or self.public_url
        messages = [
            msgspec.structs.replace(
                job.message, link=dashboard_link(public_url, job.message.monitor_id)
            )
            for job in send.jobs
        ]
        if send.group_key is None:
            return messages[0]
        event: Literal["down", "up"] = "down" if send.jobs[0].delivery.event == "down" else "up"
        group = GroupedMessage(
            event=event,
            messages=tuple(messages),
            at=now,
            link=public_url,
            dedup_key=send.group_key,
        )
        return group.as_alert()

    def _outcome(self, job: AlertJob, send: Send, error: NotifyError | None, now: float) -> Outcome:
        d = job.delivery
        fields = {
            "id": d.id,
            "channel": job.channel_name,
            "channel_kind": job.channel_kind,
            "dedup_key": d.dedup_key,
            "attempt": d.attempts,
            "group": send.group_key,
        }
        if error is None:
            log.info("alert.sent", **fields)
            return Outcome(id=d.id, sent=True, group_key=send.group_key)
        if error.permanent or d.attempts >= self.max_attempts:
            log.error("alert.dead", error=error.message, permanent=error.permanent, **fields)
            return Outcome(id=d.id, sent=False, error=error.message, group_key=send.group_key)
        wait = min(self.retry_max, self.retry_first * 2 ** max(0, d.attempts - 1))
        if error.retry_after is not None:
            wait = max(wait, min(error.retry_after, RETRY_AFTER_MAX))
        log.warning("alert.retry", error=error.message, retry_in=round(wait, 3), **fields)
        return Outcome(
            id=d.id,
            sent=False,
            error=error.message,
            retry_at=now + wait,
            group_key=send.group_key,
        )

    @asynccontextmanager
    async def _context(self) -> AsyncIterator[NotifyContext]:
        """The node's notify context while it runs; a passing one for a lone pass."""
        if self.notify is not None:
            yield self.notify
            return
        async with open_notify_context(
            public_url=self.public_url or "http://localhost", deadline=self.deadline
        ) as ctx:
            yield ctx
