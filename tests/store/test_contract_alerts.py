"""Store contract, alerts: incidents and outbox rows written with the transition that
caused them, maintenance windows, claims, outcomes, reminders, channels."""

from __future__ import annotations

import msgspec
import pytest

from tests.alerts.scenarios import T0, make_channel, make_monitor, result
from uptrack.alerts.records import AlertJob, ChannelSpec, Outcome
from uptrack.alerts.windows import CronWindow, MaintenanceSpec, WeeklyWindow
from uptrack.errors import Conflict, InvalidInput, NotFound
from uptrack.store.base import Store

LATER = T0 + 86_400  # a claim time after every slot the scenarios use


def claim(
    store: Store, now: float = LATER, node: str = "a", lock_for: float = 20.0
) -> list[AlertJob]:
    return store.claim_deliveries(node=node, now=now, lock_for=lock_for, limit=100, group_window=10)


def test_going_down_opens_an_incident_caused_by_the_first_failing_check(store: Store) -> None:
    monitor = make_monitor(store, down_after=3)
    first = result(monitor, 2, ok=False)
    store.record_results([result(monitor, 1), first, result(monitor, 3, ok=False)])
    assert store.list_incidents().items == []

    confirming = result(monitor, 4, ok=False)
    store.record_results([confirming])

    (incident,) = store.list_incidents().items
    assert (incident.monitor_id, incident.monitor_name) == (monitor.id, "web")
    assert (incident.started_at, incident.started_slot) == (first.started_at, first.slot)
    assert (incident.confirmed_at, incident.confirmed_slot) == (
        confirming.started_at,
        confirming.slot,
    )
    assert (incident.error_kind, incident.error, incident.http_status) == (
        "status",
        "status 503 not in 200-399 (slot 2)",
        503,
    )
    assert incident.confirmed_by == 3
    assert incident.open
    assert store.get_incident(incident.id) == incident


def test_a_transition_queues_one_row_per_routed_channel_with_its_dedup_key(store: Store) -> None:
    named = make_channel(store, "named")
    tagged = make_channel(store, "tagged", tags=["prod"])
    make_channel(store, "elsewhere", tags=["staging"])
    monitor = make_monitor(store, channels=["named"], tags=["prod", "web"])

    store.record_results([result(monitor, 1), result(monitor, 2, ok=False)])

    (incident,) = store.list_incidents().items
    rows = sorted(store.list_deliveries().items, key=lambda d: d.channel_id)
    assert {r.channel_id for r in rows} == {named.id, tagged.id}
    for row in rows:
        assert row.dedup_key == f"uptrack-{incident.id}-down-{row.channel_id}"
        assert (row.status, row.attempts, row.transition, row.event) == (
            "pending",
            0,
            "down",
            "down",
        )
        assert (row.incident_id, row.monitor_id) == (incident.id, monitor.id)


def test_coming_back_up_resolves_the_incident_and_queues_up_rows(store: Store) -> None:
    channel = make_channel(store)
    monitor = make_monitor(store, channels=["hook"])
    store.record_results([result(monitor, 1), result(monitor, 2, ok=False)])
    back = result(monitor, 5)

    store.record_results([result(monitor, 3, ok=False), back])

    (incident,) = store.list_incidents().items
    assert (incident.resolved_at, incident.resolved_slot) == (back.started_at, back.slot)
    assert store.list_incidents(state="open").items == []
    assert store.list_incidents(state="closed").items == [incident]
    up, down = store.list_deliveries().items
    assert (up.transition, down.transition) == ("up", "down")
    assert up.dedup_key == f"uptrack-{incident.id}-up-{channel.id}"
    assert up.created_at == back.started_at


def test_up_is_not_claimed_while_the_down_of_its_incident_is_undelivered(store: Store) -> None:
    make_channel(store)
    monitor = make_monitor(store, channels=["hook"])
    store.record_results([result(monitor, 1), result(monitor, 2, ok=False), result(monitor, 3)])

    (down,) = claim(store)
    assert down.message.event == "down"
    retry = Outcome(id=down.delivery.id, sent=False, error="503", retry_at=LATER + 60)
    store.settle_deliveries([retry], node="a", now=LATER)
    assert claim(store, LATER + 30) == []  # the up row waits behind its down

    (again,) = claim(store, LATER + 60)
    assert again.delivery.id == down.delivery.id
    store.settle_deliveries([Outcome(id=again.delivery.id, sent=True)], node="a", now=LATER + 61)
    (up,) = claim(store, LATER + 61)
    assert up.message.event == "up"
    assert up.message.duration == pytest.approx(60.0)


