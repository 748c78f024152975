"""Store contract, heartbeat monitors: ping tokens, the ping record, and what restarts the wait."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest

from uptrack.errors import Conflict
from uptrack.heartbeats import HeartbeatState, token_sha256
from uptrack.model import Monitor, MonitorSpec
from uptrack.store.base import ApplyPlan, Store

T0 = 1_714_564_800.0
TOKEN = "cron-job-token-0123456789"


def heartbeat(store: Store, name: str = "backup", **settings: Any) -> Monitor:
    spec = MonitorSpec(
        name=name, kind="heartbeat", target="", interval=300, timeout=5.0, settings=settings
    )
    return store.create_monitor(spec, now=T0)


def record_of(store: Store, monitor: Monitor) -> HeartbeatState | None:
    return store.get_heartbeat(token_sha256(monitor.settings["token"]))


def test_a_new_heartbeat_monitor_gets_a_random_token_and_an_empty_record(store: Store) -> None:
    monitor = heartbeat(store)
    other = heartbeat(store, "other")

    token = monitor.settings["token"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token)
    assert token != other.settings["token"]
    assert store.get_monitor(monitor.id) == monitor
    assert record_of(store, monitor) == HeartbeatState(
        monitor_id=monitor.id, interval=300, since=T0, pings=0
    )


def test_a_token_given_is_kept(store: Store) -> None:
    monitor = heartbeat(store, token=TOKEN)

    assert monitor.settings["token"] == TOKEN
    assert store.get_heartbeat(token_sha256(TOKEN)) is not None


def test_an_unknown_token_has_no_record_and_its_ping_is_refused(store: Store) -> None:
    heartbeat(store, token=TOKEN)
    unknown = token_sha256("not-" + TOKEN)

    assert store.get_heartbeat(unknown) is None
    assert store.record_ping(unknown, "success", None, "", T0 + 1) is False


def test_each_kind_of_ping_sets_its_own_time_and_every_ping_counts(store: Store) -> None:
    monitor = heartbeat(store, token=TOKEN)
    digest = token_sha256(TOKEN)

    assert store.record_ping(digest, "start", None, "", T0 + 10)
    assert store.record_ping(digest, "fail", 3, "disk full ✗\n", T0 + 20)
    assert store.record_ping(digest, "success", 0, "", T0 + 30)
    assert store.record_ping(digest, "start", None, "again", T0 + 40)

    assert store.get_heartbeat(digest) == HeartbeatState(
        monitor_id=monitor.id,
        interval=300,
        since=T0,
        last_ping_at=T0 + 30,
        last_start_at=T0 + 40,
        last_fail_at=T0 + 20,
        last_exit_code=0,
        last_body="again",
        pings=4,
    )


def test_a_failure_keeps_its_exit_code_and_body(store: Store) -> None:
    heartbeat(store, token=TOKEN)
    digest = token_sha256(TOKEN)

    store.record_ping(digest, "fail", 3, "rsync: \x00 error", T0 + 5)

    record = store.get_heartbeat(digest)
    assert record is not None
    assert (record.last_fail_at, record.last_exit_code) == (T0 + 5, 3)
    assert record.last_body == "rsync: \ufffd error"  # NUL, which PostgreSQL refuses


def test_saving_a_heartbeat_monitor_without_a_token_keeps_its_token_and_its_wait(
    store: Store,
) -> None:
    monitor = heartbeat(store)
    store.record_ping(token_sha256(monitor.settings["token"]), "success", None, "", T0 + 5)
    edited = MonitorSpec(
        name="backup", kind="heartbeat", target="db1", interval=600, timeout=5.0, settings={}
    )

    updated = store.update_monitor(monitor.id, edited, now=T0 + 60)

    assert updated.settings == monitor.settings
    record = record_of(store, updated)
    assert record is not None
    assert (record.since, record.last_ping_at, record.interval) == (T0, T0 + 5, 600)


def test_a_null_token_gets_a_new_one_and_the_old_one_stops_working(store: Store) -> None:
    monitor = heartbeat(store)
    old = token_sha256(monitor.settings["token"])
    spec = msgspec.structs.replace(monitor.spec(), settings={"token": None})

    updated = store.update_monitor(monitor.id, spec, now=T0 + 60)

    assert updated.settings["token"] not in (None, monitor.settings["token"])
    assert store.record_ping(old, "success", None, "", T0 + 61) is False
    record = record_of(store, updated)
    assert record is not None
    assert record.since == T0 + 60


def test_a_token_another_heartbeat_monitor_uses_is_a_conflict(store: Store) -> None:
    heartbeat(store, token=TOKEN)
    second = heartbeat(store, "second")

    with pytest.raises(Conflict, match="token"):
        heartbeat(store, "third", token=TOKEN)
    spec = msgspec.structs.replace(second.spec(), settings={"token": TOKEN})
    with pytest.raises(Conflict, match="token"):
        store.update_monitor(second.id, spec, now=T0 + 1)
    assert [m.name for m in store.all_monitors()] == ["backup", "second"]
    assert store.get_monitor(second.id) == second


def test_resuming_restarts_the_wait_and_pausing_does_not(store: Store) -> None:
    monitor = heartbeat(store)
    paused = store.update_monitor(
        monitor.id, msgspec.structs.replace(monitor.spec(), paused=True), now=T0 + 100
    )
    record = record_of(store, paused)
    assert record is not None
    assert record.since == T0

    resumed = store.update_monitor(
        monitor.id, msgspec.structs.replace(paused.spec(), paused=False), now=T0 + 200
    )

    record = record_of(store, resumed)
    assert record is not None
    assert record.since == T0 + 200


def test_a_monitor_that_stops_being_a_heartbeat_loses_its_record(store: Store) -> None:
    monitor = heartbeat(store, token=TOKEN)
    http = MonitorSpec(
        name="backup", kind="http", target="https://example.org/", interval=60, timeout=5.0
    )

    store.update_monitor(monitor.id, http, now=T0 + 1)
    assert store.get_heartbeat(token_sha256(TOKEN)) is None

    back = store.update_monitor(monitor.id, monitor.spec(), now=T0 + 2)
    record = record_of(store, back)
    assert record is not None
    assert (record.since, record.pings) == (T0 + 2, 0)


def test_deleting_a_monitor_deletes_its_record(store: Store) -> None:
    monitor = heartbeat(store, token=TOKEN)

    store.delete_monitor(monitor.id)

    assert store.get_heartbeat(token_sha256(TOKEN)) is None
    assert store.record_ping(token_sha256(TOKEN), "success", None, "", T0 + 1) is False


def test_apply_gives_new_heartbeat_monitors_tokens_in_its_one_transaction(store: Store) -> None:
    specs = [
        MonitorSpec(name=n, kind="heartbeat", target="", interval=60, timeout=5.0)
        for n in ("a", "b")
    ]
    duplicate = MonitorSpec(
        name="c", kind="heartbeat", target="", interval=60, timeout=5.0, settings={"token": TOKEN}
    )
    heartbeat(store, "first", token=TOKEN)

    with pytest.raises(Conflict):
        store.apply_monitors(ApplyPlan(create=[*specs, duplicate]), now=T0)
    assert [m.name for m in store.all_monitors()] == ["first"]

    store.apply_monitors(ApplyPlan(create=specs), now=T0)
    for m in store.all_monitors():
        assert record_of(store, m) is not None
