"""The outbox deliverer against real loopback receivers: delivery, retries and backoff,
dead rows, claims left by a dead deliverer, exactly one alert from two nodes, grouping,
reminders."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import trio

from tests.alerts.scenarios import T0, make_channel, make_monitor, result
from tests.servers.healthy import Reply
from tests.servers.receiver import Receiver, body_json, path_of
from uptrack.alerts.context import NotifyContext
from uptrack.alerts.outbox import Deliverer
from uptrack.metrics import Metrics
from uptrack.store.base import Store
from uptrack.store.postgres import PostgresStore
from uptrack.store.sqlite import SqliteStore

NOW = T0 + 1000.0  # every scenario's results are due by then


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = SqliteStore(tmp_path / "uptrack.db")
    s.migrate()
    yield s
    s.close()


@pytest.fixture(params=["sqlite", "postgres"])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two stores on one database, as two nodes have (each its own connections)."""
    if request.param == "sqlite":
        stores: list[Store] = [SqliteStore(tmp_path / "uptrack.db") for _ in range(2)]
    else:
        url = request.getfixturevalue("postgres_database")
        stores = [PostgresStore(url) for _ in range(2)]
    stores[0].migrate()
    yield stores[0], stores[1]
    for s in stores:
        s.close()


def deliverer(store: Store, ctx: NotifyContext, node: str = "a", **options: object) -> Deliverer:
    return Deliverer(store, Metrics(), node=node, notify=ctx, **options)  # type: ignore[arg-type]


def go_down(store: Store, receiver: Receiver, path: str = "/hook", **monitor: object) -> str:
    """A webhook channel at `path` of the receiver and a monitor that goes down on it."""
    make_channel(store, url=receiver.url_for(path))
    m = make_monitor(store, channels=["hook"], **monitor)  # type: ignore[arg-type]
    store.record_results([result(m, 1), result(m, 2, ok=False)])
    return m.id