def test_the_same_failing_slot_recorded_twice_writes_one_incident_and_one_row(
    store: Store,
) -> None:
    make_channel(store)
    monitor = make_monitor(store, channels=["hook"])
    store.record_results([result(monitor, 1)])
    failure = result(monitor, 2, ok=False)

    assert [t.to_status for t in store.record_results([failure])] == ["down"]
    again = msgspec.structs.replace(failure, node="node-b")
    assert store.record_results([again, again]) == []

    assert len(store.list_incidents().items) == 1
    assert len(store.list_deliveries().items) == 1


def test_a_claim_locks_rows_until_it_expires_and_counts_an_attempt(store: Store) -> None:
    make_channel(store)
    monitor = make_monitor(store, channels=["hook"])
    store.record_results([result(monitor, 1), result(monitor, 2, ok=False)])

    (job,) = claim(store, LATER, node="a", lock_for=20)
    assert (job.delivery.status, job.delivery.attempts, job.delivery.locked_by) == (
        "sending",
        1,
        "a",
    )
    assert job.delivery.locked_until == LATER + 20
    assert (job.channel_kind, job.channel_name) == ("webhook", "hook")
    assert job.channel_settings == {"url": "http://127.0.0.1:9/hook"}
    assert job.message.dedup_key == job.delivery.dedup_key
    assert claim(store, LATER + 19.9, node="b") == []

    (taken,) = claim(store, LATER + 20, node="b")  # "a" died holding it
    assert (taken.delivery.id, taken.delivery.attempts, taken.delivery.locked_by) == (
        job.delivery.id,
        2,
        "b",
    )
    # the late settlement of "a": it did send, so the row is sent
    store.settle_deliveries([Outcome(id=job.delivery.id, sent=True)], node="a", now=LATER + 21)
    (row,) = store.list_deliveries().items
    assert (row.status, row.sent_at, row.locked_by) == ("sent", LATER + 21, None)


def test_outcomes_make_rows_sent_pending_again_or_dead_and_dead_rows_can_be_retried(
    store: Store,
) -> None:
    make_channel(store)
    names = ["a", "b", "c"]
    for name in names:
        monitor = make_monitor(store, name, channels=["hook"])
        store.record_results([result(monitor, 1), result(monitor, 2, ok=False)])
    sent, retried, dead = claim(store)

    store.settle_deliveries(
        [
            Outcome(id=sent.delivery.id, sent=True),
            Outcome(id=retried.delivery.id, sent=False, error="503", retry_at=LATER + 10),
            Outcome(id=dead.delivery.id, sent=False, error="410 gone"),
        ],
        node="a",
        now=LATER + 1,
    )

    rows = {d.id: d for d in store.list_deliveries().items}
    assert rows[sent.delivery.id].status == "sent"
    assert (rows[retried.delivery.id].status, rows[retried.delivery.id].next_attempt_at) == (
        "pending",
        LATER + 10,
    )
    assert rows[retried.delivery.id].last_error == "503"
    assert (rows[dead.delivery.id].status, rows[dead.delivery.id].last_error) == (
        "dead",
        "410 gone",
    )
    assert [d.id for d in store.list_deliveries(status="dead").items] == [dead.delivery.id]
    counts = store.outbox_counts()
    assert (counts.pending, counts.dead) == (1, 1)

    again = store.retry_delivery(dead.delivery.id, now=LATER + 2)
    assert (again.status, again.attempts) == ("pending", 0)
    with pytest.raises(Conflict):
        store.retry_delivery(sent.delivery.id, now=LATER)
    with pytest.raises(NotFound):
        store.retry_delivery(10_000, now=LATER)


