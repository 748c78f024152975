"""Store contract, results: dedupe on (monitor, slot), the state machine, pages, uptime."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from uptrack.errors import InvalidInput, NotFound
from uptrack.model import Monitor, MonitorSpec, MonitorState, Result, Timings, Transition
from uptrack.slots import latest_slot, phase_of, slot_after, slot_time
from uptrack.store.base import Store

T0 = 1_714_564_800.0


def make_monitor(store: Store, name: str = "web", **fields: Any) -> Monitor:
    values: dict[str, Any] = {"kind": "http", "target": "https://example.org/", "interval": 60}
    return store.create_monitor(MonitorSpec(name=name, timeout=10.0, **values | fields), now=T0)


def result(monitor: Monitor, k: int, *, ok: bool = True, **fields: Any) -> Result:
    """The result of the k-th slot of `monitor` after T0."""
    first = latest_slot(T0, monitor.interval, phase_of(monitor.id, monitor.interval))
    slot = first + k * monitor.interval * 1000
    values: dict[str, Any] = {
        "scheduled_at": slot_time(slot),
        "started_at": slot_time(slot) + 0.004,
        "duration_ms": 12.5,
        "ok": ok,
        "error_kind": None if ok else "refused",
        "error": None if ok else "connection refused",
        "http_status": 200 if ok else None,
        "ip": "192.0.2.1",
        "timings": Timings(dns=1.0, connect=2.0, total=12.5),
        "attempts": 1,
        "node": "node-a",
        "epoch": 7,
    }
    return Result(monitor_id=monitor.id, slot=slot, **values | fields)


def all_results(store: Store, monitor: Monitor) -> list[Result]:
    return store.list_results(monitor.id, limit=10_000).items


def test_a_recorded_result_reads_back_exactly(store: Store) -> None:
    monitor = make_monitor(store)
    stored = result(
        monitor,
        1,
        ok=False,
        started_at=T0 + 60.000123456789,
        duration_ms=0.1 + 0.2,
        error_kind="status",
        error="HTTP 503 — Dienst nicht verfügbar ✗",
        http_status=503,
        ip="2001:db8::1",
        timings=Timings(dns=None, connect=0.333333333333, tls=1e-9, ttfb=123.456, total=None),
        attempts=3,
        node="nœud-b",
        epoch=2**62,
    )

    store.record_results([stored])

    assert all_results(store, monitor) == [stored]


def test_a_second_result_for_a_stored_slot_changes_neither_row_nor_state(store: Store) -> None:
    monitor = make_monitor(store)
    first = result(monitor, 1, ok=True)
    store.record_results([first])
    state = store.get_state(monitor.id)

    again = result(monitor, 1, ok=False, node="node-b", duration_ms=999.0)
    transitions = store.record_results([again, again])

    assert transitions == []
    assert all_results(store, monitor) == [first]
    assert store.get_state(monitor.id) == state


def test_the_same_slot_twice_in_one_batch_keeps_the_first(store: Store) -> None:
    monitor = make_monitor(store)
    first, second = result(monitor, 1, ok=True), result(monitor, 1, ok=False)

    transitions = store.record_results([first, second])

    assert all_results(store, monitor) == [first]
    assert [t.to_status for t in transitions] == ["up"]


def test_with_down_after_two_one_failure_keeps_a_monitor_up_and_two_take_it_down(
    store: Store,
) -> None:
    monitor = make_monitor(store, down_after=2)
    assert [t.to_status for t in store.record_results([result(monitor, 1)])] == ["up"]

    assert store.record_results([result(monitor, 2, ok=False)]) == []
    state = store.get_state(monitor.id)
    assert (state.status, state.consecutive_failures, state.last_ok) == ("up", 1, False)

    second_failure = result(monitor, 3, ok=False)
    transitions = store.record_results([second_failure])

    assert transitions == [
        Transition(
            monitor_id=monitor.id,
            slot=second_failure.slot,
            from_status="up",
            to_status="down",
            at=second_failure.started_at,
            error_kind="refused",
            error="connection refused",
        )
    ]
    assert store.get_state(monitor.id) == MonitorState(
        monitor_id=monitor.id,
        status="down",
        consecutive_failures=2,
        consecutive_successes=0,
        last_slot=second_failure.slot,
        last_checked_at=second_failure.started_at,
        last_ok=False,
        changed_at=second_failure.started_at,
        version=3,
    )


def test_with_up_after_two_a_down_monitor_needs_two_good_slots(store: Store) -> None:
    monitor = make_monitor(store, up_after=2)
    store.record_results([result(monitor, 1, ok=False)])
    assert store.get_state(monitor.id).status == "down"

    assert store.record_results([result(monitor, 2)]) == []
    assert store.get_state(monitor.id).status == "down"

    [back_up] = store.record_results([result(monitor, 3)])
    assert (back_up.from_status, back_up.to_status) == ("down", "up")
    assert store.get_state(monitor.id).status == "up"


def test_a_late_result_for_an_older_slot_is_stored_but_leaves_the_state(store: Store) -> None:
    monitor = make_monitor(store)
    store.record_results([result(monitor, 5)])
    state = store.get_state(monitor.id)

    late = result(monitor, 3, ok=False)
    transitions = store.record_results([late])

    assert transitions == []
    assert store.get_state(monitor.id) == state
    assert late in all_results(store, monitor)


def test_results_of_one_batch_move_the_state_in_slot_order(store: Store) -> None:
    monitor = make_monitor(store, down_after=2)
    batch = [result(monitor, 3, ok=False), result(monitor, 1), result(monitor, 2, ok=False)]

    transitions = store.record_results(batch)

    assert [(t.slot, t.from_status, t.to_status) for t in transitions] == [
        (batch[1].slot, "pending", "up"),
        (batch[0].slot, "up", "down"),
    ]
    assert store.get_state(monitor.id).last_slot == batch[0].slot


def test_a_longer_interval_does_not_stop_the_state_machine(store: Store) -> None:
    monitor = make_monitor(store, interval=60)
    last_minute = result(monitor, 1000)
    store.record_results([last_minute])
    slower = store.update_monitor(
        monitor.id, msgspec.structs.replace(monitor.spec(), interval=3600), now=T0 + 1
    )
    slot = slot_after(last_minute.slot, 3600, phase_of(monitor.id, 3600))
    first_hourly = msgspec.structs.replace(
        result(slower, 0, ok=False), slot=slot, scheduled_at=slot_time(slot)
    )

    [transition] = store.record_results([first_hourly])

    assert (transition.from_status, transition.to_status) == ("up", "down")
    assert store.get_state(monitor.id).last_slot == slot


def test_one_batch_returns_the_transitions_of_every_monitor(store: Store) -> None:
    a, b, c = make_monitor(store, "a"), make_monitor(store, "b"), make_monitor(store, "c")

    transitions = store.record_results(
        [result(a, 1), result(b, 1, ok=False), result(c, 1), result(c, 2)]
    )

    assert sorted((t.monitor_id, t.to_status) for t in transitions) == sorted(
        [(a.id, "up"), (b.id, "down"), (c.id, "up")]
    )
    states = store.get_states([a.id, b.id, c.id])
    assert {i: s.status for i, s in states.items()} == {a.id: "up", b.id: "down", c.id: "up"}


def test_results_of_unknown_and_deleted_monitors_are_dropped(store: Store) -> None:
    kept, deleted = make_monitor(store, "kept"), make_monitor(store, "deleted")
    store.delete_monitor(deleted.id)
    ghost = msgspec.structs.replace(result(deleted, 1), monitor_id="f" * 32)

    transitions = store.record_results([result(deleted, 1), ghost, result(kept, 1)])

    assert [t.monitor_id for t in transitions] == [kept.id]
    assert len(all_results(store, kept)) == 1
    assert store.get_state(deleted.id) == MonitorState(monitor_id=deleted.id)


def test_deleting_a_monitor_deletes_its_results_and_state(store: Store) -> None:
    monitor = make_monitor(store)
    store.record_results([result(monitor, 1, ok=False)])

    store.delete_monitor(monitor.id)

    with pytest.raises(NotFound):
        store.list_results(monitor.id)
    assert store.get_state(monitor.id) == MonitorState(monitor_id=monitor.id)
    again = make_monitor(store)
    assert all_results(store, again) == []


def test_get_states_answers_for_every_id_asked(store: Store) -> None:
    monitor = make_monitor(store)
    store.record_results([result(monitor, 1)])

    states = store.get_states([monitor.id, "0" * 32])

    assert states[monitor.id].status == "up"
    assert states["0" * 32] == MonitorState(monitor_id="0" * 32)
    assert store.get_states([]) == {}


def test_walking_result_pages_returns_every_result_once_newest_first(store: Store) -> None:
    monitor, other = make_monitor(store, "web"), make_monitor(store, "other")
    batch = [result(monitor, k) for k in (4, 1, 9, 2, 7, 3, 8, 5, 6, 10, 11)]
    store.record_results(batch + [result(other, k) for k in range(1, 5)])

    seen: list[int] = []
    cursor = None
    while True:
        page = store.list_results(monitor.id, before=cursor, limit=4)
        assert len(page.items) <= 4
        seen.extend(r.slot for r in page.items)
        if page.next is None:
            break
        cursor = page.next

    assert seen == sorted((r.slot for r in batch), reverse=True)


def test_results_of_an_unknown_monitor_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.list_results("0" * 32)
    with pytest.raises(NotFound):
        store.uptime("0" * 32, since=T0, until=T0 + 3600)


@pytest.mark.parametrize("cursor", ["", "abc", "1.5", " 12", "0x10", "1" * 40])
def test_an_invalid_results_cursor_is_refused_naming_the_cursor(store: Store, cursor: str) -> None:
    monitor = make_monitor(store)

    with pytest.raises(InvalidInput) as refused:
        store.list_results(monitor.id, before=cursor)

    assert [e.field for e in refused.value.errors] == ["cursor"]


def test_uptime_counts_the_window_and_gives_mean_and_p95(store: Store) -> None:
    monitor = make_monitor(store)
    # Slots 1..20 in the window, with durations 10, 20, …, 200 ms; two failed.
    inside = [result(monitor, k, ok=k not in (4, 17), duration_ms=10.0 * k) for k in range(1, 21)]
    outside = [result(monitor, k, ok=False, duration_ms=5000.0) for k in (0, 21, 22)]
    store.record_results(inside + outside)
    since, until = inside[0].scheduled_at, outside[1].scheduled_at

    uptime = store.uptime(monitor.id, since=since, until=until)

    assert (uptime.window_start, uptime.window_end) == (since, until)
    assert (uptime.checks, uptime.good, uptime.failed) == (20, 18, 2)
    assert uptime.fraction == 0.9
    assert uptime.mean_ms == 105.0
    assert uptime.p95_ms == 190.0  # nearest rank: the 19th of 20


@pytest.mark.parametrize(("checks", "p95"), [(10, 100.0), (20, 190.0), (100, 950.0)])
def test_uptime_p95_is_the_nearest_rank_of_the_durations(
    store: Store, checks: int, p95: float
) -> None:
    monitor = make_monitor(store)
    # Recorded out of order, so a store cannot lean on insertion order.
    ks = sorted(range(1, checks + 1), key=lambda k: (k * 7919) % checks)
    store.record_results([result(monitor, k, duration_ms=10.0 * k) for k in ks])

    uptime = store.uptime(monitor.id, since=T0, until=T0 + 3600 * 24)

    assert (uptime.checks, uptime.p95_ms) == (checks, p95)


def test_uptime_p95_of_a_single_check_is_its_duration(store: Store) -> None:
    monitor = make_monitor(store)
    store.record_results([result(monitor, 1, duration_ms=42.25)])

    uptime = store.uptime(monitor.id, since=T0, until=T0 + 3600)

    assert (uptime.checks, uptime.fraction, uptime.mean_ms, uptime.p95_ms) == (1, 1.0, 42.25, 42.25)


def test_uptime_of_a_window_without_results_has_no_fraction(store: Store) -> None:
    monitor = make_monitor(store)
    store.record_results([result(monitor, 1)])

    uptime = store.uptime(monitor.id, since=T0 - 3600, until=T0)

    assert (uptime.checks, uptime.good, uptime.failed) == (0, 0, 0)
    assert (uptime.fraction, uptime.mean_ms, uptime.p95_ms) == (None, None, None)