async def test_a_down_alert_reaches_the_webhook_once_with_its_dedup_key(
    store: Store, receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    monitor_id = go_down(store, receiver)
    d = deliverer(store, notify_ctx)

    assert await d.deliver_once(NOW) == 1
    assert await d.deliver_once(NOW + 60) == 0

    (seen,) = await receiver.wait_for(1)
    (row,) = store.list_deliveries().items
    assert seen.header("Idempotency-Key") == row.dedup_key
    sent = body_json(seen)
    assert sent["event"] == "down"
    assert sent["monitor"]["url"] == f"https://uptrack.example/monitors/{monitor_id}"
    assert sent["incident"]["error"] == "status 503 not in 200-399 (slot 2)"
    assert (row.status, row.attempts, row.sent_at) == ("sent", 1, NOW)
    assert d.metrics.alerts_sent.labels("webhook")._value.get() == 1


async def test_delivery_is_retried_with_backoff_after_the_receiver_answers_500_twice(
    store: Store, receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    go_down(store, receiver)
    receiver.script("/hook", Reply(status=500, body=b"busy"), Reply(status=500, body=b"busy"))
    d = deliverer(store, notify_ctx, retry_first=10.0)

    assert await d.deliver_once(NOW) == 1  # 500: again in 10 s
    (row,) = store.list_deliveries().items
    assert (row.status, row.next_attempt_at, row.last_error) == (
        "pending",
        NOW + 10,
        "webhook answered 500: busy",
    )
    assert await d.deliver_once(NOW + 9.9) == 0
    assert await d.deliver_once(NOW + 10) == 1  # 500 again: now 20 s
    assert store.list_deliveries().items[0].next_attempt_at == NOW + 30
    assert await d.deliver_once(NOW + 29) == 0
    assert await d.deliver_once(NOW + 30) == 1

    seen = await receiver.wait_for(3)
    assert len({r.header("Idempotency-Key") for r in seen}) == 1
    (row,) = store.list_deliveries().items
    assert (row.status, row.attempts) == ("sent", 3)
    assert d.metrics.alerts_failed.labels("webhook")._value.get() == 2


async def test_a_retry_waits_at_least_as_long_as_the_receiver_asks(
    store: Store, receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    go_down(store, receiver)
    receiver.script("/hook", Reply(status=429, headers=[("Retry-After", "120")]))

    await deliverer(store, notify_ctx, retry_first=10.0).deliver_once(NOW)

    assert store.list_deliveries().items[0].next_attempt_at == NOW + 120


async def test_a_permanent_refusal_makes_the_row_dead_at_once(
    store: Store, receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    go_down(store, receiver)
    receiver.script("/hook", Reply(status=404, body=b"no such hook"))
    d = deliverer(store, notify_ctx)
    d.now = lambda: NOW

    await d.deliver_once()
    await d.run_once({"reminders": NOW, "counts": 0.0, "prune": NOW})

    (row,) = store.list_deliveries(status="dead").items
    assert (row.attempts, row.last_error) == (1, "webhook answered 404: no such hook")
    assert d.metrics.outbox_dead._value.get() == 1
    assert d.metrics.outbox_pending._value.get() == 0


async def test_the_last_attempt_makes_the_row_dead(
    store: Store, receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    go_down(store, receiver)
    receiver.default = Reply(status=503)
    d = deliverer(store, notify_ctx, max_attempts=3, retry_first=1.0)

    for at in (NOW, NOW + 1, NOW + 3):
        assert await d.deliver_once(at) == 1

    (row,) = store.list_deliveries().items
    assert (row.status, row.attempts) == ("dead", 3)
    assert await d.deliver_once(NOW + 10_000) == 0
    assert len(receiver.requests) == 3


async def test_a_row_claimed_by_a_deliverer_that_died_goes_out_once_its_lock_expires(
    two_stores: tuple[Store, Store], receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    dead_node, live_node = two_stores
    go_down(dead_node, receiver)
    # The dead node claimed the row over its own connection and never came back.
    (claimed,) = dead_node.claim_deliveries(
        node="dead", now=NOW, lock_for=20.0, limit=10, group_window=10
    )
    d = deliverer(live_node, notify_ctx, node="live")

    assert await d.deliver_once(NOW + 19.9) == 0
    assert await d.deliver_once(NOW + 20) == 1

    (seen,) = await receiver.wait_for(1)
    assert seen.header("Idempotency-Key") == claimed.delivery.dedup_key
    (row,) = live_node.list_deliveries().items
    assert (row.status, row.attempts) == ("sent", 2)


async def test_two_nodes_evaluating_the_same_failure_send_exactly_one_alert(
    two_stores: tuple[Store, Store], receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    a, b = two_stores
    make_channel(a, url=receiver.url_for("/hook"))
    monitor = make_monitor(a, channels=["hook"])
    a.record_results([result(monitor, 1)])
    failure = result(monitor, 2, ok=False)
    start = threading.Barrier(2)
    transitions: list[int] = []

    def record(store: Store, node: str) -> None:
        start.wait()
        transitions.append(len(store.record_results([msgspec.structs.replace(failure, node=node)])))

    async with trio.open_nursery() as nursery:
        for store, node in ((a, "node-a"), (b, "node-b")):
            nursery.start_soon(trio.to_thread.run_sync, record, store, node)
    async with trio.open_nursery() as nursery:
        for store, node in ((a, "node-a"), (b, "node-b")):
            nursery.start_soon(deliverer(store, notify_ctx, node=node).deliver_once, NOW)

    assert sorted(transitions) == [0, 1]
    await receiver.wait_for(1)
    await trio.sleep(0.2)  # a second alert would have arrived by now
    assert len(receiver.requests) == 1
    assert len(a.list_incidents().items) == 1


async def test_many_monitors_down_at_once_on_one_channel_go_out_as_one_grouped_message(
    store: Store, receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    team = make_channel(store, "team", kind="slack", url=receiver.url_for("/slack"), tags=["web"])
    make_channel(
        store,
        "pager",
        kind="pagerduty",
        tags=["web"],
        settings={"routing_key": "pagerduty-routing-key", "base_url": receiver.url},
    )
    monitors = [make_monitor(store, f"site-{i}", tags=["web"]) for i in range(8)]
    # within 10 s of each other (a network blip)
    store.record_results(
        [result(m, 1, ok=False, started_at=T0 + 90 + i) for i, m in enumerate(monitors)]
    )

    assert await deliverer(store, notify_ctx).deliver_once(NOW) == 16

    seen = await receiver.wait_for(9)
    slack = [r for r in seen if path_of(r) == "/slack"]
    pager = [r for r in seen if path_of(r) == "/v2/enqueue"]
    assert (len(slack), len(pager)) == (1, 8)
    text = body_json(slack[0])["text"]
    assert text.startswith("🔴 8 monitors are DOWN: site-")
    assert text.endswith("and 3 more")
    assert {body_json(r)["dedup_key"] for r in pager} == {
        f"uptrack-{i.id}" for i in store.list_incidents().items
    }
    rows = store.list_deliveries().items
    assert all(r.status == "sent" for r in rows)
    keys: dict[bool, set[str | None]] = {True: set(), False: set()}
    for r in rows:
        keys[r.channel_id == team.id].add(r.group_key)
    assert keys[False] == {None}  # PagerDuty: one event per monitor
    (key,) = keys[True]
    assert key is not None
    assert key.startswith("uptrack-group")


async def test_a_few_monitors_down_at_once_still_get_a_message_each(
    store: Store, receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    make_channel(store, "team", kind="slack", url=receiver.url_for("/slack"), tags=["web"])
    monitors = [make_monitor(store, f"site-{i}", tags=["web"]) for i in range(5)]
    store.record_results(
        [result(m, 1, ok=False, started_at=T0 + 90 + i) for i, m in enumerate(monitors)]
    )

    await deliverer(store, notify_ctx).deliver_once(NOW)

    seen = await receiver.wait_for(5)
    assert sorted(body_json(r)["text"].split(" is DOWN")[0] for r in seen) == [
        f"🔴 site-{i}" for i in range(5)
    ]


async def test_reminders_go_out_while_down_and_stop_once_acknowledged(
    store: Store, receiver: Receiver, notify_ctx: NotifyContext
) -> None:
    go_down(store, receiver, remind_every=600.0)
    (incident,) = store.list_incidents().items
    d = deliverer(store, notify_ctx)
    due = {"reminders": 0.0, "counts": 0.0, "prune": 0.0}
    start = incident.confirmed_at

    d.now = lambda: start + 601
    await d.run_once(due)  # the down alert; a reminder is queued behind it
    assert await d.deliver_once() == 1  # the reminder
    store.acknowledge_incident(incident.id, by="token:ops", now=start + 700)
    d.now = lambda: start + 1300
    due["reminders"] = 0.0
    await d.run_once(due)

    seen = await receiver.wait_for(2)
    await trio.sleep(0.1)
    assert [body_json(r)["event"] for r in receiver.requests] == ["down", "reminder"]
    assert body_json(seen[1])["text"].startswith("🔴 web is still DOWN after 10m")