def test_a_settlement_by_a_node_that_lost_its_claim_does_not_undo_the_new_claim(
    store: Store,
) -> None:
    make_channel(store)
    monitor = make_monitor(store, channels=["hook"])
    store.record_results([result(monitor, 1), result(monitor, 2, ok=False)])
    (job,) = claim(store, LATER, node="a", lock_for=20)
    claim(store, LATER + 20, node="b", lock_for=20)

    store.settle_deliveries(
        [Outcome(id=job.delivery.id, sent=False, error="x", retry_at=LATER + 99)],
        node="a",
        now=LATER + 21,
    )

    (row,) = store.list_deliveries().items
    assert (row.status, row.locked_by) == ("sending", "b")


def test_a_monitor_in_a_maintenance_window_is_checked_shown_as_maintenance_and_alerts_nothing(
    store: Store,
) -> None:
    make_channel(store)
    monitor = make_monitor(store, channels=["hook"], tags=["db"])
    store.record_results([result(monitor, 1)])
    start = result(monitor, 2).scheduled_at
    store.create_maintenance(
        MaintenanceSpec(name="upgrade", tags=["db"], starts_at=start, ends_at=start + 120),
        now=T0,
    )

    transitions = store.record_results([result(monitor, 2, ok=False)])
    store.record_results([result(monitor, 3, ok=False)])

    assert [(t.from_status, t.to_status) for t in transitions] == [("up", "maintenance")]
    state = store.get_state(monitor.id)
    assert (state.status, state.consecutive_failures) == ("maintenance", 2)
    assert len(store.list_results(monitor.id).items) == 3  # still checked
    assert store.list_incidents().items == []
    assert store.list_deliveries().items == []

    after = store.record_results([result(monitor, 4, ok=False)])  # the window has ended

    assert [(t.from_status, t.to_status) for t in after] == [("maintenance", "down")]
    (incident,) = store.list_incidents().items
    assert len(store.list_deliveries().items) == 1
    assert incident.confirmed_slot == result(monitor, 4).slot


def test_recovering_inside_a_window_resolves_the_incident_only_after_it(store: Store) -> None:
    monitor = make_monitor(store)
    store.record_results([result(monitor, 1), result(monitor, 2, ok=False)])
    start = result(monitor, 3).scheduled_at
    store.create_maintenance(
        MaintenanceSpec(name="fix", monitors=[monitor.id], starts_at=start, ends_at=start + 60),
        now=T0,
    )
    store.record_results([result(monitor, 3)])
    assert store.list_incidents(state="open").items != []

    store.record_results([result(monitor, 4)])

    assert store.get_state(monitor.id).status == "up"
    (incident,) = store.list_incidents().items
    assert incident.resolved_slot == result(monitor, 4).slot


def test_a_weekly_window_covers_its_days_at_its_local_time(store: Store) -> None:
    # T0 is Wednesday 2024-05-01 14:00 in Berlin (UTC+2)
    monitor = make_monitor(store, tags=["batch"])
    weekly = WeeklyWindow(days=["wed"], start="13:30", duration=3600, timezone="Europe/Berlin")
    window = store.create_maintenance(
        MaintenanceSpec(name="nightly", tags=["batch"], weekly=weekly), now=T0
    )
    assert window.active_at(T0)
    assert not window.active_at(T0 + 1800)
    assert not window.active_at(T0 + 7 * 86_400 - 3600)
    assert window.active_at(T0 + 7 * 86_400)

    store.record_results([result(monitor, 1, ok=False)])

    assert store.get_state(monitor.id).status == "maintenance"
    assert store.list_maintenances() == [window]
    assert store.get_maintenance(window.id) == window


def test_a_cron_window_is_stored_and_covers_its_starts(store: Store) -> None:
    # T0 is Wednesday 2024-05-01 14:00 in Berlin: every weekday at 13:30, for an hour
    monitor = make_monitor(store, tags=["batch"])
    cron = CronWindow(expression="30 13 * * 1-5", duration=3600, timezone="Europe/Berlin")
    window = store.create_maintenance(
        MaintenanceSpec(name="lunch deploys", tags=["batch"], cron=cron), now=T0
    )
    assert store.get_maintenance(window.id) == window
    assert window.spec.cron == cron
    assert window.active_at(T0)
    assert not window.active_at(T0 + 1800)
    assert window.active_at(T0 + 86_400)  # Thursday
    assert not window.active_at(T0 + 3 * 86_400)  # Saturday

    store.record_results([result(monitor, 1, ok=False)])

    assert store.get_state(monitor.id).status == "maintenance"


