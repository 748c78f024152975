"""The shard runner on MockClock: deterministic slots, retries, isolation, edits."""

from __future__ import annotations

import collections
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from checker.context import ProbeContext
from checker.scheduler import OVERRUN_GRACE, CheckDeps, ShardRunner
from uptrack.clock import Clock
from uptrack.metrics import Metrics
from uptrack.model import Monitor, Observation, Result, Timings
from uptrack.slots import next_slot, phase_of, slot_time

EPOCH = 1_800_000_000.0  # Unix time at trio time 0 in these tests


class ScriptSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    fail_attempts: int = 0  # fail this many attempts of each slot, then succeed
    behaviour: str = "ok"  # "ok" | "raise" | "hang"


class ScriptedKind:
    """A check kind whose outcome the test scripts; it records every call."""

    name = "scripted"
    settings_type = ScriptSettings
    secret_fields: tuple[str, ...] = ()
    secret_header_fields: tuple[str, ...] = ()
    secret_url_fields: tuple[str, ...] = ()

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, float]] = []
        self.attempts: collections.Counter[str] = collections.Counter()

    def parse_target(self, target: str) -> str:
        return target

    def check_settings(self, settings: Any, *, timeout: float) -> list[tuple[str, str]]:
        return []

    async def check(
        self, target: str, settings: ScriptSettings, timeout: float, ctx: ProbeContext
    ) -> Observation:
        self.calls.append((target, self.clock.now()))
        if settings.behaviour == "raise":
            raise ZeroDivisionError("scripted bug")
        if settings.behaviour == "hang":
            await trio.sleep_forever()
        self.attempts[target] += 1
        await trio.sleep(0.01)
        if self.attempts[target] <= settings.fail_attempts:
            return Observation(ok=False, error_kind="refused", error="scripted failure")
        self.attempts[target] = 0
        return Observation(ok=True, timings=Timings(total=10.0), details={"target": target})


def monitor(
    n: int, *, interval: int = 10, timeout: float = 2.0, retries: int = 0, **settings: Any
) -> Monitor:
    return Monitor(
        id=f"{n:032x}",
        name=f"m{n}",
        kind="scripted",
        target=f"t{n}",
        interval=interval,
        timeout=timeout,
        retries=retries,
        retry_delay=1.0,
        down_after=1,
        up_after=1,
        paused=False,
        settings=settings,
        shard=0,
        version=1,
        created_at=EPOCH,
        updated_at=EPOCH,
    )


class Harness:
    def __init__(self) -> None:
        self.clock = Clock(offset=EPOCH)
        self.kind = ScriptedKind(self.clock)
        self.results: list[Result] = []
        self.metrics = Metrics()
        self.deps = CheckDeps(
            kinds={"scripted": self.kind},
            probe=ProbeContext(),
            limiter=trio.CapacityLimiter(10_000),
            clock=self.clock,
            emit=self.results.append,
            metrics=self.metrics,
            node="test-node",
        )

    def by_monitor(self) -> dict[str, list[Result]]:
        out: dict[str, list[Result]] = collections.defaultdict(list)
        for r in self.results:
            out[r.monitor_id].append(r)
        return out


@pytest.fixture
def harness() -> Harness:
    return Harness()


async def run_for(runner: ShardRunner, seconds: float, monitors: list[Monitor], **kw: Any) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: runner.run(monitors, kw, task_status=task_status))
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()


def assert_on_grid(results: list[Result], m: Monitor) -> None:
    phase = phase_of(m.id, m.interval)
    slots = [r.slot for r in results]
    assert slots == sorted(slots)
    for r in results:
        assert (r.slot - phase) % (m.interval * 1000) == 0
        assert r.scheduled_at == slot_time(r.slot)
    gaps = {b - a for a, b in zip(slots, slots[1:], strict=False)}
    assert gaps <= {m.interval * 1000}, f"missed or doubled slots: {sorted(gaps)[:5]}"


