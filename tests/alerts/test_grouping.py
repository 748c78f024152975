"""Grouping: which claimed rows become one grouped message, and how it reads."""

from __future__ import annotations

import msgspec

from tests.alerts.samples import DOWN
from uptrack.alerts.grouping import group_key, plan_sends
from uptrack.alerts.message import GroupedMessage
from uptrack.alerts.records import AlertJob, Delivery


def job(
    i: int,
    *,
    kind: str = "slack",
    channel: str = "c1",
    event: str = "down",
    burst: int = 8,
    group: str | None = None,
) -> AlertJob:
    delivery = Delivery(
        id=i,
        incident_id=f"i{i}",
        monitor_id=f"m{i}",
        channel_id=channel,
        transition=event,
        event=event,
        dedup_key=f"uptrack-i{i}-{event}-{channel}",
        status="sending",
        attempts=1,
        next_attempt_at=0.0,
        locked_until=0.0,
        locked_by="a",
        last_error=None,
        group_key=group,
        created_at=0.0,
        sent_at=None,
    )
    return AlertJob(
        delivery=delivery,
        message=DOWN,
        channel_kind=kind,
        channel_name=channel,
        channel_settings={},
        burst=burst,
    )


def test_a_burst_on_one_channel_and_event_becomes_one_group_with_a_stable_key() -> None:
    jobs = [job(i) for i in range(6)] + [job(10, event="up")]

    sends = plan_sends(jobs, threshold=5)

    grouped = [s for s in sends if s.group_key is not None]
    assert [len(s.jobs) for s in grouped] == [6]
    assert grouped[0].group_key == group_key(list(reversed(jobs[:6])))
    assert grouped[0].group_key.startswith("uptrack-group")
    assert [s.jobs[0].delivery.id for s in sends if s.group_key is None] == [10]


def test_per_monitor_channels_and_quiet_times_get_one_message_per_row() -> None:
    jobs = [job(i, kind="pagerduty") for i in range(8)] + [job(20 + i, burst=5) for i in range(5)]
    assert all(s.group_key is None and len(s.jobs) == 1 for s in plan_sends(jobs, threshold=5))
    assert all(s.group_key is None for s in plan_sends([job(i) for i in range(8)], threshold=0))


def test_a_group_that_failed_is_retried_as_the_same_group() -> None:
    jobs = [job(i, burst=1, group="uptrack-groupabc-down-c1") for i in range(3)]
    (send,) = plan_sends(jobs, threshold=5)
    assert send.group_key == "uptrack-groupabc-down-c1"
    assert len(send.jobs) == 3


def test_a_grouped_message_reads_as_one_alert_every_channel_can_send() -> None:
    messages = tuple(msgspec.structs.replace(DOWN, monitor_name=f"site-{i}") for i in range(7))
    alert = GroupedMessage(
        event="down",
        messages=messages,
        at=DOWN.at,
        link="https://u.example",
        dedup_key="uptrack-g1-down-c",
    ).as_alert()

    assert alert.title == "7 monitors are DOWN"
    assert alert.text == "🔴 7 monitors are DOWN: site-0, site-1, site-2, site-3, site-4 and 2 more"
    (label, lines), _ = alert.details()
    assert label == "Monitors"
    assert lines.splitlines()[0] == "site-0 — status 503 not in 200-399"
    assert alert.dedup_key == "uptrack-g1-down-c"