def test_maintenance_windows_can_be_changed_and_deleted(store: Store) -> None:
    spec = MaintenanceSpec(name="w", tags=["x"], starts_at=T0, ends_at=T0 + 60)
    window = store.create_maintenance(spec, now=T0)
    changed = store.update_maintenance(
        window.id, msgspec.structs.replace(spec, ends_at=T0 + 120), now=T0 + 1
    )
    assert (changed.spec.ends_at, changed.updated_at, changed.created_at) == (
        T0 + 120,
        T0 + 1,
        T0,
    )
    store.delete_maintenance(window.id)
    with pytest.raises(NotFound):
        store.get_maintenance(window.id)
    with pytest.raises(NotFound):
        store.delete_maintenance(window.id)


def test_reminders_are_queued_once_per_period_until_acknowledged(store: Store) -> None:
    channel = make_channel(store)
    monitor = make_monitor(store, channels=["hook"], remind_every=600.0)
    down = result(monitor, 2, ok=False)
    store.record_results([result(monitor, 1), down])
    (incident,) = store.list_incidents().items
    confirmed = incident.confirmed_at

    assert store.schedule_reminders(now=confirmed + 599) == 0
    assert store.schedule_reminders(now=confirmed + 600) == 1
    assert store.schedule_reminders(now=confirmed + 700) == 0
    assert store.schedule_reminders(now=confirmed + 1900) == 1  # a node away: the latest

    reminders = [d for d in store.list_deliveries().items if d.event == "reminder"]
    assert [d.transition for d in reminders] == ["reminder-3", "reminder-1"]
    assert reminders[1].dedup_key == f"uptrack-{incident.id}-reminder-1-{channel.id}"
    assert store.get_incident(incident.id).reminders == 3

    acked = store.acknowledge_incident(incident.id, by="token:ops", now=confirmed + 2000)
    assert (acked.acknowledged_at, acked.acknowledged_by) == (confirmed + 2000, "token:ops")
    assert [d.event for d in store.list_deliveries().items] == ["down"]  # pending dropped
    assert store.schedule_reminders(now=confirmed + 9000) == 0
    again = store.acknowledge_incident(incident.id, by="token:late", now=confirmed + 3000)
    assert again.acknowledged_by == "token:ops"
    with pytest.raises(NotFound):
        store.acknowledge_incident("nope", by="x", now=T0)


def test_reminders_stop_when_the_monitor_is_up_or_paused(store: Store) -> None:
    make_channel(store)
    monitor = make_monitor(store, channels=["hook"], remind_every=600.0)
    store.record_results([result(monitor, 1), result(monitor, 2, ok=False)])
    (incident,) = store.list_incidents().items
    store.update_monitor(monitor.id, msgspec.structs.replace(monitor.spec(), paused=True), now=T0)
    assert store.schedule_reminders(now=incident.confirmed_at + 600) == 0
    store.update_monitor(monitor.id, monitor.spec(), now=T0)
    store.record_results([result(monitor, 3)])
    assert store.schedule_reminders(now=incident.confirmed_at + 6000) == 0


def test_incidents_are_listed_newest_first_by_monitor_state_and_time_in_pages(
    store: Store,
) -> None:
    a, b = make_monitor(store, "a"), make_monitor(store, "b")
    for k in (1, 3, 5):  # incidents of a at slots 1, 3 and 5, each over a slot later
        store.record_results([result(a, k - 1), result(a, k, ok=False)])
    store.record_results([result(a, 6)])
    store.record_results([result(b, 1, ok=False)])  # still open
    by_slot = {(i.monitor_id, i.started_slot): i.id for i in store.list_incidents().items}
    a1, a3, a5 = (by_slot[(a.id, result(a, k).slot)] for k in (1, 3, 5))
    b1 = by_slot[(b.id, result(b, 1).slot)]

    everything = store.list_incidents().items
    assert len(everything) == 4
    starts = [i.started_at for i in everything]
    assert starts == sorted(starts, reverse=True)
    assert [i.id for i in store.list_incidents(monitor_id=b.id).items] == [b1]
    assert [i.id for i in store.list_incidents(state="open").items] == [b1]
    assert {i.id for i in store.list_incidents(since=result(a, 5).started_at).items} == {a5, b1}
    assert {i.id for i in store.list_incidents(until=result(a, 2).started_at).items} == {a1, b1}
    assert a3 not in {i.id for i in store.list_incidents(state="open").items}

    first = store.list_incidents(limit=3)
    assert len(first.items) == 3
    assert first.next is not None
    rest = store.list_incidents(limit=3, before=first.next)
    assert rest.next is None
    assert first.items + rest.items == everything
    with pytest.raises(InvalidInput):
        store.list_incidents(before="not-a-cursor!")