async def test_a_thousand_monitors_run_every_slot_on_its_grid_at_its_time(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    intervals = [5, 10, 30, 60]
    monitors = [monitor(n, interval=intervals[n % 4]) for n in range(1000)]
    # every monitor was checked just before the start, so nothing catches up
    last = {
        m.id: (int(EPOCH * 1000) - phase_of(m.id, m.interval))
        // (m.interval * 1000)
        * (m.interval * 1000)
        + phase_of(m.id, m.interval)
        for m in monitors
    }
    runner = ShardRunner(0, 0, harness.deps)
    await run_for(runner, 600, monitors, **last)
    by = harness.by_monitor()
    total = 0
    for m in monitors:
        results = by[m.id]
        assert 600 // m.interval - 1 <= len(results) <= 600 // m.interval + 1
        assert_on_grid(results, m)
        for r in results:
            assert r.started_at == pytest.approx(r.scheduled_at, abs=1e-6)  # never late
        total += len(results)
    assert total >= 10_000


async def test_long_runs_do_not_drift_over_ten_thousand_slots(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    monitors = [monitor(n, interval=5) for n in range(5)]
    runner = ShardRunner(0, 0, harness.deps)
    await run_for(runner, 5 * 10_000 + 1, monitors)
    for m in monitors:
        results = harness.by_monitor()[m.id]
        assert len(results) >= 10_000
        assert_on_grid(results, m)
        assert results[-1].started_at == pytest.approx(results[-1].scheduled_at, abs=1e-6)


def test_phases_spread_evenly_over_the_interval() -> None:
    interval = 60
    buckets = collections.Counter(
        phase_of(f"{n:032x}", interval) * 10 // (interval * 1000) for n in range(10_000)
    )
    assert sorted(buckets) == list(range(10))
    assert all(800 < count < 1200 for count in buckets.values()), buckets


async def test_a_new_monitor_runs_its_latest_slot_at_once_then_on_its_grid(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    m = monitor(1, interval=60)
    runner = ShardRunner(0, 0, harness.deps)
    await run_for(runner, 130, [m])
    results = harness.by_monitor()[m.id]
    assert results[0].started_at == pytest.approx(EPOCH, abs=1e-6)  # the catch-up
    assert results[0].scheduled_at <= EPOCH
    first = next_slot(EPOCH, 60, phase_of(m.id, 60))
    on_grid = range(first, int((EPOCH + 130) * 1000), 60_000)
    assert len(results) == 1 + len(on_grid) == 4
    assert_on_grid(results, m)


async def test_a_paused_monitor_is_not_checked_and_resumes_on_its_grid(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    m = monitor(2, interval=10)
    runner = ShardRunner(0, 0, harness.deps)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: runner.run([m], {}, task_status=task_status))
        await trio.sleep(35)
        runner.upsert(msgspec.structs.replace(m, paused=True, version=2))
        before = len(harness.results)
        await trio.sleep(100)
        assert len(harness.results) == before
        runner.upsert(msgspec.structs.replace(m, paused=False, version=3))
        resumed_at = harness.clock.now()
        await trio.sleep(35)
        nursery.cancel_scope.cancel()
    results = harness.by_monitor()[m.id][before:]
    assert results[0].started_at == pytest.approx(resumed_at)  # the latest slot at once
    assert len(results) in (4, 5)  # then every slot of the next 35 s
    assert_on_grid(results, m)


async def test_an_interval_edit_moves_the_monitor_to_the_new_grid_without_a_repeat(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    m = monitor(3, interval=10)
    runner = ShardRunner(0, 0, harness.deps)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: runner.run([m], {}, task_status=task_status))
        await trio.sleep(55)
        edited = msgspec.structs.replace(m, interval=30, version=2)
        runner.upsert(edited)
        edit_at = harness.clock.now()
        await trio.sleep(200)
        nursery.cancel_scope.cancel()
    results = harness.by_monitor()[m.id]
    old = [r for r in results if r.started_at < edit_at]
    new = [r for r in results if r.started_at >= edit_at]
    assert_on_grid(old, m)
    assert_on_grid(new, edited)
    assert new[0].slot > old[-1].slot
    assert len({r.slot for r in results}) == len(results)


async def test_a_deleted_monitor_stops_being_checked(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    a, b = monitor(4, interval=5), monitor(5, interval=5)
    runner = ShardRunner(0, 0, harness.deps)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: runner.run([a, b], {}, task_status=task_status))
        await trio.sleep(20)
        runner.remove(a.id)
        count = len(harness.by_monitor()[a.id])
        await trio.sleep(50)
        nursery.cancel_scope.cancel()
    assert len(harness.by_monitor()[a.id]) == count
    assert len(harness.by_monitor()[b.id]) >= 14


async def test_a_failed_attempt_is_retried_inside_its_slot(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    m = monitor(6, interval=30, retries=2, fail_attempts=2)
    runner = ShardRunner(0, 0, harness.deps)
    await run_for(runner, 5, [m])
    [result] = harness.results
    assert (result.ok, result.attempts) == (True, 3)


async def test_retries_stop_when_they_would_run_into_the_next_slot(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    # interval 5, timeout 2, delay 1: a second retry could not finish before the next slot
    m = monitor(7, interval=5, timeout=2.0, retries=5, fail_attempts=99)
    phase = phase_of(m.id, m.interval)
    last = (int(EPOCH * 1000) - phase) // 5000 * 5000 + phase
    runner = ShardRunner(0, 0, harness.deps)
    await run_for(runner, 30, [m], **{m.id: last})
    assert len(harness.results) >= 5
    for r in harness.results:
        assert (r.ok, r.error_kind) == (False, "refused")
        # two retries fit (each needs delay + timeout = 3 s before the next slot); a third not
        assert r.attempts == 3
        last_attempt_start = r.started_at + 2 * (1.0 + 0.01)
        assert last_attempt_start + 2.0 < r.scheduled_at + 5


async def test_a_probe_that_raises_becomes_an_internal_result_and_others_carry_on(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    bad, good = monitor(8, behaviour="raise"), monitor(9)
    runner = ShardRunner(0, 0, harness.deps)
    await run_for(runner, 45, [bad, good])
    by = harness.by_monitor()
    assert min(len(by[bad.id]), len(by[good.id])) >= 4
    assert all(
        r.error_kind == "internal" and "ZeroDivisionError" in (r.error or "") for r in by[bad.id]
    )
    assert all(r.ok for r in by[good.id])
    assert harness.metrics.internal_errors.labels("scripted")._value.get() == len(by[bad.id])


async def test_a_probe_that_overruns_its_timeout_is_cut_off(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    m = monitor(10, timeout=2.0, behaviour="hang")
    runner = ShardRunner(0, 0, harness.deps)
    await run_for(runner, 5, [m])
    [result] = harness.results
    assert result.error_kind == "timeout"
    assert result.duration_ms == pytest.approx((2.0 + OVERRUN_GRACE) * 1000)


async def test_stop_scheduling_lets_in_flight_checks_finish(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    m = monitor(11, interval=60)
    runner = ShardRunner(0, 0, harness.deps)
    async with trio.open_nursery() as nursery:
        await nursery.start(lambda task_status: runner.run([m], {}, task_status=task_status))
        await trio.sleep(0.005)  # the catch-up check is in flight (it takes 10 ms)
        runner.stop_scheduling()
    assert [r.ok for r in harness.results] == [True]


async def test_a_result_carries_the_details_of_its_last_attempt(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    m = monitor(12, interval=30)
    runner = ShardRunner(0, 0, harness.deps)
    await run_for(runner, 5, [m])
    [result] = harness.results
    assert result.details == {"target": m.target}
