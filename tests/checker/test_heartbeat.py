"""The heartbeat kind: late pings, failures, overrunning runs, read from a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from checker.context import ProbeContext
from checker.kinds.heartbeat import KIND, HeartbeatSettings, default_grace, judge, span
from uptrack.errors import StoreUnavailable
from uptrack.heartbeats import HeartbeatState, token_sha256
from uptrack.model import MonitorSpec, Observation
from uptrack.store.sqlite import SqliteStore

T0 = 1_714_564_800.0
TOKEN = "nightly-backup-token-0123"


def state(**fields: Any) -> HeartbeatState:
    return HeartbeatState(monitor_id="m", **{"interval": 300, "since": T0, **fields})


def settings(**fields: Any) -> HeartbeatSettings:
    return msgspec.convert(fields, HeartbeatSettings)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45s"), (0.5, "0.5s"), (60, "1m"), (432, "7m 12s"), (9000, "2h 30m"), (100800, "1d 4h")],
)
def test_durations_read_as_people_write_them(seconds: float, text: str) -> None:
    assert span(seconds) == text


def test_the_default_grace_is_a_tenth_of_the_period_within_a_minute_and_an_hour() -> None:
    assert [default_grace(p) for p in (5, 300, 1200, 86400)] == [60, 60, 120, 3600]


def test_a_ping_within_the_period_and_grace_is_up() -> None:
    seen = judge(settings(grace=60), state(last_ping_at=T0 + 100, pings=1), now=T0 + 100 + 359)

    assert seen.ok
    assert seen.details is not None
    assert seen.details["last_ping_at"] == "2024-05-01T12:01:40.000Z"
    assert (seen.details["period"], seen.details["grace"]) == (300, 60)


def test_no_ping_for_longer_than_the_period_and_grace_is_down() -> None:
    seen = judge(settings(grace="1m"), state(last_ping_at=T0), now=T0 + 432)

    assert (seen.ok, seen.error_kind) == (False, "heartbeat")
    assert seen.error == "no ping for 7m 12s (expected every 5m + 1m grace)"


def test_the_period_setting_overrides_the_interval() -> None:
    daily = settings(period="1d", grace="1h")

    assert judge(daily, state(last_ping_at=T0), now=T0 + 86400 + 3599).ok
    late = judge(daily, state(last_ping_at=T0), now=T0 + 86400 + 3601)
    assert late.error == "no ping for 1d 1h (expected every 1d + 1h grace)"


def test_a_monitor_never_pinged_is_up_until_its_first_ping_is_late() -> None:
    never = state(since=T0)

    assert judge(settings(grace=10), never, now=T0 + 310).ok
    assert judge(settings(grace=10), never, now=T0 + 311).error == (
        "no ping for 5m 11s (expected every 5m + 10s grace)"
    )


def test_a_failure_after_the_last_success_is_down_with_its_exit_code_and_output() -> None:
    failed = state(
        last_ping_at=T0 + 10, last_fail_at=T0 + 20, last_exit_code=3, last_body="disk full"
    )

    seen = judge(settings(), failed, now=T0 + 30)

    assert (seen.ok, seen.error_kind) == (False, "heartbeat")
    assert seen.error == "last ping reported failure (exit code 3)"
    assert seen.details is not None
    assert seen.details["last_body"] == "disk full"


def test_a_fail_ping_without_an_exit_code_says_so() -> None:
    seen = judge(settings(), state(last_fail_at=T0 + 20), now=T0 + 30)

    assert seen.error == "last ping reported failure"


def test_a_success_after_a_failure_is_up_again() -> None:
    recovered = state(last_fail_at=T0 + 20, last_ping_at=T0 + 40, last_exit_code=0)

    assert judge(settings(), recovered, now=T0 + 50).ok


def test_a_run_that_overruns_max_runtime_is_down_and_one_within_it_is_up() -> None:
    running = state(last_ping_at=T0, last_start_at=T0 + 100)
    limited = settings(max_runtime="10m")

    assert judge(limited, running, now=T0 + 100 + 600).ok  # later than 5m + 1m: running
    seen = judge(limited, running, now=T0 + 100 + 723)
    assert seen.error == "started 12m 3s ago and has not finished within max_runtime (10m)"


def test_without_max_runtime_a_run_may_take_the_period_and_grace() -> None:
    running = state(last_ping_at=T0, last_start_at=T0 + 100)

    assert judge(settings(), running, now=T0 + 100 + 360).ok
    assert judge(settings(), running, now=T0 + 100 + 361).error == (
        "started 6m 1s ago and has not finished within the period and grace (5m + 1m)"
    )


def test_pings_from_before_the_wait_restarted_do_not_count() -> None:
    resumed = state(since=T0 + 1000, last_fail_at=T0 + 10, last_exit_code=1, last_ping_at=T0)

    assert judge(settings(grace=0), resumed, now=T0 + 1200).ok
    assert judge(settings(grace=0), resumed, now=T0 + 1301).error == (
        "no ping for 5m 1s (expected every 5m + 0s grace)"
    )


def test_settings_are_checked_with_messages_naming_the_field() -> None:
    bad = settings(token="short", period=2, grace="2000d", max_runtime="soon")

    assert KIND.check_settings(bad, timeout=5) == [
        (
            "token",
            "must be 16 to 128 letters, digits, '-' or '_' (leave it out and the server "
            "makes a random one)",
        ),
        ("period", "2s is outside the accepted range 5s..365d"),
        ("grace", "2000d is outside the accepted range 0s..30d"),
        ("max_runtime", "'soon' is not a duration: use seconds or a duration like 30s, 5m, 1h"),
    ]
    assert KIND.check_settings(settings(period="1d", grace=0, max_runtime=90), timeout=5) == []


def test_the_target_is_an_optional_label() -> None:
    assert KIND.parse_target("  backup@db1 ") == "backup@db1"
    assert KIND.parse_target("") == ""
    with pytest.raises(ValueError, match="control characters"):
        KIND.parse_target("a\nb")


# -- the check itself, reading a real store --------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "uptrack.db")
    s.migrate()
    yield s
    s.close()


class Now:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def context(store: SqliteStore, now: Now) -> ProbeContext:
    async def lookup(digest: str) -> HeartbeatState | None:
        return await store.call(store.get_heartbeat, digest)

    return ProbeContext(heartbeats=lookup, now=now)


async def test_a_check_reads_the_ping_record_through_the_context(store: SqliteStore) -> None:
    monitor = store.create_monitor(
        MonitorSpec(
            name="backup",
            kind="heartbeat",
            target="",
            interval=300,
            timeout=5.0,
            settings={"token": TOKEN, "grace": 60},
        ),
        now=T0,
    )
    now = Now()
    ctx = context(store, now)
    config = settings(**monitor.settings)
    store.record_ping(token_sha256(TOKEN), "success", None, "", T0 + 30)

    now.t = T0 + 200
    up = await KIND.check(monitor.target, config, 5.0, ctx)
    now.t = T0 + 30 + 361
    late = await KIND.check(monitor.target, config, 5.0, ctx)

    assert up.ok
    assert up.details is not None
    assert up.details["pings"] == 1
    assert up.timings.total is not None
    assert (late.ok, late.error) == (False, "no ping for 6m 1s (expected every 5m + 1m grace)")


async def test_a_token_the_store_does_not_know_is_an_internal_error(store: SqliteStore) -> None:
    seen = await KIND.check("", settings(token=TOKEN), 5.0, context(store, Now()))

    assert (seen.ok, seen.error_kind) == (False, "internal")
    assert seen.error == "no ping record for this monitor's token (just edited?)"


async def test_a_store_that_cannot_answer_is_an_internal_error_not_a_late_ping() -> None:
    async def unavailable(digest: str) -> HeartbeatState | None:
        raise StoreUnavailable("database is locked")

    ctx = ProbeContext(heartbeats=unavailable)
    seen = await KIND.check("", settings(token=TOKEN), 5.0, ctx)

    assert (seen.ok, seen.error_kind) == (False, "internal")
    assert seen.error == "cannot read the ping record: database is locked"


async def test_a_lookup_that_hangs_times_out_within_the_check_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def hangs(digest: str) -> HeartbeatState | None:
        await trio.sleep_forever()
        raise AssertionError("not reached")

    seen = await KIND.check("", settings(token=TOKEN), 2.0, ProbeContext(heartbeats=hangs))

    assert seen == Observation(
        ok=False,
        error_kind="timeout",
        error="reading the ping record took longer than 2 s",
        timings=seen.timings,
    )
    assert trio.current_time() == pytest.approx(2.0)


async def test_a_node_without_a_lookup_reports_it() -> None:
    seen = await KIND.check("", settings(token=TOKEN), 5.0, ProbeContext())

    assert (seen.ok, seen.error_kind) == (False, "internal")