def test_deleting_a_monitor_deletes_its_incidents(store: Store) -> None:
    monitor = make_monitor(store)
    store.record_results([result(monitor, 1, ok=False)])
    (incident,) = store.list_incidents().items

    store.delete_monitor(monitor.id)

    assert store.list_incidents().items == []
    with pytest.raises(NotFound):
        store.get_incident(incident.id)


def test_channels_keep_their_settings_and_refuse_a_taken_name(store: Store) -> None:
    spec = ChannelSpec(
        name="ops", kind="slack", settings={"url": "https://hooks.slack.test/T/B/x"}, tags=["a"]
    )
    channel = store.create_channel(spec, now=T0)
    assert store.get_channel(channel.id) == channel
    assert channel.spec() == spec
    with pytest.raises(Conflict, match="exists already"):
        store.create_channel(spec, now=T0)

    other = store.create_channel(msgspec.structs.replace(spec, name="dev"), now=T0)
    with pytest.raises(Conflict):
        store.update_channel(other.id, spec, now=T0)
    renamed = store.update_channel(
        other.id, msgspec.structs.replace(spec, name="dev2", tags=[]), now=T0 + 5
    )
    assert (renamed.name, renamed.tags, renamed.updated_at) == ("dev2", [], T0 + 5)
    assert [c.name for c in store.list_channels()] == ["dev2", "ops"]
    with pytest.raises(NotFound):
        store.get_channel("missing")


def test_a_channel_monitors_name_cannot_be_renamed_or_deleted(store: Store) -> None:
    channel = make_channel(store, "pager")
    make_monitor(store, "api", channels=["pager"])
    with pytest.raises(Conflict, match="'api'"):
        store.delete_channel(channel.id)
    with pytest.raises(Conflict, match="remove it from their channels"):
        store.update_channel(
            channel.id, msgspec.structs.replace(channel.spec(), name="pagers"), now=T0
        )
    # a change that keeps the name is fine
    store.update_channel(channel.id, msgspec.structs.replace(channel.spec(), tags=["x"]), now=T0)


def test_deleting_a_channel_deletes_its_rows_and_rows_of_a_vanished_channel_die(
    store: Store,
) -> None:
    tagged = make_channel(store, "tagged", tags=["t"])
    monitor = make_monitor(store, tags=["t"])
    store.record_results([result(monitor, 1, ok=False)])
    assert len(store.list_deliveries().items) == 1

    store.delete_channel(tagged.id)

    assert store.list_deliveries().items == []
    with pytest.raises(NotFound):
        store.delete_channel(tagged.id)


def test_monitors_keep_their_tags_channels_and_reminder_period(store: Store) -> None:
    monitor = make_monitor(store, tags=["prod", "eu"], channels=["a", "b"], remind_every=900.0)

    (stored,) = store.all_monitors()

    assert stored == monitor
    assert (stored.tags, stored.channels, stored.remind_every) == (
        ["prod", "eu"],
        ["a", "b"],
        900.0,
    )
    assert store.get_monitor(monitor.id).spec() == monitor.spec()


def test_old_sent_and_dead_rows_are_pruned(store: Store) -> None:
    make_channel(store)
    monitor = make_monitor(store, channels=["hook"])
    store.record_results([result(monitor, 1), result(monitor, 2, ok=False)])
    (job,) = claim(store)
    store.settle_deliveries([Outcome(id=job.delivery.id, sent=True)], node="a", now=LATER)

    assert store.prune_deliveries(before=job.delivery.created_at) == 0
    assert store.prune_deliveries(before=job.delivery.created_at + 1) == 1
    assert store.list_deliveries().items == []
