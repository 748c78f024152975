"""The shard supervisor on MockClock: restarts with backoff, assignment changes."""

from __future__ import annotations

import collections
from collections.abc import Mapping

import trio
import trio.testing

from checker.context import ProbeContext
from checker.scheduler import CheckDeps
from checker.supervisor import BACKOFF_FIRST, ShardSupervisor
from tests.checker.test_scheduler import EPOCH, Harness, monitor
from uptrack.model import Monitor


class Shards:
    """Monitors per shard; `crashes[shard]` loads of that shard fail first."""

    def __init__(self, monitors: dict[int, list[Monitor]]) -> None:
        self.monitors = monitors
        self.crashes: collections.Counter[int] = collections.Counter()
        self.loads: collections.Counter[int] = collections.Counter()

    async def load(self, shard: int) -> tuple[list[Monitor], Mapping[str, int | None]]:
        self.loads[shard] += 1
        if self.crashes[shard] > 0:
            self.crashes[shard] -= 1
            raise RuntimeError(f"shard {shard} is broken")
        return self.monitors.get(shard, []), {}


def deps(h: Harness) -> CheckDeps:
    return CheckDeps(
        kinds=h.deps.kinds,
        probe=ProbeContext(),
        limiter=h.deps.limiter,
        clock=h.clock,
        emit=h.deps.emit,
        metrics=h.metrics,
        node="n",
    )


async def test_a_crashing_shard_restarts_with_backoff_and_others_carry_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = Harness()
    a, b = monitor(1, interval=5), monitor(2, interval=5)
    shards = Shards({0: [a], 1: [b]})
    shards.crashes[1] = 4
    supervisor = ShardSupervisor(deps(h), shards.load, shards=2)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        await supervisor.assign({0: 0, 1: 0})
        # four crashes back off 0.1 + 0.2 + 0.4 + 0.8 s before the fifth load works
        await trio.sleep(BACKOFF_FIRST * 15 - 0.05)
        assert shards.loads[1] == 4
        await trio.sleep(0.1)
        assert shards.loads[1] == 5
        assert supervisor.running() == 2
        await trio.sleep(30)
        nursery.cancel_scope.cancel()
    assert h.metrics.supervisor_restarts.labels("shard_runner")._value.get() == 4
    by = h.by_monitor()
    assert len(by[a.id]) >= 6
    assert len(by[b.id]) >= 6
    assert by[a.id][0].started_at == EPOCH  # shard 0 never waited for shard 1


async def test_a_released_shard_stops_checking_and_a_new_one_starts(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = Harness()
    a, b = monitor(3, interval=5), monitor(4, interval=5)
    shards = Shards({0: [a], 1: [b]})
    supervisor = ShardSupervisor(deps(h), shards.load, shards=2)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        await supervisor.assign({0: 0})
        await trio.sleep(20)
        await supervisor.assign({1: 7})
        released_at = h.clock.now()
        await trio.sleep(20)
        nursery.cancel_scope.cancel()
    by = h.by_monitor()
    assert all(r.started_at < released_at for r in by[a.id])
    assert all(r.started_at >= released_at for r in by[b.id])
    assert {r.epoch for r in by[b.id]} == {7}
    assert supervisor.owned == {1: 7}
    assert h.metrics.shards_owned._value.get() == 1


async def test_drain_stops_scheduling_and_lets_checks_in_flight_finish(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = Harness()
    a = monitor(5, interval=60)
    supervisor = ShardSupervisor(deps(h), Shards({0: [a]}).load, shards=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        await supervisor.assign({0: 0})
        await trio.sleep(0.005)  # the catch-up check (10 ms) is in flight
        await supervisor.drain(grace=5)
        drained_at = h.clock.now()
        await trio.sleep(120)
        nursery.cancel_scope.cancel()
    assert [r.ok for r in h.results] == [True]
    assert drained_at < EPOCH + 1
    assert supervisor.owned == {}


async def test_a_new_epoch_for_a_running_shard_fences_new_results_without_a_restart(
    autojump_clock: trio.testing.MockClock,
) -> None:
    h = Harness()
    a = monitor(6, interval=5)
    shards = Shards({0: [a]})
    supervisor = ShardSupervisor(deps(h), shards.load, shards=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.run)
        await supervisor.assign({0: 3})
        await trio.sleep(12)
        renewed_at = h.clock.now()
        await supervisor.assign({0: 9})
        await trio.sleep(12)
        nursery.cancel_scope.cancel()
    results = h.by_monitor()[a.id]
    assert shards.loads[0] == 1  # never restarted
    assert {r.epoch for r in results if r.started_at < renewed_at} == {3}
    assert {r.epoch for r in results if r.started_at > renewed_at} == {9}
